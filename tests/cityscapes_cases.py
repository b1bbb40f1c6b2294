"""Generated Cityscapes-format ground truth and predictions, hard cases included.

Used by the tests that hold segshift's evaluator to cityscapesscripts, and by the
benchmark. Each frame has void regions, *group (crowd) regions, ground truth under
100 px, caravan (an instance class the benchmark ignores) and instances of the 8
classes; predictions are shifted or eroded copies of the ground truth, duplicates,
wrong labels, blobs on void or groups, empty masks, tied scores, and frames or
classes without any prediction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from segshift import masks
from segshift.categories import CITYSCAPES_CLASSES
from segshift.evaluation.cityscapes import GroundTruthImage

CLASS_IDS = [label_id for _, label_id in CITYSCAPES_CLASSES]


def _rect(shape, rng, min_side=4, max_side=40):
    h, w = shape
    rh, rw = rng.integers(min_side, min(max_side, h) + 1), rng.integers(min_side, min(max_side, w) + 1)
    y, x = rng.integers(0, h - rh + 1), rng.integers(0, w - rw + 1)
    return slice(y, y + rh), slice(x, x + rw)


def make_frame(rng, shape, classes=CLASS_IDS, n_instances=12):
    ids = np.full(shape, 7, dtype=np.int32)  # road
    ids[: shape[0] // 8] = 23  # sky
    ids[-shape[0] // 10 :, : shape[1] // 3] = 1  # ego vehicle (void)
    ys, xs = _rect(shape, rng, 6, 30)
    ids[ys, xs] = 0  # unlabeled (void)
    ys, xs = _rect(shape, rng, 6, 30)
    ids[ys, xs] = 29  # a caravan group: void
    ys, xs = _rect(shape, rng, 6, 20)
    ids[ys, xs] = 29000  # a caravan instance: not evaluated, not void
    serial = {c: 0 for c in classes}
    for _ in range(n_instances):
        label = int(rng.choice(classes))
        kind = rng.random()
        if kind < 0.15:
            ys, xs = _rect(shape, rng, 8, 30)
            ids[ys, xs] = label  # a group region
        elif kind < 0.3:
            ys, xs = _rect(shape, rng, 2, 8)
            ids[ys, xs] = label * 1000 + serial[label]  # tiny, under 100 px
            serial[label] += 1
        else:
            ys, xs = _rect(shape, rng, 10, 60)
            region = ids[ys, xs]
            blob = rng.random(region.shape) > 0.1  # ragged edges
            region[blob] = label * 1000 + serial[label]
            serial[label] += 1
    return ids


def predictions_for(rng, ids, image_id, label_pool=CLASS_IDS, extra=6):
    rows = []
    values = [v for v in np.unique(ids) if (v // 1000 if v >= 1000 else v) in CLASS_IDS]

    def add(mask, label, score):
        rle = masks.encode(mask[None])[0]
        rows.append({"image_id": image_id, "label_id": int(label), "score": float(score), "counts": rle["counts"],
                     "height": ids.shape[0], "width": ids.shape[1]})

    for v in values:
        label = v // 1000 if v >= 1000 else v
        gt = ids == v
        if rng.random() < 0.2:
            continue  # missed
        mask = np.roll(gt, (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), (0, 1))
        if rng.random() < 0.3:
            mask &= rng.random(mask.shape) > 0.3
        if rng.random() < 0.1:
            label = int(rng.choice(label_pool))  # wrong class
        add(mask, label, round(rng.random(), 1))  # rounded: ties happen
        if rng.random() < 0.3:
            add(np.roll(gt, 1, 0), label, rng.random())  # a duplicate
    for _ in range(extra):
        mask = np.zeros(ids.shape, dtype=bool)
        ys, xs = _rect(ids.shape, rng, 3, 30)
        mask[ys, xs] = True
        r = rng.random()
        if r < 0.2:
            mask &= ids < 4  # mostly on void
        elif r < 0.3:
            mask[:] = False  # empty: skipped
        label = int(rng.choice(label_pool + [29]))  # 29: caravan, outside the benchmark
        add(mask, label, rng.random())
    return rows


def write_gt(folder: Path, frames: list[np.ndarray]) -> list[GroundTruthImage]:
    images = []
    for k, ids in enumerate(frames, start=1):
        city = "frankfurt" if k % 2 else "lindau"
        stem = f"{city}_{k:06d}_000019"
        path = folder / "gtFine" / "val" / city / f"{stem}_gtFine_instanceIds.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(ids.astype(np.uint16)).save(path)
        images.append(
            GroundTruthImage(
                image_id=k,
                file_name=f"{city}/{stem}_leftImg8bit.png",
                instance_ids_file=f"{city}/{stem}_gtFine_instanceIds.png",
                height=ids.shape[0],
                width=ids.shape[1],
            )
        )
    return images


def make_case(folder: Path, seed: int, n_frames=4, shape=(96, 160), **kwargs):
    """(frame of predictions with label_id, ground-truth images, gtFine/val folder)."""
    rng = np.random.default_rng(seed)
    frames = [make_frame(rng, shape, **kwargs) for _ in range(n_frames)]
    images = write_gt(folder, frames)
    rows = []
    for image, ids in zip(images, frames):
        if rng.random() < 0.15:
            continue  # a frame without predictions
        rows += predictions_for(rng, ids, image.image_id)
    frame = pd.DataFrame(rows, columns=["image_id", "label_id", "score", "counts", "height", "width"])
    return frame, images, folder / "gtFine" / "val"
