"""Ultralytics `.pt` segmentation checkpoints (YOLO11-seg, YOLO26-seg, YOLOv8-seg): optional, AGPL-3.0.

`ultralytics` is not in the main install (its licence is AGPL-3.0; README, "Models"). The
checkpoint runs through Ultralytics' own predictor, set as its validation mode sets it:
confidence floor 0.001, class-aware NMS at IoU 0.7, up to 300 detections, masks at image
resolution (`retina_masks`, `process_mask_native`), the input size the checkpoint was trained
at. Its letterbox, forward pass and post-processing run unchanged; segshift only feeds it the
decoded images and encodes the masks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from segshift import images as image_utils
from segshift import masks as mask_utils
from segshift.backends import Instances, xyxy_to_xywh
from segshift.categories import COCO_NAME_TO_ID
from segshift.errors import SegshiftError

VALIDATION = {"conf": 0.001, "iou": 0.7, "max_det": 300, "retina_masks": True}


class Preprocess:
    """RGB -> the BGR array Ultralytics' predictor takes (resampled to a domain's test size first)."""

    def __init__(self, resample_to):
        self.resample_to = resample_to

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if self.resample_to:
            image = image_utils.resample(image, self.resample_to)
        return np.ascontiguousarray(image[:, :, ::-1])


def predictor_settings(model, device: str, score_floor: float, iou_threshold: float) -> dict[str, Any]:
    """What `YOLO.predict` is given: the validation settings and the checkpoint's own input size."""
    imgsz = (model.ckpt or {}).get("train_args", {}).get("imgsz") or model.overrides.get("imgsz") or 640
    return {**VALIDATION, "conf": score_floor, "iou": iou_threshold, "imgsz": imgsz, "device": device,
            "half": False, "verbose": False}


class UltralyticsSegmenter:
    name = "ultralytics"

    def __init__(self, weights, device: str, test_size, score_floor: float, iou_threshold: float):
        # Ultralytics pip-installs what it misses at run time unless told not to, and on import
        # replaces PIL.Image.open process-wide (a HEIF plugin fetched on the first unreadable
        # file); segshift decodes its own images, so neither is wanted.
        os.environ["YOLO_AUTOINSTALL"] = "false"
        import ultralytics
        import ultralytics.utils.patches as patches
        from ultralytics import YOLO

        Image.open = patches._image_open

        weights = Path(weights)
        if weights.suffix.lower() != ".pt":
            raise SegshiftError(f"{weights}: the ultralytics backend runs .pt checkpoints; "
                                f"run exports (.tflite, .onnx) with the yolo_seg_export backend")
        try:
            model = YOLO(str(weights))
        except Exception as e:  # torch.load, a missing key, an unknown module: all mean "not a checkpoint"
            raise SegshiftError(f"{weights} is not an Ultralytics checkpoint ({str(e).splitlines()[0][:200]}); "
                                f"check models.*.weights") from None
        if model.task != "segment":
            raise SegshiftError(f"{weights} is an Ultralytics {model.task} checkpoint, not a segmentation one "
                                f"(-seg); check models.*.weights")
        names = [model.names[i] for i in sorted(model.names)]
        unknown = [n for n in names if n not in COCO_NAME_TO_ID]
        if unknown or len(names) != len(COCO_NAME_TO_ID):
            raise SegshiftError(f"{weights}: the checkpoint's {len(names)} classes are not COCO's 80 "
                                f"(e.g. {unknown[:3]}); segshift runs COCO-trained models")
        self._category_ids = np.array([COCO_NAME_TO_ID[n] for n in names], dtype=np.int64)
        self.args = predictor_settings(model, device, score_floor, iou_threshold)
        model.predict(np.zeros((64, 64, 3), np.uint8), **self.args)  # builds the predictor once (and warms up)
        self.yolo, self.predictor = model, model.predictor
        self.device = device
        self.preprocess = Preprocess(tuple(test_size) if test_size else None)
        self.version = f"ultralytics {ultralytics.__version__}"
        self.settings = {"input_size": self.args["imgsz"], "score_floor": score_floor, "iou_threshold": iou_threshold,
                         "detections_per_image": VALIDATION["max_det"], "masks": "image resolution (retina_masks)",
                         "resampled_to": list(test_size) if test_size else None}

    def predict(self, batch: list[np.ndarray]) -> list[Instances]:
        # The steps of the predictor's own stream_inference, on images the loader decoded.
        predictor = self.predictor
        predictor.batch = ([""] * len(batch), batch, [""] * len(batch))
        im = predictor.preprocess(batch)
        results = predictor.postprocess(predictor.inference(im), im, batch)
        return [self._instances(r) for r in results]

    def _instances(self, result) -> Instances:
        boxes = result.boxes
        if result.masks is None:
            h, w = result.orig_shape
            empty = torch.zeros((0, h, w), dtype=torch.bool)
            return Instances(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros((0, 4), np.float32),
                             mask_utils.encode_columns(empty))
        return Instances(
            category_id=self._category_ids[boxes.cls.cpu().numpy().astype(np.int64)],
            score=boxes.conf.cpu().numpy().astype(np.float32),
            bbox=xyxy_to_xywh(boxes.xyxy.cpu().numpy()),
            segmentation=mask_utils.encode_columns(result.masks.data > 0.5),
        )


def build(*, settings: dict[str, Any], weights, device: str, test_size=None) -> UltralyticsSegmenter:
    if weights is None:
        raise SegshiftError("the ultralytics backend needs a .pt checkpoint (a random one: YOLO('yolo11n-seg.yaml').save(...))")
    return UltralyticsSegmenter(weights, device, test_size, settings.get("score_floor", 0.001),
                                settings.get("iou_threshold", 0.7))
