"""BDD100K instance segmentation: images/10k/{split}/*.jpg and labels/ins_seg/bitmasks/{split}/*.png
into a manifest and COCO-format ground truth in COCO category ids.

A bitmask is an RGBA PNG (bdd100k/label/to_mask.py, set_instance_color): R the category (1-based over
the leaf categories of bdd100k/configs/ins_seg.toml: pedestrian, rider, car, truck, bus, train,
motorcycle, bicycle), G the attributes (truncated << 3 | occluded << 2 | crowd << 1 | ignored), B and A
the instance id (B * 256 + A); 0 is background. Categories map onto COCO's as Cityscapes' do (a rider
is a person on the same ruler); an instance flagged crowd or ignored is a crowd region.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from segshift import manifest, masks
from segshift.categories import COCO_CATEGORIES, COCO_NAME_TO_ID
from segshift.errors import SegshiftError
from segshift.io import write_json

CATEGORIES = ("pedestrian", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")
TO_COCO = {"pedestrian": "person", "rider": "person", "car": "car", "truck": "truck", "bus": "bus", "train": "train",
           "motorcycle": "motorcycle", "bicycle": "bicycle"}
CROWD, IGNORED = 2, 1


def image_subdir(split: str = "val") -> str:
    return f"images/10k/{split}"


def bitmask_subdir(split: str = "val") -> str:
    return f"labels/ins_seg/bitmasks/{split}"


def bitmask_file(image: str) -> str:
    return image[: -len(".jpg")] + ".png"


def read_bitmask(path: Path, size: tuple[int, int]) -> np.ndarray:
    try:
        with Image.open(path) as im:
            if im.mode != "RGBA":
                raise SegshiftError(f"bitmask {path} is {im.mode}, not RGBA; it is not a BDD100K ins_seg bitmask")
            array = np.array(im)
    except FileNotFoundError:
        raise SegshiftError(f"ground truth {path} is missing; unpack the BDD100K ins_seg bitmasks "
                            f"(labels/ins_seg/bitmasks/) under the root") from None
    except (OSError, SyntaxError) as e:
        raise SegshiftError(f"bitmask {path} is unreadable ({e}); unpack the BDD100K ins_seg bitmasks again") from None
    if array.shape[:2] != (size[1], size[0]):
        raise SegshiftError(f"bitmask {path} is {array.shape[1]}x{array.shape[0]} but its image is {size[0]}x{size[1]}")
    return array


def frame_annotations(bitmask: np.ndarray, path: Path, image_id: int, first_id: int) -> list[dict]:
    category, flags = bitmask[..., 0].astype(np.int64), bitmask[..., 1]
    instance = bitmask[..., 2].astype(np.int64) * 256 + bitmask[..., 3]
    unknown = sorted(set(np.unique(category[category > 0]).tolist()) - set(range(1, len(CATEGORIES) + 1)))
    if unknown:
        raise SegshiftError(f"bitmask {path} has category value {unknown[0]}, which BDD100K's ins_seg categories "
                            f"(1-{len(CATEGORIES)}: {', '.join(CATEGORIES)}) do not have; convert it with the "
                            "bdd100k toolkit's ins_seg config")
    annotations = []
    for value in np.unique(instance[category > 0]).tolist():
        mask = (instance == value) & (category > 0)
        name = CATEGORIES[int(np.bincount(category[mask]).argmax()) - 1]
        rle = masks.encode(mask[None])[0]
        x, y, w, h = masks.to_bbox([rle])[0].tolist()
        flag = int(np.bincount(flags[mask]).argmax())
        annotations.append({"id": first_id + len(annotations), "image_id": image_id,
                            "category_id": COCO_NAME_TO_ID[TO_COCO[name]], "segmentation": rle, "area": int(mask.sum()),
                            "bbox": [x, y, w, h], "iscrowd": int(bool(flag & (CROWD | IGNORED))),
                            "bdd100k_category": name})
    return annotations


def convert(image_dir: str | Path, bitmask_dir: str | Path, manifest_out: str | Path, ground_truth_out: str | Path, *,
            dataset: str) -> int:
    """Write the manifest and the COCO-format instances; image ids 1..N in file-name order."""
    image_dir, bitmask_dir = Path(image_dir), Path(bitmask_dir)
    if not image_dir.is_dir():
        raise SegshiftError(f"BDD100K image folder not found: {image_dir}; check datasets.{dataset}.root")
    files = sorted(p.name for p in image_dir.glob("*.jpg"))
    if not files:
        raise SegshiftError(f"no *.jpg images under {image_dir}; check datasets.{dataset}.root")
    images, annotations = [], []
    for image_id, name in enumerate(files, start=1):
        try:
            with Image.open(image_dir / name) as im:
                size = im.size
        except (OSError, SyntaxError) as e:
            raise SegshiftError(f"image {image_dir / name} is unreadable ({e}); unpack the BDD100K images again") from None
        path = bitmask_dir / bitmask_file(name)
        annotations += frame_annotations(read_bitmask(path, size), path, image_id, len(annotations) + 1)
        images.append({"id": image_id, "file_name": name, "width": size[0], "height": size[1]})
    kept = {COCO_NAME_TO_ID[n] for n in TO_COCO.values()}
    write_json(ground_truth_out, {
        "info": {"description": "BDD100K ins_seg bitmasks in COCO format and COCO category ids, made by segshift"},
        "images": images, "annotations": annotations,
        "categories": [{"id": cid, "name": name, "supercategory": sup} for cid, name, sup in COCO_CATEGORIES if cid in kept],
    }, indent=None)
    table = pd.DataFrame([(im["id"], im["file_name"], im["width"], im["height"]) for im in images], columns=manifest.COLUMNS)
    manifest.write(manifest_out, table, dataset=dataset, image_dir=image_dir)
    return len(images)
