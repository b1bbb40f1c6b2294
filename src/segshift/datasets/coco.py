"""COCO val2017: the manifest, and the official annotation file kept as the ground truth."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from segshift import manifest
from segshift.errors import SegshiftError
from segshift.io import atomic_path, read_json

IMAGE_SUBDIR = "val2017"
ANNOTATION_FILE = "annotations/instances_val2017.json"


def load_annotations(path: str | Path) -> dict:
    """Read a COCO instances file; a truncated or malformed file is a one-line error."""
    data = read_json(path, what="COCO annotation file")
    missing = [k for k in ("images", "annotations", "categories") if k not in data]
    if not isinstance(data, dict) or missing:
        raise SegshiftError(
            f"COCO annotation file {path} lacks {', '.join(missing) or 'a top-level object'}; "
            "it is not an instances_*.json file"
        )
    return data


def image_table(data: dict, annotation_file: Path, image_dir: Path, fix: str) -> pd.DataFrame:
    """The manifest rows of an instances file; every image it lists must exist."""
    if not image_dir.is_dir():
        raise SegshiftError(f"image folder not found: {image_dir}; {fix}")
    images = pd.DataFrame(
        [(im["id"], im["file_name"], im["width"], im["height"]) for im in data["images"]],
        columns=manifest.COLUMNS,
    )
    if images.empty:
        raise SegshiftError(f"COCO annotation file {annotation_file} lists no images")
    for file_name in images["file_name"]:
        if not (image_dir / file_name).is_file():
            raise SegshiftError(f"image {image_dir / file_name} listed in {annotation_file} is missing; {fix}")
    return images


def prepare(
    annotation_file: str | Path,
    image_dir: str | Path,
    manifest_out: str | Path,
    ground_truth_out: str | Path,
    *,
    dataset: str,
) -> int:
    """Write the manifest and a verbatim copy of the annotation file; return the image count."""
    annotation_file, image_dir = Path(annotation_file), Path(image_dir)
    data = load_annotations(annotation_file)
    images = image_table(data, annotation_file, image_dir, f"unpack val2017.zip again or fix datasets.{dataset}.root")
    with atomic_path(ground_truth_out) as tmp:
        shutil.copyfile(annotation_file, tmp)
    manifest.write(manifest_out, images, dataset=dataset, image_dir=image_dir)
    return len(images)
