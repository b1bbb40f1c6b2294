"""An exported YOLO-seg model (TFLite, no NMS inside) run with the LiteRT interpreter.

The export takes a 640x640 RGB image in [0, 1] and returns (1, 4 + 80 + 32, 8400):
box centre and size relative to the input, 80 class scores and 32 mask coefficients
per anchor, and (1, 160, 160, 32) mask prototypes. Decoding follows Ultralytics'
validation path: long side resized to 640 and centre-padded with 114, multi-label
candidates above the score floor, class-aware NMS, masks as sigmoid(coefficients @
prototypes) > 0.5 cropped to the letterbox content, resized to the original image
and cropped to the box ("native" masks, as Ultralytics scores COCO).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from segshift import masks as mask_utils
from segshift.backends import Instances, xyxy_to_xywh
from segshift.categories import CONTIGUOUS_TO_COCO_ID
from segshift.errors import SegshiftError

PAD_VALUE = 114
MAX_DETECTIONS = 100
MAX_NMS = 30000
MAX_WH = 7680  # class offset for class-aware NMS in one call


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """torchvision's NMS kernel (what torchvision.ops.nms runs), loaded without importing the
    torchvision package: its import (models, ops, torch._dynamo) costs an inference job ~2 s."""
    if not hasattr(torch.ops.torchvision, "nms"):
        import importlib.util

        folder = Path(importlib.util.find_spec("torchvision").submodule_search_locations[0])
        library = next(iter(sorted(folder.glob("_C*.so")) + sorted(folder.glob("_C*.pyd"))), None)
        if library is None:  # a torchvision build laid out otherwise: its own import registers the kernel
            import torchvision  # noqa: F401
        else:
            torch.ops.load_library(str(library))
    return torch.ops.torchvision.nms(boxes, scores, iou_threshold)


@dataclass(frozen=True)
class Letterbox:
    """Resize the long side to `size` and pad to size x size (Ultralytics' validation transform)."""

    size: int = 640

    def __call__(self, image: np.ndarray) -> dict[str, Any]:
        h0, w0 = image.shape[:2]
        r = self.size / max(h0, w0)
        if r != 1:
            w1, h1 = min(math.ceil(w0 * r), self.size), min(math.ceil(h0 * r), self.size)
            image = cv2.resize(image, (w1, h1), interpolation=cv2.INTER_LINEAR)
        h1, w1 = image.shape[:2]
        dw, dh = (self.size - w1) / 2, (self.size - h1) / 2
        top, bottom = round(dh - 0.1), round(dh + 0.1)
        left, right = round(dw - 0.1), round(dw + 0.1)
        image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
        return {
            "input": (image.astype(np.float32) / 255.0)[None],
            "original_size": (h0, w0),
            "content": (top, left, h1, w1),
        }


class YoloSegExport:
    name = "yolo_seg_export"

    def __init__(self, weights: str | Path, *, score_floor: float, iou_threshold: float, num_threads: int | None = None):
        from ai_edge_litert import __version__ as litert_version
        from ai_edge_litert.interpreter import Interpreter

        try:
            self.interpreter = Interpreter(model_path=str(weights), num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise SegshiftError(f"{weights} is not a loadable TFLite model ({e}); check models.*.weights") from None
        (inp,) = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        shapes = sorted((tuple(o["shape"]) for o in outputs), key=len)
        if len(outputs) != 2 or tuple(inp["shape"][:1]) != (1,) or inp["shape"][1] != inp["shape"][2]:
            raise SegshiftError(f"{weights} does not have a YOLO-seg export's inputs and outputs ({shapes})")
        self.input_index = inp["index"]
        self.pred_index = next(o["index"] for o in outputs if len(o["shape"]) == 3)
        self.proto_index = next(o["index"] for o in outputs if len(o["shape"]) == 4)
        self.size = int(inp["shape"][1])
        self.score_floor = score_floor
        self.iou_threshold = iou_threshold
        self.preprocess = Letterbox(self.size)
        self.version = f"ai-edge-litert {litert_version}"
        self.device = "cpu"
        self.settings = {"input_size": self.size, "score_floor": score_floor, "iou_threshold": iou_threshold}

    def forward(self, item: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        self.interpreter.set_tensor(self.input_index, item["input"])
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.pred_index)[0], self.interpreter.get_tensor(self.proto_index)[0]

    def predict(self, batch: list[dict[str, Any]]) -> list[Instances]:
        return [self.decode(*self.forward(item), item) for item in batch]

    def decode(self, pred: np.ndarray, proto: np.ndarray, item: dict[str, Any]) -> Instances:
        return decode(pred, proto, item, size=self.size, score_floor=self.score_floor, iou_threshold=self.iou_threshold)


def decode(pred: np.ndarray, proto: np.ndarray, item: dict[str, Any], *, size: int, score_floor: float, iou_threshold: float) -> Instances:
    """Detections of one image from the export's two outputs (pred: (4 + 80 + 32, anchors), proto: (h, w, 32))."""
    pred = torch.from_numpy(pred).T  # (anchors, 4 + classes + coefficients)
    nc = len(CONTIGUOUS_TO_COCO_ID)
    boxes, scores, coefficients = pred[:, :4] * size, pred[:, 4 : 4 + nc], pred[:, 4 + nc :]
    anchor, cls = torch.where(scores > score_floor)  # every (box, class) above the floor
    conf = scores[anchor, cls]
    if len(conf) > MAX_NMS:
        order = conf.argsort(descending=True)[:MAX_NMS]
        anchor, cls, conf = anchor[order], cls[order], conf[order]
    xyxy = torch.cat([boxes[anchor, :2] - boxes[anchor, 2:] / 2, boxes[anchor, :2] + boxes[anchor, 2:] / 2], 1)
    keep = nms(xyxy + cls[:, None].float() * MAX_WH, conf, iou_threshold)[:MAX_DETECTIONS]
    anchor, cls, conf, xyxy = anchor[keep], cls[keep], conf[keep], xyxy[keep]

    h0, w0 = item["original_size"]
    top, left, h1, w1 = item["content"]
    xyxy = xyxy - torch.tensor([left, top, left, top], dtype=xyxy.dtype)
    xyxy = xyxy / torch.tensor([w1 / w0, h1 / h0, w1 / w0, h1 / h0], dtype=xyxy.dtype)
    xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, w0)
    xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, h0)
    return Instances(
        category_id=np.asarray(CONTIGUOUS_TO_COCO_ID, dtype=np.int64)[cls.numpy()],
        score=conf.numpy().astype(np.float32),
        bbox=xyxy_to_xywh(xyxy.numpy()),
        segmentation=decode_masks(torch.from_numpy(proto), coefficients[anchor], xyxy, item, size=size),
    )


def decode_masks(proto: torch.Tensor, coefficients: torch.Tensor, xyxy: torch.Tensor, item: dict[str, Any], *, size: int) -> list[dict]:
    """Mask logits at prototype scale, cropped to the letterbox content, resized to the image, cut to the box.

    The bilinear resize is evaluated only inside each box (everything outside is cut away),
    with separable weights that reproduce torch's F.interpolate.
    """
    h0, w0 = item["original_size"]
    if len(coefficients) == 0:
        return []
    mh, mw, c = proto.shape
    logits = (coefficients @ proto.reshape(-1, c).T).reshape(-1, mh, mw).numpy()
    top, left, h1, w1 = item["content"]
    stride = size // mh
    # Upsample just enough (x1, x2 or x4) that the padding falls on whole prototype pixels.
    f = next(f for f in (1, 2, 4, stride) if all((v * f) % stride == 0 for v in (top, left, h1, w1)))
    s = f / stride
    ay = mask_utils.bilinear_matrix(mh * f, mh)[round(top * s) : round((top + h1) * s)]  # prototype -> content rows
    ax = mask_utils.bilinear_matrix(mw * f, mw)[round(left * s) : round((left + w1) * s)]
    ay = mask_utils.bilinear_matrix(h0, ay.shape[0]) @ ay  # -> image rows
    ax = mask_utils.bilinear_matrix(w0, ax.shape[0]) @ ax
    rles = []
    for logit, (c1, r1, c2, r2) in zip(logits, mask_utils.box_pixels(xyxy.numpy(), h0, w0)):
        band = (ay[r1:r2] @ logit @ ax[c1:c2].T) > 0
        rles.append(mask_utils.encode_band(band, r1, c1, h0, w0))
    return rles


def build(*, settings: dict[str, Any], weights, device: str, test_size=None) -> YoloSegExport:
    if weights is None:
        raise SegshiftError("the yolo_seg_export backend needs an exported model file; there are no random weights")
    return YoloSegExport(
        weights,
        score_floor=settings.get("score_floor", 0.001),
        iou_threshold=settings.get("iou_threshold", 0.7),
        num_threads=settings.get("num_threads"),
    )
