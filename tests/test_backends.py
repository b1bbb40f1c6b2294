"""Backends: the YOLO-seg decode against hand-made outputs and real images, and the torchvision and
detectron2 models built with random weights."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from conftest import REPO
from segshift import backends, masks
from segshift.backends import yolo_seg
from segshift.categories import COCO_IDS
from segshift.errors import SegshiftError


def anchor_row(xyxy_letterbox, scores: dict[int, float], coefficient0: float, size=640):
    x1, y1, x2, y2 = xyxy_letterbox
    row = np.zeros(4 + 80 + 32, dtype=np.float32)
    row[:4] = [(x1 + x2) / 2 / size, (y1 + y2) / 2 / size, (x2 - x1) / size, (y2 - y1) / size]
    for cls, score in scores.items():
        row[4 + cls] = score
    row[84] = coefficient0
    return row


def test_letterbox_geometry():
    item = yolo_seg.Letterbox(640)(np.zeros((200, 400, 3), np.uint8))
    assert item["input"].shape == (1, 640, 640, 3)
    assert item["content"] == (160, 0, 320, 640)  # top, left, height, width of the resized image
    assert item["input"][0, 0, 0, 0] == pytest.approx(114 / 255)
    item = yolo_seg.Letterbox(640)(np.zeros((427, 640, 3), np.uint8))
    assert item["content"] == (106, 0, 427, 640)


def test_decode_maps_boxes_and_masks_back_to_the_image():
    item = yolo_seg.Letterbox(640)(np.zeros((200, 400, 3), np.uint8))  # scale 1.6, 160 px padding on top
    box = [100.0, 50.0, 300.0, 150.0]  # in the original image
    lb = [box[0] * 1.6, box[1] * 1.6 + 160, box[2] * 1.6, box[3] * 1.6 + 160]
    pred = np.zeros((8400, 116), dtype=np.float32)
    pred[5] = anchor_row(lb, {2: 0.9, 3: 0.4}, 10.0)  # car, and the same box as motorcycle (multi-label)
    pred[6] = anchor_row([lb[0] + 4, lb[1], lb[2] + 4, lb[3]], {2: 0.8}, 10.0)  # a duplicate car: suppressed
    pred[7] = anchor_row(lb, {0: 0.5}, -10.0)  # a person on the same box: other class, kept, empty mask
    pred[8] = anchor_row([0, 160, 64, 200], {5: 0.0005}, 10.0)  # below the score floor
    proto = np.ones((160, 160, 32), dtype=np.float32)
    out = yolo_seg.decode(pred.T.copy(), proto, item, size=640, score_floor=0.001, iou_threshold=0.7)

    assert out.category_id.tolist() == [3, 1, 4]  # COCO ids of car, person, motorcycle, by score
    np.testing.assert_allclose(out.score, [0.9, 0.5, 0.4])
    np.testing.assert_allclose(out.bbox[0], [100, 50, 200, 100], atol=1e-3)
    expected = np.zeros((200, 400), dtype=bool)
    expected[50:150, 100:300] = True
    decoded = masks.decode(out.segmentation)
    np.testing.assert_array_equal(decoded[0], expected)
    assert not decoded[1].any()
    np.testing.assert_array_equal(decoded[2], expected)


def test_yolo_export_scores_like_a_coco_model_on_real_images(shared_data, yolo_weights):
    """The decode is right if the real export reaches its published quality: PROVENANCE.md measured
    bbox AP 0.422 and segm AP 0.354 on these 79 images with an independent decode."""
    model = backends.build("yolo_seg_export", settings={}, weights=yolo_weights, device="cpu")
    annotations = shared_data / "coco" / "annotations" / "instances_val2017.json"
    results = []
    for image in json.loads(annotations.read_text())["images"]:
        rgb = np.asarray(Image.open(shared_data / "coco" / "val2017" / image["file_name"]).convert("RGB"))
        (out,) = model.predict([model.preprocess(rgb)])
        assert len(out) <= 100
        results += [
            {"image_id": image["id"], "category_id": int(c), "score": float(s), "bbox": b.tolist(), "segmentation": r}
            for c, s, b, r in zip(out.category_id, out.score, out.bbox, out.segmentation)
        ]
    stats = {}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(annotations))
        for iou_type in ("bbox", "segm"):
            dropped = "segmentation" if iou_type == "bbox" else "bbox"
            dt = gt.loadRes([{k: v for k, v in r.items() if k != dropped} for r in results])
            evaluator = COCOeval(gt, dt, iou_type)
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
            stats[iou_type] = evaluator.stats[0]
    assert stats["bbox"] > 0.40 and stats["segm"] > 0.33, stats


def test_yolo_backend_rejects_a_file_that_is_not_a_model(tmp_path):
    bogus = tmp_path / "model.tflite"
    bogus.write_bytes(b"not a flatbuffer" * 100)
    with pytest.raises(SegshiftError, match="not a loadable TFLite model"):
        backends.build("yolo_seg_export", settings={}, weights=bogus, device="cpu")


def test_an_onnx_file_that_is_not_a_model_is_one_line(tmp_path):
    pytest.importorskip("onnxruntime")
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"not a protobuf" * 100)
    with pytest.raises(SegshiftError, match=r"model.onnx is not a loadable ONNX model .*; check models"):
        backends.build("yolo_seg_export", settings={}, weights=bogus, device="cpu")


def test_an_export_of_another_format_is_refused_by_name(tmp_path):
    with pytest.raises(SegshiftError, match=r"model.pt: a YOLO-seg export is a .tflite or an .onnx file"):
        backends.build("yolo_seg_export", settings={}, weights=tmp_path / "model.pt", device="cpu")


@pytest.mark.parametrize("inputs, outputs", [
    ([(1, 640, 640, 3)], [(1, 84, 8400)]),  # a detection head, no prototypes
    ([(1, 640, 640, 3)], [(1, 85, 8400), (1, 160, 160, 32)]),  # 80 classes + 32 coefficients would be 116
    ([(1, 640, 480, 3)], [(1, 116, 8400), (1, 160, 160, 32)]),  # not square
    ([(1, 640, 640, 3), (1, 4)], [(1, 116, 8400), (1, 160, 160, 32)]),  # two inputs
])
def test_outputs_that_are_not_a_yolo_seg_head_are_refused(inputs, outputs):
    with pytest.raises(SegshiftError, match=r"m.tflite does not have a YOLO-seg export's inputs and outputs"):
        yolo_seg._check_head("m.tflite", inputs, outputs, channels_last=True)
    yolo_seg._check_head("m.tflite", [(1, 640, 640, 3)], [(1, 116, 8400), (1, 160, 160, 32)], channels_last=True)
    yolo_seg._check_head("m.onnx", [(1, 3, 320, 320)], [(1, 116, 2100), (1, 32, 80, 80)], channels_last=False)


def test_int8_tensors_use_their_own_scale_and_zero_point():
    """The YOLO11n-seg export's own parameters (PROVENANCE.md): input 1/255 at -128, head 0.02352 at 31."""
    image = np.array([0.0, 0.4, 1.0, 2.0], dtype=np.float32)
    q = yolo_seg.quantise(image, {"name": "images", "dtype": np.int8, "quantization": (1 / 255, -128)}, "m.tflite")
    assert q.dtype == np.int8 and q.tolist() == [-128, -26, 127, 127]  # round(x * 255) - 128, clipped to int8
    head = {"name": "output0", "dtype": np.int8, "quantization": (0.02352, 31)}
    np.testing.assert_allclose(yolo_seg.dequantise(np.array([31, 41, -128], np.int8), head, "m.tflite"),
                               [0.0, 0.2352, -159 * 0.02352], rtol=1e-6)
    with pytest.raises(SegshiftError, match=r"m.tflite: tensor 'output0' is int8 without quantisation parameters"):
        yolo_seg.dequantise(np.zeros(2, np.int8), {**head, "quantization": (0.0, 0)}, "m.tflite")


def real_image(shared_data):
    return np.asarray(Image.open(shared_data / "coco" / "val2017" / "000000000139.jpg").convert("RGB"))


def assert_valid(out: backends.Instances, height: int, width: int):
    n = len(out)
    assert 0 < n <= 100
    assert out.category_id.shape == (n,) and set(out.category_id.tolist()) <= set(COCO_IDS)
    assert out.score.dtype == np.float32 and ((out.score >= 0) & (out.score <= 1)).all()
    assert out.bbox.shape == (n, 4) and (out.bbox[:, 2:] >= 0).all()
    assert (out.bbox[:, 0] + out.bbox[:, 2] <= width + 1e-3).all() and (out.bbox[:, 1] + out.bbox[:, 3] <= height + 1e-3).all()
    decoded = masks.decode(out.segmentation)
    assert decoded.shape == (n, height, width)


def test_torchvision_labels_map_to_coco_ids_by_name():
    from segshift.backends.torchvision import ARCHITECTURES, label_to_category_id

    for _, official in ARCHITECTURES.values():
        mapping = label_to_category_id(official.meta["categories"])
        valid = mapping >= 0
        assert sorted(mapping[valid].tolist()) == COCO_IDS
        # torchvision's 91-slot list is indexed by the COCO id itself.
        assert (mapping[valid] == np.flatnonzero(valid)).all()


@pytest.mark.parametrize("architecture", ["maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2"])
def test_torchvision_random_weights_give_valid_predictions(shared_data, tmp_path, architecture):
    torch.manual_seed(0)
    settings = {"architecture": architecture, "score_floor": 0.0}
    model = backends.build("torchvision", settings=settings, weights=None, device="cpu", test_size=[160, 256])
    image = real_image(shared_data)
    with torch.inference_mode():
        (first,) = model.predict([model.preprocess(image)])
        pair = model.predict([model.preprocess(image[:200, :300]), model.preprocess(image[200:400, 300:600])])
    assert_valid(first, *image.shape[:2])
    for out in pair:
        assert_valid(out, 200, 300)
    assert model.settings["test_size"] == [160, 256]

    # The weights path: a saved state dict loads with weights_only and predicts the same.
    torch.save(model.model.state_dict(), tmp_path / "w.pth")
    reloaded = backends.build("torchvision", settings=settings, weights=tmp_path / "w.pth", device="cpu", test_size=[160, 256])
    with torch.inference_mode():
        (again,) = reloaded.predict([reloaded.preprocess(image)])
    np.testing.assert_array_equal(again.category_id, first.category_id)
    np.testing.assert_allclose(again.score, first.score, rtol=1e-5)
    assert again.segmentation == first.segmentation


def test_torchvision_rejects_weights_of_another_architecture(tmp_path):
    torch.save({"backbone.weird": torch.zeros(1)}, tmp_path / "w.pth")
    with pytest.raises(SegshiftError, match="is not a maskrcnn_resnet50_fpn state dict"):
        backends.build("torchvision", settings={"architecture": "maskrcnn_resnet50_fpn"}, weights=tmp_path / "w.pth", device="cpu")


DETECTRON2_MODELS = {
    "mask_rcnn_R50_FPN_3x": {"config": "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml"},
    "pointrend_R50_FPN_3x": {"config": "config/detectron2/pointrend_rcnn_R_50_FPN_3x_coco.yaml", "pointrend": True},
}


@pytest.mark.parametrize("name", sorted(DETECTRON2_MODELS))
def test_detectron2_random_weights_give_valid_predictions(shared_data, tmp_path, name):
    pytest.importorskip("detectron2")
    from conftest import REPO

    settings = dict(DETECTRON2_MODELS[name], score_floor=0.0)
    if "pointrend" in settings:
        settings["config"] = str(REPO / settings["config"])
    torch.manual_seed(0)
    model = backends.build("detectron2", settings=settings, weights=None, device="cpu", test_size=[160, 256])
    image = real_image(shared_data)
    with torch.inference_mode():
        (first,) = model.predict([model.preprocess(image)])
        pair = model.predict([model.preprocess(image[:200, :300]), model.preprocess(image[200:400, 300:600])])
    assert_valid(first, *image.shape[:2])
    for out in pair:
        assert_valid(out, 200, 300)
    assert model.settings["test_size"] == [160, 256]

    torch.save({"model": model.model.state_dict()}, tmp_path / "w.pth")
    reloaded = backends.build("detectron2", settings=settings, weights=tmp_path / "w.pth", device="cpu", test_size=[160, 256])
    with torch.inference_mode():
        (again,) = reloaded.predict([reloaded.preprocess(image)])
    np.testing.assert_array_equal(again.category_id, first.category_id)
    assert again.segmentation == first.segmentation


def test_pointrend_config_in_this_repository_is_complete():
    pytest.importorskip("detectron2")
    from conftest import REPO
    from detectron2.config import get_cfg
    from detectron2.projects.point_rend import add_pointrend_config

    from segshift.backends.detectron2 import config_path

    cfg = get_cfg()
    add_pointrend_config(cfg)
    cfg.merge_from_file(str(REPO / "config/detectron2/pointrend_rcnn_R_50_FPN_3x_coco.yaml"))
    base = get_cfg()
    base.merge_from_file(str(config_path("Base-RCNN-FPN.yaml")))
    # Everything of the zoo's Base-RCNN-FPN that PointRend does not change is kept.
    for key in ("BACKBONE", "RESNETS", "FPN", "ANCHOR_GENERATOR", "RPN", "ROI_HEADS"):
        assert cfg.MODEL[key] == base.MODEL[key], key
    assert cfg.MODEL.ROI_MASK_HEAD.NAME == "PointRendMaskHead" and cfg.MODEL.ROI_MASK_HEAD.POINT_HEAD_ON
    assert cfg.MODEL.RESNETS.DEPTH == 50 and cfg.MODEL.MASK_ON and cfg.INPUT.MASK_FORMAT == "bitmask"


def test_the_yolo_nms_is_torchvisions_kernel():
    """The export backend calls torchvision's NMS kernel without importing torchvision (a 2 s import)."""
    code = ("import sys, torch; from segshift.backends import yolo_seg; "
            "b = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30.]]); s = torch.tensor([0.9, 0.8, 0.7]); "
            "print(yolo_seg.nms(b, s, 0.5).tolist(), 'torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO / "src")}).stdout.split()
    assert out == ["[0,", "2]", "False"]
    import torch
    import torchvision

    from segshift.backends import yolo_seg

    g = torch.Generator().manual_seed(0)
    xy = torch.rand(500, 2, generator=g) * 600
    boxes = torch.cat([xy, xy + 10 + torch.rand(500, 2, generator=g) * 100], 1)
    scores = torch.rand(500, generator=g)
    assert torch.equal(yolo_seg.nms(boxes, scores, 0.6), torchvision.ops.nms(boxes, scores, 0.6))
