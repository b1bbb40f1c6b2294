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
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests"), str(REPO / "benchmarks")]

import coco_eval  # noqa: E402
import reference_tools  # noqa: E402
from common import median_time, report  # noqa: E402
from segshift.evaluation import bootstrap, coco, diagnostics, intervals, resampling  # noqa: E402


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
    root = reference_tools.boundary_iou_api_root()
    theirs_ap = None if root is None else reference_tools.official_boundary_ap(root, ground_truth, frame, ids, classes)["summary"][0]
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
        theirs = reference_tools.tidecv_errors(tide_gt, tide_frame, iou_type)
        theirs_s = time.perf_counter() - start
        worst = max(abs(theirs[name] - ours["delta_ap"][name]) for name in diagnostics.ERRORS.values())
        worst = max(worst, abs(theirs["AP50"] - ours["AP50"]))
        assert worst <= 1e-4, f"TIDE {iou_type}: hotcoco and tidecv differ by {worst}"
        report(f"TIDE errors ({iou_type}), {len(ids)} images x {args.detections} detections", "tidecv", theirs_s,
               "segshift (hotcoco tide_errors)", ours_s, extra=f"AP50 {ours['AP50']:.4f}; largest difference {worst:.1e}")

    plan = resampling.plan(ids, {"resamples": args.resamples, "seed": 0})
    counts = plan.counts
    setting = intervals.Setting("bca", 0.95, args.resamples)
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
          f"(Boundary AP 95% CI {intervals.interval(values['summary/AP'], setting)}); segm ECE with its resamples {ece_s:.1f} s "
          f"(95% CI {intervals.interval(ece, setting)})")


if __name__ == "__main__":
    main()
