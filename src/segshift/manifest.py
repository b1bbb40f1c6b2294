"""The image manifest of a dataset and how it is cut into shards.

A manifest lists every image of a dataset, sorted by file name, as
(image_id, file_name, width, height), then the image's slice fields (city, sequence, condition,
video, ...: plain string columns, whichever the dataset's kind knows). `max_images` takes the first N rows, and
shards are named against the whole dataset (shard-00003-of-00100), so a quick
run and a full run share their first shards.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segshift.errors import SegshiftError
from segshift.io import atomic_path

COLUMNS = ["image_id", "file_name", "width", "height"]
_SCHEMA = pa.schema(
    [
        ("image_id", pa.int64()),
        ("file_name", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
    ]
)
_META_KEY = b"segshift"


@dataclass(frozen=True)
class Manifest:
    images: pd.DataFrame  # COLUMNS, sorted by file_name
    dataset: str
    image_dir: Path  # file_name is relative to this folder
    gt_dir: Path | None = None  # Cityscapes: gtFine/val, for the official evaluator

    @property
    def slice_fields(self) -> list[str]:
        """The columns an image can be grouped by (its slices), beyond the four every manifest has."""
        return [c for c in self.images.columns if c not in COLUMNS]

    def select(self, max_images: int | None) -> pd.DataFrame:
        """The first `max_images` images by file name (all when None)."""
        return self.images if max_images is None else self.images.iloc[:max_images]

    def image_path(self, file_name: str) -> Path:
        return self.image_dir / file_name


def write(
    path: str | Path,
    images: pd.DataFrame,
    *,
    dataset: str,
    image_dir: str | Path,
    gt_dir: str | Path | None = None,
) -> None:
    fields = [c for c in images.columns if c not in COLUMNS]
    images = images[COLUMNS + fields].sort_values("file_name", kind="stable").reset_index(drop=True)
    if images["image_id"].duplicated().any():
        dup = images.loc[images["image_id"].duplicated(), "image_id"].iloc[0]
        raise SegshiftError(f"image id {dup} appears twice in the {dataset} annotations; fix the ground-truth file")
    # A missing value stays null, not the string "None".
    images[fields] = images[fields].astype(object).where(images[fields].notna(), None).map(
        lambda v: v if v is None else str(v))
    schema = pa.schema([*_SCHEMA, *(pa.field(f, pa.string()) for f in fields)])
    table = pa.Table.from_pandas(images, schema=schema, preserve_index=False)
    meta = {
        "dataset": dataset,
        "image_dir": str(Path(image_dir).resolve()),
        "gt_dir": str(Path(gt_dir).resolve()) if gt_dir else None,
    }
    table = table.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read(path: str | Path) -> Manifest:
    path = Path(path)
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise SegshiftError(f"manifest not found: {path}; run the prepare_dataset rule first") from None
    except (pa.ArrowInvalid, OSError) as e:
        raise SegshiftError(f"manifest {path} is unreadable ({e}); delete it and rerun") from None
    meta = json.loads((table.schema.metadata or {}).get(_META_KEY, b"{}"))
    if "dataset" not in meta:
        raise SegshiftError(f"manifest {path} has no segshift metadata; delete it and rerun")
    return Manifest(
        images=table.to_pandas(),
        dataset=meta["dataset"],
        image_dir=Path(meta["image_dir"]),
        gt_dir=Path(meta["gt_dir"]) if meta.get("gt_dir") else None,
    )


def num_rows(path: str | Path) -> int:
    """Row count from the Parquet footer alone (cheap enough for DAG building)."""
    return pq.ParquetFile(path).metadata.num_rows


# Shards -----------------------------------------------------------------------------------------


def num_shards(num_images: int, images_per_shard: int) -> int:
    """Shards of the whole dataset; the `of` in every shard file name."""
    return max(1, math.ceil(num_images / images_per_shard))


def shards_needed(num_selected: int, images_per_shard: int) -> list[int]:
    """Shard indices that cover the first `num_selected` images."""
    return list(range(math.ceil(num_selected / images_per_shard)))


def shard_rows(shard: int, images_per_shard: int, num_selected: int) -> slice:
    """Rows of the selected images that shard `shard` covers."""
    start = shard * images_per_shard
    if shard < 0 or start >= num_selected:
        raise SegshiftError(
            f"shard {shard} is outside the {num_selected} selected images at {images_per_shard} per shard"
        )
    return slice(start, min(start + images_per_shard, num_selected))


def shard_name(shard: int, total: int) -> str:
    return f"shard-{shard:05d}-of-{total:05d}"
