"""Model backends: one module each, one job each: images in, instances out.

The registry maps a config `backend` name to its builder; each module is imported
only when used, so detectron2 (or transformers, rfdetr, ultralytics) is needed only for its
own models. A backend whose package is missing stops with one line naming the install command.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

BACKENDS: dict[str, str] = {
    "detectron2": "segshift.backends.detectron2",
    "torchvision": "segshift.backends.torchvision",
    "yolo_seg_export": "segshift.backends.yolo_seg",
    "transformers": "segshift.backends.transformers",
    "rfdetr": "segshift.backends.rfdetr",
    "ultralytics": "segshift.backends.ultralytics",
    "python": "segshift.backends.python",
}

# Backends outside the main install: the package each imports and the line that installs it.
DETECTRON2_INSTALL = ('pip install --no-build-isolation '
                      '"git+https://github.com/facebookresearch/detectron2.git@c69939aa85460e8135f40bce908a6cddaa73065f"')
OPTIONAL: dict[str, tuple[str, str]] = {
    "detectron2": ("detectron2", DETECTRON2_INSTALL),
    "transformers": ("transformers", "pip install -r requirements-transformers.txt"),
    "rfdetr": ("rfdetr", "pip install -r requirements-rfdetr.txt"),
    "ultralytics": ("ultralytics", "pip install --no-deps -r requirements-ultralytics.txt"),
}


def missing_package(backend: str, model: str) -> str | None:
    """One line naming the model and the install command when its backend's package is absent."""
    import importlib.util

    if backend not in OPTIONAL:
        return None
    package, install = OPTIONAL[backend]
    if importlib.util.find_spec(package) is not None:
        return None
    return f"model {model} uses the {backend} backend, whose package {package} is not installed: {install}"

# Exports with a fixed input size, run by the CPU runtime (LiteRT): they hold no GPU, and a
# test size is applied by resampling the image rather than by the model's own resize.
FIXED_INPUT = frozenset({"yolo_seg_export"})


def uses_gpu(backend: str, settings: dict[str, Any]) -> bool:
    """Whether an inference job of this backend holds a GPU: a python model says so itself."""
    if backend == "python":
        return bool(settings.get("gpu", True))
    return backend not in FIXED_INPUT


@dataclass
class Instances:
    """Detections of one image in the COCO category-id space and the image's own pixels."""

    category_id: np.ndarray  # (N,) int64, COCO ids
    score: np.ndarray  # (N,) float32
    bbox: np.ndarray  # (N, 4) float32, x y w h
    segmentation: list[dict] = field(default_factory=list)  # N COCO RLEs, str counts

    def __len__(self) -> int:
        return len(self.score)


class Backend(Protocol):
    name: str
    version: str  # the library and its version, recorded with the predictions
    settings: dict[str, Any]  # what shaped the predictions (test size, score floor), recorded too
    device: str
    preprocess: Callable[[np.ndarray], Any]  # RGB uint8 (H, W, 3) -> model input; runs in loader workers

    def predict(self, batch: list[Any]) -> list[Instances]: ...


def build(
    backend: str,
    *,
    settings: dict[str, Any],
    weights: str | Path | None,
    device: str,
    test_size: list[int] | None = None,
    model: str | None = None,
) -> Backend:
    """Build a backend once per job. `weights=None` keeps random weights (tests)."""
    from segshift.errors import SegshiftError

    missing = missing_package(backend, model or backend)
    if missing:
        raise SegshiftError(missing)
    module = importlib.import_module(BACKENDS[backend])
    if backend == "python":
        return module.build(settings=settings, weights=weights, device=device, test_size=test_size, model=model)
    return module.build(settings=settings, weights=weights, device=device, test_size=test_size)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    boxes[:, 2:] -= boxes[:, :2]
    return boxes
