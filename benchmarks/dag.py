"""Snakemake's planning time on a full-size experiment: 5,000 COCO + 500 Cityscapes images,
4 models, the default shard size, from generated manifests (no images needed); with --suite,
2 models and the 15 benchmark corruptions x 5 severities on both datasets (152 domains).

Times `snakemake -n` on the empty results tree (the whole DAG) and on a complete one (the no-op
rerun a researcher pays after every small change), median of several runs.

    python benchmarks/dag.py --repeats 3
    python benchmarks/dag.py --suite --repeats 3
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src")]

from common import median_time  # noqa: E402
from segshift import manifest  # noqa: E402

MODELS = {
    "mask_rcnn_R50_FPN_3x": {"backend": "detectron2", "config": "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml"},
    "pointrend_R50_FPN_3x": {"backend": "detectron2", "config": "config/detectron2/pointrend_rcnn_R_50_FPN_3x_coco.yaml",
                             "pointrend": True},
    "maskrcnn_v1": {"backend": "torchvision", "architecture": "maskrcnn_resnet50_fpn"},
    "maskrcnn_v2": {"backend": "torchvision", "architecture": "maskrcnn_resnet50_fpn_v2"},
}
def setup(work: Path, suite: bool, images_per_shard: int = 50) -> Path:
    coco, cityscapes = work / "data/coco", work / "data/cityscapes"
    (coco / "val2017").mkdir(parents=True)
    (coco / "annotations").mkdir()
    (coco / "annotations/instances_val2017.json").write_text("{}")
    for sub in ("leftImg8bit/val", "gtFine/val"):
        (cityscapes / sub).mkdir(parents=True)
    for dataset, count, size in [("coco_val2017", 5000, (640, 480)), ("cityscapes_val", 500, (2048, 1024))]:
        root = work / "data" / dataset
        images = pd.DataFrame({"image_id": range(1, count + 1), "file_name": [f"{i:012d}.png" for i in range(1, count + 1)],
                               "width": size[0], "height": size[1]})
        manifest.write(work / f"resources/datasets/{dataset}/manifest.parquet", images, dataset=dataset,
                       image_dir=root, gt_dir=root if dataset == "cityscapes_val" else None)
        (work / f"resources/datasets/{dataset}/ground_truth.json").write_text("{}")
    weights = work / "weights"
    weights.mkdir()
    models = {}
    for name, entry in list(MODELS.items())[: 2 if suite else None]:
        (weights / name).write_bytes(name.encode())
        models[name] = {**entry, "weights": {"path": str(weights / name)}}
    config = {
        "datasets": {"coco_val2017": {"kind": "coco", "root": str(coco)},
                     "cityscapes_val": {"kind": "cityscapes", "root": str(cityscapes)}},
        "models": models,
        "images_per_shard": images_per_shard,
        "report": {"model_pairs": [["mask_rcnn_R50_FPN_3x", "pointrend_R50_FPN_3x"]]},
    }
    if suite:
        config["corruption_suites"] = {f"{d}_c": {"domain": d, "corruptions": "benchmark", "severities": [1, 2, 3, 4, 5]}
                                       for d in ("coco_val2017", "cityscapes_val")}
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def dry_run(work: Path, config: Path) -> str:
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(work), "--configfile", str(config), "-n", "--quiet", "all"],
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stdout[-3000:] + proc.stderr[-3000:])
    return proc.stdout + proc.stderr


def fill(work: Path, config: Path) -> int:
    """Create every planned output, as a finished run would leave them: one mtime for all, newer
    than the manifests and weights (Snakemake reruns a job only if an input is strictly newer)."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(work), "--configfile", str(config), "-n", "--printshellcmds"],
                          capture_output=True, text=True)
    files = []
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \w+:\n)", proc.stdout):
        out = re.search(r"\n\s+output: (.*)", block)
        if re.match(r"(?:local)?(?:rule|checkpoint) \w+:\n", block) and out:
            files += out.group(1).split(", ")
    t = time.time() + 60
    for name in files:
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
        os.utime(path, (t, t))
    return len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--suite", action="store_true", help="2 models, 15 corruptions x 5 severities on both datasets")
    parser.add_argument("--images-per-shard", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="segshift-dag-") as tmp:
        work = Path(tmp)
        config = setup(work, args.suite, args.images_per_shard)
        full_s, out = median_time(lambda: dry_run(work, config), args.repeats)
        jobs = re.search(r"\ntotal\s+(\d+)", out)
        created = fill(work, config)
        noop_s, out = median_time(lambda: dry_run(work, config), args.repeats)
        assert "Nothing to be done" in out, out[-2000:]
    what = "2 models, 152 domains (15 corruptions x 5 severities of each)" if args.suite else f"{len(MODELS)} models"
    print(f"\nsnakemake -n, 5000 COCO + 500 Cityscapes images, {what}, images_per_shard {args.images_per_shard}")
    print(f"  whole DAG ({jobs.group(1) if jobs else '?'} jobs)     {full_s:8.2f} s")
    print(f"  no-op rerun ({created} outputs present) {noop_s:8.2f} s")


if __name__ == "__main__":
    main()
