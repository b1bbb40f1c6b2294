"""Bootstrap CIs: segshift's re-accumulation against re-running an evaluator on every resample.

COCO: the generated val2017-sized set of coco_eval.py (5,000 images x 100 detections), bbox and segm.
Cityscapes: the generated 2048x1024 frames of cityscapes_eval.py (500 x 100 predictions).
For each: the time of the per-image matching (once), of B resamples re-accumulated, and of the
reference (the evaluator on the resampled image list, duplicates under new ids) on a few resamples,
extrapolated to B; the first resamples' numbers must agree to 1e-9. Prints times, the ratio, the
size of the per-resample values a metric job writes, and the peak memory.

    python benchmarks/bootstrap.py                        # both, B = 1000
    python benchmarks/bootstrap.py --images 500 --frames 50 --reference-resamples 2
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests"), str(REPO / "benchmarks")]

import cityscapes_eval  # noqa: E402
import coco_eval  # noqa: E402
from resampling_cases import resampled_coco  # noqa: E402
from common import report  # noqa: E402
from segshift.evaluation import bootstrap, cityscapes_fast, coco, intervals, resampling  # noqa: E402
from segshift.evaluation.cityscapes import GroundTruthImage  # noqa: E402


def bench_coco(args) -> None:
    ground_truth, frame = coco_eval.generate(args.images, args.detections)
    image_ids = sorted(im["id"] for im in ground_truth["images"])
    names = {c["id"]: c["name"] for c in ground_truth["categories"]}
    plan = _plan(image_ids, args)
    counts = plan.counts
    print(f"generated {len(image_ids)} images, {len(frame)} detections", flush=True)
    for iou_type in ("bbox", "segm"):
        start, cpu = time.perf_counter(), time.process_time()
        matches = bootstrap.coco_matches(ground_truth, frame, image_ids, iou_type, sorted(names))
        match_s = time.perf_counter() - start
        bootstrap.coco_resampled(matches, counts[:2])  # compiled before timing
        cpu_match = time.process_time() - cpu
        start, cpu = time.perf_counter(), time.process_time()
        sums = bootstrap.coco_resampled(matches, counts)
        values = bootstrap.coco_numbers(sums, [names[c] for c in sorted(names)])
        stored = plan.stored(values)
        found = intervals.intervals(stored, intervals.Setting("bca", 0.95, args.resamples))
        ours_s = match_s + time.perf_counter() - start
        # CPU time of this process, all threads: on a shared machine wall time measures the neighbours
        print(f"COCO {iou_type}: {len(found)} BCa intervals, design effect of AP "
              f"{plan.design_effect(values['summary/AP'])}; CPU time: matching {cpu_match:.1f} s, resamples + "
              f"intervals {time.process_time() - cpu:.1f} s ({len(counts)} count vectors)", flush=True)
        if not args.reference_resamples:
            print(f"COCO {iou_type}: matching {match_s:.1f} s, match + B = {args.resamples} resamples {ours_s:.1f} s", flush=True)
            continue
        start = time.perf_counter()
        worst = 0.0
        for b in range(args.reference_resamples):
            gt_b, frame_b, ids_b = resampled_coco(ground_truth, frame, image_ids, counts[b])
            with contextlib.redirect_stdout(io.StringIO()):
                theirs = coco.evaluate(gt_b, frame_b, ids_b, engine=args.reference, iou_types=(iou_type,))[iou_type]
            worst = max(worst, max(abs(v - values[f"summary/{k}"][b]) for k, v in theirs["summary"].items()))
        reference_s = (time.perf_counter() - start) / args.reference_resamples * args.resamples
        assert worst <= 1e-9, f"{iou_type}: resampled AP differs from {args.reference} by {worst}"
        size = pd.DataFrame({k: v.astype(np.float32) for k, v in values.items()}).memory_usage(index=False).sum()
        report(f"COCO {iou_type} bootstrap, {len(image_ids)} images x {args.detections} detections, B = {args.resamples}",
               f"{args.reference} x B (extrapolated from {args.reference_resamples})", reference_s,
               "segshift (match once + re-accumulate)", ours_s,
               extra=f"matching {match_s:.1f} s; equal to {args.reference} on {args.reference_resamples} resamples "
                     f"(largest difference {worst:.1e}); AP 95% BCa CI {found['summary/AP']}; "
                     f"per-resample values {size / 1e6:.1f} MB as float32")


def bench_cityscapes(args) -> None:
    with tempfile.TemporaryDirectory(prefix="segshift-bench-") as tmp:
        frame, images, gt_dir = cityscapes_eval.generate(Path(tmp), args.frames, args.predictions)
        print(f"generated {len(images)} frames, {len(frame)} predictions", flush=True)
        plan = _plan([im.image_id for im in images], args)
        counts = plan.counts
        start, cpu = time.perf_counter(), time.process_time()
        matches = cityscapes_fast.match(frame, images, gt_dir, workers=args.workers)
        entries = bootstrap.cityscapes_entries([cityscapes_fast.image_entries(m) for m in matches])
        match_s = time.perf_counter() - start
        bootstrap.cityscapes_resampled(entries, counts[:2])
        start = time.perf_counter()
        values = bootstrap.cityscapes_numbers(bootstrap.cityscapes_resampled(entries, counts))
        found = intervals.intervals(plan.stored(values), intervals.Setting("bca", 0.95, args.resamples))
        ours_s = match_s + time.perf_counter() - start
        print(f"Cityscapes: CPU time of this process (matching workers not counted) {time.process_time() - cpu:.1f} s "
              f"({len(counts)} count vectors)", flush=True)
        if not args.reference_resamples:
            print(f"Cityscapes: matching {match_s:.1f} s, match + B = {args.resamples} resamples {ours_s:.1f} s")
            return
        # The reference: the fast engine (itself equal to cityscapesscripts, 20x+ faster) on the resampled list.
        start = time.perf_counter()
        worst = 0.0
        for b in range(args.reference_resamples):
            resampled, parts = [], []
            for image, count in zip(images, counts[b]):
                for _ in range(count):
                    resampled.append(GroundTruthImage(len(resampled) + 1, image.file_name, image.instance_ids_file,
                                                      image.height, image.width))
                    parts.append(frame[frame["image_id"] == image.image_id].assign(image_id=len(resampled)))
            theirs = cityscapes_fast.evaluate(pd.concat(parts), resampled, gt_dir, workers=args.workers)
            worst = max(worst, abs(theirs["mean"]["AP"] - values["mean/AP"][b]))
        reference_s = (time.perf_counter() - start) / args.reference_resamples * args.resamples
        assert worst <= 1e-9, f"resampled AP differs by {worst}"
        report(f"Cityscapes bootstrap, {len(images)} frames x {args.predictions} predictions, B = {args.resamples}",
               f"segshift engine x B (extrapolated from {args.reference_resamples})", reference_s,
               "segshift (match once + re-accumulate)", ours_s,
               extra=f"matching {match_s:.1f} s; equal on {args.reference_resamples} resamples (largest difference "
                     f"{worst:.1e}); mean AP 95% BCa CI {found['mean/AP']}")


def _plan(image_ids, args) -> resampling.Plan:
    """B resamples, the estimate and the jackknife (BCa), by clusters of --cluster-size consecutive images."""
    ids = sorted(image_ids)
    clusters = [k // args.cluster_size for k in range(len(ids))] if args.cluster_size > 1 else None
    return resampling.plan(ids, {"resamples": args.resamples, "seed": 0, "jackknife_groups": 100}, clusters)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["coco", "cityscapes"])
    parser.add_argument("--cluster-size", type=int, default=5,
                        help="images per cluster (consecutive ids); 1: resample images")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--detections", type=int, default=100)
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--predictions", type=int, default=100)
    parser.add_argument("--reference", default="pycocotools", choices=coco.ENGINES, help="COCO evaluator re-run per resample")
    parser.add_argument("--reference-resamples", type=int, default=10, help="0: time segshift alone (and its memory)")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    if args.only in (None, "coco"):
        bench_coco(args)
    if args.only in (None, "cityscapes"):
        bench_cityscapes(args)
    print(f"\npeak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")


if __name__ == "__main__":
    main()
