"""Bootstrap over images: every AP re-accumulated on resampled image lists, without re-running an evaluator.

(Which count vectors are drawn: resampling.py; intervals from them: intervals.py.)

Matching is per image in both protocols, so it is done once; a resample only changes how many
times each image counts. A resample is a vector of counts (an image drawn twice counts twice),
and the AP of a resample equals the evaluator's AP on the list with each drawn image repeated
under a new id: pycocotools for COCO-style AP (duplicates placed next to their original in the
id order, which is where ties between equal scores are broken), cityscapesscripts for the
official protocol. Tests hold both equalities on fixed resamples.

COCO: `coco_matches` is pycocotools' evaluateImg (same IoUs from the mask API, the same greedy
matching, crowd and area rules) for every (class, image), and `coco_resampled` its accumulate
for many count vectors at once, reduced to the sum over the 101 recall points per
(class, area, IoU threshold): every COCO number is a mean of those sums. Only the true positives
of a ranked list can set the interpolated precision, so false positives are counted, not visited twice.

Cityscapes: the fast engine's per-image matches give, per (class, overlap), each image's scored
true/false entries and its hard false negatives; `cityscapes_resampled` is the official step-wise
AP on the weighted entries.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segshift.errors import SegshiftError
from segshift.evaluation import cityscapes_fast
from segshift.evaluation.cityscapes import CLASS_NAMES
from segshift.io import atomic_path

IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)  # as COCOeval
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
AREA_RANGES = np.array([[0, 1e5**2], [0, 32**2], [32**2, 96**2], [96**2, 1e5**2]], dtype=np.float64)
MAX_DETS = 100


# COCO: per-image matching --------------------------------------------------------------------------


@dataclass
class CocoMatches:
    """pycocotools' evalImgs for one IoU type, as arrays, in accumulate's order."""

    offsets: np.ndarray  # (K + 1,) each class's detections, ranked as accumulate ranks them
    det_image: np.ndarray  # (N,) image position
    group_end: np.ndarray  # (N,) end of the run of equal score in one image (duplicated images repeat runs)
    status: np.ndarray  # (A, T, N) int8: 0 ignored, 1 true positive, 2 false positive
    npig: np.ndarray  # (K, A, I) ground truth that counts (not crowd, in the area range)


@dataclass
class CocoPairs:
    """What matching needs and area ranges do not change: detections (top 100 per class and image,
    by score) and ground truth per (class, image) cell, and their IoUs."""

    images: np.ndarray  # (I,) sorted image ids
    n_classes: int
    d_img: np.ndarray  # detections by (class, image, score), as evaluateImg takes them
    d_cat: np.ndarray
    d_score: np.ndarray
    d_area: np.ndarray
    g_img: np.ndarray  # ground truth by (class, image), in dataset order
    g_cat: np.ndarray
    g_crowd: np.ndarray
    g_area: np.ndarray
    g_local: np.ndarray  # its column in its image's IoU block
    iou_start: np.ndarray  # each detection's row in `ious`
    ious: np.ndarray


def coco_matches(ground_truth: dict, frame: pd.DataFrame, image_ids, iou_type: str, category_ids,
                 area_scale: dict[int, float] | None = None) -> CocoMatches:
    """Per-image evaluation of `frame` (predictions.read's frame) as COCOeval.evaluate does it.

    area_scale: per image, a factor on every ground-truth and detection area (as in coco.evaluate).
    """
    return match(coco_pairs(ground_truth, frame, image_ids, iou_type, category_ids), area_scale)


def coco_pairs(ground_truth: dict, frame: pd.DataFrame, image_ids, iou_type: str, category_ids,
               dilation_ratio: float = 0.02) -> CocoPairs:
    """The detections, ground truth and IoUs of computeIoU for every (class, image).

    iou_type "boundary": faster-coco-eval's (and the boundary-iou-api's) Boundary IoU: the smaller of
    mask IoU and the IoU of the boundary bands `dilation_ratio` of the image diagonal wide; a crowd
    region keeps its mask IoU.
    """
    from faster_coco_eval.core import mask as mask_api

    images = np.unique(np.asarray(list(image_ids), dtype=np.int64))
    position = {int(i): k for k, i in enumerate(images)}
    cats = np.asarray(sorted(category_ids), dtype=np.int64)
    cat_position = {int(c): k for k, c in enumerate(cats)}
    sizes = {im["id"]: (im["height"], im["width"]) for im in ground_truth["images"]}

    gts = [a for a in ground_truth["annotations"] if a["image_id"] in position and a["category_id"] in cat_position]
    frame = frame[frame["image_id"].isin(position) & frame["category_id"].isin(cat_position)]

    # Detections ranked by (class, image, score) stably: evaluateImg's order within a cell.
    d_img = np.array([position[int(i)] for i in frame["image_id"]], dtype=np.int64)
    d_cat = np.array([cat_position[int(c)] for c in frame["category_id"]], dtype=np.int64)
    d_score = frame["score"].to_numpy(dtype=np.float64)
    order = np.lexsort((-d_score, d_img, d_cat))
    cell = d_cat[order] * len(images) + d_img[order]
    rank = np.arange(len(order)) - np.searchsorted(cell, cell, side="left")
    order = order[rank < MAX_DETS]
    frame = frame.iloc[order]
    d_img, d_cat, d_score = d_img[order], d_cat[order], d_score[order]
    rows = list(frame.itertuples(index=False))
    masks = iou_type in ("segm", "boundary")
    if masks:
        d_geom = [{"size": [int(r.height), int(r.width)], "counts": r.counts} for r in rows]
        d_area = np.asarray(mask_api.area(d_geom), dtype=np.float64) if rows else np.zeros(0)
    else:
        d_geom = np.array([np.asarray(r.bbox, dtype=np.float64) for r in rows]).reshape(-1, 4)
        d_area = d_geom[:, 2] * d_geom[:, 3]

    g_img = np.array([position[a["image_id"]] for a in gts], dtype=np.int64)
    g_cat = np.array([cat_position[a["category_id"]] for a in gts], dtype=np.int64)
    g_order = np.lexsort((g_img, g_cat))  # dataset order within a cell
    gts = [gts[k] for k in g_order]
    g_img, g_cat = g_img[g_order], g_cat[g_order]
    g_crowd = np.array([int(a.get("iscrowd", 0)) for a in gts], dtype=np.int64)
    g_area = np.array([a["area"] for a in gts], dtype=np.float64)

    # IoU of every detection with every ground truth of its image and class, one call per image.
    d_by_image = pd.Series(np.arange(len(d_img))).groupby(d_img).indices if len(d_img) else {}
    g_by_image = pd.Series(np.arange(len(g_img))).groupby(g_img).indices if len(g_img) else {}
    iou_start = np.zeros(len(d_img), dtype=np.int64)
    g_local = np.zeros(len(g_img), dtype=np.int64)
    blocks, used = [], 0
    for image, g_index in g_by_image.items():
        g_local[g_index] = np.arange(len(g_index))
        d_index = d_by_image.get(image)
        if d_index is None:
            continue
        if masks:
            h, w = sizes[int(images[image])]
            g_geom = [_gt_rle(gts[k]["segmentation"], h, w, mask_api) for k in g_index]
            d_here = [d_geom[k] for k in d_index]
            iou = mask_api.iou(d_here, g_geom, list(g_crowd[g_index]))
            if iou_type == "boundary" and len(d_here):
                band = mask_api.iou(mask_api._mask.toBoundary(d_here, dilation_ratio),
                                    mask_api._mask.toBoundary(g_geom, dilation_ratio), list(g_crowd[g_index]))
                iou = np.asarray(iou, dtype=np.float64).reshape(len(d_index), len(g_index))
                band = np.asarray(band, dtype=np.float64).reshape(iou.shape)
                iou = np.where(g_crowd[g_index][None, :] == 1, iou, np.minimum(iou, band))
        else:
            iou = mask_api.iou(d_geom[d_index], np.array([gts[k]["bbox"] for k in g_index], dtype=np.float64),
                               list(g_crowd[g_index]))
        iou = np.asarray(iou, dtype=np.float64).reshape(len(d_index), len(g_index))
        blocks.append(iou.ravel())
        iou_start[d_index] = used + np.arange(len(d_index)) * len(g_index)
        used += iou.size
    ious = np.concatenate(blocks) if blocks else np.zeros(0)
    return CocoPairs(images, len(cats), d_img, d_cat, d_score, d_area, g_img, g_cat, g_crowd, g_area, g_local,
                     iou_start, ious)


def match(pairs: CocoPairs, area_scale: dict[int, float] | None = None) -> CocoMatches:
    """evaluateImg on every cell, then accumulate's ranking; area_scale multiplies each image's areas."""
    p = pairs
    K, I = p.n_classes, len(p.images)
    d_area, g_area = p.d_area, p.g_area
    if area_scale is not None:
        factor = np.array([area_scale[int(i)] for i in p.images], dtype=np.float64)
        d_area, g_area = d_area * factor[p.d_img], g_area * factor[p.g_img]
    d_cell = p.d_cat * I + p.d_img
    g_cell = p.g_cat * I + p.g_img
    cells = np.unique(np.concatenate([d_cell, g_cell]))
    d_bounds = np.searchsorted(d_cell, np.stack([cells, cells + 1]))
    g_bounds = np.searchsorted(g_cell, np.stack([cells, cells + 1]))
    status, npig = _match_cells(d_bounds, g_bounds, cells, K, I, p.iou_start, p.ious, d_area, p.g_local, p.g_crowd,
                                g_area, IOU_THRESHOLDS, AREA_RANGES)

    # accumulate's ranking: each class's detections in image order, stably sorted by score.
    rank = np.lexsort((-p.d_score, p.d_cat))
    offsets = np.searchsorted(p.d_cat[rank], np.arange(K + 1))
    d_img, d_score, status = p.d_img[rank], p.d_score[rank], status[:, :, rank]
    n = len(d_img)
    boundary = np.ones(n + 1, dtype=bool)
    if n:
        boundary[1:n] = (d_img[1:] != d_img[:-1]) | (d_score[1:] != d_score[:-1])
        boundary[offsets] = True
    starts = np.flatnonzero(boundary[:n])
    ends = np.append(starts[1:], n) if n else starts
    return CocoMatches(offsets, d_img, np.repeat(ends, ends - starts), status, npig)


def _gt_rle(segmentation, h, w, mask_api):
    """pycocotools' annToRLE."""
    if isinstance(segmentation, list):
        return mask_api.merge(mask_api.frPyObjects(segmentation, h, w))
    if isinstance(segmentation["counts"], list):
        return mask_api.frPyObjects(segmentation, h, w)
    return segmentation


@numba.njit(cache=True)
def _match_cells(d_bounds, g_bounds, cells, K, I, iou_start, ious, d_area, g_local, g_crowd, g_area, thresholds, ranges):
    """evaluateImg for every (class, image) cell, every area range and IoU threshold."""
    A, T, N = len(ranges), len(thresholds), len(d_area)
    status = np.zeros((A, T, N), dtype=np.int8)
    npig = np.zeros((K, A, I), dtype=np.int32)
    for c in range(len(cells)):
        k, i = cells[c] // I, cells[c] % I
        d0, d1 = d_bounds[0, c], d_bounds[1, c]
        g0, g1 = g_bounds[0, c], g_bounds[1, c]
        G = g1 - g0
        for a in range(A):
            ignore = np.zeros(G, dtype=np.int64)
            for g in range(G):
                area = g_area[g0 + g]
                ignore[g] = 1 if (g_crowd[g0 + g] or area < ranges[a, 0] or area > ranges[a, 1]) else 0
            gorder = np.argsort(ignore, kind="mergesort")
            npig[k, a, i] = G - ignore.sum()
            for t in range(T):
                gt_matched = np.zeros(G, dtype=np.bool_)
                for d in range(d0, d1):
                    best = min(thresholds[t], 1 - 1e-10)
                    m = -1
                    for gi in range(G):
                        g = gorder[gi]
                        if gt_matched[g] and not g_crowd[g0 + g]:
                            continue
                        if m > -1 and ignore[m] == 0 and ignore[g] == 1:
                            break
                        value = ious[iou_start[d] + g_local[g0 + g]]
                        if value < best:
                            continue
                        best = value
                        m = g
                    if m == -1:
                        outside = d_area[d] < ranges[a, 0] or d_area[d] > ranges[a, 1]
                        status[a, t, d] = 0 if outside else 2
                    else:
                        gt_matched[m] = True
                        status[a, t, d] = 0 if ignore[m] else 1
    return status, npig


# COCO: re-accumulation ----------------------------------------------------------------------------


def coco_resampled(matches: CocoMatches, counts: np.ndarray) -> np.ndarray:
    """(B, K, A, T) sums of the interpolated precision over the 101 recall points, NaN where no
    ground truth counts (COCOeval's -1), for each row of `counts` (B, I)."""
    counts = np.ascontiguousarray(counts, dtype=np.int32)
    K, A, I = matches.npig.shape
    npig = (counts.astype(np.float64) @ matches.npig.reshape(K * A, I).T.astype(np.float64)).reshape(-1, K, A)
    last = _stream_ends(matches.offsets, matches.group_end, matches.status)
    return _accumulate(counts, npig, matches.offsets, matches.det_image, matches.group_end, matches.status, last,
                       RECALL_THRESHOLDS)


@numba.njit(cache=True)
def _stream_ends(offsets, group_end, status):
    """Per (class, area, threshold): the end of the last group holding a true positive (later false positives change nothing)."""
    A, T, _ = status.shape
    K = len(offsets) - 1
    last = np.zeros((K, A, T), dtype=np.int64)
    for k in range(K):
        for a in range(A):
            for t in range(T):
                last[k, a, t] = offsets[k]
                for d in range(offsets[k + 1] - 1, offsets[k] - 1, -1):
                    if status[a, t, d] == 1:
                        last[k, a, t] = group_end[d]
                        break
    return last


@numba.njit(parallel=True, cache=True)
def _accumulate(counts, npig, offsets, det_image, group_end, status, last, recall):
    B = counts.shape[0]
    A, T, _ = status.shape
    K = len(offsets) - 1
    R = len(recall)
    eps = np.spacing(1.0)
    out = np.full((B, K, A, T), np.nan)
    for b in numba.prange(B):
        best = np.zeros(R)
        w = counts[b]
        for k in range(K):
            for a in range(A):
                n_gt = npig[b, k, a]
                if n_gt == 0:
                    continue
                for t in range(T):
                    best[:] = 0.0
                    tp = 0.0
                    fp = 0.0
                    slot = 0  # recall only grows: step the slot on (searchsorted's answer, without the search)
                    d = offsets[k]
                    end = last[k, a, t]
                    while d < end:
                        g_end = group_end[d]
                        copies = w[det_image[d]]
                        for _ in range(copies):
                            for e in range(d, g_end):
                                s = status[a, t, e]
                                if s == 2:
                                    fp += 1.0
                                elif s == 1:
                                    tp += 1.0
                                    rc = tp / n_gt
                                    pr = tp / (fp + tp + eps)
                                    while slot + 1 < R and recall[slot + 1] <= rc:
                                        slot += 1
                                    if pr > best[slot]:
                                        best[slot] = pr
                        d = g_end
                    total = 0.0
                    running = 0.0
                    for r in range(R - 1, -1, -1):
                        if best[r] > running:
                            running = best[r]
                        total += running
                    out[b, k, a, t] = total
    return out


def coco_numbers(sums: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Per-resample COCO numbers from `coco_resampled`'s sums, keyed like a metric file
    ("summary/AP", "per_class/person/AP50", ...), as evaluate's summarize and per-class means."""
    B, K, A, T = sums.shape
    R = len(RECALL_THRESHOLDS)
    valid = ~np.isnan(sums)
    filled = np.where(valid, sums, 0.0)
    t50, t75 = 0, int(np.flatnonzero(np.isclose(IOU_THRESHOLDS, 0.75))[0])
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        def mean(axis_sum, axis_count):
            return np.where(axis_count > 0, axis_sum / (axis_count * R), np.nan)

        all_t = (filled.sum(axis=(1, 3)), valid.sum(axis=(1, 3)))  # (B, A)
        out["summary/AP"] = mean(all_t[0][:, 0], all_t[1][:, 0])
        out["summary/AP50"] = mean(filled[:, :, 0, t50].sum(1), valid[:, :, 0, t50].sum(1))
        out["summary/AP75"] = mean(filled[:, :, 0, t75].sum(1), valid[:, :, 0, t75].sum(1))
        for a, key in ((1, "APs"), (2, "APm"), (3, "APl")):
            out[f"summary/{key}"] = mean(all_t[0][:, a], all_t[1][:, a])
        per_t = (filled.sum(axis=3), valid.sum(axis=3))  # (B, K, A)
        for k, name in enumerate(names):
            out[f"per_class/{name}/AP"] = mean(per_t[0][:, k, 0], per_t[1][:, k, 0])
            out[f"per_class/{name}/AP50"] = mean(filled[:, k, 0, t50], valid[:, k, 0, t50])
            for a, key in ((1, "APs"), (2, "APm"), (3, "APl")):
                out[f"per_class/{name}/{key}"] = mean(per_t[0][:, k, a], per_t[1][:, k, a])
    return out


# Cityscapes -----------------------------------------------------------------------------------------


@dataclass
class CityscapesEntries:
    """The official protocol's per-image contributions, per (class, overlap)."""

    offsets: np.ndarray  # (C * O + 1,) the entries of each (class, overlap), in the arrays below
    entry_image: np.ndarray  # entries sorted by score within each (class, overlap)
    entry_true: np.ndarray
    entry_score: np.ndarray
    hard_fns: np.ndarray  # (C, O, I)
    has_gt: np.ndarray  # (C, I)
    has_pred: np.ndarray  # (C, I)


def cityscapes_entries(per_image: list) -> CityscapesEntries:
    """From every image's cityscapes_fast.image_entries, in image order."""
    C, O, I = len(cityscapes_fast.CLASS_IDS), len(per_image[0][0][2]) if per_image else 0, len(per_image)
    hard_fns = np.zeros((C, O, I), dtype=np.int64)
    has_gt = np.zeros((C, I), dtype=bool)
    has_pred = np.zeros((C, I), dtype=bool)
    parts: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(C * O)]
    for i, image in enumerate(per_image):
        for c, (valid, preds, per_overlap) in enumerate(image):
            has_gt[c, i], has_pred[c, i] = valid, preds
            for o, (trues, scores, fns) in enumerate(per_overlap):
                hard_fns[c, o, i] = fns
                if len(scores):
                    parts[c * O + o].append((np.full(len(scores), i), trues, scores))
    offsets, image, true, score, used = np.zeros(C * O + 1, dtype=np.int64), [], [], [], 0
    for s, chunk in enumerate(parts):
        if chunk:
            im = np.concatenate([p[0] for p in chunk])
            tr = np.concatenate([p[1] for p in chunk])
            sc = np.concatenate([p[2] for p in chunk])
            order = np.argsort(sc, kind="stable")
            image.append(im[order]), true.append(tr[order]), score.append(sc[order])
            used += len(order)
        offsets[s + 1] = used
    cat = (lambda xs, dtype: np.concatenate(xs).astype(dtype) if xs else np.zeros(0, dtype))
    return CityscapesEntries(offsets, cat(image, np.int64), cat(true, np.float64), cat(score, np.float64),
                             hard_fns, has_gt, has_pred)


def cityscapes_resampled(entries: CityscapesEntries, counts: np.ndarray) -> np.ndarray:
    """(B, classes, overlaps) official AP for each row of `counts` (NaN: no ground truth in the draw)."""
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    C, O, I = entries.hard_fns.shape
    present = counts > 0
    have_gt = (present.astype(np.int64) @ entries.has_gt.T.astype(np.int64)) > 0  # (B, C)
    have_pred = (present.astype(np.int64) @ entries.has_pred.T.astype(np.int64)) > 0
    hard = (counts @ entries.hard_fns.reshape(C * O, I).T).reshape(-1, C, O)
    return _step_aps(counts, have_gt, have_pred, hard, entries.offsets, entries.entry_image, entries.entry_true,
                     entries.entry_score, C, O)


@numba.njit(parallel=True, cache=True)
def _step_aps(counts, have_gt, have_pred, hard, offsets, image, true, score, C, O):
    B = counts.shape[0]
    out = np.zeros((B, C, O))
    for b in numba.prange(B):
        w = counts[b]
        for c in range(C):
            if not have_gt[b, c]:
                out[b, c, :] = np.nan
                continue
            if not have_pred[b, c]:
                continue
            for o in range(O):
                s0, s1 = offsets[c * O + o], offsets[c * O + o + 1]
                examples = 0.0
                positives = 0.0
                for e in range(s0, s1):
                    examples += w[image[e]]
                    positives += w[image[e]] * true[e]
                if examples == 0:
                    continue  # nothing scored: AP 0, as the fast engine
                # One point per distinct score (ascending), then the artificial (recall 0, precision 1).
                precision = np.zeros(s1 - s0 + 1)
                recall = np.zeros(s1 - s0 + 1)
                n = 0
                below = 0.0
                before = 0.0
                e = s0
                while e < s1:
                    f = e
                    group = 0.0
                    group_true = 0.0
                    while f < s1 and score[f] == score[e]:
                        group += w[image[f]]
                        group_true += w[image[f]] * true[f]
                        f += 1
                    if group > 0:
                        tp = positives - before
                        fp = examples - below - tp
                        fn = before + hard[b, c, o]
                        precision[n] = tp / (tp + fp)
                        recall[n] = tp / (tp + fn)
                        n += 1
                    below += group
                    before += group_true
                    e = f
                precision[n] = 1.0
                recall[n] = 0.0
                ap = 0.0
                for j in range(n + 1):
                    previous = recall[j - 1] if j > 0 else recall[0]
                    following = recall[j + 1] if j < n else 0.0
                    ap += precision[j] * (previous * 0.5 - following * 0.5)
                out[b, c, o] = ap
    return out


def cityscapes_numbers(aps: np.ndarray, overlaps: np.ndarray = cityscapes_fast.OVERLAPS) -> dict[str, np.ndarray]:
    """Per-resample numbers keyed like a Cityscapes metric file, as the official summary takes them."""
    o50 = int(np.flatnonzero(np.isclose(overlaps, 0.5))[0])
    out: dict[str, np.ndarray] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a draw where no class has ground truth
        out["mean/AP"] = np.nanmean(aps.reshape(len(aps), -1), axis=1)
        out["mean/AP50"] = np.nanmean(aps[:, :, o50], axis=1)
    for c, name in enumerate(CLASS_NAMES):
        out[f"per_class/{name}/AP"] = aps[:, c].mean(axis=1)
        out[f"per_class/{name}/AP50"] = aps[:, c, o50]
    return out


# The per-resample values a metric job writes next to its metric file --------------------------------------

_META_KEY = b"segshift"


def resamples_path(metric_file) -> Path:
    """results/metrics/<domain>/<model>/<name>.json -> <name>_resamples.parquet beside it."""
    path = Path(metric_file)
    return path.with_name(f"{path.stem}_resamples.parquet")


def write_values(path, values: dict[str, np.ndarray], resampling: dict, images: int) -> None:
    """One float64 column per number (key as in the metric file's intervals), one row per row of
    resampling.Plan (resamples, estimate, jackknife); no column when resampling is off. The settings
    and the number of images are in the file's metadata. float64: BCa's bias correction compares
    resamples with the estimate, and a float32 round would move ties."""
    table = pa.table({k: np.asarray(v, dtype=np.float64) for k, v in values.items()})
    table = table.replace_schema_metadata({_META_KEY: json.dumps({**resampling, "images": images}).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_values(path, columns=None) -> tuple[pd.DataFrame, dict]:
    """The per-resample values and the settings; columns: only these (those the file has), read alone."""
    try:
        if columns is None:
            table = pq.read_table(path)
        else:  # ParquetFile: a few columns of a wide file, without read_table's dataset set-up (3x faster)
            file = pq.ParquetFile(path)
            have = set(file.schema_arrow.names)
            table = file.read(columns=[c for c in columns if c in have])
    except (OSError, ValueError) as e:
        raise SegshiftError(f"resampled values {path} cannot be read ({e}); delete it and rerun its metric job") from e
    meta = json.loads((table.schema.metadata or {}).get(_META_KEY, b"{}"))
    return table.to_pandas().astype(np.float64), meta
