"""The official Cityscapes instance protocol: class mapping, rider policy, and the evaluators.

Predictions are in COCO's label space. `to_cityscapes` maps them to the eight
Cityscapes instance classes (COCO classes outside the mapping are dropped and
counted); COCO has no rider, so a rider policy decides which persons are riders.
The official evaluator (cityscapesscripts' evalInstanceLevelSemanticLabeling)
then runs on files in its own format, each run in its own folder with its own
ground-truth cache.
"""

from __future__ import annotations

import copy
import json
import logging
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from segshift import masks, predictions
from segshift.categories import CITYSCAPES_CLASSES, CITYSCAPES_NAME_TO_ID, COCO_ID_TO_NAME, COCO_NAME_TO_ID

log = logging.getLogger(__name__)

ENGINES = ("segshift", "official")
RIDER_POLICIES = ("none", "two_wheeler", "two_wheeler_mask")
TWO_WHEELERS = (COCO_NAME_TO_ID["bicycle"], COCO_NAME_TO_ID["motorcycle"])
CLASS_NAMES = [name for name, _ in CITYSCAPES_CLASSES]


@dataclass(frozen=True)
class GroundTruthImage:
    image_id: int
    file_name: str  # relative to leftImg8bit/val
    instance_ids_file: str  # relative to gtFine/val
    height: int
    width: int


def ground_truth_images(ground_truth: dict, image_ids: list[int]) -> list[GroundTruthImage]:
    by_id = {im["id"]: im for im in ground_truth["images"]}
    return [
        GroundTruthImage(i, by_id[i]["file_name"], by_id[i]["instance_ids_file"], by_id[i]["height"], by_id[i]["width"])
        for i in image_ids
    ]


def box_inside_fraction(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(N, M): the fraction of each box (x y w h) that lies inside each of the others."""
    x1 = np.maximum(boxes[:, None, 0], others[None, :, 0])
    y1 = np.maximum(boxes[:, None, 1], others[None, :, 1])
    x2 = np.minimum(boxes[:, None, 0] + boxes[:, None, 2], others[None, :, 0] + others[None, :, 2])
    y2 = np.minimum(boxes[:, None, 1] + boxes[:, None, 3], others[None, :, 1] + others[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (boxes[:, 2] * boxes[:, 3])[:, None]
    return np.divide(inter, area, out=np.zeros_like(inter, dtype=np.float64), where=area > 0)


def lower_mask_inside_fraction(persons: pd.DataFrame, wheelers: pd.DataFrame) -> np.ndarray:
    """(N, M): the fraction of the lower half of each person's mask that lies on each two-wheeler's mask."""
    person_masks = masks.decode([predictions.rle(r) for r in persons.itertuples()]).astype(bool)
    wheeler_masks = masks.decode([predictions.rle(r) for r in wheelers.itertuples()]).astype(bool)
    out = np.zeros((len(persons), len(wheelers)))
    for i, (mask, box) in enumerate(zip(person_masks, persons["bbox"])):
        lower = mask.copy()
        lower[: int(np.ceil(box[1] + box[3] / 2))] = False
        total = lower.sum()
        if total:
            out[i] = (wheeler_masks & lower).reshape(len(wheelers), -1).sum(1) / total
    return out


def to_cityscapes(
    frame: pd.DataFrame,
    class_mapping: dict[str, str],
    rider_policy: str,
    *,
    rider_overlap: float = 0.3,
    rider_min_score: float = 0.3,
    rider_mask_overlap: float = 0.1,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Predictions with a Cityscapes `label_id`; also counts of what was dropped and turned into riders.

    two_wheeler: a person detection becomes a rider when at least `rider_overlap` of
    its box lies inside the box of a bicycle or motorcycle detection of the same
    image scoring at least `rider_min_score`.
    two_wheeler_mask: the same two-wheelers, decided by masks: at least `rider_mask_overlap`
    of the lower half of the person's mask (rows below the middle of its box) lies on the
    two-wheeler's mask. A pedestrian beside a parked bicycle overlaps its box, not its mask.
    """
    if rider_policy not in RIDER_POLICIES:
        raise ValueError(f"unknown rider policy {rider_policy!r}")
    names = frame["category_id"].map(COCO_ID_TO_NAME)
    label = names.map(class_mapping).map(CITYSCAPES_NAME_TO_ID)
    unknown = int(names.isna().sum())
    counts = {"predictions": len(frame), "unknown_category": unknown, "unmapped": int(label.isna().sum()) - unknown}
    riders = np.zeros(len(frame), dtype=bool)
    if rider_policy != "none":
        is_person = (label == CITYSCAPES_NAME_TO_ID["person"]).to_numpy()
        is_wheeler = frame["category_id"].isin(TWO_WHEELERS).to_numpy() & (frame["score"].to_numpy() >= rider_min_score)
        boxes = np.stack(frame["bbox"].to_numpy()) if len(frame) else np.zeros((0, 4))
        image_ids = frame["image_id"].to_numpy()
        for image_id in np.unique(image_ids[is_person]):
            here = image_ids == image_id
            persons = np.flatnonzero(here & is_person)
            wheelers = np.flatnonzero(here & is_wheeler)
            if not wheelers.size:
                continue
            if rider_policy == "two_wheeler":
                inside = box_inside_fraction(boxes[persons], boxes[wheelers]).max(1)
                riders[persons[inside >= rider_overlap]] = True
            else:
                inside = lower_mask_inside_fraction(frame.iloc[persons], frame.iloc[wheelers]).max(1)
                riders[persons[inside >= rider_mask_overlap]] = True
    label = label.where(~riders, CITYSCAPES_NAME_TO_ID["rider"])
    counts["riders"] = int(riders.sum())
    kept = frame.assign(label_id=label).dropna(subset=["label_id"])
    kept = kept.astype({"label_id": np.int64})
    if counts["unknown_category"]:
        log.warning("dropped %d predictions whose category id is not a COCO class", counts["unknown_category"])
    log.info("class mapping: %s", counts)
    return kept, counts


def summarize(ap: np.ndarray, overlaps: np.ndarray) -> dict[str, Any]:
    """Per-class AP (mean over overlaps) and AP50, and their means over classes, as the official script.

    `ap` is (classes, overlaps) in CLASS_NAMES order; NaN marks a class without ground truth.
    """
    o50 = int(np.flatnonzero(np.isclose(overlaps, 0.5))[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of all-NaN: no class has ground truth
        return {
            "per_class": {name: {"AP": float(np.average(ap[k])), "AP50": float(ap[k, o50])} for k, name in enumerate(CLASS_NAMES)},
            "mean": {"AP": float(np.nanmean(ap)), "AP50": float(np.nanmean(ap[:, o50]))},
        }


# The official evaluator --------------------------------------------------------------------------


def write_official_predictions(frame: pd.DataFrame, images: list[GroundTruthImage], folder: Path) -> list[Path]:
    """One text file per image listing mask PNGs, label ids and scores (the official format)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    by_image = {i: rows for i, rows in frame.groupby("image_id")}
    files = []
    for image in images:
        stem = Path(image.file_name).name.removesuffix("_leftImg8bit.png")
        lines = []
        rows = by_image.get(image.image_id)
        if rows is not None:
            decoded = masks.decode([predictions.rle(r) for r in rows.itertuples()])
            for k, (row, mask) in enumerate(zip(rows.itertuples(), decoded)):
                name = f"masks/{stem}_{k}.png"
                Image.fromarray(mask.astype(np.uint8) * 255).save(folder / name, compress_level=1)
                lines.append(f"{name} {row.label_id} {row.score!r}\n")
        path = folder / f"{stem}_pred.txt"
        path.write_text("".join(lines))
        files.append(path)
    return files


def _write_dict_to_json(data: dict, path: str) -> None:
    """cityscapesscripts' writeDict2JSON, able to write numpy integers (its own fails on them)."""
    with open(path, "w") as f:
        f.write(json.dumps(data, default=lambda o: o.item() if isinstance(o, np.generic) else o.__dict__, sort_keys=True, indent=4))


def _official_module():
    """cityscapesscripts' evaluator, with its JSON writer made to work under numpy 2."""
    from cityscapesscripts.evaluation import evalInstanceLevelSemanticLabeling as official

    official.writeDict2JSON = _write_dict_to_json
    return official


def official_args(workdir: Path, prediction_dir: Path):
    """A private copy of the script's global settings, with every file it writes inside `workdir`."""
    official = _official_module()
    args = copy.copy(official.args)
    args.gtInstancesFile = str(workdir / "gtInstances.json")
    args.exportFile = str(workdir / "resultInstanceLevelSemanticLabeling.json")
    args.predictionPath = str(prediction_dir.resolve())
    args.predictionWalk = None
    args.JSONOutput = False
    args.quiet = True
    args.colorized = False
    args.instLabels = []
    return args


def evaluate_official_matches(matches: dict, args) -> np.ndarray:
    """evaluateMatches of the official script, surviving its crash when all of a class's predictions
    are ignored (cityscapesScripts issue #89).

    The script then indexes an empty score list. In that case no ground truth is matched
    and no prediction counts, so recall stays 0 and the step-wise AP is 0.0, the value the
    script itself gives a class with ground truth and no predictions; each affected
    (class, overlap) cell gets that value and every other cell the script's own.
    """
    official = _official_module()
    try:
        return official.evaluateMatches(matches, args)
    except IndexError:
        log.warning("cityscapesScripts issue #89: every prediction of a class is ignored; recomputing cell by cell")
    labels, overlaps = list(args.instLabels), np.asarray(args.overlaps)
    ap = np.zeros((1, len(labels), len(overlaps)))
    cell = copy.copy(args)
    for li, label in enumerate(labels):
        for oi, overlap in enumerate(overlaps):
            cell.instLabels, cell.overlaps = [label], np.array([overlap])
            try:
                ap[0, li, oi] = official.evaluateMatches(matches, cell)[0, 0, 0]
            except IndexError:
                ap[0, li, oi] = 0.0
    return ap


def evaluate_official(frame: pd.DataFrame, images: list[GroundTruthImage], gt_dir: Path, workdir: Path | None = None) -> dict[str, Any]:
    """Run cityscapesscripts on `frame` (with label_id) for `images`, in a private folder."""
    official = _official_module()
    with tempfile.TemporaryDirectory(prefix="segshift-cityscapes-", dir=workdir) as tmp:
        tmp = Path(tmp)
        prediction_files = write_official_predictions(frame, images, tmp / "results")
        gt_files = [str((gt_dir / im.instance_ids_file).resolve()) for im in images]
        args = official_args(tmp, tmp / "results")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # np.in1d under numpy 2.x
            official.setInstanceLabels(args)
            assert args.instLabels == CLASS_NAMES
            gt_instances = official.getGtInstances(gt_files, args)
            matches = official.matchGtWithPreds([str(p) for p in prediction_files], gt_files, gt_instances, args)
            ap = evaluate_official_matches(matches, args)
    return summarize(ap[0], np.asarray(args.overlaps))
