"""Exports in the formats other tools load: COCO results JSON and COCO instances JSON.

A results file is the list pycocotools' loadRes, hotcoco, detectron2's COCOEvaluator and
FiftyOne's add_coco_labels read: image_id, category_id (COCO ids), score, bbox (x y w h)
and segmentation (compressed RLE). The ground truth beside it holds the classes the domain
shares with the source in COCO ids, so both load into one tool with one category list.
"""

from __future__ import annotations

import json
from pathlib import Path

from segshift import predictions as predictions_io
from segshift.evaluation import coco
from segshift.io import read_json, write_text


def predictions(files: list[str | Path], output: str | Path) -> int:
    frame, _ = predictions_io.read(files)
    results = predictions_io.to_coco_results(frame)
    write_text(output, json.dumps(results))
    return len(results)


def ground_truth(ground_truth_file, source_ground_truth_file, kind: str, source_kind: str, output) -> None:
    gt = read_json(ground_truth_file, what="ground-truth file")
    source = read_json(source_ground_truth_file, what="ground-truth file")
    classes = sorted(set(coco.domain_classes(gt, kind)) & set(coco.domain_classes(source, source_kind)))
    write_text(output, json.dumps(coco.shared_class_ground_truth(gt, kind, classes)))
