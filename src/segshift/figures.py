"""Figures of the metric files: PNG for the report, PDF for papers.

One palette everywhere, colour-blind safe (Okabe & Ito): domains keep their colours in
every figure, models theirs. Values are AP points (x100), as in the tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from segshift.categories import SHARED_CLASSES  # noqa: E402
from segshift.evaluation.cityscapes import CLASS_NAMES  # noqa: E402
from segshift.evaluation.coco import shared_class_ground_truth  # noqa: E402
from segshift.io import atomic_path  # noqa: E402

OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442", "#000000"]
DOMAIN_COLORS = {"coco_val2017": "#0072B2", "cityscapes_val": "#D55E00"}
DOMAIN_NAMES = {"coco_val2017": "COCO val2017", "cityscapes_val": "Cityscapes val"}
DOMAINS = list(DOMAIN_NAMES)
POLICY_NAMES = {"none": "rider: none", "two_wheeler": "rider: two-wheeler rule"}
SIZES = {"small": (0, 32**2), "medium": (32**2, 96**2), "large": (96**2, float("inf"))}
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


def _bar_labels(ax, bars, values, fmt="{:.1f}"):
    for bar, v in zip(bars, values):
        if np.isnan(v):
            ax.annotate("n/a", (bar.get_x() + bar.get_width() / 2, 0), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7, color="0.4", rotation=90)
        else:
            ax.annotate(fmt.format(v), (bar.get_x() + bar.get_width() / 2, v), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", fontsize=7, rotation=90)


def _grouped_bars(ax, groups: list[str], series: dict[str, list[float]], colors: dict[str, str], *, labels=True):
    """Bars of several series side by side for each group; NaN bars are marked n/a."""
    n = len(series)
    width = 0.8 / max(n, 1)
    x = np.arange(len(groups))
    for i, (name, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=float)
        bars = ax.bar(x + (i - (n - 1) / 2) * width, np.nan_to_num(values), width, label=name, color=colors[name],
                      edgecolor="white", linewidth=0.5)
        if labels:
            _bar_labels(ax, bars, values)
    ax.set_xticks(x, groups, rotation=30, ha="right")
    # One fixed scale (0-100) in every panel and figure, with room for the value labels.
    ax.set_ylim(0, 115)
    ax.set_yticks(np.arange(0, 101, 20))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _legend_below(ax, ncol: int = 2, offset: float = -0.32) -> None:
    ax.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, offset), ncol=ncol)


def per_class_ap(label: str, same_ruler: dict[str, dict], cityscapes: dict[str, dict]) -> plt.Figure:
    """Same-ruler mask AP per shared class on both domains, and the official Cityscapes AP/AP50."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), gridspec_kw={"width_ratios": [7, 8, 8]})
    series = {
        DOMAIN_NAMES[d]: [_points(same_ruler[d]["results"][IOU_TYPE]["per_class"][c]["AP"]) for c in SHARED_CLASSES]
        for d in DOMAINS
    }
    _grouped_bars(axes[0], SHARED_CLASSES, series, {DOMAIN_NAMES[d]: DOMAIN_COLORS[d] for d in DOMAINS})
    axes[0].set_title("Same ruler: COCO-style mask AP@[.5:.95]")
    axes[0].set_ylabel("AP (points)")
    _legend_below(axes[0])
    policy_colors = {POLICY_NAMES.get(p, p): c for p, c in zip(cityscapes, ["#D55E00", "#CC79A7", "#F0E442"])}
    for ax, metric in zip(axes[1:], ["AP", "AP50"]):
        series = {
            POLICY_NAMES.get(p, p): [_points(m["results"]["per_class"][c][metric]) for c in CLASS_NAMES]
            for p, m in cityscapes.items()
        }
        _grouped_bars(ax, CLASS_NAMES, series, policy_colors)
        ax.set_title(f"Cityscapes official protocol: {metric}" + (" (IoU 0.5:0.95)" if metric == "AP" else " (IoU 0.5)"))
        _legend_below(ax)
    fig.suptitle(f"{label}: per-class mask AP, COCO val2017 vs Cityscapes val", fontweight="bold")
    fig.tight_layout()
    return fig


def transfer_gap(labels: dict[str, str], same_ruler: dict[str, dict[str, dict]]) -> plt.Figure:
    """The transfer gap (COCO minus Cityscapes same-ruler mask AP, as in the gap table) per class and model."""
    models = list(labels)
    colors = model_colors(models)
    groups = ["all classes"] + SHARED_CLASSES
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(groups) * max(1, len(models)) ** 0.5 + 1.6))
    height = 0.8 / len(models)
    y = np.arange(len(groups))
    lim = 5.0
    for i, model in enumerate(models):
        gaps = []
        for g in groups:
            ap = {}
            for d in DOMAINS:
                r = same_ruler[model][d]["results"][IOU_TYPE]
                ap[d] = _points(r["summary"]["AP"] if g == "all classes" else r["per_class"][g]["AP"])
            gaps.append(ap["coco_val2017"] - ap["cityscapes_val"])
        gaps = np.asarray(gaps)
        pos = y + (i - (len(models) - 1) / 2) * height
        ax.barh(pos, np.nan_to_num(gaps), height, color=colors[model], label=labels[model], edgecolor="white", linewidth=0.5)
        for p, g in zip(pos, gaps):
            text = "n/a" if np.isnan(g) else f"{g:+.1f}"
            ha = "left" if (np.isnan(g) or g >= 0) else "right"
            ax.annotate(text, (0 if np.isnan(g) else g, p), xytext=(3 if ha == "left" else -3, 0),
                        textcoords="offset points", ha=ha, va="center", fontsize=7)
        lim = max(lim, np.nanmax(np.abs(gaps)) if np.isfinite(gaps).any() else 0)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlim(-lim * 1.3, lim * 1.3)
    ax.set_yticks(y, groups)
    ax.invert_yaxis()
    ax.set_xlabel("gap = COCO − Cityscapes mask AP (points)\n← better on Cityscapes  |  worse on Cityscapes →")
    ax.set_title("Transfer gap per class (same ruler: COCO-style AP on the 7 shared classes)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def size_shares(ground_truth: dict, domain: str) -> dict[str, float]:
    """Fraction of the shared-class ground-truth instances (crowd excluded) in each COCO size bucket."""
    gt = shared_class_ground_truth(ground_truth, "coco" if domain == "coco_val2017" else "cityscapes")
    areas = np.array([a["area"] for a in gt["annotations"] if not a.get("iscrowd", 0)], dtype=float)
    if areas.size == 0:
        return {s: np.nan for s in SIZES}
    return {s: float(((areas >= lo) & (areas < hi)).mean()) for s, (lo, hi) in SIZES.items()}


def ap_by_size(label: str, same_ruler: dict[str, dict], shares: dict[str, dict[str, float]]) -> plt.Figure:
    """APs/APm/APl on both domains next to how the ground truth is spread over the sizes."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    colors = {DOMAIN_NAMES[d]: DOMAIN_COLORS[d] for d in DOMAINS}
    sizes = list(SIZES)
    series = {
        DOMAIN_NAMES[d]: [_points(same_ruler[d]["results"][IOU_TYPE]["summary"][f"AP{s[0]}"]) for s in sizes]
        for d in DOMAINS
    }
    _grouped_bars(axes[0], [f"{s}\n(area {_area_text(s)})" for s in sizes], series, colors)
    axes[0].set_xticklabels(axes[0].get_xticklabels(), rotation=0, ha="center")
    axes[0].set_ylabel("mask AP (points)")
    axes[0].set_title("Same-ruler mask AP by object size")
    _legend_below(axes[0], offset=-0.2)
    series = {DOMAIN_NAMES[d]: [100 * shares[d][s] for s in sizes] for d in DOMAINS}
    _grouped_bars(axes[1], sizes, series, colors)
    axes[1].set_xticklabels(sizes, rotation=0, ha="center")
    axes[1].set_ylabel("% of ground-truth instances")
    axes[1].set_title("Ground truth by size (7 shared classes)")
    fig.suptitle(f"{label}: does object size explain the drop?", fontweight="bold")
    fig.tight_layout()
    return fig


def _area_text(size: str) -> str:
    lo, hi = SIZES[size]
    if lo == 0:
        return "< 32²"
    if hi == float("inf"):
        return "≥ 96²"
    return "32²–96²"


def pr_curves(label: str, same_ruler: dict[str, dict]) -> plt.Figure:
    """Precision against recall per shared class on both domains (mask IoU 0.5, and averaged over 0.5:0.95)."""
    fig, axes = plt.subplots(2, 4, figsize=(14, 6.5), sharex=True, sharey=True)
    for ax, cls in zip(axes.flat, SHARED_CLASSES):
        for d in DOMAINS:
            curves = same_ruler[d]["results"][IOU_TYPE]["pr_curves"]
            recall = np.asarray(curves["recall"])
            for key, style in (("precision_iou50", "-"), ("precision_mean", ":")):
                precision = np.asarray(curves["classes"][cls][key], dtype=float)
                if (precision < 0).all():
                    continue
                ax.plot(recall, np.where(precision < 0, np.nan, precision), style, color=DOMAIN_COLORS[d], linewidth=1.5)
        if all((np.asarray(same_ruler[d]["results"][IOU_TYPE]["pr_curves"]["classes"][cls]["precision_iou50"]) < 0).all()
               for d in DOMAINS):
            ax.text(0.5, 0.5, "no ground truth", ha="center", va="center", transform=ax.transAxes, color="0.4")
        ax.set_title(cls)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    legend = axes.flat[-1]
    legend.axis("off")
    for d in DOMAINS:
        legend.plot([], [], "-", color=DOMAIN_COLORS[d], label=f"{DOMAIN_NAMES[d]}, IoU 0.5")
        legend.plot([], [], ":", color=DOMAIN_COLORS[d], label=f"{DOMAIN_NAMES[d]}, mean IoU 0.5:0.95")
    legend.legend(frameon=False, loc="center", fontsize=9)
    for ax in axes[1]:
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
) -> plt.Figure:
    """Two models class by class: a line joins their AP on each class, one panel per ruler."""
    a, b = labels
    colors = model_colors(models)
    panels = [
        ("COCO val2017, same ruler (mask AP)", SHARED_CLASSES,
         {m: [_points(same_ruler[m]["coco_val2017"]["results"][IOU_TYPE]["per_class"][c]["AP"]) for c in SHARED_CLASSES] for m in labels}),
        ("Cityscapes val, same ruler (mask AP)", SHARED_CLASSES,
         {m: [_points(same_ruler[m]["cityscapes_val"]["results"][IOU_TYPE]["per_class"][c]["AP"]) for c in SHARED_CLASSES] for m in labels}),
        ("Cityscapes val, official AP", CLASS_NAMES,
         {m: [_points(cityscapes[m]["results"]["per_class"][c]["AP"]) for c in CLASS_NAMES] for m in labels}),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), sharex=False)
    for ax, (title, classes, values) in zip(axes, panels):
        y = np.arange(len(classes))
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
        ax.set_yticks(y, classes)
        ax.invert_yaxis()
        ax.set_xlim(0, 108)
        ax.set_xticks(np.arange(0, 101, 20))
        ax.set_xlabel("AP (points)")
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
    _legend_below(axes[1], offset=-0.18)
    fig.suptitle(f"{labels[a]} vs {labels[b]} per class (numbers: second minus first)", fontweight="bold")
    fig.tight_layout()
    return fig


