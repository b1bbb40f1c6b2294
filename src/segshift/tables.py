"""Metric tables: tidy CSV (one row per model, dataset, class, metric) and the paper's layouts in
Markdown and LaTeX (booktabs). Values are fractions in the CSV and AP points (x100) in the layouts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from segshift.evaluation.cityscapes import CLASS_NAMES
from segshift.evaluation.coco import SUMMARY, mean_over
from segshift.io import write_text

TIDY_COLUMNS = ["model", "label", "domain", "iou_type", "rider_policy", "category", "metric", "value"]
GAP_COLUMNS = ["model", "label", "source", "domain", "iou_type", "category", "metric", "source_value", "domain_value", "gap"]
MATRIX_COLUMNS = ["model", "domain", "base", "corruption", "severity", "test_size", "protocol", "iou_type", "category",
                  "metric", "value"]
ROBUSTNESS_COLUMNS = ["model", "label", "suite", "domain", "protocol", "iou_type", "corruption", "severity", "metric", "value"]
MAX_CLASS_COLUMNS = 10  # wider class sets stay in the CSV


class Signed(float):
    """A difference, shown with its sign."""


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
        if isinstance(value, Signed):
            return f"{100 * value:+.1f}"
        if isinstance(value, float):
            return f"{100 * value:.1f}"
        return str(value)

    def markdown(self) -> str:
        align = ["---"] * self.numeric_from + ["---:"] * (len(self.header) - self.numeric_from)
        lines = [f"**{self.caption}**", "", "| " + " | ".join(self.header) + " |", "| " + " | ".join(align) + " |"]
        lines += ["| " + " | ".join(self.cell(v) for v in row) + " |" for row in self.rows]
        lines += [""] + [f"- {note}" for note in self.notes]
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
    """results/tables/<name>.csv, .md and .tex."""
    stem = Path(stem)
    write_text(stem.with_suffix(".csv"), tidy.to_csv(index=False, float_format="%.10g"))
    write_text(stem.with_suffix(".md"), layout.markdown())
    write_text(stem.with_suffix(".tex"), layout.latex())


def _models_note(labels: dict[str, str]) -> str:
    return "Models: " + ", ".join(f"{label} ({model})" for model, label in labels.items()) + "."


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
                rows.append([model, labels[model], domain, iou_type, None, "all", metric, result["summary"][metric]])
            for category, values in result["per_class"].items():
                for metric, value in values.items():
                    rows.append([model, labels[model], domain, iou_type, None, category, metric, value])
            layout_rows.append([labels[model], domain, iou_type] + [result["summary"][k] for k in SUMMARY])
    layout = Layout(
        caption="COCO metrics on the domains of COCO datasets.",
        header=["Model", "Domain", "Type", "AP", "AP50", "AP75", "APs", "APm", "APl"],
        rows=layout_rows,
        numeric_from=3,
        notes=[_models_note(labels), f"Evaluated with {engine}; detections scoring below {score_threshold} dropped."]
        + _skipped_note(metrics),
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
                rows.append([model, labels[model], domain, "segm", policy, category, metric, result["per_class"][category][metric]])
        for metric in ("AP", "AP50"):
            rows.append([model, labels[model], domain, "segm", policy, "mean", metric, result["mean"][metric]])
        layout_rows.append(
            [labels[model], domain, policy, result["mean"]["AP"], result["mean"]["AP50"]]
            + [result["per_class"][c]["AP"] for c in CLASS_NAMES]
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
        + _skipped_note(metrics),
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
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _difference(a, b):
    return a - b if _finite(a) and _finite(b) else None


def transfer_gap_table(same_ruler: list[dict], labels: dict[str, str], source: str, iou_type: str = "segm"
                       ) -> tuple[pd.DataFrame, Layout]:
    """Same-ruler AP of the source and each target on the classes they share, and the gap (source minus target)."""
    by_key = {(m["model"], m["domain"]): m for m in same_ruler}
    targets = list(dict.fromkeys(m["domain"] for m in same_ruler if m["domain"] != source))
    rows, compared = [], {}
    for model in labels:
        for domain in targets:
            if (model, source) not in by_key or (model, domain) not in by_key:
                continue
            for kind in ("bbox", "segm"):
                for metric in ("AP", "APs", "APm", "APl", "APs_rel", "APm_rel", "APl_rel"):
                    values, both = gap_values(by_key[(model, source)], by_key[(model, domain)], kind, metric)
                    compared[domain] = both
                    for category, (a, b) in values.items():
                        rows.append([model, labels[model], source, domain, kind, category, metric, a, b, _difference(a, b)])
    tidy = pd.DataFrame(rows, columns=GAP_COLUMNS)
    classes = list(dict.fromkeys(c for d in targets for c in compared.get(d, [])))
    per_class = classes if len(classes) <= MAX_CLASS_COLUMNS else []
    layout_rows = []
    for (model, domain), group in tidy[(tidy.iou_type == iou_type) & (tidy.metric == "AP")].groupby(["model", "domain"], sort=False):
        values = group.set_index("category")
        gap = lambda c: Signed(values.at[c, "gap"]) if c in values.index and _finite(values.at[c, "gap"]) else None  # noqa: E731
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
        ],
    )
    return tidy, layout


def transfer_matrix(files: list[dict], labels: dict[str, str], domains: dict[str, dict], iou_types=("segm", "bbox")
                    ) -> tuple[pd.DataFrame, Layout]:
    """Every number of every (model, domain): tidy, and same-ruler AP with models as rows and domains as columns."""
    rows = []
    for m in files:
        d = domains[m["domain"]]
        corruption = d["corruption"] or {}
        test_size = "x".join(map(str, d["test_size"])) if d["test_size"] else None
        head = [m["model"], m["domain"], d["dataset"], corruption.get("name"), corruption.get("severity"), test_size]
        if m["metric"] == "cityscapes":
            protocol, result = f"cityscapes_{m['rider_policy']}", {"segm": m["results"]}
            summary_key = "mean"
        else:
            protocol, result, summary_key = m["metric"], m["results"], "summary"
        for iou_type, r in result.items():
            for metric, value in r[summary_key].items():
                rows.append(head + [protocol, iou_type, "all", metric, value])
            for category, values in r["per_class"].items():
                for metric, value in values.items():
                    rows.append(head + [protocol, iou_type, category, metric, value])
    tidy = pd.DataFrame(rows, columns=MATRIX_COLUMNS)
    same = tidy[(tidy.protocol == "same_ruler") & (tidy.category == "all") & (tidy.metric == "AP")]
    names = [d for d in domains if d in set(same.domain)]
    layout_rows = []
    for model in labels:
        for iou_type in iou_types:
            values = same[(same.model == model) & (same.iou_type == iou_type)].set_index("domain")["value"]
            if len(values):
                layout_rows.append([labels[model], iou_type] + [values.get(d) for d in names])
    layout = Layout(
        caption="Transfer matrix: same-ruler COCO-style AP of each model (rows) on each domain (columns).",
        header=["Model", "Type"] + names,
        rows=layout_rows,
        numeric_from=2,
        notes=[_models_note(labels), "Each domain is scored on the classes it shares with the source; "
               "results/tables/transfer_matrix.csv holds every protocol, class and metric."],
    )
    return tidy, layout


def robustness_table(files: list[dict], labels: dict[str, str], suites: dict[str, dict], iou_type: str = "segm"
                     ) -> tuple[pd.DataFrame, Layout]:
    """mPC (mean AP over corruptions and severities) and rPC (mPC / clean AP) of each suite, with the mean AP
    per corruption and per severity (Michaelis et al. 2019), on the same ruler and the dataset's own protocol."""
    ap = {}  # (model, domain, protocol, iou_type) -> AP
    for m in files:
        if m["metric"] == "cityscapes":
            ap[(m["model"], m["domain"], f"cityscapes_{m['rider_policy']}", "segm")] = m["results"]["mean"]["AP"]
        else:
            for kind, r in m["results"].items():
                ap[(m["model"], m["domain"], m["metric"], kind)] = r["summary"]["AP"]
    rows, layout_rows = [], []
    protocols = list(dict.fromkeys(k[2] for k in ap))
    columns = list(dict.fromkeys(d["corruption"]["name"] for e in suites.values() for d in e["members"].values()))
    for suite, entry in suites.items():
        members = {name: domain_entry["corruption"] for name, domain_entry in entry["members"].items()}
        for model in labels:
            for protocol in protocols:
                for kind in ("bbox", "segm"):
                    clean = ap.get((model, entry["domain"], protocol, kind))
                    got = {name: ap.get((model, name, protocol, kind)) for name in members}
                    if clean is None or any(v is None for v in got.values()):
                        continue
                    stats = mpc(clean, [(members[n]["name"], members[n]["severity"], v) for n, v in got.items()])
                    head = [model, labels[model], suite, entry["domain"], protocol, kind]
                    rows.append(head + ["none", 0, "AP", clean])
                    rows.append(head + ["all", "all", "mPC", stats["mPC"]])
                    rows.append(head + ["all", "all", "rPC", stats["rPC"]])
                    for corruption, value in stats["per_corruption"].items():
                        rows.append(head + [corruption, "all", "AP", value])
                    for severity, value in stats["per_severity"].items():
                        rows.append(head + ["all", severity, "AP", value])
                    if kind == iou_type:
                        layout_rows.append([labels[model], suite, protocol, clean, stats["mPC"], Ratio(stats["rPC"])]
                                           + [stats["per_corruption"].get(c) for c in columns])
    layout = Layout(
        caption=f"Robustness to image corruptions ({iou_type}): clean AP, mPC (mean AP over corruptions and "
                "severities), rPC = mPC / clean AP, and the mean AP over severities of each corruption.",
        header=["Model", "Suite", "Protocol", "clean AP", "mPC", "rPC"] + columns,
        rows=layout_rows,
        numeric_from=3,
        notes=[_models_note(labels), "rPC is shown in percent. Michaelis et al. 2019, 'Benchmarking Robustness in "
               "Object Detection'; corruptions from imagecorruptions-imaug."],
    )
    return pd.DataFrame(rows, columns=ROBUSTNESS_COLUMNS), layout


class Ratio(float):
    """A ratio, shown in percent like an AP."""


def mpc(clean: float, results: list[tuple[str, int, float]]) -> dict[str, Any]:
    """mPC, rPC and the means per corruption and per severity from (corruption, severity, AP) triples."""
    frame = pd.DataFrame(results, columns=["corruption", "severity", "AP"])
    value = float(frame["AP"].mean())
    return {
        "mPC": value,
        "rPC": value / clean if clean else float("nan"),
        "per_corruption": {k: float(v) for k, v in frame.groupby("corruption", sort=False)["AP"].mean().items()},
        "per_severity": {int(k): float(v) for k, v in frame.groupby("severity")["AP"].mean().items()},
    }


def load_labels(config: dict) -> dict[str, str]:
    return {name: entry.get("label", name) for name, entry in config["models"].items()}
