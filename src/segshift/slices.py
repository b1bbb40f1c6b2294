"""Slices: a domain cut by a field of its manifest (city, sequence, condition, a coco_json image key),
with the same-ruler mask AP of each slice and its interval.

A slice's AP re-accumulates the metric stage's stored matching (COCO's, per image: see
bootstrap.CocoMatches) over the slice's images alone, which is the same ruler run on those images;
no IoU is computed again and no inference is read.

The interval is the evaluation.bootstrap method's (BCa by default) over the slice's images (the same seed keys the same
draws for every model of a domain). It conditions on the model, the ground truth and the slice's
definition, and treats the slice's images as independent draws from the slice's population: it
does not cover the dependence between frames of one sequence (slices resample images, not clusters),
nor the choice of which slices exist.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from segshift.errors import SegshiftError
from segshift.io import atomic_path

METRICS = ("AP", "AP50", "AP75")
COLUMNS = ["domain", "model", "field", "slice", "images", "metric", "value", "ci_low", "ci_high"]
# COCO image-record keys that are not slice fields.
COCO_IMAGE_KEYS = {"id", "file_name", "width", "height", "license", "coco_url", "flickr_url", "date_captured"}
# Fields each kind's manifest carries; coco_json: the extra keys of its image records.
KIND_FIELDS = {"cityscapes": ("city", "sequence"), "coco": (), "bdd100k": (),
               "acdc": ("condition", "sequence")}


def write_matches(path: str | Path, matches, images: np.ndarray, names: list[str]) -> None:
    """The same ruler's mask matching, as the slices read it."""
    meta = json.dumps({"classes": names})
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, images=images, offsets=matches.offsets, det_image=matches.det_image,
                            group_end=matches.group_end, status=matches.status, npig=matches.npig,
                            meta=np.frombuffer(meta.encode(), dtype=np.uint8))


def read_matches(path: str | Path):
    """(bootstrap.CocoMatches, image ids, class names) as write_matches stored them."""
    from segshift.evaluation import bootstrap  # numba: not at start-up, where config.check reads this module

    try:
        with np.load(path) as f:
            matches = bootstrap.CocoMatches(f["offsets"], f["det_image"], f["group_end"], f["status"], f["npig"])
            return matches, f["images"], json.loads(f["meta"].tobytes())["classes"]
    except (OSError, ValueError, KeyError) as e:
        raise SegshiftError(f"matches {path} cannot be read ({e}); delete it and rerun its same_ruler_metrics job") from None


def scores(matches, images: np.ndarray, names: list[str], members: np.ndarray,
           resampling: dict | None) -> dict[str, tuple[float, float, float]]:
    """(value, ci_low, ci_high) of each of METRICS on the images flagged in `members` (bool, per image)."""
    from segshift.evaluation import bootstrap, intervals, resampling as resampling_plan

    point = members.astype(np.int32)[None]
    values = bootstrap.coco_numbers(bootstrap.coco_resampled(matches, point), names)
    lows = highs = {m: np.nan for m in METRICS}
    n = int(members.sum())
    if resampling and resampling["resamples"] and n >= resampling.get("min_images", 0):
        positions = np.flatnonzero(members)
        plan = resampling_plan.plan(images[positions], resampling)  # images: a slice is not cluster-resampled yet
        counts = np.zeros((len(plan.counts), len(images)), dtype=np.int32)
        counts[:, positions] = plan.counts
        resampled = plan.stored(bootstrap.coco_numbers(bootstrap.coco_resampled(matches, counts), names))
        setting = intervals.Setting.of(resampling)
        bounds = {m: intervals.interval(resampled[f"summary/{m}"], setting) for m in METRICS}
        lows, highs = {m: b[0] for m, b in bounds.items()}, {m: b[1] for m, b in bounds.items()}
    return {m: (float(values[f"summary/{m}"][0]), lows[m], highs[m]) for m in METRICS}


def table(match_files: dict[str, str | Path], manifest_images: pd.DataFrame, fields: list[str], *, domain: str,
          resampling: dict | None) -> pd.DataFrame:
    """Tidy rows (COLUMNS) of every model, field and slice of one domain."""
    rows = []
    for model, path in match_files.items():
        matches, images, names = read_matches(path)
        values = manifest_images.set_index("image_id").reindex(images)
        for field in fields:
            if field not in values.columns:
                raise SegshiftError(f"slices.{domain}: the manifest of {domain} has no field {field!r}; "
                                    f"its fields: {', '.join(c for c in values.columns if c not in ('file_name', 'width', 'height')) or 'none'}")
            column = values[field]
            for name in sorted(column.dropna().unique()):
                members = (column == name).to_numpy()
                for metric, (value, low, high) in scores(matches, images, names, members, resampling).items():
                    rows.append((domain, model, field, name, int(members.sum()), metric, value, low, high))
    return pd.DataFrame(rows, columns=COLUMNS)


def check(config: dict, source: str = "config") -> None:
    """Every slice names a domain and a field its manifest will have (known from its kind before any job)."""
    for domain, fields in (config.get("slices") or {}).items():
        if domain not in config["domains"]:
            raise SegshiftError(f"{source}: slices names {domain!r}, which is not a domain "
                                f"(domains: {', '.join(config['domains'])})")
        dataset = config["datasets"][config["domains"][domain]["dataset"]]
        have = manifest_fields(dataset)
        for field in fields:
            if field not in have:
                raise SegshiftError(f"{source}: slices.{domain} names field {field!r}, which the manifest of "
                                    f"{domain} ({dataset['kind']}) does not have; its fields: {', '.join(have) or 'none'}")


def manifest_fields(dataset: dict) -> list[str]:
    if dataset["kind"] in KIND_FIELDS:
        return list(KIND_FIELDS[dataset["kind"]])
    from segshift.io import read_json

    images = read_json(dataset["annotations"], what="COCO annotation file").get("images") or []
    return sorted({k for im in images for k in im} - COCO_IMAGE_KEYS)


def layout(tidy: pd.DataFrame, labels: dict[str, str], domain: str, resampling: dict | None):
    """The Markdown/HTML layout: a row per (field, slice), a column per model and metric."""
    from segshift.tables.layout import Layout, estimate

    models = [m for m in labels if m in set(tidy["model"])]
    header = ["field", "slice", "images"] + [f"{labels[m]} mask {metric}" for m in models for metric in METRICS]
    by = tidy.set_index(["field", "slice", "model", "metric"])
    rows = []
    for (field, name), group in tidy.groupby(["field", "slice"], sort=False):
        row = [field, name, int(group["images"].iloc[0])]
        for m in models:
            for metric in METRICS:
                r = by.loc[(field, name, m, metric)]
                row.append(estimate(r["value"], (r["ci_low"], r["ci_high"])))
        rows.append(row)
    notes = ["Same ruler (COCO-style mask AP on the classes the domain shares with the source), on each slice's images alone."]
    if resampling and resampling.get("resamples"):
        notes.append(f"[low, high]: {100 * resampling['confidence']:.0f}% percentile bootstrap over the slice's images "
                     f"({resampling['resamples']} resamples; none below {resampling.get('min_images', 0)} images); it "
                     "treats the images as independent (frames of one sequence are not) and holds the model and "
                     "ground truth fixed.")
    return Layout(f"Slices of {domain}", header, rows, notes, numeric_from=3)
