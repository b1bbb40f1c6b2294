"""Models from outside segshift: a results_json file and a python entry point, checked at the boundary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from segshift import inference, manifest, masks, predictions, results_json
from segshift.errors import SegshiftError

# Two images of their own sizes: a mask or box of the wrong one must be caught.
IMAGES = [(7, "a/first.jpg", 40, 32), (9, "b/second.jpg", 48, 36)]  # imagecorruptions takes >= 32 px


@pytest.fixture
def domain(tmp_path) -> Path:
    """A manifest of two real files (random pixels), as prepare_dataset writes it."""
    root = tmp_path / "images"
    rng = np.random.default_rng(0)
    for _, name, width, height in IMAGES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(root / name, quality=95)
    path = tmp_path / "manifest.parquet"
    manifest.write(path, pd.DataFrame(IMAGES, columns=manifest.COLUMNS), dataset="toy", image_dir=root)
    return path


def mask(height, width, box) -> np.ndarray:
    x0, y0, x1, y1 = box
    out = np.zeros((height, width), bool)
    out[y0:y1, x0:x1] = True
    return out


def entries() -> list[dict]:
    rle = masks.encode(mask(32, 40, (2, 3, 10, 12))[None])[0]
    uncompressed = {"size": [36, 48], "counts": [0, 36 * 48]}  # the whole image, as a list of runs
    return [
        {"image_id": 7, "category_id": 1, "score": 0.9, "bbox": [2, 3, 8, 9], "segmentation": rle},
        {"image_id": 9, "category_id": 3, "score": 0.5, "segmentation": uncompressed},  # no box: the mask's
        {"file_name": "a/first.png", "category_id": 18, "score": 0.25,  # the export_images name of image 7
         "bbox": [0, 0, 10, 10], "segmentation": [[0, 0, 10, 0, 10, 10, 0, 10]]},
    ]


def write_results(path: Path, items) -> Path:
    path.write_text(json.dumps(items))
    return path


def test_results_file_becomes_the_shards_inference_writes(domain, tmp_path):
    results = write_results(tmp_path / "results.json", entries())
    checked = tmp_path / "checked.parquet"
    summary = results_json.check(results, domain, checked, model="theirs", domain="toy")
    assert summary["entries"] == 3 and summary["images_with_detections"] == 2
    for shard in (0, 1):
        results_json.write_shard(checked, domain, tmp_path / f"shard-{shard}.parquet", shard=shard,
                                 images_per_shard=1, num_images=1, model="theirs", domain="toy")
    frame, metadata = predictions.read([tmp_path / "shard-0.parquet", tmp_path / "shard-1.parquet"])
    assert [m["image_ids"] for m in metadata] == [[7], [9]]
    assert {m["backend"] for m in metadata} == {"results_json"}
    assert metadata[0]["settings"]["sha256"] == summary["sha256"]
    # Image order of the manifest, entry order within an image.
    assert frame["image_id"].tolist() == [7, 7, 9] and frame["category_id"].tolist() == [1, 18, 3]
    decoded = [masks.decode([predictions.rle(r)])[0] for r in frame.itertuples()]  # sizes differ
    assert (decoded[0] == mask(32, 40, (2, 3, 10, 12))).all()
    assert decoded[1].sum() == 100 and decoded[2].all()  # polygon filled as pycocotools does; whole image
    np.testing.assert_allclose(frame["bbox"].iloc[2], [0, 0, 48, 36])  # the missing box is the mask's


def test_results_ids_are_the_exported_ground_truths(pipeline):
    """results/exports/<domain>/ground_truth.json, which the README tells users to take ids from, has the
    manifest's ids: an entry with one of them lands on that image."""
    from segshift.export import ground_truth

    work, _ = pipeline
    for dataset, kind in (("coco_val2017", "coco"), ("cityscapes_val", "cityscapes")):
        gt = work / f"resources/datasets/{dataset}/ground_truth.json"
        out = work / f"gt-{dataset}.json"
        ground_truth(gt, work / "resources/datasets/coco_val2017/ground_truth.json", kind, "coco", out)
        ids = sorted(im["id"] for im in json.loads(out.read_text())["images"])
        assert ids == sorted(manifest.read(work / f"resources/datasets/{dataset}/manifest.parquet").images["image_id"])


BAD = {
    "truncated": (lambda e: json.dumps(e)[:-20], "not valid JSON"),
    "not a list": (lambda e: json.dumps({"annotations": e}), "not a COCO results list"),
    "unknown image id": (lambda e: json.dumps([{**e[0], "image_id": 8}]), "entry 0: image_id 8 is not an image"),
    "unknown file name": (lambda e: json.dumps([{**e[2], "file_name": "c/third.jpg"}]), "file_name 'c/third.jpg'"),
    "unknown category": (lambda e: json.dumps([{**e[0], "category_id": 12}]), "category_id 12 is not a COCO"),
    "mask size": (lambda e: json.dumps([e[0], {**e[0], "image_id": 9}]), "entry 1 (image id 9): mask size [32, 40]"),
    "missing score": (lambda e: json.dumps([{k: v for k, v in e[0].items() if k != "score"}]), "it has no score"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_results_file_is_one_line_naming_file_and_entry(case, domain, tmp_path):
    make, expected = BAD[case]
    results = tmp_path / "results.json"
    results.write_text(make(entries()))
    output = tmp_path / "out" / "checked.parquet"
    with pytest.raises(SegshiftError) as e:
        results_json.check(results, domain, output, model="theirs", domain="toy")
    message = str(e.value)
    assert "\n" not in message and str(results) in message and expected in message, message
    assert not output.exists() and not any(output.parent.glob("*"))


def test_changed_results_file_is_caught(domain, tmp_path):
    results = write_results(tmp_path / "results.json", entries())
    with pytest.raises(SegshiftError, match="changed while the workflow ran"):
        results_json.check(results, domain, tmp_path / "c.parquet", model="m", domain="toy", sha256="0" * 64)


# The python entry point -------------------------------------------------------------------------------------

ENTRY = '''
import numpy as np

class Model:
    name, version = "toy", "0.1"

    def __init__(self, settings):
        self.settings, self.mode = settings, settings.get("mode", "good")

    def preprocess(self, rgb):
        return rgb.shape[:2]

    def predict(self, items):
        out = []
        for height, width in items:
            m = np.zeros((height, width), bool)
            m[1:5, 2:6] = True
            det = {"category_id": [1], "score": [0.8], "bbox": [[2, 1, 4, 4]], "segmentation": [m]}
            if self.mode == "count":
                return out
            if self.mode == "category":
                det["category_id"] = [91]
            if self.mode == "mask":
                det["segmentation"] = [m.T]
            if self.mode == "nan":
                det["score"] = [float("nan")]
            if self.mode == "range":
                det["score"] = [1.5]
            if self.mode == "box":
                det["bbox"] = [[2, 1, width, 4]]
            out.append(det)
        return out

def build(settings, weights, device, test_size):
    if settings.get("mode") == "raise":
        raise RuntimeError("no checkpoint")
    return Model(settings)

def not_build(settings, weights, device, test_size):
    pass
'''


def python_job(domain, tmp_path, entry_point, **settings) -> inference.ShardJob:
    return inference.ShardJob(
        manifest=domain, shard=0, images_per_shard=2, num_images=2, model="mine", backend="python",
        settings={"entry_point": entry_point, "settings": settings, "gpu": False}, weights=None,
        weights_sha256=None, output=tmp_path / "out" / "shard.parquet", threads=1,
    )


@pytest.fixture
def entry_file(tmp_path) -> Path:
    path = tmp_path / "my_model.py"
    path.write_text(ENTRY)
    return path


def test_python_entry_point_predictions_are_a_shard(domain, tmp_path, entry_file):
    job = python_job(domain, tmp_path, f"{entry_file}:build", mode="good")
    inference.run_shard(job)
    frame, (meta,) = predictions.read([job.output])
    assert meta["backend"] == "python" and meta["backend_version"] == "0.1" and meta["device"] == "cpu"
    assert meta["settings"] == {"entry_point": f"{entry_file}:build", "mode": "good"}
    assert frame["image_id"].tolist() == [7, 9]
    assert [(r.height, r.width) for r in frame.itertuples()] == [(32, 40), (36, 48)]
    assert masks.area([predictions.rle(r) for r in frame.itertuples()]).tolist() == [16, 16]


PYTHON_BAD = {
    "not importable": ("no_such_package.model:build", {}, "cannot be imported (ModuleNotFoundError"),
    "build missing": ("{file}:make", {}, "has no function make"),
    "build raising": ("{file}:build", {"mode": "raise"}, "build raised RuntimeError: no checkpoint"),
    "protocol": ("{file}:not_build", {}, "build returned a NoneType without name"),
    "count": ("{file}:build", {"mode": "count"}, "predict returned 0 results for 1 images"),
    "category": ("{file}:build", {"mode": "category"}, "category_id 91 is not a COCO category id"),
    "mask size": ("{file}:build", {"mode": "mask"}, "mask of shape (40, 32) is not the image's 32x40"),
    "nan score": ("{file}:build", {"mode": "nan"}, "score nan is not a number in [0, 1]"),
    "score range": ("{file}:build", {"mode": "range"}, "score 1.5 is not a number in [0, 1]"),
    "box": ("{file}:build", {"mode": "box"}, "lies outside the 40x32 image by more than a pixel"),
}


@pytest.mark.parametrize("case", PYTHON_BAD)
def test_bad_entry_point_is_one_line_naming_model_and_entry_point(case, domain, tmp_path, entry_file):
    entry_point, settings, expected = PYTHON_BAD[case]
    entry_point = entry_point.format(file=entry_file)
    job = python_job(domain, tmp_path, entry_point, **settings)
    with pytest.raises(SegshiftError) as e:
        inference.run_shard(job)
    message = str(e.value)
    assert "\n" not in message and f"model mine (entry point {entry_point})" in message and expected in message, message
    assert not job.output.exists() and not any(job.output.parent.glob("*"))


# export_images ------------------------------------------------------------------------------------------------


def test_exported_images_are_the_cached_corrupted_pixels(domain, tmp_path):
    import io

    import pyarrow.parquet as pq

    from segshift import corruptions, export
    from segshift.images import read_image

    table = manifest.read(domain)
    rows = list(table.images[manifest.COLUMNS].itertuples(index=False, name=None))
    shards = [tmp_path / f"cache-{k}.parquet" for k in range(2)]
    for k, path in enumerate(shards):  # one image per shard, as the corrupt rule cuts them
        corruptions.write_shard(path, rows[k:k + 1], lambda i, f, w, h: read_image(table.image_dir / f, w, h),
                                "gaussian_noise", 3)
    out = tmp_path / "exports" / "images"
    assert export.images(domain, {"name": "gaussian_noise", "severity": 3}, shards, 2, out) == 2
    cached = {i: png for path in shards for i, png in zip(*pq.read_table(path, columns=["image_id", "png"]).to_pydict().values())}
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["a/first.png", "b/second.png"]
    for image_id, file_name, width, height in rows:
        exported = np.asarray(Image.open(out / Path(file_name).with_suffix(".png")))
        clean = read_image(table.image_dir / file_name, width, height)
        assert exported.shape == (height, width, 3) and not (exported == clean).all()
        assert (exported == np.asarray(Image.open(io.BytesIO(cached[image_id])))).all()


def test_export_images_missing_cache_leaves_no_folder(domain, tmp_path):
    from segshift import export

    out = tmp_path / "exports" / "images"
    with pytest.raises(SegshiftError, match="in none of the corrupted-image caches"):
        export.images(domain, {"name": "fog", "severity": 1}, [], 2, out)
    assert not out.exists() and not any(out.parent.glob("*"))


# In the workflow: the real YOLO model's export fed back as a results_json model ---------------------------------

ROUND_TRIP = "yolov8n_seg_json"
CORRUPTED = "coco_val2017_12-fog-3"


@pytest.fixture(scope="module")
def round_trip(pipeline, tmp_path_factory):
    """A copy of the test run with the YOLO model's exports on COCO and Cityscapes given back as a results_json
    model (no file for the other domains), and that model's metric files made; (folder, config, targets). Beside
    it, the README's oracle as a python model (gpu: false) scored on COCO, and a corrupted domain's images."""
    import shutil

    import yaml

    from conftest import shared_data_dir, snakemake

    source, config = pipeline
    work = tmp_path_factory.mktemp("round_trip")
    for name in ("resources", "results", ".snakemake"):
        shutil.copytree(source / name, work / name, symlinks=True, ignore=shutil.ignore_patterns("locks", "incomplete"))
    domains = ["coco_val2017", "cityscapes_val"]
    exports = [f"results/exports/{d}/yolov8n_seg.json" for d in domains]
    oracle_gt = "results/exports/coco_val2017/ground_truth.json"
    snakemake(work, "--cores", "2", *exports, oracle_gt, configfile=config, check=True)
    given = work / "theirs"
    given.mkdir()
    for d, path in zip(domains, exports):
        shutil.copy2(work / path, given / f"{d}.json")
    experiment = yaml.safe_load(config.read_text())
    experiment["models"][ROUND_TRIP] = {"backend": "results_json", "label": "YOLOv8n-seg, its export read back",
                                        "results": {d: str(given / f"{d}.json") for d in domains}}
    experiment["models"]["oracle"] = {"backend": "python", "entry_point": f"{readme_oracle(work)}:build", "gpu": False,
                                      "settings": {"ground_truth": str(work / oracle_gt),
                                                   "images": str(shared_data_dir() / "coco/val2017")}}
    new_config = work / "config.yaml"
    new_config.write_text(yaml.safe_dump(experiment, sort_keys=False))
    metric_names = {"coco_val2017": ["coco", "same_ruler"],
                    "cityscapes_val": ["same_ruler"] + [f"cityscapes_{p}" for p in experiment["evaluation"]["rider_policies"]]}
    targets = [f"results/metrics/{d}/{ROUND_TRIP}/{n}.json" for d in domains for n in metric_names[d]]
    snakemake(work, "--cores", "2", *targets, "results/metrics/coco_val2017/oracle/coco.json",
              f"results/exports/{CORRUPTED}/images", configfile=new_config, check=True)
    return work, new_config, targets


def test_results_json_model_in_the_workflow(round_trip, tmp_path):
    """One test, so that the copied run is made once whatever the test workers (pytest -n 2)."""
    _exported_predictions_read_back_give_the_same_metrics(round_trip)
    _oracle_and_exported_images_in_the_workflow(round_trip)
    _domain_without_results_file_is_left_out(round_trip)
    _bad_results_file_stops_its_job_with_one_line(round_trip, tmp_path)
    _results_file_hash_decides_reruns(round_trip)  # last: it changes a results file


def _oracle_and_exported_images_in_the_workflow(round_trip):
    import io

    import pyarrow.parquet as pq

    work, _, _ = round_trip
    result = json.loads((work / "results/metrics/coco_val2017/oracle/coco.json").read_text())
    assert result["results"]["segm"]["summary"]["AP"] == result["results"]["bbox"]["summary"]["AP"] == 1.0
    _, metadata = predictions.read(sorted((work / "results/predictions/coco_val2017/oracle").glob("shard-*.parquet")))
    assert {m["device"] for m in metadata} == {"cpu"} and {m["backend"] for m in metadata} == {"python"}
    pngs = sorted((work / f"results/exports/{CORRUPTED}/images").rglob("*.png"))
    assert len(pngs) == 12
    cache = {i: png for path in (work / "resources/corrupted/coco_val2017_12/fog-3").glob("shard-*.parquet")
             for i, png in zip(*pq.read_table(path, columns=["image_id", "png"]).to_pydict().values())}
    rows = manifest.read(work / "resources/datasets/coco_val2017_12/manifest.parquet").images.iloc[:12]
    for image_id, file_name in zip(rows["image_id"], rows["file_name"]):
        exported = np.asarray(Image.open(work / f"results/exports/{CORRUPTED}/images" / Path(file_name).with_suffix(".png")))
        assert (exported == np.asarray(Image.open(io.BytesIO(cache[image_id])))).all(), file_name


def _exported_predictions_read_back_give_the_same_metrics(round_trip):
    """Every number and every interval; only the model's name and the files' provenance differ."""
    import pyarrow.parquet as pq

    work, _, targets = round_trip
    for target in targets:
        theirs = json.loads((work / target).read_text())
        ours = json.loads((work / target.replace(ROUND_TRIP, "yolov8n_seg")).read_text())
        assert theirs["model"] == ROUND_TRIP
        for key in ("model", "provenance"):
            theirs.pop(key), ours.pop(key)
        assert theirs == ours, target
        assert "intervals" in ours or "intervals_omitted" in ours
        resamples = target.replace(".json", "_resamples.parquet")
        a, b = pq.read_table(work / resamples), pq.read_table(work / resamples.replace(ROUND_TRIP, "yolov8n_seg"))
        assert a.schema.names == b.schema.names and a.num_rows == b.num_rows
        assert (a.num_rows > 0) == ("intervals_omitted" not in ours)  # one Cityscapes frame: no interval
        for name in a.schema.names:  # NaN where a class has no ground truth in a resample
            np.testing.assert_array_equal(a[name].to_numpy(), b[name].to_numpy(), err_msg=f"{resamples} {name}")


def _domain_without_results_file_is_left_out(round_trip):
    """Of the whole run, the model with files for two domains is asked for those two domains only."""
    import re

    from conftest import snakemake

    work, config, _ = round_trip
    proc = snakemake(work, "-n", "--forceall", configfile=config)
    assert proc.returncode == 0, proc.stdout[-3000:]
    wildcards = re.findall(r"^\s*wildcards: (.*)$", proc.stdout, re.M)
    theirs = [w for w in wildcards if re.search(rf"\bmodel={ROUND_TRIP}\b", w)]
    assert theirs and all(re.search(r"\bdomain=(coco_val2017|cityscapes_val),", w + ",") for w in theirs), theirs
    assert any(re.search(r"\bdomain=cityscapes_val_half\b", w) for w in wildcards)  # the other models' are there
    figures = set(re.findall(r"results/figures/\S+\.png", proc.stdout))
    assert f"results/figures/{ROUND_TRIP}/coco_val2017_vs_cityscapes_val/per_class_ap.png" in figures
    assert not any(f.startswith(f"results/figures/{ROUND_TRIP}/coco_val2017_vs_cityscapes_val_half") for f in figures)


def _bad_results_file_stops_its_job_with_one_line(round_trip, tmp_path):
    import yaml

    from conftest import snakemake

    work, config, _ = round_trip
    broken = tmp_path / "broken.json"
    broken.write_text('[{"image_id": 1, "category_id": 1, "sc')
    experiment = yaml.safe_load(config.read_text())
    experiment["models"]["broken"] = {"backend": "results_json", "results": {"coco_val2017": str(broken)}}
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text(yaml.safe_dump(experiment, sort_keys=False))
    target = work / "resources/results_json/coco_val2017/broken.parquet"
    proc = snakemake(work, "--cores", "1", str(target.relative_to(work)), configfile=bad_config)
    assert proc.returncode != 0
    assert (f"segshift error in rule check_results: results file of model broken on domain coco_val2017 {broken} "
            "is not valid JSON") in proc.stdout, proc.stdout[-3000:]
    assert not target.exists() and not list(target.parent.glob(".broken*"))


def _results_file_hash_decides_reruns(round_trip):
    """A touched file reruns nothing; a changed one reruns its own model's checks and metrics on that domain only."""
    import os
    import re

    from conftest import snakemake

    work, config, targets = round_trip
    coco, cityscapes = work / "theirs" / "coco_val2017.json", work / "theirs" / "cityscapes_val.json"
    os.utime(coco)
    proc = snakemake(work, "-n", *targets, configfile=config)
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout, proc.stdout[-3000:]
    entries = json.loads(cityscapes.read_text())
    cityscapes.write_text(json.dumps(entries[:-1]))
    proc = snakemake(work, "-n", *targets, configfile=config)
    assert proc.returncode == 0, proc.stdout[-3000:]
    jobs = re.findall(r"^\s*(?:local)?rule (\w+):\n(?:.*\n)*?\s*wildcards: (.*)$", proc.stdout, re.M)
    assert {rule for rule, _ in jobs} >= {"check_results", "results_shard", "same_ruler_metrics", "cityscapes_metrics"}
    for rule, wildcards in jobs:
        assert f"model={ROUND_TRIP}" in wildcards and "domain=cityscapes_val" in wildcards, (rule, wildcards)


# The README's entry-point example: an oracle ------------------------------------------------------------------


def readme_oracle(tmp_path) -> Path:
    """The README's oracle.py, as written there."""
    import re

    from conftest import REPO

    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    (code,) = [b for b in blocks if b.startswith('"""oracle.py')]
    path = tmp_path / "oracle.py"
    path.write_text(code)
    return path


def oracle_shard(tmp_path, manifest_path, ground_truth, images, num_images, domain) -> Path:
    job = inference.ShardJob(
        manifest=manifest_path, shard=0, images_per_shard=num_images, num_images=num_images, model="oracle",
        backend="python", weights=None, weights_sha256=None, output=tmp_path / f"{domain}.parquet", threads=1,
        settings={"entry_point": f"{readme_oracle(tmp_path)}:build", "gpu": False,
                  "settings": {"ground_truth": str(ground_truth), "images": str(images)}}, domain=domain,
    )
    inference.run_shard(job)
    return job.output


def test_readme_oracle_scores_one(shared_data, tmp_path):
    """AP 1.0 on the source and on the same ruler of Cityscapes (its riders are persons there); on the
    official protocol, 1.0 on every class with ground truth but rider, which depends on the rider policy."""
    from segshift import export, metrics
    from segshift.datasets import cityscapes, coco

    coco_dir, cs_dir = tmp_path / "coco", tmp_path / "cityscapes"
    coco_dir.mkdir(), cs_dir.mkdir()
    n = coco.prepare(shared_data / "coco/annotations/instances_val2017.json", shared_data / "coco/val2017",
                     coco_dir / "manifest.parquet", coco_dir / "gt.json", dataset="coco_val2017")
    cityscapes.convert(shared_data / "cityscapes/leftImg8bit/val", shared_data / "cityscapes/gtFine/val",
                       cs_dir / "manifest.parquet", cs_dir / "gt.json", dataset="cityscapes_val")
    for folder, kind in ((coco_dir, "coco"), (cs_dir, "cityscapes")):  # what snakemake export writes
        export.ground_truth(folder / "gt.json", coco_dir / "gt.json", kind, "coco", folder / "export.json")

    shard = oracle_shard(tmp_path, coco_dir / "manifest.parquet", coco_dir / "export.json",
                         shared_data / "coco/val2017", n, "coco_val2017")
    result, _ = metrics.coco_metrics([shard], coco_dir / "gt.json", engine="pycocotools", score_threshold=0.0,
                                     domain="coco_val2017")
    assert result["results"]["segm"]["summary"]["AP"] == result["results"]["bbox"]["summary"]["AP"] == 1.0

    shard = oracle_shard(tmp_path, cs_dir / "manifest.parquet", cs_dir / "export.json",
                         shared_data / "cityscapes/leftImg8bit/val", 1, "cityscapes_val")
    result, _ = metrics.same_ruler_metrics([shard], cs_dir / "gt.json", coco_dir / "gt.json", domain="cityscapes_val",
                                           kind="cityscapes", source="coco_val2017", source_kind="coco",
                                           engine="pycocotools", score_threshold=0.0)
    assert result["results"]["segm"]["summary"]["AP"] == result["results"]["bbox"]["summary"]["AP"] == 1.0


def test_readme_oracle_on_the_official_cityscapes_protocol(shared_data, tmp_path):
    """Two full-resolution frames with riders: the oracle's riders are persons (COCO has no rider), so the
    rider policy decides rider AP and whether those persons are counted against the person class."""
    from segshift import export, metrics
    from segshift.datasets import cityscapes, coco

    source = shared_data / "cityscapes_aachen"
    if not source.is_dir():
        pytest.skip(f"{source} (Cityscapes frames with riders) not found")
    root = tmp_path / "cityscapes"
    for sub, suffixes in (("leftImg8bit", ["leftImg8bit"]), ("gtFine", ["gtFine_instanceIds", "gtFine_labelIds"])):
        (root / sub / "aachen").mkdir(parents=True)
        for frame in ("aachen_000000_000019", "aachen_000005_000019"):  # the frames with a rider
            for suffix in suffixes:
                name = f"{frame}_{suffix}.png"
                (root / sub / "aachen" / name).symlink_to(source / sub / "train" / "aachen" / name)
    (tmp_path / "coco").mkdir()
    coco.prepare(shared_data / "coco/annotations/instances_val2017.json", shared_data / "coco/val2017",
                 tmp_path / "coco/manifest.parquet", tmp_path / "coco/gt.json", dataset="coco_val2017")
    cityscapes.convert(root / "leftImg8bit", root / "gtFine", root / "manifest.parquet", root / "gt.json",
                       dataset="cityscapes_val")
    export.ground_truth(root / "gt.json", tmp_path / "coco/gt.json", "cityscapes", "coco", root / "export.json")
    shard = oracle_shard(tmp_path, root / "manifest.parquet", root / "export.json", root / "leftImg8bit", 2,
                         "cityscapes_val")
    mapping = {c: c for c in ("person", "bicycle", "car", "motorcycle", "bus", "train", "truck")}
    ap = {}
    for policy in ("none", "two_wheeler", "two_wheeler_mask"):
        result, _ = metrics.cityscapes_metrics([shard], root / "gt.json", root / "manifest.parquet", engine="segshift",
                                               score_threshold=0.0, class_mapping=mapping, rider_policy=policy,
                                               domain="cityscapes_val")
        ap[policy] = {c: v["AP"] for c, v in result["results"]["per_class"].items() if v["AP"] is not None}
    others = {"car": 1.0, "motorcycle": 1.0, "bicycle": 1.0}
    # two_wheeler: a person whose box lies on a two-wheeler's becomes a rider; every class scores 1.
    assert ap["two_wheeler"] == {"person": 1.0, "rider": 1.0, **others}
    # none: no rider is predicted (AP 0) and the riders, predicted as persons, are false persons at score 1.
    assert ap["none"]["rider"] == 0.0 and 0.5 < ap["none"]["person"] < 1.0
    assert {c: v for c, v in ap["none"].items() if c not in ("person", "rider")} == others
    # two_wheeler_mask decides by masks; ground-truth masks never overlap (no rider pixel is the bike's),
    # so no person becomes a rider: as none.
    assert ap["two_wheeler_mask"] == ap["none"]


def test_report_names_the_domains_a_results_model_leaves_out():
    from types import SimpleNamespace

    import jinja2

    from conftest import REPO

    config = {"domains": {"coco": {}, "city": {}, "fog": {}},
              "models": {"theirs": {"backend": "results_json", "label": "Theirs", "results": {"coco": "a.json"}},
                         "ours": {"backend": "torchvision"}}}
    template = jinja2.Template((REPO / "workflow/report/workflow.rst").read_text())
    text = template.render(snakemake=SimpleNamespace(config=config))
    assert "a model is left out of the tables and figures of the others:\n\n- **Theirs** (theirs): city, fog." in text
    config["models"].pop("theirs")
    assert "left out" not in template.render(snakemake=SimpleNamespace(config=config))


# Their config entries ---------------------------------------------------------------------------------------

CONFIG = {
    "datasets": {"coco_val2017": {"kind": "coco", "root": "/data/coco"}},
    "corruption_suites": {"c": {"domain": "coco_val2017", "corruptions": ["fog"], "severities": [1, 2]}},
}


def config_error(models: dict) -> str:
    from segshift import config as segshift_config

    with pytest.raises(SegshiftError) as e:
        segshift_config.validate({**CONFIG, "models": models})
    assert "\n" not in str(e.value)
    return str(e.value)


def test_outside_model_entries_are_checked():
    from segshift import config as segshift_config

    results = {"coco_val2017": "/r/coco.json", "coco_val2017-fog-1": "/r/f1.json", "coco_val2017-fog-2": "/r/f2.json"}
    valid = segshift_config.validate({**CONFIG, "models": {
        "theirs": {"backend": "results_json", "results": results},
        "mine": {"backend": "python", "entry_point": "pkg.mod:build"},
    }})
    assert valid["models"]["mine"]["gpu"] is True and valid["models"]["mine"]["settings"] == {}
    assert segshift_config.model_settings(valid, "theirs") == {}  # its files are no backend setting
    assert "models.theirs.results names 'cityscapes', which is not a domain" in config_error(
        {"theirs": {"backend": "results_json", "results": {**results, "cityscapes": "/r/c.json"}}})
    assert "has no file for the source domain 'coco_val2017'" in config_error(
        {"theirs": {"backend": "results_json", "results": {"coco_val2017-fog-1": "/r/f1.json"}}})
    assert "gives 2 of the 3 domains of corruption suite 'c' and its clean domain (missing coco_val2017-fog-2)" in \
        config_error({"theirs": {"backend": "results_json", "results": {k: v for k, v in list(results.items())[:2]}}})
    assert "missing required key 'entry_point'" in config_error({"mine": {"backend": "python"}})
    assert "missing required key 'weights'" in config_error(
        {"m": {"backend": "torchvision", "architecture": "maskrcnn_resnet50_fpn"}})
    assert "unknown key models.theirs.weights" in config_error(
        {"theirs": {"backend": "results_json", "results": results, "weights": {"path": "/w"}}})
