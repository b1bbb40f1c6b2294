"""Cityscapes (val or train): download, and conversion of gtFine to a manifest and COCO-format ground truth.

Instances are read from *_gtFine_instanceIds.png exactly as cityscapesscripts'
instances2dict reads them: a pixel value v >= 1000 is instance v of label v // 1000,
a value below 1000 of a label with instances is a group region (*group), kept here
as one crowd annotation per 8-connected component, so that a crowd box bounds one
group and not every group of that label in the frame (detectron2's Cityscapes loader
makes one box over all of them, which lets COCO matching ignore false positives
anywhere between groups; segshift's bbox numbers differ from it there on purpose).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from segshift import manifest, masks
from segshift.categories import CITYSCAPES_CLASSES, CITYSCAPES_ID_TO_NAME
from segshift.errors import SegshiftError
from segshift.io import atomic_path, write_json

SPLITS = ("val", "train")  # gtFine has instance GT for both; no COCO model saw either
IMAGE_SUFFIX = "_leftImg8bit.png"
INSTANCE_SUFFIX = "_gtFine_instanceIds.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"
# Regions the official protocol never scores, by label id (cityscapesscripts.helpers.labels): the
# ego vehicle, the rectification border, out of ROI, and caravan and trailer (instances that are
# ignored in evaluation). Stored per image so the same ruler can ignore them too (an option).
IGNORE_LABELS = {"ego vehicle": 1, "rectification border": 2, "out of roi": 3, "caravan": 29, "trailer": 30}
# The folder each package unpacks into -> the package's name on the server (cityscapesscripts' downloader).
PACKAGES = {
    "gtFine": "gtFine_trainvaltest",
    "leftImg8bit": "leftImg8bit_trainvaltest",
    "leftImg8bit_foggy": "leftImg8bit_trainvaltest_foggy",
}
CREDENTIAL_VARIABLES = ("CITYSCAPES_USERNAME", "CITYSCAPES_PASSWORD")
_SUPERCATEGORY = {"person": "human", "rider": "human"}


FOG_BETAS = (0.005, 0.01, 0.02)  # Foggy Cityscapes' three fog densities (Sakaridis et al. 2018)


def image_subdir(split: str = "val", fog_beta: float | None = None) -> str:
    """leftImg8bit/{split}, or Foggy Cityscapes' leftImg8bit_foggy/{split}."""
    return f"leftImg8bit_foggy/{split}" if fog_beta is not None else f"leftImg8bit/{split}"


def image_suffix(fog_beta: float | None = None) -> str:
    """A frame's image suffix: _leftImg8bit.png, or _leftImg8bit_foggy_beta_0.02.png (the names Foggy
    Cityscapes ships, as cityscapesscripts' downloader unpacks leftImg8bit_trainvaltest_foggy.zip)."""
    return IMAGE_SUFFIX if fog_beta is None else f"_leftImg8bit_foggy_beta_{fog_beta}.png"


def gt_subdir(split: str = "val") -> str:
    return f"gtFine/{split}"


def slice_fields(frame: str) -> dict[str, str]:
    """city and sequence of a frame (city/city_seq_frame_leftImg8bit.png); the sequence keeps its city,
    since sequence numbers restart in every city."""
    city, stem = frame.split("/", 1)
    return {"city": city, "sequence": "_".join(stem.split("_")[:2])}


def list_frames(image_dir: str | Path, dataset: str = "<cityscapes dataset>", suffix: str = IMAGE_SUFFIX) -> list[str]:
    """Frame file names relative to leftImg8bit/{split}, sorted (city/city_seq_frame_leftImg8bit.png)."""
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise SegshiftError(f"Cityscapes image folder not found: {image_dir}; check datasets.{dataset}.root")
    frames = sorted(p.relative_to(image_dir).as_posix() for p in image_dir.glob(f"*/*{suffix}"))
    if not frames:
        raise SegshiftError(f"no *{suffix} frames under {image_dir}; check datasets.{dataset}.root")
    return frames


def frame_stem(frame: str, suffix: str = IMAGE_SUFFIX) -> str:
    """city/city_seq_frame of a frame's image file name."""
    return frame[: -len(suffix)]


def instance_file(frame: str, suffix: str = IMAGE_SUFFIX) -> str:
    """gtFine instanceIds file of a frame, relative to gtFine/{split}."""
    return frame_stem(frame, suffix) + INSTANCE_SUFFIX


def read_label_image(path: str | Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.array(im)
    except FileNotFoundError:
        raise SegshiftError(
            f"ground truth {path} is missing; Cityscapes needs gtFine_trainvaltest.zip unpacked under the root"
        ) from None
    except (OSError, SyntaxError) as e:
        raise SegshiftError(f"ground truth {path} is unreadable ({e}); unpack gtFine_trainvaltest.zip again") from None


def group_components(region: np.ndarray) -> list[np.ndarray]:
    """The 8-connected components of a group region (a boolean mask), in label order."""
    from scipy import ndimage

    labels, count = ndimage.label(region, structure=np.ones((3, 3), dtype=bool))
    return [labels == k for k in range(1, count + 1)]


def frame_annotations(instance_ids: np.ndarray, image_id: int, first_id: int) -> list[dict]:
    """COCO annotations of one frame's instance classes (ids from `first_id` on)."""
    annotations = []
    for value in np.unique(instance_ids).tolist():
        label_id = value // 1000 if value >= 1000 else value
        if label_id not in CITYSCAPES_ID_TO_NAME:
            continue
        region = instance_ids == value
        for mask in group_components(region) if value < 1000 else [region]:
            rle = masks.encode(mask[None])[0]
            x, y, w, h = masks.to_bbox([rle])[0].tolist()
            annotations.append(
                {
                    "id": first_id + len(annotations),
                    "image_id": image_id,
                    "category_id": label_id,
                    "segmentation": rle,
                    "area": int(mask.sum()),
                    "bbox": [x, y, w, h],
                    "iscrowd": int(value < 1000),
                    "cityscapes_instance_id": int(value),
                }
            )
    return annotations


def convert(
    image_dir: str | Path, gt_dir: str | Path, manifest_out: str | Path, ground_truth_out: str | Path, *, dataset: str,
    fog_beta: float | None = None,
) -> int:
    """Write the manifest and the COCO-format instances of a Cityscapes split; return the frame count.

    `image_dir` is leftImg8bit/{split} and `gt_dir` gtFine/{split}. Image ids are 1..N in
    file-name order, stable for a given copy of the dataset. The manifest carries each frame's
    city and sequence, the fields its slices are cut by. fog_beta: the images are Foggy Cityscapes'
    at that density, the ground truth the clean frames' (so image ids match the clean dataset's).
    """
    image_dir, gt_dir = Path(image_dir), Path(gt_dir)
    suffix = image_suffix(fog_beta)
    frames = list_frames(image_dir, dataset, suffix)
    images, annotations = [], []
    for image_id, frame in enumerate(frames, start=1):
        try:
            with Image.open(image_dir / frame) as im:
                width, height = im.size
        except (OSError, SyntaxError) as e:
            raise SegshiftError(f"image {image_dir / frame} is unreadable ({e}); unpack leftImg8bit again") from None
        ids = read_label_image(gt_dir / instance_file(frame, suffix))
        label_ids = read_label_image(gt_dir / (frame_stem(frame, suffix) + LABEL_SUFFIX))
        ignore = np.isin(label_ids, list(IGNORE_LABELS.values()))
        if ids.shape != (height, width):
            raise SegshiftError(
                f"ground truth {gt_dir / instance_file(frame, suffix)} is {ids.shape[1]}x{ids.shape[0]} but its image is "
                f"{width}x{height}; the gtFine and leftImg8bit trees do not match"
            )
        images.append(
            {
                "id": image_id,
                "file_name": frame,
                "width": width,
                "height": height,
                "instance_ids_file": instance_file(frame, suffix),
                "ignore_regions": masks.encode(ignore[None])[0] if ignore.any() else None,
            }
        )
        annotations += frame_annotations(ids, image_id, first_id=len(annotations) + 1)
    ground_truth = {
        "info": {"description": f"Cityscapes instances (gtFine, {gt_dir.name}) in COCO format, made by segshift"},
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": label_id, "name": name, "supercategory": _SUPERCATEGORY.get(name, "vehicle")}
            for name, label_id in CITYSCAPES_CLASSES
        ],
    }
    write_json(ground_truth_out, ground_truth, indent=None)
    table = pd.DataFrame([{"image_id": im["id"], "file_name": im["file_name"], "width": im["width"], "height": im["height"],
                           **slice_fields(im["file_name"])} for im in images])
    manifest.write(manifest_out, table, dataset=dataset, image_dir=image_dir, gt_dir=gt_dir)
    return len(frames)


# Download -------------------------------------------------------------------------------------


def credentials_from_env() -> tuple[str, str] | None:
    username, password = (os.environ.get(v, "") for v in CREDENTIAL_VARIABLES)
    return (username, password) if username and password else None


MISSING_CREDENTIALS = (
    "Cityscapes is neither on disk nor downloadable: set the cityscapes dataset's root to an existing copy "
    "(leftImg8bit/<split> and gtFine/<split>), or export CITYSCAPES_USERNAME and CITYSCAPES_PASSWORD "
    "(an account from https://www.cityscapes-dataset.com/register/)"
)


def _login(username: str, password: str):
    """A logged-in session, as cityscapesscripts' downloader makes it but without its prompt or credentials file."""
    import requests

    session = requests.Session()
    try:
        session.get("https://www.cityscapes-dataset.com/login", allow_redirects=False).raise_for_status()
        r = session.post(
            "https://www.cityscapes-dataset.com/login",
            data={"username": username, "password": password, "submit": "Login"},
            allow_redirects=False,
        )
        r.raise_for_status()
    except requests.RequestException as e:
        raise SegshiftError(f"cannot reach www.cityscapes-dataset.com ({e.__class__.__name__}); check the network") from None
    if r.status_code != 302:
        raise SegshiftError(
            "Cityscapes login failed for the account in CITYSCAPES_USERNAME; check CITYSCAPES_USERNAME and CITYSCAPES_PASSWORD"
        )
    return session


def download(package: str, destination: str | Path) -> None:
    """Download one Cityscapes package; cityscapesscripts checks it against the server's md5."""
    from cityscapesscripts.download.downloader import download_packages

    credentials = credentials_from_env()
    if credentials is None:
        raise SegshiftError(MISSING_CREDENTIALS)
    session = _login(*credentials)
    destination = Path(destination)
    with atomic_path(destination) as tmp, tempfile.TemporaryDirectory(dir=destination.parent) as workdir:
        try:
            download_packages(session=session, package_names=[package], destination_path=workdir)
        except Exception as e:  # the downloader raises bare Exceptions with its own one-line messages
            raise SegshiftError(f"Cityscapes download of {package} failed: {e}") from None
        shutil.move(os.path.join(workdir, package), tmp)
