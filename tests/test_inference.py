"""Inference jobs: sharding, atomic output under SIGKILL, unreadable images, and GPU placement."""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import REPO, snakemake, write_config
from segshift import gpu, inference, manifest, predictions
from segshift.datasets import coco
from segshift.errors import SegshiftError


@pytest.fixture
def coco_copy(shared_data, tmp_path) -> Path:
    """A writable copy of the real COCO subset (to break an image in)."""
    root = tmp_path / "coco"
    shutil.copytree(shared_data / "coco", root)
    return root


def prepare(root: Path, out: Path) -> Path:
    coco.prepare(root / "annotations" / "instances_val2017.json", root / "val2017", out / "manifest.parquet", out / "gt.json",
                 dataset="coco_val2017")
    return out / "manifest.parquet"


def yolo_job(manifest_path: Path, output: Path, yolo_weights: Path, **kwargs) -> inference.ShardJob:
    fields = dict(
        manifest=manifest_path, shard=0, images_per_shard=10, num_images=10, model="yolov8n_seg",
        backend="yolo_seg_export", settings={}, weights=yolo_weights, weights_sha256=None, output=output, threads=2,
    )
    fields.update(kwargs)
    return inference.ShardJob(**fields)


def test_batches_group_equal_sizes_and_cover_every_image():
    sizes = [(640, 480), (480, 640), (640, 480), (640, 480), (500, 375), (480, 640)]
    batches = inference.batches_by_size(sizes, 2)
    assert batches == [[0, 2], [3], [1, 5], [4]]
    assert sorted(i for b in batches for i in b) == list(range(len(sizes)))


def test_shard_job_covers_its_images_in_manifest_order(coco_copy, yolo_weights, tmp_path):
    path = prepare(coco_copy, tmp_path)
    job = yolo_job(path, tmp_path / "s1.parquet", yolo_weights, shard=1, images_per_shard=6, num_images=6, batch_size=3)
    summary = inference.run_shard(job)
    meta = predictions.read_metadata(job.output)
    expected = manifest.read(path).images["image_id"].tolist()[6:12]
    assert meta["image_ids"] == expected and summary["images"] == 6
    frame, _ = predictions.read([job.output])
    assert list(dict.fromkeys(frame["image_id"])) == [i for i in expected if i in set(frame["image_id"])]
    assert meta["backend"] == "yolo_seg_export" and meta["weights_sha256"].startswith("831c989a")
    assert meta["settings"]["score_floor"] == 0.001 and meta["dataset"] == "coco_val2017"
    assert frame.groupby("image_id").size().max() <= 100


def test_a_wrong_weights_checksum_stops_before_loading(coco_copy, yolo_weights, tmp_path):
    path = prepare(coco_copy, tmp_path)
    job = yolo_job(path, tmp_path / "s.parquet", yolo_weights, weights_sha256="deadbeef" * 8)
    with pytest.raises(SegshiftError, match="expected deadbeef"):
        inference.run_shard(job)
    assert not job.output.exists()


def test_an_unreadable_image_stops_the_job_with_its_name(coco_copy, yolo_weights, tmp_path):
    path = prepare(coco_copy, tmp_path)
    victim = coco_copy / "val2017" / manifest.read(path).images["file_name"][3]
    victim.write_bytes(victim.read_bytes()[:2000])  # a truncated JPEG
    job = yolo_job(path, tmp_path / "s.parquet", yolo_weights)
    with pytest.raises(SegshiftError) as e:
        inference.run_shard(job)
    assert str(victim) in str(e.value) and "on_bad_image: skip" in str(e.value)
    assert not job.output.exists()


def test_skip_records_the_unreadable_image(coco_copy, yolo_weights, tmp_path):
    path = prepare(coco_copy, tmp_path)
    images = manifest.read(path).images
    victim = coco_copy / "val2017" / images["file_name"][3]
    victim.write_bytes(b"this is not a jpeg")
    job = yolo_job(path, tmp_path / "s.parquet", yolo_weights, on_bad_image="skip")
    assert inference.run_shard(job)["skipped"] == 1
    meta = predictions.read_metadata(job.output)
    assert [s["file_name"] for s in meta["skipped_images"]] == [images["file_name"][3]]
    assert images["image_id"][3] not in predictions.covered_images([meta])
    frame, _ = predictions.read([job.output])
    assert images["image_id"][3] not in set(frame["image_id"])


def descendants(pid: int) -> list[int]:
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.workflow
def test_sigkill_mid_shard_leaves_no_file_and_the_rerun_gives_the_uninterrupted_numbers(shared_data, yolo_model, pipeline, tmp_path):
    config = write_config(
        tmp_path / "c.yaml",
        {"datasets": {"coco_val2017": {"kind": "coco", "root": str(shared_data / "coco")}}, "images_per_shard": 79, "models": yolo_model},
    )
    snakemake(tmp_path, "--cores", "1", "resources/datasets/coco_val2017/manifest.parquet", configfile=config, check=True)
    target = "results/predictions/coco_val2017/yolov8n_seg/shard-00000-of-00001.parquet"
    log = tmp_path / "logs/infer/coco_val2017/yolov8n_seg/shard-00000-of-00001.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(config), "--cores", "1", target],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline and "img/s" not in (log.read_text() if log.exists() else ""):
            time.sleep(0.2)  # wait until the job is predicting
        jobs = [p for p in descendants(proc.pid) if "infer.py" in cmdline(p)]
        assert jobs, "the inference job did not start"
        for pid in jobs:
            os.kill(pid, signal.SIGKILL)
        assert proc.wait(timeout=120) != 0
    finally:
        proc.kill()
    out_dir = tmp_path / "results/predictions/coco_val2017/yolov8n_seg"
    assert not (tmp_path / target).exists()
    assert not out_dir.exists() or list(out_dir.iterdir()) == []

    snakemake(tmp_path, "--cores", "1", target, configfile=config, check=True)
    assert pq.ParquetFile(tmp_path / target).metadata.num_rows > 0
    assert [p.name for p in out_dir.iterdir()] == ["shard-00000-of-00001.parquet"]
    assert len(predictions.read_metadata(tmp_path / target)["image_ids"]) == 79

    # One shard of 79 here, two of 40 in the uninterrupted run: the same numbers.
    metric = "results/metrics/coco_val2017/yolov8n_seg/coco.json"
    snakemake(tmp_path, "--cores", "1", metric, configfile=config, check=True)
    here, there = (json.loads((w / metric).read_text())["results"] for w in (tmp_path, pipeline[0]))
    assert here == there


# GPU placement ---------------------------------------------------------------------------------


def _hold_gpu(lock_dir: str, gpus: list[str], queue, hold: float):
    os.environ["SEGSHIFT_GPU_LOCK_DIR"] = lock_dir
    with gpu.acquire(gpus, timeout=30, poll=0.05) as lease:
        queue.put((os.getpid(), lease.physical_id, lease.index))
        time.sleep(hold)


def test_concurrent_jobs_get_distinct_gpus(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_hold_gpu, args=(str(tmp_path), ["0", "1", "2"], queue, 2.0)) for _ in range(3)]
    for p in procs:
        p.start()
    got = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sorted(g[1] for g in got) == ["0", "1", "2"]
    assert sorted(g[2] for g in got) == [0, 1, 2]


def test_a_killed_job_frees_its_gpu(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    holder = ctx.Process(target=_hold_gpu, args=(str(tmp_path), ["5"], queue, 600.0))
    holder.start()
    _, physical, _ = queue.get(timeout=60)
    assert physical == "5"
    os.environ["SEGSHIFT_GPU_LOCK_DIR"] = str(tmp_path)
    try:
        with pytest.raises(SegshiftError, match="stayed taken"):
            gpu.acquire(["5"], timeout=0.5, poll=0.05)
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(timeout=30)
        with gpu.acquire(["5"], timeout=10, poll=0.05) as lease:
            assert lease.physical_id == "5"
    finally:
        del os.environ["SEGSHIFT_GPU_LOCK_DIR"]


def test_visible_gpus_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    assert gpu.visible_gpus() == ["3", "1"]  # SLURM's allocation: physical ids, in CUDA's order
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert gpu.visible_gpus() == []
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert gpu.visible_gpus(count=2) == ["0", "1"]


def test_a_gpu_model_without_a_gpu_runs_on_the_cpu_and_says_so(coco_copy, tmp_path, caplog):
    """What --resources gpu=2 does on a machine without a GPU: the documented CPU fallback, not a hang."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    table = prepare(coco_copy, tmp_path)
    job = inference.ShardJob(
        manifest=table, shard=0, images_per_shard=1, num_images=1, model="tv", backend="torchvision",
        settings={"architecture": "maskrcnn_resnet50_fpn", "score_floor": 0.5}, weights=None, weights_sha256=None,
        output=tmp_path / "tv.parquet", test_size=[160, 256], threads=2,
    )
    with caplog.at_level(logging.WARNING):
        inference.run_shard(job)
    assert "no CUDA GPU is visible" in caplog.text and "runs on the CPU" in caplog.text
    assert predictions.read_metadata(job.output)["device"] == "cpu"
    with pytest.raises(SegshiftError, match="torch sees no CUDA GPU"):
        inference.run_shard(dataclasses.replace(job, device="cuda", output=tmp_path / "cuda.parquet"))
    assert not (tmp_path / "cuda.parquet").exists()
