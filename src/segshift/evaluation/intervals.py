"""Intervals, p-values and multiple-testing adjustment from a number's resampled rows.

A number's rows are those of resampling.Plan: B resamples, the estimate, then jackknife values.
Three interval methods (evaluation.bootstrap.method):

- bca (the default): bias-corrected and accelerated (Efron 1987; Efron and Tibshirani 1993, 14.3),
  as scipy.stats.bootstrap computes it: the bias correction z0 from the share of resamples below the
  estimate (ties count half), the acceleration from the jackknife values (summed over independent
  samples, scipy's multi-sample formula). AP's resamples sit above the estimate (the interpolated
  precision is a running maximum): the percentile interval inherits that bias, BCa corrects it.
- percentile: the resamples' quantiles.
- basic: the percentile interval reflected about the estimate.

Every interval here is conditional on the models, their weights and the annotations: it resamples
images (or clusters of images) and nothing else.

The p-value of a difference is the interval inverted: the smallest 1 - confidence at which the
method's interval excludes 0, so p < 1 - confidence exactly where the interval excludes 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

METHODS = ("bca", "percentile", "basic")
CORRECTIONS = ("holm", "bh", "none")
CORRECTION_NAMES = {"holm": "Holm (family-wise error)", "bh": "Benjamini-Hochberg (false discovery rate)",
                    "none": "no adjustment"}


@dataclass(frozen=True)
class Setting:
    """How intervals are built: method, coverage, and B (the rows before the estimate; None: every row
    is a resample, and only the percentile interval can be built)."""

    method: str = "bca"
    confidence: float = 0.95
    resamples: int | None = None

    @classmethod
    def of(cls, bootstrap: dict | None) -> "Setting":
        """From a metric file's evaluation.bootstrap settings."""
        b = bootstrap or {}
        return cls(b.get("method", "bca"), b.get("confidence", 0.95), b.get("resamples"))


def split(values, resamples: int | None) -> tuple[np.ndarray, float, np.ndarray]:
    """(resamples, estimate, jackknife values) of a number's rows."""
    v = np.asarray(values, dtype=np.float64)
    if resamples is None or len(v) <= resamples:
        return v, float("nan"), v[:0]
    return v[:resamples], float(v[resamples]), v[resamples + 1:]


def _finite(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v[~np.isnan(v)]


def acceleration(jackknives: list[np.ndarray]) -> float:
    """a-hat from the jackknife values of each independent sample (scipy's formula); 0 where they do not vary."""
    num = den = 0.0
    for values in jackknives:
        v = _finite(values)
        n = len(v)
        if n < 2:
            continue
        u = (n - 1) * (v.mean() - v)
        num += np.sum(u**3) / n**3
        den += np.sum(u**2) / n**2
    return float(num / 6 / den**1.5) if den > 0 else 0.0


def bias_correction(boot: np.ndarray, estimate: float) -> float:
    """z0-hat: the normal quantile of the share of resamples below the estimate (ties half), kept within
    half a resample of 0 and 1 so an estimate outside every resample gives an end of the range, not NaN."""
    b = len(boot)
    share = (np.count_nonzero(boot < estimate) + np.count_nonzero(boot <= estimate)) / (2 * b)
    return float(ndtri(min(max(share, 0.5 / b), 1 - 0.5 / b)))


def bounds(boot, estimate: float, jackknives: list[np.ndarray], confidence: float, method: str
           ) -> tuple[float, float]:
    """The interval of one number; NaN resamples (a class absent from the draw) left out."""
    boot = _finite(boot)
    if boot.size == 0 or (method != "percentile" and not math.isfinite(estimate)):
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    if method == "percentile":
        low, high = np.percentile(boot, [100 * alpha, 100 * (1 - alpha)])
    elif method == "basic":
        q_low, q_high = np.percentile(boot, [100 * alpha, 100 * (1 - alpha)])
        low, high = 2 * estimate - q_high, 2 * estimate - q_low
    elif method == "bca":
        z0, a = bias_correction(boot, estimate), acceleration(jackknives)
        levels = []
        for z in (ndtri(alpha), -ndtri(alpha)):
            levels.append(float(ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))))
        low, high = np.percentile(boot, [100 * levels[0], 100 * levels[1]])
    else:
        raise ValueError(f"unknown interval method {method!r}; use one of {', '.join(METHODS)}")
    return float(low), float(high)


def p_value(boot, estimate: float, jackknives: list[np.ndarray], method: str, null: float = 0.0) -> float:
    """Two-sided: the method's interval inverted at `null`."""
    boot = _finite(boot)
    if boot.size == 0 or not math.isfinite(estimate):
        return float("nan")
    b = len(boot)
    point = 2 * estimate - null if method == "basic" else null
    share = (np.count_nonzero(boot < point) + np.count_nonzero(boot <= point)) / (2 * b)
    share = min(max(share, 0.5 / b), 1 - 0.5 / b)
    if method == "bca":
        z0, a = bias_correction(boot, estimate), acceleration(jackknives)
        w = float(ndtri(share)) - z0
        z = w / (1 + a * w) - z0
        share = float(ndtr(z))
    return float(min(1.0, 2 * min(share, 1 - share)))


def interval(values, setting: Setting) -> tuple[float, float]:
    """The interval of one number from its rows."""
    boot, estimate, jack = split(values, setting.resamples)
    method = setting.method if setting.resamples is not None else "percentile"
    return bounds(boot, estimate, [jack], setting.confidence, method)


def intervals(values: dict[str, np.ndarray], setting: Setting) -> dict[str, list[float | None]]:
    """{key: [low, high]} for every resampled number."""
    out = {}
    for key, v in values.items():
        low, high = interval(v, setting)
        out[key] = [None if math.isnan(low) else low, None if math.isnan(high) else high]
    return out


def difference(a, b, setting: Setting, paired: bool = True) -> dict[str, Any]:
    """The difference a - b with its interval and two-sided p-value. paired: rows drawn from the same
    images (the same clusters left out); else independent samples (two domains), whose jackknives
    enter the acceleration separately. sign_flips: the share of resamples with the other sign than
    the estimate (or zero)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    B = setting.resamples
    if paired or B is None:
        boot, estimate, jack = split(a - b, B)
        jackknives = [jack]
    else:
        (ba, ea, ja), (bb, eb, jb) = split(a, B), split(b, B)
        boot, estimate, jackknives = ba - bb, ea - eb, [ja - eb, ea - jb]
    method = setting.method if B is not None else "percentile"
    low, high = bounds(boot, estimate, jackknives, setting.confidence, method)
    d = _finite(boot)
    flips = float("nan")
    if d.size and math.isfinite(estimate):
        flips = float(np.mean(np.sign(d) != np.sign(estimate))) if estimate != 0 else float(np.mean(d != 0))
    return {"ci_low": low, "ci_high": high, "sign_flips": flips,
            "excludes_zero": bool(low > 0 or high < 0) if not math.isnan(low) else False,
            "p_value": p_value(boot, estimate, jackknives, method)}


def adjust(p_values, correction: str) -> np.ndarray:
    """Adjusted p-values within one family (NaN entries are no test and stay NaN): Holm's step-down
    (family-wise error) or Benjamini-Hochberg's step-up (false discovery rate)."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    m = len(tested)
    if m == 0 or correction == "none":
        return p.copy()
    order = tested[np.argsort(p[tested], kind="stable")]
    ranked = p[order]
    if correction == "holm":
        adjusted = np.maximum.accumulate(ranked * (m - np.arange(m)))
    elif correction == "bh":
        adjusted = np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1]
    else:
        raise ValueError(f"unknown correction {correction!r}; use one of {', '.join(CORRECTIONS)}")
    out[order] = np.minimum(adjusted, 1.0)
    return out
