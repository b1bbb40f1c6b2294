"""detectron2 models: YAML configs (Mask R-CNN from the model zoo, PointRend from a config in this
repository) and Python LazyConfigs (ViTDet, MViTv2, the new LSJ baselines, Cascade variants).

A LazyConfig (`config` ending in .py) is built as detectron2's `lazyconfig_train_net.py` builds
it: `instantiate(cfg.model)`, weights through `DetectionCheckpointer`, and the test transform of
`cfg.dataloader.test.mapper` (its augmentations and image format; the LSJ models resize to a fixed
1024 square). detectron2 predicts contiguous class indices 0..79; they map to COCO ids in the
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


def load_checkpoint(model, weights, config: str) -> None:
    """DetectionCheckpointer's load, which only logs missing weights, made strict: a checkpoint of
    another architecture (missing or misshapen parameters) stops with one line."""
    from detectron2.checkpoint import DetectionCheckpointer

    class Checkpointer(DetectionCheckpointer):
        def _load_model(self, checkpoint):
            self.incompatible = super()._load_model(checkpoint)
            return self.incompatible

    checkpointer = Checkpointer(model)
    try:
        checkpointer.load(str(weights))
    except Exception as e:  # a pickle or torch file that is not a detectron2 checkpoint
        raise SegshiftError(f"{weights} is not a detectron2 checkpoint ({e.__class__.__name__}: {e})") from None
    parameters = dict(model.named_parameters())
    missing = [k for k in checkpointer.incompatible.missing_keys if k in parameters]
    misshapen = [k for k, *_ in checkpointer.incompatible.incorrect_shapes]
    if missing or misshapen:
        raise SegshiftError(f"{weights} is not a checkpoint of {config}: {len(missing)} of its {len(parameters)} weights "
                            f"are missing and {len(misshapen)} have another shape (e.g. {(missing + misshapen)[0]}); "
                            f"check models.*.weights and config")


class _Detectron2Outputs:
    """detectron2's output Instances -> segshift's, shared by the YAML and LazyConfig models."""

    name = "detectron2"
    _category_ids = np.asarray(CONTIGUOUS_TO_COCO_ID, dtype=np.int64)

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


class LazyPreprocess:
    """RGB uint8 -> detectron2's input dict through a LazyConfig's test augmentations (as its DatasetMapper)."""

    def __init__(self, augmentations: list, input_format: str):
        self.augmentations, self.input_format = augmentations, input_format

    def __call__(self, image: np.ndarray) -> dict[str, Any]:
        from detectron2.data import transforms as T
        from detectron2.data.detection_utils import convert_PIL_to_numpy
        from PIL import Image

        height, width = image.shape[:2]
        image = convert_PIL_to_numpy(Image.fromarray(image), self.input_format)  # what read_image(format=...) gives
        aug_input = T.AugInput(image)
        T.AugmentationList(self.augmentations)(aug_input)
        tensor = torch.as_tensor(np.ascontiguousarray(aug_input.image.transpose(2, 0, 1)))
        return {"image": tensor, "height": height, "width": width}


def load_lazy_config(config: str):
    from detectron2.config import LazyConfig

    path = config_path(config)
    try:
        cfg = LazyConfig.load(str(path))
    except Exception as e:  # a config's own imports and syntax: any error means it cannot be read
        raise SegshiftError(f"detectron2 LazyConfig {path} cannot be loaded ({e.__class__.__name__}: "
                            f"{str(e).splitlines()[0][:160]}); fix models.*.config") from None
    if "model" not in cfg or "dataloader" not in cfg:
        raise SegshiftError(f"detectron2 LazyConfig {path} has no model or dataloader; fix models.*.config")
    return cfg


def test_augmentations(cfg, test_size: list[int] | None) -> list:
    from detectron2.config import instantiate
    from detectron2.data import transforms as T

    if test_size:
        return [T.ResizeShortestEdge(test_size[0], test_size[1])]
    return [instantiate(a) if not isinstance(a, T.Augmentation) else a for a in cfg.dataloader.test.mapper.augmentations]


class Detectron2LazyModel(_Detectron2Outputs):
    """A LazyConfig model: built, loaded and fed as detectron2's own LazyConfig evaluation does."""

    def __init__(self, config: str, weights, device: str, test_size: list[int] | None, score_floor: float | None = None):
        import detectron2
        from detectron2.config import instantiate

        cfg = load_lazy_config(config)
        if score_floor is not None:  # tests with random weights; the pipeline keeps the model's own floor
            _set_test_score(cfg.model.roi_heads, score_floor)
        try:
            model = instantiate(cfg.model)
        except ImportError as e:  # ViTDet's and MViTv2's backbones import timm, which detectron2 does not install
            raise SegshiftError(f"detectron2 LazyConfig {config} needs the package {e.name}, which is not installed: "
                                f"pip install {e.name}") from None
        num_classes = getattr(model.roi_heads, "num_classes", None)
        if num_classes != len(CONTIGUOUS_TO_COCO_ID):
            raise SegshiftError(f"detectron2 config {config} has {num_classes} classes, not COCO's 80")
        if weights is not None:
            load_checkpoint(model, weights, config)
        self.model = model.to(device).eval()
        self.cfg = cfg
        self.device = device
        augmentations = test_augmentations(cfg, test_size)
        input_format = cfg.dataloader.test.mapper.image_format
        self.preprocess = LazyPreprocess(augmentations, input_format)
        self.version = f"detectron2 {detectron2.__version__}"
        predictors = getattr(model.roi_heads, "box_predictor", None)
        predictor = predictors[-1] if isinstance(predictors, torch.nn.ModuleList) else predictors
        self.settings = {
            "config": str(config),
            "test_augmentations": [repr(a) for a in augmentations],
            "image_format": input_format,
            "score_floor": float(getattr(predictor, "test_score_thresh", float("nan"))),
            "detections_per_image": int(getattr(predictor, "test_topk_per_image", -1)),
        }


def _set_test_score(roi_heads, score_floor: float) -> None:
    """The score floor of a LazyConfig's box predictor (Cascade: each stage's)."""
    predictor = roi_heads.get("box_predictor", None) if hasattr(roi_heads, "get") else None
    predictors = roi_heads.get("box_predictors", None) if predictor is None else [predictor]
    for p in predictors or []:
        p.test_score_thresh = score_floor


class Detectron2Model(_Detectron2Outputs):
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
            load_checkpoint(self.model, weights, config)
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



def build(*, settings: dict[str, Any], weights, device: str, test_size=None):
    if str(settings["config"]).endswith(".py"):
        return Detectron2LazyModel(settings["config"], weights, device, test_size, score_floor=settings.get("score_floor"))
    return Detectron2Model(
        settings["config"],
        settings.get("pointrend", False),
        weights,
        device,
        test_size,
        score_floor=settings.get("score_floor"),
    )
