"""Is one model more robust than another across shifts? Tests over domains (Demsar 2006).

Per-domain intervals answer "on this domain"; these answer "across these domains": the domains
(a suite's cells, or every target) are the sample, the models the treatments. They condition on
the domains chosen: other shifts may rank the models otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass
class Friedman:
    statistic: float  # chi-square, ties averaged and corrected as scipy.stats.friedmanchisquare
    p_value: float
    mean_ranks: np.ndarray  # per model, 1 = best (highest AP)
    critical_difference: float  # Nemenyi: mean ranks further apart than this differ
    domains: int


def friedman(values, alpha: float = 0.05) -> Friedman:
    """values: (domains, models), higher is better; domains with a missing value are left out."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v).any(axis=1)]
    n, k = v.shape
    if k < 3 or n < 2:
        raise ValueError(f"the Friedman test needs 3 or more models and 2 or more domains, not {k} and {n}")
    ranks = np.apply_along_axis(stats.rankdata, 1, -v)  # 1 = best
    mean = ranks.mean(axis=0)
    ties = sum(((np.unique(row, return_counts=True)[1] ** 3) - np.unique(row, return_counts=True)[1]).sum() for row in v)
    chi2 = 12 * n / (k * (k + 1)) * np.sum((mean - (k + 1) / 2) ** 2) / (1 - ties / (n * k * (k * k - 1)))
    p = float(stats.chi2.sf(chi2, k - 1))
    return Friedman(float(chi2), p, mean, nemenyi_cd(k, n, alpha), n)


def nemenyi_cd(models: int, domains: int, alpha: float = 0.05) -> float:
    """Demsar (2006), eq. 5: q_alpha sqrt(k (k + 1) / (6 N)), q_alpha the studentized range at infinite
    degrees of freedom over sqrt(2)."""
    q = stats.studentized_range.ppf(1 - alpha, models, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(models * (models + 1) / (6 * domains)))


def wilcoxon(a, b) -> tuple[float, float]:
    """Two models over domains: scipy's signed-rank test of a - b (statistic, two-sided p-value)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    keep = ~(np.isnan(a) | np.isnan(b))
    result = stats.wilcoxon(a[keep], b[keep])
    return float(result.statistic), float(result.pvalue)
