"""Qualitative panels: ground truth and each model's masks drawn over the same images.

Images are chosen by a deterministic rule: the ones where the sources (ground truth and
every model, detections at or above the display threshold) disagree most, plus fixed
ids from the config. Disagreement of two sources is 1 - F1 of a class-aware greedy box
matching at IoU 0.5, averaged over all pairs of sources; ties go to the lower image id.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from pycocotools import mask as mask_api

from segshift import figures
from segshift.errors import SegshiftError
from segshift.predictions import rle

MATCH_IOU = 0.5
CROP_PAD = 48  # pixels of context around the objects
PANEL_WIDTH = 1024  # wider crops shrink to this; 512-1024 px are drawn at full resolution
MAX_ZOOM = 4  # narrower crops grow towards 512 px, at most this much (pixels stay pixels)
CLASS_COLORS = {
    "person": "#E69F00", "rider": "#F0E442", "car": "#56B4E9", "truck": "#0072B2", "bus": "#009E73",
    "train": "#CC79A7", "motorcycle": "#D55E00", "bicycle": "#882255",
}


@dataclass
class Boxes:
    """One source's objects on one image: class names, xywh boxes, scores (1 for ground truth)."""

    names: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray


def class_color(name: str) -> str:
    if name in CLASS_COLORS:
        return CLASS_COLORS[name]
    palette = matplotlib_tab20()
    return palette[zlib.crc32(name.encode()) % len(palette)]


def matplotlib_tab20() -> list[str]:
    import matplotlib.colors as mcolors
    from matplotlib import colormaps

    return [mcolors.to_hex(c) for c in colormaps["tab20"].colors]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of xywh boxes, |a| x |b|."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    a1, a2 = a[:, None, :2], a[:, None, :2] + a[:, None, 2:]
    b1, b2 = b[None, :, :2], b[None, :, :2] + b[None, :, 2:]
    inter = np.clip(np.minimum(a2, b2) - np.maximum(a1, b1), 0, None).prod(-1)
    union = a[:, None, 2:].prod(-1) + b[None, :, 2:].prod(-1) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0)


def f1(a: Boxes, b: Boxes) -> float:
    """F1 of a greedy (by score) class-aware one-to-one matching at IoU 0.5."""
    if len(a.names) == 0 and len(b.names) == 0:
        return 1.0
    iou = box_iou(a.boxes, b.boxes)
    iou[a.names[:, None] != b.names[None, :]] = 0
    taken = np.zeros(len(b.names), bool)
    matches = 0
    for i in np.argsort(-a.scores, kind="stable"):
        candidates = np.where(~taken & (iou[i] >= MATCH_IOU))[0]
        if len(candidates):
            taken[candidates[np.argmax(iou[i, candidates])]] = True
            matches += 1
    return 2 * matches / (len(a.names) + len(b.names))


def disagreement(sources: list[Boxes]) -> float:
    pairs = [(i, j) for i in range(len(sources)) for j in range(i + 1, len(sources))]
    return float(np.mean([1 - f1(sources[i], sources[j]) for i, j in pairs])) if pairs else 0.0


def ground_truth_boxes(ground_truth: dict) -> dict[int, Boxes]:
    names = {c["id"]: c["name"] for c in ground_truth["categories"]}
    by_image: dict[int, list] = {}
    for a in ground_truth["annotations"]:
        if not a.get("iscrowd", 0):
            by_image.setdefault(a["image_id"], []).append((names[a["category_id"]], a["bbox"]))
    return {i: _boxes([n for n, _ in v], [b for _, b in v], np.ones(len(v))) for i, v in by_image.items()}


def prediction_boxes(frame: pd.DataFrame, names: dict[int, str], display_threshold: float) -> dict[int, Boxes]:
    kept = frame[frame["score"] >= display_threshold]
    return {
        int(i): _boxes([names.get(c, str(c)) for c in g["category_id"]], list(g["bbox"]), g["score"].to_numpy())
        for i, g in kept.groupby("image_id", sort=False)
    }


def _boxes(names, boxes, scores) -> Boxes:
    return Boxes(np.asarray(names, dtype=object), np.asarray(boxes, dtype=float).reshape(-1, 4), np.asarray(scores, float))


EMPTY = _boxes([], [], [])


def choose_images(
    ground_truth: dict,
    frames: dict[str, pd.DataFrame],
    image_ids: list[int],
    names: dict[int, str],
    *,
    display_threshold: float,
    count: int,
    fixed_ids: list[int] = (),
) -> list[dict]:
    """The fixed ids, then the `count` images with the most disagreement, each with its score."""
    known = set(image_ids)
    unknown = [i for i in fixed_ids if i not in known]
    if unknown:
        raise SegshiftError(
            f"report.qualitative_image_ids names images that were not run: {unknown}; "
            "use ids from the dataset's manifest (within max_images)"
        )
    gt = ground_truth_boxes(ground_truth)
    preds = {m: prediction_boxes(f, names, display_threshold) for m, f in frames.items()}
    scores = {
        i: disagreement([gt.get(i, EMPTY)] + [p.get(i, EMPTY) for p in preds.values()]) for i in image_ids
    }
    chosen = [{"image_id": int(i), "disagreement": scores[i], "why": "config"} for i in fixed_ids]
    ranked = sorted((i for i in image_ids if i not in set(fixed_ids)), key=lambda i: (-scores[i], i))
    chosen += [{"image_id": int(i), "disagreement": scores[i], "why": "most disagreement"} for i in ranked[:count]]
    return chosen


# Drawing -------------------------------------------------------------------------------------


def _ground_truth_rle(annotation: dict, height: int, width: int) -> dict:
    seg = annotation["segmentation"]
    if isinstance(seg, list):
        return mask_api.merge(mask_api.frPyObjects(seg, height, width))
    if isinstance(seg["counts"], list):
        return mask_api.frPyObjects(seg, height, width)
    return seg


def _crop(objects: list[tuple], height: int, width: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) around every drawn box, at least a quarter of each side."""
    if not objects:
        return 0, 0, height, width
    boxes = np.array([o[1] for o in objects], dtype=float)
    x0, y0 = boxes[:, 0].min() - CROP_PAD, boxes[:, 1].min() - CROP_PAD
    x1, y1 = (boxes[:, 0] + boxes[:, 2]).max() + CROP_PAD, (boxes[:, 1] + boxes[:, 3]).max() + CROP_PAD
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w = int(np.ceil(min(width, max(x1 - x0, width / 4))))
    h = int(np.ceil(min(height, max(y1 - y0, height / 4))))
    left = int(np.clip(round(cx - w / 2), 0, width - w))
    top = int(np.clip(round(cy - h / 2), 0, height - h))
    return top, left, top + h, left + w


def _overlay(image: np.ndarray, objects: list[tuple]) -> np.ndarray:
    """Masks blended over the image, largest first so small objects stay visible."""
    import matplotlib.colors as mcolors

    out = image.astype(np.float32)
    for name, _, _, mask in sorted(objects, key=lambda o: -o[3].sum()):
        color = np.array(mcolors.to_rgb(class_color(name))) * 255
        out[mask] = 0.45 * color + 0.55 * out[mask]
    return out.astype(np.uint8)


def render(
    image: np.ndarray,
    image_id: int,
    ground_truth: dict,
    frames: dict[str, pd.DataFrame],
    labels: dict[str, str],
    names: dict[int, str],
    display_threshold: float,
):
    """One row of panels: ground truth, then each model; the same crop in every panel."""
    import matplotlib.patches as patches
    import matplotlib.pyplot as plt

    height, width = image.shape[:2]
    gt_names = {c["id"]: c["name"] for c in ground_truth["categories"]}
    sources = {"Ground truth": [
        (gt_names[a["category_id"]], a["bbox"], None, mask_api.decode(_ground_truth_rle(a, height, width)).astype(bool))
        for a in ground_truth["annotations"] if a["image_id"] == image_id and not a.get("iscrowd", 0)
    ]}
    for model, frame in frames.items():
        rows = frame[(frame["image_id"] == image_id) & (frame["score"] >= display_threshold)]
        sources[labels[model]] = [
            (names.get(r.category_id, str(r.category_id)), list(r.bbox), float(r.score),
             mask_api.decode(rle(r)).astype(bool))
            for r in rows.sort_values("score", ascending=False).itertuples(index=False)
        ]
    top, left, bottom, right = _crop([o for objs in sources.values() for o in objs], height, width)
    crop_w, crop_h = right - left, bottom - top
    if crop_w > PANEL_WIDTH:
        scale = PANEL_WIDTH / crop_w
    elif crop_w < PANEL_WIDTH / 2:
        scale = min(MAX_ZOOM, PANEL_WIDTH / 2 / crop_w)
    else:
        scale = 1.0
    panel_w, panel_h = crop_w * scale / 100, crop_h * scale / 100  # inches at 100 dpi
    fig, axes = plt.subplots(1, len(sources), figsize=(panel_w * len(sources), panel_h + 0.5), squeeze=False)
    font = 10  # points at 100 dpi: labels about 10 px high, readable without zooming in
    for ax, (title, objects) in zip(axes[0], sources.items()):
        ax.imshow(_overlay(image, objects)[top:bottom, left:right], extent=(left, right, bottom, top),
                  interpolation="nearest" if scale > 1 else "antialiased")
        for name, (x, y, w, h), score, _ in objects:
            color = class_color(name)
            ax.add_patch(patches.Rectangle((x, y), w, h, fill=False, edgecolor=color, linewidth=1.2))
            text = name if score is None else f"{name} {score:.2f}"
            ax.text(max(x, left), max(y, top), text, fontsize=font, color="black", va="bottom",
                    bbox={"facecolor": color, "alpha": 0.8, "pad": 0.5, "edgecolor": "none"}, clip_on=True)
        ax.set_xlim(left, right)
        ax.set_ylim(bottom, top)
        ax.set_title(f"{title} ({len(objects)})", fontsize=10)
        ax.axis("off")
    fig.tight_layout(pad=0.3)
    return fig, {"crop": [left, top, right, bottom], "scale": scale}


def panel(chosen: list[dict], read_image, ground_truth: dict, frames, labels, names,
          display_threshold: float, stem: str | Path, title: str) -> list[Path]:
    """All chosen images, one row each, in one PNG; `read_image(image_id)` gives the image the models saw."""
    import matplotlib.pyplot as plt

    rows = []
    for c in chosen:
        fig, info = render(read_image(c["image_id"]), c["image_id"], ground_truth, frames, labels, names,
                           display_threshold)
        fig.canvas.draw()
        rows.append(np.asarray(fig.canvas.buffer_rgba())[..., :3])
        c.update(info)
        plt.close(fig)
    if not rows:
        fig = plt.figure(figsize=(6, 1))
        fig.text(0.5, 0.5, "no images were selected (report.qualitative_images is 0)", ha="center")
        return figures.save(fig, stem, formats=("png",))
    width = max(r.shape[1] for r in rows)
    header = _text_strip(title, width)
    canvas = [header] + [np.pad(r, ((0, 8), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    image = np.concatenate(canvas)
    path = Path(stem).with_suffix(".png")
    from segshift.io import atomic_path

    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG", optimize=True)
    return [path]


def _text_strip(text: str, width: int) -> np.ndarray:
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(width / 100, 0.45), dpi=100)
    fig.text(0.01, 0.5, text, va="center", fontsize=11, fontweight="bold")
    fig.canvas.draw()
    strip = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    plt.close(fig)
    return strip[:, :width]


def make(
    domain: str,
    kind: str,
    manifest_file: str | Path,
    ground_truth_file: str | Path,
    prediction_files: dict[str, list[str]],
    labels: dict[str, str],
    *,
    display_threshold: float,
    count: int,
    fixed_ids: list[int],
    stem: str | Path,
    title: str,
    corruption: dict | None = None,
    corrupted_files: list[str] = (),
) -> list[dict]:
    """The qualitative panel of one domain: results/figures/qualitative/<domain>.png and .json.

    A corrupted domain shows its corrupted images (from the cache the models read).
    """
    from segshift import corruptions, manifest, predictions
    from segshift.categories import COCO_ID_TO_NAME
    from segshift.evaluation.coco import CITYSCAPES_TO_COCO
    from segshift.images import DomainImages
    from segshift.io import read_json, write_json

    images = manifest.read(manifest_file)
    ground_truth = read_json(ground_truth_file, what="ground-truth file")
    frames, covered = {}, None
    for model, files in prediction_files.items():
        frame, metadata = predictions.read(files)
        frames[model] = frame
        ids = set(predictions.covered_images(metadata))
        covered = ids if covered is None else covered & ids
    image_ids = sorted(covered or [])
    if kind == "cityscapes":
        # Score agreement on what Cityscapes annotates, in COCO's names (a rider is a person).
        scoring_gt = {**ground_truth, "categories": [
            {**c, "name": CITYSCAPES_TO_COCO[c["name"]]} for c in ground_truth["categories"]]}
        annotated = set(CITYSCAPES_TO_COCO.values())
        scoring_frames = {m: f[f["category_id"].map(COCO_ID_TO_NAME).isin(annotated)] for m, f in frames.items()}
    else:
        scoring_gt, scoring_frames = ground_truth, frames
    chosen = choose_images(scoring_gt, scoring_frames, image_ids, COCO_ID_TO_NAME,
                           display_threshold=display_threshold, count=count, fixed_ids=fixed_ids)
    rows = images.images.set_index("image_id")
    shard_of = corruptions.shard_of(corrupted_files) if corruption else {}
    sources = {}  # one reader per cached shard: each reads its Parquet file once

    def read_image(image_id: int) -> np.ndarray:
        row = rows.loc[image_id]
        shard = shard_of.get(image_id)
        if shard not in sources:
            sources[shard] = DomainImages(images.image_dir, corruption, shard)
        source = sources[shard]
        try:
            return source(image_id, row["file_name"], int(row["width"]), int(row["height"]))
        except (OSError, ValueError, SyntaxError) as e:
            raise SegshiftError(f"cannot read image {images.image_path(row['file_name'])} ({e}); restore the file "
                                "from the dataset archive") from None

    panel(chosen, read_image, ground_truth, frames, labels, COCO_ID_TO_NAME, display_threshold, stem,
          f"{title}: ground truth and each model's detections scoring ≥ {display_threshold:g} "
          "(images where the sources disagree most first)")
    for c in chosen:
        c["file_name"] = str(rows.loc[c["image_id"], "file_name"])
    write_json(Path(stem).with_suffix(".json"), {"domain": domain, "corruption": corruption,
                                                  "display_threshold": display_threshold, "images": chosen})
    return chosen
