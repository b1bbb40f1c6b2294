"""Shared fixtures: the real data in ../shared/data, and Snakemake runs in scratch folders."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def shared_data_dir() -> Path:
    return Path(os.environ.get("SEGSHIFT_SHARED_DATA") or REPO.parent / "shared" / "data").resolve()


# config/test.yaml names the data as ${SEGSHIFT_SHARED_DATA:-../shared/data}: set, every workflow
# run of the suite (in folders of its own) finds it, as a run taken over from .ci/run did.
os.environ["SEGSHIFT_SHARED_DATA"] = str(shared_data_dir())


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real test data (COCO val2017 subset, a Cityscapes frame, YOLOv8n-seg); skip where absent."""
    root = shared_data_dir()
    if not (root / "coco" / "annotations" / "instances_val2017.json").is_file():
        pytest.skip(f"real test data not found at {root}; set SEGSHIFT_SHARED_DATA to ../shared/data")
    return root


@pytest.fixture(scope="session")
def yolo_weights(shared_data) -> Path:
    path = shared_data / "weights" / "yolov8n-seg_int8.tflite"
    if not path.is_file():
        pytest.skip(f"YOLOv8n-seg export not found at {path}")
    return path


@pytest.fixture(scope="session")
def coco_run(shared_data, yolo_weights, tmp_path_factory):
    """The real YOLOv8n-seg export's predictions on the 79 real COCO images, as two shards (one
    session fixture: the evaluation, bootstrap and diagnostics tests share it)."""
    from segshift import inference
    from segshift.datasets import coco as coco_data

    out = tmp_path_factory.mktemp("coco_run")
    coco_data.prepare(shared_data / "coco/annotations/instances_val2017.json", shared_data / "coco/val2017",
                      out / "manifest.parquet", out / "gt.json", dataset="coco_val2017")
    shards = []
    for shard, n in ((0, 40), (1, 39)):
        job = inference.ShardJob(
            manifest=out / "manifest.parquet", shard=shard, images_per_shard=40, num_images=n, model="yolov8n_seg",
            backend="yolo_seg_export", settings={}, weights=yolo_weights, weights_sha256=None,
            output=out / f"shard-{shard}.parquet", threads=2,
        )
        inference.run_shard(job)
        shards.append(job.output)
    return shards, out / "gt.json"


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *args: str, configfile: Path | None = None, env: dict | None = None, check=False, timeout=900):
    """Run the repository's workflow in `workdir`; return the CompletedProcess (stdout+stderr in .stdout).

    Past `timeout` seconds: one line saying which jobs were still running (not a traceback)."""
    cmd = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        *(["--configfile", str(configfile)] if configfile else []),
        *args,
    ]
    run_env = {**os.environ, **(env or {})}
    try:
        proc = subprocess.run(cmd, cwd=workdir, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        output = e.output.decode() if isinstance(e.output, bytes) else (e.output or "")
        pytest.fail(f"snakemake {' '.join(args)} ran past {timeout} s in {workdir}; still running: "
                    f"{', '.join(running_jobs(output)) or 'no job (DAG building)'}", pytrace=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}")
    return proc


def running_jobs(output: str) -> list[str]:
    """The jobs a Snakemake log has started and not finished: "rule (wildcards)"."""
    started, pending = {}, None
    for line in output.splitlines():
        line = line.strip()
        head = re.match(r"(?:local)?(?:rule|checkpoint) (\w+):$", line)
        if head:
            pending = {"rule": head.group(1), "wildcards": ""}
        elif pending is not None and line.startswith("wildcards:"):
            pending["wildcards"] = line.split(":", 1)[1].strip()
        elif pending is not None and line.startswith("jobid:"):
            started[line.split(":", 1)[1].strip()] = pending
            pending = None
        finished = re.match(r"Finished jobid: (\d+)", line)
        if finished:
            started.pop(finished.group(1), None)
    return [f"{j['rule']} ({j['wildcards']})" if j["wildcards"] else j["rule"] for j in started.values()]


@pytest.fixture
def yolo_model(yolo_weights) -> dict:
    return {
        "yolov8n_seg": {
            "backend": "yolo_seg_export",
            "weights": {"path": str(yolo_weights), "sha256": "831c989a2012e09783ec3a28438ca3e9523d5bed770fd4f76c107227b0a750f0"},
        }
    }


# The test configuration's run takes about 2 minutes on a quiet 2-core machine: the limit leaves room
# for a machine several times slower.
PIPELINE_TIMEOUT = 1500


@pytest.fixture(scope="session")
def pipeline(shared_data, tmp_path_factory):
    """config/test.yaml run once to the end, then the report; the folder it ran in.

    Where SEGSHIFT_TEST_RUN names a folder in which the README's quick run has already run
    (`.ci/run` does it, with the runtime install only), its outputs and Snakemake's records of
    them are taken over and completed, so the suite does not run the same DAG a second time.
    """
    work = tmp_path_factory.mktemp("pipeline")
    config = work / "config" / "test.yaml"
    config.parent.mkdir()
    shutil.copy2(REPO / "config" / "test.yaml", config)
    adopted = os.environ.get("SEGSHIFT_TEST_RUN")
    if adopted:
        for name in ("resources", "results", "logs", ".snakemake"):
            if (Path(adopted) / name).exists():
                shutil.copytree(Path(adopted) / name, work / name, symlinks=True,
                                ignore=shutil.ignore_patterns("locks", "incomplete", "log"))
    proc = snakemake(work, "--cores", "2", configfile=config, check=True, timeout=PIPELINE_TIMEOUT)
    if adopted and "Nothing to be done" not in proc.stdout:
        warnings.warn(f"the run taken over from SEGSHIFT_TEST_RUN={adopted} was not complete; its missing jobs ran here")
    (work / "results/report.html").unlink(missing_ok=True)
    report = snakemake(work, "--report", "results/report.html", configfile=config, check=True)
    (work / "report.log").write_text(report.stdout)  # what a user sees while the report is built
    return work, config
