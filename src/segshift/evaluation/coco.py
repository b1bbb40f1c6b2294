"""COCO-style metrics with a switchable engine: hotcoco (default), faster-coco-eval or pycocotools (reference).

Both engines get the same ground truth, the same results and the same parameters;
a test holds their numbers equal.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from segshift import predictions
from segshift.categories import CITYSCAPES_ID_TO_NAME, COCO_ID_TO_NAME, COCO_NAME_TO_ID
from segshift.errors import SegshiftError

log = logging.getLogger(__name__)

ENGINES = ("hotcoco", "faster_coco_eval", "pycocotools")
IOU_TYPES = ("bbox", "segm")
# Boundary AP (Cheng et al. 2021): faster-coco-eval's "boundary" IoU type, whatever the engine.
BOUNDARY = "boundary"
DILATION_RATIO = 0.02
SUMMARY = ["AP", "AP50", "AP75", "APs", "APm", "APl"]
AREAS = {"all": 0, "small": 1, "medium": 2, "large": 3}  # COCOeval's areaRng order


def _engine(name: str):
    if name == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        return COCO, COCOeval
    if name == "faster_coco_eval":
        from faster_coco_eval import COCO, COCOeval_faster

        return COCO, lambda gt, dt, iou_type: COCOeval_faster(gt, dt, iou_type, print_function=lambda *a, **k: None)
    if name == "hotcoco":
        from hotcoco import COCO, COCOeval

        return COCO, COCOeval
    raise SegshiftError(f"unknown COCO evaluation engine {name!r}; use one of {', '.join(ENGINES)}")


def load_ground_truth(dataset: dict, engine: str):
    """A COCO object of the engine's kind built from an annotation dict (copied, never changed)."""
    COCO, _ = _engine(engine)
    if engine == "hotcoco":  # a Rust object: built from the dict, which it does not keep
        with contextlib.redirect_stdout(io.StringIO()):
            return COCO(dataset)
    gt = COCO()
    # The evaluators replace fields of annotations (segmentation, ignore), never edit them in
    # place: copying each annotation dict is enough, and far cheaper than a deep copy.
    gt.dataset = {**dataset, "annotations": [dict(a) for a in dataset["annotations"]]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def _mean_precision(precision: np.ndarray) -> float:
    valid = precision[precision > -1]
    return float(valid.mean()) if valid.size else float("nan")


def evaluate(
    ground_truth: dict,
    frame: pd.DataFrame,
    image_ids: list[int],
    *,
    engine: str = "hotcoco",
    iou_types: tuple[str, ...] = IOU_TYPES,
    category_ids: list[int] | None = None,
    pr_curves: bool = False,
    area_scale: dict[int, float] | None = None,
    dilation_ratio: float = DILATION_RATIO,
    evaluators: dict | None = None,
) -> dict[str, Any]:
    """COCO-style AP of `frame` (predictions.read's frame) on `image_ids`.

    Returns per IoU type: the six summary numbers (AP, AP50, AP75, APs, APm, APl),
    per class AP for all areas and each size bucket, and (pr_curves) each class's
    precision at the 101 recall points, at IoU 0.5 and averaged over IoU 0.5:0.95.

    area_scale: per image, a factor on every ground-truth and detection area before the size
    buckets are taken (matching is unchanged); faster-coco-eval then does the evaluation, as
    the engine whose results loader segshift fills itself.
    iou_types may hold "boundary" (Boundary AP of the masks, bands `dilation_ratio` of the image
    diagonal wide), which faster-coco-eval evaluates.
    evaluators: a dict given here gets each IoU type's evaluated COCOeval (its evalImgs are the
    per-image results) and the results list it loaded.
    """
    if BOUNDARY in iou_types and engine != "faster_coco_eval":
        out = evaluate(ground_truth, frame, image_ids, engine=engine, iou_types=tuple(t for t in iou_types if t != BOUNDARY),
                       category_ids=category_ids, pr_curves=pr_curves, area_scale=area_scale)
        out.update(evaluate(ground_truth, frame, image_ids, engine="faster_coco_eval", iou_types=(BOUNDARY,),
                            category_ids=category_ids, pr_curves=pr_curves, area_scale=area_scale,
                            dilation_ratio=dilation_ratio))
        return {t: out[t] for t in iou_types}
    if area_scale is not None:
        engine = "faster_coco_eval"
        ground_truth = {**ground_truth, "annotations": [
            {**a, "area": a["area"] * area_scale[a["image_id"]]} for a in ground_truth["annotations"]
            if a["image_id"] in area_scale]}
    _, COCOeval = _engine(engine)
    gt = load_ground_truth(ground_truth, engine)
    names = {c["id"]: c["name"] for c in ground_truth["categories"]}
    category_ids = sorted(names) if category_ids is None else list(category_ids)
    frame = frame[frame["image_id"].isin(set(image_ids))]
    out: dict[str, Any] = {}
    for iou_type in iou_types:
        results = predictions.to_coco_results(frame, "segm" if iou_type == BOUNDARY else iou_type)
        with contextlib.redirect_stdout(io.StringIO()):
            dt = _load_results(gt, results, engine, area_scale) if results else empty_results(gt, engine)
            if iou_type == BOUNDARY:
                from faster_coco_eval import COCOeval_faster

                evaluator = COCOeval_faster(gt, dt, BOUNDARY, boundary_dilation_ratio=dilation_ratio,
                                            print_function=lambda *a, **k: None)
            else:
                evaluator = COCOeval(gt, dt, iou_type)
            evaluator.params.imgIds = sorted(image_ids)
            evaluator.params.catIds = category_ids
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        if evaluators is not None:
            evaluators[iou_type] = (evaluator, results)
        stats = [float("nan") if s < 0 else float(s) for s in evaluator.stats[:6]]
        precision = np.asarray(evaluator.eval["precision"])  # [iou, recall, class, area, max_dets]
        per_class = {}
        for k, cid in enumerate(category_ids):
            per_class[names[cid]] = {
                "AP": _mean_precision(precision[:, :, k, AREAS["all"], -1]),
                "AP50": _mean_precision(precision[0, :, k, AREAS["all"], -1]),
                **{f"AP{a[0]}": _mean_precision(precision[:, :, k, AREAS[a], -1]) for a in ("small", "medium", "large")},
            }
        result = {"summary": dict(zip(SUMMARY, stats)), "per_class": per_class}
        if pr_curves:
            result["pr_curves"] = {
                "recall": [float(r) for r in evaluator.params.recThrs],
                "classes": {
                    names[cid]: {
                        "precision_iou50": precision[0, :, k, AREAS["all"], -1].tolist(),
                        "precision_mean": np.where(
                            (precision[:, :, k, AREAS["all"], -1] > -1).all(0),
                            precision[:, :, k, AREAS["all"], -1].mean(0),
                            -1,
                        ).tolist(),
                    }
                    for k, cid in enumerate(category_ids)
                },
            }
        out[iou_type] = result
    return out


def _load_results(gt, results: list[dict], engine: str, area_scale: dict[int, float] | None = None):
    """loadRes, with its per-detection area and box loop done in one vectorised call for the fast engine.

    Fills the same fields with the same values as loadRes (a test holds both engines' numbers
    equal); pycocotools keeps its own loadRes, as the reference.
    """
    if engine in ("pycocotools", "hotcoco"):
        return gt.loadRes(results)
    from faster_coco_eval.core import mask as mask_api  # pycocotools 2.0.11 fails on lists over 255 RLEs

    COCO, _ = _engine(engine)
    if "segmentation" in results[0] and "bbox" not in results[0]:
        rles = [r["segmentation"] for r in results]
        areas, boxes = mask_api.area(rles), mask_api.toBbox(rles)
        for k, r in enumerate(results):
            r["area"], r["bbox"] = areas[k], boxes[k]
    else:
        for r in results:
            x, y, w, h = r["bbox"]
            r.setdefault("segmentation", [[x, y, x, y + h, x + w, y + h, x + w, y]])
            r["area"] = w * h
    for k, r in enumerate(results, start=1):
        r["id"], r["iscrowd"] = k, 0
        if area_scale is not None:
            r["area"] = r["area"] * area_scale[r["image_id"]]
    dt = COCO()
    dt.dataset = {"images": list(gt.dataset["images"]), "categories": copy.deepcopy(gt.dataset["categories"]),
                  "annotations": results}
    with contextlib.redirect_stdout(io.StringIO()):
        dt.createIndex()
    return dt


def empty_results(gt, engine: str):
    """A results object with no detections (loadRes refuses an empty list)."""
    COCO, _ = _engine(engine)
    empty = {"images": list(gt.dataset["images"]), "categories": copy.deepcopy(gt.dataset["categories"]), "annotations": []}
    if engine == "hotcoco":
        return COCO(empty)
    dt = COCO()
    dt.dataset = empty
    with contextlib.redirect_stdout(io.StringIO()):
        dt.createIndex()
    return dt


# The same ruler on both domains -----------------------------------------------------------------

# Cityscapes labels in COCO's taxonomy: COCO annotates a person on a bicycle as a person,
# so Cityscapes' rider joins person when Cityscapes is scored like COCO.
CITYSCAPES_TO_COCO = {
    "person": "person",
    "rider": "person",
    "car": "car",
    "truck": "truck",
    "bus": "bus",
    "train": "train",
    "motorcycle": "motorcycle",
    "bicycle": "bicycle",
}


def domain_classes(ground_truth: dict, kind: str) -> list[int]:
    """The COCO category ids a dataset of this kind annotates."""
    if kind == "cityscapes":
        return sorted({COCO_NAME_TO_ID[CITYSCAPES_TO_COCO[CITYSCAPES_ID_TO_NAME[c["id"]]]] for c in ground_truth["categories"]})
    return sorted(c["id"] for c in ground_truth["categories"])


def shared_class_ground_truth(ground_truth: dict, kind: str, classes: list[int]) -> dict:
    """Ground truth of `classes` (COCO ids) in COCO's taxonomy, for a dataset of any kind."""
    keep = set(classes)
    categories = [{"id": cid, "name": COCO_ID_TO_NAME[cid], "supercategory": "shared"} for cid in sorted(keep)]
    if kind == "cityscapes":
        to_coco = {cid: COCO_NAME_TO_ID[CITYSCAPES_TO_COCO[name]] for cid, name in CITYSCAPES_ID_TO_NAME.items()}
        annotations = [{**a, "category_id": to_coco[a["category_id"]]} for a in ground_truth["annotations"]]
    else:
        annotations = ground_truth["annotations"]
    annotations = [a for a in annotations if a["category_id"] in keep]
    return {**ground_truth, "annotations": annotations, "categories": categories}


def same_ruler(ground_truth: dict, kind: str, frame: pd.DataFrame, image_ids: list[int], engine: str,
               classes: list[int], ignore_regions: bool = False) -> dict[str, Any]:
    """COCO-style AP on `classes` (COCO ids, those the domain shares with the source), from predictions in COCO ids.

    ignore_regions: a detection whose mask lies at least half on an image's ignore region (stored
    by the dataset's conversion: Cityscapes' ego vehicle, borders, caravans, trailers) is left out,
    for boxes and masks alike, as a crowd region would absorb it.
    """
    gt, frame, ignored = same_ruler_inputs(ground_truth, kind, frame, classes, ignore_regions)
    return same_ruler_scores(gt, frame, image_ids, engine, classes, ignored if ignore_regions else None)


def same_ruler_scores(gt: dict, frame: pd.DataFrame, image_ids: list[int], engine: str, classes: list[int],
                      ignored: int | None = None, evaluators: dict | None = None) -> dict[str, Any]:
    """same_ruler on its prepared inputs (same_ruler_inputs); `ignored` is recorded when given;
    evaluators: as evaluate's."""
    ids = sorted(classes)
    result = evaluate(gt, frame, image_ids, engine=engine, category_ids=ids, pr_curves=True, evaluators=evaluators)
    relative = evaluate(gt, frame, image_ids, category_ids=ids, area_scale=relative_area_scale(gt, image_ids))
    for kind, values in result.items():
        for key in ("APs", "APm", "APl"):
            values["summary"][f"{key}_rel"] = relative[kind]["summary"][key]
            for name, per_class in values["per_class"].items():
                per_class[f"{key}_rel"] = relative[kind]["per_class"][name][key]
    if ignored is not None:
        for values in result.values():
            values["ignored_detections"] = ignored
    return result


def same_ruler_inputs(ground_truth: dict, kind: str, frame: pd.DataFrame, classes: list[int], ignore_regions: bool
                      ) -> tuple[dict, pd.DataFrame, int]:
    """The ground truth and detections the same ruler scores, and how many detections ignore regions took."""
    gt = shared_class_ground_truth(ground_truth, kind, classes)
    frame = frame[frame["category_id"].isin(set(classes))]
    if not ignore_regions:
        return gt, frame, 0
    keep = ~on_ignore_regions(frame, ground_truth)
    return gt, frame[keep], int((~keep).sum())


# Relative size buckets: COCO's 32² and 96² px on a 640x480 image, as fractions of any image's
# area (small < 0.33%, medium < 3% of the image), so 2048x1024 frames and COCO photos compare.
REFERENCE_AREA = 640 * 480


def relative_area_scale(ground_truth: dict, image_ids: list[int]) -> dict[int, float]:
    sizes = {im["id"]: im["width"] * im["height"] for im in ground_truth["images"]}
    return {i: REFERENCE_AREA / sizes[i] for i in image_ids}


def on_ignore_regions(frame: pd.DataFrame, ground_truth: dict, fraction: float = 0.5) -> np.ndarray:
    """Whether each detection's mask lies at least `fraction` on its image's ignore region."""
    from pycocotools import mask as mask_api

    regions = {im["id"]: im.get("ignore_regions") for im in ground_truth["images"]}
    out = np.zeros(len(frame), dtype=bool)
    for image_id, positions in frame.groupby("image_id").indices.items():
        region = regions.get(image_id)
        if region is None:
            continue
        dt = [predictions.rle(r) for r in frame.iloc[positions].itertuples()]
        # IoU against a crowd region is intersection over the detection's own area.
        out[positions] = mask_api.iou(dt, [region], [1])[:, 0] >= fraction
    return out


def mean_over(per_class: dict[str, dict], classes: list[str], metric: str = "AP") -> float:
    """A summary number over some classes from per-class values: COCOeval's summary is the mean of
    its classes' values (each class has the same IoU x recall grid), NaN/None left out."""
    values = [per_class[c][metric] for c in classes if per_class[c][metric] is not None]
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else float("nan")
