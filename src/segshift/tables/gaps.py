"""Source-to-target comparisons on the same ruler: the transfer gap table and the transfer matrix."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from segshift.evaluation import intervals
from segshift.evaluation.coco import mean_over
from segshift.tables.layout import (
    CI,
    MAX_CLASS_COLUMNS,
    Layout,
    _class_list,
    _difference,
    _finite,
    _interval_note,
    _models_note,
    _resampled,
    _setting,
    adjusted,
    estimate,
    family_note,
    interval_of,
    protocol,
    summary_key,
)

GAP_COLUMNS = ["model", "label", "source", "domain", "iou_type", "category", "metric", "source_value", "domain_value", "gap",
               *CI, "excludes_zero", "p_value", "p_adjusted"]
FAMILY = ["iou_type", "metric", "level"]  # a table's tests of one number: summary or per class


MATRIX_COLUMNS = ["model", "domain", "base", "corruption", "severity", "test_size", "protocol", "iou_type", "category",
                  "metric", "value", *CI]


def gap_values(source: dict, target: dict, iou_type: str, metric: str = "AP") -> tuple[dict, list[str]]:
    """(source value, domain value) per class both files score, and for "all": the mean over the classes
    with ground truth on both sides, which are returned too (a gap compares the same classes)."""
    a, b = source["results"][iou_type]["per_class"], target["results"][iou_type]["per_class"]
    classes = [c for c in b if c in a]
    values = {c: (a[c][metric], b[c][metric]) for c in classes}
    both = [c for c in classes if _finite(a[c]["AP"]) and _finite(b[c]["AP"])]
    values["all"] = (mean_over(a, both, metric), mean_over(b, both, metric))
    return values, both


def transfer_gap_table(same_ruler: list[dict], labels: dict[str, str], source: str, iou_type: str = "segm",
                       resamples: dict | None = None, correction: str = "holm") -> tuple[pd.DataFrame, Layout]:
    """Same-ruler AP of the source and each target on the classes they share, and the gap (source minus target)
    with its bootstrap interval (source and target images resampled independently) and its p-value,
    adjusted (`correction`) within the table's gaps of one number (iou type, metric, summary or per class)."""
    targets = list(dict.fromkeys(m["domain"] for m in same_ruler if m["domain"] != source))
    tidy, compared = _gaps(same_ruler, labels, source, ("bbox", "segm"),
                           ("AP", "APs", "APm", "APl", "APs_rel", "APm_rel", "APl_rel"), resamples)
    tidy, sizes = adjusted_gaps(tidy, correction)
    confidence = _setting(same_ruler).confidence
    classes = list(dict.fromkeys(c for d in targets for c in compared.get(d, [])))
    per_class = classes if len(classes) <= MAX_CLASS_COLUMNS else []
    layout_rows = []
    for (model, domain), group in tidy[(tidy.iou_type == iou_type) & (tidy.metric == "AP")].groupby(["model", "domain"], sort=False):
        values = group.set_index("category")

        def gap(c):
            if c not in values.index:
                return None
            return estimate(values.at[c, "gap"], (values.at[c, "ci_low"], values.at[c, "ci_high"]), signed=True,
                            p_adjusted=values.at[c, "p_adjusted"], confidence=confidence)

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
        ] + _interval_note(same_ruler) + shown_family_note(sizes, iou_type, correction, confidence),
    )
    return tidy, layout


def adjusted_gaps(tidy: pd.DataFrame, correction: str) -> tuple[pd.DataFrame, dict]:
    """GAP_COLUMNS' p_adjusted within each family, and the families' sizes."""
    level = (tidy["category"] == "all").map({True: "summary", False: "per class"})
    tidy, sizes = adjusted(tidy.drop(columns="p_adjusted").assign(level=level), FAMILY, correction)
    return tidy[GAP_COLUMNS], sizes


def shown_family_note(sizes: dict, iou_type: str, correction: str, confidence: float) -> list[str]:
    """The note on the families whose marks a layout shows (its iou type's AP)."""
    shown = {k: v for k, v in sizes.items() if k.startswith(f"{iou_type} AP ")}
    return [family_note(correction, shown, confidence, "a gap")] if any(shown.values()) else []


def _gaps(files: list[dict], labels: dict[str, str], source: str, kinds, metrics, resamples: dict | None
          ) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Tidy gaps (GAP_COLUMNS) of every target to the source, and the classes each target's "all" compares."""
    by_key = {(m["model"], m["domain"]): m for m in files}
    targets = list(dict.fromkeys(m["domain"] for m in files if m["domain"] != source))
    setting = _setting(files)
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
                        ci = intervals.difference(_class_mean(resamples, a_file, kind, metric, classes),
                                                  _class_mean(resamples, b_file, kind, metric, classes), setting,
                                                  paired=False) if resamples and gap is not None else {}
                        rows.append([model, labels[model], source, domain, kind, category, metric, a, b, gap,
                                     ci.get("ci_low"), ci.get("ci_high"), ci.get("excludes_zero"), ci.get("p_value"),
                                     None])
    return pd.DataFrame(rows, columns=GAP_COLUMNS), compared


def _class_mean(resamples, m: dict, kind: str, metric: str, classes: list[str]):
    """Per resample: the mean of a metric over classes (a class absent from a resample left out)."""
    columns = [_resampled(resamples, m, f"{kind}/per_class/{c}/{metric}") for c in classes]
    if not columns or any(c is None for c in columns):
        return np.full(1, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack(columns), axis=0)


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
    setting = _setting(files)
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
                spread = intervals.interval(_class_mean(resamples, m, iou_type, "AP", classes), setting) \
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
