"""segshift's inference job against the loop a researcher would write with the same backend.

Same model, same images, same device, one process each:
- yolo: the real YOLOv8n-seg export on the real COCO val2017 images in ../shared/data
  (reference: one LiteRT interpreter call per image, read -> letterbox -> invoke -> decode);
- torchvision: Mask R-CNN R50-FPN v1 with random weights (seed 0) on the same images
  (reference: torchvision's references/detection evaluate loop, batch size 1, masks > 0.5
  encoded with pycocotools).
Both sides include model loading and RLE encoding; segshift's side also writes the Parquet
shard. Checks the detections are the same, prints images/s and the ratio.

    python benchmarks/inference.py yolo --images 79
    python benchmarks/inference.py torchvision --images 8
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src")]

from common import median_time, report  # noqa: E402
from segshift import inference, manifest, predictions  # noqa: E402
from segshift.backends import xyxy_to_xywh  # noqa: E402
from segshift.io import read_json  # noqa: E402

DATA = Path(os.environ.get("SEGSHIFT_SHARED_DATA") or REPO.parent / "shared" / "data")


def images(count: int) -> tuple[pd.DataFrame, Path]:
    coco = read_json(DATA / "coco/annotations/instances_val2017.json")
    table = pd.DataFrame([(im["id"], im["file_name"], im["width"], im["height"]) for im in coco["images"]],
                         columns=manifest.COLUMNS).sort_values("file_name").head(count)
    return table.reset_index(drop=True), DATA / "coco/val2017"


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def yolo_reference(table, image_dir, weights, threads):
    from ai_edge_litert.interpreter import Interpreter

    from segshift.backends.yolo_seg import Letterbox, decode

    interpreter = Interpreter(model_path=str(weights), num_threads=threads)
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    outs = sorted(interpreter.get_output_details(), key=lambda o: len(o["shape"]))
    letterbox = Letterbox(int(inp["shape"][1]))
    results = {}
    for row in table.itertuples():
        item = letterbox(read_rgb(image_dir / row.file_name))
        interpreter.set_tensor(inp["index"], item["input"])
        interpreter.invoke()
        pred, proto = interpreter.get_tensor(outs[0]["index"])[0], interpreter.get_tensor(outs[1]["index"])[0]
        out = decode(pred, proto, item, size=letterbox.size, score_floor=0.001, iou_threshold=0.7)
        results[row.image_id] = (out.category_id, out.score, out.bbox, [s["counts"] for s in out.segmentation])
    return results


def torchvision_reference(table, image_dir, weights, threads, device):
    import torchvision
    from pycocotools import mask as mask_api

    from segshift.backends.torchvision import label_to_category_id

    torch.set_num_threads(threads)
    official = torchvision.models.detection.MaskRCNN_ResNet50_FPN_Weights.COCO_V1
    model = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
    model.load_state_dict(torch.load(weights, weights_only=True))
    model.eval().to(device)
    to_id = label_to_category_id(official.meta["categories"])
    results = {}
    with torch.inference_mode():
        for row in table.itertuples():
            image = torch.from_numpy(read_rgb(image_dir / row.file_name)).permute(2, 0, 1).float() / 255
            out = {k: v.cpu() for k, v in model([image.to(device)])[0].items()}
            keep = to_id[out["labels"].numpy()] >= 0
            masks = (out["masks"][keep] > 0.5).numpy()
            rles = [mask_api.encode(np.array(m[0, :, :, None], dtype=np.uint8, order="F"))[0] for m in masks]
            results[row.image_id] = (to_id[out["labels"].numpy()][keep], out["scores"][keep].numpy(),
                                     xyxy_to_xywh(out["boxes"][keep].numpy()), [r["counts"].decode() for r in rles])
    return results


def segshift_job(table, image_dir, tmp: Path, backend, settings, weights, threads, device="cpu"):
    manifest_path = tmp / "manifest.parquet"
    manifest.write(manifest_path, table, dataset="coco_val2017", image_dir=image_dir)
    output = tmp / "shard.parquet"
    job = inference.ShardJob(
        manifest=manifest_path, shard=0, images_per_shard=len(table), num_images=len(table), model="bench",
        backend=backend, settings=settings, weights=weights, weights_sha256=None, output=output,
        threads=threads, batch_size=4, device=device,
    )

    def run():
        inference.run_shard(job)
        frame, _ = predictions.read([output])
        return {i: (g["category_id"].to_numpy(), g["score"].to_numpy(), np.stack(g["bbox"]), list(g["counts"]))
                for i, g in frame.groupby("image_id")}

    return run


def compare(reference: dict, ours: dict, table: pd.DataFrame, exact: bool) -> str:
    """Same images, classes and count; scores, boxes and masks equal (exact) or within float noise."""
    from pycocotools import mask as mask_api

    sizes = {r.image_id: [int(r.height), int(r.width)] for r in table.itertuples()}
    worst_score = worst_box = 0.0
    worst_iou, n = 1.0, 0
    for image_id, (cats, scores, boxes, counts) in reference.items():
        o_cats, o_scores, o_boxes, o_counts = ours.get(image_id, (np.zeros(0), np.zeros(0), np.zeros((0, 4)), []))
        assert len(cats) == len(o_cats) and (np.asarray(cats) == np.asarray(o_cats)).all(), f"image {image_id}: classes differ"
        n += len(cats)
        if not len(cats):
            continue
        worst_score = max(worst_score, float(np.abs(np.asarray(scores, float) - np.asarray(o_scores, float)).max()))
        worst_box = max(worst_box, float(np.abs(np.asarray(boxes, float) - np.asarray(o_boxes, float)).max()))
        differ = [(x, y) for x, y in zip(counts, o_counts) if x != y]  # identical RLEs (empty ones too) agree
        if differ:
            a = [{"size": sizes[image_id], "counts": x.encode()} for x, _ in differ]
            b = [{"size": sizes[image_id], "counts": y.encode()} for _, y in differ]
            worst_iou = min(worst_iou, float(np.diag(mask_api.iou(a, b, [0] * len(b))).min()))
    found = f"score {worst_score:.1e}, box {worst_box:.1e} px, mask IoU {worst_iou:.4f}"
    if exact:
        assert worst_score == 0 and worst_box == 0 and worst_iou == 1, f"detections differ: {found}"
    else:
        assert worst_score < 1e-3 and worst_iou > 0.95, f"detections differ beyond float noise: {found}"
    return (f"{n} detections, same classes; largest score difference {worst_score:.1e}, "
            f"box {worst_box:.1e} px, smallest mask IoU {worst_iou:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backend", choices=["yolo", "torchvision"])
    parser.add_argument("--images", type=int, default=None, help="first N images by file name (yolo: 79, torchvision: 8)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu", help="torchvision: cpu or cuda (the YOLO export runs on the CPU)")
    args = parser.parse_args()
    count = args.images or (79 if args.backend == "yolo" else 8)
    table, image_dir = images(count)
    with tempfile.TemporaryDirectory(prefix="segshift-bench-") as tmp:
        tmp = Path(tmp)
        if args.backend == "yolo":
            weights = DATA / "weights/yolov8n-seg_int8.tflite"
            reference = lambda: yolo_reference(table, image_dir, weights, args.threads)  # noqa: E731
            ours = segshift_job(table, image_dir, tmp, "yolo_seg_export", {}, weights, args.threads)
        else:
            import torchvision

            torch.manual_seed(0)
            model = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
            weights = tmp / "random.pt"
            torch.save(model.state_dict(), weights)
            reference = lambda: torchvision_reference(table, image_dir, weights, args.threads, args.device)  # noqa: E731
            ours = segshift_job(table, image_dir, tmp, "torchvision", {"architecture": "maskrcnn_resnet50_fpn"},
                                weights, args.threads, args.device)
        ref_s, ref_out = median_time(reference, args.repeats)
        our_s, our_out = median_time(ours, args.repeats)
    check = compare(ref_out, our_out, table, exact=args.backend == "yolo")
    report(f"Inference, {args.backend}, {count} COCO val2017 images on {args.device if args.backend == 'torchvision' else 'cpu'}, {args.threads} threads",
           "reference loop", ref_s, "segshift job", our_s,
           extra=f"{count / ref_s:.2f} vs {count / our_s:.2f} images/s; {check}")


if __name__ == "__main__":
    main()
