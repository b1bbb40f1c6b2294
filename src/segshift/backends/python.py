"""A model from a Python entry point: the user's own code, run as a backend.

`entry_point` is `package.module:build` (importable from the environment) or
`/path/to/file.py:build`. `build(settings, weights, device, test_size)` returns an object with
`name`, `version`, `settings` (recorded with the predictions), `preprocess(rgb_uint8) -> item`
(runs in loader workers) and `predict(items) -> list` of one result per item: an `Instances`, or
anything with (or a mapping of) `category_id`, `score`, `bbox` (x y w h, image pixels) and
`segmentation` (per detection a COCO RLE or a boolean mask of the image's size). Everything it
returns is checked here (segshift.outside), one line naming the model and the entry point.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np

from segshift import outside
from segshift.backends import Instances
from segshift.errors import SegshiftError

PROTOCOL = ("name", "version", "settings", "preprocess", "predict")


def load(entry_point: str, where: str):
    """The callable an entry point names."""
    target, _, attribute = entry_point.rpartition(":")
    try:
        if target.endswith(".py") or "/" in target:
            path = Path(target)
            if not path.is_file():
                raise FileNotFoundError(f"no file {path}")
            spec = importlib.util.spec_from_file_location(f"segshift_entry_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # dataclasses and pickling look a module up by name
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except Exception as e:  # the user's module may fail in any way while it loads
        raise SegshiftError(f"{where} cannot be imported ({e.__class__.__name__}: {e}); install its package in "
                            "this environment or give a file path (/path/to/file.py:build)") from None
    if not callable(getattr(module, attribute, None)):
        raise SegshiftError(f"{where}: {target} has no function {attribute}; define it or fix the entry point")
    return getattr(module, attribute)


class EntryPointModel:
    """The user's model behind the backend protocol, its outputs checked on the way out."""

    def __init__(self, inner, device: str, entry_point: str, where: str):
        self._inner, self._where, self.device = inner, where, device
        self.name = str(inner.name)
        self.version = str(inner.version)
        self.settings = {"entry_point": entry_point, **dict(inner.settings)}

    def preprocess(self, image: np.ndarray):
        height, width = image.shape[:2]
        return width, height, self._inner.preprocess(image)

    def predict(self, batch: list) -> list[Instances]:
        outputs = list(self._inner.predict([item for _, _, item in batch]))
        if len(outputs) != len(batch):
            raise SegshiftError(f"{self._where}: predict returned {len(outputs)} results for {len(batch)} images; "
                                "return one result (possibly empty) per image, in order")
        return [self._checked(out, width, height, k) for k, ((width, height, _), out) in enumerate(zip(batch, outputs))]

    def _checked(self, out, width: int, height: int, k: int) -> Instances:
        fields = {}
        for key in ("category_id", "score", "bbox", "segmentation"):
            value = out.get(key) if isinstance(out, dict) else getattr(out, key, None)
            if value is None:
                raise SegshiftError(f"{self._where}: predict's result {k} has no {key}; return Instances or a "
                                    "mapping with category_id, score, bbox and segmentation")
            fields[key] = value
        segmentation = fields["segmentation"]
        if isinstance(segmentation, np.ndarray) and segmentation.ndim == 3:
            segmentation = list(segmentation)  # (N, H, W) masks
        n = len(fields["score"])
        lengths = {key: len(v) for key, v in {**fields, "segmentation": segmentation}.items()}
        if set(lengths.values()) != {n}:
            raise SegshiftError(f"{self._where}: predict's result {k} has fields of different lengths {lengths}; "
                                "give one entry per detection in each")
        bbox = np.asarray(fields["bbox"], dtype=np.float64).reshape(-1, 4) if n else np.zeros((0, 4))
        rows = []
        for i in range(n):
            try:
                rows.append(outside.detection(fields["category_id"][i], fields["score"][i], bbox[i],
                                              segmentation[i], width, height))
            except (outside.DetectionError, TypeError, ValueError) as e:
                raise SegshiftError(f"{self._where}: predict's result {k} (a {width}x{height} image), detection "
                                    f"{i}: {e}; fix the model's output") from None
        return outside.instances(rows)


def build(settings: dict[str, Any], weights, device: str, test_size, model: str | None = None) -> EntryPointModel:
    entry_point = settings["entry_point"]
    where = f"model {model or 'python'} (entry point {entry_point})"
    builder = load(entry_point, where)
    try:
        inner = builder(dict(settings.get("settings") or {}), None if weights is None else str(weights), device,
                        None if test_size is None else list(test_size))
    except Exception as e:  # the user's build may fail in any way
        raise SegshiftError(f"{where}: build raised {e.__class__.__name__}: {e}; fix the model's build") from None
    missing = [a for a in PROTOCOL if not hasattr(inner, a)]
    if missing:
        raise SegshiftError(f"{where}: build returned a {type(inner).__name__} without {', '.join(missing)}; "
                            "see the protocol in the README (Add your own model)")
    return EntryPointModel(inner, device, entry_point, where)
