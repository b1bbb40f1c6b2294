"""Per-image results and slices (issue 22), held against pycocotools' own per-image matching and AP."""

from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pandas as pd
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from segshift import config as segshift_config
from segshift import manifest, masks, slices
from segshift.config import ConfigError
from segshift.datasets import cityscapes as cityscapes_data
from segshift.evaluation import bootstrap, coco, per_image


@pytest.fixture(scope="module")
def case(shared_data):
    """The 79 real COCO images and their real masks, made into predictions of every kind: exact, shifted
    (IoU between 0.5 and 1, some under 0.75 or 0.5), wrong class, missed; scores random."""
    gt = json.loads((shared_data / "coco/annotations/instances_val2017.json").read_text())
    rng = np.random.default_rng(22)
    sizes = {im["id"]: (im["height"], im["width"]) for im in gt["images"]}
    with contextlib.redirect_stdout(io.StringIO()):
        index = COCO()
        index.dataset = copy.deepcopy(gt)
        index.createIndex()
    rows = []
    for a in gt["annotations"]:
        if a["iscrowd"] or rng.random() < 0.2:  # a fifth missed
            continue
        mask = index.annToMask(a).astype(bool)
        shift = int(rng.integers(0, max(2, int(a["bbox"][2] * 0.4))))
        mask = np.roll(mask, shift, axis=1)
        category = a["category_id"] if rng.random() > 0.15 else int(rng.choice([1, 3, 62]))
        if not mask.any():
            continue
        rle = masks.encode(mask[None])[0]
        h, w = sizes[a["image_id"]]
        rows.append({"image_id": a["image_id"], "category_id": category, "score": np.float32(rng.random()),
                     "bbox": masks.to_bbox([rle])[0].astype(np.float32), "counts": rle["counts"], "height": h,
                     "width": w})
    frame = pd.DataFrame(rows)
    ids = sorted(sizes)
    classes = sorted(c["id"] for c in gt["categories"])
    return gt, frame, ids, classes


def pycocotools_evaluator(gt, frame, ids, classes):
    with contextlib.redirect_stdout(io.StringIO()):
        index = COCO()
        index.dataset = copy.deepcopy(gt)
        index.createIndex()
        from segshift import predictions

        evaluator = COCOeval(index, index.loadRes(predictions.to_coco_results(frame, "segm")), "segm")
        evaluator.params.imgIds, evaluator.params.catIds = ids, classes
        evaluator.evaluate()
    return evaluator


def test_per_image_counts_are_cocos_matching_and_sum_to_its_totals(case):
    gt, frame, ids, classes = case
    ours = per_image.counts(gt, frame, ids, classes, engine="hotcoco")
    # The library's per-image output, read the same way from pycocotools: the same table.
    pd.testing.assert_frame_equal(ours, per_image.counts(gt, frame, ids, classes, engine="pycocotools"))
    # Totals counted here from pycocotools' evalImgs (every area, IoU 0.5 and 0.75), and its IoUs.
    evaluator = pycocotools_evaluator(gt, frame, ids, classes)
    totals = {"true_positives_50": 0, "false_positives_50": 0, "true_positives_75": 0, "false_positives_75": 0,
              "ground_truth": 0}
    matched_ious = {}
    for cell in evaluator.evalImgs:
        if cell is None or cell["aRng"] != evaluator.params.areaRng[0]:
            continue
        totals["ground_truth"] += int((~np.asarray(cell["gtIgnore"], dtype=bool)).sum())
        for t, suffix in ((0, "50"), (5, "75")):
            counted = ~cell["dtIgnore"][t]
            totals[f"true_positives_{suffix}"] += int(((cell["dtMatches"][t] > 0) & counted).sum())
            totals[f"false_positives_{suffix}"] += int(((cell["dtMatches"][t] == 0) & counted).sum())
        # computeIoU's rows: detections by score, as dtIds; columns: ground truth in _gts order.
        ious = evaluator.ious[(cell["image_id"], cell["category_id"])]
        columns = {a["id"]: k for k, a in enumerate(evaluator._gts[cell["image_id"], cell["category_id"]])}
        for d, g in enumerate(cell["dtMatches"][0]):
            if g > 0 and not cell["dtIgnore"][0][d]:
                matched_ious.setdefault(cell["image_id"], []).append(ious[d, columns[int(g)]])
    for key, total in totals.items():
        assert ours[key].sum() == total, key
    assert (ours.misses_50 == ours.ground_truth - ours.true_positives_50).all()
    assert ours.true_positives_50.sum() > ours.true_positives_75.sum() > 0 and ours.false_positives_50.sum() > 0
    expected = pd.Series({i: np.mean(v) for i, v in matched_ious.items()}).reindex(ids).to_numpy()
    np.testing.assert_allclose(ours.mean_matched_iou_50.to_numpy(), expected, rtol=0, atol=1e-9)
    assert (ours.mean_matched_iou_50.dropna() < 1).any()


def test_a_slices_ap_is_the_same_ruler_on_its_images_alone(case, tmp_path):
    gt, frame, ids, classes = case
    pairs = bootstrap.coco_pairs(gt, frame, ids, "segm", classes)
    names = {c["id"]: c["name"] for c in gt["categories"]}
    slices.write_matches(tmp_path / "m.npz", bootstrap.match(pairs), pairs.images, [names[c] for c in classes])
    images = pd.DataFrame({"image_id": ids, "file_name": [f"{i}.jpg" for i in ids],
                           "part": ["a" if k % 3 else "b" for k in range(len(ids))]})
    resampling = {"resamples": 50, "seed": 0, "confidence": 0.95, "min_images": 10}
    table = slices.table({"m": tmp_path / "m.npz"}, images, ["part"], domain="d", resampling=resampling)
    for part in ("a", "b"):
        alone = sorted(images.loc[images.part == part, "image_id"])
        reference = coco.evaluate(gt, frame, alone, engine="pycocotools", iou_types=("segm",), category_ids=classes)
        row = table[(table.slice == part)].set_index("metric")
        for metric in slices.METRICS:
            assert row.at[metric, "value"] == pytest.approx(reference["segm"]["summary"][metric], abs=1e-12), (part, metric)
        assert row.at["AP", "images"] == len(alone)
        assert row.at["AP", "ci_low"] <= row.at["AP", "value"] <= row.at["AP", "ci_high"]
        assert row.at["AP", "ci_low"] < row.at["AP", "ci_high"]


def test_a_slice_field_the_manifest_lacks_stops_at_start_up():
    config = {
        "datasets": {"coco_val2017": {"kind": "coco", "root": "/data/coco"},
                     "cs": {"kind": "cityscapes", "root": "/data/cs", "split": "train"}},
        "models": {"m": {"backend": "torchvision", "architecture": "maskrcnn_resnet50_fpn", "weights": {"path": "/w.pth"}}},
        "slices": {"cs": ["city", "weather"]},
    }
    with pytest.raises(ConfigError) as e:
        segshift_config.validate(config)
    message = str(e.value)
    assert "\n" not in message and "slices.cs" in message and "'weather'" in message and "city, sequence" in message
    config["slices"] = {"cs": ["city", "sequence"]}
    segshift_config.validate(config)


def test_cityscapes_manifest_carries_city_and_sequence(shared_data, tmp_path):
    root = shared_data / "cityscapes"
    cityscapes_data.convert(root / "leftImg8bit/val", root / "gtFine/val", tmp_path / "m.parquet", tmp_path / "gt.json",
                            dataset="cs")
    read = manifest.read(tmp_path / "m.parquet")
    assert read.slice_fields == ["city", "sequence"]
    assert read.images[["city", "sequence"]].values.tolist() == [["frankfurt", "frankfurt_000000"]]
