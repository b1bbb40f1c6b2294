"""Across models on every resample: scipy per resample (spearmanr, kendalltau, linregress for each
leave-one-out line) against segshift.across_models' vectorised statistics, on generated APs of a
full experiment's size, equal to 1e-12; the reference is timed on a few cells and extrapolated.

    python benchmarks/across_models.py [--models 10] [--resamples 1000] [--cells 1274] [--reference-cells 10]

--cells: (target, corruption) cells of the synthetic-vs-real matrix, 7 real targets x 182 corruption
means of two 15 x 5 suites by default; for effective robustness the same number of targets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.special import expit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from common import median_time, report  # noqa: E402

from segshift import across_models  # noqa: E402


def generated(cells: int, resamples: int, models: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    source = rng.uniform(0.2, 0.6, (cells, 1, models)) + rng.normal(0, 0.02, (cells, resamples, models))
    target = np.clip(expit(across_models.logit(source) - 1 + rng.normal(0, 0.3, source.shape)), 0.01, 0.99)
    # Rounded to 3 digits: ties, as APs of small sets have.
    return np.round(np.clip(source, 0.01, 0.99), 3), np.round(target, 3)


def reference_ranks(a, b):
    rho = np.array([[stats.spearmanr(x, y).statistic for x, y in zip(ra, rb)] for ra, rb in zip(a, b)])
    tau = np.array([[stats.kendalltau(x, y).statistic for x, y in zip(ra, rb)] for ra, rb in zip(a, b)])
    return rho, tau


def reference_effective(source, target):
    out = np.empty_like(source)
    x, y = across_models.logit(source), across_models.logit(target)
    for c in range(source.shape[0]):
        for b in range(source.shape[1]):
            for k in range(source.shape[2]):
                line = stats.linregress(np.delete(x[c, b], k), np.delete(y[c, b], k))
                out[c, b, k] = target[c, b, k] - expit(line.intercept + line.slope * x[c, b, k])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--cells", type=int, default=1274)
    parser.add_argument("--reference-cells", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    source, target = generated(args.cells, args.resamples, args.models)
    few = slice(0, min(args.reference_cells, args.cells))
    scale = args.cells / (few.stop - few.start)

    ours_s, (rho, tau) = median_time(lambda: (across_models.spearman(source, target),
                                              across_models.kendall(source, target)), args.repeats)
    ref_s, (ref_rho, ref_tau) = median_time(lambda: reference_ranks(source[few], target[few]), 1)
    same = np.allclose(rho[few], ref_rho, atol=1e-12, equal_nan=True) and np.allclose(tau[few], ref_tau, atol=1e-12,
                                                                                    equal_nan=True)
    report(f"rank correlations, {args.cells} cells x {args.resamples} resamples x {args.models} models",
           f"scipy (x{scale:.0f} of {few.stop} cells)", ref_s * scale, "across_models", ours_s,
           "Spearman and Kendall equal to scipy to 1e-12" if same else "DIFFERENT from scipy")

    ours_s, effective = median_time(lambda: across_models.effective_robustness(source, target)[1], args.repeats)
    ref_s, ref_effective = median_time(lambda: reference_effective(source[few], target[few]), 1)
    same_er = np.allclose(effective[few], ref_effective, atol=1e-12)
    report(f"leave-one-out effective robustness, {args.cells} targets x {args.resamples} resamples x {args.models} models",
           f"scipy linregress (x{scale:.0f})", ref_s * scale, "across_models", ours_s,
           "equal to scipy's lines to 1e-12" if same_er else "DIFFERENT from scipy")
    if not (same and same_er):
        sys.exit(1)


if __name__ == "__main__":
    main()
