"""Metrics: COCO-style AP (hotcoco, faster-coco-eval or pycocotools) and the official Cityscapes protocol."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

import segshift
from segshift import predictions
from segshift.io import sha256_file


def provenance(prediction_files: Iterable[str | Path], ground_truth: str | Path, settings: dict[str, Any]) -> dict:
    """Which files and settings produced a metric file."""
    files = []
    for path in prediction_files:
        meta = predictions.read_metadata(path)
        files.append(
            {
                "file": str(path),
                "sha256": sha256_file(path),
                "model": meta.get("model"),
                "backend_version": meta.get("backend_version"),
                "weights_sha256": meta.get("weights_sha256"),
                "settings": meta.get("settings"),
                "images": len(meta.get("image_ids", [])),
                "skipped_images": meta.get("skipped_images", []),
            }
        )
    return {
        "predictions": files,
        "ground_truth": {"file": str(ground_truth), "sha256": sha256_file(ground_truth)},
        "settings": settings,
        "segshift_version": segshift.__version__,
    }


def clean_nan(value):
    """NaN (a class without ground truth) as null, so metric files are strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: clean_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_nan(v) for v in value]
    return value
