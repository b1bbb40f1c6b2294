"""Issue 22's costs: the Cityscapes reader per 1,000 frames, and per-image results and slices in a
same-ruler metric job.

1. Conversion: the 8 real 2048x1024 aachen train frames replicated (symlinks, under several cities)
   to --frames frames, converted by segshift's Cityscapes reader; one of them as a BDD100K bitmask,
   replicated, by the BDD100K reader, and as ACDC panoptic ground truth (a fog condition of 10
   sequences), replicated, by the ACDC reader; seconds and peak memory, scaled to 1,000.
2. Metric job: on the generated COCO set of coco_eval.py, the same-ruler job's work as it was
   (AP with the reference engine pycocotools, and hotcoco, plus --resamples bootstrap resamples),
   against what issue 22 adds to it (the mask matching stored for the slices, the per-image table)
   and a slices table of --slices slices. Goal: the additions under 10% of the job.

    python benchmarks/real_shifts.py
    python benchmarks/real_shifts.py --frames 16 --images 100 --detections 20 --resamples 100
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests"), str(REPO / "benchmarks")]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import coco_eval  # noqa: E402
from common import median_time, report  # noqa: E402
from segshift import metrics, slices  # noqa: E402
from segshift.datasets import cityscapes  # noqa: E402
from segshift.evaluation import bootstrap, coco, per_image, resampling  # noqa: E402

DATA = Path(os.environ.get("SEGSHIFT_SHARED_DATA") or REPO.parent / "shared" / "data")


def replicated_tree(root: Path, frames: int) -> Path:
    source = DATA / "cityscapes_aachen"
    stems = sorted(p.name[: -len(cityscapes.IMAGE_SUFFIX)] for p in (source / "leftImg8bit/train/aachen").iterdir())
    for k in range(frames):
        city = f"city{k // len(stems):03d}"
        stem = stems[k % len(stems)]
        new = stem.replace("aachen", city)
        for sub, suffixes in (("leftImg8bit", [cityscapes.IMAGE_SUFFIX]),
                              ("gtFine", [cityscapes.INSTANCE_SUFFIX, cityscapes.LABEL_SUFFIX])):
            folder = root / sub / "train" / city
            folder.mkdir(parents=True, exist_ok=True)
            for suffix in suffixes:
                (folder / f"{new}{suffix}").symlink_to(source / sub / "train" / "aachen" / f"{stem}{suffix}")
    return root


def conversion(frames: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = replicated_tree(Path(tmp) / "cs", frames)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        n = cityscapes.convert(root / cityscapes.image_subdir("train"), root / cityscapes.gt_subdir("train"),
                               Path(tmp) / "m.parquet", Path(tmp) / "gt.json", dataset="bench")
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        size = (Path(tmp) / "gt.json").stat().st_size
    print(f"\nCityscapes reader (2048x1024 train frames), {n} frames: {seconds:.1f} s "
          f"= {1000 * seconds / n:.0f} s per 1,000 frames; peak memory {peak / 1024:.0f} MiB "
          f"(+{(peak - before) / 1024:.0f} MiB while converting); ground truth {1000 * size / n / 2**20:.1f} MiB per 1,000 frames")


def bdd100k_conversion(frames: int) -> None:
    """A real aachen frame's instances as a BDD100K bitmask (as tests/test_bdd100k.py makes it), replicated."""
    from PIL import Image

    from segshift.datasets import bdd100k

    frame = DATA / "cityscapes_aachen/gtFine/train/aachen/aachen_000005_000019_gtFine_instanceIds.png"
    ids = np.array(Image.open(frame))
    to_bdd = {24: 1, 25: 2, 26: 3, 27: 4, 28: 5, 31: 6, 32: 7, 33: 8}
    bitmask = np.zeros((*ids.shape, 4), dtype=np.uint8)
    for k, value in enumerate(v for v in np.unique(ids).tolist() if v >= 1000 and v // 1000 in to_bdd):
        bitmask[ids == value] = [to_bdd[value // 1000], 0, (k + 1) >> 8, (k + 1) & 255]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "images").mkdir()
        (root / "bitmasks").mkdir()
        Image.open(DATA / "cityscapes_aachen/leftImg8bit/train/aachen/aachen_000005_000019_leftImg8bit.png").convert(
            "RGB").save(root / "one.jpg", quality=90)
        Image.fromarray(bitmask, "RGBA").save(root / "one.png")
        for k in range(frames):
            (root / "images" / f"{k:08d}.jpg").symlink_to(root / "one.jpg")
            (root / "bitmasks" / f"{k:08d}.png").symlink_to(root / "one.png")
        start = time.perf_counter()
        n = bdd100k.convert(root / "images", root / "bitmasks", root / "m.parquet", root / "g.json", dataset="bench")
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"BDD100K reader (2048x1024 bitmasks; BDD's own are 1280x720), {n} frames: {seconds:.1f} s "
          f"= {1000 * seconds / n:.0f} s per 1,000 frames; peak memory {peak / 1024:.0f} MiB")


def acdc_conversion(frames: int) -> None:
    """A real aachen frame's objects as ACDC panoptic ground truth (as tests/test_acdc.py makes it), replicated
    over 10 sequences of one condition; the reader also writes each frame's instanceIds PNG."""
    import json

    from PIL import Image

    from segshift.datasets import acdc
    from test_acdc import panoptic

    source = DATA / "cityscapes_aachen"
    rgb, segments = panoptic(np.array(Image.open(source / "gtFine/train/aachen/aachen_000005_000019_gtFine_instanceIds.png")))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ACDC"
        Image.fromarray(rgb, "RGB").save(Path(tmp) / "one_gt_panoptic.png")
        images, annotations = [], []
        for k in range(frames):
            sequence, name = f"GOPR{k % 10:04d}", f"GOPR{k % 10:04d}_frame_{k:06d}"
            for folder, suffix, target in (
                (acdc.condition_dir(root, "fog", "val"), "_rgb_anon.png",
                 source / "leftImg8bit/train/aachen/aachen_000005_000019_leftImg8bit.png"),
                (acdc.panoptic_dir(root, "fog", "val"), "_gt_panoptic.png", Path(tmp) / "one_gt_panoptic.png"),
            ):
                (folder / sequence).mkdir(parents=True, exist_ok=True)
                (folder / sequence / f"{name}{suffix}").symlink_to(target)
            images.append({"id": name, "file_name": f"fog/val/{sequence}/{name}_rgb_anon.png", "width": 2048, "height": 1024})
            annotations.append({"image_id": name, "file_name": f"fog/val/{sequence}/{name}_gt_panoptic.png",
                                "segments_info": segments})
        acdc.panoptic_json(root, "fog", "val").write_text(json.dumps({"images": images, "annotations": annotations,
                                                                      "categories": []}))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        n = acdc.convert(root, Path(tmp) / "m.parquet", Path(tmp) / "g.json", Path(tmp) / "ids", dataset="bench",
                         conditions=["fog"])
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        size = sum(p.stat().st_size for p in (Path(tmp) / "ids").rglob("*.png"))
    print(f"ACDC reader (2048x1024 panoptic PNGs; ACDC's own are 1920x1080), {n} frames: {seconds:.1f} s "
          f"= {1000 * seconds / n:.0f} s per 1,000 frames; peak memory {peak / 1024:.0f} MiB "
          f"(+{(peak - before) / 1024:.0f} MiB while converting); instanceIds written {1000 * size / n / 2**20:.0f} MiB "
          "per 1,000 frames")


def metric_job(images: int, detections: int, resamples: int, n_slices: int, repeats: int) -> None:
    gt, frame = coco_eval.generate(images, detections)
    ids = sorted(im["id"] for im in gt["images"])
    classes = sorted(c["id"] for c in gt["categories"])
    settings = {"resamples": resamples, "seed": 0, "confidence": 0.95, "min_images": 10, "method": "bca"}
    draws = resampling.plan(ids, settings).counts  # the resamples, the estimate and the jackknife, as a job
    print(f"generated {len(ids)} images, {len(frame)} detections", flush=True)

    def job(engine):
        evaluators = {}
        scores = coco.same_ruler_scores(gt, frame, ids, engine, classes, evaluators=evaluators)
        pairs = {"segm": bootstrap.coco_pairs(gt, frame, ids, "segm", classes)}
        matches = {"segm": bootstrap.match(pairs["segm"])}
        values = metrics._resampled(gt, frame, ids, classes, draws, relative=True, pairs=pairs, matches=matches)
        return scores, values, matches, pairs, evaluators

    reference_s, _ = median_time(lambda: job("pycocotools"), repeats)
    job_s, (_, _, matches, pairs, evaluators) = median_time(lambda: job("hotcoco"), repeats)
    names = [c["name"] for c in sorted(gt["categories"], key=lambda c: c["id"])]

    def added():
        with tempfile.TemporaryDirectory() as tmp:
            slices.write_matches(Path(tmp) / "m.npz", matches["segm"], pairs["segm"].images, names)
            table = per_image.from_evaluator(*evaluators["segm"], gt, ids)
            per_image.write(Path(tmp) / "p.parquet", table)
            return table

    added_s, table = median_time(added, repeats)
    manifest = pd.DataFrame({"image_id": ids, "file_name": [f"{i}.jpg" for i in ids],
                             "part": [f"s{k % n_slices}" for k in range(len(ids))]})
    with tempfile.TemporaryDirectory() as tmp:
        slices.write_matches(Path(tmp) / "m.npz", bootstrap.match(pairs["segm"]), pairs["segm"].images, names)
        slices_s, tidy = median_time(lambda: slices.table({"m": Path(tmp) / "m.npz"}, manifest, ["part"], domain="d",
                                                          resampling=settings), repeats)
    assert table["true_positives_50"].sum() > 0 and len(tidy) == 3 * n_slices
    report(f"Same-ruler job, {len(ids)} images x {detections} detections, {resamples} resamples",
           "the job with pycocotools", reference_s, "the job with hotcoco", job_s)
    print(f"  issue 22 in the job: matching kept + per-image table {added_s:.3f} s "
          f"= {100 * added_s / job_s:.1f}% of the hotcoco job ({100 * added_s / reference_s:.1f}% of the pycocotools one)")
    print(f"  slices table ({n_slices} slices, {resamples} resamples each), its own job: {slices_s:.3f} s "
          f"= {100 * slices_s / job_s:.1f}% of the hotcoco same-ruler job")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--detections", type=int, default=100)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--slices", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    np.seterr(all="ignore")
    # The reader first: its peak memory is the process's before the metric job grows it.
    if (DATA / "cityscapes_aachen").is_dir():
        conversion(args.frames)
        bdd100k_conversion(args.frames)
        acdc_conversion(args.frames)
    else:
        print(f"\nCityscapes reader: the aachen frames are not at {DATA / 'cityscapes_aachen'}; not measured")
    metric_job(args.images, args.detections, args.resamples, args.slices, args.repeats)


if __name__ == "__main__":
    main()
