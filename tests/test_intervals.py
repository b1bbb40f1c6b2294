"""BCa, basic and percentile intervals, p-values, multiple testing and the cluster bootstrap: against
scipy, statsmodels, Efron's formula written out, and pycocotools on real predictions."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import ndtr, ndtri
from statsmodels.stats import multitest

from resampling_cases import resampled_coco
from segshift import predictions
from segshift.errors import SegshiftError
from segshift.evaluation import bootstrap, coco, intervals, resampling

B = 10_000


def _mean_rows(x: np.ndarray, settings: dict, clusters=None) -> np.ndarray:
    """The mean of x as a metric job lays it out: B resamples, the estimate, the jackknife."""
    plan = resampling.plan(np.arange(len(x)), settings, clusters)
    return plan.counts @ x / plan.counts.sum(axis=1)


def test_bca_equals_efrons_formula_on_the_same_resamples_and_jackknife():
    x = np.random.default_rng(1).lognormal(0, 1, 60)  # skewed: BCa moves the interval
    rows = _mean_rows(x, {"resamples": B, "seed": 3, "jackknife_groups": 100})
    boot, theta, jack = rows[:B], rows[B], rows[B + 1:]
    assert theta == pytest.approx(x.mean(), abs=1e-12) and len(jack) == 60
    assert np.allclose(jack, (x.sum() - x) / 59)  # leave-one-out means
    # Efron and Tibshirani (1993), eq. 14.14-14.15
    z0 = ndtri(np.mean(boot < theta))
    d = jack.mean() - jack
    a = np.sum(d**3) / (6 * np.sum(d**2) ** 1.5)
    expected = [np.percentile(boot, 100 * ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))) for z in (ndtri(0.025), ndtri(0.975))]
    ours = intervals.interval(rows, intervals.Setting("bca", 0.95, B))
    assert np.allclose(ours, expected, rtol=0, atol=1e-12)
    assert a > 0.02  # the skew is there, so the test tells BCa from the percentile interval
    percentile = intervals.interval(rows, intervals.Setting("percentile", 0.95, B))
    assert ours[0] - percentile[0] > 0.01 * x.std()


def test_bca_agrees_with_scipy_within_monte_carlo_error():
    x = np.random.default_rng(2).lognormal(0, 1, 40)
    ours = intervals.interval(_mean_rows(x, {"resamples": B, "seed": 0}), intervals.Setting("bca", 0.95, B))
    theirs = stats.bootstrap((x,), np.mean, n_resamples=B, method="BCa", rng=np.random.default_rng(7))
    percentile = stats.bootstrap((x,), np.mean, n_resamples=B, method="percentile", rng=np.random.default_rng(7))
    ci = theirs.confidence_interval
    width = ci.high - ci.low
    assert abs(ours[0] - ci.low) < 0.04 * width and abs(ours[1] - ci.high) < 0.04 * width
    # and it is BCa that it agrees with: the percentile interval is further away
    assert abs(ours[1] - ci.high) < abs(ours[1] - percentile.confidence_interval.high)


def test_bca_of_an_independent_difference_agrees_with_scipy_two_samples():
    rng = np.random.default_rng(4)
    x, y = rng.lognormal(0, 1, 50), rng.exponential(1, 70)
    a = _mean_rows(x, {"resamples": B, "seed": 0})
    b = _mean_rows(y, {"resamples": B, "seed": 1})
    ours = intervals.difference(a, b, intervals.Setting("bca", 0.95, B), paired=False)
    theirs = stats.bootstrap((x, y), lambda u, v, axis: u.mean(axis) - v.mean(axis), n_resamples=B, method="BCa",
                             rng=np.random.default_rng(9)).confidence_interval
    width = theirs.high - theirs.low
    assert abs(ours["ci_low"] - theirs.low) < 0.04 * width and abs(ours["ci_high"] - theirs.high) < 0.04 * width


@pytest.mark.parametrize("method", intervals.METHODS)
def test_the_p_value_is_below_alpha_exactly_where_the_interval_excludes_zero(method):
    rng = np.random.default_rng(5)
    checked = 0
    for shift in np.linspace(-0.6, 0.6, 25):
        x = rng.lognormal(0, 0.7, 50) - np.exp(0.245) + shift
        d = _mean_rows(x, {"resamples": 2000, "seed": int(100 * shift) % 7})
        out = intervals.difference(d, np.zeros_like(d), intervals.Setting(method, 0.9, 2000))
        # away from the boundary (quantile interpolation moves it by less than a resample)
        if min(abs(out["ci_low"]), abs(out["ci_high"])) > 1e-3:
            assert (out["p_value"] < 0.1) == out["excludes_zero"], (shift, out)
            checked += 1
    assert checked > 15


def test_holm_and_benjamini_hochberg_equal_statsmodels():
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.001, 0.04, 0.5, 0.0125])
    for ours, theirs in (("holm", "holm"), ("bh", "fdr_bh")):
        expected = multitest.multipletests(p, method=theirs)[1]
        assert np.allclose(intervals.adjust(p, ours), expected, rtol=0, atol=1e-15)
        with_nan = intervals.adjust(np.r_[p[:3], np.nan, p[3:]], ours)  # no test: not in the family
        assert np.isnan(with_nan[3]) and np.allclose(np.delete(with_nan, 3), expected)
    assert np.array_equal(intervals.adjust(p, "none"), p)


def test_cluster_draws_keep_clusters_together_and_singletons_equal_image_draws():
    ids = np.arange(10, 130)
    labels = [f"{'a' if i < 40 else 'b'}-{i // 7}" for i in ids]  # 19 clusters of up to 7 images
    counts = resampling.draws(ids, 300, seed=2, clusters=labels)
    index = pd.Series(range(len(ids))).groupby(labels).indices
    for members in index.values():
        assert (counts[:, members] == counts[:, members[:1]]).all()  # a cluster's images drawn together
    assert (counts == 0).any() and (counts > 1).any()
    assert np.array_equal(resampling.draws(ids, 300, seed=2, clusters=[(i,) for i in ids]),
                          resampling.draws(ids, 300, seed=2))
    plan = resampling.plan(ids, {"resamples": 300, "seed": 2}, labels)
    assert plan.clusters == 19 and plan.jackknife == 19 and plan.image_jackknife == 100
    left_out = plan.counts[301:320]
    for members in index.values():  # the jackknife leaves out whole clusters, each once
        assert (left_out[:, members] == left_out[:, members[:1]]).all() and (left_out[:, members[0]] == 0).sum() == 1


def test_the_design_effect_is_one_without_intra_cluster_correlation_and_large_with_it():
    rng = np.random.default_rng(3)
    labels = [k // 10 for k in range(1000)]
    shared = np.repeat(rng.normal(0, 1, 100), 10)
    settings = {"resamples": 10, "seed": 0, "jackknife_groups": 100}
    plan = resampling.plan(np.arange(1000), settings, labels)
    noise, clustered = rng.normal(0, 1, 1000), shared + 0.3 * rng.normal(0, 1, 1000)
    mean = lambda x: plan.counts @ x / plan.counts.sum(axis=1)  # noqa: E731
    assert 0.7 < plan.design_effect(mean(noise)) < 1.3
    assert plan.design_effect(mean(clustered)) > 2.5  # about sqrt(1 + 9 rho), rho ~ 0.9


def test_cityscapes_clusters_come_from_the_file_name_and_a_missing_field_is_one_line():
    gt = {"images": [{"id": 1, "file_name": "frankfurt/frankfurt_000001_000019_leftImg8bit.png"},
                     {"id": 2, "file_name": "lindau/lindau_000003_000019_leftImg8bit.png"},
                     {"id": 3, "file_name": "frankfurt/frankfurt_000001_000029_leftImg8bit.png", "video": 7}]}
    assert resampling.cluster_labels(gt, [3, 1, 2], ["city", "sequence"], "gt.json") == [
        ("frankfurt", "000001"), ("lindau", "000003"), ("frankfurt", "000001")]
    assert resampling.cluster_labels(gt, [1, 2, 3], [], "gt.json") is None
    with pytest.raises(SegshiftError, match=r"gt.json: image .*frankfurt_000001_000019.* has no field 'video'.*cluster_by"):
        resampling.cluster_labels(gt, [1, 2, 3], ["video"], "gt.json")
    assert resampling.domain_settings({"cluster_by": {"cityscapes": ["city", "sequence"]}}, "coco")["cluster_by"] == []


def test_ap_jackknife_equals_pycocotools_without_that_image(coco_run):
    shards, gt_path = coco_run
    frame, meta = predictions.read(shards)
    ground_truth = pd.read_json(gt_path, typ="series").to_dict()
    ids = sorted(predictions.covered_images(meta))
    classes = [c["id"] for c in ground_truth["categories"]]
    names = {c["id"]: c["name"] for c in ground_truth["categories"]}
    plan = resampling.plan(ids, {"resamples": 0, "seed": 0, "jackknife_groups": len(ids)})
    assert plan.jackknife == len(ids)  # one image left out per row
    matches = bootstrap.coco_matches(ground_truth, frame, ids, "bbox", classes)
    values = bootstrap.coco_numbers(bootstrap.coco_resampled(matches, plan.counts), [names[c] for c in sorted(classes)])
    ap = values["summary/AP"]
    left_out = np.random.default_rng(0).choice(len(ids), 12, replace=False)
    for i in left_out:
        counts = np.ones(len(ids), dtype=np.int32)
        counts[i] = 0
        assert np.array_equal(plan.counts[1 + i], counts)
        gt_i, frame_i, ids_i = resampled_coco(ground_truth, frame, ids, counts)
        with contextlib.redirect_stdout(io.StringIO()):
            theirs = coco.evaluate(gt_i, frame_i, ids_i, engine="pycocotools", iou_types=("bbox",))["bbox"]
        assert abs(theirs["summary"]["AP"] - ap[1 + i]) <= 1e-12, (i, theirs["summary"]["AP"], ap[1 + i])
        for name, per in theirs["per_class"].items():
            mine = values[f"per_class/{name}/AP"][1 + i]
            assert (np.isnan(per["AP"]) and np.isnan(mine)) or abs(per["AP"] - mine) <= 1e-12
    assert np.unique(ap[1 + left_out]).size > 1  # leaving images out moves AP


def test_friedman_equals_scipy_and_the_nemenyi_distance_demsars_table():
    from segshift.evaluation import ranking

    rng = np.random.default_rng(6)
    values = rng.normal(0, 1, (12, 4)) + np.array([0.0, 0.3, 0.6, 0.9])
    values[3, 1] = values[3, 2]  # a tie
    found = ranking.friedman(values)
    theirs = stats.friedmanchisquare(*values.T)
    assert found.statistic == pytest.approx(theirs.statistic, rel=1e-12) and found.p_value == pytest.approx(theirs.pvalue)
    assert found.mean_ranks[3] < found.mean_ranks[0]  # the best model ranks 1
    # Demsar (2006), Table 5(a): q_0.05 = 2.343 (3 models), 2.569 (4), 2.728 (5)
    for k, q in ((3, 2.343), (4, 2.569), (5, 2.728)):
        assert ranking.nemenyi_cd(k, 10) == pytest.approx(q * np.sqrt(k * (k + 1) / 60), abs=1e-3)
    a, b = values[:, 0], values[:, 3]
    assert ranking.wilcoxon(a, b) == pytest.approx(tuple(stats.wilcoxon(a, b)))
