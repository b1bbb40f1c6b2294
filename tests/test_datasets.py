"""Dataset preparation: the Cityscapes converter against cityscapesscripts, and the COCO manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cityscapesscripts.evaluation.instances2dict import instances2dict
from PIL import Image

from segshift import manifest, masks
from segshift.categories import CITYSCAPES_ID_TO_NAME
from segshift.datasets import cityscapes, coco
from segshift.errors import SegshiftError


def make_cityscapes_frame(root: Path, city: str, frame: str, instance_ids: np.ndarray) -> None:
    """A Cityscapes-format frame: leftImg8bit image plus gtFine instanceIds and labelIds PNGs."""
    h, w = instance_ids.shape
    image_dir = root / "leftImg8bit" / "val" / city
    gt_dir = root / "gtFine" / "val" / city
    image_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(image_dir / f"{frame}_leftImg8bit.png")
    Image.fromarray(instance_ids.astype(np.uint16)).save(gt_dir / f"{frame}_gtFine_instanceIds.png")
    label_ids = np.where(instance_ids >= 1000, instance_ids // 1000, instance_ids).astype(np.uint8)
    Image.fromarray(label_ids).save(gt_dir / f"{frame}_gtFine_labelIds.png")


def synthetic_instance_ids() -> np.ndarray:
    ids = np.full((64, 96), 7, dtype=np.int32)  # road
    ids[:4] = 0  # unlabeled (void)
    ids[10:30, 5:20] = 26000  # car 0
    ids[10:30, 20:40] = 26001  # car 1
    ids[40:60, 5:15] = 24000  # person
    ids[40:60, 15:25] = 24  # a person group -> crowd
    ids[40:50, 30:40] = 25000  # rider
    ids[50:60, 30:40] = 33000  # bicycle
    ids[5:8, 60:62] = 27000  # a tiny truck (6 px)
    ids[30:40, 60:90] = 29000  # caravan: has instances but ignored in evaluation
    ids[45:60, 60:90] = 31000  # train
    ids[40:44, 45:55] = 26  # a car group
    return ids


def convert(root: Path, tmp_path: Path) -> tuple[dict, manifest.Manifest]:
    out = tmp_path / "out"
    cityscapes.convert(root / "leftImg8bit" / "val", root / "gtFine" / "val", out / "manifest.parquet", out / "gt.json",
                       dataset="cityscapes_val")
    return json.loads((out / "gt.json").read_text()), manifest.read(out / "manifest.parquet")


def assert_matches_cityscapesscripts(ground_truth: dict, gt_dir: Path) -> int:
    """Same instances, pixel counts, classes and crowd flags as cityscapesscripts' instances2dict."""
    checked = 0
    for image in ground_truth["images"]:
        path = gt_dir / image["instance_ids_file"]
        official = instances2dict([str(path)])[str(path.resolve())]
        expected = sorted(
            (inst["instID"], inst["labelID"], inst["pixelCount"], inst["instID"] < 1000)
            for name, insts in official.items()
            if name in CITYSCAPES_ID_TO_NAME.values()
            for inst in insts
        )
        ours = [a for a in ground_truth["annotations"] if a["image_id"] == image["id"]]
        # A group region is one crowd annotation per connected component: sum them up again.
        by_id = {}
        for a in ours:
            entry = by_id.setdefault(a["cityscapes_instance_id"], [a["category_id"], 0, bool(a["iscrowd"])])
            entry[1] += a["area"]
        got = sorted((k, *v) for k, v in by_id.items())
        assert got == expected
        pixels = np.array(Image.open(path))
        for a in ours:
            decoded = masks.decode([a["segmentation"]])[0]
            if a["iscrowd"]:
                assert (pixels[decoded] == a["cityscapes_instance_id"]).all()
            else:
                np.testing.assert_array_equal(decoded, pixels == a["cityscapes_instance_id"])
            assert a["area"] == decoded.sum()
            ys, xs = np.nonzero(decoded)
            assert a["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            checked += 1
    return checked


def test_converter_agrees_with_cityscapesscripts_on_the_real_frame(shared_data, tmp_path):
    root = shared_data / "cityscapes"
    ground_truth, table = convert(root, tmp_path)
    assert assert_matches_cityscapesscripts(ground_truth, root / "gtFine" / "val") == 7
    assert [c["name"] for c in ground_truth["categories"]] == [
        "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"
    ]
    assert table.images.to_dict("records") == [
        {"image_id": 1, "file_name": "frankfurt/frankfurt_000000_000294_leftImg8bit.png", "width": 256, "height": 128,
         "city": "frankfurt", "sequence": "frankfurt_000000"}
    ]
    assert table.gt_dir == (root / "gtFine" / "val").resolve()


def test_converter_on_a_synthetic_tree_with_groups_and_ignored_classes(tmp_path):
    root = tmp_path / "cityscapes"
    ids = synthetic_instance_ids()
    make_cityscapes_frame(root, "lindau", "lindau_000001_000019", ids)
    make_cityscapes_frame(root, "frankfurt", "frankfurt_000000_000001", ids[::-1].copy())
    ground_truth, table = convert(root, tmp_path)
    assert assert_matches_cityscapesscripts(ground_truth, root / "gtFine" / "val") == 2 * 9
    # Frames are sorted by file name and numbered from 1.
    assert list(table.images["file_name"]) == [
        "frankfurt/frankfurt_000000_000001_leftImg8bit.png",
        "lindau/lindau_000001_000019_leftImg8bit.png",
    ]
    assert list(table.images["image_id"]) == [1, 2]
    crowd = [a for a in ground_truth["annotations"] if a["iscrowd"]]
    assert sorted(a["category_id"] for a in crowd) == [24, 24, 26, 26]
    assert not any(a["category_id"] == 29 for a in ground_truth["annotations"])  # caravan is not evaluated


def test_converter_names_a_missing_ground_truth_file(tmp_path):
    root = tmp_path / "cityscapes"
    make_cityscapes_frame(root, "lindau", "lindau_000001_000019", synthetic_instance_ids())
    missing = root / "gtFine" / "val" / "lindau" / "lindau_000001_000019_gtFine_instanceIds.png"
    missing.unlink()
    with pytest.raises(SegshiftError, match=str(missing)):
        convert(root, tmp_path)
    assert not (tmp_path / "out" / "gt.json").exists()


def test_coco_manifest_and_ground_truth(shared_data, tmp_path):
    annotations = shared_data / "coco" / "annotations" / "instances_val2017.json"
    n = coco.prepare(annotations, shared_data / "coco" / "val2017", tmp_path / "m.parquet", tmp_path / "gt.json", dataset="coco_val2017")
    assert n == 79
    table = manifest.read(tmp_path / "m.parquet")
    assert list(table.images.columns) == ["image_id", "file_name", "width", "height"]
    assert list(table.images["file_name"]) == sorted(table.images["file_name"])
    source = json.loads(annotations.read_text())
    assert {im["id"]: (im["width"], im["height"]) for im in source["images"]} == {
        r.image_id: (r.width, r.height) for r in table.images.itertuples()
    }
    assert (tmp_path / "gt.json").read_bytes() == annotations.read_bytes()


def test_truncated_coco_annotations_give_one_line_naming_the_file(shared_data, tmp_path):
    broken = tmp_path / "instances_val2017.json"
    broken.write_bytes((shared_data / "coco" / "annotations" / "instances_val2017.json").read_bytes()[:5000])
    with pytest.raises(SegshiftError) as e:
        coco.prepare(broken, shared_data / "coco" / "val2017", tmp_path / "m.parquet", tmp_path / "gt.json", dataset="coco_val2017")
    message = str(e.value)
    assert str(broken) in message and "truncated" in message and "\n" not in message
    assert not (tmp_path / "m.parquet").exists() and not (tmp_path / "gt.json").exists()


def test_missing_coco_image_is_named(shared_data, tmp_path):
    images = tmp_path / "val2017"
    shutil.copytree(shared_data / "coco" / "val2017", images)
    (images / "000000000139.jpg").unlink()
    with pytest.raises(SegshiftError, match="000000000139.jpg"):
        coco.prepare(
            shared_data / "coco" / "annotations" / "instances_val2017.json", images, tmp_path / "m.parquet", tmp_path / "gt.json",
            dataset="coco_val2017",
        )


def test_shards_cover_every_selected_image_exactly_once():
    for n_full in (1, 7, 79, 100, 5000):
        for per_shard in (1, 3, 40, 50, 100, 7000):
            for n_selected in {1, n_full // 2 or 1, n_full}:
                seen = []
                for shard in manifest.shards_needed(n_selected, per_shard):
                    rows = manifest.shard_rows(shard, per_shard, n_selected)
                    assert shard < manifest.num_shards(n_full, per_shard)
                    seen += list(range(n_selected))[rows]
                assert seen == list(range(n_selected))


def test_a_quick_run_shares_its_first_shards_with_the_full_run():
    full = {s: manifest.shard_rows(s, 50, 5000) for s in manifest.shards_needed(5000, 50)}
    quick = {s: manifest.shard_rows(s, 50, 120) for s in manifest.shards_needed(120, 50)}
    assert quick[0] == full[0] and quick[1] == full[1]
    assert quick[2] != full[2]  # the partial last shard differs, and its image count says so
    assert manifest.shard_name(2, manifest.num_shards(5000, 50)) == "shard-00002-of-00100"


def two_person_groups(tmp_path):
    """Person groups at the left and right edges of a 512 px wide frame, and one person between them."""
    ids = np.zeros((160, 512), dtype=np.uint16)
    ids[100:140, 0:20] = 24
    ids[100:140, 492:512] = 24
    ids[20:80, 200:240] = 24000
    root = tmp_path / "cityscapes"
    make_cityscapes_frame(root, "lindau", "lindau_000001_000019", ids)
    ground_truth, _ = convert(root, tmp_path)
    return ids, root, ground_truth


def test_each_group_component_is_its_own_crowd_region(tmp_path):
    """Two person groups at the two edges of a frame are two crowd regions, not one box over the frame."""
    ids, root, ground_truth = two_person_groups(tmp_path)
    crowd = sorted(a["bbox"] for a in ground_truth["annotations"] if a["iscrowd"])
    assert crowd == [[0, 100, 20, 40], [492, 100, 20, 40]]
    assert assert_matches_cityscapesscripts(ground_truth, root / "gtFine" / "val") == 3


def test_a_false_positive_between_groups_counts_for_boxes_as_for_masks(tmp_path):
    from segshift.evaluation import coco as coco_eval

    ids, _, ground_truth = two_person_groups(tmp_path)
    person = masks.encode((ids == 24000)[None])[0]
    fp = np.zeros_like(ids, dtype=bool)
    fp[100:140, 300:320] = True  # 280 px from either group
    fp_rle = masks.encode(fp[None])[0]
    frame = pd.DataFrame({
        "image_id": [1, 1], "category_id": [1, 1], "score": np.array([0.9, 0.95], dtype=np.float32),
        "bbox": [np.array([200, 20, 40, 60], np.float32), np.array([300, 100, 20, 40], np.float32)],
        "counts": [person["counts"], fp_rle["counts"]], "height": [160, 160], "width": [512, 512],
    })
    result = coco_eval.same_ruler(ground_truth, "cityscapes", frame, [1], "pycocotools", [1, 2, 3, 4, 6, 7, 8])
    bbox, segm = (result[k]["per_class"]["person"]["AP"] for k in ("bbox", "segm"))
    assert bbox == pytest.approx(segm) and bbox < 0.6  # the false positive is not swallowed by a crowd box


def test_ignore_regions_leave_out_a_detection_on_the_ego_vehicle_only_when_asked(tmp_path):
    from segshift.evaluation import coco as coco_eval

    ids = np.full((128, 256), 7, dtype=np.uint16)  # road
    ids[100:, :] = 1  # ego vehicle
    ids[20:80, 100:140] = 26000  # a car
    root = tmp_path / "cityscapes"
    make_cityscapes_frame(root, "lindau", "lindau_000001_000019", ids)
    ground_truth, _ = convert(root, tmp_path)
    region = masks.decode([ground_truth["images"][0]["ignore_regions"]])[0]
    np.testing.assert_array_equal(region, ids == 1)
    car = ids == 26000
    on_ego = np.zeros_like(car)
    on_ego[105:125, 20:80] = True
    frame = pd.DataFrame({
        "image_id": [1, 1], "category_id": [3, 3], "score": np.array([0.8, 0.9], dtype=np.float32),
        "bbox": [np.array([100, 20, 40, 60], np.float32), np.array([20, 105, 60, 20], np.float32)],
        "counts": [masks.encode(m[None])[0]["counts"] for m in (car, on_ego)], "height": [128, 128], "width": [256, 256],
    })
    shared = [1, 2, 3, 4, 6, 7, 8]
    plain = coco_eval.same_ruler(ground_truth, "cityscapes", frame, [1], "pycocotools", shared)
    ignoring = coco_eval.same_ruler(ground_truth, "cityscapes", frame, [1], "pycocotools", shared, ignore_regions=True)
    for kind in ("bbox", "segm"):
        assert plain[kind]["per_class"]["car"]["AP"] < 0.6  # the false positive on the bonnet ranks first
        assert ignoring[kind]["per_class"]["car"]["AP"] == pytest.approx(1.0)
        assert ignoring[kind]["ignored_detections"] == 1
