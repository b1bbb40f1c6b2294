"""The metric stage: prediction shards in, one metric file out, with its provenance."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from segshift import manifest, predictions
from segshift.categories import COCO_ID_TO_NAME
from segshift.errors import SegshiftError
from segshift.evaluation import cityscapes, cityscapes_fast, clean_nan, coco, provenance
from segshift.io import read_json

log = logging.getLogger(__name__)


def load_predictions(files: list[str | Path], score_threshold: float) -> tuple[pd.DataFrame, list[int], dict[str, Any]]:
    """Detections at or above the threshold, the images they cover, and what was set aside."""
    frame, metadata = predictions.read(files)
    models = {m.get("model") for m in metadata}
    if len(models) > 1:
        raise SegshiftError(f"prediction files of several models were given together: {sorted(models)}")
    image_ids = predictions.covered_images(metadata)
    unknown = ~frame["category_id"].isin(COCO_ID_TO_NAME.keys())
    kept = frame[(frame["score"] >= score_threshold) & ~unknown]
    skipped = [s for m in metadata for s in m.get("skipped_images", [])]
    counts = {
        "images": len(image_ids),
        "detections": len(frame),
        "below_score_threshold": int((frame["score"] < score_threshold).sum()),
        "unknown_category": int(unknown.sum()),
        "skipped_images": skipped,
    }
    if counts["unknown_category"]:
        log.warning("dropped %d detections whose category id is not a COCO class", counts["unknown_category"])
    if skipped:
        log.warning("%d unreadable images were skipped at inference and are not scored: %s",
                    len(skipped), ", ".join(s["file_name"] for s in skipped))
    log.info("predictions: %s", {k: v for k, v in counts.items() if k != "skipped_images"})
    return kept, image_ids, counts


def check_mask_sizes(files: list[str | Path], ground_truth: dict) -> None:
    """Every mask has its image's size: a transposed mask or an extra row would score AP 0 in silence."""
    sizes = {im["id"]: (im["height"], im["width"], im.get("file_name", "")) for im in ground_truth["images"]}
    for path in files:
        frame = predictions.mask_sizes(path)
        for image_id, height, width in frame.drop_duplicates().itertuples(index=False):
            expected = sizes.get(int(image_id))
            if expected and (height, width) != expected[:2]:
                raise SegshiftError(
                    f"prediction file {path}: image {expected[2]} (id {image_id}) has a {width}x{height} mask but the "
                    f"image is {expected[1]}x{expected[0]}; the predictions do not belong to this dataset's images: "
                    "delete the file and rerun its inference job"
                )


def coco_metrics(files, ground_truth_file, *, engine: str, score_threshold: float, domain: str) -> dict[str, Any]:
    """COCO bbox and segm AP on every class of the ground truth (the paper's Table III)."""
    return _coco_style("coco", files, ground_truth_file, engine, score_threshold,
                       lambda gt, frame, ids: coco.evaluate(gt, frame, ids, engine=engine), {}, domain=domain)


def same_ruler_metrics(files, ground_truth_file, source_ground_truth_file, *, domain: str, kind: str, source: str,
                       source_kind: str, engine: str, score_threshold: float, ignore_regions: bool = False
                       ) -> dict[str, Any]:
    """COCO-style AP, per class and size, on the classes a domain shares with the source (COCO's taxonomy)."""
    source_classes = coco.domain_classes(read_json(source_ground_truth_file, what="ground-truth file"), source_kind)

    def evaluate(gt, frame, ids):
        classes = sorted(set(coco.domain_classes(gt, kind)) & set(source_classes))
        return coco.same_ruler(gt, kind, frame, ids, engine, classes, ignore_regions=ignore_regions)

    return _coco_style("same_ruler", files, ground_truth_file, engine, score_threshold, evaluate,
                       {"ignore_regions": ignore_regions}, domain=domain, source=source)


def _coco_style(metric, files, ground_truth_file, engine, score_threshold, evaluate, extra_settings,
                **labels) -> dict[str, Any]:
    frame, image_ids, counts = load_predictions(files, score_threshold)
    ground_truth = read_json(ground_truth_file, what="ground-truth file")
    check_mask_sizes(files, ground_truth)
    settings = {"engine": engine, "score_threshold": score_threshold, **extra_settings}
    return clean_nan(
        {
            "metric": metric,
            "model": _model(files),
            **labels,
            "counts": counts,
            "results": evaluate(ground_truth, frame, image_ids),
            "provenance": provenance(files, ground_truth_file, settings),
        }
    )


def cityscapes_metrics(
    files,
    ground_truth_file,
    manifest_file,
    *,
    engine: str,
    score_threshold: float,
    class_mapping: dict[str, str],
    rider_policy: str,
    rider_overlap: float = 0.3,
    rider_min_score: float = 0.3,
    rider_mask_overlap: float = 0.1,
    workers: int | None = None,
    domain: str | None = None,
) -> dict[str, Any]:
    """The official Cityscapes instance protocol (AP and AP50 per class; the paper's Table IV)."""
    frame, image_ids, counts = load_predictions(files, score_threshold)
    ground_truth = read_json(ground_truth_file, what="ground-truth file")
    check_mask_sizes(files, ground_truth)
    gt_dir = manifest.read(manifest_file).gt_dir
    if gt_dir is None:
        raise SegshiftError(f"{manifest_file} names no gtFine folder; it is not a Cityscapes manifest")
    mapped, mapping_counts = cityscapes.to_cityscapes(
        frame, class_mapping, rider_policy, rider_overlap=rider_overlap, rider_min_score=rider_min_score,
        rider_mask_overlap=rider_mask_overlap,
    )
    images = cityscapes.ground_truth_images(ground_truth, image_ids)
    if engine == "official":
        result = cityscapes.evaluate_official(mapped, images, gt_dir)
    elif engine == "segshift":
        result = cityscapes_fast.evaluate(mapped, images, gt_dir, workers=workers)
    else:
        raise SegshiftError(f"unknown Cityscapes evaluation engine {engine!r}; use one of {', '.join(cityscapes.ENGINES)}")
    settings = {
        "engine": engine,
        "score_threshold": score_threshold,
        "class_mapping": class_mapping,
        "rider_policy": rider_policy,
        **({"rider_overlap": rider_overlap, "rider_min_score": rider_min_score} if rider_policy == "two_wheeler" else {}),
        **({"rider_mask_overlap": rider_mask_overlap, "rider_min_score": rider_min_score}
           if rider_policy == "two_wheeler_mask" else {}),
    }
    return clean_nan(
        {
            "metric": "cityscapes",
            "model": _model(files),
            "domain": domain,
            "rider_policy": rider_policy,
            "counts": {**counts, "class_mapping": mapping_counts},
            "results": result,
            "provenance": provenance(files, ground_truth_file, settings),
        }
    )


def _model(files) -> str | None:
    return predictions.read_metadata(files[0]).get("model") if files else None
