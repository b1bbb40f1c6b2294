"""Why-it-drops diagnostics against their reference tools, on the generated COCO set of coco_eval.py.

Boundary AP: segshift (faster-coco-eval's boundary IoU type) against the official boundary-iou-api
(not on PyPI: set SEGSHIFT_BOUNDARY_IOU_API to a checkout of github.com/bowenc0221/boundary-iou-api;
without it that reference is skipped). TIDE: hotcoco's tide_errors against tidecv. Each pair must
agree (Boundary AP to 1e-12, TIDE's AP50 and errors to 1e-4). Also times the bootstrap's share of a
diagnostics job: boundary IoUs for re-matching and the resampled ECE.

    python benchmarks/diagnostics.py                      # 1,000 images x 100 detections
    python benchmarks/diagnostics.py --images 100 --detections 20
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "benchmarks")]

import coco_eval  # noqa: E402
from common import median_time, report  # noqa: E402
from segshift import predictions  # noqa: E402
from segshift.evaluation import bootstrap, coco, diagnostics  # noqa: E402


def official_boundary(ground_truth, frame, image_ids):
    root = os.environ.get("SEGSHIFT_BOUNDARY_IOU_API")
    if not root:
        return None
    sys.path.insert(0, root)
    np.float = float  # its accumulate predates NumPy 1.24
    from boundary_iou.coco_instance_api.coco import COCO
    from boundary_iou.coco_instance_api.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        index = COCO(get_boundary=True, dilation_ratio=coco.DILATION_RATIO)
        index.dataset = json.loads(json.dumps(ground_truth))
        index.createIndex()
        evaluator = COCOeval(index, index.loadRes(predictions.to_coco_results(frame, "segm")), "boundary",
                             dilation_ratio=coco.DILATION_RATIO)
        evaluator.params.imgIds = image_ids
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return float(evaluator.stats[0])


def tidecv_ap50(ground_truth, frame, iou_type):
    from pycocotools import mask as mask_api
    from tidecv import TIDE, Data

    sizes = {im["id"]: (im["height"], im["width"]) for im in ground_truth["images"]}
    truth, found = Data("gt"), Data("dt")
    for a in ground_truth["annotations"]:
        h, w = sizes[a["image_id"]]
        truth.add_ground_truth(a["image_id"], a["category_id"], a["bbox"], bootstrap._gt_rle(a["segmentation"], h, w, mask_api))
    for r in frame.itertuples():
        found.add_detection(int(r.image_id), int(r.category_id), float(r.score), [float(v) for v in r.bbox],
                            {"size": [int(r.height), int(r.width)], "counts": r.counts})
    tide = TIDE(mode=TIDE.BOX if iou_type == "bbox" else TIDE.MASK)
    with contextlib.redirect_stdout(io.StringIO()):
        run = tide.evaluate(truth, found, name="run")
    return run.ap / 100, {k: v / 100 for k, v in tide.get_main_errors()["run"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--detections", type=int, default=100)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    ground_truth, frame = coco_eval.generate(args.images, args.detections)
    ground_truth["annotations"] = [a for a in ground_truth["annotations"] if not a.get("iscrowd")]
    ids = sorted(im["id"] for im in ground_truth["images"])
    classes = sorted(c["id"] for c in ground_truth["categories"])
    print(f"generated {len(ids)} images, {len(frame)} detections", flush=True)

    ours_s, ours = median_time(lambda: coco.evaluate(ground_truth, frame, ids, iou_types=(coco.BOUNDARY,)), args.repeats)
    ours_ap = ours[coco.BOUNDARY]["summary"]["AP"]
    start = time.perf_counter()
    theirs_ap = official_boundary(ground_truth, frame, ids)
    if theirs_ap is None:
        print(f"\nBoundary AP: segshift (faster-coco-eval) {ours_s:.3f} s, AP {ours_ap:.4f}; "
              "boundary-iou-api not given (SEGSHIFT_BOUNDARY_IOU_API), no reference")
    else:
        assert abs(theirs_ap - ours_ap) <= 1e-12, (theirs_ap, ours_ap)
        report(f"Boundary AP (dilation {coco.DILATION_RATIO}), {len(ids)} images x {args.detections} detections",
               "boundary-iou-api (official)", time.perf_counter() - start, "segshift (faster-coco-eval)", ours_s,
               extra=f"AP {ours_ap:.4f}, equal to the official API")

    # tidecv averages a class with detections and no ground truth as AP 0, COCO leaves it out (README)
    shared = sorted({a["category_id"] for a in ground_truth["annotations"]} & set(frame["category_id"]))
    tide_gt = {**ground_truth, "annotations": [a for a in ground_truth["annotations"] if a["category_id"] in shared]}
    tide_frame = frame[frame["category_id"].isin(shared)]
    for iou_type in coco.IOU_TYPES:
        ours_s, ours = median_time(
            lambda: diagnostics.tide_errors(diagnostics.evaluated(tide_gt, tide_frame, ids, iou_type, shared)), args.repeats)
        start = time.perf_counter()
        ap50, errors = tidecv_ap50(tide_gt, tide_frame, iou_type)
        theirs_s = time.perf_counter() - start
        worst = max([abs(ap50 - ours["AP50"])] + [abs(errors[k] - ours["delta_ap"][name])
                                                   for k, name in diagnostics.ERRORS.items()])
        assert worst <= 1e-4, f"TIDE {iou_type}: hotcoco and tidecv differ by {worst}"
        report(f"TIDE errors ({iou_type}), {len(ids)} images x {args.detections} detections", "tidecv", theirs_s,
               "segshift (hotcoco tide_errors)", ours_s, extra=f"AP50 {ours['AP50']:.4f}; largest difference {worst:.1e}")

    counts = bootstrap.draws(ids, args.resamples, seed=0)
    start = time.perf_counter()
    pairs = bootstrap.coco_pairs(ground_truth, frame, ids, coco.BOUNDARY, classes)
    iou_s = time.perf_counter() - start
    start = time.perf_counter()
    values = bootstrap.coco_numbers(bootstrap.coco_resampled(bootstrap.match(pairs), counts), [str(c) for c in classes])
    resample_s = time.perf_counter() - start
    start = time.perf_counter()
    image, score, true = diagnostics.scored_detections(bootstrap.coco_pairs(ground_truth, frame, ids, "segm", classes))
    ece = diagnostics.resampled_ece(image, score, true, len(ids), counts, 10)
    ece_s = time.perf_counter() - start
    print(f"\nbootstrap, B = {args.resamples}: Boundary IoUs {iou_s:.1f} s, match + re-accumulate {resample_s:.1f} s "
          f"(Boundary AP 95% CI {bootstrap.interval(values['summary/AP'])}); segm ECE with its resamples {ece_s:.1f} s "
          f"(95% CI {bootstrap.interval(ece)})")


if __name__ == "__main__":
    main()
