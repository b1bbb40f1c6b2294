"""ACDC (Sakaridis et al. 2021): its panoptic ground truth into a manifest, COCO-format instances in
Cityscapes label ids, and per-frame *_gt_instanceIds.png in Cityscapes' encoding for the official
evaluator, so an ACDC domain is scored as a Cityscapes one is (official protocol and the same ruler).

Layout (the README that ships with ACDC's packages, "Dataset Structure" and "... for detection and
panoptic segmentation annotations"): images rgb_anon/{condition}/{split}/{sequence}/
{sequence}_frame_{frame:06d}_rgb_anon.png, and the normal-condition reference images of the same places
in {split}_ref/ as *_rgb_ref_anon.png. gt_panoptic/{condition}/{condition}_{split}_gt_panoptic.json is a
COCO panoptic JSON (images, annotations with segments_info, categories), its masks
gt_panoptic/{condition}/{split}/{sequence}/*.png (segment id = R + 256 G + 256^2 B); the reference
images' annotations (half of them have some) are gt_panoptic/{split}_gt_ref_panoptic.json, their
masks under gt_panoptic/{condition}/{split}_ref/{sequence}/. A segment's category_id is a Cityscapes
label id and iscrowd marks a group region, as cityscapesscripts' createPanopticImgs.py writes them
(ACDC is annotated in Cityscapes' 19 evaluated classes; it has no caravan, trailer or ego vehicle, so
no ignore regions). The panoptic masks are read, not the gt_detection JSONs: those carry boxes only.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from PIL import Image

from segshift import manifest, masks
from segshift.categories import CITYSCAPES_CLASSES, CITYSCAPES_ID_TO_NAME
from segshift.datasets.cityscapes import group_components
from segshift.errors import SegshiftError
from segshift.io import atomic_path, write_json

CONDITIONS = ("fog", "night", "rain", "snow")
SPLITS = ("val", "train")  # ground truth is public for both; the test split's is withheld
IMAGE_SUFFIX = "_rgb_anon.png"
REFERENCE_IMAGE_SUFFIX = "_rgb_ref_anon.png"
INSTANCE_SUFFIX = "_gt_instanceIds.png"  # what segshift writes, in Cityscapes' encoding
IMAGE_DIR = "rgb_anon"
PANOPTIC_DIR = "gt_panoptic"
# The packages (acdc.vision.ee.ethz.ch, behind a login) whose folders a root must hold.
PACKAGES = {"rgb_anon": "rgb_anon_trainvaltest.zip", "gt_panoptic": "gt_panoptic_trainval.zip",
            "gt_panoptic (reference images)": "gt_panoptic_trainval_ref.zip"}
_SUPERCATEGORY = {"person": "human", "rider": "human"}
_ID_BLOCK = 100_000  # image ids: a block per (condition, split, reference), frames numbered within it
_LAST_LABEL_ID = 33  # cityscapesscripts.helpers.labels: ids 0 (unlabeled) to 33 (bicycle)


def split_folder(split: str, reference: bool) -> str:
    return f"{split}_ref" if reference else split


def image_suffix(reference: bool) -> str:
    return REFERENCE_IMAGE_SUFFIX if reference else IMAGE_SUFFIX


def condition_dir(root: str | Path, condition: str, split: str, reference: bool = False) -> Path:
    return Path(root) / IMAGE_DIR / condition / split_folder(split, reference)


def panoptic_json(root: str | Path, condition: str, split: str, reference: bool = False) -> Path:
    if reference:
        return Path(root) / PANOPTIC_DIR / f"{split}_gt_ref_panoptic.json"
    return Path(root) / PANOPTIC_DIR / condition / f"{condition}_{split}_gt_panoptic.json"


def panoptic_dir(root: str | Path, condition: str, split: str, reference: bool = False) -> Path:
    return Path(root) / PANOPTIC_DIR / condition / split_folder(split, reference)


def slice_fields(file_name: str) -> dict[str, str]:
    """condition and sequence of a frame ({condition}/{split}/{sequence}/{name}, relative to rgb_anon)."""
    condition, _, sequence, _ = PurePosixPath(file_name).parts
    return {"condition": condition, "sequence": sequence}


def check_layout(root: str | Path, conditions: list[str], split: str, reference: bool, dataset: str) -> None:
    """Every condition's image folder and panoptic JSON is there, before anything is read or written."""
    for condition in conditions:
        folder = condition_dir(root, condition, split, reference)
        if not folder.is_dir():
            raise SegshiftError(
                f"ACDC condition folder {folder} is missing; unpack {PACKAGES['rgb_anon']} under "
                f"datasets.{dataset}.root, or leave {condition} out of datasets.{dataset}.conditions")
        gt = panoptic_json(root, condition, split, reference)
        if not gt.is_file():
            package = PACKAGES["gt_panoptic (reference images)" if reference else "gt_panoptic"]
            raise SegshiftError(f"ACDC panoptic ground truth {gt} is missing; unpack {package} under "
                                f"datasets.{dataset}.root")


def _annotations_by_image(path: Path) -> dict[str, dict]:
    """A panoptic JSON's annotations by the file name (no folders) of their image."""
    try:
        data = json.loads(path.read_text())
        names = {im["id"]: PurePosixPath(im["file_name"]).name for im in data["images"]}
        return {names[a["image_id"]]: a for a in data["annotations"]}
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
        raise SegshiftError(f"{path} is not a COCO panoptic JSON ({e.__class__.__name__}: {e}); unpack "
                            "ACDC's gt_panoptic package again") from None


def read_panoptic(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Segment ids of a COCO panoptic PNG (R + 256 G + 256^2 B)."""
    try:
        with Image.open(path) as im:
            if im.mode != "RGB":
                raise SegshiftError(f"panoptic mask {path} is {im.mode}, not RGB; it is not a COCO panoptic PNG")
            rgb = np.array(im).astype(np.int64)
    except FileNotFoundError:
        raise SegshiftError(f"ground truth {path} is missing; unpack ACDC's gt_panoptic package under the root") from None
    except (OSError, SyntaxError) as e:
        raise SegshiftError(f"panoptic mask {path} is unreadable ({e}); unpack ACDC's gt_panoptic package again") from None
    if rgb.shape[:2] != (size[1], size[0]):
        raise SegshiftError(f"panoptic mask {path} is {rgb.shape[1]}x{rgb.shape[0]} but its image is {size[0]}x{size[1]}")
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def instance_ids(segments: np.ndarray, segments_info: list[dict], path: Path) -> np.ndarray:
    """The frame in Cityscapes' instanceIds encoding: label id * 1000 + k for an instance, the label id
    for a group region or a stuff class, 0 (unlabeled) where no segment is."""
    out = np.zeros(segments.shape, dtype=np.uint16)
    count: dict[int, int] = {}
    for segment in segments_info:
        label = int(segment["category_id"])
        if not 0 <= label <= _LAST_LABEL_ID:
            raise SegshiftError(f"{path}: segment {segment['id']} has category_id {label}, which is no Cityscapes "
                                "label id; ACDC's panoptic JSONs use Cityscapes label ids")
        region = segments == int(segment["id"])
        if label in CITYSCAPES_ID_TO_NAME and not segment.get("iscrowd", 0):
            out[region] = label * 1000 + count.get(label, 0)
            count[label] = count.get(label, 0) + 1
        else:
            out[region] = label
    return out


def frame_annotations(ids: np.ndarray, image_id: int, first_id: int) -> list[dict]:
    """COCO annotations of one frame's instance classes, as the Cityscapes reader makes them from gtFine."""
    annotations = []
    for value in np.unique(ids).tolist():
        label = value // 1000 if value >= 1000 else value
        if label not in CITYSCAPES_ID_TO_NAME:
            continue
        region = ids == value
        for mask in group_components(region) if value < 1000 else [region]:
            rle = masks.encode(mask[None])[0]
            x, y, w, h = masks.to_bbox([rle])[0].tolist()
            annotations.append({"id": first_id + len(annotations), "image_id": image_id, "category_id": label,
                                "segmentation": rle, "area": int(mask.sum()), "bbox": [x, y, w, h],
                                "iscrowd": int(value < 1000), "cityscapes_instance_id": int(value)})
    return annotations


def frame_ids(frames: list[str], split: str, reference: bool) -> list[int]:
    """An image id per frame that no other condition, split or reference set of ACDC uses: the
    bootstrap keys its draws by the image ids, so two domains get the same draws (a paired gap)
    exactly when they hold the same frames (fog alone and fog within all four), never across
    conditions (different images)."""
    block = SPLITS.index(split) * 2 + int(reference)
    position: dict[str, int] = {}
    ids = []
    for frame in frames:
        condition = slice_fields(frame)["condition"]
        position[condition] = position.get(condition, 0) + 1
        ids.append((CONDITIONS.index(condition) * 2 * len(SPLITS) + block + 1) * _ID_BLOCK + position[condition])
    return ids


def list_frames(root: Path, conditions: list[str], split: str, reference: bool, dataset: str) -> list[str]:
    """Frame file names relative to rgb_anon ({condition}/{split}/{sequence}/{name}), sorted."""
    suffix = image_suffix(reference)
    frames = sorted(p.relative_to(root / IMAGE_DIR).as_posix() for c in conditions
                    for p in condition_dir(root, c, split, reference).glob(f"*/*{suffix}"))
    if not frames:
        raise SegshiftError(f"no */*{suffix} images under {root / IMAGE_DIR}/{{{','.join(conditions)}}}/"
                            f"{split_folder(split, reference)}; check datasets.{dataset}.root")
    return frames


def convert(root: str | Path, manifest_out: str | Path, ground_truth_out: str | Path, instance_ids_out: str | Path, *,
            dataset: str, conditions: list[str] | tuple[str, ...] = CONDITIONS, split: str = "val",
            reference: bool = False) -> int:
    """Write the manifest, the COCO-format instances (Cityscapes label ids) and the instanceIds PNGs of
    ACDC's `conditions` in `split` (reference: the normal-condition images that have ground truth);
    image ids from `frame_ids`, in file-name order. Return the frame count."""
    root, conditions = Path(root), list(conditions)
    check_layout(root, conditions, split, reference, dataset)
    by_name: dict[str, dict] = {}
    for condition in (conditions[:1] if reference else conditions):  # the reference JSON covers every condition
        by_name.update(_annotations_by_image(panoptic_json(root, condition, split, reference)))
    frames = list_frames(root, conditions, split, reference, dataset)
    numbered = list(zip(frame_ids(frames, split, reference), frames))
    if reference:  # only half of the reference images are annotated: the domain is those
        numbered = [(i, f) for i, f in numbered if PurePosixPath(f).name in by_name]
        if not numbered:
            raise SegshiftError(f"none of the reference images of {', '.join(conditions)} has ground truth in "
                                f"{panoptic_json(root, conditions[0], split, True)}; unpack gt_panoptic_trainval_ref.zip")
    images, annotations = [], []
    with atomic_path(instance_ids_out, directory=True) as out:
        for image_id, frame in numbered:
            name = PurePosixPath(frame).name
            try:
                with Image.open(root / IMAGE_DIR / frame) as im:
                    size = im.size
            except (OSError, SyntaxError) as e:
                raise SegshiftError(f"image {root / IMAGE_DIR / frame} is unreadable ({e}); unpack rgb_anon again") from None
            annotation = by_name.get(name)
            fields = slice_fields(frame)
            if annotation is None:
                raise SegshiftError(f"image {root / IMAGE_DIR / frame} has no annotation in "
                                    f"{panoptic_json(root, fields['condition'], split, reference)}; unpack the "
                                    "gt_panoptic package of the same ACDC release as the images")
            png = (panoptic_dir(root, fields["condition"], split, reference) / fields["sequence"]
                   / PurePosixPath(annotation["file_name"]).name)
            ids = instance_ids(read_panoptic(png, size), annotation["segments_info"], png)
            ids_file = frame[: -len(image_suffix(reference))] + INSTANCE_SUFFIX
            (out / ids_file).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(ids).save(out / ids_file)
            images.append({"id": image_id, "file_name": frame, "width": size[0], "height": size[1],
                           "instance_ids_file": ids_file, "ignore_regions": None, **fields})
            annotations += frame_annotations(ids, image_id, first_id=len(annotations) + 1)
        write_json(ground_truth_out, {
            "info": {"description": f"ACDC {split}{' reference' if reference else ''} instances "
                                    f"({', '.join(conditions)}) from its panoptic ground truth, in COCO format and "
                                    "Cityscapes label ids, made by segshift"},
            "images": images, "annotations": annotations,
            "categories": [{"id": label_id, "name": name, "supercategory": _SUPERCATEGORY.get(name, "vehicle")}
                           for name, label_id in CITYSCAPES_CLASSES],
        }, indent=None)
        table = pd.DataFrame([{"image_id": im["id"], "file_name": im["file_name"], "width": im["width"],
                               "height": im["height"], "condition": im["condition"], "sequence": im["sequence"]}
                              for im in images])
        manifest.write(manifest_out, table, dataset=dataset, image_dir=root / IMAGE_DIR, gt_dir=instance_ids_out)
    return len(numbered)
