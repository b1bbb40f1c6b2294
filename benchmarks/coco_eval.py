"""segshift's COCO metrics engines (hotcoco, the default, and faster-coco-eval) against pycocotools.

A generated set the size of COCO val2017: 5,000 images, about 36,000 ground-truth instances
(polygons, some crowd RLE), 100 detections per image (RLE masks and boxes: perturbed copies of
the ground truth and false positives). Both engines run through segshift.evaluation.coco on the
same inputs; the summary stats must be equal. Prints the times and the ratio.

    python benchmarks/coco_eval.py                  # 5000 images x 100 detections
    python benchmarks/coco_eval.py --images 500 --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from pycocotools import mask as mask_api

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src")]

from common import median_time, report  # noqa: E402
from segshift.categories import COCO_CATEGORIES  # noqa: E402
from segshift.evaluation import coco  # noqa: E402

CATEGORY_IDS = [c[0] for c in COCO_CATEGORIES]


def octagon(x, y, w, h):
    cx, cy, rx, ry = x + w / 2, y + h / 2, w / 2, h / 2
    angles = np.linspace(0, 2 * np.pi, 9)[:-1] + np.pi / 8
    return list(np.column_stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)]).ravel())


def generate(images: int, per_image: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    gt_images, annotations, rows = [], [], []
    for image_id in range(1, images + 1):
        h, w = int(rng.choice([427, 480, 640])), int(rng.choice([480, 640]))
        gt_images.append({"id": image_id, "height": h, "width": w, "file_name": f"{image_id:012d}.jpg"})
        objects = []
        for _ in range(int(rng.poisson(7.2))):
            bw, bh = (np.exp(rng.uniform(np.log(6), np.log(0.9 * min(h, w)), 2))).round(1)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            cat = int(rng.choice(CATEGORY_IDS[:20] if rng.random() < 0.7 else CATEGORY_IDS))
            crowd = int(rng.random() < 0.01)
            poly = octagon(x, y, bw, bh)
            rle = mask_api.merge(mask_api.frPyObjects([poly], h, w))
            seg = {"size": rle["size"], "counts": rle["counts"].decode()} if crowd else [poly]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": cat, "iscrowd": crowd,
                                "bbox": [x, y, bw, bh], "area": float(mask_api.area(rle)), "segmentation": seg})
            objects.append((cat, x, y, bw, bh))
        for k in range(per_image):
            if k < len(objects) * 2:
                cat, x, y, bw, bh = objects[k % len(objects)]
                jitter = rng.normal(0, 0.08, 4) * [bw, bh, bw, bh]
                x, y, bw, bh = x + jitter[0], y + jitter[1], max(2, bw + jitter[2]), max(2, bh + jitter[3])
                if rng.random() < 0.1:
                    cat = int(rng.choice(CATEGORY_IDS))
                score = rng.beta(5, 2)
            else:
                bw, bh = (np.exp(rng.uniform(np.log(4), np.log(0.6 * min(h, w)), 2))).round(1)
                x, y, cat, score = rng.uniform(0, w - bw), rng.uniform(0, h - bh), int(rng.choice(CATEGORY_IDS)), rng.beta(1, 6)
            x, y = float(np.clip(x, 0, w - 1)), float(np.clip(y, 0, h - 1))
            bw, bh = float(min(bw, w - x)), float(min(bh, h - y))
            rle = mask_api.merge(mask_api.frPyObjects([octagon(x, y, bw, bh)], h, w))
            rows.append((image_id, cat, float(score), np.array([x, y, bw, bh], np.float32), rle["counts"].decode(), h, w))
    ground_truth = {"images": gt_images, "annotations": annotations,
                    "categories": [{"id": i, "name": n, "supercategory": s} for i, n, s in COCO_CATEGORIES]}
    frame = pd.DataFrame(rows, columns=["image_id", "category_id", "score", "bbox", "counts", "height", "width"])
    return ground_truth, frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--detections", type=int, default=100, help="detections per image")
    parser.add_argument("--repeats", type=int, default=3, help="runs of segshift's engine (median)")
    parser.add_argument("--reference-repeats", type=int, default=1, help="runs of pycocotools (median)")
    args = parser.parse_args()
    ground_truth, frame = generate(args.images, args.detections)
    image_ids = [im["id"] for im in ground_truth["images"]]
    print(f"generated {len(image_ids)} images, {len(ground_truth['annotations'])} ground-truth instances, "
          f"{len(frame)} detections", flush=True)
    for iou_type in ("bbox", "segm"):
        def run(engine):
            with contextlib.redirect_stdout(io.StringIO()):
                return coco.evaluate(ground_truth, frame, image_ids, engine=engine, iou_types=(iou_type,))[iou_type]

        reference_s, reference = median_time(lambda: run("pycocotools"), args.reference_repeats)
        for engine in ("hotcoco", "faster_coco_eval"):
            ours_s, ours = median_time(lambda: run(engine), args.repeats)
            a = np.array(list(reference["summary"].values()))
            b = np.array(list(ours["summary"].values()))
            worst = float(np.nanmax(np.abs(a - b)))
            assert worst <= 1e-12, f"{engine} {iou_type}: stats differ by {worst}"
            report(f"COCO {iou_type} metrics, {args.images} images x {args.detections} detections",
                   "pycocotools", reference_s, f"segshift ({engine})", ours_s,
                   extra=f"summary stats equal (largest difference {worst:.1e}); AP {ours['summary']['AP']:.4f}")


if __name__ == "__main__":
    main()
