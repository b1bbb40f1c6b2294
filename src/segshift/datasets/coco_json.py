"""Any instance-segmentation set as an images folder plus a COCO instances JSON.

Its categories are mapped onto COCO's, by name or by an explicit mapping; the prepared
ground truth uses COCO category ids, so every COCO-style metric applies unchanged.
Categories left unmapped are dropped (and logged).
"""

from __future__ import annotations

import logging
from pathlib import Path

from segshift import manifest, slices
from segshift.categories import COCO_CATEGORIES, COCO_NAME_TO_ID
from segshift.datasets.coco import image_table, load_annotations
from segshift.errors import SegshiftError
from segshift.io import read_json, write_json

log = logging.getLogger(__name__)


def read_categories(annotation_file: str | Path) -> list[dict]:
    data = read_json(annotation_file, what="COCO annotation file")
    if not isinstance(data, dict) or not isinstance(data.get("categories"), list):
        raise SegshiftError(f"COCO annotation file {annotation_file} has no categories list; it is not an instances JSON")
    return data["categories"]


def category_map(categories: list[dict], mapping: dict[str, str] | None) -> dict[int, int]:
    """The dataset's category id -> COCO category id, for the categories that map."""
    out = {}
    for c in categories:
        name = mapping.get(c["name"]) if mapping is not None else c["name"]
        if name in COCO_NAME_TO_ID:
            out[c["id"]] = COCO_NAME_TO_ID[name]
    return out


def prepare(
    annotation_file: str | Path,
    image_dir: str | Path,
    manifest_out: str | Path,
    ground_truth_out: str | Path,
    *,
    dataset: str,
    category_mapping: dict[str, str] | None = None,
) -> int:
    """Write the manifest and the ground truth in COCO category ids; return the image count."""
    annotation_file, image_dir = Path(annotation_file), Path(image_dir)
    data = load_annotations(annotation_file)
    images = image_table(data, annotation_file, image_dir, f"fix datasets.{dataset}.images or the JSON's file_name")
    # Any other key of an image record (weather, timeofday, video, ...) is a slice field of the manifest.
    fields = sorted({k for im in data["images"] for k in im} - slices.COCO_IMAGE_KEYS)
    for field in fields:
        images[field] = [im.get(field) for im in data["images"]]
    to_coco = category_map(data["categories"], category_mapping)
    if not to_coco:
        raise SegshiftError(f"no category of {annotation_file} maps to a COCO class; give datasets.{dataset}.category_mapping")
    dropped = sorted(c["name"] for c in data["categories"] if c["id"] not in to_coco)
    if dropped:
        log.warning("%s: categories without a COCO class are dropped: %s", dataset, ", ".join(dropped))
    annotations = [{**a, "category_id": to_coco[a["category_id"]]} for a in data["annotations"] if a["category_id"] in to_coco]
    kept = set(to_coco.values())
    ground_truth = {
        **{k: v for k, v in data.items() if k not in ("annotations", "categories")},
        "annotations": annotations,
        "categories": [{"id": cid, "name": name, "supercategory": sup} for cid, name, sup in COCO_CATEGORIES if cid in kept],
    }
    write_json(ground_truth_out, ground_truth, indent=None)
    manifest.write(manifest_out, images, dataset=dataset, image_dir=image_dir)
    return len(images)
