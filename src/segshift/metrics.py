"""The metric stage: prediction shards in, one metric file out, with its provenance."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segshift import manifest, predictions
from segshift.categories import COCO_ID_TO_NAME, COCO_NAME_TO_ID
from segshift.errors import SegshiftError
from segshift.evaluation import (
    bootstrap,
    cityscapes,
    cityscapes_fast,
    clean_nan,
    coco,
    diagnostics,
    intervals,
    per_image,
    provenance,
    resampling as resampling_plan,
)
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


def coco_metrics(files, ground_truth_file, *, engine: str, score_threshold: float, domain: str,
                 resampling: dict | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """COCO bbox and segm AP on every class of the ground truth (the paper's Table III), and the
    per-resample values of every number (`resampling`: resamples, seed, confidence)."""
    def score(gt, frame, ids, draws):
        values = {} if draws is None else _resampled(gt, frame, ids, [c["id"] for c in gt["categories"]], draws)
        return coco.evaluate(gt, frame, ids, engine=engine), values

    return _coco_style("coco", files, ground_truth_file, engine, score_threshold, score, resampling, {}, domain=domain)


def same_ruler_metrics(files, ground_truth_file, source_ground_truth_file, *, domain: str, kind: str, source: str,
                       source_kind: str, engine: str, score_threshold: float, ignore_regions: bool = False,
                       resampling: dict | None = None, details: dict | None = None
                       ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """COCO-style AP, per class and size, on the classes a domain shares with the source (COCO's taxonomy).

    details: a dict filled with what the slices and per-image tables read: "per_image" (per_image.COUNTS
    of every scored image) and "matches" (the mask matching, its image ids and class names)."""
    source_classes = coco.domain_classes(read_json(source_ground_truth_file, what="ground-truth file"), source_kind)

    def score(gt, frame, ids, draws):
        classes = sorted(set(coco.domain_classes(gt, kind)) & set(source_classes))
        shared, frame, ignored = coco.same_ruler_inputs(gt, kind, frame, classes, ignore_regions)
        evaluators = {} if details is not None and engine != "faster_coco_eval" else None
        results = coco.same_ruler_scores(shared, frame, ids, engine, classes, ignored if ignore_regions else None,
                                         evaluators=evaluators)
        pairs, matches = {}, {}
        if details is not None:
            pairs["segm"] = bootstrap.coco_pairs(shared, frame, ids, "segm", classes)
            matches["segm"] = bootstrap.match(pairs["segm"])
            names = {c["id"]: c["name"] for c in shared["categories"]}
            details["matches"] = (matches["segm"], pairs["segm"].images, [names[c] for c in classes])
            # The AP's own evaluation, read per image (faster-coco-eval's evalImgs differ: pycocotools then).
            details["per_image"] = (per_image.from_evaluator(*evaluators["segm"], shared, ids) if evaluators
                                    else per_image.counts(shared, frame, ids, classes, "pycocotools"))
        values = {} if draws is None else _resampled(shared, frame, ids, classes, draws, relative=True, pairs=pairs,
                                                     matches=matches)
        return results, values

    return _coco_style("same_ruler", files, ground_truth_file, engine, score_threshold, score, resampling,
                       {"ignore_regions": ignore_regions}, domain=domain, source=source)


def diagnostics_metrics(files, ground_truth_file, source_ground_truth_file, *, domain: str, kind: str, source: str,
                        source_kind: str, score_threshold: float, ignore_regions: bool = False,
                        dilation_ratio: float = coco.DILATION_RATIO, calibration_bins: int = 10,
                        resampling: dict | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Why AP drops, on the same ruler's classes and inputs: Boundary AP, and per IoU type TIDE's
    errors, calibration (ECE with its interval) and the scores of true and false positives."""
    source_classes = coco.domain_classes(read_json(source_ground_truth_file, what="ground-truth file"), source_kind)

    def score(gt, frame, ids, draws):
        classes = sorted(set(coco.domain_classes(gt, kind)) & set(source_classes))
        shared, frame, _ = coco.same_ruler_inputs(gt, kind, frame, classes, ignore_regions)
        results = coco.evaluate(shared, frame, ids, engine="faster_coco_eval", iou_types=(coco.BOUNDARY,),
                                category_ids=classes, dilation_ratio=dilation_ratio)
        values = {} if draws is None else _resampled(shared, frame, ids, classes, draws, iou_types=(coco.BOUNDARY,),
                                                     dilation_ratio=dilation_ratio)
        for iou_type in coco.IOU_TYPES:
            evaluator = diagnostics.evaluated(shared, frame, ids, iou_type, classes)
            pairs = bootstrap.coco_pairs(shared, frame, ids, iou_type, classes)
            image, scores, true = diagnostics.scored_detections(pairs)
            results[iou_type] = {
                "errors": diagnostics.tide_errors(evaluator),
                "calibration": diagnostics.calibration(evaluator, calibration_bins),
                "scores": diagnostics.score_histograms(scores, true),
            }
            if draws is not None:
                values[f"{iou_type}/ece"] = diagnostics.resampled_ece(image, scores, true, len(pairs.images), draws,
                                                                      calibration_bins)
        return results, values

    settings = {"ignore_regions": ignore_regions, "dilation_ratio": dilation_ratio, "calibration_bins": calibration_bins}
    return _coco_style("diagnostics", files, ground_truth_file, None, score_threshold, score, resampling, settings,
                       domain=domain, source=source)


def confusion_metrics(files, ground_truth_file, *, domain: str, kind: str, score_threshold: float,
                      class_mapping: dict[str, str], rider_policies: list[str], rider: dict | None = None
                      ) -> dict[str, Any]:
    """Mask confusions at IoU 0.5 among the classes COCO and Cityscapes share: in COCO's taxonomy on a
    COCO domain, in Cityscapes' (predictions mapped, riders found by each rider policy) on a Cityscapes one."""
    frame, image_ids, counts = load_predictions(files, score_threshold)
    ground_truth = read_json(ground_truth_file, what="ground-truth file")
    check_mask_sizes(files, ground_truth)
    if kind == "cityscapes":
        matrices = []
        for policy in rider_policies:
            mapped, _ = cityscapes.to_cityscapes(frame, class_mapping, policy, **(rider or {}))
            mapped = mapped.assign(category_id=mapped["label_id"])
            matrices.append({"rider_policy": policy, **diagnostics.confusion(ground_truth, mapped, image_ids)})
    else:
        keep = {COCO_NAME_TO_ID[name] for name in class_mapping}
        shared = coco.shared_class_ground_truth(ground_truth, kind, sorted(keep))
        matrices = [{"rider_policy": None, **diagnostics.confusion(shared, frame, image_ids)}]
    settings = {"score_threshold": score_threshold, "class_mapping": class_mapping, "iou_threshold": diagnostics.POSITIVE_IOU,
                **({"rider_policies": list(rider_policies), **(rider or {})} if kind == "cityscapes" else {})}
    return clean_nan({
        "metric": "confusion",
        "model": _model(files),
        "domain": domain,
        "counts": counts,
        "results": matrices,
        "provenance": provenance(files, ground_truth_file, settings),
    })


def _resampled(gt, frame, ids, classes, draws, relative: bool = False, iou_types=coco.IOU_TYPES,
               dilation_ratio: float = coco.DILATION_RATIO, pairs: dict | None = None,
               matches: dict | None = None) -> dict[str, np.ndarray]:
    """Per-resample values of each IoU type ("segm/summary/AP", ...); relative: also the size buckets
    relative to the image (APs_rel, APm_rel, APl_rel), matched again on the same IoUs. pairs, matches:
    coco_pairs and their match already computed, by IoU type."""
    names = {c["id"]: c["name"] for c in gt["categories"]}
    names = [names[c] for c in sorted(classes)]
    out = {}
    computed, matched = pairs or {}, matches or {}
    for iou_type in iou_types:
        pairs = computed.get(iou_type) or bootstrap.coco_pairs(gt, frame, ids, iou_type, classes, dilation_ratio)
        found = matched.get(iou_type) or bootstrap.match(pairs)
        values = bootstrap.coco_numbers(bootstrap.coco_resampled(found, draws), names)
        out.update({f"{iou_type}/{k}": v for k, v in values.items()})
        if relative:
            scaled = bootstrap.match(pairs, coco.relative_area_scale(gt, ids))
            values = bootstrap.coco_numbers(bootstrap.coco_resampled(scaled, draws), names)
            out.update({f"{iou_type}/{k}_rel": v for k, v in values.items() if k.rsplit("/", 1)[1] in ("APs", "APm", "APl")})
    return out


def _coco_style(metric, files, ground_truth_file, engine, score_threshold, score, resampling, extra_settings,
                **labels) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    frame, image_ids, counts = load_predictions(files, score_threshold)
    ground_truth = read_json(ground_truth_file, what="ground-truth file")
    check_mask_sizes(files, ground_truth)
    plan = _plan(resampling, ground_truth, image_ids, ground_truth_file)
    frame = frame[frame["image_id"].isin(set(image_ids))]
    results, values = score(ground_truth, frame, sorted(image_ids), None if plan is None else plan.counts)
    settings = {**({"engine": engine} if engine else {}), "score_threshold": score_threshold, **extra_settings}
    result = {
        "metric": metric,
        "model": _model(files),
        **labels,
        "counts": counts,
        "results": results,
        "provenance": provenance(files, ground_truth_file, settings),
    }
    return _with_intervals(result, values, resampling, len(image_ids), plan)


def _plan(resampling: dict | None, ground_truth: dict, image_ids, ground_truth_file) -> resampling_plan.Plan | None:
    """The count vectors to evaluate (resampling.plan), or None: resampling off, or too few images or
    clusters for an interval to mean something (an interval from one image has zero width, and cluster
    resampling with few clusters is known to under-cover: Cameron, Gelbach and Miller 2008)."""
    if not (resampling and resampling["resamples"]) or len(image_ids) < resampling.get("min_images", 0):
        return None
    labels = resampling_plan.cluster_labels(ground_truth, image_ids, resampling.get("cluster_by") or [],
                                            str(ground_truth_file))
    if labels is not None and len(set(labels)) < resampling.get("min_clusters", 0):
        return None
    plan = resampling_plan.plan(image_ids, resampling, labels)
    log.info("bootstrap: %d resamples of %d %s (%d images), %d jackknife groups", plan.resamples, plan.clusters,
             "images" if labels is None else "clusters", len(set(image_ids)), plan.jackknife)
    return plan


def _with_intervals(result: dict, values: dict[str, np.ndarray], resampling: dict | None, images: int,
                    plan: resampling_plan.Plan | None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The metric file with its intervals, and the rows to store (resampling.Plan.stored)."""
    if resampling and resampling["resamples"]:
        result["provenance"]["settings"]["bootstrap"] = dict(resampling)
        if plan is None:
            result["intervals_omitted"] = {"images": images, "min_images": resampling["min_images"]}
    if plan is not None and values:
        design = {k: plan.design_effect(v) for k, v in values.items() if _is_summary(k)}
        result["resampling"] = {"unit": "image" if plan.clusters == images else "cluster", "clusters": plan.clusters,
                                "images": images, "jackknife_groups": plan.jackknife,
                                "cluster_by": list(resampling.get("cluster_by") or []),
                                **({"design_effect": design} if plan.image_jackknife else {})}
        values = plan.stored(values)
        result["intervals"] = intervals.intervals(values, intervals.Setting.of(resampling))
    return clean_nan(result), values


def _is_summary(key: str) -> bool:
    """A metric file's summary numbers: COCO's summary, Cityscapes' mean, ECE."""
    return "/summary/" in key or key.startswith("mean/") or key.endswith("/ece")


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
    resampling: dict | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
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
    if engine not in cityscapes.ENGINES:
        raise SegshiftError(f"unknown Cityscapes evaluation engine {engine!r}; use one of {', '.join(cityscapes.ENGINES)}")
    plan = _plan(resampling, ground_truth, [im.image_id for im in images], ground_truth_file)
    matches = None
    if engine == "segshift" or plan is not None:
        matches = cityscapes_fast.match(mapped, images, gt_dir, workers=workers)
    if engine == "official":
        result = cityscapes.evaluate_official(mapped, images, gt_dir)
    per_image = [cityscapes_fast.image_entries(m) for m in matches] if matches is not None else None
    if engine == "segshift":
        result = cityscapes.summarize(cityscapes_fast.pooled_ap(per_image), cityscapes_fast.OVERLAPS)
    values = {}
    if plan is not None:
        entries = bootstrap.cityscapes_entries(per_image)
        values = bootstrap.cityscapes_numbers(bootstrap.cityscapes_resampled(entries, plan.counts))
    settings = {
        "engine": engine,
        "score_threshold": score_threshold,
        "class_mapping": class_mapping,
        "rider_policy": rider_policy,
        **({"rider_overlap": rider_overlap, "rider_min_score": rider_min_score} if rider_policy == "two_wheeler" else {}),
        **({"rider_mask_overlap": rider_mask_overlap, "rider_min_score": rider_min_score}
           if rider_policy == "two_wheeler_mask" else {}),
    }
    result = {
        "metric": "cityscapes",
        "model": _model(files),
        "domain": domain,
        "rider_policy": rider_policy,
        "counts": {**counts, "class_mapping": mapping_counts},
        "results": result,
        "provenance": provenance(files, ground_truth_file, settings),
    }
    return _with_intervals(result, values, resampling, len(images), plan)


def _model(files) -> str | None:
    return predictions.read_metadata(files[0]).get("model") if files else None
