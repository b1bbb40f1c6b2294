"""An exact, fast reimplementation of cityscapesscripts' evalInstanceLevelSemanticLabeling.

Same protocol, same numbers: overlaps 0.50:0.95 with a strictly greater IoU,
ground truth counted only for instance ids >= 1000 covering at least 100 pixels,
an unmatched prediction ignored when more than the overlap threshold of it lies
on void, group or too-small ground truth, step-wise AP with the artificial first
point, and the nan-mean over classes.

What differs is the work: predictions stay COCO RLEs (no PNG per instance), and
every prediction/ground-truth intersection of an image comes from one pass over
run intervals in column-major order, instead of comparing every pair over the
whole frame. Images are matched in parallel processes.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from segshift.categories import CITYSCAPES_CLASSES
from segshift.evaluation.cityscapes import GroundTruthImage, summarize

OVERLAPS = np.arange(0.5, 1.0, 0.05)  # exactly the official script's array
MIN_REGION_SIZE = 100
CLASS_IDS = np.array([label_id for _, label_id in CITYSCAPES_CLASSES])


def void_label_ids() -> np.ndarray:
    from cityscapesscripts.helpers.labels import labels

    return np.array([label.id for label in labels if label.ignoreInEval])


# RLE ------------------------------------------------------------------------------------------


def rle_counts(counts: str) -> np.ndarray:
    """Uncompressed run lengths of a COCO compressed RLE string (pycocotools' rleFrString)."""
    chars = np.frombuffer(counts.encode("ascii"), dtype=np.uint8).astype(np.int64) - 48
    if chars.size == 0:
        return np.zeros(0, dtype=np.int64)
    last = (chars & 0x20) == 0  # the last 5-bit chunk of a number
    ends = np.flatnonzero(last)
    starts = np.concatenate(([0], ends[:-1] + 1))
    group = np.repeat(np.arange(len(ends)), ends - starts + 1)
    position = np.arange(chars.size) - starts[group]
    values = np.zeros(len(ends), dtype=np.int64)
    np.add.at(values, group, (chars & 0x1F) << (5 * position))
    negative = (chars[ends] & 0x10) != 0
    values[negative] |= -1 << (5 * (position[ends[negative]] + 1))
    # Numbers after the second are stored as differences to the number two places back.
    out = values.copy()
    out[1::2] = np.cumsum(values[1::2])
    out[2::2] = np.cumsum(values[2::2])
    return out


def foreground_runs(counts: str) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) of the foreground runs of an RLE, in column-major pixel order."""
    bounds = np.cumsum(rle_counts(counts))
    return bounds[0::2][: len(bounds[1::2])], bounds[1::2]


# Matching one image ---------------------------------------------------------------------------


@dataclass
class ImageMatches:
    """Everything the AP stage needs from one image."""

    gt_id: np.ndarray  # (G,) instance id as in instanceIds (>= 1000 instance, < 1000 group)
    gt_label: np.ndarray  # (G,)
    gt_pixels: np.ndarray  # (G,)
    pred_label: np.ndarray  # (P,)
    pred_score: np.ndarray  # (P,)
    pred_pixels: np.ndarray  # (P,)
    pred_void: np.ndarray  # (P,) pixels on void labels
    pair_pred: np.ndarray  # (M,) intersecting (prediction, ground truth) pairs of the same label
    pair_gt: np.ndarray  # (M,)
    pair_pixels: np.ndarray  # (M,) their intersection


def match_image(instance_ids: np.ndarray, labels: np.ndarray, scores: np.ndarray, counts: list[str], void_ids: np.ndarray) -> ImageMatches:
    """Pixel counts and intersections of one image's predictions with its ground truth."""
    values, pixels = np.unique(instance_ids, return_counts=True)
    label_of = np.where(values >= 1000, values // 1000, values)
    keep = np.isin(label_of, CLASS_IDS)
    gt_id, gt_label, gt_pixels = values[keep], label_of[keep], pixels[keep]
    g = len(gt_id)

    # Ground-truth index per pixel, column-major like RLE: 0..G-1, G for void, -1 otherwise.
    index = np.full(int(values.max()) + 1 if values.size else 1, -1, dtype=np.int32)
    index[gt_id] = np.arange(g, dtype=np.int32)
    void = void_ids[(void_ids >= 0) & (void_ids < len(index))]  # license plate has id -1
    index[void] = np.where(index[void] < 0, g, index[void])
    flat = index[instance_ids.T.ravel()]
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    run_start = np.concatenate(([0], change))
    run_end = np.concatenate((change, [flat.size]))
    run_value = flat[run_start]
    interesting = run_value >= 0
    run_start, run_end, run_value = run_start[interesting], run_end[interesting], run_value[interesting]

    # Predictions: skip classes outside the benchmark and empty masks, as the official script does.
    starts, ends, owner, pred_keep, pred_pixels = [], [], [], [], []
    for k, (label, rle) in enumerate(zip(labels, counts)):
        if label not in CLASS_IDS:
            continue
        s, e = foreground_runs(rle)
        area = int((e - s).sum())
        if area == 0:
            continue
        owner.append(np.full(len(s), len(pred_keep)))
        pred_keep.append(k)
        pred_pixels.append(area)
        starts.append(s)
        ends.append(e)
    p = len(pred_keep)
    pred_label = labels[pred_keep] if p else np.zeros(0, dtype=np.int64)
    pred_score = scores[pred_keep] if p else np.zeros(0)
    if p:
        s, e, owner = np.concatenate(starts), np.concatenate(ends), np.concatenate(owner)
        first = np.searchsorted(run_end, s, side="right")  # first ground-truth run ending after s
        stop = np.searchsorted(run_start, e, side="left")  # first one starting at or after e
        span = np.maximum(stop - first, 0)
        pair_run = np.repeat(first, span) + (np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span))
        pair_owner = np.repeat(owner, span)
        overlap = np.minimum(np.repeat(e, span), run_end[pair_run]) - np.maximum(np.repeat(s, span), run_start[pair_run])
        table = np.bincount(pair_owner * (g + 1) + run_value[pair_run], weights=overlap, minlength=p * (g + 1))
        table = table.reshape(p, g + 1).astype(np.int64)
    else:
        table = np.zeros((0, g + 1), dtype=np.int64)
    pred_void = table[:, g]
    same_label = pred_label[:, None] == gt_label[None, :]
    pair_pred, pair_gt = np.nonzero((table[:, :g] > 0) & same_label)
    return ImageMatches(
        gt_id=gt_id,
        gt_label=gt_label,
        gt_pixels=gt_pixels,
        pred_label=pred_label,
        pred_score=np.asarray(pred_score, dtype=np.float64),
        pred_pixels=np.asarray(pred_pixels, dtype=np.int64),
        pred_void=pred_void,
        pair_pred=pair_pred,
        pair_gt=pair_gt,
        pair_pixels=table[pair_pred, pair_gt],
    )


def _match_file(args) -> ImageMatches:
    path, labels, scores, counts, void_ids = args
    with Image.open(path) as im:
        instance_ids = np.array(im).astype(np.int64)
    return match_image(instance_ids, labels, scores, counts, void_ids)


# Average precision --------------------------------------------------------------------------


def step_ap(y_true: np.ndarray, y_score: np.ndarray, hard_fns: int) -> float:
    """The official script's step-wise AP of one class at one overlap, computed the same way."""
    score_order = np.argsort(y_score)
    y_score_sorted = y_score[score_order]
    y_true_sorted = y_true[score_order]
    cumsum = np.cumsum(y_true_sorted)
    _, unique_indices = np.unique(y_score_sorted, return_index=True)
    n = len(unique_indices) + 1
    examples, positives = len(y_score_sorted), cumsum[-1]
    precision, recall = np.zeros(n), np.zeros(n)
    cumsum = np.append(cumsum, 0)
    for i, idx in enumerate(unique_indices):
        before = cumsum[idx - 1]
        tp = positives - before
        fp = examples - idx - tp
        fn = before + hard_fns
        precision[i] = float(tp) / (tp + fp)
        recall[i] = float(tp) / (tp + fn)
    precision[-1], recall[-1] = 1.0, 0.0
    widths = np.convolve(np.append(np.append(recall[0], recall), 0.0), [-0.5, 0, 0.5], "valid")
    return float(np.dot(precision, widths))


def image_entries(m: ImageMatches, overlaps: np.ndarray = OVERLAPS) -> list:
    """One image's contribution to each class's AP: per class, whether it has valid ground truth and
    any prediction, and per overlap the scored entries (1 true positive, 0 false positive) and the
    ground truth left unmatched. AP over images is the step-wise AP of the pooled entries."""
    out = []
    for label in CLASS_IDS:
        valid = (m.gt_label == label) & (m.gt_id >= 1000) & (m.gt_pixels >= MIN_REGION_SIZE)
        preds = np.flatnonzero(m.pred_label == label)
        pairs = m.pred_label[m.pair_pred] == label
        pp, pg, pi = m.pair_pred[pairs], m.pair_gt[pairs], m.pair_pixels[pairs]
        iou = pi / (m.gt_pixels[pg] + m.pred_pixels[pp] - pi)
        # Pixels of an unmatched prediction that lie on group or too-small ground truth
        # (a region that is both is counted twice, as in the official script).
        ignored = pi * ((m.gt_id[pg] < 1000).astype(np.int64) + (m.gt_pixels[pg] < MIN_REGION_SIZE))
        per_overlap = []
        for threshold in overlaps:
            trues, scores = [], []
            over = iou > threshold
            hit = over & valid[pg]
            # Each valid ground truth: its best match is a true positive, further matches false positives.
            hard_fns = int(valid.sum()) - len(np.unique(pg[hit]))
            if hit.any():
                hit_gt, hit_score = pg[hit], m.pred_score[pp[hit]]
                order = np.lexsort((-hit_score, hit_gt))
                best = np.ones(len(order), dtype=bool)
                best[1:] = hit_gt[order][1:] != hit_gt[order][:-1]
                trues.append(best.astype(np.float64))
                scores.append(hit_score[order])
            # Predictions without an overlapping ground truth: false positives unless mostly ignored.
            found = np.zeros(len(m.pred_label), dtype=bool)
            found[pp[over]] = True
            lonely = preds[~found[preds]]
            if lonely.size:
                ignore = m.pred_void[lonely].astype(np.int64)
                np.add.at(ignore, np.searchsorted(lonely, pp[np.isin(pp, lonely)]), ignored[np.isin(pp, lonely)])
                counted = lonely[ignore / m.pred_pixels[lonely] <= threshold]
                trues.append(np.zeros(len(counted)))
                scores.append(m.pred_score[counted])
            per_overlap.append((np.concatenate(trues) if trues else np.zeros(0),
                                np.concatenate(scores) if scores else np.zeros(0), hard_fns))
        out.append((bool(valid.any()), bool(preds.size), per_overlap))
    return out


def average_precision(images: list[ImageMatches], overlaps: np.ndarray = OVERLAPS) -> np.ndarray:
    """(classes, overlaps) AP, NaN for a class without ground truth, as evaluateMatches."""
    return pooled_ap([image_entries(m, overlaps) for m in images], overlaps)


def pooled_ap(entries: list, overlaps: np.ndarray = OVERLAPS) -> np.ndarray:
    """average_precision from every image's image_entries."""
    ap = np.zeros((len(CLASS_IDS), len(overlaps)))
    for li in range(len(CLASS_IDS)):
        if not any(e[li][0] for e in entries):
            ap[li] = np.nan
            continue
        if not any(e[li][1] for e in entries):
            continue
        for oi in range(len(overlaps)):
            parts = [e[li][2][oi] for e in entries]
            y_true = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
            y_score = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
            hard_fns = sum(p[2] for p in parts)
            # No matched ground truth and no counted prediction: recall is 0 at every
            # threshold, so AP is 0 (where the official script crashes, issue #89).
            ap[li, oi] = step_ap(y_true, y_score, hard_fns) if y_score.size else 0.0
    return ap


def match(frame: pd.DataFrame, images: list[GroundTruthImage], gt_dir: Path, workers: int | None = None
          ) -> list[ImageMatches]:
    """Every image's matches, in the order of `images`."""
    void_ids = void_label_ids()
    by_image = {i: rows for i, rows in frame.groupby("image_id")}
    empty = frame.iloc[:0]
    tasks = []
    for image in images:
        rows = by_image.get(image.image_id, empty)
        tasks.append(
            (
                Path(gt_dir) / image.instance_ids_file,
                rows["label_id"].to_numpy(dtype=np.int64),
                rows["score"].to_numpy(dtype=np.float64),
                rows["counts"].tolist(),
                void_ids,
            )
        )
    workers = workers or min(len(tasks), os.cpu_count() or 1)
    if workers > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(workers) as pool:
            return list(pool.map(_match_file, tasks, chunksize=max(1, len(tasks) // (4 * workers))))
    return [_match_file(t) for t in tasks]


def evaluate(
    frame: pd.DataFrame, images: list[GroundTruthImage], gt_dir: Path, workers: int | None = None
) -> dict:
    """Official-protocol AP of `frame` (with label_id) on `images`; the summary as `summarize` gives it."""
    return summarize(average_precision(match(frame, images, gt_dir, workers)), OVERLAPS)
