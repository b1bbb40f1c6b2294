"""The test config on a real SLURM cluster through profiles/slurm, with a job cancelled mid-shard.

Needs a running cluster: `tests/slurm/cluster.sh install && tests/slurm/cluster.sh start`
(.ci/run does this). The profile is used as shipped; only the sizes and the partition are
overridden on the command line to fit a one-node test cluster.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, write_config
from segshift import predictions

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

SMALL_CLUSTER = [
    "--default-resources", "slurm_partition=debug", "runtime=30", "mem_mb=1000", "cpus_per_task=1",
    "--set-resources", "infer:cpus_per_task=2", "infer:mem_mb=4000", "cityscapes_metrics:cpus_per_task=2",
    "cityscapes_metrics:mem_mb=4000", "qualitative:mem_mb=4000",
    "--set-threads", "infer=2", "cityscapes_metrics=2",
    "--slurm-no-account",
    # The test cluster keeps no accounting database: follow jobs with squeue (MinJobAge=3600).
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "1",
]


@pytest.fixture(scope="module")
def cluster():
    if shutil.which("sinfo") is None:
        pytest.skip("SLURM is not installed: run tests/slurm/cluster.sh install && tests/slurm/cluster.sh start")
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        pytest.skip(f"no SLURM cluster answers ({proc.stderr.strip()[:200]}): run tests/slurm/cluster.sh start")


TABLES = ("coco_metrics", "cityscapes_metrics", "transfer_gap", "transfer_matrix")


def slurm_command(work: Path, config: Path, *args: str) -> list[str]:
    # The tables compared below, not the figures and diagnostics: those add jobs, not scheduling
    # cases (as the corruptions would).
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
        "--configfile", str(config), "--profile", str(REPO / "profiles" / "slurm"), *SMALL_CLUSTER,
        *args, *[f"results/tables/{t}.csv" for t in TABLES],
    ]


def squeue(job_ids=None) -> list[tuple[str, str, str]]:
    """(job id, comment, state) of the cluster's jobs, finished ones included."""
    out = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%k|%T"], capture_output=True, text=True, check=True)
    rows = [tuple(line.split("|", 2)) for line in out.stdout.splitlines() if line]
    return [r for r in rows if job_ids is None or r[0] in job_ids]


def test_test_config_on_slurm_survives_a_cancelled_job_and_equals_the_local_run(cluster, pipeline, tmp_path):
    local_work, local_config = pipeline
    work = tmp_path / "slurm"
    work.mkdir()
    # One model on the two clean domains (the second model, the corruptions and the second test
    # size add jobs, not scheduling cases).
    small = yaml.safe_load(local_config.read_text())
    small["models"] = {"yolov8n_seg": small["models"]["yolov8n_seg"]}
    small["domains"] = {d: small["domains"][d] for d in ("coco_val2017", "cityscapes_val")}
    small["evaluation"]["diagnostics_domains"] = list(small["domains"])
    small["report"].update(qualitative_domains=list(small["domains"]), domain_pairs=[list(small["domains"])], model_pairs=[])
    del small["corruption_suites"]
    del small["report"]["shift_pairs"]  # they name the corruptions
    small.pop("slices", None)  # they cut the domains left out
    config = write_config(tmp_path / "slurm.yaml", small)
    before = {r[0] for r in squeue()}
    log = work / "snakemake.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(slurm_command(work, config, "--retries", "0"), cwd=work, stdout=out, stderr=subprocess.STDOUT)
    cancelled = None
    try:
        deadline = time.time() + 300
        while time.time() < deadline and cancelled is None and proc.poll() is None:
            shard_logs = list((work / "logs/infer").glob("**/*.log")) if (work / "logs/infer").exists() else []
            if any("img/s" in p.read_text() for p in shard_logs):  # an inference job is predicting
                running = [r for r in squeue() if r[0] not in before and "infer" in r[1] and r[2] == "RUNNING"]
                if running:
                    cancelled = running[0]
                    subprocess.run(["scancel", cancelled[0]], check=True)
            time.sleep(0.5)
        assert cancelled, f"no inference job was seen running:\n{log.read_text()[-3000:]}"
        assert proc.wait(timeout=600) != 0, "Snakemake should report the cancelled job"
    finally:
        proc.kill()
    # Whatever the cancelled job left, no shard file is partial.
    shards = list(work.glob("results/predictions/*/*/shard-*.parquet"))
    assert len(shards) < 3
    for shard in shards:
        assert predictions.read_metadata(shard)["image_ids"]

    rerun = subprocess.run(slurm_command(work, config), cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stdout[-4000:]
    assert not list(work.glob("results/**/.*segshift-tmp*"))  # the rerun cleared the killed job's temporaries
    for table in TABLES:
        ours = pd.read_csv(work / f"results/tables/{table}.csv")
        local = pd.read_csv(local_work / f"results/tables/{table}.csv")
        local = local[local.domain.isin(small["domains"]) & local.model.isin(small["models"])].reset_index(drop=True)
        # check_dtype off: a column empty in both (no corruption) reads as float on one side, object on the other.
        pd.testing.assert_frame_equal(ours, local, check_exact=True, check_dtype=False, obj=table)

    jobs = [r for r in squeue() if r[0] not in before]
    states = {r[2] for r in jobs}
    assert "CANCELLED" in states and "COMPLETED" in states
    assert sum("infer" in r[1] and r[2] == "COMPLETED" for r in jobs) >= 3  # 2 COCO shards + 1 Cityscapes shard
    print("\n".join("|".join(r) for r in jobs))
