"""segshift's Cityscapes instance evaluator against the official cityscapesscripts one.

Generated 2048x1024 frames (void, groups, tiny ground truth, caravans) with N predictions each
(shifted, eroded, duplicated and wrong-class copies of the ground truth, and blobs), the same
inputs for both; checks AP and AP50 per class agree to 1e-9, then prints the times and ratio.

    python benchmarks/cityscapes_eval.py                     # 500 frames x 100 predictions
    python benchmarks/cityscapes_eval.py --frames 50 --repeats 3
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from cityscapes_cases import make_frame, predictions_for, write_gt  # noqa: E402
from segshift.evaluation import cityscapes, cityscapes_fast  # noqa: E402
from common import median_time, report  # noqa: E402

SHAPE = (1024, 2048)


def generate(folder: Path, frames: int, per_frame: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ground_truth = [make_frame(rng, SHAPE, n_instances=40) for _ in range(frames)]
    images = write_gt(folder, ground_truth)
    rows = []
    for image, ids in zip(images, ground_truth):
        preds = predictions_for(rng, ids, image.image_id, extra=per_frame)
        rows += preds[:per_frame]  # copies of the ground truth first, then blobs
    frame = pd.DataFrame(rows, columns=["image_id", "label_id", "score", "counts", "height", "width"])
    return frame, images, folder / "gtFine" / "val"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--predictions", type=int, default=100, help="predictions per frame")
    parser.add_argument("--repeats", type=int, default=3, help="runs of segshift's evaluator (median)")
    parser.add_argument("--official-repeats", type=int, default=1, help="runs of the official one (median)")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="segshift-bench-") as tmp:
        t0 = time.perf_counter()
        frame, images, gt_dir = generate(Path(tmp), args.frames, args.predictions)
        print(f"generated {len(images)} frames {SHAPE[1]}x{SHAPE[0]}, {len(frame)} predictions "
              f"in {time.perf_counter() - t0:.0f} s", flush=True)
        fast_time, fast = median_time(lambda: cityscapes_fast.evaluate(frame, images, gt_dir, workers=args.workers), args.repeats)
        official_time, official = median_time(
            lambda: cityscapes.evaluate_official(frame, images, gt_dir, workdir=Path(tmp)), args.official_repeats
        )
    worst = 0.0
    for cls, values in official["per_class"].items():
        for metric in ("AP", "AP50"):
            a, b = values[metric], fast["per_class"][cls][metric]
            if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
                assert (b is None or math.isnan(b)) and (a is None or math.isnan(a)), (cls, metric, a, b)
                continue
            worst = max(worst, abs(a - b))
    assert worst <= 1e-9, f"numbers differ by {worst}"
    report(
        f"Cityscapes instance evaluation, {args.frames} frames x {args.predictions} predictions "
        f"(segshift with {args.workers} workers)",
        "cityscapesscripts", official_time, "segshift", fast_time,
        extra=f"AP and AP50 per class equal (largest difference {worst:.1e}); mean AP {fast['mean']['AP']:.4f}",
    )


if __name__ == "__main__":
    main()
