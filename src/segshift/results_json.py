"""A `results_json` model: predictions made elsewhere, given as a COCO results list.

The list is what MMDetection's `--format-only`, detectron2's COCOEvaluator and pycocotools'
loadRes use: one entry per detection with image_id, category_id (COCO ids), score, bbox
(x y w h, optional: the mask's box) and segmentation (an RLE or polygons). An entry names
its image by `image_id` (the ids of results/exports/<domain>/ground_truth.json, which are
the manifest's; COCO's own on COCO data) or by `file_name` (the manifest's, or the name
`snakemake export_images` gave the image). The file is checked once, into one Parquet file
of the prediction schema; each shard is then cut from it like an inference shard, so every
metric reads it as it reads a built-in model's predictions.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import segshift
from segshift import manifest as manifest_io
from segshift import outside, predictions
from segshift.errors import SegshiftError
from segshift.io import atomic_path, read_json, sha256_file

log = logging.getLogger(__name__)
_META_KEY = b"segshift"


def _stem(file_name: str) -> str:
    """A file name without its folder's layout or suffix: how an exported PNG still names its image."""
    return str(PurePosixPath(file_name).with_suffix(""))


def check(path: str | Path, manifest_file: str | Path, output: str | Path, *, model: str, domain: str,
          sha256: str | None = None) -> dict[str, Any]:
    """Check a results file against the domain's images and write its detections (prediction schema)."""
    path = Path(path)
    actual = sha256_file(path)
    if sha256 and actual != sha256:
        raise SegshiftError(f"results file {path} (model {model}, domain {domain}) changed while the workflow ran; "
                            "rerun snakemake")
    entries = read_json(path, what=f"results file of model {model} on domain {domain}")
    if not isinstance(entries, list):
        raise SegshiftError(f"results file {path} holds a JSON {type(entries).__name__}, not a COCO results list "
                            "(a list of {image_id, category_id, score, bbox, segmentation}); give the list itself")
    images = manifest_io.read(manifest_file).images
    by_id = {int(r.image_id): (int(r.width), int(r.height)) for r in images.itertuples(index=False)}
    by_name = {}
    for r in images.itertuples(index=False):
        by_name[r.file_name] = by_name[_stem(r.file_name)] = int(r.image_id)
    detections: dict[int, list] = {}
    for k, entry in enumerate(entries):
        where = f"results file {path}, entry {k}"
        if not isinstance(entry, dict):
            raise SegshiftError(f"{where} is a {type(entry).__name__}, not a detection object; fix the entry")
        image_id = _image_id(entry, by_id, by_name, where, domain)
        width, height = by_id[image_id]
        try:
            row = outside.detection(entry.get("category_id"), entry.get("score"), entry.get("bbox"),
                                    entry.get("segmentation"), width, height)
        except (outside.DetectionError, TypeError, ValueError) as e:
            raise SegshiftError(f"{where} (image id {image_id}): {e}; fix the entry") from None
        detections.setdefault(image_id, []).append(row)
    # Image order of the manifest, entry order within an image: the order inference writes.
    results = [(i, outside.instances(detections[i])) for i in by_id if i in detections]
    summary = {"results": str(path), "sha256": actual, "entries": len(entries), "images_with_detections": len(results)}
    table = predictions.to_table(results).replace_schema_metadata({_META_KEY: json.dumps(summary).encode()})
    with atomic_path(output) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    log.info("%s: %s", output, summary)
    return summary


def _image_id(entry: dict, by_id: dict, by_name: dict, where: str, domain: str) -> int:
    if "image_id" in entry:
        image_id = entry["image_id"]
        if isinstance(image_id, bool) or not isinstance(image_id, (int, float)) or int(image_id) not in by_id:
            raise SegshiftError(f"{where}: image_id {image_id!r} is not an image of domain {domain} (ids are those of "
                                f"results/exports/{domain}/ground_truth.json, from snakemake export); fix the ids "
                                "or give file_name")
        return int(image_id)
    name = entry.get("file_name")
    if name is None:
        raise SegshiftError(f"{where}: it has neither image_id nor file_name; give one")
    if not isinstance(name, str) or (name not in by_name and _stem(name) not in by_name):
        raise SegshiftError(f"{where}: file_name {name!r} is not an image of domain {domain} (names are the "
                            "dataset's, relative to its image folder); fix the name")
    return by_name[name] if name in by_name else by_name[_stem(name)]


def write_shard(checked: str | Path, manifest_file: str | Path, output: str | Path, *, shard: int,
                images_per_shard: int, num_images: int, model: str, domain: str,
                corruption: dict | None = None) -> None:
    """One shard of a checked results file, with the metadata an inference shard has."""
    table = manifest_io.read(manifest_file)
    rows = table.images.iloc[shard * images_per_shard: shard * images_per_shard + num_images]
    image_ids = [int(i) for i in rows["image_id"]]
    detections = pq.read_table(checked, schema=predictions.SCHEMA)
    source = json.loads(pq.read_schema(checked).metadata[_META_KEY])
    detections = detections.filter(pc.is_in(detections["image_id"], value_set=pa.array(image_ids, pa.int64())))
    metadata = {
        "dataset": table.dataset,
        "domain": domain,
        "corruption": corruption,
        "resampled_to": None,
        "model": model,
        "backend": "results_json",
        "backend_version": None,
        "settings": {"results": source["results"], "sha256": source["sha256"]},
        "weights_sha256": None,
        "shard": shard,
        "images_per_shard": images_per_shard,
        "image_ids": image_ids,
        "skipped_images": [],
        "device": None,
        "segshift_version": segshift.__version__,
    }
    predictions.write_table(output, detections, metadata)
