"""Every torch backend on the GPU: CUDA predictions against CPU ones, and img/s against each library's loop.

For each backend (random weights, as benchmarks/inference.py makes them): predictions on 3 real
COCO images and the 2048x1024 Cityscapes frame on the CPU and on CUDA must be the same
detections (each CPU detection has a CUDA one of its class with the box within 1 px and mask
IoU > 0.99, and none is left over); then the `infer` job on CUDA against the library's own loop
on CUDA, img/s each (detections checked equal as in benchmarks/inference.py); then the
2048x1024 frame's time split (forward, mask pasting, RLE encoding). Where CUDA is absent the
comparison is skipped with one line and the rest runs on the CPU, so the script is known to work.

    python benchmarks/device_check.py [--device cpu] [--images 8] [--repeats 3] [--budget 420] [backend ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "src"), str(BENCH.parent / "tests")]

import inference as bench  # noqa: E402
from common import median_time  # noqa: E402

PACKAGES = {"torchvision": "torchvision", "rfdetr": "rfdetr", "ultralytics": "ultralytics", "mask2former": "transformers",
            "eomt": "transformers", "lazyconfig": "detectron2"}
COCO_FILES = ["000000000139.jpg", "000000000802.jpg", "000000011813.jpg"]
FRAME = "cityscapes_fullres/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png"


def model_of(name: str, tmp: Path, full: bool):
    if name == "torchvision":
        import torchvision

        torch.manual_seed(0)
        model = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
        torch.save(model.state_dict(), tmp / "maskrcnn.pt")
        return "torchvision", {"architecture": "maskrcnn_resnet50_fpn"}, tmp / "maskrcnn.pt"
    return bench.random_model(name, tmp, full)


def predictions(backend, settings, weights, device, images):
    from segshift import backends

    model = backends.build(backend, settings=settings, weights=weights, device=device)
    with torch.inference_mode():
        return [model.predict([model.preprocess(image)])[0] for image in images]


def same_detections(cpu, cuda) -> tuple[bool, str]:
    """Each CPU detection matched to an unused CUDA one of its class, box within 1 px, mask IoU > 0.99."""
    from pycocotools import mask as mask_api

    total = matched = 0
    worst_box, worst_iou = 0.0, 1.0
    for a, b in zip(cpu, cuda):
        total += len(a)
        if not len(a) or not len(b):
            continue
        ious = mask_api.iou([{"size": r["size"], "counts": r["counts"].encode()} for r in b.segmentation],
                            [{"size": r["size"], "counts": r["counts"].encode()} for r in a.segmentation], [0] * len(a))
        ious = np.asarray(ious).reshape(len(b), len(a))
        box = np.abs(b.bbox[:, None, :] - a.bbox[None, :, :]).max(-1)
        ok = (b.category_id[:, None] == a.category_id[None, :]) & (box <= 1.0) & (ious > 0.99)
        used = np.zeros(len(b), dtype=bool)
        for j in np.argsort(-a.score, kind="stable"):
            free = np.flatnonzero(ok[:, j] & ~used)
            if free.size:
                k = free[np.argmin(np.abs(b.score[free] - a.score[j]))]
                used[k] = True
                matched += 1
                worst_box, worst_iou = max(worst_box, float(box[k, j])), min(worst_iou, float(ious[k, j]))
    counts = f"{sum(map(len, cpu))} CPU / {sum(map(len, cuda))} CUDA detections"
    good = matched == total == sum(map(len, cuda))
    return good, f"{counts}, {matched} matched; largest box difference {worst_box:.2f} px, smallest mask IoU {worst_iou:.4f}"


def check(name: str, args, tmp: Path) -> None:
    print(f"\n== {name}", flush=True)
    package = PACKAGES[name]
    if importlib.util.find_spec(package) is None:
        print(f"  skipped: {package} is not installed")
        return
    backend, settings, weights = model_of(name, tmp, args.full)
    images = [bench.read_rgb(bench.DATA / "coco/val2017" / f) for f in COCO_FILES] + [bench.read_rgb(bench.DATA / FRAME)]
    cuda = args.device.startswith("cuda")
    if cuda:
        started = time.perf_counter()
        good, summary = same_detections(predictions(backend, settings, weights, "cpu", images),
                                        predictions(backend, settings, weights, args.device, images))
        print(f"  CUDA vs CPU, 3 COCO images + the 2048x1024 frame: {'same detections' if good else 'DIFFERENT'}: "
              f"{summary} ({time.perf_counter() - started:.0f} s)", flush=True)
    else:
        print("  CUDA vs CPU: skipped, torch sees no CUDA device (this run times the CPU only)")
    table, image_dir = bench.images(args.images)
    if name == "torchvision":
        reference = lambda: bench.torchvision_reference(table, image_dir, weights, args.threads, args.device)  # noqa: E731
    else:
        reference = lambda: bench.optional_reference(name, table, image_dir, backend, settings, weights, args.device)  # noqa: E731
    ours = bench.segshift_job(table, image_dir, tmp, backend, settings, weights, args.threads, args.device)
    reference()  # warm-up: CUDA context, kernels, weights in the page cache
    ref_s, ref_out = median_time(reference, 1)
    our_s, our_out = median_time(ours, 1)
    try:
        same = bench.compare(ref_out, our_out, table, exact=False)
    except AssertionError as e:
        same = f"DIFFERENT from the library's loop: {e}"
    print(f"  {args.images} COCO images on {args.device}: library loop {args.images / ref_s:.2f} img/s, segshift job "
          f"{args.images / our_s:.2f} img/s ({ref_s / our_s:.2f}x); {same}", flush=True)
    print(f"  {bench.split_times(name, backend, settings, weights, args.device, args.repeats)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="timings of the 2048x1024 split, median of")
    parser.add_argument("--full", action="store_true", help="Mask2Former Swin-T and EoMT-L shapes (GPU)")
    parser.add_argument("--budget", type=float, default=420, help="seconds; backends not started by then are skipped")
    parser.add_argument("backends", nargs="*", default=list(PACKAGES))
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("device_check: --device cuda, but torch sees no CUDA device")
    print(f"torch {torch.__version__}, device {args.device}"
          + (f" ({torch.cuda.get_device_name(0)})" if args.device.startswith("cuda") else ""), flush=True)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    for name in args.backends:
        if time.perf_counter() - started > args.budget:
            print(f"\n== {name}\n  skipped: the {args.budget:.0f} s budget is spent")
            continue
        with tempfile.TemporaryDirectory(prefix="segshift-device-") as tmp:
            try:
                check(name, args, Path(tmp))
            except Exception:  # one backend's failure must not hide the others' results
                print(f"  FAILED:\n{traceback.format_exc(limit=3)}", flush=True)
    print(f"\ndevice check done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
