"""Domains without Snakemake: corruptions, test-size resampling, coco_json datasets, mPC/rPC."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import REPO
from segshift import corruptions, inference, manifest, predictions, tables
from segshift.datasets import coco_json
from segshift.errors import SegshiftError
from segshift.images import read_image, resample

pytest.importorskip("imagecorruptions")

IMAGE = "000000397133.jpg"


@pytest.fixture(scope="module")
def image(shared_data):
    return read_image(shared_data / "coco" / "val2017" / IMAGE, 640, 427)


@pytest.mark.parametrize("name", ["gaussian_noise", "impulse_noise", "glass_blur", "fog", "frost", "jpeg_compression"])
def test_a_corruption_changes_the_image_and_repeats_exactly(image, name):
    a = corruptions.corrupt(image, name, 3, image_id=397133)
    b = corruptions.corrupt(image, name, 3, image_id=397133)
    assert a.shape == image.shape and a.dtype == np.uint8
    assert np.abs(a.astype(int) - image).mean() > 1  # really corrupted
    assert np.array_equal(a, b)  # the same pixels again, whatever the random state before
    if name in ("gaussian_noise", "impulse_noise", "glass_blur"):  # random: another image id draws other noise
        assert not np.array_equal(a, corruptions.corrupt(image, name, 3, image_id=1))


def test_severity_grows_the_damage(image):
    damage = [np.abs(corruptions.corrupt(image, "gaussian_noise", s, 7).astype(int) - image).mean() for s in (1, 3, 5)]
    assert damage == sorted(damage) and damage[0] < damage[-1] / 2


def test_the_same_pixels_in_another_process(shared_data, image, tmp_path):
    """Seeded from (image id, corruption, severity) only: a fresh interpreter makes the same image."""
    script = (
        "import sys, numpy as np; sys.path.insert(0, sys.argv[1]);"
        "from segshift import corruptions; from segshift.images import read_image;"
        "np.random.seed(12345);"
        f"im = read_image(__import__('pathlib').Path(sys.argv[2]), 640, 427);"
        "np.save(sys.argv[3], corruptions.corrupt(im, 'shot_noise', 4, 397133))"
    )
    out = tmp_path / "other.npy"
    subprocess.run([sys.executable, "-c", script, str(REPO / "src"), str(shared_data / "coco/val2017" / IMAGE), str(out)],
                   check=True)
    assert np.array_equal(np.load(out), corruptions.corrupt(image, "shot_noise", 4, 397133))


def test_the_callers_random_state_is_left_alone(image):
    np.random.seed(3)
    expected = np.random.random(3)
    np.random.seed(3)
    corruptions.corrupt(image, "gaussian_noise", 2, 1)
    assert np.array_equal(np.random.random(3), expected)


def write_cache(shared_data, tmp_path, name="fog", severity=2):
    rows = [(397133, IMAGE, 640, 427), (139, "000000000139.jpg", 640, 426)]
    clean = lambda i, f, w, h: read_image(shared_data / "coco/val2017" / f, w, h)  # noqa: E731
    path = tmp_path / "shard.parquet"
    corruptions.write_shard(path, rows, clean, name, severity)
    return path, rows, clean


def test_a_damaged_cache_entry_is_rebuilt_never_used(shared_data, tmp_path, caplog):
    path, rows, clean = write_cache(shared_data, tmp_path)
    good = corruptions.CorruptedImages(path, "fog", 2, clean).read(*rows[0])
    table = pq.read_table(path)
    pngs = table["png"].to_pylist()
    pngs[0] = pngs[0][: len(pngs[0]) // 2]  # truncated PNG bytes
    import pyarrow as pa

    pq.write_table(table.set_column(1, "png", pa.array(pngs, pa.binary())), path)
    with caplog.at_level(logging.WARNING):
        again = corruptions.CorruptedImages(path, "fog", 2, clean).read(*rows[0])
    assert np.array_equal(again, good)
    assert "damaged" in caplog.text and str(path) in caplog.text
    path.write_bytes(path.read_bytes()[:100])  # a truncated cache file
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert np.array_equal(corruptions.CorruptedImages(path, "fog", 2, clean).read(*rows[0]), good)
    assert "unreadable" in caplog.text


def test_inference_on_a_corrupted_domain_repeats_exactly(shared_data, yolo_weights, tmp_path):
    from segshift.datasets import coco as coco_data

    gt = tmp_path / "gt.json"
    coco_data.prepare(shared_data / "coco/annotations/instances_val2017.json", shared_data / "coco/val2017",
                      tmp_path / "manifest.parquet", gt, dataset="coco_val2017")
    table = manifest.read(tmp_path / "manifest.parquet")
    rows = list(table.images.iloc[:3][["image_id", "file_name", "width", "height"]].itertuples(index=False, name=None))
    cache = tmp_path / "cache.parquet"
    corruptions.write_shard(cache, rows, lambda i, f, w, h: read_image(table.image_path(f), w, h), "gaussian_noise", 3)
    frames = []
    for run in ("a", "b", "clean"):
        job = inference.ShardJob(
            manifest=tmp_path / "manifest.parquet", shard=0, images_per_shard=3, num_images=3, model="m",
            backend="yolo_seg_export", settings={}, weights=yolo_weights, weights_sha256=None,
            output=tmp_path / f"{run}.parquet", threads=2, domain=run,
            corruption=None if run == "clean" else {"name": "gaussian_noise", "severity": 3},
            corrupted_shard=None if run == "clean" else cache,
        )
        inference.run_shard(job)
        frames.append(predictions.read([job.output])[0])
    a, b, clean = frames
    assert a.drop(columns="bbox").equals(b.drop(columns="bbox")) and np.array_equal(np.stack(a.bbox), np.stack(b.bbox))
    assert len(a) != len(clean) or not np.array_equal(np.stack(a.bbox), np.stack(clean.bbox))


def test_resampling_to_the_own_size_is_the_identity_and_smaller_loses_detail(image):
    assert resample(image, [427, 640]) is image
    half = resample(image, [214, 320])
    assert half.shape == image.shape and np.abs(half.astype(int) - image).mean() > 1


# coco_json -------------------------------------------------------------------------------------


def renamed_subset(shared_data, tmp_path, missing: bool = False):
    data = json.loads((shared_data / "coco/annotations/instances_val2017.json").read_text())
    keep = [im for im in data["images"]][:3]
    ids = {im["id"] for im in keep}
    renamed = {"person": "pedestrian", "car": "automobile"}
    categories = [{**c, "id": 100 + c["id"], "name": renamed.get(c["name"], c["name"])} for c in data["categories"]]
    annotations = [{**a, "category_id": 100 + a["category_id"]} for a in data["annotations"] if a["image_id"] in ids]
    if missing:
        keep.append({"id": 1, "file_name": "nowhere.jpg", "width": 10, "height": 10})
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"images": keep, "annotations": annotations, "categories": categories}))
    return path, data


def test_coco_json_maps_categories_onto_coco_ids(shared_data, tmp_path):
    path, original = renamed_subset(shared_data, tmp_path)
    n = coco_json.prepare(path, shared_data / "coco/val2017", tmp_path / "m.parquet", tmp_path / "gt.json", dataset="mine",
                          category_mapping={"pedestrian": "person", "automobile": "car"})
    gt = json.loads((tmp_path / "gt.json").read_text())
    assert n == 3
    assert {c["name"] for c in gt["categories"]} == {"person", "car"}
    wanted = [a for a in original["annotations"] if a["image_id"] in {im["id"] for im in gt["images"]}
              and a["category_id"] in (1, 3)]
    assert sorted((a["id"], a["category_id"]) for a in gt["annotations"]) == sorted((a["id"], a["category_id"]) for a in wanted)
    by_name = coco_json.category_map(json.loads(path.read_text())["categories"], None)
    assert 101 not in by_name and by_name[102] == 2  # by name: bicycle maps, pedestrian does not


def test_a_coco_json_naming_a_missing_image_stops_and_leaves_nothing(shared_data, tmp_path):
    path, _ = renamed_subset(shared_data, tmp_path, missing=True)
    with pytest.raises(SegshiftError, match="nowhere.jpg") as e:
        coco_json.prepare(path, shared_data / "coco/val2017", tmp_path / "m.parquet", tmp_path / "gt.json", dataset="mine")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "m.parquet").exists() and not (tmp_path / "gt.json").exists()


# mPC / rPC -------------------------------------------------------------------------------------


def metric(model: str, domain: str, ap: float) -> dict:
    return {"metric": "same_ruler", "model": model, "domain": domain,
            "results": {kind: {"summary": {"AP": ap}, "per_class": {}} for kind in ("bbox", "segm")}}


def test_mpc_and_rpc_on_hand_made_metric_files():
    members = {f"c-{n}-{s}": {"corruption": {"name": n, "severity": s}} for n in ("fog", "snow") for s in (1, 2)}
    ap = {"c-fog-1": 0.4, "c-fog-2": 0.2, "c-snow-1": 0.3, "c-snow-2": 0.1}
    files = [metric("m", "c", 0.5)] + [metric("m", d, v) for d, v in ap.items()]
    tidy, layout = tables.robustness_table(files, {"m": "M"}, {"suite": {"domain": "c", "members": members}})
    rows = tidy[tidy.iou_type == "segm"]
    value = lambda c, s, m: rows[(rows.corruption == c) & (rows.severity == s) & (rows.metric == m)]["value"].item()  # noqa: E731
    assert value("all", "all", "mPC") == pytest.approx(0.25)
    assert value("all", "all", "rPC") == pytest.approx(0.5)
    assert value("none", 0, "AP") == 0.5
    assert value("fog", "all", "AP") == pytest.approx(0.3) and value("snow", "all", "AP") == pytest.approx(0.2)
    assert value("all", 1, "AP") == pytest.approx(0.35) and value("all", 2, "AP") == pytest.approx(0.15)
    assert "| M | suite | same_ruler | 50.0 | 25.0 | 50.0 | 30.0 | 20.0 |" in layout.markdown()
    # Per-resample values: one resample draws the same images on every domain of the suite.
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, 200)
    resamples = {("m", d, "same_ruler"): pd.DataFrame({"segm/summary/AP": v + noise, "bbox/summary/AP": v + noise})
                 for d, v in {"c": 0.5, **ap}.items()}
    tidy, layout = tables.robustness_table(files, {"m": "M"}, {"suite": {"domain": "c", "members": members}},
                                           resamples=resamples)
    rows = tidy[(tidy.iou_type == "segm") & (tidy.metric == "mPC")].iloc[0]
    assert rows.ci_low < 0.25 < rows.ci_high
    assert rows.ci_low == pytest.approx(np.percentile(0.25 + noise, 2.5))
    rpc = tidy[(tidy.iou_type == "segm") & (tidy.metric == "rPC")].iloc[0]
    assert rpc.ci_low == pytest.approx(np.percentile((0.25 + noise) / (0.5 + noise), 2.5))
