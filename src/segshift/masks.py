"""Binary masks <-> COCO compressed RLE (pycocotools' encoding, so every tool reads them)."""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils


def encode(masks: np.ndarray) -> list[dict]:
    """Encode (N, H, W) bool masks as RLEs with str counts."""
    if masks.ndim != 3:
        raise ValueError(f"expected (N, H, W) masks, got shape {masks.shape}")
    if len(masks) == 0:
        return []
    rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8, copy=False)))
    for rle in rles:
        rle["counts"] = rle["counts"].decode("ascii")
    return rles


def decode(rles: list[dict]) -> np.ndarray:
    """Decode RLEs (str or bytes counts) to (N, H, W) bool masks."""
    if not rles:
        return np.zeros((0, 0, 0), dtype=bool)
    fixed = [{"size": list(r["size"]), "counts": _as_bytes(r["counts"])} for r in rles]
    return mask_utils.decode(fixed).transpose(2, 0, 1).astype(bool)


def area(rles: list[dict]) -> np.ndarray:
    fixed = [{"size": list(r["size"]), "counts": _as_bytes(r["counts"])} for r in rles]
    return mask_utils.area(fixed).astype(np.int64) if fixed else np.zeros(0, np.int64)


def to_bbox(rles: list[dict]) -> np.ndarray:
    """Tight (x, y, w, h) boxes of RLE masks, as pycocotools computes them."""
    fixed = [{"size": list(r["size"]), "counts": _as_bytes(r["counts"])} for r in rles]
    return mask_utils.toBbox(fixed).reshape(-1, 4) if fixed else np.zeros((0, 4))


def _as_bytes(counts) -> bytes:
    return counts.encode("ascii") if isinstance(counts, str) else counts
