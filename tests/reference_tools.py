"""The reference tools the diagnostics are checked against, run on segshift's inputs; shared by the
tests and benchmarks/diagnostics.py."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from segshift import predictions
from segshift.evaluation import bootstrap, coco, diagnostics


def tidecv_errors(gt: dict, frame: pd.DataFrame, iou_type: str) -> dict:
    """tidecv 1.0.1 (Bolya's reference) on the same inputs: AP50, the main and special errors under
    segshift's names (fractions), and the main errors' counts."""
    from pycocotools import mask as mask_api
    from tidecv import TIDE, Data

    sizes = {im["id"]: (im["height"], im["width"]) for im in gt["images"]}
    truth, found = Data("gt"), Data("dt")
    for a in gt["annotations"]:
        h, w = sizes[a["image_id"]]
        truth.add_ground_truth(a["image_id"], a["category_id"], a["bbox"], bootstrap._gt_rle(a["segmentation"], h, w, mask_api))
    for r in frame.itertuples():
        found.add_detection(int(r.image_id), int(r.category_id), float(r.score), [float(v) for v in r.bbox],
                            {"size": [int(r.height), int(r.width)], "counts": r.counts})
    tide = TIDE(mode=TIDE.BOX if iou_type == "bbox" else TIDE.MASK)
    with contextlib.redirect_stdout(io.StringIO()):
        run = tide.evaluate(truth, found, name="run")
    main = tide.get_main_errors()["run"]
    special = tide.get_special_errors()["run"]
    return {"AP50": run.ap / 100, **{name: main[short] / 100 for short, name in diagnostics.ERRORS.items()},
            "false_positives": special["FalsePos"] / 100, "false_negatives": special["FalseNeg"] / 100,
            "counts": {name: len(v) for name, v in zip(diagnostics.ERRORS.values(), run.error_dict.values())}}


def boundary_iou_api_root() -> Path | None:
    """A checkout of the official boundary-iou-api (github.com/bowenc0221/boundary-iou-api, not on
    PyPI) named by SEGSHIFT_BOUNDARY_IOU_API, or None."""
    root = os.environ.get("SEGSHIFT_BOUNDARY_IOU_API")
    return Path(root) if root and (Path(root) / "boundary_iou").is_dir() else None


def official_boundary_ap(root: Path, gt: dict, frame: pd.DataFrame, image_ids, category_ids) -> dict:
    """The official API's Boundary AP: the six summary numbers and AP per class."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from boundary_iou.coco_instance_api.coco import COCO
    from boundary_iou.coco_instance_api.cocoeval import COCOeval

    names = {c["id"]: c["name"] for c in gt["categories"]}
    had_float = hasattr(np, "float")
    np.float = float  # its accumulate predates NumPy 1.24
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            index = COCO(get_boundary=True, dilation_ratio=coco.DILATION_RATIO)
            index.dataset = json.loads(json.dumps(gt))
            index.createIndex()
            found = index.loadRes(predictions.to_coco_results(frame, "segm"))
            evaluator = COCOeval(index, found, "boundary", dilation_ratio=coco.DILATION_RATIO)
            evaluator.params.imgIds = sorted(image_ids)
            evaluator.params.catIds = sorted(category_ids)
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
    finally:
        if not had_float:
            del np.float
    precision = evaluator.eval["precision"]
    return {"summary": [float("nan") if s < 0 else float(s) for s in evaluator.stats[:6]],
            "per_class": {names[c]: coco._mean_precision(precision[:, :, k, 0, -1])
                          for k, c in enumerate(sorted(category_ids))}}
