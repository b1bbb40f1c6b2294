"""Figures of the metric files: PNG for the report, PDF for papers.

One palette everywhere, colour-blind safe (Okabe & Ito): the source is always blue, each
target keeps the colour of its place in the config in every figure, models theirs.
Values are AP points (x100), as in the tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from segshift.evaluation.cityscapes import CLASS_NAMES  # noqa: E402
from segshift.evaluation.coco import REFERENCE_AREA, mean_over, shared_class_ground_truth  # noqa: E402
from segshift.io import atomic_path  # noqa: E402

OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442", "#000000"]
SOURCE_COLOR = "#0072B2"
TARGET_COLORS = ["#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
POLICY_NAMES = {"none": "rider: none", "two_wheeler": "rider: two-wheeler rule (boxes)",
                "two_wheeler_mask": "rider: two-wheeler rule (masks)"}
SIZES = {"small": (0, 32**2), "medium": (32**2, 96**2), "large": (96**2, float("inf"))}
IOU_TYPE = "segm"  # the figures show mask AP; the tables hold both
MIN_BIN_DETECTIONS = 10  # a reliability bin of fewer detections is noise drawn as a point

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


def per_class_ap(label: str, same_ruler: dict[str, dict], cityscapes: dict[str, dict], names: dict[str, str],
                 colors: dict[str, str]) -> plt.Figure:
    """Same-ruler mask AP per shared class on two domains, and the official Cityscapes AP/AP50 where the second has it."""
    domains = list(same_ruler)
    classes = shared_classes(*same_ruler.values())
    panels = 3 if cityscapes else 1
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels + max(0, len(classes) - 8) * 0.35, 4.8), squeeze=False,
                             gridspec_kw={"width_ratios": [max(7, len(classes))] + [8] * (panels - 1)})
    axes = axes[0]
    series = {names[d]: [_points(same_ruler[d]["results"][IOU_TYPE]["per_class"][c]["AP"]) for c in classes] for d in domains}
    intervals = {names[d]: [_interval_points(same_ruler[d], f"{IOU_TYPE}/per_class/{c}/AP") for c in classes] for d in domains}
    _grouped_bars(axes[0], classes, series, {names[d]: colors[d] for d in domains}, intervals=intervals)
    axes[0].set_title("Same ruler: COCO-style mask AP@[.5:.95]")
    axes[0].set_ylabel("AP (points)")
    _legend_below(axes[0])
    policy_colors = {POLICY_NAMES.get(p, p): c for p, c in zip(cityscapes, ["#D55E00", "#CC79A7", "#F0E442"])}
    for ax, metric in zip(axes[1:], ["AP", "AP50"]):
        series = {
            POLICY_NAMES.get(p, p): [_points(m["results"]["per_class"][c][metric]) for c in CLASS_NAMES]
            for p, m in cityscapes.items()
        }
        intervals = {POLICY_NAMES.get(p, p): [_interval_points(m, f"per_class/{c}/{metric}") for c in CLASS_NAMES]
                     for p, m in cityscapes.items()}
        _grouped_bars(ax, CLASS_NAMES, series, policy_colors, intervals=intervals)
        ax.set_title(f"{names[domains[1]]}, official Cityscapes protocol: {metric}"
                     + (" (IoU 0.5:0.95)" if metric == "AP" else " (IoU 0.5)"), fontsize=9)
        _legend_below(ax)
    fig.suptitle(f"{label}: per-class mask AP, {names[domains[0]]} vs {names[domains[1]]}", fontweight="bold")
    fig.tight_layout()
    return fig


def transfer_gap(labels: dict[str, str], same_ruler: dict[str, dict[str, dict]], source: str, targets: list[str],
                 names: dict[str, str], gap_table: pd.DataFrame | None = None) -> plt.Figure:
    """The transfer gap (source minus target same-ruler mask AP, as in the gap table) per class and model,
    one panel per target; "all classes" averages the classes with ground truth on both sides.
    gap_table: the transfer gap table's tidy rows, whose ci_low/ci_high are drawn as error bars."""
    models = list(labels)
    colors = model_colors(models)
    panels = []
    for target in targets:
        pairs = [(same_ruler[m][source], same_ruler[m][target]) for m in models]
        classes = shared_classes(*[x for pair in pairs for x in pair])
        panels.append((target, ["all classes"] + classes))
    rows = max(len(groups) for _, groups in panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 0.55 * rows * max(1, len(models)) ** 0.5 + 1.8),
                             squeeze=False)
    height = 0.8 / len(models)
    for ax, (target, groups) in zip(axes[0], panels):
        y = np.arange(len(groups))
        lim = 5.0
        for i, model in enumerate(models):
            a, b = same_ruler[model][source], same_ruler[model][target]
            both = _with_ground_truth([a, b], groups[1:])
            gaps = []
            for g in groups:
                ap = [_points(mean_over(m["results"][IOU_TYPE]["per_class"], both) if g == "all classes"
                              else m["results"][IOU_TYPE]["per_class"][g]["AP"]) for m in (a, b)]
                gaps.append(ap[0] - ap[1])
            gaps = np.asarray(gaps)
            pos = y + (i - (len(models) - 1) / 2) * height
            ax.barh(pos, np.nan_to_num(gaps), height, color=colors[model], label=labels[model], edgecolor="white",
                    linewidth=0.5)
            if gap_table is not None and len(gap_table):
                rows = gap_table[(gap_table.model == model) & (gap_table.domain == target)
                                 & (gap_table.iou_type == IOU_TYPE) & (gap_table.metric == "AP")].set_index("category")
                spans = [(100 * rows.at[c, "ci_low"], 100 * rows.at[c, "ci_high"]) if c in rows.index else None
                         for c in ["all" if g == "all classes" else g for g in groups]]
                _error_bars(ax, pos, gaps, spans, horizontal=True)
                lim = max([lim] + [abs(v) for span in spans if span for v in span if np.isfinite(v)])
            else:
                spans = [None] * len(gaps)
            for p, g, span in zip(pos, gaps, spans):
                text = "n/a" if np.isnan(g) else f"{g:+.1f}"
                ha = "left" if (np.isnan(g) or g >= 0) else "right"
                end = g if not span or not np.isfinite(span[0]) else (span[1] if g >= 0 else span[0])  # past the interval
                ax.annotate(text, (0 if np.isnan(g) else end, p), xytext=(3 if ha == "left" else -3, 0),
                            textcoords="offset points", ha=ha, va="center", fontsize=7)
            lim = max(lim, np.nanmax(np.abs(gaps)) if np.isfinite(gaps).any() else 0)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlim(-lim * 1.3, lim * 1.3)
        ax.set_yticks(y, groups)
        ax.invert_yaxis()
        ax.set_xlabel(f"gap = source − target mask AP (points)\n← better on the target  |  worse on the target →")
        ax.set_title(f"{names[source]} → {names[target]}")
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
        ax.legend(frameon=False, fontsize=8, loc="lower right")
    fig.suptitle("Transfer gap per class (same ruler: COCO-style AP on the classes both domains annotate)",
                 fontweight="bold")
    fig.tight_layout()
    return fig


def size_shares(ground_truth: dict, kind: str, classes: list[int], relative: bool = False) -> dict[str, float]:
    """Fraction of the ground-truth instances of `classes` (COCO ids; crowd excluded) in each COCO size
    bucket; relative: by the share of its image an object covers (the buckets of a 640x480 image)."""
    gt = shared_class_ground_truth(ground_truth, kind, classes)
    scale = {im["id"]: REFERENCE_AREA / (im["width"] * im["height"]) if relative else 1.0 for im in gt["images"]}
    areas = np.array([a["area"] * scale[a["image_id"]] for a in gt["annotations"] if not a.get("iscrowd", 0)],
                     dtype=float)
    if areas.size == 0:
        return {s: np.nan for s in SIZES}
    return {s: float(((areas >= lo) & (areas < hi)).mean()) for s, (lo, hi) in SIZES.items()}


def ap_by_size(label: str, same_ruler: dict[str, dict], shares: dict[str, dict[str, dict[str, float]]],
               names: dict[str, str], colors: dict[str, str]) -> plt.Figure:
    """APs/APm/APl on two domains, over the classes with ground truth on both, next to how the ground truth
    is spread over the sizes: by absolute area (COCO's buckets, top) and by the share of the image (bottom)."""
    domains = list(same_ruler)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.6))
    bar_colors = {names[d]: colors[d] for d in domains}
    sizes = list(SIZES)
    classes = _with_ground_truth(list(same_ruler.values()), shared_classes(*same_ruler.values()))
    rows = [("absolute", "", {s: f"{s}\n(area {_area_text(s)})" for s in sizes}),
            ("relative", "_rel", {s: f"{s}\n({_relative_text(s)})" for s in sizes})]
    for (how, suffix, ticks), (left, right) in zip(rows, axes):
        series = {
            names[d]: [_points(mean_over(same_ruler[d]["results"][IOU_TYPE]["per_class"], classes, f"AP{s[0]}{suffix}"))
                       for s in sizes]
            for d in domains
        }
        _grouped_bars(left, [ticks[s] for s in sizes], series, bar_colors)
        left.set_xticklabels(left.get_xticklabels(), rotation=0, ha="center", fontsize=8)
        left.set_ylabel("mask AP (points)")
        left.set_title(f"Same-ruler mask AP by {how} object size"
                       + ("\n(share of the image's area)" if how == "relative" else ""), fontsize=10)
        series = {names[d]: [100 * shares[d][how][s] for s in sizes] for d in domains}
        _grouped_bars(right, sizes, series, bar_colors)
        right.set_xticklabels(sizes, rotation=0, ha="center")
        right.set_ylabel("% of ground-truth instances")
        right.set_title(f"Ground truth by {how} size ({len(classes)} classes)")
    _legend_below(axes[1][0], offset=-0.25)
    fig.suptitle(f"{label}: does object size explain the drop?", fontweight="bold")
    fig.tight_layout()
    return fig


def _relative_text(size: str) -> str:
    lo, hi = SIZES[size]
    if lo == 0:
        return f"< {100 * hi / REFERENCE_AREA:.2f}%"
    if hi == float("inf"):
        return f"≥ {100 * lo / REFERENCE_AREA:.1f}%"
    return f"{100 * lo / REFERENCE_AREA:.2f}–{100 * hi / REFERENCE_AREA:.1f}%"


def _area_text(size: str) -> str:
    lo, hi = SIZES[size]
    if lo == 0:
        return "< 32²"
    if hi == float("inf"):
        return "≥ 96²"
    return "32²–96²"


def pr_curves(label: str, same_ruler: dict[str, dict], names: dict[str, str], colors: dict[str, str]) -> plt.Figure:
    """Precision against recall per shared class on two domains (mask IoU 0.5, and averaged over 0.5:0.95)."""
    domains = list(same_ruler)
    classes = shared_classes(*same_ruler.values())
    cols = 4
    rows = (len(classes) + 1 + cols - 1) // cols  # one more cell for the legend
    fig, axes = plt.subplots(rows, cols, figsize=(14, 3.2 * rows + 0.4), sharex=True, sharey=True, squeeze=False)
    for ax, cls in zip(axes.flat, classes):
        for d in domains:
            curves = same_ruler[d]["results"][IOU_TYPE]["pr_curves"]
            recall = np.asarray(curves["recall"])
            for key, style in (("precision_iou50", "-"), ("precision_mean", ":")):
                precision = np.asarray(curves["classes"][cls][key], dtype=float)
                if (precision < 0).all():
                    continue
                ax.plot(recall, np.where(precision < 0, np.nan, precision), style, color=colors[d], linewidth=1.5)
        if all((np.asarray(same_ruler[d]["results"][IOU_TYPE]["pr_curves"]["classes"][cls]["precision_iou50"]) < 0).all()
               for d in domains):
            ax.text(0.5, 0.5, "no ground truth", ha="center", va="center", transform=ax.transAxes, color="0.4")
        ax.set_title(cls)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(classes):]:
        ax.axis("off")
    legend = axes.flat[len(classes)]
    for d in domains:
        legend.plot([], [], "-", color=colors[d], label=f"{names[d]}, IoU 0.5")
        legend.plot([], [], ":", color=colors[d], label=f"{names[d]}, mean IoU 0.5:0.95")
    legend.legend(frameon=False, loc="center", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("recall")
    for ax in axes[:, 0]:
        ax.set_ylabel("precision")
    fig.suptitle(f"{label}: mask precision-recall per class (same ruler; a missing curve: no ground truth in that domain)",
                 fontweight="bold")
    fig.tight_layout()
    return fig


def model_pair(
    labels: dict[str, str],
    same_ruler: dict[str, dict[str, dict]],
    cityscapes: dict[str, dict],
    models: list[str],
    names: dict[str, str],
) -> plt.Figure:
    """Two models class by class: a line joins their AP on each class, one panel per ruler and domain."""
    a, b = labels
    colors = model_colors(models)
    domains = list(same_ruler[a])
    classes = shared_classes(*[same_ruler[m][d] for m in labels for d in domains])
    panels = [
        (f"{names[d]}, same ruler (mask AP)", classes,
         {m: [_points(same_ruler[m][d]["results"][IOU_TYPE]["per_class"][c]["AP"]) for c in classes] for m in labels})
        for d in domains
    ]
    if cityscapes:
        panels.append((f"{names[domains[-1]]}, official AP", CLASS_NAMES,
                       {m: [_points(cityscapes[m]["results"]["per_class"][c]["AP"]) for c in CLASS_NAMES] for m in labels}))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 1.6 + 0.35 * max(len(p[1]) for p in panels)),
                             sharex=False, squeeze=False)
    axes = axes[0]
    for ax, (title, groups, values) in zip(axes, panels):
        y = np.arange(len(groups))
        va, vb = np.asarray(values[a], float), np.asarray(values[b], float)
        ax.hlines(y, np.fmin(va, vb), np.fmax(va, vb), color="0.7", linewidth=2, zorder=1)
        # Hollow and filled markers stay readable where the two models coincide.
        ax.scatter(va, y, facecolors="none", edgecolors=colors[a], linewidths=2, label=labels[a], zorder=2, s=90)
        ax.scatter(vb, y, color=colors[b], label=labels[b], zorder=3, s=28, marker="D")
        for yi, x1, x2 in zip(y, va, vb):
            d = x2 - x1
            if np.isfinite(d):
                ax.annotate(f"{d:+.1f}", (max(x1, x2), yi), xytext=(6, 0), textcoords="offset points",
                            va="center", fontsize=7)
            else:
                ax.annotate("n/a", (0, yi), xytext=(2, 0), textcoords="offset points", va="center", fontsize=7, color="0.4")
        ax.set_yticks(y, groups)
        ax.invert_yaxis()
        ax.set_xlim(0, 108)
        ax.set_xticks(np.arange(0, 101, 20))
        ax.set_xlabel("AP (points)")
        ax.set_title(title, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    _legend_below(axes[len(axes) // 2], offset=-0.18)
    fig.suptitle(f"{labels[a]} vs {labels[b]} per class (numbers: second minus first)", fontweight="bold")
    fig.tight_layout()
    return fig


def severity_curves(labels: dict[str, str], suite: str, clean: dict[str, float],
                    ap: dict[str, dict[str, dict[int, float]]], metric_name: str,
                    intervals: dict | None = None) -> plt.Figure:
    """AP against severity for each corruption (one line per model; severity 0 is the clean domain),
    and a last panel with the mean over corruptions (its mean over severities 1-5 is mPC).

    intervals: {(model, corruption or None for clean, severity): (low, high)}, drawn as whiskers;
    the axis is fitted to the values and whiskers, not 0-100, so that the curves can be told apart."""
    intervals = intervals or {}
    models = list(labels)
    colors = model_colors(models)
    corruptions = list(next(iter(ap.values())))
    cols = min(5, len(corruptions) + 1)
    rows = (len(corruptions) + 1 + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 2.6 * rows + 0.8), sharex=True, sharey=True, squeeze=False)
    panels = [(c.replace("_", " "), {m: ap[m][c] for m in models}) for c in corruptions]
    panels.append(("mean over corruptions", {m: _mean_by_severity(ap[m]) for m in models}))
    seen = []
    for ax, corruption, (title, curves) in zip(axes.flat, [*corruptions, None], panels):
        for i, m in enumerate(models):
            severities = sorted(curves[m])
            # Models side by side at each severity, so that whiskers do not cover each other.
            x = np.array([0] + severities, dtype=float) + (i - (len(models) - 1) / 2) * 0.08
            y = [_points(clean[m])] + [_points(curves[m][s]) for s in severities]
            # Markers and dashes differ too, so models with equal AP stay visible.
            ax.plot(x, y, ["-", "--", ":", "-."][i % 4], marker="osD^v"[i % 5], color=colors[m], markersize=4,
                    linewidth=1.5, label=labels[m], markerfacecolor="none" if i % 2 else colors[m])
            spans = [intervals.get((m, None, 0))] + [intervals.get((m, corruption, s)) if corruption else None
                                                      for s in severities]
            spans = [(_points(a), _points(b)) if a is not None and b is not None else None
                     for a, b in (span or (None, None) for span in spans)]
            _error_bars(ax, x, np.array(y), spans)
            seen += [v for v in y if np.isfinite(v)] + [v for span in spans if span for v in span if np.isfinite(v)]
        ax.set_title(title, fontsize=9)
        ax.set_xticks(range(0, 6))
        ax.tick_params(labelbottom=True)  # every panel, also above an empty cell
        ax.grid(alpha=0.3)
    if seen:
        low, high = min(seen), max(seen)
        pad = max(2.0, 0.08 * (high - low))
        axes.flat[0].set_ylim(max(0.0, low - pad), min(100.0, high + pad))  # shared by every panel
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("severity (0: clean)")
    for ax in axes[:, 0]:
        ax.set_ylabel(f"{metric_name} (points)")
    axes.flat[0].legend(frameon=False, fontsize=7, loc="upper right")
    fig.suptitle(f"{suite}: {metric_name} under image corruptions", fontweight="bold")
    fig.tight_layout()
    return fig


def _mean_by_severity(curves: dict[str, dict[int, float]]) -> dict[int, float]:
    severities = sorted({s for c in curves.values() for s in c})
    return {s: float(np.mean([c[s] for c in curves.values() if s in c])) for s in severities}


def class_ids(names: list[str]) -> list[int]:
    from segshift.categories import COCO_NAME_TO_ID

    return [COCO_NAME_TO_ID[n] for n in names]


def suite_figure(labels: dict[str, str], suite: str, entry: dict, metrics: list[dict]) -> plt.Figure:
    """The severity curves of one suite from the metric files of its clean domain and members (same ruler, mask AP)."""
    files = {(m["model"], m["domain"]): m for m in metrics if m["metric"] == "same_ruler"}
    ap = {key: m["results"][IOU_TYPE]["summary"]["AP"] for key, m in files.items()}
    spans = {key: (m.get("intervals") or {}).get(f"{IOU_TYPE}/summary/AP") for key, m in files.items()}
    clean = {model: ap[(model, entry["domain"])] for model in labels}
    curves = {model: {} for model in labels}
    intervals = {(model, None, 0): spans[(model, entry["domain"])] for model in labels}
    for name, domain in entry["members"].items():
        c = domain["corruption"]
        for model in labels:
            curves[model].setdefault(c["name"], {})[c["severity"]] = ap[(model, name)]
            intervals[(model, c["name"], c["severity"])] = spans[(model, name)]
    return severity_curves(labels, suite, clean, curves, "same-ruler mask AP",
                           {k: v for k, v in intervals.items() if v})


# Why AP drops (issue 12) ------------------------------------------------------------------------

ERROR_COLORS = {"classification": "#E69F00", "localisation": "#56B4E9", "both": "#009E73", "duplicate": "#CC79A7",
                "background": "#D55E00", "missed": "#0072B2"}


def errors(labels: dict[str, str], diagnostics: dict[str, dict[str, dict]], names: dict[str, str]) -> plt.Figure:
    """TIDE's six error types as separate bars, one group per (model, domain), masks and boxes side by side.

    Not stacked and not summed: each value is the AP50 gained by fixing that error type alone, and
    the gains of fixing several at once are not their sum."""
    rows = [(m, d) for m in labels for d in names]
    kinds = list(ERROR_COLORS)
    height = 0.8 / len(kinds)
    fig, axes = plt.subplots(1, 2, figsize=(11, 1.0 * len(rows) + 1.8), sharey=True)
    y = np.arange(len(rows))[::-1]
    for ax, kind in zip(axes, ("segm", "bbox")):
        for k, (error, color) in enumerate(ERROR_COLORS.items()):
            width = np.array([_points(diagnostics[m][d]["results"][kind]["errors"]["delta_ap"][error]) for m, d in rows])
            position = y + 0.4 - (k + 0.5) * height
            ax.barh(position, np.nan_to_num(width), height, color=color, label=error, edgecolor="white", linewidth=0.3)
            for yy, value in zip(position, width):
                if np.isfinite(value):
                    ax.annotate(f"{value:.1f}", (value, yy), xytext=(2, 0), textcoords="offset points", va="center",
                                fontsize=6)
        ax.set_title("masks" if kind == "segm" else "boxes")
        ax.set_xlabel("AP50 gained by fixing this error type alone (points)")
        ax.margins(x=0.12)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    axes[0].set_yticks(y, [f"{labels[m]}\n{names[d]}" if len(labels) > 1 else names[d] for m, d in rows], fontsize=8)
    axes[0].legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(1.05, -0.5 / max(len(rows), 1) - 0.12),
                   ncol=6)
    fig.suptitle("TIDE errors per model and domain (IoU 0.5): each type fixed alone, not additive")
    return fig


def boundary_ap(labels: dict[str, str], diagnostics: dict[str, dict[str, dict]], same_ruler: dict[str, dict[str, dict]],
                source: str, names: dict[str, str], gaps: pd.DataFrame) -> plt.Figure:
    """Per model: mask AP and Boundary AP on each domain (top) and each target's gaps to the source (bottom)."""
    targets = [d for d in names if d != source]
    fig, axes = plt.subplots(2, len(labels), figsize=(1.6 + 1.5 * len(names) * len(labels), 7.5), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2]})
    colors = {"mask": "#0072B2", "Boundary": "#E69F00"}
    for k, model in enumerate(labels):
        top, bottom = axes[0][k], axes[1][k]
        series = {"mask": [], "Boundary": []}
        intervals = {"mask": [], "Boundary": []}
        for d in names:
            for name, m, kind in (("mask", same_ruler[model][d], "segm"), ("Boundary", diagnostics[model][d], "boundary")):
                series[name].append(_points(m["results"][kind]["summary"]["AP"]))
                intervals[name].append(_interval_points(m, f"{kind}/summary/AP"))
        _grouped_bars(top, [names[d] for d in names], series, colors, intervals=intervals)
        top.set_title(labels[model])
        top.set_ylabel("AP (points)")
        x = np.arange(len(targets))
        for i, (name, kind) in enumerate((("mask", "mask"), ("Boundary", "boundary"))):
            rows = [gaps[(gaps.model == model) & (gaps.domain == d) & (gaps.iou_type == kind) & (gaps.metric == "AP")
                         & (gaps.category == "all")] for d in targets]
            values = np.array([_points(r["gap"].iat[0]) if len(r) else np.nan for r in rows])
            spans = [(_points(r["ci_low"].iat[0]), _points(r["ci_high"].iat[0])) if len(r) else None for r in rows]
            position = x + (i - 0.5) * 0.4
            bars = bottom.bar(position, np.nan_to_num(values), 0.4, color=colors[name], label=f"{name} gap")
            _error_bars(bottom, position, values, spans)
            for bar, v, span in zip(bars, values, spans):
                if np.isfinite(v):
                    top_of = max(v, 0, span[1] if span and np.isfinite(span[1]) else v)
                    bottom.annotate(f"{v:+.1f}", (bar.get_x() + bar.get_width() / 2, top_of), xytext=(0, 2),
                                    textcoords="offset points", ha="center", fontsize=7)
        bottom.margins(y=0.15)
        bottom.axhline(0, color="0.3", linewidth=0.8)
        bottom.set_xticks(x, [names[d] for d in targets], rotation=30, ha="right")
        bottom.set_ylabel(f"gap to {names[source]} (points)")
        bottom.grid(axis="y", alpha=0.3)
        bottom.set_axisbelow(True)
    axes[0][0].legend(frameon=False, fontsize=8, loc="upper right", title="AP", title_fontsize=8)
    axes[1][0].legend(frameon=False, fontsize=8, loc="upper left")
    fig.suptitle("Boundary AP beside mask AP (top) and each target's gap to the source (bottom)")
    fig.tight_layout()
    return fig


def reliability(labels: dict[str, str], diagnostics: dict[str, dict[str, dict]], names: dict[str, str],
                colors: dict[str, str], kind: str = IOU_TYPE) -> plt.Figure:
    """Per model: the reliability diagram and the score distributions of true and false positives."""
    fig, axes = plt.subplots(len(labels), 2, figsize=(10, 3.6 * len(labels)), squeeze=False)
    for (left, right), model in zip(axes, labels):
        left.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1)
        for d in names:
            m = diagnostics[model][d]
            c = m["results"][kind]["calibration"]
            bins = [b for b in c["bins"] if b["count"] >= MIN_BIN_DETECTIONS]
            low, high = (m.get("intervals", {}).get(f"{kind}/ece") or [None, None])
            ece = "no detections" if c["ece"] is None else f"ECE {100 * c['ece']:.1f}" + (
                f" [{100 * low:.1f}, {100 * high:.1f}]" if low is not None else "")
            left.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o", markersize=3,
                      color=colors[d], label=f"{names[d]}: {ece}")
            for b in bins:  # how many detections each point stands on
                left.annotate(str(b["count"]), (b["confidence"], b["accuracy"]), xytext=(3, -8),
                              textcoords="offset points", fontsize=6, color=colors[d])
            s = m["results"][kind]["scores"]
            for key, style in (("true_positives", "-"), ("false_positives", "--")):
                counts = np.asarray(s[key], dtype=float)
                if counts.sum():
                    kept = np.append(counts[::-1].cumsum()[::-1], 0) / counts.sum()  # share scoring >= each edge
                    right.step(s["edges"], kept, where="post", linestyle=style, color=colors[d],
                               label=f"{names[d]}, {'true' if key == 'true_positives' else 'false'} positives "
                                     f"({int(counts.sum())})")
        left.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean score in bin (numbers: detections in the bin)",
                 ylabel="share right (IoU ≥ 0.5)",
                 title=f"{labels[model]}: reliability (bins of ≥ {MIN_BIN_DETECTIONS} detections)")
        left.legend(frameon=False, fontsize=7, loc="lower right")
        right.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="score threshold", ylabel="share of detections kept",
                  title=f"{labels[model]}: true and false positives above a threshold")
        right.grid(alpha=0.3)
        if right.get_legend_handles_labels()[0]:
            right.legend(frameon=False, fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def confusion(labels: dict[str, str], files: dict[str, dict], domain: str) -> plt.Figure:
    """Row-normalised confusion heat maps, one panel per model and rider policy."""
    columns = max(len(files[model]["results"]) for model in labels)
    size = len(files[next(iter(labels))]["results"][0]["classes"]) + 1
    side = 0.42 * size + 1.2
    fig, axes = plt.subplots(len(labels), columns, figsize=(side * columns + 0.5, side * len(labels) + 0.8), squeeze=False)
    for row, model in zip(axes, labels):
        for ax in row[len(files[model]["results"]):]:
            ax.set_visible(False)
    panels = [(ax, model, entry) for row, model in zip(axes, labels) for ax, entry in zip(row, files[model]["results"])]
    for ax, model, entry in panels:
        rows, columns = entry["classes"] + ["(nothing)"], entry["classes"] + ["(missed)"]
        matrix = np.asarray(entry["matrix"], dtype=float)
        totals = matrix.sum(1, keepdims=True)
        shares = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
        shares[-1] = 0  # detections on nothing: counts only
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for i in range(size):
            for j in range(size):
                if matrix[i, j]:
                    text = f"{int(matrix[i, j])}" if i == size - 1 else f"{100 * shares[i, j]:.0f}"
                    ax.text(j, i, text, ha="center", va="center", fontsize=7,
                            color="white" if shares[i, j] > 0.6 else "black")
        ax.set_xticks(range(size), columns, rotation=90, fontsize=7)
        ax.set_yticks(range(size), rows, fontsize=7)
        ax.set_xlabel("detected as")
        ax.set_ylabel("ground truth")
        ax.spines[:].set_visible(True)
        policy = entry["rider_policy"]
        ax.set_title(labels[model] + (f"\n{POLICY_NAMES[policy]}" if policy else ""), fontsize=9)
    fig.suptitle(f"Confusions at mask IoU 0.5, {domain} (row shares in %; last row: counts)")
    fig.tight_layout(rect=(0, 0, 1, 0.97), h_pad=2)
    return fig
