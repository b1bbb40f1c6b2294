"""Coverage of segshift's bootstrap intervals: the share of 95% intervals that contain the population AP.

A generated population of images (one class; each ground-truth box found with the image's own
probability, its box jittered, plus false positives; true positives score higher than false ones
on average) has a known population AP: the engine's AP on all of it. Samples of n images are drawn
from it (independently, or as whole sequences of 10 images that share a difficulty: the clustered
population); on each sample the interval is built as a metric job builds it (resampling.plan and
the engine), by percentile, basic and BCa, resampling images or sequences; the table gives the
share that contains the population AP.

    python benchmarks/interval_coverage.py --samples 200 --sizes 100 500 5000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

# This file's folder off the path: numba imports the `coverage` package, which this file's name would shadow.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from segshift.evaluation import bootstrap, intervals, resampling  # noqa: E402

SEQUENCE = 10  # images per sequence in the clustered population


def population(images: int, clustered: bool, seed: int):
    """Ground truth, detections and each image's sequence."""
    rng = np.random.default_rng(seed)
    sequence = np.arange(images) // SEQUENCE
    if clustered:  # the images of a sequence share a difficulty
        found = rng.beta(4, 2, images // SEQUENCE + 1)[sequence]
    else:
        found = rng.beta(4, 2, images)
    gts, rows = [], []
    for i in range(images):
        for _ in range(1 + rng.poisson(2)):
            x, y, w, h = rng.uniform(0, 500), rng.uniform(0, 350), rng.uniform(16, 140), rng.uniform(16, 130)
            gts.append({"id": len(gts) + 1, "image_id": i + 1, "category_id": 1, "bbox": [x, y, w, h], "area": w * h,
                        "iscrowd": 0})
            if rng.random() < found[i]:
                j = rng.normal(0, 0.08 * (1.2 - found[i]), 4)
                box = [x + j[0] * w, y + j[1] * h, w * (1 + j[2]), h * (1 + j[3])]
                rows.append((i + 1, 1, float(rng.beta(5, 2)), np.array(box, np.float64)))
        for _ in range(rng.poisson(1.5)):
            box = [rng.uniform(0, 500), rng.uniform(0, 350), rng.uniform(16, 140), rng.uniform(16, 130)]
            rows.append((i + 1, 1, float(rng.beta(2, 4)), np.array(box, np.float64)))
    gt = {"images": [{"id": i + 1, "width": 640, "height": 480} for i in range(images)], "annotations": gts,
          "categories": [{"id": 1, "name": "object"}]}
    frame = pd.DataFrame(rows, columns=["image_id", "category_id", "score", "bbox"])
    return gt, frame, sequence


def subset(matches: bootstrap.CocoMatches, take: np.ndarray) -> bootstrap.CocoMatches:
    """The matches of the images at positions `take` alone: what zero counts for every other image
    give, without walking the population's detections on every resample."""
    kept_image = np.zeros(matches.npig.shape[2], bool)
    kept_image[take] = True
    keep = kept_image[matches.det_image]
    new = np.concatenate([[0], np.cumsum(keep)])  # a detection's new position; a run ends where its image's ends
    position = np.full(len(kept_image), -1)
    position[take] = np.arange(len(take))
    return bootstrap.CocoMatches(offsets=new[matches.offsets], det_image=position[matches.det_image[keep]],
                                 group_end=new[matches.group_end[keep]],
                                 status=np.ascontiguousarray(matches.status[:, :, keep]),
                                 npig=np.ascontiguousarray(matches.npig[:, :, take]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=100_000)  # n = 5,000 is 5% of it: no finite-population shrinkage to speak of
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 5000])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    rows = []
    for clustered in (False, True):
        gt, frame, sequence = population(args.population, clustered, seed=1)
        ids = np.arange(1, args.population + 1)
        matches = bootstrap.coco_matches(gt, frame, ids, "bbox", [1])
        truth = bootstrap.coco_numbers(bootstrap.coco_resampled(matches, np.ones((1, len(ids)), np.int32)),
                                       ["object"])["summary/AP"][0]
        rng = np.random.default_rng(2)
        for n in args.sizes:
            start = time.process_time()
            hits = {}
            for s in range(args.samples):
                if clustered:  # whole sequences, as a recording is sampled
                    chosen = rng.choice(args.population // SEQUENCE, n // SEQUENCE, replace=False)
                    take = np.flatnonzero(np.isin(sequence, chosen))
                else:
                    take = np.sort(rng.choice(args.population, n, replace=False))
                for unit in ("image", "sequence") if clustered else ("image",):
                    labels = None if unit == "image" else list(sequence[take])
                    plan = resampling.plan(ids[take], {"resamples": args.resamples, "seed": s}, labels)
                    ap = bootstrap.coco_numbers(bootstrap.coco_resampled(subset(matches, take), plan.counts),
                                                ["object"])["summary/AP"]
                    for method in intervals.METHODS:
                        low, high = intervals.interval(ap[:len(ap) - plan.image_jackknife],
                                                       intervals.Setting(method, 0.95, args.resamples))
                        hits.setdefault((unit, method), []).append(low <= truth <= high)
            for (unit, method), found in hits.items():
                rows.append({"population": "clustered" if clustered else "independent", "n": n, "resampling": unit,
                             "method": method, "coverage": np.mean(found), "samples": len(found)})
            print(f"{'clustered' if clustered else 'independent'} n={n}: {time.process_time() - start:.0f} s CPU",
                  flush=True)
    table = pd.DataFrame(rows)
    print(f"\npopulation AP known; {args.samples} samples per cell, B = {args.resamples}, nominal 95%")
    print(table.pivot_table(index=["population", "resampling", "n"], columns="method", values="coverage")
          .to_markdown(floatfmt=".3f"))


if __name__ == "__main__":
    main()
