"""Slices of one domain: same-ruler mask AP per slice and model, with intervals."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from segshift.figures.style import _error_bars, _points, model_colors


def slices(table: pd.DataFrame, labels: dict[str, str], title: str, metric: str = "AP") -> plt.Figure:
    """One panel per field: a bar per (slice, model) of `table` (slices.COLUMNS), whiskers its interval."""
    table = table[table["metric"] == metric]
    fields = list(dict.fromkeys(table["field"]))
    models = [m for m in labels if m in set(table["model"])]
    colors = model_colors(list(labels))
    widths = [max(2, table.loc[table.field == f, "slice"].nunique()) for f in fields] or [2]
    fig, axes = plt.subplots(1, max(1, len(fields)), figsize=(min(16, 2.0 + 0.5 * len(models) * sum(widths)), 3.4),
                             squeeze=False, gridspec_kw={"width_ratios": widths})
    step = 0.8 / max(1, len(models))
    for ax, field in zip(axes.flat, fields):
        rows = table[table.field == field]
        names = sorted(rows["slice"].unique(), key=str)
        x = np.arange(len(names))
        for i, m in enumerate(models):
            here = rows[rows.model == m].set_index("slice").reindex(names)
            values = np.array([_points(v) for v in here["value"]], dtype=float)
            spans = [(_points(lo), _points(hi)) if pd.notna(lo) and pd.notna(hi) else None
                     for lo, hi in zip(here["ci_low"], here["ci_high"])]
            position = x + (i - (len(models) - 1) / 2) * step
            ax.bar(position, np.nan_to_num(values), step, color=colors[m], label=labels[m])
            _error_bars(ax, position, values, spans)
        counts = rows.drop_duplicates("slice").set_index("slice")["images"].reindex(names)
        ax.set_xticks(x, [f"{n}\n({c} img)" for n, c in zip(names, counts)], fontsize=7,
                      rotation=30 if len(names) > 4 else 0)
        ax.set_title(field, fontsize=9)
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    axes.flat[0].set_ylabel(f"mask {metric}, same ruler (points)")
    handles, names = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, names, loc="upper right", fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.88, 0.95))
    return fig
