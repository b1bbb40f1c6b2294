"""RF-DETR-Seg (Roboflow's `rfdetr`, Apache-2.0), Nano to 2XLarge, from a local `.pt` checkpoint.

The network and its post-processing (`PostProcess`: the top `num_select` (query, class) pairs
by sigmoid score, boxes scaled to the image, mask logits resized bilinearly to the image and
binarised at 0) are rfdetr's own. The input is what `RFDETR.predict` builds: the image scaled to
[0, 1], resized without antialiasing to the model's square resolution, ImageNet-normalised;
here in the loader workers. Unlike `predict`'s default `threshold=0.5`, every selected query is
kept: COCO AP needs the low-scoring ones. Labels are COCO category ids (the checkpoints' 91
slots are COCO's id space); a slot that is no COCO category is dropped.
"""

from __future__ import annotations

import argparse
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segshift import images as image_utils
from segshift import masks as mask_utils
from segshift.backends import Instances, xyxy_to_xywh
from segshift.categories import COCO_IDS
from segshift.errors import SegshiftError

SIZES = {
    "nano": "RFDETRSegNano",
    "small": "RFDETRSegSmall",
    "medium": "RFDETRSegMedium",
    "large": "RFDETRSegLarge",
    "xlarge": "RFDETRSegXLarge",
    "2xlarge": "RFDETRSeg2XLarge",
}
MEANS = (0.485, 0.456, 0.406)  # RFDETR.means / stds
STDS = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    resolution: int
    resample_to: tuple[int, int] | None = None  # a domain's test size: a fixed-input model sees the image resampled

    def __call__(self, image: np.ndarray) -> dict[str, Any]:
        from torchvision.transforms import functional as TF

        if self.resample_to:
            image = image_utils.resample(image, self.resample_to)
        chw = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        x = chw.to(dtype=torch.get_default_dtype(), memory_format=torch.contiguous_format).div_(torch.tensor(255.0))
        x = TF.resize(x, [self.resolution, self.resolution], antialias=False)
        return {"pixel_values": TF.normalize(x, list(MEANS), list(STDS)), "original_size": image.shape[:2]}


def load_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The state dict of an rfdetr checkpoint ({"model": ..., "args": Namespace}), loaded without pickle code."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace, types.SimpleNamespace]):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, zipfile errors...
        raise SegshiftError(f"{path} is not an rfdetr checkpoint ({str(e).splitlines()[0][:200]}); "
                            f"check models.*.weights") from None
    state = checkpoint.get("model") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise SegshiftError(f"{path} has no 'model' state dict, so it is not an rfdetr checkpoint; check models.*.weights")
    return state


class RFDETRSeg:
    name = "rfdetr"

    def __init__(self, size: str, weights, device: str, test_size: list[int] | None):
        import rfdetr

        if size not in SIZES:
            raise SegshiftError(f"RF-DETR-Seg size {size!r} is not one of {', '.join(SIZES)}; fix models.*.size")
        # Random weights first (no download); then the checkpoint, strictly, so another size's fails here.
        wrapper = getattr(rfdetr, SIZES[size])(pretrain_weights=None, device="cpu")
        context = wrapper.model
        if weights is not None:
            try:
                context.model.load_state_dict(load_checkpoint(Path(weights)), strict=True)
            except RuntimeError as e:
                raise SegshiftError(f"{weights} is not an RF-DETR-Seg {size} checkpoint "
                                    f"({str(e).splitlines()[0][:160]}); check models.*.size and weights") from None
        self.wrapper = wrapper  # kept for tests, which compare with its own predict()
        self.model = context.model.eval().to(device)
        self.postprocess = context.postprocess
        self.device = device
        self.resolution = int(context.resolution)
        self.preprocess = Preprocess(self.resolution, tuple(test_size) if test_size else None)
        self.version = f"rfdetr {rfdetr.__version__}" if hasattr(rfdetr, "__version__") else "rfdetr"
        self.settings = {"size": size, "resolution": self.resolution, "detections_per_image": int(self.postprocess.num_select),
                         "score_floor": 0.0, "resampled_to": list(test_size) if test_size else None}
        self._coco = np.zeros(int(context.args.num_classes) + 1, dtype=bool)
        self._coco[[i for i in COCO_IDS if i < len(self._coco)]] = True

    def predict(self, batch: list[dict[str, Any]]) -> list[Instances]:
        pixels = torch.stack([item["pixel_values"] for item in batch]).to(self.device, non_blocking=True)
        outputs = self.model(pixels)
        sizes = torch.tensor([item["original_size"] for item in batch], device=self.device)
        return [self._instances(r) for r in self.postprocess(outputs, target_sizes=sizes)]

    def _instances(self, result: dict[str, torch.Tensor]) -> Instances:
        labels = result["labels"].cpu().numpy()
        keep = self._coco[labels]
        index = torch.from_numpy(np.flatnonzero(keep)).to(result["labels"].device)
        return Instances(
            category_id=labels[keep].astype(np.int64),
            score=result["scores"][index].float().cpu().numpy(),
            bbox=xyxy_to_xywh(result["boxes"][index].float().cpu().numpy()),
            segmentation=mask_utils.encode_columns(result["masks"][index, 0]),
        )


def build(*, settings: dict[str, Any], weights, device: str, test_size=None) -> RFDETRSeg:
    return RFDETRSeg(settings.get("size", "medium"), weights, device, test_size)
