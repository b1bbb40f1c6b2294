"""Across models: effective robustness (Taori et al. 2020; Miller et al. 2021, "Accuracy on the line")
and whether synthetic corruptions rank models as real shifts do, from APs segshift already computes.

Values are per model along the last axis: a vector (the estimate) or a (resamples, models) array,
one row per joint bootstrap resample (row b of the source's draws with row b of the target's), so
every statistic, the fitted line included, is recomputed on each resample. The intervals resample
the images of each domain; they condition on the models (a fixed set, not a sample of architectures)
and on their weights, and say nothing about models that were not run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit
from scipy.stats import rankdata

from segshift.evaluation import intervals

MIN_MODELS = 3  # a leave-one-out line needs two other models
AP_FLOOR = 1e-3  # logit(0) is infinite: APs are clipped to [0.001, 0.999] before the logit


def interval(values, confidence: float) -> tuple[float, float]:
    """Every interval of this module comes from here (the percentile bootstrap interval, NaN resamples
    left out), so that the method can change in one place."""
    return intervals.bounds(values, float("nan"), [], confidence, "percentile")


def spread(draws, confidence: float) -> tuple[float | None, float | None]:
    """The interval of per-resample values; (None, None) without resamples or where none is finite."""
    if draws is None:
        return None, None
    low, high = interval(draws, confidence)
    return (None, None) if np.isnan(low) else (low, high)


def logit(ap) -> np.ndarray:
    p = np.clip(np.asarray(ap, dtype=np.float64), AP_FLOOR, 1 - AP_FLOOR)
    return np.log(p) - np.log1p(-p)


# The line ------------------------------------------------------------------------------------------


def fit_line(x, y, use=None) -> tuple[np.ndarray, np.ndarray]:
    """(slope, intercept) of the least-squares line of y on x along the last axis. use: a boolean mask
    of the models fitted (all by default); a NaN point is left out of its row. A row with fewer than
    two points at distinct x gets NaN."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    w = np.isfinite(x) & np.isfinite(y)
    if use is not None:
        w = w & np.asarray(use, dtype=bool)
    x, y = np.where(w, x, 0.0), np.where(w, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = w.sum(axis=-1)
        mx, my = x.sum(axis=-1) / n, y.sum(axis=-1) / n
        dx = np.where(w, x - mx[..., None], 0.0)
        sxx = (dx * dx).sum(axis=-1)
        slope = (dx * (y - my[..., None])).sum(axis=-1) / sxx
        slope = np.where((n >= 2) & (sxx > 1e-12), slope, np.nan)
        return slope, my - slope * mx


def effective_robustness(source, target, leave_one_out: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(predicted target AP, effective robustness) of each model: the line of logit(target AP) on
    logit(source AP) evaluated at the model's source AP, and the model's target AP minus it (AP, as a
    fraction). leave_one_out: each model is predicted by the line fitted without it, so one model
    cannot pull the line to itself."""
    source, target = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    x, y = logit(source), logit(target)
    n = x.shape[-1]
    predicted = np.full(np.broadcast_shapes(x.shape, y.shape), np.nan)
    everyone = np.ones(n, dtype=bool)
    if not leave_one_out:
        slope, intercept = fit_line(x, y)
    for m in range(n):
        if leave_one_out:
            use = everyone.copy()
            use[m] = False
            slope, intercept = fit_line(x, y, use)
        predicted[..., m] = expit(intercept + slope * x[..., m])
    return predicted, target - predicted


def line_band(source_draws, target_draws, grid, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """At each source AP of `grid`: the interval of the line's prediction over the resamples (every model
    fitted, the line refitted on each resample's APs)."""
    slope, intercept = fit_line(logit(source_draws), logit(target_draws))
    at = expit(intercept[:, None] + slope[:, None] * logit(grid)[None, :])
    spans = [interval(at[:, k], confidence) for k in range(at.shape[1])]
    return np.array([s[0] for s in spans]), np.array([s[1] for s in spans])


@dataclass
class Population:
    """Effective robustness of a set of models on one target, with intervals ((low, high), None
    where the domains were not resampled)."""

    models: list[str]
    source: np.ndarray  # (models,) source AP on the classes the target shares
    target: np.ndarray  # (models,) target AP (or mPC)
    source_draws: np.ndarray | None  # (resamples, models)
    target_draws: np.ndarray | None
    confidence: float
    fitted: bool = False  # at least MIN_MODELS models
    predicted: np.ndarray | None = None  # leave-one-out
    effective: np.ndarray | None = None
    effective_draws: np.ndarray | None = None
    slope: float = float("nan")  # the line through every model, on the logit scale
    intercept: float = float("nan")
    spans: dict = field(default_factory=dict)  # (name, model or None) -> (low, high)

    def span(self, name: str, model: str | None = None) -> tuple:
        return self.spans.get((name, model), (None, None))


def population(models: list[str], source, target, source_draws=None, target_draws=None,
               confidence: float = 0.95) -> Population:
    """Effective robustness of each model (leave-one-out) and the line through all of them, each with
    its interval from the joint resamples; with fewer than MIN_MODELS models, only the APs."""
    source, target = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    out = Population(list(models), source, target, source_draws, target_draws, confidence)
    for k, m in enumerate(models):
        out.spans[("source", m)] = spread(None if source_draws is None else source_draws[:, k], confidence)
        out.spans[("target", m)] = spread(None if target_draws is None else target_draws[:, k], confidence)
    usable = np.isfinite(source) & np.isfinite(target)
    out.fitted = int(usable.sum()) >= MIN_MODELS
    if not out.fitted:
        return out
    out.predicted, out.effective = effective_robustness(source, target)
    slope, intercept = fit_line(logit(source), logit(target))
    out.slope, out.intercept = float(slope), float(intercept)
    if source_draws is not None and target_draws is not None:
        predicted, out.effective_draws = effective_robustness(source_draws, target_draws)
        slope, intercept = fit_line(logit(source_draws), logit(target_draws))
        out.spans[("slope", None)] = spread(slope, confidence)
        out.spans[("intercept", None)] = spread(intercept, confidence)
        for k, m in enumerate(models):
            out.spans[("predicted", m)] = spread(predicted[:, k], confidence)
            out.spans[("effective", m)] = spread(out.effective_draws[:, k], confidence)
    return out


def group_mean(result: Population, members: list[str]) -> tuple[float, tuple]:
    """The mean effective robustness of some models (a family), with its interval."""
    pick = [result.models.index(m) for m in members]
    if not result.fitted:
        return float("nan"), (None, None)
    value = float(np.mean(result.effective[pick]))
    draws = None if result.effective_draws is None else result.effective_draws[:, pick].mean(axis=1)
    return value, spread(draws, result.confidence)


# Rank agreement ----------------------------------------------------------------------------------


def spearman(a, b) -> np.ndarray:
    """Spearman's rho along the last axis (scipy.stats.spearmanr's: Pearson's r of the average ranks).
    NaN where a value is missing or one side is constant."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    missing = np.isnan(a).any(axis=-1) | np.isnan(b).any(axis=-1)
    ra, rb = rankdata(np.nan_to_num(a), axis=-1), rankdata(np.nan_to_num(b), axis=-1)
    ra, rb = ra - ra.mean(axis=-1, keepdims=True), rb - rb.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ra * rb).sum(axis=-1) / np.sqrt((ra * ra).sum(axis=-1) * (rb * rb).sum(axis=-1))
    return np.where(missing, np.nan, rho)


def kendall(a, b) -> np.ndarray:
    """Kendall's tau-b along the last axis (scipy.stats.kendalltau's default): concordant minus
    discordant pairs over the root of the untied pairs on each side."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    missing = np.isnan(a).any(axis=-1) | np.isnan(b).any(axis=-1)
    i, j = np.triu_indices(a.shape[-1], k=1)
    sa, sb = np.sign(a[..., i] - a[..., j]), np.sign(b[..., i] - b[..., j])
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = (sa * sb).sum(axis=-1) / np.sqrt(np.abs(sa).sum(axis=-1) * np.abs(sb).sum(axis=-1))
    return np.where(missing, np.nan, tau)


def drop_error(source, target, clean, corrupted) -> np.ndarray:
    """How well a corruption's drop predicts a real one: the mean over models of |predicted - real
    target AP|, the prediction being the model's source AP minus its drop under the corruption
    (clean AP - corrupted AP). NaN where a model's value is missing."""
    predicted = np.asarray(source, dtype=np.float64) - (np.asarray(clean, dtype=np.float64)
                                                        - np.asarray(corrupted, dtype=np.float64))
    return np.abs(predicted - np.asarray(target, dtype=np.float64)).mean(axis=-1)


def best_share(errors: np.ndarray) -> np.ndarray:
    """(candidates, resamples) errors -> the share of resamples in which each candidate has the lowest
    error (resamples where every candidate is NaN left out)."""
    errors = np.asarray(errors, dtype=np.float64)
    seen = ~np.isnan(errors).all(axis=0)
    if not seen.any():
        return np.full(len(errors), np.nan)
    best = np.nanargmin(np.where(np.isnan(errors), np.inf, errors)[:, seen], axis=0)
    return np.bincount(best, minlength=len(errors)) / seen.sum()
