"""The layout core every table shares: numbers with intervals, the Layout (Markdown, LaTeX, HTML), the
writer, the notes, and how a metric file's numbers are keyed."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segshift.io import write_text

CI = ["ci_low", "ci_high"]


TIDY_COLUMNS = ["model", "label", "domain", "iou_type", "rider_policy", "category", "metric", "value", *CI]


MAX_CLASS_COLUMNS = 10  # wider class sets stay in the CSV


class Estimate(float):
    """A number with its bootstrap interval, shown as 37.4 [36.2, 38.6], marked with * where its test
    rejects (significant: the adjusted p-value is below 1 - confidence)."""

    def __new__(cls, value, low=None, high=None, signed: bool = False, significant: bool = False):
        out = super().__new__(cls, value)
        out.low, out.high, out.signed, out.significant = low, high, signed, significant
        return out

    def text(self) -> str:
        number = f"{100 * self:+.1f}" if self.signed else f"{100 * self:.1f}"
        if not (_finite(self.low) and _finite(self.high)):
            return number
        mark = "*" if self.significant else ""
        return f"{number} [{100 * self.low:.1f}, {100 * self.high:.1f}]{mark}"


def estimate(value, interval=None, signed: bool = False, p_adjusted=None, confidence: float = 0.95):
    """An Estimate of a finite value, else None (shown as –). The * mark: p_adjusted (its test's adjusted
    p-value) below 1 - confidence; without one, a signed value whose interval excludes 0."""
    if not _finite(value):
        return None
    low, high = interval or (None, None)
    if p_adjusted is None:
        significant = signed and _finite(low) and _finite(high) and (low > 0 or high < 0)
    else:
        significant = _finite(p_adjusted) and p_adjusted < 1 - confidence
    return Estimate(value, low, high, signed, bool(significant))


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


METHOD_NAMES = {"bca": "BCa", "percentile": "percentile", "basic": "basic"}


def _interval_note(metrics: list[dict], difference: bool = False, method: str | None = None) -> list[str]:
    """What [low, high] is; difference: the * of a table without p-values (its interval excludes 0)."""
    settings = [m.get("provenance", {}).get("settings", {}).get("bootstrap") for m in metrics]
    settings = [b for b in settings if b]
    if not settings:
        return []
    b = settings[0]
    units = sorted({", ".join(m["resampling"]["cluster_by"]) or "image" for m in metrics if m.get("resampling")})
    over = "images" if units in ([], ["image"]) else "clusters of images (" + "; ".join(units) + ")"
    note = (f"[low, high]: {100 * b['confidence']:g}% {METHOD_NAMES[method or b.get('method', 'bca')]} bootstrap interval "
            f"over {over} ({b['resamples']} resamples, seed {b['seed']}); it conditions on these models, weights "
            "and annotations and resamples nothing else.")
    if difference:
        note += " * marks a difference whose interval excludes 0."
    return [note] + _omitted_note(metrics)


def family_note(correction: str, families: dict, confidence: float, what: str) -> str:
    """What a * means: the adjusted p-value below 1 - confidence, and each family with its size."""
    from segshift.evaluation.intervals import CORRECTION_NAMES

    sizes = "; ".join(f"{name}: {size}" for name, size in families.items() if size)
    return (f"* marks {what} whose two-sided bootstrap p-value, adjusted by {CORRECTION_NAMES[correction]} within "
            f"its family, is below {1 - confidence:.2g}; families (tests): {sizes or 'none'}. The CSV holds p_value "
            "and p_adjusted.")


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


def _confidence(files: list[dict]) -> float:
    return _setting(files).confidence


def _setting(files: list[dict]):
    """How the metric files' intervals are built (intervals.Setting)."""
    from segshift.evaluation.intervals import Setting

    for m in files:
        b = m.get("provenance", {}).get("settings", {}).get("bootstrap")
        if b:
            return Setting.of(b)
    return Setting()


def adjusted(tidy: pd.DataFrame, family: list[str], correction: str) -> tuple[pd.DataFrame, dict]:
    """tidy with p_adjusted: p_value adjusted within each group of `family` columns; and each family's size."""
    from segshift.evaluation.intervals import adjust

    tidy = tidy.assign(p_adjusted=np.nan)
    sizes = {}
    if len(tidy):
        for key, group in tidy.groupby(family, sort=False, dropna=False):
            tidy.loc[group.index, "p_adjusted"] = adjust(group["p_value"].to_numpy(dtype=np.float64), correction)
            sizes[" ".join(map(str, key if isinstance(key, tuple) else (key,)))] = int(group["p_value"].notna().sum())
    return tidy, sizes


class Ratio(float):
    """A ratio, shown in percent like an AP."""


def load_labels(config: dict) -> dict[str, str]:
    return {name: entry.get("label", name) for name, entry in config["models"].items()}


def _by_model(files: list[dict], labels: dict[str, str]) -> list[dict]:
    """Files in the order of the config's models, then of the given domains."""
    order = {model: k for k, model in enumerate(labels)}
    return sorted((m for m in files if m["model"] in order), key=lambda m: order[m["model"]])


def _class_list(classes: list[str]) -> str:
    if len(classes) > MAX_CLASS_COLUMNS:
        return f"{len(classes)} classes"
    return ", ".join(classes) or "none"
