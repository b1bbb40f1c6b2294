"""Metrics against the official evaluators on the same inputs: pycocotools and cityscapesscripts."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import multiprocessing
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import cityscapes_cases
from segshift import inference, masks, metrics, predictions
from segshift.backends import Instances
from segshift.errors import SegshiftError
from segshift.datasets import cityscapes as cityscapes_data
from segshift.evaluation import cityscapes, cityscapes_fast, coco

CLASS_MAPPING = {n: n for n in ["person", "bicycle", "car", "motorcycle", "bus", "train", "truck"]}


def pycocotools_stats(gt_dict: dict, results: list[dict], iou_type: str, image_ids, category_ids=None):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(gt_dict)
        gt.createIndex()
        dt = gt.loadRes(copy.deepcopy(results)) if results else None
        if dt is None:
            return None
        evaluator = COCOeval(gt, dt, iou_type)
        evaluator.params.imgIds = sorted(image_ids)
        if category_ids is not None:
            evaluator.params.catIds = category_ids
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def assert_engines_agree(gt: dict, frame: pd.DataFrame, image_ids, category_ids=None):
    ours = {e: coco.evaluate(gt, frame, image_ids, engine=e, category_ids=category_ids, pr_curves=True) for e in coco.ENGINES}
    for iou_type in coco.IOU_TYPES:
        reference = ours["pycocotools"][iou_type]
        for engine in set(coco.ENGINES) - {"pycocotools"}:
            fast = ours[engine][iou_type]
            for a, b in [(fast["summary"], reference["summary"])] + [
                (fast["per_class"][c], reference["per_class"][c]) for c in reference["per_class"]
            ]:
                for key in b:
                    np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-12, err_msg=f"{engine} {key}")
            for curve in ("precision_iou50", "precision_mean"):
                np.testing.assert_allclose(
                    [v[curve] for v in fast["pr_curves"]["classes"].values()],
                    [v[curve] for v in reference["pr_curves"]["classes"].values()], atol=1e-12, err_msg=engine,
                )
        # Our pycocotools path is pycocotools itself on the same results.
        direct = pycocotools_stats(gt, predictions.to_coco_results(frame[frame.image_id.isin(image_ids)], iou_type),
                                   iou_type, image_ids, category_ids)
        if direct is not None:
            expected = [np.nan if s < 0 else s for s in direct.stats[:6]]
            np.testing.assert_allclose(list(reference["summary"].values()), expected, atol=0)
    return ours


def test_engines_agree_on_the_real_model_and_images(coco_run):
    shards, gt_path = coco_run
    frame, meta = predictions.read(shards)
    gt = json.loads(gt_path.read_text())
    ours = assert_engines_agree(gt, frame, predictions.covered_images(meta))
    assert ours["hotcoco"]["bbox"]["summary"]["AP"] > 0.3  # a real model on real images


def generated_coco(seed: int):
    """Ground truth with crowds and empty images, and detections that miss some images entirely."""
    rng = np.random.default_rng(seed)
    images, annotations, rows = [], [], []
    categories = [{"id": i, "name": f"c{i}"} for i in (1, 2, 3, 5)]
    for image_id in range(1, 16):
        h, w = int(rng.integers(60, 200)), int(rng.integers(60, 200))
        images.append({"id": image_id, "width": w, "height": h, "file_name": f"{image_id}.jpg"})
        if image_id % 5 == 0:
            continue  # an image without ground truth
        for _ in range(int(rng.integers(1, 6))):
            mask = np.zeros((h, w), dtype=bool)
            y, x = int(rng.integers(0, h - 10)), int(rng.integers(0, w - 10))
            mask[y : y + int(rng.integers(5, h - y + 1)), x : x + int(rng.integers(5, w - x + 1))] = True
            rle = masks.encode(mask[None])[0]
            crowd = int(rng.random() < 0.15)
            cat = int(rng.choice([1, 2, 3, 5]))
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": cat, "iscrowd": crowd,
                                "segmentation": rle, "area": float(mask.sum()), "bbox": masks.to_bbox([rle])[0].tolist()})
            if image_id % 4 == 0:
                continue  # an image with no detections
            for _ in range(int(rng.integers(0, 3))):
                moved = np.roll(mask, (int(rng.integers(-6, 7)), int(rng.integers(-6, 7))), (0, 1))
                rle = masks.encode(moved[None])[0]
                box = masks.to_bbox([rle])[0].astype(np.float32)
                rows.append({"image_id": image_id, "category_id": cat if rng.random() > 0.2 else int(rng.choice([1, 2, 3, 5])),
                             "score": float(np.float32(rng.random())), "bbox": box + rng.normal(0, 1, 4).astype(np.float32),
                             "counts": rle["counts"], "height": h, "width": w})
    gt = {"images": images, "annotations": annotations, "categories": categories}
    return gt, pd.DataFrame(rows), [im["id"] for im in images]


@pytest.mark.parametrize("seed", range(6))
def test_engines_agree_on_generated_sets(seed):
    gt, frame, image_ids = generated_coco(seed)
    assert_engines_agree(gt, frame, image_ids)
    assert_engines_agree(gt, frame, image_ids[:7], category_ids=[1, 3])


def test_engines_agree_without_any_detection():
    gt, frame, image_ids = generated_coco(0)
    for engine in coco.ENGINES:
        result = coco.evaluate(gt, frame.iloc[:0], image_ids, engine=engine)
        assert result["segm"]["summary"]["AP"] == 0.0


def gt_as_predictions(gt: dict) -> pd.DataFrame:
    rows = []
    sizes = {im["id"]: (im["height"], im["width"]) for im in gt["images"]}
    with contextlib.redirect_stdout(io.StringIO()):
        index = COCO()
        index.dataset = copy.deepcopy(gt)
        index.createIndex()
    for a in gt["annotations"]:
        if a["iscrowd"]:
            continue
        rle = index.annToRLE(a)
        counts = rle["counts"].decode() if isinstance(rle["counts"], bytes) else rle["counts"]
        h, w = sizes[a["image_id"]]
        rows.append({"image_id": a["image_id"], "category_id": a["category_id"], "score": 1.0,
                     "bbox": np.asarray(a["bbox"], dtype=np.float32), "counts": counts, "height": h, "width": w})
    return pd.DataFrame(rows)


def test_ground_truth_as_predictions_scores_one_on_coco(shared_data):
    gt = json.loads((shared_data / "coco/annotations/instances_val2017.json").read_text())
    frame = gt_as_predictions(gt)
    for engine in coco.ENGINES:
        result = coco.evaluate(gt, frame, [im["id"] for im in gt["images"]], engine=engine)
        for iou_type in ("bbox", "segm"):
            assert result[iou_type]["summary"]["AP"] == pytest.approx(1.0, abs=1e-12), (engine, iou_type)


# Cityscapes, official protocol --------------------------------------------------------------------


def official_direct(frame: pd.DataFrame, images, gt_dir: Path, workdir: Path) -> dict:
    """cityscapesscripts' own entry point, evaluateImgLists, run in its own working directory
    (its JSON writer shimmed for numpy 2 integers, see segshift.evaluation.cityscapes)."""
    official = cityscapes._official_module()
    results = workdir / "results"
    pred_files = cityscapes.write_official_predictions(frame, images, results)
    args = cityscapes.official_args(workdir, results)
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            out = official.evaluateImgLists([str(p) for p in pred_files], [str(gt_dir / im.instance_ids_file) for im in images], args)
    finally:
        os.chdir(cwd)
    return out["averages"]


def assert_same_numbers(ours: dict, theirs: dict, tolerance=1e-9):
    for name in cityscapes.CLASS_NAMES:
        for ours_key, their_key in (("AP", "ap"), ("AP50", "ap50%")):
            a, b = ours["per_class"][name][ours_key], theirs["classes"][name][their_key]
            assert (np.isnan(a) and np.isnan(b)) or abs(a - b) <= tolerance, (name, ours_key, a, b)
    for ours_key, their_key in (("AP", "allAp"), ("AP50", "allAp50%")):
        a, b = ours["mean"][ours_key], theirs[their_key]
        assert (np.isnan(a) and np.isnan(b)) or abs(a - b) <= tolerance


def real_cityscapes_predictions(shared_data, yolo_weights, tmp_path):
    out = tmp_path / "cs"
    cityscapes_data.convert(shared_data / "cityscapes/leftImg8bit/val", shared_data / "cityscapes/gtFine/val",
                            out / "manifest.parquet", out / "gt.json", dataset="cityscapes_val")
    job = inference.ShardJob(manifest=out / "manifest.parquet", shard=0, images_per_shard=1, num_images=1,
                             model="yolov8n_seg", backend="yolo_seg_export", settings={}, weights=yolo_weights,
                             weights_sha256=None, output=out / "s.parquet")
    inference.run_shard(job)
    return out


@pytest.mark.parametrize("policy", cityscapes.RIDER_POLICIES)
def test_cityscapes_stage_equals_the_official_evaluator_on_the_real_frame(shared_data, yolo_weights, tmp_path, policy):
    out = real_cityscapes_predictions(shared_data, yolo_weights, tmp_path)
    for engine in cityscapes.ENGINES:
        result, _ = metrics.cityscapes_metrics([out / "s.parquet"], out / "gt.json", out / "manifest.parquet", engine=engine,
                                            score_threshold=0.0, class_mapping=CLASS_MAPPING, rider_policy=policy)
        frame, _ = predictions.read([out / "s.parquet"])
        mapped, _ = cityscapes.to_cityscapes(frame, CLASS_MAPPING, policy)
        gt = json.loads((out / "gt.json").read_text())
        workdir = tmp_path / f"direct-{engine}"
        workdir.mkdir()
        theirs = official_direct(mapped, cityscapes.ground_truth_images(gt, [1]), shared_data / "cityscapes/gtFine/val", workdir)
        ours = {"per_class": {k: {m: np.nan if v is None else v for m, v in d.items()} for k, d in result["results"]["per_class"].items()},
                "mean": {k: np.nan if v is None else v for k, v in result["results"]["mean"].items()}}
        assert_same_numbers(ours, theirs)
        assert result["results"]["per_class"]["car"]["AP"] > 0  # the frame's two large cars are found


@pytest.fixture(scope="module")
def aachen_run(shared_data, yolo_weights, tmp_path_factory):
    """The 8 full-resolution Cityscapes train frames (split: train) and YOLOv8n-seg's predictions on them."""
    root = shared_data / "cityscapes_aachen"
    if not (root / "gtFine/train").is_dir():
        pytest.skip(f"the full-resolution train frames are not at {root}")
    out = tmp_path_factory.mktemp("aachen")
    cityscapes_data.convert(root / cityscapes_data.image_subdir("train"), root / cityscapes_data.gt_subdir("train"),
                            out / "manifest.parquet", out / "gt.json", dataset="cityscapes_aachen")
    job = inference.ShardJob(manifest=out / "manifest.parquet", shard=0, images_per_shard=8, num_images=8,
                             model="yolov8n_seg", backend="yolo_seg_export", settings={}, weights=yolo_weights,
                             weights_sha256=None, output=out / "s.parquet", threads=2)
    inference.run_shard(job)
    return out, root / "gtFine/train"


def test_the_train_split_official_protocol_equals_cityscapesscripts_run_directly(aachen_run, tmp_path):
    out, gt_dir = aachen_run
    gt = json.loads((out / "gt.json").read_text())
    ids = [im["id"] for im in gt["images"]]
    assert len(ids) == 8 and {(im["width"], im["height"]) for im in gt["images"]} == {(2048, 1024)}
    policy = "two_wheeler"  # the frames hold 2 riders: a policy that can find them
    frame, _ = predictions.read([out / "s.parquet"])
    mapped, _ = cityscapes.to_cityscapes(frame, CLASS_MAPPING, policy)
    theirs = official_direct(mapped, cityscapes.ground_truth_images(gt, ids), gt_dir, tmp_path)
    # The default engine; the official one is cityscapesscripts itself (its val test checks both).
    result, _ = metrics.cityscapes_metrics([out / "s.parquet"], out / "gt.json", out / "manifest.parquet", engine="segshift",
                                           score_threshold=0.0, class_mapping=CLASS_MAPPING, rider_policy=policy)
    ours = {"per_class": {k: {m: np.nan if v is None else v for m, v in d.items()}
                          for k, d in result["results"]["per_class"].items()},
            "mean": {k: np.nan if v is None else v for k, v in result["results"]["mean"].items()}}
    assert_same_numbers(ours, theirs)
    assert theirs["classes"]["car"]["ap"] > 0.05 and theirs["classes"]["person"]["ap"] > 0  # real objects are found


def test_the_train_split_same_ruler_equals_pycocotools_on_the_exported_json(aachen_run, tmp_path):
    out, _ = aachen_run
    result, _ = metrics.same_ruler_metrics([out / "s.parquet"], out / "gt.json", out / "gt.json", domain="cityscapes_aachen",
                                           kind="cityscapes", source="cityscapes_aachen", source_kind="cityscapes",
                                           engine="hotcoco", score_threshold=0.0)
    frame, metadata = predictions.read([out / "s.parquet"])
    gt = json.loads((out / "gt.json").read_text())
    classes = coco.domain_classes(gt, "cityscapes")
    shared = coco.shared_class_ground_truth(gt, "cityscapes", classes)
    exported = tmp_path / "results.json"
    exported.write_text(json.dumps(predictions.to_coco_results(frame[frame.category_id.isin(classes)], "segm")))
    with contextlib.redirect_stdout(io.StringIO()):
        index = COCO()
        index.dataset = shared
        index.createIndex()
        evaluator = COCOeval(index, index.loadRes(str(exported)), "segm")
        evaluator.params.imgIds = predictions.covered_images(metadata)
        evaluator.params.catIds = classes
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    summary = result["results"]["segm"]["summary"]
    for k, name in enumerate(("AP", "AP50", "AP75")):
        assert summary[name] == pytest.approx(evaluator.stats[k], abs=1e-9), name
    assert summary["AP"] > 0


def test_a_mask_of_the_wrong_size_is_a_one_line_error_naming_file_image_and_sizes(shared_data, yolo_weights, tmp_path):
    out = real_cityscapes_predictions(shared_data, yolo_weights, tmp_path)
    frame, metadata = predictions.read([out / "s.parquet"])
    transposed = frame.assign(height=frame["width"], width=frame["height"])
    results = [(1, Instances(category_id=transposed.category_id.to_numpy(), score=transposed.score.to_numpy(),
                             bbox=np.stack(transposed.bbox), segmentation=[predictions.rle(r) for r in transposed.itertuples()]))]
    predictions.write(out / "bad.parquet", results, metadata[0])
    for call in (
        lambda: metrics.cityscapes_metrics([out / "bad.parquet"], out / "gt.json", out / "manifest.parquet", engine="segshift",
                                           score_threshold=0.0, class_mapping=CLASS_MAPPING, rider_policy="none"),
        lambda: metrics.same_ruler_metrics([out / "bad.parquet"], out / "gt.json", out / "gt.json", domain="c",
                                           kind="cityscapes", source="c", source_kind="cityscapes", engine="hotcoco",
                                           score_threshold=0.0),
    ):
        with pytest.raises(SegshiftError) as e:
            call()
        message = str(e.value)
        assert "\n" not in message and str(out / "bad.parquet") in message
        assert "frankfurt_000000_000294_leftImg8bit.png" in message and "128x256 mask" in message and "256x128" in message


def detections(*items, size=(100, 100)) -> pd.DataFrame:
    """(category_id, score, mask) rows of one image as predictions.read's frame."""
    rows = []
    for category_id, score, mask in items:
        rle = masks.encode(mask[None])[0]
        ys, xs = np.nonzero(mask)
        box = np.array([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], np.float32)
        rows.append({"image_id": 1, "category_id": category_id, "score": np.float32(score), "bbox": box,
                     "counts": rle["counts"], "height": size[0], "width": size[1]})
    return pd.DataFrame(rows)


def region(rows: slice, cols: slice, size=(100, 100)) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    mask[rows, cols] = True
    return mask


def test_the_mask_rider_rule_tells_a_rider_from_a_pedestrian_beside_a_parked_bicycle():
    bicycle = region(slice(40, 80), slice(30, 70))
    rider = region(slice(10, 60), slice(40, 60))  # legs on the bicycle
    frame = detections((1, 0.9, rider), (2, 0.8, bicycle))
    mapped, counts = cityscapes.to_cityscapes(frame, CLASS_MAPPING, "two_wheeler_mask", rider_min_score=0.5)
    assert counts["riders"] == 1 and mapped.iloc[0]["label_id"] == 25

    # A parked bicycle drawn only by its wheels (lower right): its box covers the pedestrian's legs, its mask does not.
    parked = region(slice(60, 80), slice(35, 70)) | region(slice(40, 42), slice(10, 12))
    pedestrian = region(slice(10, 62), slice(15, 25))
    frame = detections((1, 0.9, pedestrian), (2, 0.8, parked))
    boxes, _ = cityscapes.to_cityscapes(frame, CLASS_MAPPING, "two_wheeler", rider_overlap=0.3, rider_min_score=0.5)
    assert boxes.iloc[0]["label_id"] == 25  # the box rule makes a rider of the pedestrian
    by_mask, counts = cityscapes.to_cityscapes(frame, CLASS_MAPPING, "two_wheeler_mask", rider_min_score=0.5)
    assert by_mask.iloc[0]["label_id"] == 24 and counts["riders"] == 0

    # A low-scoring bicycle makes no rider; nor does one under the person's upper half only.
    low = detections((1, 0.9, rider), (2, 0.2, bicycle))
    assert cityscapes.to_cityscapes(low, CLASS_MAPPING, "two_wheeler_mask", rider_min_score=0.5)[1]["riders"] == 0
    head = detections((1, 0.9, rider), (2, 0.8, region(slice(5, 30), slice(30, 70))))
    assert cityscapes.to_cityscapes(head, CLASS_MAPPING, "two_wheeler_mask", rider_min_score=0.5)[1]["riders"] == 0


@pytest.mark.parametrize("seed", range(12))
def test_fast_evaluator_equals_the_official_one_on_generated_cases(tmp_path, seed):
    frame, images, gt_dir = cityscapes_cases.make_case(tmp_path, seed, n_frames=1 + seed % 4)
    workdir = tmp_path / "work"
    workdir.mkdir()
    theirs_direct = None
    try:
        theirs_direct = official_direct(frame, images, gt_dir, workdir)
    except IndexError:
        pass  # cityscapesScripts issue #89; the wrapper below survives it
    official = cityscapes.evaluate_official(frame, images, gt_dir)
    fast = cityscapes_fast.evaluate(frame, images, gt_dir, workers=2)
    for name in cityscapes.CLASS_NAMES:
        for key in ("AP", "AP50"):
            a, b = fast["per_class"][name][key], official["per_class"][name][key]
            assert (np.isnan(a) and np.isnan(b)) or abs(a - b) <= 1e-9, (name, key, a, b)
    if theirs_direct is not None:
        assert_same_numbers(official, theirs_direct)


def issue_89_case(folder: Path):
    """A bus in the ground truth whose only predictions lie on void: all ignored, nothing matched."""
    ids = np.full((80, 120), 7, dtype=np.int32)
    ids[:, :40] = 0  # unlabeled: void
    ids[10:50, 60:110] = 28000  # a bus, 2000 px
    ids[60:70, 60:80] = 26000  # a car, 200 px
    images = cityscapes_cases.write_gt(folder, [ids])
    rows = []
    for label, region, score in ((28, (slice(5, 40), slice(0, 30)), 0.9), (28, (slice(45, 70), slice(5, 35)), 0.4),
                                 (26, (slice(60, 70), slice(60, 80)), 0.8)):
        mask = np.zeros(ids.shape, dtype=bool)
        mask[region] = True
        rle = masks.encode(mask[None])[0]
        rows.append({"image_id": 1, "label_id": label, "score": score, "counts": rle["counts"], "height": 80, "width": 120})
    return pd.DataFrame(rows), images, folder / "gtFine" / "val"


def test_issue_89_case_runs_and_scores_zero(tmp_path):
    frame, images, gt_dir = issue_89_case(tmp_path)
    workdir = tmp_path / "work"
    workdir.mkdir()
    with pytest.raises(IndexError):
        official_direct(frame, images, gt_dir, workdir)  # the crash, as reported upstream
    for result in (cityscapes.evaluate_official(frame, images, gt_dir), cityscapes_fast.evaluate(frame, images, gt_dir)):
        assert result["per_class"]["bus"] == {"AP": 0.0, "AP50": 0.0}
        assert result["per_class"]["car"]["AP"] == pytest.approx(1.0)
        assert np.isnan(result["per_class"]["person"]["AP"])


def test_ground_truth_as_predictions_scores_one_on_cityscapes(tmp_path):
    rng = np.random.default_rng(7)
    frames = [cityscapes_cases.make_frame(rng, (96, 160)) for _ in range(3)]
    images = cityscapes_cases.write_gt(tmp_path, frames)
    rows = []
    for image, ids in zip(images, frames):
        for value in np.unique(ids):
            if value >= 1000 and value // 1000 in cityscapes_cases.CLASS_IDS:
                rle = masks.encode((ids == value)[None])[0]
                rows.append({"image_id": image.image_id, "label_id": int(value // 1000), "score": 1.0,
                             "counts": rle["counts"], "height": 96, "width": 160})
    frame = pd.DataFrame(rows)
    for result in (cityscapes.evaluate_official(frame, images, tmp_path / "gtFine/val"),
                   cityscapes_fast.evaluate(frame, images, tmp_path / "gtFine/val")):
        present = [n for n in cityscapes.CLASS_NAMES if not np.isnan(result["per_class"][n]["AP"])]
        assert present
        for name in present:
            assert result["per_class"][name]["AP"] == pytest.approx(1.0)
        assert result["mean"]["AP"] == pytest.approx(1.0)


def _evaluate_in(folder: str, seed: int, queue):
    frame, images, gt_dir = cityscapes_cases.make_case(Path(folder), seed, n_frames=3)
    queue.put((seed, cityscapes.evaluate_official(frame, images, gt_dir)["mean"]))


def test_parallel_official_evaluations_in_one_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    alone = {}
    for seed in (1, 2):
        frame, images, gt_dir = cityscapes_cases.make_case(tmp_path / f"alone{seed}", seed, n_frames=3)
        alone[seed] = cityscapes.evaluate_official(frame, images, gt_dir)["mean"]
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_evaluate_in, args=(str(tmp_path / f"par{seed}"), seed, queue)) for seed in (1, 2)]
    for p in procs:
        p.start()
    together = dict(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join()
    assert together == alone
    assert not (tmp_path / "matches.json").exists()
    from cityscapesscripts.evaluation import evalInstanceLevelSemanticLabeling as official

    assert not (Path(official.__file__).parent / "gtInstances.json").exists()


def test_unmapped_and_unknown_classes_are_dropped_and_counted(caplog):
    rows = [
        {"image_id": 1, "category_id": 1, "score": 0.9, "bbox": np.array([0, 0, 10, 20], np.float32)},  # person
        {"image_id": 1, "category_id": 2, "score": 0.8, "bbox": np.array([0, 10, 10, 12], np.float32)},  # bicycle
        {"image_id": 1, "category_id": 15, "score": 0.7, "bbox": np.zeros(4, np.float32)},  # bench: not mapped
        {"image_id": 1, "category_id": 999, "score": 0.6, "bbox": np.zeros(4, np.float32)},  # not a COCO id
    ]
    frame = pd.DataFrame(rows)
    with caplog.at_level(logging.INFO):
        mapped, counts = cityscapes.to_cityscapes(frame, CLASS_MAPPING, "none")
    assert counts == {"predictions": 4, "unknown_category": 1, "unmapped": 1, "riders": 0}
    assert mapped["label_id"].tolist() == [24, 33]
    assert "dropped 1 predictions whose category id is not a COCO class" in caplog.text
    # two_wheeler: half of the person's box lies inside the bicycle's box.
    mapped, counts = cityscapes.to_cityscapes(frame, CLASS_MAPPING, "two_wheeler", rider_overlap=0.3, rider_min_score=0.5)
    assert mapped["label_id"].tolist() == [25, 33] and counts["riders"] == 1
    mapped, _ = cityscapes.to_cityscapes(frame, CLASS_MAPPING, "two_wheeler", rider_overlap=0.6, rider_min_score=0.5)
    assert mapped["label_id"].tolist() == [24, 33]
    mapped, _ = cityscapes.to_cityscapes(frame, CLASS_MAPPING, "two_wheeler", rider_overlap=0.3, rider_min_score=0.9)
    assert mapped["label_id"].tolist() == [24, 33]  # the bicycle scores too low to carry a rider


def test_metric_stage_logs_unknown_categories_and_records_provenance(coco_run, tmp_path, caplog):
    shards, gt_path = coco_run
    table = pd.concat([pd.read_parquet(s) for s in shards])
    assert len(table)
    with caplog.at_level(logging.INFO):
        result, _ = metrics.coco_metrics(shards, gt_path, engine="faster_coco_eval", score_threshold=0.25,
                                      domain="coco_val2017")
    assert [p["file"] for p in result["provenance"]["predictions"]] == [str(s) for s in shards]
    assert result["provenance"]["settings"] == {"engine": "faster_coco_eval", "score_threshold": 0.25}
    assert result["counts"]["below_score_threshold"] > 0 and result["counts"]["images"] == 79
    assert result["provenance"]["predictions"][0]["weights_sha256"].startswith("831c989a")


def test_relative_size_buckets_equal_pycocotools_with_areas_scaled_per_image(coco_run):
    """APs/APm/APl by the share of the image an object covers: pycocotools with each image's areas
    scaled by 640*480 / (its width * height) is the reference."""
    shards, gt_path = coco_run
    frame, meta = predictions.read(shards)
    gt = json.loads(gt_path.read_text())
    ids = predictions.covered_images(meta)
    shared = [1, 2, 3, 4, 6, 7, 8]
    ours = coco.same_ruler(gt, "coco", frame, ids, "hotcoco", shared)
    scale = {im["id"]: 640 * 480 / (im["width"] * im["height"]) for im in gt["images"]}
    assert len({round(v, 6) for v in scale.values()}) > 3  # images of several sizes: the buckets really move
    subset = coco.shared_class_ground_truth(gt, "coco", shared)
    for iou_type in ("bbox", "segm"):
        with contextlib.redirect_stdout(io.StringIO()):
            ref_gt = COCO()
            ref_gt.dataset = {**copy.deepcopy(subset), "annotations": [
                {**a, "area": a["area"] * scale[a["image_id"]]} for a in subset["annotations"]]}
            ref_gt.createIndex()
            dt = ref_gt.loadRes(predictions.to_coco_results(frame[frame.category_id.isin(shared)], iou_type))
            for a in dt.dataset["annotations"]:
                a["area"] *= scale[a["image_id"]]
            evaluator = COCOeval(ref_gt, dt, iou_type)
            evaluator.params.imgIds = sorted(ids)
            evaluator.params.catIds = shared
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        for k, key in ((3, "APs_rel"), (4, "APm_rel"), (5, "APl_rel")):
            expected = evaluator.stats[k]
            got = ours[iou_type]["summary"][key]
            assert (expected < 0 and np.isnan(got)) or got == pytest.approx(expected, abs=1e-12), (iou_type, key)
        assert ours[iou_type]["summary"]["AP"] != ours[iou_type]["summary"]["APs_rel"]
