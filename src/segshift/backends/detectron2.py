"""detectron2 models: Mask R-CNN from the model zoo, PointRend from a config in this repository.

detectron2 predicts contiguous class indices 0..79; they map to COCO ids in the
order of the sorted COCO category ids, as detectron2's own COCO metadata does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from segshift import masks as mask_utils
from segshift.backends import Instances, xyxy_to_xywh
from segshift.categories import CONTIGUOUS_TO_COCO_ID
from segshift.errors import SegshiftError


def config_path(config: str) -> Path:
    """A yaml path as given, or a model-zoo config shipped with detectron2 (without importing
    detectron2.model_zoo, which needs pkg_resources)."""
    import detectron2

    path = Path(config)
    if path.is_file():
        return path
    zoo = Path(detectron2.__file__).parent / "model_zoo" / "configs" / config
    if zoo.is_file():
        return zoo
    raise SegshiftError(
        f"detectron2 config {config} is neither a file nor a model-zoo config "
        f"(looked in {zoo.parent.parent}); fix models.*.config"
    )


class Preprocess:
    """RGB uint8 -> detectron2's input dict, resized as the model's test transform does."""

    def __init__(self, min_size: int, max_size: int, input_format: str):
        self.min_size, self.max_size, self.input_format = min_size, max_size, input_format

    def __call__(self, image: np.ndarray) -> dict[str, Any]:
        from detectron2.data.transforms import ResizeShortestEdge

        height, width = image.shape[:2]
        if self.input_format == "BGR":
            image = image[:, :, ::-1]
        resized = ResizeShortestEdge([self.min_size, self.min_size], self.max_size).get_transform(image).apply_image(image)
        tensor = torch.as_tensor(np.ascontiguousarray(resized.transpose(2, 0, 1)))
        return {"image": tensor, "height": height, "width": width}


class Detectron2Model:
    name = "detectron2"

    def __init__(
        self,
        config: str,
        pointrend: bool,
        weights,
        device: str,
        test_size: list[int] | None,
        score_floor: float | None = None,
    ):
        import detectron2
        from detectron2.checkpoint import DetectionCheckpointer
        from detectron2.config import get_cfg
        from detectron2.modeling import build_model

        cfg = get_cfg()
        if pointrend:
            from detectron2.projects.point_rend import add_pointrend_config

            add_pointrend_config(cfg)
        cfg.merge_from_file(str(config_path(config)))
        cfg.MODEL.DEVICE = device
        if test_size:
            cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = test_size
        if score_floor is not None:  # tests with random weights; the pipeline keeps the model's own floor
            cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = score_floor
        cfg.freeze()
        if cfg.MODEL.ROI_HEADS.NUM_CLASSES != len(CONTIGUOUS_TO_COCO_ID):
            raise SegshiftError(f"detectron2 config {config} has {cfg.MODEL.ROI_HEADS.NUM_CLASSES} classes, not COCO's 80")
        self.model = build_model(cfg).eval()
        if weights is not None:
            try:
                DetectionCheckpointer(self.model).load(str(weights))
            except Exception as e:  # a pickle or torch file that is not a detectron2 checkpoint
                raise SegshiftError(f"{weights} is not a detectron2 checkpoint ({e.__class__.__name__}: {e})") from None
        self.cfg = cfg
        self.device = device
        self.preprocess = Preprocess(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST, cfg.INPUT.FORMAT)
        self.version = f"detectron2 {detectron2.__version__}"
        self.settings = {
            "config": str(config),
            "pointrend": pointrend,
            "test_size": [int(cfg.INPUT.MIN_SIZE_TEST), int(cfg.INPUT.MAX_SIZE_TEST)],
            "score_floor": float(cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST),
            "detections_per_image": int(cfg.TEST.DETECTIONS_PER_IMAGE),
        }
        self._category_ids = np.asarray(CONTIGUOUS_TO_COCO_ID, dtype=np.int64)

    def predict(self, batch: list[dict[str, Any]]) -> list[Instances]:
        outputs = self.model(batch)
        return [self._instances(out["instances"]) for out in outputs]

    def _instances(self, instances) -> Instances:
        return Instances(
            category_id=self._category_ids[instances.pred_classes.cpu().numpy()],
            score=instances.scores.cpu().numpy().astype(np.float32),
            bbox=xyxy_to_xywh(instances.pred_boxes.tensor.cpu().numpy()),
            segmentation=mask_utils.encode_columns(instances.pred_masks.bool()),
        )


def build(*, settings: dict[str, Any], weights, device: str, test_size=None) -> Detectron2Model:
    return Detectron2Model(
        settings["config"],
        settings.get("pointrend", False),
        weights,
        device,
        test_size,
        score_floor=settings.get("score_floor"),
    )
