"""Bootstrap intervals: each resample's AP equals the official evaluator on the resampled image list
(pycocotools for COCO-style AP, cityscapesscripts for the official protocol), duplicates under new ids."""

from __future__ import annotations

import contextlib
import io
import shutil

import numpy as np
import pandas as pd
import pytest

import cityscapes_cases
from resampling_cases import resampled_coco
from segshift import predictions, tables
from segshift.evaluation import bootstrap, cityscapes, cityscapes_fast, coco, intervals, resampling
from segshift.evaluation.cityscapes import GroundTruthImage

RESAMPLES = 8  # each is checked against a full pycocotools run (about 1 s each)


def assert_equal_numbers(theirs: dict, ours: dict, b: int, prefix: str = ""):
    checked = 0
    for key, value in theirs["summary"].items():
        mine = ours[f"{prefix}summary/{key}"][b]
        assert (np.isnan(value) and np.isnan(mine)) or abs(value - mine) <= 1e-9, (b, key, value, mine)
        checked += not np.isnan(value)
    for name, values in theirs["per_class"].items():
        for key, value in values.items():
            mine = ours[f"{prefix}per_class/{name}/{key}"][b]
            assert (np.isnan(value) and np.isnan(mine)) or abs(value - mine) <= 1e-9, (b, name, key, value, mine)
    assert checked


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_coco_resamples_equal_pycocotools_on_the_resampled_list(coco_run, iou_type):
    shards, gt_path = coco_run
    frame, meta = predictions.read(shards)
    ground_truth = pd.read_json(gt_path, typ="series").to_dict()
    ids = sorted(predictions.covered_images(meta))
    frame = frame.assign(score=(frame["score"] * 20).round() / 20)  # ties within images: their order matters
    assert frame.groupby(["image_id", "category_id"])["score"].apply(lambda s: s.duplicated().any()).any()
    classes = [c["id"] for c in ground_truth["categories"]]
    names = {c["id"]: c["name"] for c in ground_truth["categories"]}
    counts = resampling.draws(ids, RESAMPLES, seed=3)
    assert (counts > 1).any() and (counts == 0).any()
    matches = bootstrap.coco_matches(ground_truth, frame, ids, iou_type, classes)
    ours = bootstrap.coco_numbers(bootstrap.coco_resampled(matches, counts), [names[c] for c in sorted(classes)])
    for b in range(RESAMPLES):
        gt_b, frame_b, ids_b = resampled_coco(ground_truth, frame, ids, counts[b])
        with contextlib.redirect_stdout(io.StringIO()):
            theirs = coco.evaluate(gt_b, frame_b, ids_b, engine="pycocotools", iou_types=(iou_type,))[iou_type]
        assert_equal_numbers(theirs, ours, b)
    # all-ones counts: the full evaluation
    full = bootstrap.coco_numbers(bootstrap.coco_resampled(matches, np.ones((1, len(ids)), np.int32)),
                                 [names[c] for c in sorted(classes)])
    with contextlib.redirect_stdout(io.StringIO()):
        assert_equal_numbers(coco.evaluate(ground_truth, frame, ids, engine="pycocotools", iou_types=(iou_type,))[iou_type],
                             full, 0)


def test_same_ruler_resamples_with_relative_sizes_equal_pycocotools(coco_run):
    """The same ruler on a subset of classes, and its relative size buckets (areas scaled per image)."""
    shards, gt_path = coco_run
    frame, meta = predictions.read(shards)
    ground_truth = pd.read_json(gt_path, typ="series").to_dict()
    ids = sorted(predictions.covered_images(meta))
    shared = [1, 2, 3, 4, 6, 7, 8]
    gt, frame, _ = coco.same_ruler_inputs(ground_truth, "coco", frame, shared, False)
    scale = coco.relative_area_scale(gt, ids)
    counts = resampling.draws(ids, 6, seed=1)
    names = [coco.COCO_ID_TO_NAME[c] for c in shared]
    ours = bootstrap.coco_numbers(bootstrap.coco_resampled(
        bootstrap.coco_matches(gt, frame, ids, "segm", shared, area_scale=scale), counts), names)
    for b in range(len(counts)):
        gt_b, frame_b, ids_b = resampled_coco(gt, frame, ids, counts[b])
        scale_b = coco.relative_area_scale(gt_b, ids_b)
        with contextlib.redirect_stdout(io.StringIO()):
            theirs = coco.evaluate(gt_b, frame_b, ids_b, category_ids=shared, iou_types=("segm",), area_scale=scale_b)["segm"]
        assert_equal_numbers(theirs, ours, b)


@pytest.mark.parametrize("seed", [0, 5])
def test_cityscapes_resamples_equal_cityscapesscripts_on_the_resampled_list(tmp_path, seed):
    frame, images, gt_dir = cityscapes_cases.make_case(tmp_path, seed, n_frames=6)
    frame["score"] = (frame["score"] * 5).round() / 5  # ties across images
    matches = cityscapes_fast.match(frame, images, gt_dir, workers=1)
    entries = bootstrap.cityscapes_entries([cityscapes_fast.image_entries(m) for m in matches])
    counts = resampling.draws([im.image_id for im in images], RESAMPLES, seed=seed)
    ours = bootstrap.cityscapes_numbers(bootstrap.cityscapes_resampled(entries, counts))
    copies = gt_dir / "copies"
    nonzero = 0
    for b in range(RESAMPLES):
        resampled, parts = [], []
        for image, count in zip(images, counts[b]):
            for _ in range(count):
                k = len(resampled) + 1
                stem = f"copies/copy_{k:06d}_000019"
                shutil.copy(gt_dir / image.instance_ids_file, gt_dir / f"{stem}_gtFine_instanceIds.png") if copies.exists() \
                    else (copies.mkdir(), shutil.copy(gt_dir / image.instance_ids_file, gt_dir / f"{stem}_gtFine_instanceIds.png"))
                resampled.append(GroundTruthImage(k, f"{stem}_leftImg8bit.png", f"{stem}_gtFine_instanceIds.png",
                                                  image.height, image.width))
                parts.append(frame[frame["image_id"] == image.image_id].assign(image_id=k))
        theirs = cityscapes.evaluate_official(pd.concat(parts), resampled, gt_dir)
        shutil.rmtree(copies)
        for name in cityscapes.CLASS_NAMES:
            for key in ("AP", "AP50"):
                a, o = theirs["per_class"][name][key], ours[f"per_class/{name}/{key}"][b]
                assert (np.isnan(a) and np.isnan(o)) or abs(a - o) <= 1e-9, (b, name, key, a, o)
        for key in ("AP", "AP50"):
            assert abs(theirs["mean"][key] - ours[f"mean/{key}"][b]) <= 1e-9
        nonzero += theirs["mean"]["AP"] > 0
    assert nonzero > RESAMPLES // 2


def test_draws_are_reproducible_paired_per_image_set_and_count_duplicates():
    ids = list(range(1, 301))
    a, b = resampling.draws(ids, 50, seed=0), resampling.draws(list(reversed(ids)), 50, seed=0)
    assert (a == b).all() and (a.sum(axis=1) == 300).all()
    assert (a.max(axis=1) >= 2).all()  # drawn twice counts twice
    assert not (resampling.draws(ids, 50, seed=1) == a).all()
    assert not (resampling.draws(ids[:-1], 50, seed=0)[:, :10] == a[:, :10]).all()  # another image set: other draws
    low, high = intervals.interval(np.r_[np.arange(100.0), np.nan], intervals.Setting("percentile", 0.95, 101))
    assert low == pytest.approx(2.475) and high == pytest.approx(96.525)


def _hand_made(detections_right: float):
    """One ground-truth box per image; the model finds it in a share of the images, else boxes nothing."""
    rng = np.random.default_rng(0)
    images = [{"id": i, "width": 100, "height": 100} for i in range(1, 61)]
    gt = {"images": images, "categories": [{"id": 1, "name": "person"}],
          "annotations": [{"id": i, "image_id": i, "category_id": 1, "bbox": [20, 20, 40, 40], "area": 1600.0,
                           "iscrowd": 0} for i in range(1, 61)]}
    rows = []
    for i in range(1, 61):
        box = [20, 20, 40, 40] if rng.random() < detections_right else [70, 70, 20, 20]
        rows.append({"image_id": i, "category_id": 1, "score": float(rng.uniform(0.5, 1)), "bbox": np.array(box, np.float32)})
    return gt, pd.DataFrame(rows)


def test_paired_difference_excludes_zero_for_a_better_model_and_is_exactly_zero_for_identical_ones():
    gt, good = _hand_made(0.9)
    _, poor = _hand_made(0.4)
    ids = [im["id"] for im in gt["images"]]
    counts = resampling.plan(ids, {"resamples": 500, "seed": 0}).counts
    setting = intervals.Setting("bca", 0.95, 500)

    def resampled(frame):
        return bootstrap.coco_numbers(bootstrap.coco_resampled(bootstrap.coco_matches(gt, frame, ids, "bbox", [1]), counts),
                                     ["person"])["summary/AP"]

    a, b = resampled(good), resampled(poor)
    with contextlib.redirect_stdout(io.StringIO()):
        full = [coco.evaluate(gt, f, ids, engine="pycocotools", iou_types=("bbox",))["bbox"]["summary"]["AP"] for f in (good, poor)]
    assert [a[500], b[500]] == pytest.approx(full, abs=1e-12)  # the estimate row: every image once
    better = intervals.difference(a, b, setting)
    assert full[0] > full[1] and better["excludes_zero"] and better["ci_low"] > 0 and better["sign_flips"] == 0
    assert better["p_value"] < 0.05
    same = intervals.difference(a, resampled(good.copy()), setting)
    assert same["ci_low"] == 0 and same["ci_high"] == 0 and not same["excludes_zero"] and same["p_value"] == 1


def test_tables_carry_intervals_and_mark_differences(tmp_path):
    gt, good = _hand_made(0.9)
    _, poor = _hand_made(0.4)
    ids = [im["id"] for im in gt["images"]]
    settings = {"resamples": 200, "seed": 0, "confidence": 0.95, "method": "bca"}
    counts = resampling.plan(ids, settings).counts
    files, resamples = [], {}
    for model, frame in (("a", good), ("b", poor)):
        values = {f"bbox/{k}": v for k, v in bootstrap.coco_numbers(
            bootstrap.coco_resampled(bootstrap.coco_matches(gt, frame, ids, "bbox", [1]), counts), ["person"]).items()}
        with contextlib.redirect_stdout(io.StringIO()):
            results = coco.evaluate(gt, frame, ids, engine="pycocotools", iou_types=("bbox",))
        files.append({"metric": "coco", "model": model, "domain": "d", "results": results, "counts": {},
                      "intervals": intervals.intervals(values, intervals.Setting.of(settings)),
                      "provenance": {"settings": {"bootstrap": settings}}})
        path = tmp_path / f"{model}.parquet"
        bootstrap.write_values(path, values, settings, len(ids))
        resamples[(model, "d", "coco")] = bootstrap.read_values(path)[0]
    tidy, layout = tables.comparison_table(files, {"a": "A", "b": "B"}, [["a", "b"]], resamples, iou_type="bbox")
    row = tidy[(tidy.category == "all") & (tidy.metric == "AP")].iloc[0]
    assert row.ci_low > 0 and row.excludes_zero and row.ci_low < row.difference < row.ci_high
    assert row.p_adjusted < 0.05 and row.p_adjusted >= row.p_value
    assert "]*" in layout.markdown() and "BCa bootstrap interval" in layout.markdown()
    assert "Holm" in layout.markdown()
    tidy, layout = tables.coco_table(files, {"a": "A", "b": "B"}, 0.0, "pycocotools")
    ap = tidy[(tidy.model == "a") & (tidy.category == "all") & (tidy.metric == "AP")].iloc[0]
    assert ap.ci_low < ap.value < ap.ci_high
    assert f"{100 * ap.value:.1f} [{100 * ap.ci_low:.1f}, {100 * ap.ci_high:.1f}]" in layout.markdown()
