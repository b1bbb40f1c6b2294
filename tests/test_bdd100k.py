"""The BDD100K ins_seg reader on a fixture in BDD100K's own layout and encoding, made from a real
Cityscapes frame: the same objects re-encoded give the same ground truth and the same AP.

Layout and encoding follow the bdd100k toolkit (github.com/bdd100k/bdd100k): images/10k/{split}/<name>.jpg,
labels/ins_seg/bitmasks/{split}/<name>.png; a bitmask is RGBA, R the 1-based category over the leaf
categories of bdd100k/configs/ins_seg.toml, G truncated << 3 | occluded << 2 | crowd << 1 | ignored,
B and A the instance id (bdd100k/label/to_mask.py, set_instance_color).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from segshift import masks
from segshift.datasets import bdd100k, cityscapes
from segshift.errors import SegshiftError
from segshift.evaluation import coco

# Cityscapes label id -> BDD100K ins_seg category value.
TO_BDD = {24: 1, 25: 2, 26: 3, 27: 4, 28: 5, 31: 6, 32: 7, 33: 8}
FRAME = "aachen_000005_000019"


@pytest.fixture(scope="module")
def trees(shared_data, tmp_path_factory):
    """The real frame's Cityscapes ground truth, and the same objects as a BDD100K bitmask."""
    source = shared_data / "cityscapes_aachen"
    if not (source / "gtFine/train").is_dir():
        pytest.skip(f"the full-resolution train frames are not at {source}")
    out = tmp_path_factory.mktemp("bdd")
    cs = out / "cs"
    for sub, suffixes in (("leftImg8bit", ["_leftImg8bit.png"]), ("gtFine", ["_gtFine_instanceIds.png", "_gtFine_labelIds.png"])):
        (cs / sub / "train/aachen").mkdir(parents=True)
        for suffix in suffixes:
            (cs / sub / "train/aachen" / f"{FRAME}{suffix}").symlink_to(source / sub / "train/aachen" / f"{FRAME}{suffix}")
    cityscapes.convert(cs / "leftImg8bit/train", cs / "gtFine/train", out / "cs.parquet", out / "cs.json", dataset="cs")
    ids = np.array(Image.open(source / "gtFine/train/aachen" / f"{FRAME}_gtFine_instanceIds.png"))
    bitmask = np.zeros((*ids.shape, 4), dtype=np.uint8)
    next_id = 1
    for value in np.unique(ids).tolist():
        label = value // 1000 if value >= 1000 else value
        if label not in TO_BDD:
            continue
        regions = cityscapes.group_components(ids == value) if value < 1000 else [ids == value]
        for region in regions:  # a group region: one crowd instance per component, as the Cityscapes reader keeps it
            bitmask[region] = [TO_BDD[label], (1 << 1) if value < 1000 else 0, next_id >> 8, next_id & 255]
            next_id += 1
    root = out / "bdd"
    (root / bdd100k.image_subdir("val")).mkdir(parents=True)
    (root / bdd100k.bitmask_subdir("val")).mkdir(parents=True)
    Image.open(source / "leftImg8bit/train/aachen" / f"{FRAME}_leftImg8bit.png").convert("RGB").save(
        root / bdd100k.image_subdir("val") / "7d2f7975-e0c1c5a7.jpg", quality=90)
    Image.fromarray(bitmask, "RGBA").save(root / bdd100k.bitmask_subdir("val") / "7d2f7975-e0c1c5a7.png")
    bdd100k.convert(root / bdd100k.image_subdir("val"), root / bdd100k.bitmask_subdir("val"), out / "bdd.parquet",
                    out / "bdd.json", dataset="bdd")
    return out, root


def _key(a):
    return (a["category_id"], a["iscrowd"], a["area"], tuple(a["bbox"]))


def test_the_same_objects_give_the_same_ground_truth_and_ap(trees):
    out, _ = trees
    cs, bdd = (json.loads((out / f"{n}.json").read_text()) for n in ("cs", "bdd"))
    classes = coco.domain_classes(cs, "cityscapes")
    shared = coco.shared_class_ground_truth(cs, "cityscapes", classes)
    ours = sorted(bdd["annotations"], key=_key)
    theirs = sorted(shared["annotations"], key=_key)
    assert [_key(a) for a in ours] == [_key(a) for a in theirs] and len(ours) == 27
    for a, b in zip(ours, theirs):
        assert (masks.decode([a["segmentation"]]) == masks.decode([b["segmentation"]])).all()
    assert {a["category_id"] for a in ours} == {1, 3, 4}  # persons and riders as person, cars, motorcycles
    # The same predictions (the ground truth shifted, so some miss) score the same on both.
    rng = np.random.default_rng(0)
    rows = []
    for a in theirs:
        if a["iscrowd"]:
            continue
        mask = np.roll(masks.decode([a["segmentation"]])[0].astype(bool), int(rng.integers(0, 12)), axis=1)
        rle = masks.encode(mask[None])[0]
        rows.append({"image_id": 1, "category_id": a["category_id"], "score": np.float32(rng.random()),
                     "bbox": masks.to_bbox([rle])[0].astype(np.float32), "counts": rle["counts"], "height": 1024,
                     "width": 2048})
    frame = pd.DataFrame(rows)
    bdd_classes = coco.domain_classes(bdd, "bdd100k")
    on_bdd = coco.same_ruler(bdd, "bdd100k", frame, [1], "pycocotools", bdd_classes)["segm"]["summary"]
    on_cs = coco.same_ruler(cs, "cityscapes", frame, [1], "pycocotools", classes)["segm"]["summary"]
    assert on_bdd["AP"] == pytest.approx(on_cs["AP"], abs=1e-12) and 0.2 < on_bdd["AP"] < 1


def test_an_unknown_category_value_is_one_line_naming_the_file(trees, tmp_path):
    _, root = trees
    bitmask = np.array(Image.open(root / bdd100k.bitmask_subdir("val") / "7d2f7975-e0c1c5a7.png"))
    bitmask[0, 0] = [9, 0, 0, 99]
    bad = tmp_path / "bitmasks"
    bad.mkdir()
    Image.fromarray(bitmask, "RGBA").save(bad / "7d2f7975-e0c1c5a7.png")
    with pytest.raises(SegshiftError) as e:
        bdd100k.convert(root / bdd100k.image_subdir("val"), bad, tmp_path / "m.parquet", tmp_path / "g.json", dataset="bdd")
    message = str(e.value)
    assert "\n" not in message and str(bad / "7d2f7975-e0c1c5a7.png") in message and "category value 9" in message
    assert not (tmp_path / "m.parquet").exists() and not (tmp_path / "g.json").exists()
