"""torchvision's Mask R-CNN (v1 and v2) with its official COCO weights.

torchvision labels index its 91-entry COCO list (background and unused "N/A"
slots included); they are mapped to COCO category ids by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torchvision
from torchvision.models import detection

from segshift import masks as mask_utils
from segshift.backends import Instances, xyxy_to_xywh
from segshift.categories import COCO_NAME_TO_ID
from segshift.errors import SegshiftError

ARCHITECTURES = {
    "maskrcnn_resnet50_fpn": (detection.maskrcnn_resnet50_fpn, detection.MaskRCNN_ResNet50_FPN_Weights.COCO_V1),
    "maskrcnn_resnet50_fpn_v2": (detection.maskrcnn_resnet50_fpn_v2, detection.MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1),
}


def label_to_category_id(categories: list[str]) -> np.ndarray:
    """torchvision label index -> COCO category id (-1 for background and N/A)."""
    return np.array([COCO_NAME_TO_ID.get(name, -1) for name in categories], dtype=np.int64)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """RGB uint8 (H, W, 3) -> float (3, H, W) in [0, 1], as torchvision detection models take it."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255)


class TorchvisionMaskRCNN:
    name = "torchvision"

    def __init__(
        self,
        architecture: str,
        weights,
        device: str,
        test_size: list[int] | None,
        score_floor: float | None = None,
    ):
        builder, official = ARCHITECTURES[architecture]
        kwargs = {"min_size": test_size[0], "max_size": test_size[1]} if test_size else {}
        if score_floor is not None:  # tests with random weights; the pipeline keeps the model's own floor
            kwargs["box_score_thresh"] = score_floor
        model = builder(weights=None, weights_backbone=None, num_classes=len(official.meta["categories"]), **kwargs)
        if weights is not None:
            try:
                state = torch.load(weights, map_location="cpu", weights_only=True)
                model.load_state_dict(state)
            except (RuntimeError, OSError, KeyError) as e:
                raise SegshiftError(
                    f"{weights} is not a {architecture} state dict ({str(e).splitlines()[0]}); check models.*.weights"
                ) from None
        self.model = model.eval().to(device)
        self.device = device
        self.preprocess = to_tensor
        self.version = f"torchvision {torchvision.__version__}"
        transform = self.model.transform
        self.settings = {
            "architecture": architecture,
            "test_size": [int(transform.min_size[0]), int(transform.max_size)],
            "score_floor": float(self.model.roi_heads.score_thresh),
            "detections_per_image": int(self.model.roi_heads.detections_per_img),
        }
        self._category_ids = label_to_category_id(official.meta["categories"])

    def predict(self, batch: list[torch.Tensor]) -> list[Instances]:
        outputs = self.model([image.to(self.device, non_blocking=True) for image in batch])
        return [self._instances(out) for out in outputs]

    def _instances(self, out: dict[str, torch.Tensor]) -> Instances:
        category_id = self._category_ids[out["labels"].cpu().numpy()]
        keep = torch.from_numpy(category_id >= 0).to(out["labels"].device)
        return Instances(
            category_id=category_id[keep.cpu().numpy()],
            score=out["scores"][keep].cpu().numpy().astype(np.float32),
            bbox=xyxy_to_xywh(out["boxes"][keep].cpu().numpy()),
            segmentation=mask_utils.encode_columns(out["masks"][keep, 0] > 0.5),
        )


def build(*, settings: dict[str, Any], weights, device: str, test_size=None) -> TorchvisionMaskRCNN:
    return TorchvisionMaskRCNN(
        settings["architecture"], weights, device, test_size, score_floor=settings.get("score_floor")
    )
