"""The Parquet prediction cache: exact round trips and COCO results pycocotools accepts."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import pyarrow.parquet as pq
from pycocotools.coco import COCO

from segshift import masks, predictions
from segshift.backends import Instances


def random_instances(rng, n: int, height: int, width: int) -> Instances:
    binary = np.zeros((n, height, width), dtype=bool)
    for i in range(n):
        y, x = rng.integers(0, height - 2), rng.integers(0, width - 2)
        binary[i, y : y + rng.integers(1, height - y), x : x + rng.integers(1, width - x)] = True
        binary[i] &= rng.random((height, width)) > 0.2
    return Instances(
        category_id=rng.choice([1, 2, 3, 90], n).astype(np.int64),
        score=rng.random(n).astype(np.float32),
        bbox=rng.random((n, 4)).astype(np.float32) * 50,
        segmentation=masks.encode(binary),
    ), binary


def test_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(1)
    results, expected = [], {}
    for image_id, (h, w) in zip([3, 1, 7], [(40, 60), (33, 17), (128, 256)]):
        inst, binary = random_instances(rng, int(rng.integers(0, 6)), h, w)
        results.append((image_id, inst))
        expected[image_id] = (inst, binary)
    results.append((9, Instances(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros((0, 4), np.float32), [])))
    meta = {"model": "m", "image_ids": [3, 1, 7, 9], "skipped_images": []}
    predictions.write(tmp_path / "s.parquet", results, meta)

    frame, metadata = predictions.read([tmp_path / "s.parquet"])
    assert metadata == [meta]
    assert pq.read_schema(tmp_path / "s.parquet").remove_metadata().equals(predictions.SCHEMA)
    for image_id, (inst, binary) in expected.items():
        rows = frame[frame.image_id == image_id]
        np.testing.assert_array_equal(rows.category_id, inst.category_id)
        np.testing.assert_array_equal(rows.score, inst.score)
        np.testing.assert_array_equal(np.stack(rows.bbox) if len(rows) else np.zeros((0, 4)), inst.bbox)
        decoded = masks.decode([predictions.rle(r) for r in rows.itertuples()]) if len(rows) else np.zeros((0,) + binary.shape[1:])
        np.testing.assert_array_equal(decoded.reshape(binary.shape), binary)
    assert predictions.covered_images(metadata) == [3, 1, 7, 9]


def test_coco_results_are_accepted_by_pycocotools(tmp_path):
    rng = np.random.default_rng(2)
    inst, binary = random_instances(rng, 5, 30, 40)
    predictions.write(tmp_path / "s.parquet", [(1, inst)], {"image_ids": [1]})
    frame, _ = predictions.read([tmp_path / "s.parquet"])
    gt = COCO()
    gt.dataset = {
        "images": [{"id": 1, "width": 40, "height": 30}],
        "annotations": [],
        "categories": [{"id": c} for c in (1, 2, 3, 90)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        segm = gt.loadRes(predictions.to_coco_results(frame, "segm"))
        bbox = gt.loadRes(predictions.to_coco_results(frame, "bbox"))
        both = gt.loadRes(predictions.to_coco_results(frame))
    anns = segm.loadAnns(segm.getAnnIds())
    assert len(anns) == 5
    for ann, mask in zip(anns, binary):
        np.testing.assert_array_equal(segm.annToMask(ann).astype(bool), mask)
        assert ann["area"] == mask.sum()  # the mask's own area sets its size bucket
    for ann, box in zip(bbox.loadAnns(bbox.getAnnIds()), inst.bbox):
        assert ann["area"] == pytest.approx(float(box[2]) * float(box[3]))
    assert len(both.getAnnIds()) == 5


def test_skipped_images_are_not_covered():
    meta = [{"image_ids": [1, 2, 3], "skipped_images": [{"image_id": 2, "file_name": "b.jpg", "error": "x"}]}]
    assert predictions.covered_images(meta) == [1, 3]
