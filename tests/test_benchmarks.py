"""The benchmark commands still run and their equality checks hold, on small inputs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO


def bench(*args: str) -> str:
    proc = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def test_cityscapes_benchmark_agrees_with_the_official_evaluator():
    out = bench("benchmarks/cityscapes_eval.py", "--frames", "2", "--predictions", "30", "--repeats", "1")
    assert "AP and AP50 per class equal" in out and "ratio" in out


def test_coco_benchmark_agrees_with_pycocotools():
    out = bench("benchmarks/coco_eval.py", "--images", "40", "--detections", "30", "--repeats", "1")
    assert out.count("summary stats equal") == 4


def test_yolo_inference_benchmark_finds_the_same_detections(yolo_weights):
    out = bench("benchmarks/inference.py", "yolo", "--images", "4", "--repeats", "1")
    assert "same classes" in out and "smallest mask IoU 1.0000" in out


@pytest.mark.workflow
def test_dag_benchmark_plans_the_full_experiment():
    out = bench("benchmarks/dag.py", "--repeats", "1")
    assert "whole DAG (" in out and "no-op rerun" in out


def test_dag_benchmark_suite_config_is_valid_and_has_152_domains(tmp_path):
    """Its planning time is measured by hand (benchmarks/README.md); here only its config is checked."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import dag
    from segshift import config as segshift_config

    config = segshift_config.load(dag.setup(tmp_path, suite=True, images_per_shard=500))
    assert len(config["domains"]) == 152 and len(config["models"]) == 2


def test_corruption_benchmark_runs(yolo_weights):
    pytest.importorskip("imagecorruptions")
    out = bench("benchmarks/corruptions.py", "--names", "fog", "jpeg_compression", "--images", "2", "--repeats", "1")
    assert "clean domain" in out and "\nfog " in out and "jpeg_compression" in out


def test_bootstrap_benchmark_agrees_with_the_evaluators_on_resampled_lists():
    out = bench("benchmarks/bootstrap.py", "--images", "40", "--detections", "30", "--frames", "2", "--predictions", "30",
                "--resamples", "50", "--reference-resamples", "2")
    assert out.count("ratio (reference / segshift)") == 3 and "equal to pycocotools on 2 resamples" in out


def test_across_models_benchmark_agrees_with_scipy():
    out = bench("benchmarks/across_models.py", "--cells", "4", "--resamples", "20", "--models", "4", "--reference-cells",
                "2", "--repeats", "1")
    assert "Spearman and Kendall equal to scipy to 1e-12" in out and "equal to scipy's lines to 1e-12" in out


def test_real_shifts_benchmark_runs(shared_data):
    out = bench("benchmarks/real_shifts.py", "--frames", "8", "--images", "20", "--detections", "10", "--resamples", "20",
                "--slices", "2")
    assert "of the hotcoco job" in out and "Cityscapes reader" in out and "BDD100K reader" in out
    assert "ACDC reader" in out
