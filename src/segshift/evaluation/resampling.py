"""What a metric job resamples: count vectors over a domain's images, drawn by image or by cluster.

A resampled number is one array of rows, in the order of `Plan.counts`:

- B bootstrap resamples (each row draws clusters with replacement; an image counts as often as its
  cluster was drawn),
- the estimate (every image counted once: the engine's full evaluation),
- one leave-one-out value per jackknife group, for BCa's acceleration.

Every derived number (a class mean, mPC, a paired difference) is computed row by row on these
arrays, so it carries its own resamples, estimate and jackknife values.

The jackknife leaves out one cluster at a time where there are at most `jackknife_groups`
clusters, and otherwise one of `jackknife_groups` random groups of clusters (a grouped jackknife:
it estimates the same skewness, with G rows instead of n; at B = 1000 and G = 100 it adds a
tenth to the engine's time, where a jackknife over COCO's 5,000 images would add five times it).

The generator is keyed by the seed and the sorted image ids, so every model (and every
corrupted or resized variant of a domain, which keeps its images' ids) gets the same draws:
comparisons are paired. With one image per cluster the draws are those of an image bootstrap.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np

from segshift.errors import SegshiftError

# Cityscapes names a frame <city>_<sequence>_<frame>_leftImg8bit.png (foggy and corrupted copies keep it).
_CITYSCAPES_NAME = re.compile(r"^(?P<city>[a-z]+(?:_[a-z]+)*)_(?P<sequence>\d{6})_(?P<frame>\d{6})_")


@dataclass
class Plan:
    """The count vectors of one metric job and where each kind of row sits."""

    counts: np.ndarray  # (B + 1 + J [+ Jimg], images) int32
    resamples: int  # B
    jackknife: int  # J: leave-one-group-out rows after the estimate
    image_jackknife: int  # rows after those: image-level groups, for the design effect only (not stored)
    clusters: int  # number of clusters (the images when resampling images)

    def stored(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The rows a metric job writes: resamples, estimate, cluster jackknife."""
        end = self.resamples + 1 + self.jackknife
        return {k: np.asarray(v)[:end] for k, v in values.items()}

    def design_effect(self, values: np.ndarray) -> float | None:
        """Clustered standard error over image-level standard error, both from grouped jackknives
        (one method on both sides, so their ratio is the clustering's effect alone); None without clusters."""
        if not self.image_jackknife:
            return None
        start = self.resamples + 1
        clustered = jackknife_se(values[start:start + self.jackknife])
        image = jackknife_se(values[start + self.jackknife:])
        return float(clustered / image) if image > 0 else None


def jackknife_se(values: np.ndarray) -> float:
    """The (grouped) jackknife standard error, NaN groups left out."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    g = len(v)
    return float(np.sqrt((g - 1) / g * np.sum((v - v.mean()) ** 2))) if g > 1 else float("nan")


def _key(ids: np.ndarray) -> int:
    return int.from_bytes(hashlib.sha256(ids.tobytes()).digest()[:8], "little")


def draws(image_ids, resamples: int, seed: int, clusters=None) -> np.ndarray:
    """(resamples, images) counts in sorted image-id order. clusters: a label per sorted image (None:
    each image its own cluster); each row draws as many clusters as there are, with replacement."""
    ids = np.unique(np.asarray(image_ids, dtype=np.int64))
    of_image = _cluster_index(clusters, len(ids))
    rng = np.random.default_rng([int(seed), _key(ids)])
    u = int(of_image.max()) + 1 if len(ids) else 0
    counts = np.zeros((resamples, len(ids)), dtype=np.int32)
    for b in range(resamples):
        counts[b] = np.bincount(rng.integers(0, u, u), minlength=u)[of_image]
    return counts


def _cluster_index(clusters, n: int) -> np.ndarray:
    """Each image's cluster as 0..U-1, numbered in order of first appearance (so singletons number as images)."""
    if clusters is None:
        return np.arange(n)
    labels = list(clusters)
    if len(labels) != n:
        raise ValueError(f"{len(labels)} cluster labels for {n} images")
    first: dict = {}
    return np.array([first.setdefault(label, len(first)) for label in labels], dtype=np.int64)


def jackknife_groups(units: int, groups: int, seed: int, key: int) -> np.ndarray:
    """Each unit's jackknife group: itself where units <= groups, else a random near-equal partition."""
    if units <= groups:
        return np.arange(units)
    rng = np.random.default_rng([int(seed), key, 1])
    return rng.permutation(units) % groups


def _leave_one_out(of_unit: np.ndarray, group: np.ndarray) -> np.ndarray:
    """(groups, images) all-ones counts with one group's images at 0."""
    of_image = group[of_unit]
    rows = np.ones((int(group.max()) + 1, len(of_unit)), dtype=np.int32)
    rows[of_image, np.arange(len(of_unit))] = 0
    return rows


def plan(image_ids, resampling: dict, clusters=None) -> Plan:
    """The count vectors of a metric job (`resampling`: the evaluation.bootstrap settings)."""
    ids = np.unique(np.asarray(image_ids, dtype=np.int64))
    B, seed = int(resampling["resamples"]), int(resampling["seed"])
    G = int(resampling.get("jackknife_groups", 100))
    of_unit = _cluster_index(clusters, len(ids))
    units = int(of_unit.max()) + 1 if len(ids) else 0
    key = _key(ids)
    parts = [draws(ids, B, seed, clusters), np.ones((1, len(ids)), np.int32),
             _leave_one_out(of_unit, jackknife_groups(units, G, seed, key))]
    clustered = units < len(ids)
    if clustered:  # the image-level jackknife the design effect compares with
        parts.append(_leave_one_out(np.arange(len(ids)), jackknife_groups(len(ids), G, seed, key)))
    return Plan(np.concatenate(parts), B, len(parts[2]), len(parts[3]) if clustered else 0, units)


def domain_settings(bootstrap: dict, kind: str) -> dict:
    """evaluation.bootstrap for one domain: cluster_by resolved for its dataset kind. Keys sorted: Snakemake
    compares params as written, and a config that names a key reorders the defaults around it."""
    out = {**bootstrap, "cluster_by": list((bootstrap.get("cluster_by") or {}).get(kind, []))}
    return dict(sorted(out.items()))


def cluster_labels(ground_truth: dict, image_ids, fields: list[str], where: str) -> list | None:
    """A cluster label per sorted image id: the tuple of the image records' `fields` (None: no fields,
    each image its own cluster). A Cityscapes file name gives city and sequence where the record has none."""
    if not fields:
        return None
    records = {im["id"]: im for im in ground_truth["images"]}
    out = []
    for image_id in sorted(set(int(i) for i in image_ids)):
        record = records[image_id]
        label = []
        for field in fields:
            if field in record:
                label.append(record[field])
                continue
            parsed = _CITYSCAPES_NAME.match(PurePath(str(record.get("file_name", ""))).name)
            if parsed is None or field not in parsed.groupdict():
                raise SegshiftError(
                    f"{where}: image {record.get('file_name', image_id)} has no field {field!r} to cluster by; "
                    "name fields its image records have in evaluation.bootstrap.cluster_by (or [] to resample images)")
            label.append(parsed[field])
        out.append(tuple(label))
    return out
