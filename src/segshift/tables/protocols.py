"""Each protocol's own table: COCO metrics on COCO domains, the official protocol on Cityscapes domains."""

from __future__ import annotations

import pandas as pd

from segshift.evaluation.cityscapes import CLASS_NAMES
from segshift.evaluation.coco import SUMMARY
from segshift.tables.layout import (
    TIDY_COLUMNS,
    Layout,
    _interval_note,
    _models_note,
    _skipped_note,
    estimate,
    interval_of,
)


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
