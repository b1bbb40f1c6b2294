"""Across models: source AP against target AP on logit axes (effective robustness), and how well each
corruption ranks the models as each real target does (a heatmap)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402
from scipy.special import expit  # noqa: E402

from segshift import across_models  # noqa: E402
from segshift.figures.style import OKABE_ITO, model_colors  # noqa: E402

NO_FAMILY = "#7F7F7F"
PAIR_COLOR = "#009E73"  # Okabe-Ito green: not in the heatmap's purple-orange scale
MARKERS = "osD^vP<>Xp"
TICKS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55,
         0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999]


def family_colors(labels: dict[str, str], families: dict[str, dict]) -> tuple[dict[str, str], dict[str, str]]:
    """(colour of each model, colour of each legend entry): by family where any model has one (in the
    order families first appear among the models), else by model."""
    named = [((families.get(m) or {}).get("family")) for m in labels]
    if not any(named):
        colors = model_colors(list(labels))
        return colors, {labels[m]: c for m, c in colors.items()}
    order = list(dict.fromkeys(f for f in named if f))
    palette = {f: OKABE_ITO[i % len(OKABE_ITO)] for i, f in enumerate(order)}
    colors = {m: palette.get(f, NO_FAMILY) for m, f in zip(labels, named)}
    legend = dict(palette)
    if not all(named):
        legend["no family"] = NO_FAMILY
    return colors, legend


def effective_robustness(labels: dict[str, str], families: dict[str, dict], title: str, result: across_models.Population,
                         target_metric: str = "AP") -> plt.Figure:
    """Each model's source AP (on the classes the target shares) against its target AP, both on logit axes,
    with both intervals; the line of logit(target) on logit(source) through every model with the band of
    the lines refitted on the resamples; y = x for reference. Points are numbered; the key gives each model's
    effective robustness (leave-one-out) with its interval."""
    colors, legend = family_colors(labels, families)
    fig, ax = plt.subplots(figsize=(10, 6.4), layout="constrained")
    spans = [v for m in result.models for what in ("source", "target") for v in result.span(what, m) if v is not None]
    values = np.r_[result.source, result.target, spans]
    values = values[np.isfinite(values)]
    z = across_models.logit(values) if values.size else np.array([-1.0, 1.0])
    pad = max(0.3, 0.12 * (z.max() - z.min()))
    lim = (float(expit(z.min() - pad)), float(expit(z.max() + pad)))
    grid = expit(np.linspace(across_models.logit(lim[0]), across_models.logit(lim[1]), 120))
    ax.plot(lim, lim, ":", color="0.55", linewidth=1, zorder=1)
    handles = [Line2D([], [], linestyle=":", color="0.55", label="y = x (no loss)")]
    if result.fitted:
        if result.source_draws is not None and result.target_draws is not None:
            low, high = across_models.line_band(result.source_draws, result.target_draws, grid, result.confidence)
            ax.fill_between(grid, low, high, color="0.2", alpha=0.13, linewidth=0, zorder=1)
            handles.append(Patch(color="0.2", alpha=0.13, label=f"{100 * result.confidence:g}% band of the line "
                                                                "(refitted per resample)"))
        ax.plot(grid, expit(result.intercept + result.slope * across_models.logit(grid)), color="0.2", linewidth=1.4,
                zorder=2)
        handles.append(Line2D([], [], color="0.2", label=f"fit: logit(y) = {result.slope:.2f} logit(x) "
                                                           f"{result.intercept:+.2f}"))
    else:
        ax.text(0.5, 0.97, f"fewer than {across_models.MIN_MODELS} models: no line is fitted", transform=ax.transAxes,
                ha="center", va="top", fontsize=9, color="0.3")
    keys = []
    for k, model in enumerate(result.models):
        x, y = result.source[k], result.target[k]
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        xerr = _whisker(x, result.span("source", model))
        yerr = _whisker(y, result.span("target", model))
        ax.errorbar([x], [y], xerr=xerr, yerr=yerr, fmt=MARKERS[k % len(MARKERS)], color=colors[model], markersize=7,
                    markeredgecolor="white", markeredgewidth=0.6, ecolor=colors[model], elinewidth=1, capsize=2,
                    zorder=3)
        # A number beside the point, the model and its effective robustness in the key: labels never cover points.
        ax.annotate(str(k + 1), (x, y), xytext=(5, 4), textcoords="offset points", fontsize=8, fontweight="bold",
                    color="0.1", zorder=4)
        text = f"{k + 1}  {labels[model]}"
        if result.fitted:
            low, high = result.span("effective", model)
            text += f"\n     ER {100 * result.effective[k]:+.1f}" + (
                f" [{100 * low:+.1f}, {100 * high:+.1f}]" if low is not None else "")
        keys.append(Line2D([], [], marker=MARKERS[k % len(MARKERS)], linestyle="", color=colors[model],
                           markeredgecolor="white", markersize=7, label=text))
    ticks = _ticks(lim)
    for axis, scale in ((ax.xaxis, ax.set_xscale), (ax.yaxis, ax.set_yscale)):
        scale("logit")
        axis.set_ticks(ticks, [f"{100 * t:g}" for t in ticks])
        axis.set_minor_formatter(NullFormatter())
    ax.minorticks_off()
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.set_xlabel("source AP on the shared classes (points, logit axis)")
    ax.set_ylabel(f"target {target_metric} (points, logit axis)")
    handles += keys
    if any((families.get(m) or {}).get("family") for m in labels):
        handles += [Patch(color=c, label=f"family: {name}") for name, c in legend.items()]
    ax.legend(handles=handles, frameon=False, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ax.text(1.03, 0.0, "ER: the model's target AP minus the line\nfitted without it (leave-one-out), AP points.\n"
            "Whiskers: bootstrap intervals over images\n(none where a domain has too few images).\n"
            "The line describes these models only.", transform=ax.transAxes, fontsize=7.5, color="0.3", va="bottom")
    ax.set_title(f"{title}: effective robustness across models", fontweight="bold")
    return fig


def _ticks(lim: tuple[float, float], count: int = 9) -> list[float]:
    """Round APs inside the limits, about evenly spaced on the logit axis."""
    inside = [t for t in TICKS if lim[0] <= t <= lim[1]]
    step = (across_models.logit(lim[1]) - across_models.logit(lim[0])) / count
    kept = []
    for t in inside:
        if not kept or across_models.logit(t) - across_models.logit(kept[-1]) >= step:
            kept.append(t)
    return kept


def _whisker(value: float, span: tuple) -> np.ndarray | None:
    low, high = span
    if low is None or high is None:
        return None
    return np.array([[max(value - low, 0.0)], [max(high - value, 0.0)]])


def synthetic_vs_real(tidy: pd.DataFrame, names: dict[str, str], iou_type: str = "segm") -> plt.Figure:
    """One panel per (suite, real target): corruptions (and their mean) as rows, severities (and their mean)
    as columns, coloured by Spearman's rho between the models' AP under the corruption and on the target;
    each cell also gives the MAE of the drop's prediction of the target AP (points). A declared pair's row
    is framed in green; the target's lowest MAE is a dashed cell."""
    tidy = tidy[tidy.iou_type == iou_type]
    targets = [t for t in names if t in set(tidy.target)]
    suites = list(dict.fromkeys(tidy.suite))
    panels = [(s, t) for s in suites for t in targets]
    shape = {s: _grid(tidy[tidy.suite == s]) for s in suites}
    rows = max((len(r) for r, _ in shape.values()), default=1)
    cols = max((len(c) for _, c in shape.values()), default=1)
    across = min(len(targets), 3) or 1
    down = max(1, -(-len(panels) // across))
    fig, axes = plt.subplots(down, across, figsize=(across * (0.62 * cols + 2.2) + 1.2, down * (0.42 * rows + 1.5) + 0.8),
                             squeeze=False, layout="constrained")
    cmap = plt.get_cmap("PuOr").with_extremes(bad="0.9")
    image = None
    for ax, (suite, target) in zip(axes.flat, panels):
        corruptions, severities = shape[suite]
        here = tidy[(tidy.suite == suite) & (tidy.target == target)]
        rho = np.full((len(corruptions), len(severities)), np.nan)
        mae = np.full_like(rho, np.nan)
        pair, best = np.zeros(len(corruptions), dtype=bool), None
        for r in here.itertuples(index=False):
            i, j = corruptions.index(r.corruption), severities.index(str(r.severity))
            if r.metric == "spearman":
                rho[i, j] = r.value
            elif r.metric == "mae":
                mae[i, j] = r.value
            pair[i] |= bool(r.pair)
            if r.best:
                best = (i, j)
        image = ax.imshow(np.ma.masked_invalid(rho), cmap=cmap, vmin=-1, vmax=1, aspect="auto")
        for i in range(len(corruptions)):
            for j in range(len(severities)):
                ink = "white" if abs(np.nan_to_num(rho[i, j])) > 0.6 else "0.1"
                top = "n/a" if np.isnan(rho[i, j]) else f"{rho[i, j]:+.2f}"
                ax.text(j, i - 0.13, top, ha="center", va="center", fontsize=7.5, color=ink)
                if np.isfinite(mae[i, j]):
                    ax.text(j, i + 0.22, f"MAE {100 * mae[i, j]:.1f}", ha="center", va="center", fontsize=6, color=ink)
            if pair[i]:
                ax.add_patch(Rectangle((-0.5, i - 0.5), len(severities), 1, fill=False, edgecolor=PAIR_COLOR,
                                       linewidth=3))
        if best is not None:  # white under black dashes: visible on every colour
            for color, style, width in (("white", "-", 3.2), ("black", "--", 1.6)):
                ax.add_patch(Rectangle((best[1] - 0.46, best[0] - 0.46), 0.92, 0.92, fill=False, edgecolor=color,
                                       linestyle=style, linewidth=width))
        ax.set_xticks(range(len(severities)), [s if s != "all" else "mean" for s in severities], fontsize=8)
        ax.set_yticks(range(len(corruptions)), [c.replace("_", " ") if c != "all" else "all (mean)" for c in corruptions],
                      fontsize=8)
        ax.set_xlabel("severity", fontsize=8)
        ax.set_title(f"{names[target]} vs {suite}", fontsize=9)
        for side in ("top", "right"):
            ax.spines[side].set_visible(True)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if image is not None:
        bar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, pad=0.02)
        bar.set_label("Spearman's rho across models")
    fig.suptitle(f"Synthetic vs real ({'mask' if iou_type == 'segm' else 'box'} AP): rank agreement across models",
                 fontweight="bold")
    fig.supxlabel("Cell: Spearman's rho (top) and the MAE of source AP - drop as the target AP, points (below). Green "
                  "frame: a pair of report.shift_pairs; dashed cell: the target's lowest MAE; n/a: fewer than 3 models or "
                  "a constant AP.",
                  fontsize=7, color="0.3")
    return fig


def _grid(rows: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The corruptions (their mean last) and severities (as text; their mean last) of one suite's rows."""
    corruptions = [c for c in dict.fromkeys(rows.corruption) if c != "all"] + ["all"]
    severities = sorted({str(s) for s in rows.severity if str(s) != "all"}, key=int) + ["all"]
    return corruptions, severities
