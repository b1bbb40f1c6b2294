"""Source-to-target figures of one model or a model pair: per-class AP, AP by size, PR curves, the gap."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from segshift.evaluation.cityscapes import CLASS_NAMES  # noqa: E402
from segshift.evaluation.coco import REFERENCE_AREA, mean_over, shared_class_ground_truth  # noqa: E402
from segshift.figures.style import (
    IOU_TYPE,
    POLICY_NAMES,
    _error_bars,
    _grouped_bars,
    _interval_points,
    _legend_below,
    _points,
    _with_ground_truth,
    model_colors,
    shared_classes,
)

SIZES = {"small": (0, 32**2), "medium": (32**2, 96**2), "large": (96**2, float("inf"))}


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
