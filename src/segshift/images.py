"""The images a model sees in a domain: decoded from the dataset, corrupted, or at another test size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from segshift.corruptions import CorruptedImages


def read_image(path: Path, width: int, height: int) -> np.ndarray:
    """Decode to RGB uint8 on the raw pixel grid (no EXIF rotation: annotations use the raw grid)."""
    with Image.open(path) as im:
        im.load()
        if im.size != (width, height):
            raise ValueError(f"decoded size {im.size[0]}x{im.size[1]} differs from the manifest's {width}x{height}")
        return np.asarray(im.convert("RGB"))


def resample(image: np.ndarray, test_size: list[int] | tuple[int, int]) -> np.ndarray:
    """The image brought to a test size (shorter side, longer side at most) and back to its own size.

    For a model with a fixed input (an export), this is what running it at that test size
    means: it sees the detail the image has at that resolution, in the original pixel grid.
    """
    height, width = image.shape[:2]
    short, long = test_size
    scale = min(short / min(height, width), long / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == (width, height):
        return image
    small = Image.fromarray(image).resize(size, Image.BILINEAR)
    return np.asarray(small.resize((width, height), Image.BILINEAR))


class DomainImages:
    """Reads one domain's images: the dataset's file, or its cached corrupted version, optionally resampled."""

    def __init__(self, image_dir: Path, corruption: dict | None = None, corrupted_shard: Path | None = None,
                 resample_to: list[int] | None = None):
        self.image_dir, self.resample_to = Path(image_dir), resample_to
        self.corrupted = None
        if corruption:
            self.corrupted = CorruptedImages(corrupted_shard, corruption["name"], corruption["severity"], self.clean)

    def clean(self, image_id: int, file_name: str, width: int, height: int) -> np.ndarray:
        return read_image(self.image_dir / file_name, width, height)

    def read(self, image_id: int, file_name: str, width: int, height: int) -> tuple[np.ndarray, str]:
        """The image as the domain shows it, and where it came from: "file", "cache" or "rebuilt"."""
        if self.corrupted:
            image, hit = self.corrupted.lookup(image_id, file_name, width, height)
            origin = "cache" if hit else "rebuilt"
        else:
            image, origin = self.clean(image_id, file_name, width, height), "file"
        return (resample(image, self.resample_to) if self.resample_to else image), origin

    def __call__(self, image_id: int, file_name: str, width: int, height: int) -> np.ndarray:
        return self.read(image_id, file_name, width, height)[0]
