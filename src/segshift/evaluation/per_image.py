"""Per-image results of the same ruler: COCO's matching, image by image.

The counts come from the evaluator's own per-image output (hotcoco's image diagnostics, or
pycocotools' evalImgs; a test holds the two equal) on the same inputs as the same-ruler AP: the domain's
shared classes, masks, every area, at most 100 detections per class and image. A detection
matched to a crowd region is neither a true nor a false positive, as in COCO's AP.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pandas as pd

from segshift import predictions
from segshift.evaluation import coco
from segshift.io import atomic_path

IOU_TYPE = "segm"
THRESHOLDS = (0.5, 0.75)
# The columns after image_id, file_name and the manifest's slice fields (documented in the README).
COUNTS = [
    "ground_truth",  # instances that count (not crowd)
    "true_positives_50", "false_positives_50", "misses_50",
    "true_positives_75", "false_positives_75", "misses_75",
    "mean_matched_iou_50",  # mean mask IoU of the pairs matched at IoU 0.5 (NaN: none)
    "best_false_positive_score_50",  # score of the most confident false positive at IoU 0.5 (NaN: none)
]


def counts(gt: dict, frame: pd.DataFrame, image_ids: list[int], classes: list[int], engine: str = "hotcoco"
           ) -> pd.DataFrame:
    """COUNTS per image of `image_ids` (rows in that order), from `gt` and `frame` as the same ruler scores them."""
    _, COCOeval = coco._engine(engine)
    index = coco.load_ground_truth(gt, engine)
    frame = frame[frame["image_id"].isin(set(image_ids)) & frame["category_id"].isin(set(classes))]
    results = predictions.to_coco_results(frame, IOU_TYPE)
    with contextlib.redirect_stdout(io.StringIO()):
        found = coco._load_results(index, results, engine) if results else coco.empty_results(index, engine)
        evaluator = COCOeval(index, found, IOU_TYPE)
        evaluator.params.imgIds = sorted(image_ids)
        evaluator.params.catIds = sorted(classes)
        evaluator.evaluate()
    return from_evaluator(evaluator, results, gt, image_ids)


def from_evaluator(evaluator, results: list[dict], gt: dict, image_ids: list[int]) -> pd.DataFrame:
    """COUNTS from an evaluated COCOeval (pycocotools' or hotcoco's) of masks and the results list it loaded."""
    if hasattr(evaluator, "image_diagnostics"):
        return _from_diagnostics(evaluator, results, gt, image_ids)
    return _from_eval_images(evaluator, results, gt, image_ids)


def _from_diagnostics(evaluator, results, gt, image_ids) -> pd.DataFrame:
    """hotcoco's image diagnostics (its matching at one IoU threshold, every area): building evalImgs as
    Python objects costs 50x more."""
    from pycocotools import mask as mask_api

    position = {int(i): k for k, i in enumerate(image_ids)}
    table = np.zeros((len(image_ids), 7), dtype=np.int64)
    best_fp = np.full(len(image_ids), np.nan)
    gt_image = {a["id"]: a["image_id"] for a in gt["annotations"]}
    pairs = []
    for j, threshold in enumerate(THRESHOLDS):
        found = evaluator.image_diagnostics(iou_thr=threshold, score_thr=0.0)
        if j == 0:
            for g, status in found["gt_status"].items():
                table[position[int(gt_image[g])], 0] += 1
        for d, status in found["dt_status"].items():
            r = results[d - 1]
            row = position[int(r["image_id"])]
            if status == "tp":
                table[row, 1 + 3 * j] += 1
                if j == 0:
                    pairs.append((row, d, int(found["dt_match"][d])))
            else:
                table[row, 2 + 3 * j] += 1
                if j == 0:
                    best_fp[row] = np.nanmax([best_fp[row], r["score"]])
    table[:, 3] = table[:, 0] - table[:, 1]
    table[:, 6] = table[:, 0] - table[:, 4]
    return _frame(table, _mean_matched_iou(pairs, results, gt, len(image_ids), mask_api), best_fp, image_ids)


def _frame(table, mean_iou, best_fp, image_ids) -> pd.DataFrame:
    out = pd.DataFrame(table, columns=COUNTS[:7])
    out["mean_matched_iou_50"] = mean_iou
    out["best_false_positive_score_50"] = best_fp
    out.insert(0, "image_id", np.asarray(image_ids, dtype=np.int64))
    return out


def _from_eval_images(evaluator, results, gt, image_ids) -> pd.DataFrame:
    """pycocotools' evalImgs (every area, IoU 0.5 and 0.75)."""
    from pycocotools import mask as mask_api

    thresholds = [int(np.argmin(np.abs(np.asarray(evaluator.params.iouThrs) - t))) for t in THRESHOLDS]
    every_area = list(evaluator.params.areaRng[0])
    position = {int(i): k for k, i in enumerate(image_ids)}
    table = np.zeros((len(image_ids), 7), dtype=np.int64)
    best_fp = np.full(len(image_ids), np.nan)
    pairs: list[tuple[int, int, int]] = []  # (image position, detection id, ground-truth id) matched at 0.5
    for cell in evaluator.evalImgs:
        if not cell or list(cell["aRng"]) != every_area:
            continue
        row = position[int(cell["image_id"])]
        gt_ignore = np.asarray(cell["gtIgnore"], dtype=bool)
        table[row, 0] += int((~gt_ignore).sum())
        scores = np.asarray(cell["dtScores"], dtype=np.float64)
        matches = np.asarray(cell["dtMatches"]).reshape(len(evaluator.params.iouThrs), -1)
        ignored = np.asarray(cell["dtIgnore"], dtype=bool).reshape(matches.shape)
        for j, t in enumerate(thresholds):
            true = (matches[t] > 0) & ~ignored[t]
            false = (matches[t] == 0) & ~ignored[t]
            table[row, 1 + 3 * j] += int(true.sum())
            table[row, 2 + 3 * j] += int(false.sum())
            if j == 0:
                if false.any():
                    best_fp[row] = np.nanmax([best_fp[row], scores[false].max()])
                pairs += [(row, int(d), int(g)) for d, g in zip(np.asarray(cell["dtIds"])[true], matches[t][true])]
    table[:, 3] = table[:, 0] - table[:, 1]
    table[:, 6] = table[:, 0] - table[:, 4]
    return _frame(table, _mean_matched_iou(pairs, results, gt, len(image_ids), mask_api), best_fp, image_ids)


def _mean_matched_iou(pairs, results, gt, n, mask_api) -> np.ndarray:
    """Per image, the mean mask IoU of its matched pairs; loadRes numbers detections 1..N in list order."""
    from segshift.evaluation.bootstrap import _gt_rle

    sizes = {im["id"]: (im["height"], im["width"]) for im in gt["images"]}
    annotations = {a["id"]: a for a in gt["annotations"]}
    total, count = np.zeros(n), np.zeros(n)
    for row, d, g in pairs:
        a = annotations[g]
        h, w = sizes[a["image_id"]]
        iou = mask_api.iou([results[d - 1]["segmentation"]], [_gt_rle(a["segmentation"], h, w, mask_api)], [0])
        total[row] += float(np.asarray(iou).ravel()[0])
        count[row] += 1
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def table(images: pd.DataFrame, per_image: pd.DataFrame) -> pd.DataFrame:
    """The manifest's rows (image_id, file_name, slice fields) of the scored images with their counts."""
    keep = [c for c in images.columns if c not in ("width", "height")]
    return images[keep].merge(per_image, on="image_id", how="inner", validate="one_to_one")


def write(path: str | Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
