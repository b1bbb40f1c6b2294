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

MODELS = ["yolov8n_seg", "yolov8n_seg_nms50"]
FIGURES = (
    [f"results/figures/{m}/{f}" for m in MODELS for f in ("per_class_ap", "ap_by_size", "pr_curves")]
    + ["results/figures/transfer_gap", "results/figures/model_pairs/yolov8n_seg_vs_yolov8n_seg_nms50"]
)
PANELS = ["results/figures/qualitative/coco_val2017.png", "results/figures/qualitative/cityscapes_val.png"]
TABLES = ["coco_metrics", "cityscapes_metrics", "transfer_gap"]


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


def shard_frame(work: Path, dataset: str, model: str):
    files = sorted((work / "results/predictions" / dataset / model).glob("shard-*.parquet"))
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
            rows = table[(table.model == model) & (table.iou_type == iou_type) & (table.category == "all")]
            got = rows.set_index("metric")["value"]
            for k, name in enumerate(coco.SUMMARY):
                assert got[name] == pytest.approx(evaluator.stats[k], abs=1e-9), (model, iou_type, name)
    segm = table[(table.model == "yolov8n_seg") & (table.iou_type == "segm") & (table.category == "all")]
    assert 0.30 < segm.set_index("metric")["value"]["AP"] < 0.45  # a real COCO-trained model


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
        rows = table[(table.model == model) & (table.rider_policy == "none")]
        for cls, values in official["per_class"].items():
            for metric in ("AP", "AP50"):
                got = rows[(rows.category == cls) & (rows.metric == metric)]["value"]
                if values[metric] is None or np.isnan(values[metric]):
                    assert got.isna().all()
                else:
                    assert got.iloc[0] == pytest.approx(values[metric], abs=1e-9), (model, cls, metric)


def test_transfer_gap_is_coco_minus_cityscapes_on_the_same_ruler(pipeline):
    work, _ = pipeline
    table = pd.read_csv(work / "results/tables/transfer_gap.csv")
    for model in MODELS:
        values = {}
        for dataset in ("coco_val2017", "cityscapes_val"):
            frame, image_ids = shard_frame(work, dataset, model)
            gt = json.loads((work / f"resources/datasets/{dataset}/ground_truth.json").read_text())
            domain = "coco" if dataset == "coco_val2017" else "cityscapes"
            values[dataset] = coco.same_ruler(gt, domain, frame, image_ids, "pycocotools")["segm"]["summary"]["AP"]
        rows = table[(table.model == model) & (table.iou_type == "segm") & (table.category == "all") & (table.metric == "AP")]
        by_dataset = rows.set_index("dataset")["value"]
        assert by_dataset["coco_val2017"] == pytest.approx(values["coco_val2017"], abs=1e-9)
        assert by_dataset["cityscapes_val"] == pytest.approx(values["cityscapes_val"], abs=1e-9)


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
        assert f"{table}.csv" in html
    for category in ("COCO", "Cityscapes", "Transfer", "Qualitative"):
        assert category in html


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
    assert {"coco_metrics", "same_ruler_metrics", "cityscapes_metrics"} <= rules
    assert not rules & {"infer", "prepare_dataset"}
    assert all("Params have changed" in j["reason"] for j in jobs if j["rule"].endswith("_metrics"))


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
    metrics = [j for j in jobs if j["rule"].endswith("_metrics")]
    assert metrics and all(j["wildcards"]["model"] == "yolov8n_seg_nms30" for j in metrics)


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
    assert [(j["wildcards"]["dataset"], j["wildcards"]["model"], j["wildcards"]["shard"]) for j in infer] == [
        ("coco_val2017", "yolov8n_seg", "00001")
    ]
    metrics = {(j["rule"], j["wildcards"]["dataset"], j["wildcards"]["model"]) for j in jobs if j["rule"].endswith("_metrics")}
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
    for path in scratch.glob("results/*/**/yolov8n_seg_nms50"):
        shutil.rmtree(path)
    jobs = dry_run(scratch, config, "model_yolov8n_seg_nms50")
    assert "infer" in {j["rule"] for j in jobs}
    assert {j["wildcards"].get("model") for j in jobs if j["wildcards"]} == {"yolov8n_seg_nms50"}
    assert not {j["rule"] for j in jobs} & {"coco_table", "transfer_gap_figure"}  # shared outputs wait

    jobs = dry_run(work, config, "model_yolov8n_seg", "--forcerun", "infer")
    infer = [j for j in jobs if j["rule"] == "infer"]
    assert len(infer) == 3  # two COCO shards and the Cityscapes one
    assert {j["wildcards"].get("model") for j in jobs if j["wildcards"]} == {"yolov8n_seg"}
