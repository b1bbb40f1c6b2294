"""Metric tables: tidy CSV (one row per model, dataset, class, metric) and the paper's layouts in
Markdown and LaTeX (booktabs). Values are fractions in the CSV and AP points (x100) in the layouts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from segshift.categories import SHARED_CLASSES
from segshift.evaluation.cityscapes import CLASS_NAMES
from segshift.evaluation.coco import SUMMARY
from segshift.io import write_text

TIDY_COLUMNS = ["model", "label", "dataset", "iou_type", "rider_policy", "category", "metric", "value"]
DOMAINS = {"coco_val2017": "COCO val2017", "cityscapes_val": "Cityscapes val"}


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
    write_text(stem.with_suffix(".csv"), tidy[TIDY_COLUMNS].to_csv(index=False, float_format="%.10g"))
    write_text(stem.with_suffix(".md"), layout.markdown())
    write_text(stem.with_suffix(".tex"), layout.latex())


def _models_note(labels: dict[str, str]) -> str:
    return "Models: " + ", ".join(f"{label} ({model})" for model, label in labels.items()) + "."


def _skipped_note(metrics: list[dict]) -> list[str]:
    skipped = sorted({s["file_name"] for m in metrics for s in m["counts"].get("skipped_images", [])})
    return [f"Unreadable images left out: {', '.join(skipped)}."] if skipped else []


def coco_table(metrics: list[dict], labels: dict[str, str], score_threshold: float, engine: str) -> tuple[pd.DataFrame, Layout]:
    """COCO val2017, bbox and segm (Table III)."""
    rows, layout_rows = [], []
    for m in metrics:
        model = m["model"]
        for iou_type, result in m["results"].items():
            for metric in SUMMARY:
                rows.append([model, labels[model], "coco_val2017", iou_type, None, "all", metric, result["summary"][metric]])
            for category, values in result["per_class"].items():
                for metric, value in values.items():
                    rows.append([model, labels[model], "coco_val2017", iou_type, None, category, metric, value])
            layout_rows.append([labels[model], iou_type] + [result["summary"][k] for k in SUMMARY])
    layout = Layout(
        caption="Source domain: COCO val2017 (COCO metrics).",
        header=["Model", "Type", "AP", "AP50", "AP75", "APs", "APm", "APl"],
        rows=layout_rows,
        numeric_from=2,
        notes=[_models_note(labels), f"Evaluated with {engine}; detections scoring below {score_threshold} dropped."]
        + _skipped_note(metrics),
    )
    return pd.DataFrame(rows, columns=TIDY_COLUMNS), layout


def cityscapes_table(metrics: list[dict], labels: dict[str, str], class_mapping: dict[str, str], engine: str) -> tuple[pd.DataFrame, Layout]:
    """Cityscapes val, official protocol, per class and mean, for each rider policy (Table IV)."""
    rows, layout_rows = [], []
    for m in sorted(metrics, key=lambda m: (list(labels).index(m["model"]), m["rider_policy"])):
        model, policy, result = m["model"], m["rider_policy"], m["results"]
        for category in CLASS_NAMES:
            for metric in ("AP", "AP50"):
                rows.append([model, labels[model], "cityscapes_val", "segm", policy, category, metric, result["per_class"][category][metric]])
        for metric in ("AP", "AP50"):
            rows.append([model, labels[model], "cityscapes_val", "segm", policy, "mean", metric, result["mean"][metric]])
        layout_rows.append(
            [labels[model], policy, result["mean"]["AP"], result["mean"]["AP50"]]
            + [result["per_class"][c]["AP"] for c in CLASS_NAMES]
        )
    mapping = ", ".join(f"{k}→{v}" for k, v in class_mapping.items())
    layout = Layout(
        caption="Target domain: Cityscapes val, official instance-level protocol (per-class AP; mean AP and AP50).",
        header=["Model", "Rider policy", "AP", "AP50"] + CLASS_NAMES,
        rows=layout_rows,
        numeric_from=2,
        notes=[
            _models_note(labels),
            f"Class mapping (COCO→Cityscapes): {mapping}; other COCO classes dropped.",
            "Rider policies: none (no rider predictions: AP 0 where riders exist); "
            "two_wheeler (a person on a bicycle or motorcycle detection becomes a rider).",
            f"Evaluated with the {engine} engine; – marks a class without ground truth.",
        ]
        + _skipped_note(metrics),
    )
    return pd.DataFrame(rows, columns=TIDY_COLUMNS), layout


def transfer_gap_table(same_ruler: list[dict], labels: dict[str, str], iou_type: str = "segm") -> tuple[pd.DataFrame, Layout]:
    """COCO-style AP on the 7 shared classes on both domains, and the gap (COCO minus Cityscapes)."""
    by_key = {(m["model"], m["dataset"]): m for m in same_ruler}
    rows, layout_rows = [], []
    for model in labels:
        if (model, "coco_val2017") not in by_key or (model, "cityscapes_val") not in by_key:
            continue
        for kind in ("bbox", "segm"):
            values = {}
            for dataset in ("coco_val2017", "cityscapes_val"):
                result = by_key[(model, dataset)]["results"][kind]
                values[dataset] = {c: result["per_class"][c] for c in SHARED_CLASSES}
                values[dataset]["all"] = {"AP": result["summary"]["AP"], "APs": result["summary"]["APs"],
                                          "APm": result["summary"]["APm"], "APl": result["summary"]["APl"]}
            for category in SHARED_CLASSES + ["all"]:
                for metric in ("AP", "APs", "APm", "APl"):
                    a, b = values["coco_val2017"][category][metric], values["cityscapes_val"][category][metric]
                    gap = None if a is None or b is None else a - b
                    for dataset, value in (("coco_val2017", a), ("cityscapes_val", b), ("transfer_gap", gap)):
                        rows.append([model, labels[model], dataset, kind, None, category, metric, value])
            if kind == iou_type:
                for dataset, name in (("coco_val2017", "COCO val2017"), ("cityscapes_val", "Cityscapes val")):
                    layout_rows.append([labels[model], name] + [values[dataset][c]["AP"] for c in SHARED_CLASSES + ["all"]])
                layout_rows.append(
                    [labels[model], "gap"]
                    + [
                        None if values["coco_val2017"][c]["AP"] is None or values["cityscapes_val"][c]["AP"] is None
                        else Signed(values["coco_val2017"][c]["AP"] - values["cityscapes_val"][c]["AP"])
                        for c in SHARED_CLASSES + ["all"]
                    ]
                )
    layout = Layout(
        caption=f"Transfer gap, one ruler: COCO-style {iou_type} AP on the 7 classes both datasets annotate.",
        header=["Model", "Domain"] + SHARED_CLASSES + ["all"],
        rows=layout_rows,
        numeric_from=2,
        notes=[
            _models_note(labels),
            "gap = AP on COCO val2017 minus AP on Cityscapes val (positive: worse on Cityscapes).",
            "Cityscapes rider counts as person, as COCO annotates riders.",
        ],
    )
    return pd.DataFrame(rows, columns=TIDY_COLUMNS), layout


def load_labels(config: dict) -> dict[str, str]:
    return {name: entry.get("label", name) for name, entry in config["models"].items()}
