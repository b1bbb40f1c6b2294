"""Cached predictions: one Parquet file per (dataset, model, shard).

Columns (one row per detection):
  image_id      int64    the manifest's image id
  category_id   int32    COCO category id
  score         float32
  bbox          4 x float32, x y w h in the image's pixels
  segmentation  struct{counts: string, height: int32, width: int32}, COCO compressed RLE

The file metadata (key "segshift", JSON) records the model, backend and its version,
the weights' sha256, the settings that shaped the predictions (test size, score
floor), the dataset, the image ids the shard covers (images without detections
included) and any image skipped as unreadable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segshift.backends import Instances
from segshift.errors import SegshiftError
from segshift.io import atomic_path

SCHEMA = pa.schema(
    [
        ("image_id", pa.int64()),
        ("category_id", pa.int32()),
        ("score", pa.float32()),
        ("bbox", pa.list_(pa.float32(), 4)),
        (
            "segmentation",
            pa.struct([("counts", pa.string()), ("height", pa.int32()), ("width", pa.int32())]),
        ),
    ]
)
_META_KEY = b"segshift"


def to_table(results: Iterable[tuple[int, Instances]]) -> pa.Table:
    image_ids, category_ids, scores, bboxes, counts, heights, widths = [], [], [], [], [], [], []
    for image_id, inst in results:
        n = len(inst)
        image_ids.append(np.full(n, image_id, dtype=np.int64))
        category_ids.append(np.asarray(inst.category_id, dtype=np.int32))
        scores.append(np.asarray(inst.score, dtype=np.float32))
        bboxes.append(np.asarray(inst.bbox, dtype=np.float32).reshape(n, 4))
        for rle in inst.segmentation:
            counts.append(rle["counts"])
            heights.append(rle["size"][0])
            widths.append(rle["size"][1])
    cat = (lambda parts, dtype, shape=(0,): np.concatenate(parts) if parts else np.zeros(shape, dtype))
    boxes = cat(bboxes, np.float32, (0, 4))
    segmentation = pa.StructArray.from_arrays(
        [pa.array(counts, pa.string()), pa.array(heights, pa.int32()), pa.array(widths, pa.int32())],
        names=["counts", "height", "width"],
    )
    return pa.Table.from_arrays(
        [
            pa.array(cat(image_ids, np.int64)),
            pa.array(cat(category_ids, np.int32)),
            pa.array(cat(scores, np.float32)),
            pa.FixedSizeListArray.from_arrays(pa.array(boxes.reshape(-1)), 4),
            segmentation,
        ],
        schema=SCHEMA,
    )


def write(path: str | Path, results: Iterable[tuple[int, Instances]], metadata: dict[str, Any]) -> None:
    """Write one shard atomically: a killed writer leaves no file."""
    write_table(path, to_table(results), metadata)


def write_table(path: str | Path, table: pa.Table, metadata: dict[str, Any]) -> None:
    table = table.replace_schema_metadata({_META_KEY: json.dumps(metadata).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_metadata(path: str | Path) -> dict[str, Any]:
    try:
        meta = pq.read_schema(path).metadata or {}
    except (FileNotFoundError, pa.ArrowInvalid, OSError) as e:
        raise SegshiftError(f"prediction file {path} is unreadable ({e}); delete it and rerun its inference job") from None
    if _META_KEY not in meta:
        raise SegshiftError(f"{path} is not a segshift prediction file (no segshift metadata)")
    return json.loads(meta[_META_KEY])


def read(paths: Iterable[str | Path]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """All detections of some shards, and each shard's metadata."""
    tables, metadata = [], []
    for path in paths:
        metadata.append(read_metadata(path))
        tables.append(pq.read_table(path, schema=SCHEMA))
    table = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
    frame = pd.DataFrame(
        {
            "image_id": table["image_id"].to_numpy(),
            "category_id": table["category_id"].to_numpy(),
            "score": table["score"].to_numpy(),
        }
    )
    frame["bbox"] = list(np.asarray(table["bbox"].combine_chunks().flatten(), dtype=np.float32).reshape(-1, 4))
    seg = table["segmentation"].combine_chunks()
    frame["counts"] = seg.field("counts").to_numpy(zero_copy_only=False)
    frame["height"] = seg.field("height").to_numpy()
    frame["width"] = seg.field("width").to_numpy()
    return frame, metadata


def mask_sizes(path: str | Path) -> pd.DataFrame:
    """image_id, height, width of every mask of one file (reads no RLE)."""
    table = pq.read_table(path, columns=["image_id", "segmentation"], schema=SCHEMA)
    seg = table["segmentation"].combine_chunks()
    return pd.DataFrame({"image_id": table["image_id"].to_numpy(), "height": seg.field("height").to_numpy(),
                         "width": seg.field("width").to_numpy()})


def rle(row) -> dict:
    return {"size": [int(row.height), int(row.width)], "counts": row.counts}


def to_coco_results(frame: pd.DataFrame, iou_type: str | None = None) -> list[dict]:
    """COCO results (the list pycocotools' loadRes takes) from read()'s frame.

    iou_type "segm" leaves the box out and "bbox" the mask: given both, loadRes takes the
    box area as the area of a mask result, which moves masks between the small, medium
    and large buckets (detectron2 drops the box for the same reason).
    """
    results = []
    for row in frame.itertuples(index=False):
        result = {"image_id": int(row.image_id), "category_id": int(row.category_id), "score": float(row.score)}
        if iou_type != "segm":
            result["bbox"] = [float(v) for v in row.bbox]
        if iou_type != "bbox":
            result["segmentation"] = rle(row)
        results.append(result)
    return results


def covered_images(metadata: list[dict[str, Any]]) -> list[int]:
    """Image ids the shards were run on (skipped images excluded)."""
    skipped = {s["image_id"] for m in metadata for s in m.get("skipped_images", [])}
    return [i for m in metadata for i in m["image_ids"] if i not in skipped]
