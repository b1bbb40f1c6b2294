"""transformers' Mask2Former and EoMT, with the papers' instance inference.

The checkpoint is a folder as `save_pretrained` writes it (config.json and the weights); its
`model_type` picks the architecture. The network runs as transformers builds it; the test
transform and the post-processing are the papers' (Mask2Former's `instance_inference`, EoMT's
instance evaluation), not `post_process_instance_segmentation`, whose display defaults (a 0.5 or
0.8 score threshold, masks resized through 384 px, non-overlapping masks) each lower COCO AP:

- Mask2Former: the shorter side resized to 800 (the longer at most 1333) with bilinear
  interpolation, normalised, zero-padded at the bottom and right to a multiple of 32
  (detectron2's test transform and `ImageList`);
- EoMT: the longer side resized to the model's input size (640, 1280) with bilinear
  interpolation, zero-padded at the bottom and right to the square before normalisation, as
  transformers' `EomtImageProcessor` (with `do_pad`) lays it out;
- both: the top 100 (query, class) pairs by class probability over all queries; mask logits
  upsampled bilinearly to the padded input, cropped to the resized image, resized to the
  original image and binarised at 0; score = class probability x the mean mask probability
  inside the binarised mask. Boxes are the masks' bounding boxes (the models predict none).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from segshift import images as image_utils
from segshift import masks as mask_utils
from segshift.backends import Instances
from segshift.categories import COCO_NAME_TO_ID
from segshift.errors import SegshiftError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TOP_K = 100  # test_topk_per_image (Mask2Former), eval_top_k_instances (EoMT)
MASK2FORMER_TEST_SIZE = (800, 1333)
SIZE_DIVISIBILITY = 32
CHUNK = 16  # masks upsampled at once: 16 x 2048 x 1024 float32 is 128 MB


def model_classes() -> dict[str, Any]:
    from transformers import EomtForUniversalSegmentation, Mask2FormerForUniversalSegmentation

    return {"mask2former": Mask2FormerForUniversalSegmentation, "eomt": EomtForUniversalSegmentation}


@dataclass(frozen=True)
class Preprocess:
    """RGB uint8 -> normalised (3, Hp, Wp) float32 input, with the geometry needed to undo it."""

    architecture: str
    test_size: tuple[int, int]  # mask2former: (shorter, longer at most); eomt: (input size, input size)
    resample_to: tuple[int, int] | None = None  # eomt at a domain's test size: the image resampled first

    def __call__(self, image: np.ndarray) -> dict[str, Any]:
        if self.resample_to:
            image = image_utils.resample(image, self.resample_to)
        h0, w0 = image.shape[:2]
        mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
        if self.architecture == "mask2former":
            h1, w1 = shortest_edge_size(h0, w0, *self.test_size)
            from PIL import Image

            resized = np.asarray(Image.fromarray(image).resize((w1, h1), Image.BILINEAR))
            x = (torch.from_numpy(np.ascontiguousarray(resized.transpose(2, 0, 1))).float() / 255 - mean) / std
            hp, wp = (-(-h1 // SIZE_DIVISIBILITY) * SIZE_DIVISIBILITY, -(-w1 // SIZE_DIVISIBILITY) * SIZE_DIVISIBILITY)
            x = F.pad(x, (0, wp - w1, 0, hp - h1))  # after normalisation, as ImageList pads
        else:
            size = self.test_size[0]
            factor = min(size / h0, size / w0)
            x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()[None]
            x = F.interpolate(x, scale_factor=factor, mode="bilinear")[0]
            h1, w1 = x.shape[-2:]
            x = F.pad(x, (0, size - w1, 0, size - h1))  # raw zeros, then normalised, as EoMT pads
            x = (x / 255 - mean) / std
        return {"pixel_values": x.contiguous(), "content": (int(h1), int(w1)), "original_size": (h0, w0)}


def shortest_edge_size(height: int, width: int, short: int, long: int) -> tuple[int, int]:
    """detectron2's ResizeShortestEdge.get_output_shape."""
    scale = short / min(height, width)
    newh, neww = (short, scale * width) if height < width else (scale * height, short)
    if max(newh, neww) > long:
        scale = long / max(newh, neww)
        newh, neww = newh * scale, neww * scale
    return int(newh + 0.5), int(neww + 0.5)


def instance_inference(class_logits: torch.Tensor, mask_logits: torch.Tensor, *, padded_size: tuple[int, int],
                       content: tuple[int, int], original_size: tuple[int, int], top_k: int = TOP_K):
    """One image: class logits (Q, K + 1) and mask logits (Q, h, w) -> labels, scores, binary masks.

    Returns the top `top_k` (query, class) pairs by class probability, sorted by final score:
    class indices (top_k,), scores (top_k,) and bool masks (top_k, H, W) at the original size.
    """
    probs = class_logits.float().softmax(-1)[:, :-1]
    num_classes = probs.shape[1]
    class_scores, index = probs.flatten().topk(min(top_k, probs.numel()), sorted=False)
    labels, queries = index % num_classes, index // num_classes
    # A query often wins with several classes: its mask is computed once.
    unique, inverse = torch.unique(queries, return_inverse=True)
    masks = torch.empty((len(unique), *original_size), dtype=torch.bool, device=mask_logits.device)
    mask_scores = torch.empty(len(unique), dtype=torch.float32, device=mask_logits.device)
    h1, w1 = content
    for start in range(0, len(unique), CHUNK):
        chunk = mask_logits[unique[start : start + CHUNK]].float()[None]
        chunk = F.interpolate(chunk, size=padded_size, mode="bilinear", align_corners=False)[:, :, :h1, :w1]
        chunk = F.interpolate(chunk, size=original_size, mode="bilinear", align_corners=False)[0]
        binary = chunk > 0
        masks[start : start + CHUNK] = binary
        mask_scores[start : start + CHUNK] = ((chunk.sigmoid().flatten(1) * binary.flatten(1)).sum(1)
                                              / (binary.flatten(1).sum(1) + 1e-6))
    masks, mask_scores = masks[inverse], mask_scores[inverse]
    scores = class_scores * mask_scores
    order = scores.argsort(descending=True, stable=True)
    return labels[order], scores[order], masks[order]


def read_checkpoint_config(folder: Path) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise SegshiftError(f"{folder} is not a transformers checkpoint folder (no config.json); "
                            f"give models.*.weights.path the folder save_pretrained wrote, or weights.hub")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise SegshiftError(f"{path} is not valid JSON ({e}); download the checkpoint again") from None


class TransformersSegmenter:
    name = "transformers"

    def __init__(self, weights, device: str, test_size: list[int] | None):
        import transformers

        transformers.utils.logging.disable_progress_bar()  # a bar per checkpoint load would fill the job's log
        folder = Path(weights)
        architecture = read_checkpoint_config(folder).get("model_type")
        classes = model_classes()
        if architecture not in classes:
            raise SegshiftError(f"{folder} holds a {architecture!r} checkpoint, not Mask2Former or EoMT "
                                f"(config.json model_type mask2former or eomt); check models.*.weights")
        try:
            model, info = classes[architecture].from_pretrained(str(folder), output_loading_info=True)
        except (OSError, ValueError, RuntimeError) as e:
            raise SegshiftError(f"{folder} does not load as {classes[architecture].__name__} "
                                f"({str(e).splitlines()[0][:200]}); check models.*.weights") from None
        # from_pretrained fills missing weights with random ones and only warns: here that is an error.
        wrong = sorted(info.get("missing_keys", [])) + sorted(k[0] if isinstance(k, tuple) else k
                                                               for k in info.get("mismatched_keys", []))
        if wrong:
            raise SegshiftError(f"{folder} is not a complete {classes[architecture].__name__} checkpoint: "
                                f"{len(wrong)} weights are missing or of another shape (e.g. {wrong[0]}); "
                                f"check models.*.weights")
        self.model = model.eval().to(device)
        self.device = device
        self.architecture = architecture
        names = [model.config.id2label[i] for i in range(len(model.config.id2label))]
        unknown = [n for n in names if n not in COCO_NAME_TO_ID]
        if unknown or len(names) != len(COCO_NAME_TO_ID):
            raise SegshiftError(f"{folder}: the checkpoint's {len(names)} classes are not COCO's 80 "
                                f"(e.g. {unknown[:3]}); segshift runs COCO-trained models")
        self._category_ids = np.array([COCO_NAME_TO_ID[n] for n in names], dtype=np.int64)
        if architecture == "mask2former":
            size, resample_to = tuple(test_size or MASK2FORMER_TEST_SIZE), None
        else:
            image_size = model.config.image_size
            square = int(image_size if isinstance(image_size, int) else image_size[0])
            size, resample_to = (square, square), (tuple(test_size) if test_size else None)
        self.preprocess = Preprocess(architecture, size, resample_to)
        self.version = f"transformers {transformers.__version__}"
        self.settings = {"architecture": architecture, "test_size": list(size), "resampled_to": resample_to and list(resample_to),
                         "top_k": TOP_K, "score_floor": 0.0, "mask_threshold": "logit > 0"}

    def forward(self, batch: list[dict[str, Any]]):
        """Class and mask logits of a batch of equal-sized inputs (the job batches by image size)."""
        pixels = torch.stack([item["pixel_values"] for item in batch]).to(self.device, non_blocking=True)
        out = self.model(pixel_values=pixels)
        return out.class_queries_logits, out.masks_queries_logits, tuple(pixels.shape[-2:])

    def predict(self, batch: list[dict[str, Any]]) -> list[Instances]:
        class_logits, mask_logits, padded = self.forward(batch)
        return [self.instances(c, m, padded, item) for c, m, item in zip(class_logits, mask_logits, batch)]

    def instances(self, class_logits, mask_logits, padded_size, item) -> Instances:
        labels, scores, masks = instance_inference(class_logits, mask_logits, padded_size=padded_size,
                                                   content=item["content"], original_size=item["original_size"])
        rles = mask_utils.encode_columns(masks)
        return Instances(
            category_id=self._category_ids[labels.cpu().numpy()],
            score=scores.cpu().numpy().astype(np.float32),
            bbox=mask_utils.to_bbox(rles).astype(np.float32).reshape(-1, 4),
            segmentation=rles,
        )


def build(*, settings: dict[str, Any], weights, device: str, test_size=None) -> TransformersSegmenter:
    if weights is None:
        raise SegshiftError("the transformers backend needs a checkpoint folder; save a random model with save_pretrained")
    return TransformersSegmenter(weights, device, test_size)
