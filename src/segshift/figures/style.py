"""The look every figure shares: one colour-blind-safe palette (Okabe & Ito), the source always blue,
each target the colour of its place in the config; bars, error bars, legends and saving."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from segshift.io import atomic_path  # noqa: E402

OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442", "#000000"]


SOURCE_COLOR = "#0072B2"


TARGET_COLORS = ["#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]


POLICY_NAMES = {"none": "rider: none", "two_wheeler": "rider: two-wheeler rule (boxes)",
                "two_wheeler_mask": "rider: two-wheeler rule (masks)"}
IOU_TYPE = "segm"  # the figures show mask AP; the tables hold both


plt.rcParams.update(
    {
        "font.size": 10,
        "axes.titlesize": 11,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "figure.dpi": 100,
        "savefig.bbox": "tight",
        "pdf.fonttype": 42,  # editable text in the PDF
    }
)


def model_colors(models: list[str]) -> dict[str, str]:
    """The colour of each model, by its place in the config (the same in every figure)."""
    return {m: OKABE_ITO[i % len(OKABE_ITO)] for i, m in enumerate(models)}


def domain_colors(domains: list[str], source: str) -> dict[str, str]:
    """The source in blue; each target the colour of its place among the targets in the config."""
    targets = [d for d in domains if d != source]
    return {source: SOURCE_COLOR, **{d: TARGET_COLORS[i % len(TARGET_COLORS)] for i, d in enumerate(targets)}}


def shared_classes(*metrics: dict, iou_type: str = IOU_TYPE) -> list[str]:
    """The classes every metric file scores, in the first file's order."""
    first, *rest = [m["results"][iou_type]["per_class"] for m in metrics]
    return [c for c in first if all(c in r for r in rest)]


def _with_ground_truth(metrics: list[dict], classes: list[str]) -> list[str]:
    """The classes with ground truth in every file: the ones a summary over several domains compares."""
    return [c for c in classes if all(m["results"][IOU_TYPE]["per_class"][c]["AP"] is not None for m in metrics)]


def save(fig: plt.Figure, stem: str | Path, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """stem.png (150 dpi) and stem.pdf, each written atomically."""
    paths = []
    for ext in formats:
        path = Path(stem).with_suffix(f".{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=150)
        paths.append(path)
    plt.close(fig)
    return paths


def _points(value) -> float:
    return np.nan if value is None else 100.0 * value


def _bar_labels(ax, bars, values, fmt="{:.1f}", tops=None):
    """Value labels, above the error bar where there is one (tops)."""
    tops = values if tops is None else tops
    for bar, v, top in zip(bars, values, tops):
        if np.isnan(v):
            ax.annotate("n/a", (bar.get_x() + bar.get_width() / 2, 0), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7, color="0.4", rotation=90)
        else:
            ax.annotate(fmt.format(v), (bar.get_x() + bar.get_width() / 2, top if np.isfinite(top) else v), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", fontsize=7, rotation=90)


def _grouped_bars(ax, groups: list[str], series: dict[str, list[float]], colors: dict[str, str], *, labels=True,
                  intervals: dict[str, list[tuple]] | None = None):
    """Bars of several series side by side for each group; NaN bars are marked n/a; intervals (points,
    per series and group) are drawn as error bars."""
    n = len(series)
    width = 0.8 / max(n, 1)
    x = np.arange(len(groups))
    for i, (name, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=float)
        bars = ax.bar(x + (i - (n - 1) / 2) * width, np.nan_to_num(values), width, label=name, color=colors[name],
                      edgecolor="white", linewidth=0.5)
        tops = None
        if intervals and name in intervals:
            _error_bars(ax, x + (i - (n - 1) / 2) * width, values, intervals[name])
            tops = np.array([np.nan if not span else max(v, span[1]) for v, span in zip(values, intervals[name])])
        if labels:
            _bar_labels(ax, bars, values, tops=tops)
    ax.set_xticks(x, groups, rotation=30, ha="right")
    # One fixed scale (0-100) in every panel and figure, with room for the value labels.
    ax.set_ylim(0, 115)
    ax.set_yticks(np.arange(0, 101, 20))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _error_bars(ax, positions, values, intervals, horizontal: bool = False) -> None:
    """Bootstrap intervals (points) around values; a value or interval that is missing draws nothing."""
    low = np.array([np.nan if i is None or i[0] is None else i[0] for i in intervals], dtype=float)
    high = np.array([np.nan if i is None or i[1] is None else i[1] for i in intervals], dtype=float)
    keep = np.isfinite(values) & np.isfinite(low) & np.isfinite(high)
    if not keep.any():
        return
    err = np.vstack([np.maximum(values - low, 0), np.maximum(high - values, 0)])[:, keep]
    kwargs = dict(fmt="none", ecolor="0.15", elinewidth=0.8, capsize=1.5)
    if horizontal:
        ax.errorbar(values[keep], np.asarray(positions)[keep], xerr=err, **kwargs)
    else:
        ax.errorbar(np.asarray(positions)[keep], values[keep], yerr=err, **kwargs)


def _interval_points(metric_file: dict, key: str) -> tuple | None:
    found = metric_file.get("intervals", {}).get(key)
    return None if not found or found[0] is None else (100.0 * found[0], 100.0 * found[1])


def _legend_below(ax, ncol: int = 2, offset: float = -0.32) -> None:
    ax.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, offset), ncol=ncol)


def class_ids(names: list[str]) -> list[int]:
    from segshift.categories import COCO_NAME_TO_ID

    return [COCO_NAME_TO_ID[n] for n in names]
