"""The whole DAG on the real data (config/test.yaml), and what a rerun after a change plans."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from conftest import REPO, snakemake, write_config
from segshift import predictions
from segshift.evaluation import cityscapes, coco

pytestmark = pytest.mark.workflow

MODELS = ["yolov8n_seg", "yolo11n_seg", "yolov8n_seg_320"]
PAIRS = ["coco_val2017_vs_cityscapes_val", "coco_val2017_vs_cityscapes_val_half"]
FIGURES = (
    [f"results/figures/{m}/{p}/{f}" for m in MODELS for p in PAIRS for f in ("per_class_ap", "ap_by_size", "pr_curves")]
    + ["results/figures/transfer_gap", "results/figures/corruptions/coco_val2017_12_c"]
    + [f"results/figures/model_pairs/yolov8n_seg_vs_yolo11n_seg/{p}" for p in PAIRS]
    + [f"results/figures/diagnostics/{f}" for f in ("errors", "boundary_ap", "reliability")]
    + [f"results/figures/diagnostics/confusion/{d}"
       for d in ("coco_val2017", "cityscapes_val")]
    + [f"results/figures/across_models/effective_robustness/{t}"
       for t in ("cityscapes_val", "cityscapes_val_half", "coco_val2017_12", "cityscapes_aachen", "coco_val2017_12_c")]
    + ["results/figures/slices/cityscapes_aachen"]
    + ["results/figures/across_models/synthetic_vs_real"]
    + [f"results/figures/across_models/ranking/{s}" for s in ("targets", "coco_val2017_12_c")]
)
PANELS = [f"results/figures/qualitative/{d}.png"
          for d in ("coco_val2017", "cityscapes_val", "cityscapes_val_half", "coco_val2017_12-gaussian_noise-5")]
TABLES = ["coco_metrics", "cityscapes_metrics", "transfer_gap", "transfer_matrix", "robustness", "errors", "boundary_ap",
          "calibration", "confusions", "effective_robustness", "synthetic_vs_real", "ranking"]
# The diagnostics tables hold every diagnosed domain (evaluation.diagnostics_domains); their
# figures only those of the source and the gap targets.
DIAGNOSED = ["coco_val2017", "cityscapes_val", "coco_val2017_12-gaussian_noise-5"]
DIAGNOSTIC_TABLES = {"errors_table", "boundary_ap_table", "calibration_table", "confusions_table"}
CORRUPTED = [f"coco_val2017_12-{c}-{s}" for s in (3, 5) for c in ("gaussian_noise", "fog")]
# What shows every model's same-ruler numbers side by side (issue 24).
ACROSS_MODELS = {"effective_robustness_table", "synthetic_vs_real_table", "effective_robustness_figure",
                 "synthetic_vs_real_figure", "ranking_table", "ranking_figure"}


def planned_jobs(proc) -> list[dict]:
    """(rule, wildcards, reason) of each job in a dry run's output."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \w+:\n)", proc.stdout):
        head = re.match(r"(?:local)?(?:rule|checkpoint) (\w+):\n", block)
        if not head:
            continue
        wildcards = re.search(r"\n\s+wildcards: (.*)", block)
        reason = re.search(r"\n\s+reason: (.*)", block)
        jobs.append(
            {
                "rule": head.group(1),
                "wildcards": dict(kv.split("=", 1) for kv in wildcards.group(1).split(", ")) if wildcards else {},
                "reason": reason.group(1) if reason else "",
            }
        )
    return jobs


def dry_run(work: Path, config: Path, *args: str) -> list[dict]:
    proc = snakemake(work, "-n", *args, configfile=config)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return [j for j in planned_jobs(proc) if j["rule"] != "all"]


def changed(pipeline, tmp_path, edit) -> Path:
    """A copy of the pipeline's config with `edit` applied."""
    work, config = pipeline
    data = yaml.safe_load(config.read_text())
    edit(data)
    return write_config(tmp_path / "changed.yaml", data)


# Numbers -----------------------------------------------------------------------------------------


def shard_frame(work: Path, domain: str, model: str):
    files = sorted((work / "results/predictions" / domain / model).glob("shard-*.parquet"))
    frame, metadata = predictions.read(files)
    return frame, predictions.covered_images(metadata)


def test_coco_table_equals_pycocotools_on_the_cached_predictions(pipeline):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    work, _ = pipeline
    table = pd.read_csv(work / "results/tables/coco_metrics.csv")
    gt = COCO(str(work / "resources/datasets/coco_val2017/ground_truth.json"))
    for model in MODELS:
        frame, image_ids = shard_frame(work, "coco_val2017", model)
        assert len(image_ids) == 79
        for iou_type in ("bbox", "segm"):
            evaluator = COCOeval(gt, gt.loadRes(predictions.to_coco_results(frame, iou_type)), iou_type)
            evaluator.params.imgIds = sorted(image_ids)
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
            rows = table[(table.model == model) & (table.domain == "coco_val2017") & (table.iou_type == iou_type)
                         & (table.category == "all")]
            got = rows.set_index("metric")["value"]
            for k, name in enumerate(coco.SUMMARY):
                assert got[name] == pytest.approx(evaluator.stats[k], abs=1e-9), (model, iou_type, name)
    # Real COCO-trained models: inside the sanity bands of ../shared/data/PROVENANCE.md (an independent
    # numpy decoder there: about 0.43 / 0.37, 0.31 / 0.31 and 0.35 / 0.29 box / mask AP).
    bands = {"yolov8n_seg": ((0.40, 0.46), (0.33, 0.40)), "yolo11n_seg": ((0.27, 0.35), (0.27, 0.35)),
             "yolov8n_seg_320": ((0.31, 0.39), (0.25, 0.33))}
    for model, band in bands.items():
        for iou_type, (low, high) in zip(("bbox", "segm"), band):
            ap = table[(table.model == model) & (table.domain == "coco_val2017") & (table.iou_type == iou_type)
                       & (table.category == "all") & (table.metric == "AP")]["value"].item()
            assert low < ap < high, (model, iou_type, ap)


def test_cityscapes_table_equals_the_official_evaluator(pipeline):
    work, config = pipeline
    table = pd.read_csv(work / "results/tables/cityscapes_metrics.csv")
    ground_truth = json.loads((work / "resources/datasets/cityscapes_val/ground_truth.json").read_text())
    mapping = yaml.safe_load(config.read_text()).get("evaluation", {}).get("class_mapping") or {
        n: n for n in ["person", "bicycle", "car", "motorcycle", "bus", "train", "truck"]
    }
    from segshift import manifest

    gt_dir = manifest.read(work / "resources/datasets/cityscapes_val/manifest.parquet").gt_dir
    for model in MODELS:
        frame, image_ids = shard_frame(work, "cityscapes_val", model)
        mapped, _ = cityscapes.to_cityscapes(frame, mapping, "none")
        official = cityscapes.evaluate_official(mapped, cityscapes.ground_truth_images(ground_truth, image_ids), gt_dir)
        rows = table[(table.model == model) & (table.domain == "cityscapes_val") & (table.rider_policy == "none")]
        for cls, values in official["per_class"].items():
            for metric in ("AP", "AP50"):
                got = rows[(rows.category == cls) & (rows.metric == metric)]["value"]
                if values[metric] is None or np.isnan(values[metric]):
                    assert got.isna().all()
                else:
                    assert got.iloc[0] == pytest.approx(values[metric], abs=1e-9), (model, cls, metric)


def pycocotools_same_ruler(work: Path, domain: str, dataset: str, kind: str, model: str, classes: list[int]) -> dict:
    frame, image_ids = shard_frame(work, domain, model)
    gt = json.loads((work / f"resources/datasets/{dataset}/ground_truth.json").read_text())
    return coco.same_ruler(gt, kind, frame, image_ids, "pycocotools", classes)["segm"]


def test_transfer_gap_compares_the_same_classes_on_both_domains(pipeline):
    work, _ = pipeline
    table = pd.read_csv(work / "results/tables/transfer_gap.csv")
    shared = [1, 2, 3, 4, 6, 7, 8]  # the classes Cityscapes annotates, in COCO ids
    for model in MODELS:
        source = pycocotools_same_ruler(work, "coco_val2017", "coco_val2017", "coco", model, shared)["per_class"]
        for domain in ("cityscapes_val", "cityscapes_val_half"):
            target = pycocotools_same_ruler(work, domain, "cityscapes_val", "cityscapes", model, shared)["per_class"]
            both = [c for c in target if target[c]["AP"] is not None and not np.isnan(target[c]["AP"])]
            assert both == ["person", "car"]  # the frame has no other class of at least one instance
            rows = table[(table.model == model) & (table.domain == domain) & (table.iou_type == "segm") & (table.metric == "AP")]
            row = rows.set_index("category")
            assert row.at["all", "source_value"] == pytest.approx(np.mean([source[c]["AP"] for c in both]), abs=1e-9)
            assert row.at["all", "domain_value"] == pytest.approx(np.mean([target[c]["AP"] for c in both]), abs=1e-9)
            assert row.at["car", "gap"] == pytest.approx(source["car"]["AP"] - target["car"]["AP"], abs=1e-9)


def test_slices_and_per_image_results_read_the_same_rulers_matching(pipeline):
    """The city slice of the aachen frames is the whole domain: its AP is the same-ruler file's; each
    sequence slice (one frame) is pycocotools on that frame alone; per-image counts sum to the domain's."""
    work, _ = pipeline
    table = pd.read_csv(work / "results/tables/slices/cityscapes_aachen.csv")
    gt = json.loads((work / "resources/datasets/cityscapes_aachen/ground_truth.json").read_text())
    classes = coco.domain_classes(gt, "cityscapes")
    names = {im["id"]: im["file_name"].split("/")[1].rsplit("_", 2)[0] for im in gt["images"]}
    for model in MODELS:
        rows = table[(table.model == model) & (table.metric == "AP")]
        same_ruler = json.loads((work / f"results/metrics/cityscapes_aachen/{model}/same_ruler.json").read_text())
        city = rows[rows.field == "city"]
        assert city.slice.tolist() == ["aachen"] and city.images.item() == 8
        assert city.value.item() == pytest.approx(same_ruler["results"]["segm"]["summary"]["AP"], abs=1e-9)
        frame, _ = shard_frame(work, "cityscapes_aachen", model)
        for image_id in (1, 5):
            alone = coco.same_ruler(gt, "cityscapes", frame, [image_id], "pycocotools", classes)["segm"]["summary"]["AP"]
            assert rows[rows.slice == names[image_id]].value.item() == pytest.approx(alone, abs=1e-9)
        per_image = pd.read_parquet(work / f"results/metrics/cityscapes_aachen/{model}/per_image.parquet")
        assert per_image.columns[:4].tolist() == ["image_id", "file_name", "city", "sequence"] and len(per_image) == 8
        shared = coco.shared_class_ground_truth(gt, "cityscapes", classes)
        assert per_image.ground_truth.sum() == sum(1 for a in shared["annotations"] if not a["iscrowd"])
        assert (per_image.misses_50 == per_image.ground_truth - per_image.true_positives_50).all()
    assert (work / "results/figures/slices/cityscapes_aachen.pdf").stat().st_size > 0


def test_gaussian_noise_lowers_coco_mask_ap_by_pycocotools_on_the_same_parquet(pipeline):
    work, _ = pipeline
    gt = json.loads((work / "resources/datasets/coco_val2017_12/ground_truth.json").read_text())
    ids = sorted(c["id"] for c in gt["categories"])
    for model in MODELS:
        clean = pycocotools_same_ruler(work, "coco_val2017_12", "coco_val2017_12", "coco", model, ids)["summary"]["AP"]
        noisy = pycocotools_same_ruler(work, "coco_val2017_12-gaussian_noise-5", "coco_val2017_12", "coco", model, ids)
        assert noisy["summary"]["AP"] < clean - 0.15, (model, clean, noisy["summary"]["AP"])
        matrix = pd.read_csv(work / "results/tables/transfer_matrix.csv")
        got = matrix[(matrix.model == model) & (matrix.domain == "coco_val2017_12-gaussian_noise-5") & (matrix.protocol == "coco")
                     & (matrix.iou_type == "segm") & (matrix.category == "all") & (matrix.metric == "AP")]
        assert got["value"].item() == pytest.approx(noisy["summary"]["AP"], abs=1e-9)
        assert got[["corruption", "severity"]].values.tolist() == [["gaussian_noise", 5]]


def test_robustness_table_is_the_mean_over_corruption_domains(pipeline):
    work, _ = pipeline
    matrix = pd.read_csv(work / "results/tables/transfer_matrix.csv")
    robustness = pd.read_csv(work / "results/tables/robustness.csv")
    for model in MODELS:
        ap = matrix[(matrix.model == model) & (matrix.protocol == "same_ruler") & (matrix.iou_type == "segm")
                    & (matrix.category == "all") & (matrix.metric == "AP")].set_index("domain")["value"]
        rows = robustness[(robustness.model == model) & (robustness.protocol == "same_ruler") & (robustness.iou_type == "segm")]
        by_metric = rows[rows.corruption.isin(["all", "none"]) & rows.severity.isin(["all", "0"])].set_index("metric")["value"]
        assert by_metric["mPC"] == pytest.approx(np.mean([ap[d] for d in CORRUPTED]), abs=1e-9)  # CSVs keep 10 digits
        assert by_metric["rPC"] == pytest.approx(by_metric["mPC"] / ap["coco_val2017_12"], abs=1e-9)


def _logit(p):
    return np.log(p) - np.log1p(-p)


def test_effective_robustness_refits_the_gap_tables_numbers(pipeline):
    """Source and target APs are the transfer gap's (a suite's target its mPC in the robustness table); each
    predicted AP is scipy's line through the other models' logits, at the model's own source AP."""
    from scipy import stats
    from scipy.special import expit

    work, _ = pipeline
    er = pd.read_csv(work / "results/tables/effective_robustness.csv")
    gap = pd.read_csv(work / "results/tables/transfer_gap.csv")
    robustness = pd.read_csv(work / "results/tables/robustness.csv")
    for target in ("cityscapes_val", "cityscapes_val_half", "coco_val2017_12", "cityscapes_aachen", "coco_val2017_12_c"):
        for iou_type in ("segm", "bbox"):
            rows = er[(er.target == target) & (er.iou_type == iou_type)]
            value = lambda model, metric: rows[(rows.model == model) & (rows.metric == metric)].value.item()  # noqa: E731
            domain = "coco_val2017_12" if target == "coco_val2017_12_c" else target
            gaps = gap[(gap.domain == domain) & (gap.iou_type == iou_type) & (gap.category == "all")
                       & (gap.metric == "AP")].set_index("model")
            mpc = robustness[(robustness.suite == target) & (robustness.protocol == "same_ruler")
                             & (robustness.iou_type == iou_type) & (robustness.metric == "mPC")].set_index("model")
            for model in MODELS:
                assert value(model, "source_AP") == pytest.approx(gaps.at[model, "source_value"], abs=1e-9)
                expected = mpc.at[model, "value"] if target == "coco_val2017_12_c" else gaps.at[model, "domain_value"]
                assert value(model, "target_AP") == pytest.approx(expected, abs=1e-9)
            for model in MODELS:
                others = [m for m in MODELS if m != model]
                line = stats.linregress(_logit(np.array([value(m, "source_AP") for m in others])),
                                        _logit(np.array([value(m, "target_AP") for m in others])))
                predicted = expit(line.intercept + line.slope * _logit(value(model, "source_AP")))
                assert value(model, "predicted_AP") == pytest.approx(predicted, abs=1e-8), (target, model)
                assert value(model, "effective_robustness") == pytest.approx(value(model, "target_AP") - predicted, abs=1e-8)
    effective = er[(er.metric == "effective_robustness") & (er.iou_type == "segm")]
    # Intervals where both domains were resampled (the 12 COCO images, the suite), none from the single frame.
    resampled = effective[effective.target.isin(["coco_val2017_12", "coco_val2017_12_c"]) & effective.model.notna()]
    assert len(resampled) == 2 * len(MODELS) and (resampled.ci_low < resampled.ci_high).all()
    assert effective[effective.target == "cityscapes_val"].ci_low.isna().all()
    family = effective[effective.model.isna() & (effective.target == "cityscapes_val")]
    models = effective[effective.model.notna() & (effective.target == "cityscapes_val")]
    assert family.family.tolist() == ["yolo"] and family.value.item() == pytest.approx(models.value.mean(), abs=1e-9)
    assert "mean of 3 | yolo" in (work / "results/tables/effective_robustness.md").read_text()


def test_ranking_equals_scipys_friedman_on_the_gap_tables_numbers(pipeline):
    from scipy import stats

    work, _ = pipeline
    ranking = pd.read_csv(work / "results/tables/ranking.csv")
    gap = pd.read_csv(work / "results/tables/transfer_gap.csv")
    gap = gap[(gap.iou_type == "segm") & (gap.category == "all") & (gap.metric == "AP")].set_index(["model", "domain"])
    targets = ["cityscapes_val", "cityscapes_val_half", "coco_val2017_12", "cityscapes_aachen"]
    for measure, column in (("AP", "domain_value"), ("retained", None)):
        v = np.array([[gap.at[(m, d), "domain_value"] / (1 if column else gap.at[(m, d), "source_value"]) for m in MODELS]
                      for d in targets])
        rows = ranking[(ranking.domains == "targets") & (ranking.measure == measure) & (ranking.iou_type == "segm")]
        rows = rows.set_index("model").loc[MODELS]
        assert (rows.test == "friedman").all() and (rows.n_domains == len(targets)).all()
        assert rows.p_value.iloc[0] == pytest.approx(stats.friedmanchisquare(*v.T).pvalue, abs=1e-9)
        assert rows.mean_rank.to_numpy() == pytest.approx(np.mean([stats.rankdata(-r) for r in v], axis=0))
    assert "every clean target" in (work / "results/tables/ranking.md").read_text()


def test_synthetic_vs_real_rank_correlations_equal_scipy_on_the_tables_numbers(pipeline):
    from scipy import stats

    work, config = pipeline
    svr = pd.read_csv(work / "results/tables/synthetic_vs_real.csv")
    svr = svr[svr.iou_type == "segm"]
    matrix = pd.read_csv(work / "results/tables/transfer_matrix.csv")
    ap = matrix[(matrix.protocol == "same_ruler") & (matrix.iou_type == "segm") & (matrix.category == "all")
                & (matrix.metric == "AP")].set_index(["model", "domain"])["value"]
    gap = pd.read_csv(work / "results/tables/transfer_gap.csv")
    gap = gap[(gap.iou_type == "segm") & (gap.category == "all") & (gap.metric == "AP")].set_index(["model", "domain"])
    checked = 0
    for target in ("cityscapes_val", "cityscapes_val_half", "coco_val2017_12", "cityscapes_aachen"):
        real = np.array([gap.at[(m, target), "domain_value"] for m in MODELS])
        source = np.array([gap.at[(m, target), "source_value"] for m in MODELS])
        clean = np.array([ap[(m, "coco_val2017_12")] for m in MODELS])
        for corruption in ("fog", "gaussian_noise"):
            for severity in ("3", "5", "all"):
                levels = (3, 5) if severity == "all" else (int(severity),)
                corrupted = np.array([np.mean([ap[(m, f"coco_val2017_12-{corruption}-{s}")] for s in levels])
                                      for m in MODELS])
                rows = svr[(svr.target == target) & (svr.corruption == corruption)
                           & (svr.severity.astype(str) == severity)].set_index("metric")
                assert rows.at["spearman", "value"] == pytest.approx(stats.spearmanr(corrupted, real).statistic, abs=1e-9)
                assert rows.at["kendall", "value"] == pytest.approx(stats.kendalltau(corrupted, real).statistic, abs=1e-9)
                mae = np.mean(np.abs(source - (clean - corrupted) - real))
                assert rows.at["mae", "value"] == pytest.approx(mae, abs=1e-9)
                checked += 1
    assert checked == 24
    pairs = {tuple(p) for p in yaml.safe_load(config.read_text())["report"]["shift_pairs"]}
    assert {(r.corruption, r.target) for r in svr[svr.pair].itertuples()} == pairs
    best = svr[svr.best & (svr.metric == "mae")]
    assert sorted(best.target) == ["cityscapes_aachen", "cityscapes_val", "cityscapes_val_half", "coco_val2017_12"]
    for r in best.itertuples():
        assert r.value == svr[(svr.target == r.target) & (svr.metric == "mae")].value.min()


def test_test_size_and_corruptions_change_what_the_model_sees(pipeline):
    work, _ = pipeline
    for model in MODELS:
        full, _ = shard_frame(work, "cityscapes_val", model)
        half, _ = shard_frame(work, "cityscapes_val_half", model)
        meta = predictions.read_metadata(next((work / f"results/predictions/cityscapes_val_half/{model}").glob("*.parquet")))
        assert meta["resampled_to"] == [64, 128] and meta["domain"] == "cityscapes_val_half"
        assert len(full) != len(half) or not np.allclose(np.stack(full.bbox), np.stack(half.bbox))
        assert set(half.height) == {128} and set(half.width) == {256}  # masks stay on the original pixel grid


# Figures and report --------------------------------------------------------------------------------


def test_every_figure_is_a_sensible_image_and_a_pdf(pipeline):
    work, _ = pipeline
    for stem in FIGURES:
        with Image.open(work / f"{stem}.png") as image:
            image.verify()
        with Image.open(work / f"{stem}.png") as image:
            assert image.width >= 800 and image.height >= 300, stem
            pixels = np.asarray(image.convert("L"))
            assert pixels.std() > 10, f"{stem} looks blank"
        assert (work / f"{stem}.pdf").read_bytes().startswith(b"%PDF"), stem
    for path in PANELS:
        with Image.open(work / path) as image:
            assert image.width >= 900 and image.height >= 300, path


def test_qualitative_panels_show_the_chosen_images(pipeline):
    work, _ = pipeline
    for dataset, count in [("coco_val2017", 2), ("cityscapes_val", 1)]:
        chosen = json.loads((work / f"results/figures/qualitative/{dataset}.json").read_text())
        assert len(chosen["images"]) == count
        scores = [c["disagreement"] for c in chosen["images"]]
        assert scores == sorted(scores, reverse=True)
        for c in chosen["images"]:
            left, top, right, bottom = c["crop"]
            assert 0 <= left < right and 0 <= top < bottom


def test_report_holds_every_figure_and_table(pipeline):
    work, _ = pipeline
    html = (work / "results/report.html").read_text()
    for path in FIGURES + PANELS:
        assert Path(path).with_suffix(".png").name in html, path
    for table in TABLES:
        # The layout is shown in the page (an HTML result), the tidy CSV is there to download.
        assert f"{table}.html" in html and f"{table}.csv" in html, table
        page = (work / f"results/tables/{table}.html").read_text()
        layout = (work / f"results/tables/{table}.md").read_text()
        caption = layout.splitlines()[0].strip("*")
        assert "<table>" in page and caption.replace("'", "&#x27;") in page, table
    for category in ("Tables", "Transfer", "Robustness", "Qualitative", "Why it drops", "Across models"):
        assert category in html


def test_the_report_is_built_without_a_warning(pipeline):
    """A caption's reST warning (a lone *, say) shows up in the report the reader sees."""
    work, _ = pipeline
    log = (work / "report.log").read_text()
    assert not re.search(r"\((WARNING|ERROR|SEVERE)/\d\)", log), log[-3000:]


# The corrupted-image cache, through the rule and its script -----------------------------------------


def infer_logs(work: Path, domains) -> dict[str, str]:
    return {str(p.relative_to(work)): p.read_text() for d in domains for p in (work / "logs/infer" / d).glob("*/*.log")}


def test_every_corrupted_domain_job_reads_every_image_from_the_cache(pipeline):
    work, _ = pipeline
    logs = infer_logs(work, CORRUPTED)
    assert len(logs) == len(CORRUPTED) * len(MODELS)
    for name, text in logs.items():
        found = re.search(r"corrupted-image cache (\S+): (\d+) of (\d+) images read from it, (\d+) rebuilt", text)
        assert found, (name, text[-2000:])
        cache, hits, images, rebuilt = found.groups()
        assert cache.startswith("resources/corrupted/coco_val2017_12/") and (work / cache).is_file(), name
        assert hits == images == "12" and rebuilt == "0", name
        assert "unreadable" not in text and "damaged" not in text, name


def test_a_damaged_cache_entry_seen_through_the_rule_is_rebuilt(pipeline, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    work, config = pipeline
    scratch = tmp_path / "work"
    shutil.copytree(work, scratch, symlinks=True, ignore=shutil.ignore_patterns("report.html"))
    domain, model = "coco_val2017_12-fog-5", MODELS[0]
    shard = next((scratch / "results/predictions" / domain / model).glob("shard-*.parquet"))
    cache = next((scratch / "resources/corrupted/coco_val2017_12/fog-5").glob("shard-*.parquet"))
    stat = cache.stat()
    table = pq.read_table(cache)
    pngs = table["png"].to_pylist()
    pngs[3] = pngs[3][: len(pngs[3]) // 2]  # a truncated PNG whose recorded sha256 no longer matches
    pq.write_table(table.set_column(1, "png", pa.array(pngs, pa.binary())), cache)
    os.utime(cache, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    before, _ = shard_frame(work, domain, model)
    target = str(shard.relative_to(scratch))
    snakemake(scratch, "--cores", "2", target, "--forcerun", target, configfile=config, check=True)
    text = (scratch / "logs/infer" / domain / model / shard.with_suffix(".log").name).read_text()
    assert "damaged or missing: rebuilt from the clean image" in text, text[-2000:]
    assert re.search(r"11 of 12 images read from it, 1 rebuilt", text), text[-2000:]
    after, _ = shard_frame(scratch, domain, model)  # rebuilt exactly: the same pixels, the same predictions
    assert after.drop(columns="bbox").equals(before.drop(columns="bbox"))
    assert np.array_equal(np.stack(after.bbox), np.stack(before.bbox))


# Tables read as they should ----------------------------------------------------------------------------


def test_every_transfer_matrix_row_compares_the_same_classes_across_columns(pipeline):
    """The source's AP over all its classes is not set beside a target's AP over two of them."""
    work, _ = pipeline
    layout = (work / "results/tables/transfer_matrix.md").read_text().splitlines()
    header = [c.strip() for c in layout[2].strip("|").split("|")]
    column = header.index("coco_val2017 on person, car")
    assert header[column + 1:column + 3] == ["cityscapes_val", "cityscapes_val_half"]
    gap = pd.read_csv(work / "results/tables/transfer_gap.csv")
    labels = {m: e.get("label", m) for m, e in yaml.safe_load((REPO / "config/test.yaml").read_text())["models"].items()}
    for line in layout[4:4 + 2 * len(MODELS)]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        model = next(m for m, label in labels.items() if label == cells[0])
        source = gap[(gap.model == model) & (gap.domain == "cityscapes_val") & (gap.iou_type == cells[1])
                     & (gap.category == "all") & (gap.metric == "AP")]["source_value"].item()
        assert cells[column].split(" ")[0] == f"{100 * source:.1f}", (line, source)
    assert "coco_val2017 on person, car: person, car" in "\n".join(layout)


def test_a_domain_below_min_images_gets_no_interval_and_no_mark(pipeline):
    work, _ = pipeline
    for model in MODELS:
        m = json.loads((work / f"results/metrics/cityscapes_val/{model}/same_ruler.json").read_text())
        assert m["intervals_omitted"] == {"images": 1, "min_images": 10} and not m.get("intervals")
        assert json.loads((work / f"results/metrics/coco_val2017/{model}/same_ruler.json").read_text())["intervals"]
    gap = (work / "results/tables/transfer_gap.md").read_text()
    rows = [line for line in gap.splitlines() if "| cityscapes_val |" in line]
    assert rows and not any("[" in r or "*" in r for r in rows), rows
    assert "fewer than 10 images (evaluation.bootstrap.min_images): cityscapes_val (1)" in gap
    comparison = pd.read_csv(work / "results/tables/model_comparison.csv")
    assert comparison[comparison.domain == "cityscapes_val"]["ci_low"].isna().all()
    assert not comparison[comparison.domain == "cityscapes_val"]["excludes_zero"].fillna(False).astype(bool).any()


# DAG and rerun contracts -------------------------------------------------------------------------


def test_lint_is_clean(pipeline):
    work, config = pipeline
    proc = snakemake(work, "--lint", configfile=config)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Lints for" not in proc.stdout, proc.stdout[-3000:]


def test_nothing_to_do_after_a_complete_run(pipeline):
    work, config = pipeline
    assert dry_run(work, config) == []


def test_a_checkout_or_a_script_edit_reruns_no_job(pipeline, tmp_path):
    """profiles/default leaves out the "code" trigger: new mtimes or an edited script cost no GPU-hour."""
    work, config = pipeline
    copy = tmp_path / "checkout"
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, copy / name, follow_symlinks=False)
    for path in copy.rglob("*"):
        os.utime(path, follow_symlinks=False)
    with open(copy / "workflow/scripts/infer.py", "a") as f:
        f.write("# an edit that changes nothing\n")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(copy / "Snakefile"), "--directory", str(work),
         "--configfile", str(config), "-n"],
        cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Using workflow specific profile" in proc.stdout
    assert "Nothing to be done" in proc.stdout, proc.stdout[-3000:]


def test_a_score_threshold_change_reruns_metrics_but_no_inference(pipeline, tmp_path):
    work, _ = pipeline
    config = changed(pipeline, tmp_path, lambda c: c.setdefault("evaluation", {}).update(score_threshold=0.05))
    jobs = dry_run(work, config)
    rules = {j["rule"] for j in jobs}
    assert {"coco_metrics", "same_ruler_metrics", "cityscapes_metrics", "diagnostics", "confusion"} <= rules
    assert not rules & {"infer", "prepare_dataset"}
    assert all("Params have changed" in j["reason"] for j in jobs if j["rule"].endswith("_metrics"))


def test_a_diagnostics_setting_change_reruns_diagnostics_and_their_outputs_only(pipeline, tmp_path):
    work, _ = pipeline
    config = changed(pipeline, tmp_path, lambda c: c.setdefault("evaluation", {}).update(boundary_dilation_ratio=0.01,
                                                                                        calibration_bins=15))
    jobs = dry_run(work, config)
    assert {j["rule"] for j in jobs} == {"diagnostics", "errors_table", "boundary_ap_table", "calibration_table",
                                         "errors_figure", "boundary_ap_figure", "reliability_figure"}
    assert all("Params have changed" in j["reason"] for j in jobs if j["rule"] == "diagnostics")


def test_a_rider_setting_change_reruns_the_cityscapes_confusions_but_no_diagnostics(pipeline, tmp_path):
    work, _ = pipeline
    jobs = dry_run(work, changed(pipeline, tmp_path, lambda c: c.setdefault("evaluation", {}).update(rider_overlap=0.5)))
    rules = {j["rule"] for j in jobs}
    assert {"confusion", "confusions_table", "cityscapes_metrics"} <= rules
    assert not rules & {"infer", "diagnostics", "same_ruler_metrics", "coco_metrics"}
    # The diagnosed Cityscapes domains only (cityscapes_val_half and the aachen frames are not in
    # evaluation.diagnostics_domains).
    assert {j["wildcards"]["domain"] for j in jobs if j["rule"] == "confusion"} == {"cityscapes_val"}
    assert {j["wildcards"]["domain"] for j in jobs if j["rule"] == "cityscapes_metrics"} == {
        "cityscapes_val", "cityscapes_val_half", "cityscapes_aachen"}


def test_a_class_mapping_change_reruns_only_the_cityscapes_protocol(pipeline, tmp_path):
    work, _ = pipeline

    def edit(c):
        mapping = {n: n for n in ["person", "bicycle", "car", "motorcycle", "bus", "train", "truck"]}
        mapping["truck"] = "car"
        c.setdefault("evaluation", {})["class_mapping"] = mapping

    jobs = dry_run(work, changed(pipeline, tmp_path, edit))
    rules = {j["rule"] for j in jobs}
    assert "cityscapes_metrics" in rules
    assert not rules & {"infer", "coco_metrics", "same_ruler_metrics", "qualitative"}


METRIC_RULES = {"coco_metrics", "same_ruler_metrics", "cityscapes_metrics", "diagnostics"}
UPSTREAM_RULES = {"infer", "prepare_dataset", "corrupt", "download_weights", "export_yolo"}


def test_interval_method_clusters_and_correction_rerun_metrics_and_tables_only(pipeline, tmp_path):
    """method: every resampled metric job and what reads it; cluster_by of one kind: that kind's metric
    jobs only; multiple_comparisons: the five tables with p-values (and the ranking's figures) only."""
    work, _ = pipeline
    bootstrap = lambda c, **kv: c.setdefault("evaluation", {}).setdefault("bootstrap", {}).update(kv)  # noqa: E731
    jobs = dry_run(work, changed(pipeline, tmp_path, lambda c: bootstrap(c, method="percentile")))
    rules = {j["rule"] for j in jobs}
    assert METRIC_RULES <= rules and {"model_comparison_table", "transfer_gap_table", "robustness_table"} <= rules
    assert not rules & UPSTREAM_RULES and "confusion" not in rules
    assert all("Params have changed" in j["reason"] for j in jobs if j["rule"] in METRIC_RULES)

    jobs = dry_run(work, changed(pipeline, tmp_path, lambda c: bootstrap(c, cluster_by={"cityscapes": ["city"]})))
    metric_jobs = [j for j in jobs if j["rule"] in METRIC_RULES]
    assert metric_jobs and not {j["rule"] for j in jobs} & UPSTREAM_RULES
    from segshift import config as segshift_config, domains

    loaded = segshift_config.load(pipeline[1])
    cityscapes_domains = {d for d in loaded["domains"] if domains.kind(loaded, d) == "cityscapes"}
    assert {j["wildcards"]["domain"] for j in metric_jobs} <= cityscapes_domains

    jobs = dry_run(work, changed(pipeline, tmp_path,
                                 lambda c: c.setdefault("evaluation", {}).update(multiple_comparisons="bh")))
    assert {j["rule"] for j in jobs} == {"model_comparison_table", "transfer_gap_table", "robustness_table",
                                         "boundary_ap_table", "ranking_table", "ranking_figure"}


def test_a_display_threshold_change_redraws_only_the_panels(pipeline, tmp_path):
    work, _ = pipeline
    config = changed(pipeline, tmp_path, lambda c: c.setdefault("report", {}).update(display_threshold=0.3))
    jobs = dry_run(work, config)
    assert {j["rule"] for j in jobs} == {"qualitative"}
    assert all("Params have changed" in j["reason"] for j in jobs)


def test_adding_a_model_plans_only_that_models_jobs(pipeline, tmp_path):
    work, _ = pipeline

    def edit(c):
        c["models"]["yolov8n_seg_nms30"] = {**c["models"]["yolov8n_seg"], "iou_threshold": 0.3}

    jobs = dry_run(work, changed(pipeline, tmp_path, edit))
    infer = [j for j in jobs if j["rule"] == "infer"]
    assert infer and all(j["wildcards"]["model"] == "yolov8n_seg_nms30" for j in infer)
    metrics = [j for j in jobs if j["rule"].endswith("_metrics") or j["rule"] in ("diagnostics", "confusion")]
    assert metrics and all(j["wildcards"]["model"] == "yolov8n_seg_nms30" for j in metrics)
    # The population's tables and every one of its figures are redrawn with the new model.
    across = [j for j in jobs if j["rule"] in ACROSS_MODELS]
    assert {j["wildcards"].get("target") for j in across if j["rule"] == "effective_robustness_figure"} == {
        "cityscapes_val", "cityscapes_val_half", "coco_val2017_12", "cityscapes_aachen", "coco_val2017_12_c"}
    assert {j["rule"] for j in across} == ACROSS_MODELS


def test_a_models_family_is_no_backend_setting(pipeline, tmp_path):
    """Naming a family reruns the across-models results that show families, and no inference."""
    work, _ = pipeline
    jobs = dry_run(work, changed(pipeline, tmp_path, lambda c: c["models"]["yolo11n_seg"].update(family="yolo11")))
    assert {j["rule"] for j in jobs} == {"effective_robustness_table", "effective_robustness_figure"}


def test_a_hub_checkpoint_is_fetched_once_by_its_own_rule(pipeline, tmp_path):
    """A transformers model from the hub: one local download job at the pinned revision, which every
    inference job of that model reads (none of them fetches anything)."""
    pytest.importorskip("transformers")  # start-up stops a model whose backend's package is missing
    work, _ = pipeline
    revision = "0123456789abcdef0123456789abcdef01234567"

    def edit(c):
        c["models"]["mask2former_swin_t"] = {
            "backend": "transformers",
            "weights": {"hub": {"repo": "facebook/mask2former-swin-tiny-coco-instance", "revision": revision}},
        }

    jobs = dry_run(work, changed(pipeline, tmp_path, edit))
    downloads = [j for j in jobs if j["rule"] == "download_hub_weights"]
    assert [j["wildcards"] for j in downloads] == [{"model": "mask2former_swin_t"}]
    infer = [j for j in jobs if j["rule"] == "infer"]
    assert infer and all(j["wildcards"]["model"] == "mask2former_swin_t" for j in infer)


def test_a_missing_backend_package_stops_before_any_job(shared_data, tmp_path):
    """rfdetr hidden from the run (a sitecustomize that marks it absent): asking for one of its shards
    stops DAG building with one line naming the model and the install command; no job runs."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['rfdetr'] = None  # import and find_spec: absent\n")
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["models"]["rfdetr_seg_n"] = {"backend": "rfdetr", "size": "nano",
                                        "weights": {"path": str(shared_data / "weights/yolov8n-seg_int8.tflite")}}
    work = tmp_path / "work"
    work.mkdir()
    proc = snakemake(work, "--cores", "1", "results/predictions/coco_val2017/rfdetr_seg_n/shard-00000-of-00002.parquet",
                     configfile=write_config(tmp_path / "c.yaml", config),
                     env={"PYTHONPATH": os.pathsep.join([str(hide), os.environ.get("PYTHONPATH", "")])})
    assert proc.returncode != 0
    lines = [line for line in proc.stdout.splitlines() if line.startswith("segshift:")]
    assert lines == ["segshift: model rfdetr_seg_n uses the rfdetr backend, whose package rfdetr is not installed: "
                     "pip install -r requirements-rfdetr.txt"]
    assert not (work / "resources").exists() and not (work / "results").exists()


def test_a_lost_shard_plans_only_that_shard_and_its_downstream(pipeline, tmp_path):
    """As after an interrupted run: a shard and what is downstream of it are missing."""
    work, config = pipeline
    scratch = tmp_path / "work"
    shutil.copytree(work, scratch, symlinks=True, ignore=shutil.ignore_patterns("report.html"))
    shard = "results/predictions/coco_val2017/yolov8n_seg/shard-00001-of-00002.parquet"
    (scratch / shard).unlink()
    for path in ["results/metrics/coco_val2017/yolov8n_seg", "results/tables", "results/figures"]:
        shutil.rmtree(scratch / path)
    (scratch / "results/metrics/cityscapes_val/yolov8n_seg/same_ruler.json").unlink()
    jobs = dry_run(scratch, config)
    infer = [j for j in jobs if j["rule"] == "infer"]
    assert [(j["wildcards"]["domain"], j["wildcards"]["model"], j["wildcards"]["shard"]) for j in infer] == [
        ("coco_val2017", "yolov8n_seg", "00001")
    ]
    metrics = {(j["rule"], j["wildcards"]["domain"], j["wildcards"]["model"]) for j in jobs if j["rule"].endswith("_metrics")}
    assert metrics == {
        ("coco_metrics", "coco_val2017", "yolov8n_seg"),
        ("same_ruler_metrics", "coco_val2017", "yolov8n_seg"),
        ("same_ruler_metrics", "cityscapes_val", "yolov8n_seg"),
    }


def test_a_deleted_shard_is_redone_when_asked_for(pipeline, tmp_path):
    """Snakemake treats a missing intermediate file like a temp file: naming it redoes it."""
    work, config = pipeline
    scratch = tmp_path / "work"
    shutil.copytree(work, scratch, symlinks=True, ignore=shutil.ignore_patterns("report.html"))
    shard = "results/predictions/coco_val2017/yolov8n_seg/shard-00001-of-00002.parquet"
    (scratch / shard).unlink()
    jobs = dry_run(scratch, config, shard)
    assert [(j["rule"], j["wildcards"]["shard"]) for j in jobs] == [("infer", "00001")]


def test_one_model_can_be_run_or_rerun_alone(pipeline, tmp_path):
    work, config = pipeline
    scratch = tmp_path / "work"
    shutil.copytree(work, scratch, symlinks=True)
    for path in scratch.glob("results/*/**/yolov8n_seg_320"):
        shutil.rmtree(path)
    jobs = dry_run(scratch, config, "model_yolov8n_seg_320")
    assert "infer" in {j["rule"] for j in jobs}
    assert {j["wildcards"].get("model") for j in jobs if j["wildcards"]} == {"yolov8n_seg_320"}
    assert not {j["rule"] for j in jobs} & {"coco_table", "transfer_gap_figure"}  # shared outputs wait

    jobs = dry_run(work, config, "model_yolov8n_seg", "--forcerun", "infer")
    infer = [j for j in jobs if j["rule"] == "infer"]
    # COCO (2 shards), the Cityscapes frame at two sizes, the 8 aachen frames, the 12 COCO images clean and
    # corrupted (1 shard each)
    assert len(infer) == 2 + 1 + 1 + 1 + 1 + len(CORRUPTED)
    assert not {j["rule"] for j in jobs} & {"corrupt"}  # the cached corrupted images are reused
    assert {j["wildcards"].get("model") for j in jobs if j["wildcards"]} == {"yolov8n_seg"}


def test_adding_a_severity_runs_only_that_domains_jobs(pipeline, tmp_path):
    work, _ = pipeline
    config = changed(pipeline, tmp_path, lambda c: c["corruption_suites"]["coco_val2017_12_c"].update(severities=[1, 3, 5]))
    jobs = dry_run(work, config)
    new = {"coco_val2017_12-gaussian_noise-1", "coco_val2017_12-fog-1"}
    per_domain = ("corrupt", "infer", "same_ruler_metrics", "coco_metrics")
    for rule in per_domain:
        planned = [j for j in jobs if j["rule"] == rule]
        assert planned, rule
        assert all(j["wildcards"].get("domain", "coco_val2017_12-" + j["wildcards"].get("corruption", "") + "-"
                                      + j["wildcards"].get("severity", "")) in new for j in planned), rule
    # What shows every domain or the suite is redrawn; nothing that shows only other domains is,
    # and the new domains are not diagnosed (not in evaluation.diagnostics_domains).
    assert {j["rule"] for j in jobs} - set(per_domain) == {
        "transfer_matrix_table", "robustness_table", "coco_table", "corruption_figure", "model_comparison_table",
        *ACROSS_MODELS}
    # Of the effective robustness figures, the suite's (its mPC) is the one that shows these domains.
    assert {j["wildcards"]["target"] for j in jobs if j["rule"] == "effective_robustness_figure"} == {"coco_val2017_12_c"}


def test_diagnosing_one_more_domain_runs_its_diagnostics_and_their_tables_only(pipeline, tmp_path):
    work, _ = pipeline
    config = changed(pipeline, tmp_path, lambda c: c["evaluation"].update(diagnostics_domains=[*DIAGNOSED, "cityscapes_val_half"]))
    jobs = dry_run(work, config)
    assert {(j["rule"], j["wildcards"].get("domain")) for j in jobs if j["rule"] in ("diagnostics", "confusion")} == {
        (rule, "cityscapes_val_half") for rule in ("diagnostics", "confusion")}
    assert len([j for j in jobs if j["rule"] == "diagnostics"]) == len(MODELS)
    # A gap target: the diagnostics figures show it, and it gets its own confusion figure.
    assert {j["rule"] for j in jobs} == {"diagnostics", "confusion", *DIAGNOSTIC_TABLES, "errors_figure",
                                         "boundary_ap_figure", "reliability_figure", "confusion_figure"}


def test_changing_the_severity_list_never_reruns_clean_inference(pipeline, tmp_path):
    work, _ = pipeline
    config = changed(pipeline, tmp_path, lambda c: c["corruption_suites"]["coco_val2017_12_c"].update(severities=[5]))
    jobs = dry_run(work, config)
    assert not {j["rule"] for j in jobs} & {"infer", "corrupt", "same_ruler_metrics", "coco_metrics", "diagnostics"}
    assert {j["rule"] for j in jobs} == {"transfer_matrix_table", "robustness_table", "coco_table", "corruption_figure",
                                         "model_comparison_table", *ACROSS_MODELS}


def test_adding_a_test_size_domain_plans_only_that_domain(pipeline, tmp_path):
    work, _ = pipeline
    def add(c):  # the test config lists its domain pairs, so the new one is named there too
        c["domains"].update(cityscapes_val_quarter={"dataset": "cityscapes_val", "test_size": [32, 64]})
        c["report"]["domain_pairs"].append(["coco_val2017", "cityscapes_val_quarter"])
    config = changed(pipeline, tmp_path, add)
    jobs = dry_run(work, config)
    infer = [j for j in jobs if j["rule"] == "infer"]
    assert len(infer) == len(MODELS) and {j["wildcards"]["domain"] for j in infer} == {"cityscapes_val_quarter"}
    metrics = [j for j in jobs if j["rule"].endswith("_metrics")]
    assert metrics and {j["wildcards"]["domain"] for j in metrics} == {"cityscapes_val_quarter"}
    figures = [j for j in jobs if j["rule"].endswith("_figure") and "other_domain" in j["wildcards"]]
    assert figures and all(j["wildcards"]["other_domain"] == "cityscapes_val_quarter" for j in figures)


def test_a_coco_json_domain_runs_end_to_end(shared_data, yolo_model, tmp_path):
    """A street-scene set exported as a COCO JSON: here 4 real COCO images with renamed categories."""
    data = json.loads((shared_data / "coco/annotations/instances_val2017.json").read_text())
    images = sorted(data["images"], key=lambda im: im["file_name"])[:4]
    ids = {im["id"] for im in images}
    renamed = {c["id"]: {"person": "pedestrian", "car": "automobile"}.get(c["name"], c["name"]) for c in data["categories"]}
    mine = {
        "images": images,
        "annotations": [{**a, "category_id": 1000 + a["category_id"]} for a in data["annotations"] if a["image_id"] in ids],
        "categories": [{"id": 1000 + c["id"], "name": renamed[c["id"]]} for c in data["categories"]],
    }
    (tmp_path / "mine.json").write_text(json.dumps(mine))
    config = write_config(tmp_path / "c.yaml", {
        "datasets": {
            "coco_val2017": {"kind": "coco", "root": str(shared_data / "coco"), "max_images": 4},
            "streets": {"kind": "coco_json", "images": str(shared_data / "coco/val2017"),
                        "annotations": str(tmp_path / "mine.json"),
                        "category_mapping": {"pedestrian": "person", "automobile": "car", "dog": "dog"}},
        },
        "domains": {"coco_val2017": {"dataset": "coco_val2017"}, "streets": {"dataset": "streets"}},
        "models": yolo_model,
        "report": {"qualitative_images": 1},
    })
    # From the images to a table and a figure; the rest of the DAG is the same rules as the pipeline's.
    figures = ["results/figures/yolov8n_seg/coco_val2017_vs_streets/per_class_ap.png", "results/figures/qualitative/streets.png"]
    snakemake(tmp_path, "--cores", "2", "results/tables/transfer_gap.csv", *figures, configfile=config, check=True)
    source = json.loads((tmp_path / "results/metrics/coco_val2017/yolov8n_seg/same_ruler.json").read_text())
    streets = json.loads((tmp_path / "results/metrics/streets/yolov8n_seg/same_ruler.json").read_text())
    assert sorted(streets["results"]["segm"]["per_class"]) == ["car", "dog", "person"]
    for cls in ("person", "car", "dog"):  # the same images and predictions: the same per-class AP
        assert streets["results"]["segm"]["per_class"][cls] == source["results"]["segm"]["per_class"][cls]
    gap = pd.read_csv(tmp_path / "results/tables/transfer_gap.csv")
    assert (gap[gap.domain == "streets"]["gap"].dropna() == 0).all()
    assert all((tmp_path / f).is_file() for f in figures)


def test_exports_load_in_pycocotools_and_give_the_same_ruler_numbers(pipeline, tmp_path):
    """snakemake export: COCO results JSON next to the domain's ground truth in COCO ids."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    work, config = pipeline
    scratch = tmp_path / "work"
    shutil.copytree(work, scratch, symlinks=True, ignore=shutil.ignore_patterns("report.html"))
    jobs = dry_run(scratch, config, "export")
    assert {j["rule"] for j in jobs} == {"export_predictions", "export_per_image", "export_ground_truth", "export"}  # no inference
    snakemake(scratch, "--cores", "2", "export", configfile=config, check=True)
    per_image = pd.read_parquet(scratch / "results/exports/cityscapes_val/yolov8n_seg.per_image.parquet")
    assert per_image.equals(pd.read_parquet(work / "results/metrics/cityscapes_val/yolov8n_seg/per_image.parquet"))
    matrix = pd.read_csv(work / "results/tables/transfer_matrix.csv")
    for domain in ("coco_val2017", "cityscapes_val"):
        gt = COCO(str(scratch / f"results/exports/{domain}/ground_truth.json"))
        results = json.loads((scratch / f"results/exports/{domain}/yolov8n_seg.json").read_text())
        assert {"image_id", "category_id", "score", "bbox", "segmentation"} <= set(results[0])
        evaluator = COCOeval(gt, gt.loadRes([{k: v for k, v in r.items() if k != "bbox"} for r in results]), "segm")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        expected = matrix[(matrix.model == "yolov8n_seg") & (matrix.domain == domain) & (matrix.protocol == "same_ruler")
                          & (matrix.iou_type == "segm") & (matrix.category == "all") & (matrix.metric == "AP")]
        assert evaluator.stats[0] == pytest.approx(expected["value"].item(), abs=1e-9), domain
        aps = matrix[(matrix.model == "yolov8n_seg") & (matrix.domain == domain) & (matrix.protocol == "same_ruler")
                     & (matrix.iou_type == "segm") & (matrix.category == "all") & (matrix.metric == "APs")]
        assert evaluator.stats[3] == pytest.approx(aps["value"].item(), abs=1e-9) or np.isnan(aps["value"].item())


def test_a_bootstrap_change_reruns_metrics_and_tables_but_no_inference(pipeline, tmp_path):
    work, _ = pipeline
    config = changed(pipeline, tmp_path, lambda c: c.setdefault("evaluation", {}).update(bootstrap={"resamples": 200, "seed": 7}))
    rules = {j["rule"] for j in dry_run(work, config)}
    assert {"coco_metrics", "same_ruler_metrics", "cityscapes_metrics", "model_comparison_table"} <= rules
    assert not rules & {"infer", "prepare_dataset", "corrupt"}
