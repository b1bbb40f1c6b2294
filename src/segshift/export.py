"""Exports in the formats other tools load: COCO results JSON, COCO instances JSON, PNG images.

A results file is the list pycocotools' loadRes, hotcoco, detectron2's COCOEvaluator and
FiftyOne's add_coco_labels read: image_id, category_id (COCO ids), score, bbox (x y w h)
and segmentation (compressed RLE). The ground truth beside it holds the classes the domain
shares with the source in COCO ids, so both load into one tool with one category list.
"""

from __future__ import annotations

import json
from pathlib import Path

from segshift import manifest
from segshift import predictions as predictions_io
from segshift.errors import SegshiftError
from segshift.evaluation import coco
from segshift.io import atomic_path, read_json, write_text


def predictions(files: list[str | Path], output: str | Path) -> int:
    frame, _ = predictions_io.read(files)
    results = predictions_io.to_coco_results(frame)
    write_text(output, json.dumps(results))
    return len(results)


def ground_truth(ground_truth_file, source_ground_truth_file, kind: str, source_kind: str, output) -> None:
    gt = read_json(ground_truth_file, what="ground-truth file")
    source = read_json(source_ground_truth_file, what="ground-truth file")
    classes = sorted(set(coco.domain_classes(gt, kind)) & set(coco.domain_classes(source, source_kind)))
    write_text(output, json.dumps(coco.shared_class_ground_truth(gt, kind, classes)))


def images(manifest_file, corruption: dict, corrupted_files: list[str | Path], num_images: int, output) -> int:
    """A corrupted domain's images as PNG files (lossless: the exact pixels its models see, before any test
    size), named like the dataset's files with the suffix .png, so that a tool run elsewhere sees them too."""
    from PIL import Image

    from segshift.corruptions import CorruptedImages, shard_of
    from segshift.images import read_image

    table = manifest.read(manifest_file)
    where = shard_of(corrupted_files)
    caches: dict[Path, CorruptedImages] = {}
    clean = lambda image_id, file_name, width, height: read_image(table.image_dir / file_name, width, height)  # noqa: E731
    rows = table.images.iloc[:num_images]
    with atomic_path(output, directory=True) as tmp:
        for image_id, file_name, width, height in rows[manifest.COLUMNS].itertuples(index=False, name=None):
            path = where.get(image_id)
            if path is None:
                raise SegshiftError(f"image {file_name} (id {image_id}) is in none of the corrupted-image caches "
                                    f"{', '.join(map(str, corrupted_files))}; rerun snakemake to rebuild them")
            if path not in caches:
                caches[path] = CorruptedImages(path, corruption["name"], corruption["severity"], clean)
            target = tmp / Path(file_name).with_suffix(".png")
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(caches[path].read(image_id, file_name, width, height)).save(target, format="PNG")
    return len(rows)
