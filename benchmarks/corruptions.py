"""Image corruptions: each one's cost per image (640x480 and 2048x1024) and cached size, and the
YOLOv8n-seg export's inference throughput on each corrupted domain against the clean one.

The corrupted images are made once (the `corrupt` rule) and read back from their cache by every
model, so a corrupted domain's inference differs from the clean one only in decoding a PNG from
the cache instead of the dataset's file; the corruption's own cost is paid once per image.

    python benchmarks/corruptions.py                      # all 19, 20 images for throughput
    python benchmarks/corruptions.py --names fog gaussian_noise --images 79
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src")]

from common import median_time  # noqa: E402
from segshift import corruptions, inference, manifest  # noqa: E402
from segshift.datasets import coco  # noqa: E402
from segshift.images import read_image  # noqa: E402

DATA = Path(os.environ.get("SEGSHIFT_SHARED_DATA") or REPO.parent / "shared" / "data")
COCO_IMAGE = ("000000155341.jpg", 640, 480)
FRAME = DATA / "cityscapes_fullres/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png"


def job(table: Path, out: Path, n: int, threads: int, corruption=None, cache=None) -> inference.ShardJob:
    return inference.ShardJob(
        manifest=table, shard=0, images_per_shard=n, num_images=n, model="yolov8n_seg", backend="yolo_seg_export",
        settings={}, weights=DATA / "weights/yolov8n-seg_int8.tflite", weights_sha256=None, output=out, threads=threads,
        corruption=corruption, corrupted_shard=cache,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", nargs="*", default=corruptions.NAMES)
    parser.add_argument("--severity", type=int, default=3)
    parser.add_argument("--images", type=int, default=20, help="COCO images for the throughput runs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warm-up", action=argparse.BooleanOptionalAction, default=True,
                        help="corrupt once before timing (numba compiles glass_blur on its first call)")
    args = parser.parse_args()

    small = read_image(DATA / "coco/val2017" / COCO_IMAGE[0], *COCO_IMAGE[1:])
    large = read_image(FRAME, 2048, 1024)
    with tempfile.TemporaryDirectory(prefix="segshift-corruptions-") as tmp:
        tmp = Path(tmp)
        coco.prepare(DATA / "coco/annotations/instances_val2017.json", DATA / "coco/val2017", tmp / "manifest.parquet",
                     tmp / "gt.json", dataset="coco_val2017")
        table = manifest.read(tmp / "manifest.parquet")
        rows = list(table.images.iloc[: args.images][["image_id", "file_name", "width", "height"]]
                    .itertuples(index=False, name=None))
        clean_s, _ = median_time(lambda: inference.run_shard(job(tmp / "manifest.parquet", tmp / "clean.parquet",
                                                                  args.images, args.threads)), args.repeats)
        print(f"\nYOLOv8n-seg export, {args.images} COCO images, {args.threads} threads: clean domain "
              f"{args.images / clean_s:.2f} img/s")
        print(f"{'corruption':<18} {'640x480 s/img':>13} {'2048x1024 s/img':>15} {'MB/1000 COCO':>12} "
              f"{'MB/1000 2048x1024':>17} {'img/s':>7} {'vs clean':>8}")
        for name in args.names:
            if args.warm_up:
                corruptions.corrupt(small, name, args.severity, 1)
            small_s, out = median_time(lambda: corruptions.corrupt(small, name, args.severity, 1), args.repeats)
            large_s, large_out = median_time(lambda: corruptions.corrupt(large, name, args.severity, 1), 1)
            large_mb = len(corruptions.encode_png(large_out)) * 1000 / 1e6
            cache = tmp / f"{name}.parquet"
            corruptions.write_shard(cache, rows, lambda i, f, w, h: read_image(table.image_path(f), w, h), name,
                                    args.severity)
            megabytes = cache.stat().st_size / len(rows) * 1000 / 1e6
            corrupt = {"name": name, "severity": args.severity}
            seconds, summary = median_time(lambda: inference.run_shard(job(tmp / "manifest.parquet",
                                                                            tmp / f"{name}-pred.parquet", args.images,
                                                                            args.threads, corrupt, cache)), args.repeats)
            assert summary["from_cache"] == args.images and summary["rebuilt"] == 0, summary  # timed on cached pixels
            print(f"{name:<18} {small_s:13.3f} {large_s:15.3f} {megabytes:12.0f} {large_mb:17.0f} "
                  f"{args.images / seconds:7.2f} {clean_s / seconds:7.2f}x")
        assert np.asarray(out).shape == small.shape


if __name__ == "__main__":
    main()
