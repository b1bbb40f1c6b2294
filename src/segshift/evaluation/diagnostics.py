"""Why AP drops: TIDE errors, calibration, score distributions and class confusions.

Boundary AP is coco.evaluate's "boundary" IoU type. Every number here comes from hotcoco
(tide_errors, calibration, confusion_matrix) except what resampling needs per image: the
true/false positives of bootstrap.match, from which ECE is re-accumulated per resample (a test
holds it equal to hotcoco's on unit weights).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import pandas as pd

from segshift import predictions
from segshift.evaluation import bootstrap, coco

# TIDE's main errors (Bolya et al. 2020), hotcoco's keys -> segshift's names, in TIDE's order.
ERRORS = {"Cls": "classification", "Loc": "localisation", "Both": "both", "Dupe": "duplicate", "Bkg": "background",
          "Miss": "missed"}
# Its special errors: all false positives suppressed, all missed objects found.
SPECIAL_ERRORS = {"FP": "false_positives", "FN": "false_negatives"}
POSITIVE_IOU = 0.5  # a match, for TIDE, calibration and confusions
BACKGROUND_IOU = 0.1  # TIDE: below it a detection overlaps nothing
SCORE_BINS = 20  # true- and false-positive score histograms


def evaluated(ground_truth: dict, frame: pd.DataFrame, image_ids, iou_type: str, category_ids, run: bool = True):
    """A hotcoco COCOeval of `frame` on these images and classes, after evaluate() (run)."""
    from hotcoco import COCOeval

    gt = coco.load_ground_truth(ground_truth, "hotcoco")
    frame = frame[frame["image_id"].isin(set(image_ids)) & frame["category_id"].isin(set(category_ids))]
    results = predictions.to_coco_results(frame, iou_type)
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results) if results else coco.empty_results(gt, "hotcoco")
        evaluator = COCOeval(gt, dt, iou_type)
        evaluator.params.imgIds = sorted(image_ids)
        evaluator.params.catIds = sorted(category_ids)
        if run:
            evaluator.evaluate()
    return evaluator


def tide_errors(evaluator) -> dict[str, Any]:
    """TIDE's decomposition at IoU 0.5: AP50 and, per error type, the AP50 gained by fixing it (fractions)."""
    out = evaluator.tide_errors(pos_thr=POSITIVE_IOU, bg_thr=BACKGROUND_IOU)
    return {
        "AP50": float(out["ap_base"]),
        "delta_ap": {name: float(out["delta_ap"][key]) for key, name in {**ERRORS, **SPECIAL_ERRORS}.items()},
        "counts": {name: int(out["counts"][key]) for key, name in ERRORS.items()},
    }


def calibration(evaluator, bins: int) -> dict[str, Any]:
    """Expected and maximum calibration error, and the reliability curve: a detection is right when it
    matches an object at IoU 0.5 (COCO's matching, 100 detections per image and class)."""
    out = evaluator.calibration(n_bins=bins, iou_threshold=POSITIVE_IOU)
    undefined = out["num_detections"] == 0  # hotcoco says 0: no detection is not a calibrated one
    return {
        "ece": None if undefined else float(out["ece"]),
        "mce": None if undefined else float(out["mce"]),
        "detections": int(out["num_detections"]),
        "bins": [{"low": float(b["bin_lower"]), "high": float(b["bin_upper"]), "confidence": float(b["avg_confidence"]),
                  "accuracy": float(b["avg_accuracy"]), "count": int(b["count"])} for b in out["bins"]],
        "per_class": {name: float(v) for name, v in out["per_category"].items()},
    }


def scored_detections(pairs: bootstrap.CocoPairs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image position, score, true positive) of every detection COCO scores at IoU 0.5 over all areas:
    the detections calibration counts."""
    matches = bootstrap.match(pairs)
    rank = np.lexsort((-pairs.d_score, pairs.d_cat))
    status = matches.status[0, 0]  # area "all", IoU 0.5
    kept = status != 0
    return pairs.d_img[rank][kept], pairs.d_score[rank][kept], status[kept] == 1


def score_histograms(score: np.ndarray, true: np.ndarray, bins: int = SCORE_BINS) -> dict[str, list]:
    edges = np.linspace(0, 1, bins + 1)
    return {
        "edges": edges.tolist(),
        "true_positives": np.histogram(score[true], edges)[0].tolist(),
        "false_positives": np.histogram(score[~true], edges)[0].tolist(),
    }


def resampled_ece(image: np.ndarray, score: np.ndarray, true: np.ndarray, n_images: int, counts: np.ndarray,
                  bins: int) -> np.ndarray:
    """ECE per resample (`counts`: (B, I) copies of each image): per-image bin sums, weighted."""
    which = np.minimum((score * bins).astype(np.int64), bins - 1)
    cell = image * bins + which
    sums = [np.bincount(cell, weights=w, minlength=n_images * bins).reshape(n_images, bins)
            for w in (np.ones_like(score), score, true.astype(np.float64))]
    number, confidence, accuracy = (counts.astype(np.float64) @ s for s in sums)
    total = number.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(confidence - accuracy).sum(1) / total


def confusion(ground_truth: dict, frame: pd.DataFrame, image_ids) -> dict[str, Any]:
    """Mask confusion matrix at IoU 0.5 over every class of `ground_truth` (hotcoco's confusion_matrix):
    rows are the ground truth's class, columns the detection's; the last row and column are background
    (a detection on nothing, an object nothing found)."""
    ids = set(image_ids)
    classes = sorted(c["id"] for c in ground_truth["categories"])
    subset = {**ground_truth, "images": [im for im in ground_truth["images"] if im["id"] in ids],
              "annotations": [a for a in ground_truth["annotations"] if a["image_id"] in ids]}
    evaluator = evaluated(subset, frame, image_ids, "segm", classes, run=False)  # confusion_matrix matches itself
    out = evaluator.confusion_matrix(iou_thr=POSITIVE_IOU, max_det=100)
    return {"classes": list(out["cat_names"]), "matrix": np.asarray(out["matrix"], dtype=np.int64).tolist()}
