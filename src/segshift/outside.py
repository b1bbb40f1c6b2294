"""Predictions made outside segshift's own backends, checked where they come in.

Both doors into the harness (a `python` entry-point model, a `results_json` file) end
here: each detection is checked against the image it belongs to and becomes the same
`Instances` every backend returns, so nothing downstream can tell them apart.
"""

from __future__ import annotations

import math

import numpy as np
from pycocotools import mask as mask_utils

from segshift.backends import Instances
from segshift.categories import COCO_IDS
from segshift.masks import encode

_COCO_IDS = frozenset(COCO_IDS)
BOX_TOLERANCE = 1.0  # pixels a box may reach past the image (rounding of a box drawn on pixel edges)


class DetectionError(ValueError):
    """One detection is not what the protocol allows; the caller adds where it came from."""


def check_category(category_id) -> int:
    if isinstance(category_id, bool) or not float(category_id).is_integer() or int(category_id) not in _COCO_IDS:
        raise DetectionError(f"category_id {category_id!r} is not a COCO category id (1-90, as in instances_val2017.json)")
    return int(category_id)


def check_score(score) -> float:
    if score is None:
        raise DetectionError("it has no score")
    value = float(score)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise DetectionError(f"score {score!r} is not a number in [0, 1]")
    return value


def check_bbox(bbox, width: int, height: int) -> list[float]:
    box = [float(v) for v in bbox]
    if len(box) != 4 or not all(math.isfinite(v) for v in box) or box[2] < 0 or box[3] < 0:
        raise DetectionError(f"bbox {bbox!r} is not x y w h with w, h >= 0")
    x, y, w, h = box
    t = BOX_TOLERANCE
    if x < -t or y < -t or x + w > width + t or y + h > height + t:
        raise DetectionError(f"bbox {bbox!r} (x y w h) lies outside the {width}x{height} image by more than a pixel")
    return box


def as_rle(segmentation, width: int, height: int) -> dict:
    """A compressed RLE with str counts of the image's size, from an RLE (compressed or not),
    polygons, or a boolean mask."""
    if isinstance(segmentation, np.ndarray):
        if segmentation.shape != (height, width):
            raise DetectionError(f"mask of shape {segmentation.shape} is not the image's {height}x{width}")
        return encode(segmentation.astype(bool)[None])[0]
    if isinstance(segmentation, dict):
        size = list(segmentation.get("size") or [])
        if size != [height, width]:
            raise DetectionError(f"mask size {size} (height, width) is not the image's [{height}, {width}]")
        counts = segmentation.get("counts")
        if isinstance(counts, list):  # uncompressed RLE
            rle = mask_utils.frPyObjects(segmentation, height, width)
            return {"size": size, "counts": rle["counts"].decode("ascii")}
        if isinstance(counts, bytes):
            counts = counts.decode("ascii")
        if not isinstance(counts, str):
            raise DetectionError("segmentation counts are neither a string nor a list")
        return {"size": size, "counts": counts}
    if isinstance(segmentation, list) and segmentation and all(isinstance(p, list) for p in segmentation):
        if any(len(p) < 6 or len(p) % 2 for p in segmentation):
            raise DetectionError("a polygon has fewer than 3 points or an odd number of coordinates")
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
        return {"size": [height, width], "counts": rle["counts"].decode("ascii")}
    raise DetectionError("segmentation is none of: an RLE, a list of polygons, a boolean mask")


def detection(category_id, score, bbox, segmentation, width: int, height: int) -> tuple[int, float, list[float], dict]:
    """One checked detection; a missing box is the mask's tight box, as pycocotools' loadRes makes it."""
    category_id, score = check_category(category_id), check_score(score)
    if segmentation is None:
        raise DetectionError("it has no segmentation")
    rle = as_rle(segmentation, width, height)
    if bbox is None:
        bbox = mask_utils.toBbox({"size": rle["size"], "counts": rle["counts"].encode("ascii")}).tolist()
    return category_id, score, check_bbox(bbox, width, height), rle


def instances(rows: list[tuple[int, float, list[float], dict]]) -> Instances:
    return Instances(
        category_id=np.array([r[0] for r in rows], dtype=np.int64),
        score=np.array([r[1] for r in rows], dtype=np.float32),
        bbox=np.array([r[2] for r in rows], dtype=np.float32).reshape(-1, 4),
        segmentation=[r[3] for r in rows],
    )
