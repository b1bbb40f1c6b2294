"""Shared fixtures: the real data in ../shared/data, and Snakemake runs in scratch folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def shared_data_dir() -> Path:
    return Path(os.environ.get("SEGSHIFT_SHARED_DATA") or REPO.parent / "shared" / "data").resolve()


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


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *args: str, configfile: Path | None = None, env: dict | None = None, check=False, timeout=900):
    """Run the repository's workflow in `workdir`; return the CompletedProcess (stdout+stderr in .stdout)."""
    cmd = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        *(["--configfile", str(configfile)] if configfile else []),
        *args,
    ]
    run_env = {**os.environ, **(env or {})}
    proc = subprocess.run(cmd, cwd=workdir, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}")
    return proc


@pytest.fixture
def yolo_model(yolo_weights) -> dict:
    return {
        "yolov8n_seg": {
            "backend": "yolo_seg_export",
            "weights": {"path": str(yolo_weights), "sha256": "831c989a2012e09783ec3a28438ca3e9523d5bed770fd4f76c107227b0a750f0"},
        }
    }


def load_test_config(shared_data) -> dict:
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    return json.loads(json.dumps(config).replace("${SEGSHIFT_SHARED_DATA:-../shared/data}", str(shared_data)))


@pytest.fixture(scope="session")
def pipeline(shared_data, tmp_path_factory):
    """config/test.yaml run once to the end, then the report; the folder it ran in."""
    work = tmp_path_factory.mktemp("pipeline")
    config = write_config(work / "test.yaml", load_test_config(shared_data))
    snakemake(work, "--cores", "2", configfile=config, check=True)
    snakemake(work, "--report", "results/report.html", configfile=config, check=True)
    return work, config
