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


def bilinear_matrix(out_size: int, in_size: int) -> np.ndarray:
    """(out_size, in_size) weights that resample one axis as torch's bilinear interpolate does.

    align_corners=False: output pixel i samples source coordinate (i + 0.5) * in/out - 0.5,
    clamped to the first pixel, with the last pixel repeated at the far edge.
    """
    scale = np.float32(in_size) / np.float32(out_size)  # float32 arithmetic, as torch does on the CPU
    src = np.maximum(scale * (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5), np.float32(0))
    i0 = np.minimum(src.astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    w1 = src - i0
    matrix = np.zeros((out_size, in_size), dtype=np.float32)
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, i0), 1.0 - w1)
    np.add.at(matrix, (rows, i1), w1)
    return matrix


def box_pixels(xyxy: np.ndarray, height: int, width: int) -> np.ndarray:
    """Integer pixel ranges [c1, c2) x [r1, r2) of the pixels whose index lies in [x1, x2) x [y1, y2)."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    c1 = np.clip(np.ceil(xyxy[:, 0]), 0, width)
    r1 = np.clip(np.ceil(xyxy[:, 1]), 0, height)
    c2 = np.clip(np.ceil(xyxy[:, 2]), 0, width)
    r2 = np.clip(np.ceil(xyxy[:, 3]), 0, height)
    return np.stack([c1, r1, np.maximum(c2, c1), np.maximum(r2, r1)], 1).astype(np.int64)


def encode_band(band: np.ndarray, top: int, left: int, height: int, width: int) -> dict:
    """RLE of a (height, width) mask that is zero outside `band`, placed with its corner at (top, left).

    Runs are counted column by column straight from the band, so the full-size mask is never built.
    """
    rows, cols = band.shape
    column_major = np.zeros((cols, height), dtype=np.int8)
    column_major[:, top : top + rows] = band.T
    flat = column_major.ravel()
    if flat.size == 0:
        counts = [height * width]
    else:
        changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        runs = np.diff(np.concatenate(([0], changes, [flat.size])))
        runs = runs.tolist()
        if flat[0]:
            runs.insert(0, 0)
        runs[0] += left * height
        after = (width - left - cols) * height
        if len(runs) % 2 == 1:  # ends with zeros
            runs[-1] += after
        elif after:
            runs.append(after)
        counts = runs
    rle = mask_utils.frPyObjects({"counts": counts, "size": [height, width]}, height, width)
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def encode_columns(binary) -> list[dict]:
    """RLEs of (N, H, W) bool torch masks, moving only each mask's occupied column band to the CPU."""
    n, height, width = binary.shape
    occupied = binary.any(dim=1).cpu().numpy()  # (N, W)
    rles = []
    for i in range(n):
        cols = np.flatnonzero(occupied[i])
        if cols.size == 0:
            rles.append(encode_band(np.zeros((height, 0), dtype=bool), 0, 0, height, width))
            continue
        c1, c2 = int(cols[0]), int(cols[-1]) + 1
        rles.append(encode_band(binary[i, :, c1:c2].cpu().numpy(), 0, c1, height, width))
    return rles
