"""Corruption suites: AP against severity per corruption, with intervals."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from segshift.figures.style import IOU_TYPE, _error_bars, _points, model_colors


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
