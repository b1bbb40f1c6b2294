"""Why AP drops: TIDE errors, Boundary AP, reliability diagrams and confusion matrices."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from segshift.figures.style import IOU_TYPE, POLICY_NAMES, _error_bars, _grouped_bars, _interval_points, _points

MIN_BIN_DETECTIONS = 10  # a reliability bin of fewer detections is noise drawn as a point


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
