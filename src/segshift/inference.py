"""One inference job: one model on one shard of one dataset, written to one Parquet file."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

import segshift
from segshift import backends, gpu, manifest, predictions, weights as weights_utils
from segshift.errors import SegshiftError
from segshift.images import DomainImages

log = logging.getLogger(__name__)


@dataclass
class BadImage:
    image_id: int
    file_name: str
    error: str


class ShardImages(Dataset):
    """The images of one shard as the domain shows them, decoded and preprocessed in loader workers.

    Each item is (image id, preprocessed image or BadImage, origin): origin says where the
    pixels came from ("file", "cache" or "rebuilt"), counted in the job's process since the
    loader's workers are other processes.
    """

    def __init__(self, rows: list[tuple[int, str, int, int]], images: DomainImages, preprocess):
        self.rows, self.images, self.preprocess = rows, images, preprocess

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        image_id, file_name, width, height = self.rows[i]
        try:
            image, origin = self.images.read(image_id, file_name, width, height)
        except (OSError, ValueError, SyntaxError) as e:
            return image_id, BadImage(image_id, file_name, f"{e.__class__.__name__}: {e}"), "unreadable"
        return image_id, self.preprocess(image), origin


def _as_list(batch):
    return batch


def batches_by_size(sizes: list[tuple[int, int]], batch_size: int) -> list[list[int]]:
    """Batches of images that share one size, in order of first appearance.

    Batched models pad images to the largest in the batch, which shifts border
    features; batching equal sizes only keeps every prediction what it would be
    one image at a time, whatever the batch size.
    """
    groups: dict[tuple[int, int], list[int]] = {}
    for i, size in enumerate(sizes):
        groups.setdefault(size, []).append(i)
    return [members[k : k + batch_size] for members in groups.values() for k in range(0, len(members), batch_size)]


@dataclass
class ShardJob:
    manifest: Path
    shard: int
    images_per_shard: int
    num_images: int  # images in this shard (fewer in a partial last shard)
    model: str
    backend: str
    settings: dict[str, Any]
    weights: Path | None
    weights_sha256: str | None  # pinned in the config; else the recorded download hash is used
    output: Path
    test_size: list[int] | None = None
    on_bad_image: str = "fail"
    batch_size: int = 4
    threads: int = 2
    device: str = "auto"  # auto: a free CUDA GPU when there is one, else the CPU
    domain: str | None = None
    corruption: dict | None = None  # {name, severity}: the images come from corrupted_shard
    corrupted_shard: Path | None = None
    extra_metadata: dict[str, Any] = field(default_factory=dict)


def shard_images(job: ShardJob) -> tuple[manifest.Manifest, list[tuple[int, str, int, int]]]:
    table = manifest.read(job.manifest)
    start = job.shard * job.images_per_shard
    rows = table.images.iloc[start : start + job.num_images]
    if len(rows) != job.num_images:
        raise SegshiftError(
            f"{job.manifest} has {len(table.images)} images, too few for shard {job.shard} of "
            f"{job.images_per_shard}; the manifest changed after the DAG was built: rerun snakemake"
        )
    return table, list(rows[["image_id", "file_name", "width", "height"]].itertuples(index=False, name=None))


@contextlib.contextmanager
def _device(requested: str, backend: str, settings: dict[str, Any]):
    """The torch device for this job, holding a GPU lease while it runs."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise SegshiftError("device cuda was asked for but torch sees no CUDA GPU; use device auto or cpu")
    if requested == "cpu" or not backends.uses_gpu(backend, settings):
        yield "cpu"
        return
    if not torch.cuda.is_available():
        # The documented fallback: the job runs, on the CPU, and says so (--resources gpu=N
        # only tells Snakemake how many GPU jobs to run at once; it finds no GPU for them).
        log.warning("no CUDA GPU is visible (torch %s, CUDA_VISIBLE_DEVICES=%s): the %s model runs on the CPU, "
                    "about 100x slower; install a CUDA build of torch or run on a GPU node",
                    torch.__version__, os.environ.get("CUDA_VISIBLE_DEVICES", "unset"), backend)
        yield "cpu"
        return
    with gpu.acquire(timeout=float(os.environ.get("SEGSHIFT_GPU_WAIT", 1800))) as lease:
        log.info("using GPU %s (cuda:%d)", lease.physical_id, lease.index)
        torch.cuda.set_device(lease.index)
        yield f"cuda:{lease.index}"


def _loader_workers(job: ShardJob, device: str) -> int:
    """Decoding workers: beside a GPU, or beside the light LiteRT model; a torch model on the CPU
    already keeps every thread of the job busy, and a worker would only take one from it."""
    if job.threads <= 1 or (device == "cpu" and job.backend not in backends.FIXED_INPUT):
        return 0
    return max(1, min(4, job.threads - 1))


def run_shard(job: ShardJob) -> dict[str, Any]:
    """Predict every image of the shard and write the Parquet file; return a summary."""
    table, rows = shard_images(job)
    weights_sha256 = None
    if job.weights is not None:
        # Checked before the backend loads it: a pickle runs code when loaded.
        weights_sha256 = weights_utils.verify(job.weights, job.weights_sha256, job.model)
    torch.set_num_threads(max(1, job.threads))
    with _device(job.device, job.backend, job.settings) as device:
        settings = dict(job.settings)
        resample_to = None
        if job.backend in backends.FIXED_INPUT:
            settings.setdefault("num_threads", max(1, job.threads))
            # A fixed input size: the test size is the resolution the image is resampled to.
            resample_to = job.test_size
        model = backends.build(job.backend, settings=settings, weights=job.weights, device=device,
                               test_size=None if resample_to else job.test_size, model=job.model)
        read = DomainImages(table.image_dir, job.corruption, job.corrupted_shard, resample_to)
        loader = DataLoader(
            ShardImages(rows, read, model.preprocess),
            batch_sampler=batches_by_size([(w, h) for _, _, w, h in rows], job.batch_size),
            num_workers=_loader_workers(job, device),
            pin_memory=device.startswith("cuda"),
            collate_fn=_as_list,
        )
        results, skipped, origins = [], [], Counter()
        start = time.perf_counter()
        with torch.inference_mode(), tqdm(total=len(rows), unit="img", file=sys.stderr, mininterval=5,
                                          desc=f"{job.model} {job.output.name}") as bar:
            for batch in loader:
                good = []
                for image_id, item, origin in batch:
                    origins[origin] += 1
                    if isinstance(item, BadImage):
                        if job.on_bad_image != "skip":
                            raise SegshiftError(
                                f"image {table.image_dir / item.file_name} cannot be read ({item.error}); "
                                "replace the file, or set on_bad_image: skip to record it and go on"
                            )
                        log.warning("skipping unreadable image %s: %s", item.file_name, item.error)
                        skipped.append(item.__dict__)
                    else:
                        good.append((image_id, item))
                if good:
                    outputs = model.predict([item for _, item in good])
                    results += [(image_id, out) for (image_id, _), out in zip(good, outputs)]
                bar.update(len(batch))
        seconds = time.perf_counter() - start
    if job.corruption:
        log.info("corrupted-image cache %s: %d of %d images read from it, %d rebuilt from the clean image",
                 job.corrupted_shard, origins["cache"], len(rows), origins["rebuilt"])
    order = {image_id: k for k, (image_id, *_) in enumerate(rows)}
    results.sort(key=lambda r: order[r[0]])
    metadata = {
        "dataset": table.dataset,
        "domain": job.domain,
        "corruption": job.corruption,
        "resampled_to": resample_to,
        "model": job.model,
        "backend": job.backend,
        "backend_version": model.version,
        "settings": model.settings,
        "weights_sha256": weights_sha256,
        "shard": job.shard,
        "images_per_shard": job.images_per_shard,
        "image_ids": [r[0] for r in rows],
        "skipped_images": skipped,
        "device": device,
        "segshift_version": segshift.__version__,
        **job.extra_metadata,
    }
    predictions.write(job.output, results, metadata)
    summary = {
        "images": len(rows),
        "skipped": len(skipped),
        "detections": sum(len(out) for _, out in results),
        "from_cache": origins["cache"],
        "rebuilt": origins["rebuilt"],
        "seconds": seconds,
        "images_per_second": len(rows) / seconds if seconds > 0 else float("nan"),
    }
    log.info("%s: %s", job.output, summary)
    return summary
