"""Across models: effective robustness and synthetic-vs-real agreement on hand-made numbers and metric files
whose answers are known, against scipy's regression and rank correlations."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats
from scipy.special import expit

from segshift import across_models, figures, tables
from segshift import config as segshift_config
from segshift.across_models import logit
from segshift.config import ConfigError

SLOPE, INTERCEPT = 0.8, -0.5
SOURCE = np.array([0.22, 0.31, 0.38, 0.45, 0.52, 0.6])


def on_the_line(source):
    return expit(INTERCEPT + SLOPE * logit(source))


# The line and effective robustness ----------------------------------------------------------------


def test_models_on_a_logit_line_have_zero_effective_robustness():
    target = on_the_line(SOURCE)
    for loo in (True, False):
        predicted, effective = across_models.effective_robustness(SOURCE, target, leave_one_out=loo)
        assert np.allclose(predicted, target, atol=1e-12) and np.allclose(effective, 0, atol=1e-12)
    result = across_models.population([f"m{k}" for k in range(len(SOURCE))], SOURCE, target)
    assert result.fitted and result.slope == pytest.approx(SLOPE) and result.intercept == pytest.approx(INTERCEPT)


def test_a_model_raised_by_d_logits_gains_the_expected_ap_and_cannot_pull_its_own_line():
    d, k = 0.7, 2
    target = on_the_line(SOURCE)
    raised = target.copy()
    raised[k] = expit(INTERCEPT + SLOPE * logit(SOURCE[k]) + d)
    _, effective = across_models.effective_robustness(SOURCE, raised)
    expected = expit(INTERCEPT + SLOPE * logit(SOURCE[k]) + d) - expit(INTERCEPT + SLOPE * logit(SOURCE[k]))
    assert effective[k] == pytest.approx(expected, abs=1e-12)
    # Fitted with the outlier in, the line moves towards it and hides part of its gain.
    _, in_sample = across_models.effective_robustness(SOURCE, raised, leave_one_out=False)
    assert 0 < in_sample[k] < expected - 0.01
    # Every other model's line includes the outlier, so the others see it too, but the outlier's own line does not.
    assert not np.allclose(np.delete(effective, k), 0, atol=1e-3)


def test_the_fit_equals_scipys_linear_regression():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0.1, 0.7, 7), rng.uniform(0.05, 0.6, 7)
    slope, intercept = across_models.fit_line(logit(x), logit(y))
    reference = stats.linregress(logit(x), logit(y))
    assert slope == pytest.approx(reference.slope, abs=1e-12) and intercept == pytest.approx(reference.intercept, abs=1e-12)
    # A NaN point (a class absent from a resample) is left out of its row only.
    y_missing = y.copy()
    y_missing[3] = np.nan
    slope, _ = across_models.fit_line(logit(x), logit(y_missing))
    assert slope == pytest.approx(stats.linregress(np.delete(logit(x), 3), np.delete(logit(y), 3)).slope, abs=1e-12)
    assert np.isnan(across_models.fit_line(logit(x[:1]), logit(y[:1]))[0])  # one point: no line


def resampled(estimate, spread, rng, resamples=400):
    return np.clip(estimate[None, :] + spread * rng.standard_normal((resamples, len(estimate))), 0.01, 0.99)


def test_the_resampled_fit_equals_a_fit_on_each_resamples_values():
    rng = np.random.default_rng(2)
    target = on_the_line(SOURCE) + np.array([0.03, -0.02, 0.0, 0.04, -0.01, 0.02])
    source_draws, target_draws = resampled(SOURCE, 0.03, rng), resampled(target, 0.03, rng)
    models = [f"m{k}" for k in range(len(SOURCE))]
    result = across_models.population(models, SOURCE, target, source_draws, target_draws)
    slopes = []
    for b in range(len(source_draws)):
        x, y = logit(source_draws[b]), logit(target_draws[b])
        slopes.append(stats.linregress(x, y).slope)
        if b in (0, 7, 123):  # each model against scipy's line through the others, on that resample
            for k in range(len(models)):
                line = stats.linregress(np.delete(x, k), np.delete(y, k))
                expected = target_draws[b, k] - expit(line.intercept + line.slope * x[k])
                assert result.effective_draws[b, k] == pytest.approx(expected, abs=1e-12), (b, k)
    low, high = np.percentile(slopes, [2.5, 97.5])
    assert result.span("slope") == pytest.approx((low, high), abs=1e-12)
    for k, m in enumerate(models):
        assert result.span("effective", m) == pytest.approx(tuple(np.percentile(result.effective_draws[:, k], [2.5, 97.5])))
        assert result.span("source", m) == pytest.approx(tuple(np.percentile(source_draws[:, k], [2.5, 97.5])))


def test_intervals_shrink_as_resamples_agree():
    target = on_the_line(SOURCE) + 0.02
    models = [f"m{k}" for k in range(len(SOURCE))]
    widths = []
    for spread in (0.05, 0.02, 0.005, 0.0):
        rng = np.random.default_rng(3)
        result = across_models.population(models, SOURCE, target, resampled(SOURCE, spread, rng),
                                          resampled(target, spread, rng))
        widths.append([result.span("effective", m)[1] - result.span("effective", m)[0] for m in models]
                      + [result.span("slope")[1] - result.span("slope")[0]])
    widths = np.array(widths)
    assert (np.diff(widths[:-1], axis=0) < 0).all() and np.allclose(widths[-1], 0, atol=1e-12)


def test_the_band_holds_the_lines_refitted_per_resample():
    rng = np.random.default_rng(4)
    source_draws, target_draws = resampled(SOURCE, 0.03, rng), resampled(on_the_line(SOURCE), 0.03, rng)
    grid = np.array([0.1, 0.3, 0.6])
    low, high = across_models.line_band(source_draws, target_draws, grid, 0.9)
    lines = [stats.linregress(logit(s), logit(t)) for s, t in zip(source_draws, target_draws)]
    at = np.array([[expit(ln.intercept + ln.slope * logit(g)) for g in grid] for ln in lines])
    assert np.allclose(low, np.percentile(at, 5, axis=0)) and np.allclose(high, np.percentile(at, 95, axis=0))
    assert ((low < on_the_line(grid)) & (on_the_line(grid) < high)).all()


def test_family_means_and_fewer_than_three_models():
    target = on_the_line(SOURCE)
    target[[0, 1]] += 0.05
    result = across_models.population([f"m{k}" for k in range(len(SOURCE))], SOURCE, target)
    value, span = across_models.group_mean(result, ["m0", "m1"])
    assert value == pytest.approx(result.effective[:2].mean()) and span == (None, None)
    few = across_models.population(["a", "b"], SOURCE[:2], target[:2])
    assert not few.fitted and few.effective is None and np.isnan(across_models.group_mean(few, ["a"])[0])


# Rank agreement ----------------------------------------------------------------------------------


def test_rank_correlations_equal_scipy_with_ties_and_per_resample():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 4, size=(200, 6)).astype(float)  # many ties
    b = rng.integers(0, 4, size=(200, 6)).astype(float)
    rho, tau = across_models.spearman(a, b), across_models.kendall(a, b)
    for i in range(200):
        constant = np.ptp(a[i]) == 0 or np.ptp(b[i]) == 0
        if constant:
            assert np.isnan(rho[i]) and np.isnan(tau[i])
            continue
        assert rho[i] == pytest.approx(stats.spearmanr(a[i], b[i]).statistic, abs=1e-12)
        assert tau[i] == pytest.approx(stats.kendalltau(a[i], b[i]).statistic, abs=1e-12)
    same = np.array([0.1, 0.4, 0.3, 0.2])
    assert across_models.spearman(same * 0.5, same) == 1 and across_models.kendall(same / 3, same) == 1
    assert across_models.spearman(-same, same) == -1
    assert np.isnan(across_models.spearman([0.1, np.nan, 0.3], [0.1, 0.2, 0.3]))


def test_drop_error_and_the_best_share():
    source, target = np.array([0.5, 0.4, 0.3]), np.array([0.3, 0.25, 0.1])
    clean, corrupted = np.array([0.6, 0.5, 0.4]), np.array([0.45, 0.3, 0.2])
    # predicted = source - (clean - corrupted) = [0.35, 0.2, 0.1]
    assert across_models.drop_error(source, target, clean, corrupted) == pytest.approx((0.05 + 0.05 + 0.0) / 3)
    errors = np.array([[0.1, 0.3, np.nan, 0.2], [0.2, 0.1, np.nan, 0.1], [0.3, 0.2, np.nan, 0.05]])
    assert across_models.best_share(errors) == pytest.approx([1 / 3, 1 / 3, 1 / 3])


# Tables from hand-made metric files --------------------------------------------------------------

BOOTSTRAP = {"resamples": 300, "seed": 0, "confidence": 0.95, "min_images": 10}


def metric_file(model: str, domain: str, per_class: dict[str, float | None]) -> dict:
    aps = [v for v in per_class.values() if v is not None]
    results = {kind: {"summary": {"AP": float(np.mean(aps))}, "per_class": {c: {"AP": v} for c, v in per_class.items()}}
               for kind in ("bbox", "segm")}
    return {"metric": "same_ruler", "model": model, "domain": domain, "results": results, "counts": {},
            "provenance": {"settings": {"bootstrap": BOOTSTRAP}}}


def resample_frame(per_class: dict[str, float | None], rng, spread: float) -> pd.DataFrame:
    columns = {}
    for kind in ("bbox", "segm"):
        draws = {c: np.clip(v + spread * rng.standard_normal(BOOTSTRAP["resamples"]), 0.001, 0.999)
                 for c, v in per_class.items() if v is not None}
        columns.update({f"{kind}/per_class/{c}/AP": d for c, d in draws.items()})
        columns[f"{kind}/summary/AP"] = np.mean(list(draws.values()), axis=0)
    return pd.DataFrame(columns)


MODELS = {"a": "A", "b": "B", "c": "C", "d": "D"}
FAMILIES = {"a": {"family": "yolo", "backbone": "n"}, "b": {"family": "yolo", "backbone": "s"},
            "c": {"family": "region-based", "backbone": "R50"}, "d": {"family": None, "backbone": None}}
DOMAINS = {"src": {"corruption": None, "suite": None}, "real": {"corruption": None, "suite": None},
           "clean": {"corruption": None, "suite": None},
           "clean-fog-3": {"corruption": {"name": "fog", "severity": 3}, "suite": "s"},
           "clean-fog-5": {"corruption": {"name": "fog", "severity": 5}, "suite": "s"},
           "clean-noise-3": {"corruption": {"name": "noise", "severity": 3}, "suite": "s"},
           "clean-noise-5": {"corruption": {"name": "noise", "severity": 5}, "suite": "s"}}
SUITES = {"s": {"domain": "clean", "corruptions": ["fog", "noise"], "severities": [3, 5],
                "members": {d: e for d, e in DOMAINS.items() if e["suite"] == "s"}}}


def population_files(spread: float = 0.01, raise_d: float = 0.0):
    """Source on person/car/dog; the real target shares person and car (its dog is unannotated) and lies on a
    logit line of the source over those two, model d raised by raise_d logits; fog ranks the models as the real
    target does, noise reverses them."""
    rng = np.random.default_rng(6)
    files, resamples = [], {}
    source_ap = {"a": (0.5, 0.6), "b": (0.4, 0.5), "c": (0.3, 0.35), "d": (0.2, 0.3)}
    for k, model in enumerate(MODELS):
        person, car = source_ap[model]
        shared = float(np.mean([person, car]))
        real = float(expit(INTERCEPT + SLOPE * logit(shared) + (raise_d if model == "d" else 0.0)))
        tables_ = {
            "src": {"person": person, "car": car, "dog": 0.7},
            "real": {"person": real, "car": real, "dog": None},
            "clean": {"person": 0.6 - 0.1 * k, "car": 0.5 - 0.1 * k, "dog": None},
        }
        for severity in (3, 5):
            tables_[f"clean-fog-{severity}"] = {"person": 0.4 - 0.1 * k - 0.01 * severity, "car": 0.3 - 0.05 * k, "dog": None}
            tables_[f"clean-noise-{severity}"] = {"person": 0.1 + 0.05 * k, "car": 0.1 + 0.04 * k, "dog": None}
        for domain, per_class in tables_.items():
            files.append(metric_file(model, domain, per_class))
            resamples[(model, domain, "same_ruler")] = resample_frame(per_class, rng, spread)
    return files, resamples


def test_effective_robustness_table_on_hand_made_files():
    d = 0.6
    files, resamples = population_files(raise_d=d)
    tidy, layout = tables.effective_robustness_table(files, MODELS, FAMILIES, "src", DOMAINS, SUITES, resamples)
    real = tidy[(tidy.target == "real") & (tidy.iou_type == "segm")]
    value = lambda model, metric: real[(real.model == model) & (real.metric == metric)].value.item()  # noqa: E731
    # The same ruler: the source on the classes the target shares (person, car), not on dog too.
    assert value("a", "source_AP") == pytest.approx(0.55) and value("d", "source_AP") == pytest.approx(0.25)
    shared = 0.25
    expected = expit(INTERCEPT + SLOPE * logit(shared) + d) - expit(INTERCEPT + SLOPE * logit(shared))
    assert value("d", "effective_robustness") == pytest.approx(expected, abs=1e-9)
    for model in "abc":  # on the line, and their leave-one-out lines go through d: not zero, but d's line is exact
        assert value(model, "target_AP") == pytest.approx(expit(INTERCEPT + SLOPE * logit(value(model, "source_AP"))))
    row = real[(real.model == "d") & (real.metric == "effective_robustness")].iloc[0]
    assert row.ci_low < row.value < row.ci_high
    family = real[real.model.isna() & (real.metric == "effective_robustness")]
    assert set(family.family) == {"yolo", "region-based"}
    assert family[family.family == "yolo"].value.item() == pytest.approx(
        np.mean([value("a", "effective_robustness"), value("b", "effective_robustness")]))
    assert {"slope", "intercept"} <= set(real.metric)
    # A suite's target is its mPC: the mean of its corrupted domains on the shared classes.
    mpc = tidy[(tidy.target == "s") & (tidy.iou_type == "segm") & (tidy.model == "b") & (tidy.metric == "target_AP")]
    members = [f for f in files if f["model"] == "b" and f["domain"].startswith("clean-")]
    assert mpc.target_metric.item() == "mPC"
    assert mpc.value.item() == pytest.approx(np.mean([f["results"]["segm"]["summary"]["AP"] for f in members]))
    # Corrupted domains are in the CSV, not in the layout.
    assert "clean-fog-3" in set(tidy.target) and "clean-fog-3" not in layout.markdown()
    text = layout.markdown()
    assert "| real | D | – |" in text and "mean of 2 | yolo" in text and "s (mPC)" in text


def test_fewer_than_three_models_get_no_line_and_the_table_says_so():
    files, resamples = population_files()
    two = {"a": "A", "b": "B"}
    tidy, layout = tables.effective_robustness_table(files, two, FAMILIES, "src", DOMAINS, SUITES, resamples)
    assert set(tidy.metric) == {"source_AP", "target_AP"}
    assert "Fewer than 3 models (2): no line is fitted" in layout.markdown()
    tidy, layout = tables.synthetic_vs_real_table(files, two, "src", ["real"], SUITES, [], resamples)
    assert tidy[tidy.metric == "spearman"].value.isna().all() and "Fewer than 3 models (2)" in layout.markdown()


def test_a_corruption_that_ranks_models_as_the_real_target_gets_rho_one():
    files, resamples = population_files()
    tidy, layout = tables.synthetic_vs_real_table(files, MODELS, "src", ["real", "clean"], SUITES,
                                                  [["fog", "real"]], resamples)
    segm = tidy[(tidy.iou_type == "segm") & (tidy.target == "real")]
    get = lambda corruption, severity, metric: segm[(segm.corruption == corruption) & (segm.severity == severity)  # noqa: E731
                                                    & (segm.metric == metric)].iloc[0]
    for severity in (3, 5, "all"):
        assert get("fog", severity, "spearman").value == 1 and get("fog", severity, "kendall").value == 1
        assert get("noise", severity, "spearman").value == -1
        assert get("fog", severity, "spearman").pair and not get("noise", severity, "spearman").pair
    # Each value equals scipy on the models' APs, and the MAE the drop's prediction.
    aps = {(f["model"], f["domain"]): f["results"]["segm"]["summary"]["AP"] for f in files}
    real = [aps[(m, "real")] for m in MODELS]
    noise = [np.mean([aps[(m, f"clean-noise-{s}")] for s in (3, 5)]) for m in MODELS]
    mixed = [aps[(m, "clean-fog-3")] + (0.2 if m == "b" else 0) for m in MODELS]
    assert get("noise", "all", "spearman").value == pytest.approx(stats.spearmanr(noise, real).statistic)
    assert across_models.spearman(mixed, real) == pytest.approx(stats.spearmanr(mixed, real).statistic)
    source = [np.mean([f["results"]["segm"]["per_class"][c]["AP"] for c in ("person", "car")])
              for m in MODELS for f in files if f["model"] == m and f["domain"] == "src"]
    clean = [aps[(m, "clean")] for m in MODELS]
    mae = np.mean(np.abs(np.array(source) - (np.array(clean) - np.array(noise)) - np.array(real)))
    assert get("noise", "all", "mae").value == pytest.approx(mae)
    best = segm[(segm.metric == "mae") & segm.best]
    assert len(best) == 1 and best.value.item() == pytest.approx(segm[segm.metric == "mae"].value.min())
    assert {(r.corruption, str(r.severity)) for r in segm[segm.metric == "mae"].itertuples()} == {
        (c, s) for c in ("fog", "noise", "all") for s in ("3", "5", "all")}
    rho = get("fog", 3, "spearman")
    assert rho.ci_low <= 1 and rho.ci_high == 1
    text = layout.markdown()
    assert "| real | s | fog | 3 | pair" in text and "+1.00" in text


def test_the_figures_draw_from_the_tables(tmp_path):
    files, resamples = population_files(spread=0.03, raise_d=0.5)
    shift, result = tables.target_population(files, MODELS, "src", ["real"], {}, resamples)
    assert shift.classes == ["person", "car"] and result.fitted
    paths = figures.save(figures.effective_robustness(MODELS, FAMILIES, "real", result), tmp_path / "er",
                         formats=("png",))  # the workflow test checks every PDF
    shift, result = tables.target_population(files, {"a": "A", "b": "B"}, "src", [], SUITES, resamples)
    paths += figures.save(figures.effective_robustness({"a": "A", "b": "B"}, {}, "s (mPC)", result, "mPC"), tmp_path / "few",
                          formats=("png",))
    tidy, _ = tables.synthetic_vs_real_table(files, MODELS, "src", ["real", "clean"], SUITES, [["fog", "real"]], resamples)
    tidy.to_csv(tmp_path / "svr.csv", index=False)
    read = pd.read_csv(tmp_path / "svr.csv", keep_default_na=False, na_values=[""])
    paths += figures.save(figures.synthetic_vs_real(read, {"real": "real", "clean": "clean"}), tmp_path / "svr",
                          formats=("png",))
    for path in paths:
        if path.suffix == ".png":
            with Image.open(path) as image:
                assert image.width > 600 and np.asarray(image.convert("L")).std() > 10, path


def test_family_colours_follow_the_families_or_the_models():
    colors, legend = figures.family_colors(MODELS, FAMILIES)
    assert colors["a"] == colors["b"] != colors["c"] and list(legend) == ["yolo", "region-based", "no family"]
    colors, legend = figures.family_colors(MODELS, {})
    assert len(set(colors.values())) == 4 and list(legend) == list(MODELS.values())


# Config ------------------------------------------------------------------------------------------

CONFIG = {
    "datasets": {"coco": {"kind": "coco", "root": "/data/coco"}, "city": {"kind": "cityscapes", "root": "/data/city"}},
    "domains": {"coco": {"dataset": "coco"}, "city": {"dataset": "city"}},
    "corruption_suites": {"coco_c": {"domain": "coco", "corruptions": ["fog"], "severities": [3]}},
    "models": {"m": {"backend": "yolo_seg_export", "family": "yolo", "backbone": "YOLOv8n", "weights": {"path": "/w.tflite"}}},
    "report": {"shift_pairs": [["fog", "city"]]},
}


def test_family_and_backbone_are_not_backend_settings():
    config = segshift_config.validate(CONFIG)
    assert config["models"]["m"]["family"] == "yolo"
    assert "family" not in segshift_config.model_settings(config, "m")
    assert "backbone" not in segshift_config.model_settings(config, "m")
    plain = copy.deepcopy(CONFIG)
    del plain["models"]["m"]["family"]
    assert segshift_config.validate(plain)["models"]["m"]["family"] is None  # the default: no family


@pytest.mark.parametrize("pairs, message", [
    ([["snow", "city"]], "report.shift_pairs names corruption 'snow', which no corruption suite makes (suites' corruptions: fog)"),
    ([["fog", "acdc_fog"]], "report.shift_pairs names 'acdc_fog', which is not a clean target domain (clean targets: city)"),
    ([["fog", "coco-fog-3"]], "names 'coco-fog-3', which is not a clean target domain"),
])
def test_shift_pairs_name_a_suites_corruption_and_a_clean_target(pairs, message):
    config = copy.deepcopy(CONFIG)
    config["report"]["shift_pairs"] = pairs
    with pytest.raises(ConfigError) as e:
        segshift_config.validate(config)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_suite_may_not_share_a_domains_name():
    config = copy.deepcopy(CONFIG)
    config["corruption_suites"] = {"city": {"domain": "coco", "corruptions": ["fog"], "severities": [3]}}
    with pytest.raises(ConfigError, match="corruption_suites.city has the name of a domain"):
        segshift_config.validate(config)


# Ranking across domains --------------------------------------------------------------------------


def test_ranking_equals_scipys_friedman_and_wilcoxon_on_hand_made_files(tmp_path):
    from segshift.evaluation import intervals, ranking

    files, _ = population_files()
    tidy, layout = tables.ranking_table(files, MODELS, "src", DOMAINS, SUITES, "holm")
    by = {(f["model"], f["domain"]): f["results"]["segm"]["per_class"] for f in files}
    shared = lambda model, domain: np.mean([by[(model, domain)][c]["AP"] for c in ("person", "car")])  # noqa: E731
    tested = {}
    for name, members in (("targets", ["real", "clean"]), ("s", list(SUITES["s"]["members"]))):
        ap = np.array([[shared(m, d) for m in MODELS] for d in members])
        kept = ap / np.array([shared(m, "src") for m in MODELS])  # the source on the target's classes
        for measure, v in (("AP", ap), ("retained", kept)):
            rows = tidy[(tidy.domains == name) & (tidy.measure == measure) & (tidy.iou_type == "segm")]
            reference = stats.friedmanchisquare(*v.T)
            assert rows.test.unique().tolist() == ["friedman"] and rows.n_domains.unique().tolist() == [len(members)]
            assert rows.statistic.iloc[0] == pytest.approx(reference.statistic, abs=1e-12)
            assert rows.p_value.iloc[0] == pytest.approx(reference.pvalue, abs=1e-12)
            assert rows.critical_difference.iloc[0] == pytest.approx(ranking.nemenyi_cd(4, len(members)))
            expected_ranks = np.mean([stats.rankdata(-row) for row in v], axis=0)
            assert rows.set_index("model").loc[list(MODELS), "mean_rank"].to_numpy() == pytest.approx(expected_ranks)
            assert rows.set_index("model").loc[list(MODELS), "mean_value"].to_numpy() == pytest.approx(v.mean(axis=0))
            tested[(name, measure)] = rows
    # Holm within one measure over the sets of domains.
    for measure in ("AP", "retained"):
        p = [tested[(name, measure)].p_value.iloc[0] for name in ("targets", "s")]
        adjusted = [tested[(name, measure)].p_adjusted.iloc[0] for name in ("targets", "s")]
        assert adjusted == pytest.approx(intervals.adjust(np.array(p), "holm"))
        assert adjusted == pytest.approx(np.minimum(1, np.maximum.accumulate(np.sort(p) * [2, 1]))[np.argsort(np.argsort(p))])
    assert "Friedman" in layout.markdown() and "every clean target" in layout.markdown() and "s's cells" in layout.markdown()
    # Two models: Wilcoxon's signed-rank test over the domains.
    two = {"a": "A", "c": "C"}
    tidy2, _ = tables.ranking_table(files, two, "src", DOMAINS, SUITES, "holm")
    rows = tidy2[(tidy2.domains == "s") & (tidy2.measure == "AP") & (tidy2.iou_type == "segm")]
    a, c = ([shared(m, d) for d in SUITES["s"]["members"]] for m in two)
    assert rows.test.unique().tolist() == ["wilcoxon"] and rows.n_models.unique().tolist() == [2]
    assert rows.p_value.iloc[0] == pytest.approx(stats.wilcoxon(a, c).pvalue)
    # The critical-difference diagram of one set draws from the table.
    paths = figures.save(figures.critical_difference(tidy[tidy.domains == "s"], "s's cells"), tmp_path / "cd",
                         formats=("png",))
    assert Image.open(paths[0]).size[0] > 300


def test_cd_diagram_joins_runs_within_the_critical_difference():
    assert figures.cliques([1.0, 1.5, 2.6, 3.9], 1.2) == [(0, 1), (1, 2)]
    assert figures.cliques([1.0, 2.0, 3.0], 2.5) == [(0, 2)]  # one run holds them all: no nested ones
    assert figures.cliques([1.0, 2.0, 3.0], 0.5) == []
