"""An exported YOLO-seg model (no NMS inside): TFLite on the LiteRT interpreter, or ONNX on onnxruntime.

The export takes an S x S RGB image in [0, 1] (S read from the model: 640, 320, ...) and
returns (1, 4 + 80 + 32, anchors): box centre and size (relative to the input in TFLite
exports, in input pixels in ONNX ones), 80 class scores and 32 mask coefficients per anchor,
and the mask prototypes (S/4 x S/4 x 32; channels first in ONNX). A fully int8 TFLite export
takes and returns int8 tensors: the input is quantised and every output dequantised with that
tensor's own scale and zero point. Decoding follows Ultralytics' validation path: long side
resized to S and centre-padded with 114, multi-label candidates above the score floor,
class-aware NMS, masks as sigmoid(coefficients @ prototypes) > 0.5 cropped to the letterbox
content, resized to the original image and cropped to the box ("native" masks, as
Ultralytics scores COCO).
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


def quantise(x: np.ndarray, detail: dict, name: str) -> np.ndarray:
    """A float tensor in the integer type of a quantised input, with its own scale and zero point."""
    scale, zero_point = _quantisation(detail, name)
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(detail["dtype"])


def dequantise(q: np.ndarray, detail: dict, name: str) -> np.ndarray:
    scale, zero_point = _quantisation(detail, name)
    return ((q.astype(np.float32) - zero_point) * scale).astype(np.float32)


def _quantisation(detail: dict, name: str) -> tuple[float, int]:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if not scale:
        raise SegshiftError(f"{name}: tensor {detail['name']!r} is {np.dtype(detail['dtype']).name} without "
                            f"quantisation parameters (scale 0); export the model with them, or as float32")
    return float(scale), int(zero_point)


class LiteRT:
    """A TFLite export on the LiteRT interpreter: NHWC input, float32 or int8."""

    format = "tflite"
    boxes_normalised = True  # Ultralytics' TFLite exports give boxes relative to the input size

    def __init__(self, weights: Path, num_threads: int | None):
        from ai_edge_litert import __version__ as litert_version
        from ai_edge_litert.interpreter import Interpreter

        self.name = str(weights)
        try:
            self.interpreter = Interpreter(model_path=str(weights), num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise SegshiftError(f"{weights} is not a loadable TFLite model ({e}); check models.*.weights") from None
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        _check_head(weights, [tuple(i["shape"]) for i in inputs], [tuple(o["shape"]) for o in outputs], channels_last=True)
        (self.input,) = inputs
        self.pred = next(o for o in outputs if len(o["shape"]) == 3)
        self.proto = next(o for o in outputs if len(o["shape"]) == 4)
        for detail in (self.input, self.pred, self.proto):
            if np.issubdtype(detail["dtype"], np.integer):
                _quantisation(detail, self.name)  # fail at load, not on the first image
        self.size = int(self.input["shape"][1])
        self.version = f"ai-edge-litert {litert_version}"
        self.quantised = np.issubdtype(self.input["dtype"], np.integer)

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(1, S, S, 3) float32 in [0, 1] -> pred (4 + 80 + 32, anchors), proto (S/4, S/4, 32), float32."""
        if self.quantised:
            image = quantise(image, self.input, self.name)
        self.interpreter.set_tensor(self.input["index"], image)
        self.interpreter.invoke()
        return tuple(self._output(detail)[0] for detail in (self.pred, self.proto))

    def _output(self, detail: dict) -> np.ndarray:
        out = self.interpreter.get_tensor(detail["index"])
        return dequantise(out, detail, self.name) if np.issubdtype(out.dtype, np.integer) else out


class OnnxRuntime:
    """An ONNX export on onnxruntime: NCHW float32 input, channels-first prototypes."""

    format = "onnx"
    boxes_normalised = False  # Ultralytics' ONNX exports give boxes in input pixels

    def __init__(self, weights: Path, num_threads: int | None):
        try:
            import onnxruntime
        except ImportError:
            raise SegshiftError(f"{weights} is an ONNX model and onnxruntime is not installed: "
                                f"pip install onnxruntime (see requirements.txt)") from None
        options = onnxruntime.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        try:
            self.session = onnxruntime.InferenceSession(str(weights), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for a bad file
            raise SegshiftError(f"{weights} is not a loadable ONNX model ({str(e).splitlines()[0][:200]}); "
                                f"check models.*.weights") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        _check_head(weights, [tuple(i.shape) for i in inputs], [tuple(o.shape) for o in outputs], channels_last=False)
        if inputs[0].type != "tensor(float)":
            raise SegshiftError(f"{weights}: input {inputs[0].name!r} is {inputs[0].type}, not float32; "
                                f"export the ONNX model with a float input")
        self.input_name = inputs[0].name
        names = {len(o.shape): o.name for o in outputs}
        self.output_names = [names[3], names[4]]
        self.size = int(inputs[0].shape[2])
        self.version = f"onnxruntime {onnxruntime.__version__}"

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pred, proto = self.session.run(self.output_names, {self.input_name: np.ascontiguousarray(image.transpose(0, 3, 1, 2))})
        return pred[0], proto[0].transpose(1, 2, 0)


def _check_head(weights, inputs: list[tuple], outputs: list[tuple], *, channels_last: bool) -> None:
    """One square RGB input; a (1, 4 + 80 + 32, anchors) head and (1, S/4, S/4, 32) prototypes."""
    def dims(shape):  # symbolic ONNX dims stay strings
        return tuple(int(d) if isinstance(d, (int, np.integer)) else d for d in shape)

    inputs, outputs = [dims(i) for i in inputs], [dims(o) for o in outputs]
    shapes = f"inputs {inputs}, outputs {outputs}"
    fail = SegshiftError(f"{weights} does not have a YOLO-seg export's inputs and outputs ({shapes}): "
                         f"expected one (1, S, S, 3) input, a (1, 116, anchors) head and (1, S/4, S/4, 32) prototypes")
    if len(inputs) != 1 or len(outputs) != 2 or sorted(map(len, outputs)) != [3, 4]:
        raise fail
    (inp,) = inputs
    size, channels = (inp[1:3], inp[3]) if channels_last else (inp[2:4], inp[1])
    pred = next(o for o in outputs if len(o) == 3)
    proto = next(o for o in outputs if len(o) == 4)
    mask_channels = proto[3] if channels_last else proto[1]
    if len(inp) != 4 or channels != 3 or size[0] != size[1] or not isinstance(size[0], int):
        raise fail
    if pred[1] != 4 + len(CONTIGUOUS_TO_COCO_ID) + mask_channels:
        raise fail


RUNTIMES = {".tflite": LiteRT, ".onnx": OnnxRuntime}


class YoloSegExport:
    name = "yolo_seg_export"

    def __init__(self, weights: str | Path, *, score_floor: float, iou_threshold: float, num_threads: int | None = None):
        weights = Path(weights)
        runtime = RUNTIMES.get(weights.suffix.lower())
        if runtime is None:
            raise SegshiftError(f"{weights}: a YOLO-seg export is a .tflite or an .onnx file; "
                                f"rename it or check models.*.weights")
        self.runtime = runtime(weights, num_threads)
        self.size = self.runtime.size
        self.score_floor = score_floor
        self.iou_threshold = iou_threshold
        self.preprocess = Letterbox(self.size)
        self.version = self.runtime.version
        self.device = "cpu"
        self.settings = {"format": self.runtime.format, "input_size": self.size, "score_floor": score_floor,
                         "iou_threshold": iou_threshold}

    def forward(self, item: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        return self.runtime(item["input"])

    def predict(self, batch: list[dict[str, Any]]) -> list[Instances]:
        return [self.decode(*self.forward(item), item) for item in batch]

    def decode(self, pred: np.ndarray, proto: np.ndarray, item: dict[str, Any]) -> Instances:
        return decode(pred, proto, item, size=self.size, score_floor=self.score_floor, iou_threshold=self.iou_threshold,
                      box_scale=self.size if self.runtime.boxes_normalised else 1.0)


def decode(pred: np.ndarray, proto: np.ndarray, item: dict[str, Any], *, size: int, score_floor: float, iou_threshold: float,
           box_scale: float | None = None) -> Instances:
    """Detections of one image from the export's two outputs (pred: (4 + 80 + 32, anchors), proto: (h, w, 32)).

    `box_scale` turns the head's boxes into input pixels: the input size for normalised boxes
    (TFLite exports, the default), 1 for boxes already in pixels (ONNX exports)."""
    pred = torch.from_numpy(pred).T  # (anchors, 4 + classes + coefficients)
    nc = len(CONTIGUOUS_TO_COCO_ID)
    boxes, scores, coefficients = pred[:, :4] * (size if box_scale is None else box_scale), pred[:, 4 : 4 + nc], pred[:, 4 + nc :]
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
