"""The ACDC reader on a fixture in ACDC's own layout and encoding, made from a real Cityscapes frame:
the same objects re-encoded give the same ground truth, and the same predictions the same AP, on the
same ruler and under the official Cityscapes protocol, as the Cityscapes original.

Layout: the README shipped with ACDC's packages (acdc.vision.ee.ethz.ch; "Dataset Structure" and
"Dataset Structure for detection and panoptic segmentation annotations"): rgb_anon/{condition}/{split}/
{sequence}/{sequence}_frame_{frame:06d}_rgb_anon.png, reference images in {split}_ref/ as
*_rgb_ref_anon.png, gt_panoptic/{condition}/{condition}_{split}_gt_panoptic.json with its PNGs in
gt_panoptic/{condition}/{split}/{sequence}/, the reference images' gt_panoptic/{split}_gt_ref_panoptic.json.
Encoding: COCO panoptic (an RGB PNG, segment id = R + 256 G + 256^2 B), the JSON's segments as
cityscapesscripts' preparation/createPanopticImgs.py writes them from *_instanceIds.png (segment id the
instanceIds value, category_id the Cityscapes label id, iscrowd for a group region, classes ignored in
evaluation left out); image_id <sequence>_frame_<frame>.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from segshift import manifest, masks
from segshift.datasets import acdc, cityscapes
from segshift.errors import SegshiftError
from segshift.evaluation import cityscapes as cs_eval
from segshift.evaluation import cityscapes_fast, coco

FRAME = "aachen_000005_000019"
SEQUENCE, NAME = "GOPR0475", "GOPR0475_frame_000041"


def panoptic(ids: np.ndarray) -> tuple[np.ndarray, list[dict]]:
    """createPanopticImgs.py's encoding of one instanceIds frame: the RGB PNG and its segments_info."""
    from cityscapesscripts.helpers.labels import id2label

    rgb = np.zeros((*ids.shape, 3), dtype=np.uint8)
    segments = []
    for segment_id in np.unique(ids).tolist():
        label = id2label[segment_id if segment_id < 1000 else segment_id // 1000]
        if label.ignoreInEval:
            continue
        mask = ids == segment_id
        rgb[mask] = [segment_id % 256, segment_id // 256, segment_id // 256 // 256]
        ys, xs = np.nonzero(mask)
        segments.append({"id": segment_id, "category_id": label.id, "area": int(mask.sum()),
                         "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)],
                         "iscrowd": int(segment_id < 1000 and label.hasInstances)})
    return rgb, segments


def write_acdc(root, source, condition: str, split: str, reference: bool, rgb, segments, extra_image: bool = False):
    folder = acdc.split_folder(split, reference)
    suffix, gt_suffix = ("_rgb_ref_anon.png", "_gt_ref_panoptic.png") if reference else ("_rgb_anon.png", "_gt_panoptic.png")
    images = acdc.condition_dir(root, condition, split, reference) / SEQUENCE
    images.mkdir(parents=True)
    (images / f"{NAME}{suffix}").symlink_to(source / "leftImg8bit/train/aachen" / f"{FRAME}_leftImg8bit.png")
    if extra_image:  # a reference image without ground truth: not part of the domain
        (images / f"{SEQUENCE}_frame_000042{suffix}").symlink_to(images / f"{NAME}{suffix}")
    masks_dir = acdc.panoptic_dir(root, condition, split, reference) / SEQUENCE
    masks_dir.mkdir(parents=True)
    Image.fromarray(rgb, "RGB").save(masks_dir / f"{NAME}{gt_suffix}", compress_level=1)
    from cityscapesscripts.helpers.labels import labels

    acdc.panoptic_json(root, condition, split, reference).parent.mkdir(parents=True, exist_ok=True)
    acdc.panoptic_json(root, condition, split, reference).write_text(json.dumps({
        "images": [{"id": NAME, "file_name": f"{condition}/{folder}/{SEQUENCE}/{NAME}{suffix}", "width": 2048, "height": 1024}],
        "annotations": [{"image_id": NAME, "file_name": f"{condition}/{folder}/{SEQUENCE}/{NAME}{gt_suffix}",
                         "segments_info": segments}],
        "categories": [{"id": l.id, "name": l.name, "color": list(l.color), "supercategory": l.category,
                        "isthing": int(l.hasInstances)} for l in labels if not l.ignoreInEval]}))


@pytest.fixture(scope="module")
def trees(shared_data, tmp_path_factory):
    """The real frame's Cityscapes ground truth, and the same objects as ACDC panoptic ground truth of a
    fog frame and of a reference frame."""
    source = shared_data / "cityscapes_aachen"
    if not (source / "gtFine/train").is_dir():
        pytest.skip(f"the full-resolution train frames are not at {source}")
    out = tmp_path_factory.mktemp("acdc")
    cs = out / "cs"
    for sub, suffixes in (("leftImg8bit", ["_leftImg8bit.png"]), ("gtFine", ["_gtFine_instanceIds.png", "_gtFine_labelIds.png"])):
        (cs / sub / "train/aachen").mkdir(parents=True)
        for suffix in suffixes:
            (cs / sub / "train/aachen" / f"{FRAME}{suffix}").symlink_to(source / sub / "train/aachen" / f"{FRAME}{suffix}")
    cityscapes.convert(cs / "leftImg8bit/train", cs / "gtFine/train", out / "cs.parquet", out / "cs.json", dataset="cs")
    rgb, segments = panoptic(np.array(Image.open(source / "gtFine/train/aachen" / f"{FRAME}_gtFine_instanceIds.png")))
    root = out / "ACDC"
    write_acdc(root, source, "fog", "val", False, rgb, segments)
    write_acdc(root, source, "night", "val", True, rgb, segments, extra_image=True)
    acdc.convert(root, out / "fog.parquet", out / "fog.json", out / "fog_ids", dataset="acdc_fog", conditions=["fog"])
    acdc.convert(root, out / "ref.parquet", out / "ref.json", out / "ref_ids", dataset="acdc_ref", conditions=["night"],
                 reference=True)
    return out, root


def _key(a):
    return (a["category_id"], a["iscrowd"], a["area"], tuple(a["bbox"]))


def _predictions(annotations, image_id: int) -> pd.DataFrame:
    """The ground truth shifted, so that some miss, in COCO's classes."""
    rng = np.random.default_rng(0)
    rows = []
    for a in annotations:
        if a["iscrowd"]:
            continue
        mask = np.roll(masks.decode([a["segmentation"]])[0].astype(bool), int(rng.integers(0, 12)), axis=1)
        rle = masks.encode(mask[None])[0]
        rows.append({"image_id": image_id, "category_id": a["category_id"], "score": np.float32(rng.random()),
                     "bbox": masks.to_bbox([rle])[0].astype(np.float32), "counts": rle["counts"], "height": 1024,
                     "width": 2048})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("name", ["fog", "ref"])
def test_the_same_objects_give_the_same_ground_truth_and_ap(trees, name):
    out, root = trees
    cs, ours = (json.loads((out / f"{n}.json").read_text()) for n in ("cs", name))
    a_ours, a_cs = (sorted(g["annotations"], key=_key) for g in (ours, cs))
    assert [_key(a) for a in a_ours] == [_key(a) for a in a_cs] and len(a_ours) == 27
    for a, b in zip(a_ours, a_cs):
        assert (masks.decode([a["segmentation"]]) == masks.decode([b["segmentation"]])).all()
    assert ours["categories"] == cs["categories"]
    (image,) = ours["images"]
    folder = "val_ref" if name == "ref" else "val"
    condition = "night" if name == "ref" else "fog"
    suffix = "_rgb_ref_anon.png" if name == "ref" else "_rgb_anon.png"
    assert image["file_name"] == f"{condition}/{folder}/{SEQUENCE}/{NAME}{suffix}"  # the annotated reference image only
    assert (image["condition"], image["sequence"]) == (condition, SEQUENCE)
    # Ids no other condition, split or reference set uses: the bootstrap pairs two domains only on shared ids.
    assert image["id"] == (600_001 if name == "ref" else 100_001)
    table = manifest.read(out / f"{name}.parquet")
    assert table.slice_fields == ["condition", "sequence"] and table.image_dir == (root / "rgb_anon").resolve()
    # The same ruler: the Cityscapes ground truth in COCO's classes, the same predictions.
    classes = coco.domain_classes(cs, "cityscapes")
    shared = coco.shared_class_ground_truth(cs, "cityscapes", classes)["annotations"]
    frames = {n: _predictions(shared, g["images"][0]["id"]) for n, g in (("ours", ours), ("cs", cs))}
    on = {n: coco.same_ruler(g, "cityscapes", frames[n], [g["images"][0]["id"]], "pycocotools",
                             classes)["segm"]["summary"]["AP"] for n, g in (("ours", ours), ("cs", cs))}
    assert on["ours"] == pytest.approx(on["cs"], abs=1e-12) and 0.1 < on["ours"] < 1
    # The official protocol (segshift's engine and cityscapesscripts'), on the instanceIds the reader wrote
    # and on gtFine's.
    official = {}
    for n, g, gt_dir in (("ours", ours, table.gt_dir), ("cs", cs, manifest.read(out / "cs.parquet").gt_dir)):
        mapped, _ = cs_eval.to_cityscapes(frames[n], {c: c for c in ("person", "car", "motorcycle", "truck", "bus",
                                                                     "train", "bicycle")}, "none")
        images = cs_eval.ground_truth_images(g, [g["images"][0]["id"]])
        result = cityscapes_fast.evaluate(mapped, images, gt_dir, workers=1)["mean"]
        official[n, "segshift"] = [result["AP"], result["AP50"]]
        if name == "fog":  # cityscapesscripts itself once (1.7 s); the reference frame holds the same objects
            result = cs_eval.evaluate_official(mapped, images, gt_dir)["mean"]
            official[n, "official"] = [result["AP"], result["AP50"]]
    assert official["ours", "segshift"] == pytest.approx(official["cs", "segshift"], abs=1e-12)
    assert 0.05 < official["ours", "segshift"][0] < 1
    if name == "fog":
        assert official["ours", "official"] == pytest.approx(official["cs", "official"], abs=1e-12)
        assert official["ours", "official"] == pytest.approx(official["ours", "segshift"], abs=1e-12)


def test_image_ids_are_shared_only_by_the_same_frames():
    """The bootstrap keys its draws by image ids: fog alone and fog within all four conditions share
    them (the same frames, a paired gap); fog and rain, val and train, adverse and reference do not."""
    fog = [f"fog/val/GOPR0475/GOPR0475_frame_{k:06d}_rgb_anon.png" for k in range(3)]
    rain = [f"rain/val/GOPR0475/GOPR0475_frame_{k:06d}_rgb_anon.png" for k in range(3)]
    alone, together = acdc.frame_ids(fog, "val", False), acdc.frame_ids(sorted(fog + rain), "val", False)
    assert together[:3] == alone and not set(together[3:]) & set(alone)
    others = [acdc.frame_ids(fog, "train", False), acdc.frame_ids(fog, "val", True), acdc.frame_ids(fog, "train", True)]
    assert len(set(alone).union(*others)) == 12


def test_a_missing_condition_folder_is_one_line_naming_it_and_writes_nothing(trees, tmp_path):
    _, root = trees
    with pytest.raises(SegshiftError) as e:
        acdc.convert(root, tmp_path / "m.parquet", tmp_path / "g.json", tmp_path / "ids", dataset="acdc_val",
                     conditions=["fog", "snow"])
    message = str(e.value)
    assert "\n" not in message and str(root / "rgb_anon/snow/val") in message
    assert "rgb_anon_trainvaltest.zip" in message and "datasets.acdc_val.conditions" in message
    assert list(tmp_path.iterdir()) == []


def acdc_config(root, yolo_model, conditions=("fog",)) -> dict:
    """An ACDC condition domain and the reference images' domain, scored against COCO's source."""
    return {"datasets": {"acdc_fog": {"kind": "acdc", "root": str(root), "conditions": list(conditions)},
                         "acdc_ref": {"kind": "acdc", "root": str(root), "conditions": ["night"], "reference": True}},
            "domains": {"acdc_fog": {"dataset": "acdc_fog"}, "acdc_ref": {"dataset": "acdc_ref"}},
            "slices": {"acdc_fog": ["condition", "sequence"]},
            "models": yolo_model}


@pytest.mark.workflow
def test_the_workflow_prepares_acdc_and_scores_it_as_cityscapes(trees, yolo_model, tmp_path):
    from conftest import snakemake, write_config

    _, root = trees
    config = write_config(tmp_path / "c.yaml", acdc_config(root, yolo_model))
    proc = snakemake(tmp_path, "--cores", "1", "resources/datasets/acdc_fog/manifest.parquet",
                     "resources/datasets/acdc_ref/manifest.parquet", configfile=config)
    assert proc.returncode == 0, proc.stdout[-3000:]
    table = manifest.read(tmp_path / "resources/datasets/acdc_fog/manifest.parquet")
    assert table.gt_dir == (tmp_path / "resources/datasets/acdc_fog/instance_ids").resolve()
    assert (table.gt_dir / f"fog/val/{SEQUENCE}/{NAME}_gt_instanceIds.png").is_file()
    plan = snakemake(tmp_path, "-n", "--quiet", "rules", configfile=config)
    assert plan.returncode == 0, plan.stdout[-3000:]
    for rule in ("cityscapes_metrics", "same_ruler_metrics", "slices_table"):  # Cityscapes' protocol, sliced by condition
        assert rule in plan.stdout
    assert "coco_metrics" not in plan.stdout


@pytest.mark.workflow
def test_the_workflow_stops_at_start_up_on_a_missing_condition_folder(trees, yolo_model, tmp_path):
    from conftest import snakemake, write_config

    _, root = trees
    config = write_config(tmp_path / "c.yaml", acdc_config(root, yolo_model, conditions=("fog", "rain")))
    proc = snakemake(tmp_path, "-n", configfile=config)
    assert proc.returncode != 0
    lines = [line for line in proc.stdout.splitlines() if line.startswith("segshift:")]
    assert lines == [f"segshift: ACDC condition folder {root / 'rgb_anon/rain/val'} is missing; unpack "
                     "rgb_anon_trainvaltest.zip under datasets.acdc_fog.root, or leave rain out of "
                     "datasets.acdc_fog.conditions"]
    assert not (tmp_path / "resources").exists() and not (tmp_path / "results").exists()
