"""Metric tables: tidy CSV (one row per model, dataset, class, metric) and the paper's layouts in
Markdown and LaTeX (booktabs). Values are fractions in the CSV and AP points (x100) in the layouts."""

from __future__ import annotations

import html
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segshift.evaluation import bootstrap
from segshift.evaluation.cityscapes import CLASS_NAMES
from segshift.evaluation.coco import SUMMARY, mean_over
from segshift.io import write_text

CI = ["ci_low", "ci_high"]
TIDY_COLUMNS = ["model", "label", "domain", "iou_type", "rider_policy", "category", "metric", "value", *CI]
GAP_COLUMNS = ["model", "label", "source", "domain", "iou_type", "category", "metric", "source_value", "domain_value", "gap",
               *CI, "excludes_zero"]
MATRIX_COLUMNS = ["model", "domain", "base", "corruption", "severity", "test_size", "protocol", "iou_type", "category",
                  "metric", "value", *CI]
ROBUSTNESS_COLUMNS = ["model", "label", "suite", "domain", "protocol", "iou_type", "corruption", "severity", "metric", "value",
                      *CI]
COMPARISON_COLUMNS = ["model", "other_model", "domain", "protocol", "iou_type", "category", "metric", "value", "other_value",
                      "difference", *CI, "sign_flips", "excludes_zero"]
MAX_CLASS_COLUMNS = 10  # wider class sets stay in the CSV


class Estimate(float):
    """A number with its bootstrap interval, shown as 37.4 [36.2, 38.6]; a difference (signed) whose
    interval excludes 0 is marked with *."""

    def __new__(cls, value, low=None, high=None, signed: bool = False):
        out = super().__new__(cls, value)
        out.low, out.high, out.signed = low, high, signed
        return out

    def text(self) -> str:
        number = f"{100 * self:+.1f}" if self.signed else f"{100 * self:.1f}"
        if not (_finite(self.low) and _finite(self.high)):
            return number
        mark = "*" if self.signed and (self.low > 0 or self.high < 0) else ""
        return f"{number} [{100 * self.low:.1f}, {100 * self.high:.1f}]{mark}"


def estimate(value, interval=None, signed: bool = False):
    """An Estimate of a finite value, else None (shown as –)."""
    if not _finite(value):
        return None
    low, high = interval or (None, None)
    return Estimate(value, low, high, signed)


def interval_of(metric_file: dict, key: str) -> tuple:
    """(low, high) of a number of a metric file ("segm/summary/AP", "mean/AP"), (None, None) without intervals."""
    found = metric_file.get("intervals", {}).get(key)
    return tuple(found) if found else (None, None)


@dataclass
class Layout:
    caption: str
    header: list[str]
    rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)
    numeric_from: int = 1  # columns before this one are text

    def cell(self, value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if isinstance(value, Estimate):
            return value.text()
        if isinstance(value, float):
            return f"{100 * value:.1f}"
        return str(value)

    def markdown(self) -> str:
        align = ["---"] * self.numeric_from + ["---:"] * (len(self.header) - self.numeric_from)
        lines = [f"**{self.caption}**", "", "| " + " | ".join(self.header) + " |", "| " + " | ".join(align) + " |"]
        lines += ["| " + " | ".join(self.cell(v) for v in row) + " |" for row in self.rows]
        lines += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        """A page of its own (the HTML report shows it as it is): caption, table and notes."""
        align = ["left"] * self.numeric_from + ["right"] * (len(self.header) - self.numeric_from)
        cells = lambda row, tag: "".join(  # noqa: E731
            f'<{tag} style="text-align:{a}">{html.escape(self.cell(v) if tag == "td" else str(v))}</{tag}>'
            for v, a in zip(row, align))
        lines = [
            "<!DOCTYPE html>",
            '<html><head><meta charset="utf-8"><style>'
            "body{font-family:sans-serif;font-size:13px;margin:1em}"
            "table{border-collapse:collapse}th,td{padding:2px 8px;white-space:nowrap}"
            "thead th{border-bottom:1px solid #444}tbody tr:nth-child(even){background:#f4f4f4}"
            "li{margin:2px 0}</style></head><body>",
            f"<p><b>{html.escape(self.caption)}</b></p>",
            "<table><thead><tr>" + cells(self.header, "th") + "</tr></thead><tbody>",
            *["<tr>" + cells(row, "td") + "</tr>" for row in self.rows],
            "</tbody></table>",
            "<ul>" + "".join(f"<li>{html.escape(note)}</li>" for note in self.notes) + "</ul>",
            "</body></html>",
        ]
        return "\n".join(lines) + "\n"

    def latex(self) -> str:
        spec = "l" * self.numeric_from + "r" * (len(self.header) - self.numeric_from)
        notes = " ".join(self.notes)
        lines = [
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{{latex_escape(self.caption)} {latex_escape(notes)}}}",
            rf"\begin{{tabular}}{{{spec}}}",
            r"\toprule",
            " & ".join(latex_escape(h) for h in self.header) + r" \\",
            r"\midrule",
        ]
        lines += [" & ".join(latex_escape(self.cell(v)) for v in row) + r" \\" for row in self.rows]
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
        return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    for a, b in [("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"), ("$", r"\$"),
                 ("{", r"\{"), ("}", r"\}"), ("–", "--"), ("→", r"$\rightarrow$")]:
        text = text.replace(a, b)
    return text


def write(stem: str | Path, tidy: pd.DataFrame, layout: Layout) -> None:
    """results/tables/<name>.csv, .md, .tex and .html (the layout, for the report)."""
    stem = Path(stem)
    write_text(stem.with_suffix(".csv"), tidy.to_csv(index=False, float_format="%.10g"))
    write_text(stem.with_suffix(".md"), layout.markdown())
    write_text(stem.with_suffix(".tex"), layout.latex())
    write_text(stem.with_suffix(".html"), layout.html())


def _models_note(labels: dict[str, str]) -> str:
    return "Models: " + ", ".join(f"{label} ({model})" for model, label in labels.items()) + "."


def _interval_note(metrics: list[dict], difference: bool = False) -> list[str]:
    settings = [m.get("provenance", {}).get("settings", {}).get("bootstrap") for m in metrics]
    settings = [b for b in settings if b]
    if not settings:
        return []
    b = settings[0]
    note = (f"[low, high]: {100 * b['confidence']:g}% percentile bootstrap interval over images "
            f"({b['resamples']} resamples, seed {b['seed']}).")
    if difference:
        note += " * marks a difference whose interval excludes 0."
    return [note] + _omitted_note(metrics)


def _omitted_note(metrics: list[dict]) -> list[str]:
    omitted = {m["domain"]: m["intervals_omitted"] for m in metrics if m.get("intervals_omitted")}
    if not omitted:
        return []
    least = next(iter(omitted.values()))["min_images"]
    return [f"No interval and no * where a domain has fewer than {least} images (evaluation.bootstrap.min_images): "
            + ", ".join(f"{d} ({o['images']})" for d, o in omitted.items()) + "."]


def _skipped_note(metrics: list[dict]) -> list[str]:
    skipped = sorted({s["file_name"] for m in metrics for s in m["counts"].get("skipped_images", [])})
    return [f"Unreadable images left out: {', '.join(skipped)}."] if skipped else []


def coco_table(metrics: list[dict], labels: dict[str, str], score_threshold: float, engine: str) -> tuple[pd.DataFrame, Layout]:
    """COCO metrics, bbox and segm, on every domain of a coco dataset (Table III)."""
    rows, layout_rows = [], []
    for m in metrics:
        model, domain = m["model"], m["domain"]
        for iou_type, result in m["results"].items():
            for metric in SUMMARY:
                rows.append([model, labels[model], domain, iou_type, None, "all", metric, result["summary"][metric],
                             *interval_of(m, f"{iou_type}/summary/{metric}")])
            for category, values in result["per_class"].items():
                for metric, value in values.items():
                    rows.append([model, labels[model], domain, iou_type, None, category, metric, value,
                                 *interval_of(m, f"{iou_type}/per_class/{category}/{metric}")])
            layout_rows.append([labels[model], domain, iou_type]
                               + [estimate(result["summary"][k], interval_of(m, f"{iou_type}/summary/{k}")) for k in SUMMARY])
    layout = Layout(
        caption="COCO metrics on the domains of COCO datasets.",
        header=["Model", "Domain", "Type", "AP", "AP50", "AP75", "APs", "APm", "APl"],
        rows=layout_rows,
        numeric_from=3,
        notes=[_models_note(labels), f"Evaluated with {engine}; detections scoring below {score_threshold} dropped."]
        + _interval_note(metrics) + _skipped_note(metrics),
    )
    return pd.DataFrame(rows, columns=TIDY_COLUMNS), layout


def cityscapes_table(metrics: list[dict], labels: dict[str, str], class_mapping: dict[str, str], engine: str) -> tuple[pd.DataFrame, Layout]:
    """The official Cityscapes protocol, per class and mean, for each domain of a cityscapes dataset
    and each rider policy (Table IV)."""
    rows, layout_rows = [], []
    for m in metrics:
        model, domain, policy, result = m["model"], m["domain"], m["rider_policy"], m["results"]
        for category in CLASS_NAMES:
            for metric in ("AP", "AP50"):
                rows.append([model, labels[model], domain, "segm", policy, category, metric, result["per_class"][category][metric],
                             *interval_of(m, f"per_class/{category}/{metric}")])
        for metric in ("AP", "AP50"):
            rows.append([model, labels[model], domain, "segm", policy, "mean", metric, result["mean"][metric],
                         *interval_of(m, f"mean/{metric}")])
        layout_rows.append(
            [labels[model], domain, policy, estimate(result["mean"]["AP"], interval_of(m, "mean/AP")),
             estimate(result["mean"]["AP50"], interval_of(m, "mean/AP50"))]
            + [estimate(result["per_class"][c]["AP"], interval_of(m, f"per_class/{c}/AP")) for c in CLASS_NAMES]
        )
    mapping = ", ".join(f"{k}→{v}" for k, v in class_mapping.items())
    layout = Layout(
        caption="Cityscapes domains, official instance-level protocol (per-class AP; mean AP and AP50).",
        header=["Model", "Domain", "Rider policy", "AP", "AP50"] + CLASS_NAMES,
        rows=layout_rows,
        numeric_from=3,
        notes=[
            _models_note(labels),
            f"Class mapping (COCO→Cityscapes): {mapping}; other COCO classes dropped.",
            "Rider policies: none (no rider predictions: AP 0 where riders exist); "
            "two_wheeler (a person whose box lies on a bicycle or motorcycle detection's box becomes a rider); "
            "two_wheeler_mask (the same by masks: the lower half of the person's mask on the two-wheeler's).",
            f"Evaluated with the {engine} engine; – marks a class without ground truth.",
        ]
        + _interval_note(metrics) + _skipped_note(metrics),
    )
    return pd.DataFrame(rows, columns=TIDY_COLUMNS), layout


def gap_values(source: dict, target: dict, iou_type: str, metric: str = "AP") -> tuple[dict, list[str]]:
    """(source value, domain value) per class both files score, and for "all": the mean over the classes
    with ground truth on both sides, which are returned too (a gap compares the same classes)."""
    a, b = source["results"][iou_type]["per_class"], target["results"][iou_type]["per_class"]
    classes = [c for c in b if c in a]
    values = {c: (a[c][metric], b[c][metric]) for c in classes}
    both = [c for c in classes if _finite(a[c]["AP"]) and _finite(b[c]["AP"])]
    values["all"] = (mean_over(a, both, metric), mean_over(b, both, metric))
    return values, both


def _finite(value) -> bool:
    return value is not None and not (isinstance(value, (float, np.floating)) and math.isnan(value))


def protocol(metric_file: dict) -> str:
    """coco, same_ruler or cityscapes_<rider policy>: the name tables give a metric file's protocol."""
    if metric_file["metric"] == "cityscapes":
        return f"cityscapes_{metric_file['rider_policy']}"
    return metric_file["metric"]


def summary_key(metric_file: dict, iou_type: str, metric: str = "AP", category: str = "all") -> str:
    """The key of a number in a metric file's intervals and resampled values."""
    prefix = "" if metric_file["metric"] == "cityscapes" else f"{iou_type}/"
    if category == "all":
        return f"{prefix}{'mean' if metric_file['metric'] == 'cityscapes' else 'summary'}/{metric}"
    return f"{prefix}per_class/{category}/{metric}"


def _resampled(resamples: dict | None, m: dict, key: str):
    """Per-resample values of one number, or None (resampling off, or the file has no such column)."""
    frame = (resamples or {}).get((m["model"], m["domain"], protocol(m)))
    if frame is None or key not in frame.columns:
        return None
    return frame[key].to_numpy()


def _difference(a, b):
    return a - b if _finite(a) and _finite(b) else None


def transfer_gap_table(same_ruler: list[dict], labels: dict[str, str], source: str, iou_type: str = "segm",
                       resamples: dict | None = None) -> tuple[pd.DataFrame, Layout]:
    """Same-ruler AP of the source and each target on the classes they share, and the gap (source minus target)
    with its bootstrap interval (source and target images resampled independently)."""
    targets = list(dict.fromkeys(m["domain"] for m in same_ruler if m["domain"] != source))
    tidy, compared = _gaps(same_ruler, labels, source, ("bbox", "segm"),
                           ("AP", "APs", "APm", "APl", "APs_rel", "APm_rel", "APl_rel"), resamples)
    classes = list(dict.fromkeys(c for d in targets for c in compared.get(d, [])))
    per_class = classes if len(classes) <= MAX_CLASS_COLUMNS else []
    layout_rows = []
    for (model, domain), group in tidy[(tidy.iou_type == iou_type) & (tidy.metric == "AP")].groupby(["model", "domain"], sort=False):
        values = group.set_index("category")

        def gap(c):
            if c not in values.index:
                return None
            return estimate(values.at[c, "gap"], (values.at[c, "ci_low"], values.at[c, "ci_high"]), signed=True)

        layout_rows.append([labels[model], domain, values.at["all", "source_value"], values.at["all", "domain_value"],
                            gap("all")] + [gap(c) for c in per_class])
    layout = Layout(
        caption=f"Transfer gap, one ruler: COCO-style {iou_type} AP of the source ({source}) and each target on the "
                "classes both annotate.",
        header=["Model", "Domain", "source AP", "domain AP", "gap"] + [f"gap {c}" for c in per_class],
        rows=layout_rows,
        numeric_from=2,
        notes=[
            _models_note(labels),
            "gap = AP on the source minus AP on the domain (positive: worse on the domain), over the classes with "
            "ground truth in both: " + "; ".join(f"{d}: {', '.join(compared.get(d, [])) or 'none'}" for d in targets) + ".",
            "A Cityscapes rider counts as person, as COCO annotates riders.",
        ] + _interval_note(same_ruler, difference=True),
    )
    return tidy, layout


def _gaps(files: list[dict], labels: dict[str, str], source: str, kinds, metrics, resamples: dict | None
          ) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Tidy gaps (GAP_COLUMNS) of every target to the source, and the classes each target's "all" compares."""
    by_key = {(m["model"], m["domain"]): m for m in files}
    targets = list(dict.fromkeys(m["domain"] for m in files if m["domain"] != source))
    confidence = _confidence(files)
    rows, compared = [], {}
    for model in labels:
        for domain in targets:
            if (model, source) not in by_key or (model, domain) not in by_key:
                continue
            a_file, b_file = by_key[(model, source)], by_key[(model, domain)]
            for kind in kinds:
                for metric in metrics:
                    values, both = gap_values(a_file, b_file, kind, metric)
                    compared[domain] = both
                    for category, (a, b) in values.items():
                        gap = _difference(a, b)
                        classes = both if category == "all" else [category]
                        ci = bootstrap.difference(_class_mean(resamples, a_file, kind, metric, classes),
                                                  _class_mean(resamples, b_file, kind, metric, classes), gap, confidence
                                                  ) if resamples and gap is not None else {}
                        rows.append([model, labels[model], source, domain, kind, category, metric, a, b, gap,
                                     ci.get("ci_low"), ci.get("ci_high"), ci.get("excludes_zero")])
    return pd.DataFrame(rows, columns=GAP_COLUMNS), compared


def _class_mean(resamples, m: dict, kind: str, metric: str, classes: list[str]):
    """Per resample: the mean of a metric over classes (a class absent from a resample left out)."""
    columns = [_resampled(resamples, m, f"{kind}/per_class/{c}/{metric}") for c in classes]
    if not columns or any(c is None for c in columns):
        return np.full(1, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack(columns), axis=0)


def _confidence(files: list[dict]) -> float:
    for m in files:
        b = m.get("provenance", {}).get("settings", {}).get("bootstrap")
        if b:
            return b["confidence"]
    return 0.95


def transfer_matrix(files: list[dict], labels: dict[str, str], domains: dict[str, dict], source: str | None = None,
                    iou_types=("segm", "bbox"), resamples: dict | None = None) -> tuple[pd.DataFrame, Layout]:
    """Every number of every (model, domain): tidy, and same-ruler AP with models as rows and domains as columns.

    A target scores only the classes it shares with the source, so each group of targets with one
    class set is preceded by the source on those classes: every row compares like with like."""
    rows = []
    for m in files:
        d = domains[m["domain"]]
        corruption = d["corruption"] or {}
        test_size = "x".join(map(str, d["test_size"])) if d["test_size"] else None
        head = [m["model"], m["domain"], d["dataset"], corruption.get("name"), corruption.get("severity"), test_size]
        cityscapes = m["metric"] == "cityscapes"
        result = {"segm": m["results"]} if cityscapes else m["results"]
        for iou_type, r in result.items():
            for metric, value in r["mean" if cityscapes else "summary"].items():
                rows.append(head + [protocol(m), iou_type, "all", metric, value,
                                    *interval_of(m, summary_key(m, iou_type, metric))])
            for category, values in r["per_class"].items():
                for metric, value in values.items():
                    rows.append(head + [protocol(m), iou_type, category, metric, value,
                                        *interval_of(m, summary_key(m, iou_type, metric, category))])
    tidy = pd.DataFrame(rows, columns=MATRIX_COLUMNS)
    same = tidy[(tidy.protocol == "same_ruler") & (tidy.category == "all") & (tidy.metric == "AP")]
    names = [d for d in domains if d in set(same.domain)]
    files_of = {(m["model"], m["domain"]): m for m in files if m["metric"] == "same_ruler"}
    columns = _matrix_columns(files_of, names, source)
    confidence = _confidence(files)
    layout_rows = []
    for model in labels:
        for iou_type in iou_types:
            values = same[(same.model == model) & (same.iou_type == iou_type)].set_index("domain")
            if not len(values):
                continue
            cells = []
            for domain, classes in columns:
                if classes is None:
                    cells.append(estimate(values.at[domain, "value"], (values.at[domain, "ci_low"], values.at[domain, "ci_high"]))
                                 if domain in values.index else None)
                    continue
                m = files_of.get((model, source))
                value = mean_over(m["results"][iou_type]["per_class"], classes) if m else None
                spread = bootstrap.interval(_class_mean(resamples, m, iou_type, "AP", classes), confidence) \
                    if m and resamples else (None, None)
                cells.append(estimate(value, spread))
            layout_rows.append([labels[model], iou_type] + cells)
    covers = [f"{_column_name(d, c, source)}: {', '.join(c)}" for d, c in columns if c is not None]
    layout = Layout(
        caption="Transfer matrix: same-ruler COCO-style AP of each model (rows) on each domain (columns).",
        header=["Model", "Type"] + [_column_name(d, c, source) for d, c in columns],
        rows=layout_rows,
        numeric_from=2,
        notes=[_models_note(labels), "Each domain is scored on the classes it shares with the source (its COCO-style "
               "AP is the mean over those with ground truth); before each group of domains that share fewer classes, "
               "the source on just those classes, so a row compares the same classes across its columns"
               + (" (" + "; ".join(covers) + ")" if covers else "") + ". "
               "results/tables/transfer_matrix.csv holds every protocol, class and metric."] + _interval_note(files),
    )
    return tidy, layout


def _column_name(domain: str, classes: list[str] | None, source: str | None) -> str:
    return domain if classes is None else f"{source} on {_class_list(classes)}"


def _matrix_columns(files_of: dict, names: list[str], source: str | None) -> list[tuple[str, list[str] | None]]:
    """The matrix's columns in order: (domain, None) for a domain's own AP, and (source, classes) for the
    source on the classes of the domains after it, where those are not all the source's."""
    def with_gt(per_class):
        return [c for c, v in per_class.items() if _finite(v["AP"])]

    source_files = [m for (_, d), m in files_of.items() if d == source]
    if source is None or not source_files:
        return [(d, None) for d in names]
    own = with_gt(source_files[0]["results"]["segm"]["per_class"])
    columns, current = [], own
    for d in names:
        if d != source:
            target = next((m for (_, dd), m in files_of.items() if dd == d), None)
            classes = [c for c in with_gt(target["results"]["segm"]["per_class"]) if c in own] if target else own
            if classes != current and classes != own:
                columns.append((source, classes))
            current = classes
        columns.append((d, None))
    return columns


def robustness_table(files: list[dict], labels: dict[str, str], suites: dict[str, dict], iou_type: str = "segm",
                     resamples: dict | None = None) -> tuple[pd.DataFrame, Layout]:
    """mPC (mean AP over corruptions and severities) and rPC (mPC / clean AP) of each suite, with the mean AP
    per corruption and per severity (Michaelis et al. 2019), on the same ruler and the dataset's own protocol.

    Intervals: a suite's domains are its clean domain's images, so one resample draws the same images
    on every domain of the suite, and mPC and rPC are recomputed on each resample."""
    ap = {}  # (model, domain, protocol, iou_type) -> (AP, its resampled values or None)
    for m in files:
        kinds = ["segm"] if m["metric"] == "cityscapes" else list(m["results"])
        for kind in kinds:
            key = summary_key(m, kind)
            value = m["results"]["mean"]["AP"] if m["metric"] == "cityscapes" else m["results"][kind]["summary"]["AP"]
            ap[(m["model"], m["domain"], protocol(m), kind)] = (value, _resampled(resamples, m, key))
    confidence = _confidence(files)
    rows, layout_rows = [], []
    protocols = list(dict.fromkeys(k[2] for k in ap))
    columns = list(dict.fromkeys(d["corruption"]["name"] for e in suites.values() for d in e["members"].values()))
    for suite, entry in suites.items():
        members = {name: domain_entry["corruption"] for name, domain_entry in entry["members"].items()}
        for model in labels:
            for protocol_name in protocols:
                for kind in ("bbox", "segm"):
                    clean = ap.get((model, entry["domain"], protocol_name, kind))
                    got = {name: ap.get((model, name, protocol_name, kind)) for name in members}
                    if clean is None or clean[0] is None or any(v is None or v[0] is None for v in got.values()):
                        continue
                    triples = [(members[n]["name"], members[n]["severity"], v[0]) for n, v in got.items()]
                    stats = mpc(clean[0], triples)
                    draws = [clean[1]] + [v[1] for v in got.values()]
                    spread = {}
                    if all(d is not None for d in draws):
                        resampled = mpc(clean[1], [(c, sev, got[n][1]) for n, (c, sev, _) in zip(got, triples)])
                        spread = _intervals_of(resampled, confidence)
                        spread["AP"] = bootstrap.interval(clean[1], confidence)
                    ci = lambda key: spread.get(key, (None, None))  # noqa: E731
                    head = [model, labels[model], suite, entry["domain"], protocol_name, kind]
                    rows.append(head + ["none", 0, "AP", clean[0], *ci("AP")])
                    rows.append(head + ["all", "all", "mPC", stats["mPC"], *ci("mPC")])
                    rows.append(head + ["all", "all", "rPC", stats["rPC"], *ci("rPC")])
                    for corruption, value in stats["per_corruption"].items():
                        rows.append(head + [corruption, "all", "AP", value, *ci(("per_corruption", corruption))])
                    for severity, value in stats["per_severity"].items():
                        rows.append(head + ["all", severity, "AP", value, *ci(("per_severity", severity))])
                    if kind == iou_type:
                        layout_rows.append([labels[model], suite, protocol_name, estimate(clean[0], ci("AP")),
                                            estimate(stats["mPC"], ci("mPC")), estimate(stats["rPC"], ci("rPC"))]
                                           + [estimate(stats["per_corruption"].get(c), ci(("per_corruption", c)))
                                              for c in columns])
    layout = Layout(
        caption=f"Robustness to image corruptions ({iou_type}): clean AP, mPC (mean AP over corruptions and "
                "severities), rPC = mPC / clean AP, and the mean AP over severities of each corruption.",
        header=["Model", "Suite", "Protocol", "clean AP", "mPC", "rPC"] + columns,
        rows=layout_rows,
        numeric_from=3,
        notes=[_models_note(labels), "rPC is shown in percent. Michaelis et al. 2019, 'Benchmarking Robustness in "
               "Object Detection'; corruptions from imagecorruptions-imaug."] + _interval_note(files),
    )
    return pd.DataFrame(rows, columns=ROBUSTNESS_COLUMNS), layout


def _intervals_of(resampled: dict, confidence: float) -> dict:
    out = {"mPC": bootstrap.interval(resampled["mPC"], confidence),
           "rPC": bootstrap.interval(resampled["rPC"], confidence)}
    for group in ("per_corruption", "per_severity"):
        for name, values in resampled[group].items():
            out[(group, name)] = bootstrap.interval(values, confidence)
    return out


class Ratio(float):
    """A ratio, shown in percent like an AP."""


def mpc(clean, results: list[tuple[str, int, Any]]) -> dict[str, Any]:
    """mPC, rPC and the means per corruption and per severity from (corruption, severity, AP) triples.
    Each AP may be a number or an array of per-resample values (then every result is an array)."""
    values = np.array([r[2] for r in results], dtype=np.float64)  # (domains,) or (domains, resamples)
    corruptions = [r[0] for r in results]
    severities = [int(r[1]) for r in results]
    mean = values.mean(axis=0)
    clean = np.asarray(clean, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        rpc = np.where(clean != 0, mean / np.where(clean != 0, clean, 1), np.nan)
    pick = lambda keys, key: values[[k == key for k in keys]].mean(axis=0)  # noqa: E731
    scalar = (lambda v: float(v)) if values.ndim == 1 else (lambda v: v)
    return {
        "mPC": scalar(mean),
        "rPC": scalar(rpc),
        "per_corruption": {c: scalar(pick(corruptions, c)) for c in dict.fromkeys(corruptions)},
        "per_severity": {s: scalar(pick(severities, s)) for s in sorted(set(severities))},
    }


def comparison_table(files: list[dict], labels: dict[str, str], pairs: list[list[str]], resamples: dict | None = None,
                     iou_type: str = "segm") -> tuple[pd.DataFrame, Layout]:
    """Each model pair on each domain: the difference of every summary and per-class AP, with its paired
    bootstrap interval (both models scored on the same resampled images) and the share of resamples
    where the difference changes sign."""
    by_key = {(m["model"], m["domain"], protocol(m)): m for m in files}
    confidence = _confidence(files)
    domains = list(dict.fromkeys(m["domain"] for m in files))
    rows, layout_rows = [], []
    for model, other in pairs:
        for domain in domains:
            for name in dict.fromkeys(k[2] for k in by_key if k[1] == domain):
                a, b = by_key.get((model, domain, name)), by_key.get((other, domain, name))
                if a is None or b is None:
                    continue
                kinds = ["segm"] if a["metric"] == "cityscapes" else list(a["results"])
                for kind in kinds:
                    ra = a["results"] if a["metric"] == "cityscapes" else a["results"][kind]
                    rb = b["results"] if b["metric"] == "cityscapes" else b["results"][kind]
                    summary = "mean" if a["metric"] == "cityscapes" else "summary"
                    cells = [("all", metric) for metric in ra[summary]]
                    cells += [(c, "AP") for c in ra["per_class"] if c in rb["per_class"]]
                    for category, metric in cells:
                        va = ra[summary][metric] if category == "all" else ra["per_class"][category][metric]
                        vb = rb[summary].get(metric) if category == "all" else rb["per_class"][category][metric]
                        diff = _difference(va, vb)
                        key = summary_key(a, kind, metric, category)
                        xa, xb = _resampled(resamples, a, key), _resampled(resamples, b, key)
                        ci = bootstrap.difference(xa, xb, diff, confidence) if diff is not None and xa is not None \
                            and xb is not None else {}
                        rows.append([model, other, domain, name, kind, category, metric, va, vb, diff, ci.get("ci_low"),
                                     ci.get("ci_high"), ci.get("sign_flips"), ci.get("excludes_zero")])
                        if kind == iou_type and category == "all" and metric == "AP":
                            layout_rows.append([f"{labels[model]} − {labels[other]}", domain, name, va, vb,
                                                estimate(diff, (ci.get("ci_low"), ci.get("ci_high")), signed=True),
                                                ci.get("sign_flips")])
    layout = Layout(
        caption=f"Model pairs, paired on the same images: {iou_type} AP of each model and their difference.",
        header=["Pair", "Domain", "Protocol", "AP", "other AP", "difference", "sign flips"],
        rows=[r[:6] + [Ratio(r[6]) if _finite(r[6]) else None] for r in layout_rows],
        numeric_from=3,
        notes=[_models_note(labels), "sign flips: the share of resamples (in percent) where the difference has "
               "the other sign; results/tables/model_comparison.csv holds every class and metric."]
        + _interval_note(files, difference=True),
    )
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS), layout


def load_labels(config: dict) -> dict[str, str]:
    return {name: entry.get("label", name) for name, entry in config["models"].items()}


# Why AP drops (issue 12) ------------------------------------------------------------------------

ERROR_COLUMNS = ["model", "label", "domain", "iou_type", "error", "delta_ap", "count", "AP50"]
CALIBRATION_COLUMNS = ["model", "label", "domain", "iou_type", "metric", "value", *CI, "detections"]
CONFUSION_COLUMNS = ["model", "label", "domain", "rider_policy", "ground_truth", "predicted", "count", "share"]
# Confusions a domain shift is expected to move: the look-alike classes COCO and Cityscapes share.
CONFUSION_PAIRS = [("car", "truck"), ("car", "bus"), ("truck", "car"), ("truck", "bus"), ("bus", "car"), ("bus", "truck"),
                   ("bicycle", "motorcycle"), ("motorcycle", "bicycle"), ("person", "rider"), ("rider", "person")]
ERROR_SHORT = {"classification": "cls", "localisation": "loc", "both": "both", "duplicate": "dupe",
               "background": "bkg", "missed": "miss", "false_positives": "FP", "false_negatives": "FN"}


def errors_table(files: list[dict], labels: dict[str, str]) -> tuple[pd.DataFrame, Layout]:
    """TIDE's errors per (model, domain, IoU type): the AP50 each would add if fixed, and how many there are."""
    rows, layout_rows = [], []
    for m in _by_model(files, labels):
        for kind in ("segm", "bbox"):
            errors = m["results"][kind]["errors"]
            for name, delta in errors["delta_ap"].items():
                rows.append([m["model"], labels[m["model"]], m["domain"], kind, name, delta, errors["counts"].get(name),
                             errors["AP50"]])
            layout_rows.append([labels[m["model"]], m["domain"], kind, errors["AP50"],
                                *[errors["delta_ap"][name] for name in ERROR_SHORT]])
    layout = Layout(
        caption="Why AP drops: TIDE's error decomposition (Bolya et al. 2020) at IoU 0.5, as the AP50 points each "
                "error type would add if it were fixed, on the classes each domain shares with the source.",
        header=["Model", "Domain", "IoU", "AP50", *ERROR_SHORT.values()],
        rows=layout_rows,
        numeric_from=3,
        notes=[_models_note(labels),
               "cls: right place, wrong class; loc: right class, IoU 0.1-0.5; both: wrong class and IoU 0.1-0.5; "
               "dupe: a second detection of a found object; bkg: a detection on nothing (IoU < 0.1); miss: an object "
               "no detection comes near. FP and FN: every false positive removed, every missed object found (they "
               "overlap the others and do not add up with them). Counts are in results/tables/errors.csv.",
               "Computed by hotcoco's tide_errors; not resampled (one TIDE run per resample is too slow)."],
    )
    return pd.DataFrame(rows, columns=ERROR_COLUMNS), layout


def _by_model(files: list[dict], labels: dict[str, str]) -> list[dict]:
    """Files in the order of the config's models, then of the given domains."""
    order = {model: k for k, model in enumerate(labels)}
    return sorted((m for m in files if m["model"] in order), key=lambda m: order[m["model"]])


def boundary_files(diagnostics: list[dict], same_ruler: list[dict], resamples: dict | None = None
                   ) -> tuple[list[dict], dict | None]:
    """Same-ruler files with the diagnostics' Boundary AP beside their mask AP (and its resamples: both
    files of a (model, domain) share their draws, so their columns join row by row)."""
    diag = {(m["model"], m["domain"]): m for m in diagnostics}
    files, joined = [], {}
    for m in same_ruler:
        d = diag[(m["model"], m["domain"])]
        files.append({**m, "results": {**m["results"], "boundary": d["results"]["boundary"]},
                      "intervals": {**m.get("intervals", {}), **d.get("intervals", {})}})
        if resamples:
            a, b = resamples.get((m["model"], m["domain"], "same_ruler")), resamples.get((m["model"], m["domain"], "diagnostics"))
            if a is not None and b is not None:
                joined[(m["model"], m["domain"], "same_ruler")] = pd.concat([a, b.drop(columns=list(a.columns), errors="ignore")],
                                                                            axis=1)
    return files, (joined if resamples else None)


def boundary_table(diagnostics: list[dict], same_ruler: list[dict], labels: dict[str, str], source: str,
                   resamples: dict | None = None) -> tuple[pd.DataFrame, Layout]:
    """Boundary AP beside mask AP on every domain, and each one's gap to the source with its interval."""
    files, resamples = boundary_files(diagnostics, same_ruler, resamples)
    tidy, compared = _gaps(files, labels, source, ("segm", "boundary"), ("AP", "AP50", "APs", "APm", "APl"), resamples)
    tidy = tidy.assign(iou_type=tidy["iou_type"].replace({"segm": "mask"}))
    rows = []
    for m in _by_model(files, labels):
        values = [estimate(m["results"][kind]["summary"]["AP"], interval_of(m, f"{kind}/summary/AP"))
                  for kind in ("segm", "boundary")]
        gaps = []
        for kind in ("mask", "boundary"):
            found = tidy[(tidy.model == m["model"]) & (tidy.domain == m["domain"]) & (tidy.iou_type == kind)
                         & (tidy.metric == "AP") & (tidy.category == "all")]
            gaps.append(estimate(found["gap"].iat[0], (found["ci_low"].iat[0], found["ci_high"].iat[0]), signed=True)
                        if len(found) else None)
        rows.append([labels[m["model"]], m["domain"], *values, *gaps])
    layout = Layout(
        caption="Boundary quality: Boundary AP (Cheng et al. 2021, dilation 0.02 of the image diagonal) beside mask AP, "
                f"and each one's gap to the source ({source}), on the classes each domain shares with the source.",
        header=["Model", "Domain", "mask AP", "Boundary AP", "mask gap", "Boundary gap"],
        rows=rows,
        numeric_from=2,
        notes=[_models_note(labels),
               "gap = AP on the source minus AP on the domain over the classes with ground truth in both: "
               + "; ".join(f"{d}: {_class_list(c)}" for d, c in compared.items()) + ".",
               "Boundary AP is COCO's AP with Boundary IoU (the smaller of mask IoU and the IoU of the boundary bands) "
               "in place of mask IoU, by faster-coco-eval."] + _interval_note(files, difference=True),
    )
    return tidy, layout


def _class_list(classes: list[str]) -> str:
    if len(classes) > MAX_CLASS_COLUMNS:
        return f"{len(classes)} classes"
    return ", ".join(classes) or "none"


def calibration_table(files: list[dict], labels: dict[str, str]) -> tuple[pd.DataFrame, Layout]:
    """Expected and maximum calibration error per (model, domain, IoU type), ECE with its interval."""
    rows, layout_rows = [], []
    for m in _by_model(files, labels):
        cells = []
        for kind in ("segm", "bbox"):
            c = m["results"][kind]["calibration"]
            for metric in ("ece", "mce"):
                low, high = interval_of(m, f"{kind}/{metric}")
                rows.append([m["model"], labels[m["model"]], m["domain"], kind, metric, c[metric], low, high,
                             c["detections"]])
            cells.append(estimate(c["ece"], interval_of(m, f"{kind}/ece")))
        c = m["results"]["segm"]["calibration"]
        layout_rows.append([labels[m["model"]], m["domain"], *cells, estimate(c["mce"]), c["detections"]])
    bins = next((m["provenance"]["settings"].get("calibration_bins") for m in files if "provenance" in m), None)
    layout = Layout(
        caption="Calibration: expected calibration error (ECE, in points) of the detection scores, a detection being "
                "right when it matches an object at IoU 0.5 (COCO's matching), on the classes each domain shares with "
                "the source.",
        header=["Model", "Domain", "ECE mask", "ECE box", "MCE mask", "detections"],
        rows=layout_rows,
        numeric_from=2,
        notes=[_models_note(labels),
               f"{bins or 'equal-width'} score bins; ECE: the bins' mean |confidence - accuracy| weighted by their "
               "detections; MCE: the largest. By hotcoco's calibration."] + _interval_note(files),
    )
    return pd.DataFrame(rows, columns=CALIBRATION_COLUMNS), layout


def confusion_table(files: list[dict], labels: dict[str, str]) -> tuple[pd.DataFrame, Layout]:
    """Every cell of every confusion matrix (tidy), and the look-alike confusions as shares of the true class."""
    rows = []
    for m in _by_model(files, labels):
        for entry in m["results"]:
            names = entry["classes"] + ["background"]
            matrix = np.asarray(entry["matrix"], dtype=np.int64)
            totals = matrix.sum(1)
            for i, truth in enumerate(names):
                for j, predicted in enumerate(names):
                    if matrix[i, j] == 0:
                        continue
                    share = matrix[i, j] / totals[i] if truth != "background" else None
                    rows.append([m["model"], labels[m["model"]], m["domain"], entry["rider_policy"], truth, predicted,
                                 int(matrix[i, j]), share])
    tidy = pd.DataFrame(rows, columns=CONFUSION_COLUMNS)
    layout_rows = []
    for m in _by_model(files, labels):
        for entry in m["results"]:
            matrix = np.asarray(entry["matrix"], dtype=np.int64)
            index = {c: k for k, c in enumerate(entry["classes"])}
            cells = []
            for truth, predicted in CONFUSION_PAIRS:
                if truth not in index or predicted not in index:
                    cells.append(None)
                    continue
                total = matrix[index[truth]].sum()
                cells.append(Ratio(matrix[index[truth], index[predicted]] / total) if total else None)
            layout_rows.append([labels[m["model"]], m["domain"], entry["rider_policy"] or "–", *cells])
    layout = Layout(
        caption="Confusions among look-alike classes: of the objects of the first class, the share (in percent) "
                "whose match at mask IoU 0.5 is a detection of the second.",
        header=["Model", "Domain", "Rider policy", *[f"{a}→{b}" for a, b in CONFUSION_PAIRS]],
        rows=layout_rows,
        numeric_from=3,
        notes=[_models_note(labels),
               "COCO domains in COCO's classes (no rider); Cityscapes domains in Cityscapes' classes, predictions "
               "mapped by evaluation.class_mapping and riders found by each rider policy. Every cell, including "
               "missed objects and detections on nothing, is in results/tables/confusions.csv. By hotcoco's "
               "confusion_matrix."],
    )
    return tidy, layout
