"""segshift's inference job against the loop a researcher would write with the same backend.

Same model, same images, same device, one process each:
- yolo: the real YOLOv8n-seg export on the real COCO val2017 images in ../shared/data
  (reference: one LiteRT interpreter call per image, read -> letterbox -> invoke -> decode);
- torchvision: Mask R-CNN R50-FPN v1 with random weights (seed 0) on the same images
  (reference: torchvision's references/detection evaluate loop, batch size 1, masks > 0.5
  encoded with pycocotools).
- rfdetr, ultralytics, mask2former, eomt, lazyconfig: the optional backends with random
  weights (RF-DETR-Seg Nano; YOLO11n-seg from its yaml; Mask2Former and EoMT at the small sizes
  of tests/test_backends_models.py on the CPU, their real sizes with --full; detectron2's
  new_baselines R50 LazyConfig), each against its library's own loop: rfdetr's
  predict(threshold=0), YOLO(...).predict at validation settings, transformers' model called
  image by image with the papers' instance inference as written (every query upsampled), and
  detectron2's DatasetMapper + model, batch 1; masks encoded with pycocotools.
Both sides include model loading and RLE encoding; segshift's side also writes the Parquet
shard. Checks the detections are the same, prints images/s and the ratio. `--split` times,
instead, one 2048x1024 Cityscapes frame with 100 detections: forward pass, mask pasting (the
masks at image resolution) and RLE encoding.

    python benchmarks/inference.py yolo --images 79
    python benchmarks/inference.py torchvision --images 8
    python benchmarks/inference.py rfdetr --images 8 [--device cuda] [--split]
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


def pycocotools_counts(binary: np.ndarray) -> list[str]:
    from pycocotools import mask as mask_api

    binary = np.asarray(binary, dtype=np.uint8)
    if not len(binary):
        return []
    return [r["counts"].decode() for r in mask_api.encode(np.asfortranarray(binary.transpose(1, 2, 0)))]


def random_model(name: str, tmp: Path, full: bool = False) -> tuple[str, dict, Path]:
    """(backend, settings, weights) of a random-weight model of each optional backend, saved as its library saves it."""
    sys.path[:0] = [str(REPO / "tests")]
    from test_backends_models import random_yolo, tiny_checkpoint

    torch.manual_seed(0)
    if name == "rfdetr":
        from segshift import backends

        model = backends.build("rfdetr", settings={"size": "nano"}, weights=None, device="cpu")
        torch.save({"model": model.model.state_dict()}, tmp / "nano.pt")
        return "rfdetr", {"size": "nano"}, tmp / "nano.pt"
    if name == "ultralytics":
        return "ultralytics", {}, random_yolo(tmp / "yolo11n-seg.pt")
    if name in ("mask2former", "eomt"):
        if not full:
            return "transformers", {}, tiny_checkpoint(name, tmp / name)
        from transformers import EomtConfig, EomtForUniversalSegmentation, Mask2FormerConfig, Mask2FormerForUniversalSegmentation

        from segshift.categories import COCO_CATEGORIES

        labels = {i: n for i, (_, n, _) in enumerate(COCO_CATEGORIES)}
        kwargs = {"id2label": labels, "label2id": {n: i for i, n in labels.items()}, "num_labels": 80}
        if name == "mask2former":  # Swin-T, 100 queries: the published Swin-T's shapes
            backbone = {"model_type": "swin", "embed_dim": 96, "depths": [2, 2, 6, 2], "num_heads": [3, 6, 12, 24],
                        "window_size": 7, "out_features": ["stage1", "stage2", "stage3", "stage4"]}
            model = Mask2FormerForUniversalSegmentation(Mask2FormerConfig(backbone_config=backbone, num_queries=100, **kwargs))
        else:  # EoMT-L 640
            model = EomtForUniversalSegmentation(EomtConfig(image_size=640, **kwargs))
        model.save_pretrained(tmp / name)
        return "transformers", {}, tmp / name
    if name == "lazyconfig":
        from segshift import backends

        settings = {"config": "new_baselines/mask_rcnn_R_50_FPN_100ep_LSJ.py"}
        model = backends.build("detectron2", settings=settings, weights=None, device="cpu")
        torch.save({"model": model.model.state_dict()}, tmp / "r50_lsj.pth")
        return "detectron2", settings, tmp / "r50_lsj.pth"
    raise ValueError(name)


def optional_reference(name: str, table, image_dir, backend, settings, weights, device):
    """The library's own loop, one image at a time; returns image_id -> (classes, scores, xywh, RLE counts)."""
    from segshift import backends
    from segshift.categories import COCO_IDS

    results = {}
    if name == "rfdetr":
        wrapper = backends.build(backend, settings=settings, weights=weights, device=device).wrapper
        wrapper.model.device = torch.device(device)
        for row in table.itertuples():
            d = wrapper.predict(read_rgb(image_dir / row.file_name), threshold=0.0)
            coco = np.isin(d.class_id, COCO_IDS)
            results[row.image_id] = (d.class_id[coco], d.confidence[coco], xyxy_to_xywh(d.xyxy[coco]), pycocotools_counts(d.mask[coco]))
    elif name == "ultralytics":
        from ultralytics import YOLO

        from segshift.backends.ultralytics import predictor_settings

        model = YOLO(str(weights))
        args = predictor_settings(model, device, 0.001, 0.7)
        for row in table.itertuples():
            (r,) = model.predict(cv2.imread(str(image_dir / row.file_name)), **args)
            b = r.boxes
            counts = pycocotools_counts(r.masks.data.cpu().numpy() > 0.5) if r.masks is not None else []
            results[row.image_id] = (np.asarray(COCO_IDS)[b.cls.cpu().numpy().astype(int)], b.conf.cpu().numpy(),
                                     xyxy_to_xywh(b.xyxy.cpu().numpy()), counts)
    elif name in ("mask2former", "eomt"):
        from test_backends_models import reference_instance_inference

        model = backends.build(backend, settings=settings, weights=weights, device=device)
        with torch.inference_mode():
            for row in table.itertuples():
                image = read_rgb(image_dir / row.file_name)
                item = model.preprocess(image)
                out = model.model(pixel_values=item["pixel_values"][None].to(device))
                labels, scores, binary = reference_instance_inference(
                    out.class_queries_logits[0].cpu(), out.masks_queries_logits[0].cpu(),
                    tuple(item["pixel_values"].shape[-2:]), item["content"], image.shape[:2])
                order = torch.argsort(scores, descending=True, stable=True).cpu()
                binary = binary.cpu().numpy()[order.numpy()]
                counts = pycocotools_counts(binary)
                from pycocotools import mask as mask_api

                boxes = mask_api.toBbox([{"size": list(image.shape[:2]), "counts": c.encode()} for c in counts])
                results[row.image_id] = (np.asarray(COCO_IDS)[labels.cpu().numpy()[order.numpy()]],
                                         scores.cpu().numpy()[order.numpy()], boxes, counts)
    elif name == "lazyconfig":
        from detectron2.data import DatasetMapper

        model = backends.build(backend, settings=settings, weights=weights, device=device)
        mapper = DatasetMapper(is_train=False, augmentations=model.preprocess.augmentations,
                               image_format=model.preprocess.input_format)
        with torch.inference_mode():
            for row in table.itertuples():
                d = {"file_name": str(image_dir / row.file_name), "height": int(row.height), "width": int(row.width)}
                inst = model.model([mapper(d)])[0]["instances"].to("cpu")
                results[row.image_id] = (np.asarray(COCO_IDS)[inst.pred_classes.numpy()], inst.scores.numpy(),
                                         xyxy_to_xywh(inst.pred_boxes.tensor.numpy()), pycocotools_counts(inst.pred_masks.numpy()))
    return results


def split_times(name: str, backend, settings, weights, device, repeats: int) -> str:
    """Forward pass, mask pasting and RLE encoding of the 2048x1024 frame, 100 detections, medians."""
    from segshift import backends, masks

    frame = read_rgb(DATA / "cityscapes_fullres/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png")
    if backend in ("detectron2", "torchvision"):  # random weights: no score floor, so that 100 detections remain
        settings = {**settings, "score_floor": 0.0}
    model = backends.build(backend, settings=settings, weights=weights, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def timed(fn):
        def run():
            sync()
            out = fn()
            sync()
            return out
        return median_time(run, repeats)

    with torch.inference_mode():
        if backend == "transformers":
            from segshift.backends.transformers import instance_inference

            item = model.preprocess(frame)
            forward, (c, m, padded) = timed(lambda: model.forward([item]))
            paste, (_, _, binary) = timed(lambda: instance_inference(c[0], m[0], padded_size=padded, content=item["content"],
                                                                      original_size=frame.shape[:2]))
        elif backend == "rfdetr":
            item = model.preprocess(frame)
            pixels = item["pixel_values"][None].to(device)
            forward, out = timed(lambda: model.model(pixels))
            sizes = torch.tensor([frame.shape[:2]], device=device)
            paste, (r,) = timed(lambda: model.postprocess(out, target_sizes=sizes))
            binary = r["masks"][:100, 0]
        elif backend == "ultralytics":
            p = model.predictor
            p.args.max_det = 100  # the split is of 100 detections (validation keeps up to 300)
            bgr = model.preprocess(frame)
            p.batch = ([""], [bgr], [""])
            im = p.preprocess([bgr])
            forward, preds = timed(lambda: p.inference(im))
            paste, (r,) = timed(lambda: p.postprocess(preds, im, [bgr]))
            binary = r.masks.data[:100] > 0.5 if r.masks is not None else torch.zeros((0, *frame.shape[:2]), dtype=torch.bool)
        elif backend == "torchvision":  # the network, then GeneralizedRCNNTransform.postprocess (the paste)
            tv = model.model
            image = model.preprocess(frame).to(device)

            def network():
                batch, _ = tv.transform([image])
                features = tv.backbone(batch.tensors)
                proposals, _ = tv.rpn(batch, features)
                return tv.roi_heads(features, proposals, batch.image_sizes)[0], batch.image_sizes

            forward, (detections, sizes) = timed(network)
            paste, (out,) = timed(lambda: tv.transform.postprocess([dict(d) for d in detections], sizes, [frame.shape[:2]]))
            binary = out["masks"][:100, 0] > 0.5
        else:  # detectron2: the network without detector_postprocess, then the paste it does
            from detectron2.modeling.postprocessing import detector_postprocess

            batch = [model.preprocess(frame)]
            forward, (raw,) = timed(lambda: model.model.inference(batch, do_postprocess=False))
            paste, inst = timed(lambda: detector_postprocess(raw, *frame.shape[:2]))
            binary = inst.pred_masks[:100]
        rle, _ = timed(lambda: masks.encode_columns(binary.bool()))
    n = len(binary)
    return (f"2048x1024 frame, {n} detections on {device}: forward {forward:.3f} s, mask pasting {paste:.3f} s, "
            f"RLE encoding {rle:.3f} s")


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


OPTIONAL = ["rfdetr", "ultralytics", "mask2former", "eomt", "lazyconfig"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backend", choices=["yolo", "torchvision", *OPTIONAL])
    parser.add_argument("--images", type=int, default=None, help="first N images by file name (yolo: 79, others: 8)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the YOLO export runs on the CPU)")
    parser.add_argument("--full", action="store_true", help="mask2former, eomt: Swin-T and EoMT-L shapes, not the small test ones")
    parser.add_argument("--split", action="store_true", help="time forward / mask pasting / RLE on the 2048x1024 frame instead")
    args = parser.parse_args()
    count = args.images or (79 if args.backend == "yolo" else 8)
    table, image_dir = images(count)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="segshift-bench-") as tmp:
        tmp = Path(tmp)
        if args.backend in OPTIONAL:
            backend, settings, weights = random_model(args.backend, tmp, args.full)
            if args.split:
                print(f"\nInference time split, {args.backend}: "
                      f"{split_times(args.backend, backend, settings, weights, args.device, args.repeats)}")
                return
            reference = lambda: optional_reference(args.backend, table, image_dir, backend, settings,  # noqa: E731
                                                   weights, args.device)
            ours = segshift_job(table, image_dir, tmp, backend, settings, weights, args.threads, args.device)
        elif args.backend == "yolo":
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
    device = "cpu" if args.backend == "yolo" else args.device
    report(f"Inference, {args.backend}, {count} COCO val2017 images on {device}, {args.threads} threads",
           "reference loop", ref_s, "segshift job", our_s,
           extra=f"{count / ref_s:.2f} vs {count / our_s:.2f} images/s; {check}")


if __name__ == "__main__":
    main()
