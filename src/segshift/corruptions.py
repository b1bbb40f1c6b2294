"""Image corruptions of the robustness benchmark (Michaelis et al. 2019, after Hendrycks & Dietterich).

The corruption functions are imagecorruptions-imaug's (the maintained fork; the 2020
imagecorruptions release breaks under numpy 2). They draw from numpy's global random state,
so each call is seeded from (image id, corruption, severity): the same image, corruption and
severity give the same pixels on every run and machine. A corrupted image is made once per
(image, corruption, severity) and cached as PNG (lossless) in one Parquet file per shard,
with each image's sha256 so that a damaged cache entry is detected and rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from segshift.errors import SegshiftError
from segshift.io import atomic_path

log = logging.getLogger(__name__)

# imagecorruptions' order: the 15 benchmark corruptions (noise, blur, weather, digital), then the 4 extra ones.
BENCHMARK = [
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog",
    "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
]
EXTRA = ["speckle_noise", "gaussian_blur", "spatter", "saturate"]
NAMES = BENCHMARK + EXTRA
SETS = {"benchmark": BENCHMARK, "extra": EXTRA, "all": NAMES}
SEVERITIES = (1, 2, 3, 4, 5)
_SEEDED_BY_ARGUMENT = {"glass_blur", "impulse_noise"}  # these take their own seed instead of the global state
_SCHEMA = pa.schema([("image_id", pa.int64()), ("png", pa.binary()), ("sha256", pa.string())])
_META_KEY = b"segshift"


def seed(image_id: int, corruption: str, severity: int) -> int:
    digest = hashlib.sha256(f"{int(image_id)}/{corruption}/{int(severity)}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def corrupt(image: np.ndarray, corruption: str, severity: int, image_id: int) -> np.ndarray:
    """The corrupted RGB uint8 image, the same for the same (image, corruption, severity, id)."""
    from imagecorruptions import corrupt as apply

    if corruption not in NAMES:
        raise SegshiftError(f"unknown corruption {corruption!r}; use one of {', '.join(NAMES)}")
    s = seed(image_id, corruption, severity)
    kwargs = {"seed": s} if corruption in _SEEDED_BY_ARGUMENT else {}
    state = np.random.get_state()
    try:
        np.random.seed(s)
        out = apply(np.ascontiguousarray(image), severity=int(severity), corruption_name=corruption, **kwargs)
    finally:
        np.random.set_state(state)  # leave the caller's random state as it was
    if out.shape != image.shape:  # a few corruptions round sizes internally
        out = np.asarray(Image.fromarray(out).resize((image.shape[1], image.shape[0]), Image.BILINEAR))
    return out


def encode_png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def write_shard(
    output: str | Path,
    rows: list[tuple[int, str, int, int]],
    read_clean: Callable[[int, str, int, int], np.ndarray],
    corruption: str,
    severity: int,
    *,
    progress=None,
) -> None:
    """Corrupt each image of a shard and write them, with their sha256, as one Parquet file."""
    ids, pngs, digests = [], [], []
    for image_id, file_name, width, height in rows:
        data = encode_png(corrupt(read_clean(image_id, file_name, width, height), corruption, severity, image_id))
        ids.append(image_id)
        pngs.append(data)
        digests.append(hashlib.sha256(data).hexdigest())
        if progress is not None:
            progress.update(1)
    meta = {"corruption": corruption, "severity": severity, "seed": "sha256('<image_id>/<corruption>/<severity>')[:4]",
            "imagecorruptions": _package_version()}
    table = pa.Table.from_arrays([pa.array(ids, pa.int64()), pa.array(pngs, pa.binary()), pa.array(digests, pa.string())],
                                 schema=_SCHEMA).replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
    with atomic_path(output) as tmp:
        pq.write_table(table, tmp, compression="none")  # PNG is compressed already


def _package_version() -> str:
    from importlib.metadata import version

    return version("imagecorruptions-imaug")


def shard_of(files: list[str | Path]) -> dict[int, Path]:
    """Which cached shard holds each image (reads only the image_id column)."""
    out = {}
    for path in files:
        for image_id in pq.read_table(path, columns=["image_id"])["image_id"].to_pylist():
            out[image_id] = Path(path)
    return out


class CorruptedImages:
    """The cached corrupted images of one shard; a damaged entry (or file) is rebuilt from the clean image."""

    def __init__(self, path: str | Path, corruption: str, severity: int, read_clean):
        self.path, self.corruption, self.severity, self.read_clean = Path(path), corruption, severity, read_clean
        try:
            table = pq.read_table(self.path, schema=_SCHEMA)
            self.entries = dict(zip(table["image_id"].to_pylist(), zip(table["png"].to_pylist(), table["sha256"].to_pylist())))
        except (OSError, pa.ArrowInvalid) as e:
            log.warning("corrupted-image cache %s is unreadable (%s): rebuilding its images; delete the file to "
                        "have it rewritten", self.path, e)
            self.entries = {}

    def read(self, image_id: int, file_name: str, width: int, height: int) -> np.ndarray:
        return self.lookup(image_id, file_name, width, height)[0]

    def lookup(self, image_id: int, file_name: str, width: int, height: int) -> tuple[np.ndarray, bool]:
        """The corrupted image, and whether it came from the cache (False: rebuilt from the clean image)."""
        entry = self.entries.get(image_id)
        if entry is not None and hashlib.sha256(entry[0]).hexdigest() == entry[1]:
            try:
                with Image.open(io.BytesIO(entry[0])) as im:
                    image = np.asarray(im.convert("RGB"))
                if image.shape[:2] == (height, width):
                    return image, True
            except (OSError, SyntaxError):
                pass
        if entry is not None or self.entries:
            log.warning("cached corrupted image %d in %s is damaged or missing: rebuilt from the clean image", image_id,
                        self.path)
        return corrupt(self.read_clean(image_id, file_name, width, height), self.corruption, self.severity, image_id), False
