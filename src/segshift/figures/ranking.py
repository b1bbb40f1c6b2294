"""The critical-difference diagram (Demsar 2006): models on an axis of mean rank over a set of domains,
the Nemenyi critical difference as a bar, and a line joining models whose ranks do not differ."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from segshift.figures.style import model_colors  # noqa: E402
from segshift.tables.ranking import MEASURES  # noqa: E402


def cliques(ranks: np.ndarray, cd: float) -> list[tuple[int, int]]:
    """Runs (first, last) of the sorted ranks whose spread is within the CD, none inside another: the
    groups a CD diagram joins."""
    r = np.sort(np.asarray(ranks, dtype=np.float64))
    runs = []
    for i in range(len(r)):
        j = int(np.searchsorted(r, r[i] + cd, side="right")) - 1
        if j > i and not any(a <= i and j <= b for a, b in runs):
            runs.append((i, j))
    return runs


def critical_difference(table: pd.DataFrame, title: str, iou_type: str = "segm") -> plt.Figure:
    """One panel per measure of a set of domains' Friedman rows of the ranking table."""
    rows = table[(table["iou_type"] == iou_type) & (table["test"] == "friedman")]
    measures = [m for m in MEASURES if m in set(rows["measure"])]
    models = list(dict.fromkeys(rows["model"]))
    colors = model_colors(models)
    fig, axes = plt.subplots(len(measures), 1, figsize=(9, len(measures) * (1.6 + 0.3 * len(models))),
                             layout="constrained", squeeze=False)
    for ax, measure in zip(axes[:, 0], measures):
        part = rows[rows["measure"] == measure].sort_values("mean_rank")
        k, cd = len(part), float(part["critical_difference"].iloc[0])
        ranks = part["mean_rank"].to_numpy()
        groups = cliques(ranks, cd)
        below = 0.2 + 0.15 * len(groups)  # the labels start under the clique lines
        ax.set_xlim(k + 0.1, 0.9)  # best (rank 1) on the right, as Demsar draws it
        ax.set_ylim(-below - k * 0.3, 1.2)
        ax.axhline(0, color="0.3", linewidth=1)
        ax.set_xticks(range(1, k + 1))
        ax.xaxis.set_ticks_position("top")
        for side in ("left", "right", "bottom"):
            ax.spines[side].set_visible(False)
        ax.spines["top"].set_position(("data", 0))
        ax.set_yticks([])
        ax.plot([1, 1 + cd], [0.8, 0.8], color="black", linewidth=2)
        ax.text(1 + cd / 2, 0.95, f"CD = {cd:.2f}", ha="center", va="bottom")
        for i, (_, row) in enumerate(part.iterrows()):
            y = -below - i * 0.3
            ax.plot([row["mean_rank"]] * 2, [0, y], color=colors[row["model"]], linewidth=1)
            ax.plot(row["mean_rank"], 0, "o", color=colors[row["model"]], markersize=5)
            ax.text(row["mean_rank"] + (0.08 if row["mean_rank"] > (k + 1) / 2 else -0.08), y,
                    f"{row['label']} ({row['mean_rank']:.2f})", va="center",
                    ha="right" if row["mean_rank"] > (k + 1) / 2 else "left")
        for n, (a, b) in enumerate(groups):
            y = -0.15 - 0.15 * n
            ax.plot([ranks[a] - 0.03, ranks[b] + 0.03], [y, y], color="black", linewidth=3, solid_capstyle="round")
        first = part.iloc[0]
        ax.set_title(f"{MEASURES[measure]}: Friedman over {int(first['n_domains'])} domains, "
                     f"p = {first['p_value']:.3g} (adjusted {first['p_adjusted']:.3g})", fontsize=10, pad=22)
    fig.suptitle(f"Mean rank across domains, {title} ({iou_type}; 1 = best; joined: within the critical difference)")
    return fig
