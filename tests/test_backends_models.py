"""The optional backends (detectron2 LazyConfigs, transformers, rfdetr, ultralytics) with random weights,
each held equal to its own library's inference (or, for Mask2Former and EoMT, to the papers' instance
inference written out here) on 3 real COCO images and the real 2048x1024 Cityscapes frame.

Each test needs its backend's package and skips where it is not installed (`.ci/run` installs
them all, so CI runs every one)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from segshift import backends, masks
from segshift.categories import COCO_CATEGORIES, COCO_IDS
from segshift.errors import SegshiftError

COCO_FILES = ["000000000139.jpg", "000000000802.jpg", "000000011813.jpg"]
COCO_NAMES = {i: name for i, (_, name, _) in enumerate(COCO_CATEGORIES)}


@pytest.fixture(scope="module")
def image_files(shared_data):
    files = [shared_data / "coco" / "val2017" / f for f in COCO_FILES]
    frame = shared_data / "cityscapes_fullres/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png"
    if not frame.is_file():
        pytest.skip(f"the 2048x1024 Cityscapes frame is not at {frame}")
    return files + [frame]


@pytest.fixture(scope="module")
def rgb_images(image_files):
    return [np.asarray(Image.open(f).convert("RGB")) for f in image_files]


def predict_each(model, images):
    with torch.inference_mode():
        return [model.predict([model.preprocess(image)])[0] for image in images]


def assert_same(ours: backends.Instances, category_id, score, xyxy, binary, *, score_tol=0.0, box_tol=0.0):
    """Our detections equal the reference's: classes, scores, boxes, and masks pixel for pixel."""
    n = len(ours)
    assert n == len(category_id) and n > 0
    np.testing.assert_array_equal(ours.category_id, np.asarray(category_id))
    np.testing.assert_allclose(ours.score, np.asarray(score, dtype=np.float32), rtol=0, atol=score_tol)
    expected_xywh = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4).copy()
    expected_xywh[:, 2:] -= expected_xywh[:, :2]
    np.testing.assert_allclose(ours.bbox, expected_xywh, rtol=0, atol=box_tol)
    decoded, expected = masks.decode(ours.segmentation), np.asarray(binary, dtype=bool)
    assert decoded.shape == expected.shape
    differ = [i for i in range(n) if not np.array_equal(decoded[i], expected[i])]
    assert not differ, f"{len(differ)} of {n} masks differ, e.g. detection {differ[0]}"


def test_a_missing_package_stops_with_the_model_and_the_install_line(monkeypatch):
    monkeypatch.setitem(backends.OPTIONAL, "rfdetr", ("segshift_no_such_package", "pip install -r requirements-rfdetr.txt"))
    message = backends.missing_package("rfdetr", "rfdetr_seg_medium")
    assert message == ("model rfdetr_seg_medium uses the rfdetr backend, whose package segshift_no_such_package is not "
                       "installed: pip install -r requirements-rfdetr.txt")
    with pytest.raises(SegshiftError, match=r"^model rfdetr_seg_medium uses the rfdetr backend.*requirements-rfdetr.txt$"):
        backends.build("rfdetr", settings={}, weights=None, device="cpu", model="rfdetr_seg_medium")
    assert backends.missing_package("torchvision", "m") is None  # in the main install


# detectron2 LazyConfig --------------------------------------------------------------------------------

LAZY_CONFIG = "new_baselines/mask_rcnn_R_50_FPN_100ep_LSJ.py"
LAZY_TEST_SIZE = [320, 640]  # the CPU's share: the config's own 800/1333 is checked on its settings


def test_lazyconfig_equals_detectron2s_own_inference(image_files, rgb_images, tmp_path):
    pytest.importorskip("detectron2")
    from detectron2.data import DatasetMapper
    from detectron2.data import transforms as T

    torch.manual_seed(0)
    settings = {"config": LAZY_CONFIG, "score_floor": 0.0}
    model = backends.build("detectron2", settings=settings, weights=None, device="cpu", test_size=LAZY_TEST_SIZE)
    ours = predict_each(model, rgb_images)

    # detectron2's evaluation path (lazyconfig_train_net.do_test): the config's DatasetMapper reads each file.
    mapper = DatasetMapper(is_train=False, augmentations=[T.ResizeShortestEdge(*LAZY_TEST_SIZE)],
                           image_format=model.cfg.dataloader.test.mapper.image_format)
    for out, path, image in zip(ours, image_files, rgb_images):
        with torch.inference_mode():
            (reference,) = model.model([mapper({"file_name": str(path), "height": image.shape[0], "width": image.shape[1]})])
        inst = reference["instances"]
        assert_same(out, np.asarray(COCO_IDS)[inst.pred_classes.numpy()], inst.scores.numpy(),
                    inst.pred_boxes.tensor.numpy(), inst.pred_masks.numpy())

    # The config's own test transform when the domain sets no size; the weights path loads strictly.
    default = backends.build("detectron2", settings={"config": LAZY_CONFIG}, weights=None, device="cpu")
    assert default.settings["test_augmentations"] == ["ResizeShortestEdge(short_edge_length=(800, 800), max_size=1333)"]
    assert default.settings["score_floor"] == 0.05 and default.settings["detections_per_image"] == 100
    torch.save({"model": model.model.state_dict()}, tmp_path / "w.pth")
    again = backends.build("detectron2", settings=settings, weights=tmp_path / "w.pth", device="cpu", test_size=LAZY_TEST_SIZE)
    assert predict_each(again, rgb_images[:1])[0].segmentation == ours[0].segmentation


def test_a_detectron2_checkpoint_of_another_architecture_is_one_line(tmp_path):
    pytest.importorskip("detectron2")
    import torchvision

    torch.save({"model": torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None).state_dict()},
               tmp_path / "torchvision.pth")
    with pytest.raises(SegshiftError, match=rf"^{tmp_path}/torchvision.pth is not a checkpoint of {LAZY_CONFIG}: \d+ of its"):
        backends.build("detectron2", settings={"config": LAZY_CONFIG}, weights=tmp_path / "torchvision.pth", device="cpu")


# transformers: Mask2Former and EoMT -------------------------------------------------------------------


def tiny_checkpoint(architecture: str, folder):
    """A random Mask2Former (Swin) or EoMT small enough for the CPU, saved as save_pretrained writes it."""
    from transformers import EomtConfig, EomtForUniversalSegmentation, Mask2FormerConfig, Mask2FormerForUniversalSegmentation

    labels = {"id2label": COCO_NAMES, "label2id": {n: i for i, n in COCO_NAMES.items()}, "num_labels": 80}
    torch.manual_seed(0)
    if architecture == "mask2former":
        backbone = {"model_type": "swin", "embed_dim": 24, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 1, 1],
                    "out_features": ["stage1", "stage2", "stage3", "stage4"]}
        config = Mask2FormerConfig(backbone_config=backbone, hidden_dim=32, mask_feature_size=32, feature_size=32,
                                   num_queries=20, encoder_layers=1, decoder_layers=2, num_attention_heads=2,
                                   encoder_feedforward_dim=32, dim_feedforward=32, **labels)
        model = Mask2FormerForUniversalSegmentation(config)
    else:
        config = EomtConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_blocks=1, num_queries=20,
                            image_size=640, patch_size=16, **labels)
        model = EomtForUniversalSegmentation(config)
    model.save_pretrained(folder)
    return folder


def reference_instance_inference(class_logits, mask_logits, padded_size, content, original_size, top_k=100):
    """Mask2Former's `instance_inference` (and EoMT's instance evaluation) as the papers' code does it:
    every query's mask logits upsampled to the padded input, cropped, resized to the image; then
    the top-k (query, class) pairs, binarised masks, score times the mean mask probability inside."""
    mask_pred = F.interpolate(mask_logits[None], size=padded_size, mode="bilinear", align_corners=False)[0]
    mask_pred = mask_pred[:, : content[0], : content[1]]
    mask_pred = F.interpolate(mask_pred[None], size=original_size, mode="bilinear", align_corners=False)[0]
    scores = F.softmax(class_logits, dim=-1)[:, :-1]
    num_queries, num_classes = scores.shape
    labels = torch.arange(num_classes).unsqueeze(0).repeat(num_queries, 1).flatten(0, 1)
    scores_per_image, topk_indices = scores.flatten(0, 1).topk(top_k, sorted=False)
    labels_per_image = labels[topk_indices]
    # Per query first, then gathered for the top-k pairs (the same numbers, in a tenth of the memory).
    pred_masks = (mask_pred > 0).float()
    mask_scores = (mask_pred.sigmoid().flatten(1) * pred_masks.flatten(1)).sum(1) / (pred_masks.flatten(1).sum(1) + 1e-6)
    queries = topk_indices // num_classes
    return labels_per_image, scores_per_image * mask_scores[queries], pred_masks.bool()[queries]


@pytest.mark.parametrize("architecture", ["mask2former", "eomt"])
def test_transformers_equals_the_papers_instance_inference(rgb_images, tmp_path, architecture):
    pytest.importorskip("transformers")
    model = backends.build("transformers", settings={}, weights=tiny_checkpoint(architecture, tmp_path / "ckpt"), device="cpu")
    assert model.settings["architecture"] == architecture
    for image in rgb_images:
        item = model.preprocess(image)
        with torch.inference_mode():  # one forward pass; our post-processing and the reference's on its outputs
            class_logits, mask_logits, padded = model.forward([item])
            ours = model.instances(class_logits[0], mask_logits[0], padded, item)
            labels, scores, binary = reference_instance_inference(class_logits[0], mask_logits[0], padded, item["content"],
                                                                  image.shape[:2])
        order = np.argsort(-scores.numpy(), kind="stable")
        expected = binary.numpy()[order]
        ys, xs = [expected.any(axis=a) for a in (2, 1)]
        boxes = [[x.argmax(), y.argmax(), len(x) - x[::-1].argmax(), len(y) - y[::-1].argmax()] if x.any() else [0, 0, 0, 0]
                 for x, y in zip(xs, ys)]
        assert_same(ours, np.asarray(COCO_IDS)[labels.numpy()[order]], scores.numpy()[order], boxes, expected,
                    score_tol=1e-6)
    if architecture == "mask2former":  # detectron2's test transform: 800 / 1333, padded to a multiple of 32
        item = model.preprocess(rgb_images[-1])
        assert item["content"] == (667, 1333) and tuple(item["pixel_values"].shape) == (3, 672, 1344)
    else:  # the longer side to the model's 640, padded to the square
        item = model.preprocess(rgb_images[-1])
        assert item["content"] == (320, 640) and tuple(item["pixel_values"].shape) == (3, 640, 640)


def test_eomt_input_equals_the_image_processor_of_transformers(rgb_images):
    """EoMT's resize-and-pad is the one transformers' EomtImageProcessor makes (do_pad), up to resampling noise."""
    pytest.importorskip("transformers")
    from transformers import EomtImageProcessor

    from segshift.backends.transformers import Preprocess

    processor = EomtImageProcessor(size={"shortest_edge": 640, "longest_edge": 640}, do_pad=True)
    for image in rgb_images:
        ours = Preprocess("eomt", (640, 640))(image)
        theirs = processor(images=image, return_tensors="pt")["pixel_values"][0]
        assert theirs.shape == ours["pixel_values"].shape
        h1, w1 = ours["content"]
        np.testing.assert_array_equal(ours["pixel_values"][:, h1:], theirs[:, h1:])  # the padding
        assert (ours["pixel_values"] - theirs)[:, :h1, :w1].abs().mean() < 0.05


def test_transformers_rejects_a_checkpoint_of_another_architecture(tmp_path):
    pytest.importorskip("transformers")
    from transformers import SwinConfig, SwinModel

    SwinModel(SwinConfig(embed_dim=8, depths=[1], num_heads=[1])).save_pretrained(tmp_path / "swin")
    with pytest.raises(SegshiftError, match=r"swin holds a 'swin' checkpoint, not Mask2Former or EoMT"):
        backends.build("transformers", settings={}, weights=tmp_path / "swin", device="cpu")
    folder = tiny_checkpoint("eomt", tmp_path / "eomt")
    config = (folder / "config.json").read_text().replace('"num_hidden_layers": 2', '"num_hidden_layers": 3')
    (folder / "config.json").write_text(config)  # the weights hold two layers, the config asks for three
    with pytest.raises(SegshiftError, match=r"eomt is not a complete EomtForUniversalSegmentation checkpoint: \d+ weights"):
        backends.build("transformers", settings={}, weights=folder, device="cpu")


# RF-DETR-Seg ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rfdetr_nano(tmp_path_factory):
    """A random RF-DETR-Seg Nano checkpoint as rfdetr saves one ({"model": state dict})."""
    pytest.importorskip("rfdetr")
    torch.manual_seed(0)
    model = backends.build("rfdetr", settings={"size": "nano"}, weights=None, device="cpu")
    path = tmp_path_factory.mktemp("rfdetr") / "nano.pt"
    torch.save({"model": model.model.state_dict()}, path)
    return path


def test_rfdetr_equals_its_own_predict_with_threshold_0(rgb_images, rfdetr_nano):
    model = backends.build("rfdetr", settings={"size": "nano"}, weights=rfdetr_nano, device="cpu")
    ours = predict_each(model, rgb_images)
    for out, image in zip(ours, rgb_images):
        reference = model.wrapper.predict(image, threshold=0.0)
        coco = np.isin(reference.class_id, COCO_IDS)  # slots of the 91 that are no COCO category are dropped
        assert coco.sum() > 0.8 * len(reference) and len(reference) == model.settings["detections_per_image"]
        assert_same(out, reference.class_id[coco], reference.confidence[coco], reference.xyxy[coco], reference.mask[coco])


def test_rfdetr_rejects_a_checkpoint_of_another_size(rfdetr_nano, tmp_path):
    with pytest.raises(SegshiftError, match=r"nano.pt is not an RF-DETR-Seg small checkpoint \("):
        backends.build("rfdetr", settings={"size": "small"}, weights=rfdetr_nano, device="cpu")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SegshiftError, match=r"junk.pt is not an rfdetr checkpoint"):
        backends.build("rfdetr", settings={"size": "nano"}, weights=tmp_path / "junk.pt", device="cpu")


# Ultralytics ------------------------------------------------------------------------------------------


def random_yolo(path, cfg="yolo11n-seg.yaml"):
    """A random YOLO checkpoint with COCO's names; class biases raised so that it detects something."""
    from ultralytics import YOLO

    torch.manual_seed(0)
    model = YOLO(cfg)
    for branch in model.model.model[-1].cv3:
        torch.nn.init.normal_(branch[-1].bias, -6.0, 1.0)
    model.model.names = dict(COCO_NAMES)
    model.save(str(path))
    return path


def test_ultralytics_equals_yolo_predict_with_the_same_settings(rgb_images, tmp_path):
    pytest.importorskip("ultralytics")
    from ultralytics import YOLO

    weights = random_yolo(tmp_path / "yolo11n-seg.pt")
    model = backends.build("ultralytics", settings={}, weights=weights, device="cpu")
    assert model.args["conf"] == 0.001 and model.args["max_det"] == 300 and model.args["retina_masks"]
    ours = predict_each(model, rgb_images)
    reference = YOLO(str(weights))
    for out, image in zip(ours, rgb_images):
        (result,) = reference.predict(np.ascontiguousarray(image[:, :, ::-1]), **model.args)
        boxes = result.boxes
        assert_same(out, np.asarray(COCO_IDS)[boxes.cls.numpy().astype(int)], boxes.conf.numpy(), boxes.xyxy.numpy(),
                    result.masks.data.numpy() > 0.5)


def test_ultralytics_rejects_a_detection_checkpoint(tmp_path):
    pytest.importorskip("ultralytics")
    weights = random_yolo(tmp_path / "yolo11n.pt", cfg="yolo11n.yaml")
    with pytest.raises(SegshiftError, match=r"yolo11n.pt is an Ultralytics detect checkpoint, not a segmentation one"):
        backends.build("ultralytics", settings={}, weights=weights, device="cpu")


def test_ultralytics_leaves_image_decoding_and_the_environment_alone(tmp_path):
    """Importing ultralytics swaps PIL.Image.open for one that pip-installs a HEIF plugin on the
    first unreadable file; after the backend is built, an unreadable image is PIL's own error."""
    pytest.importorskip("ultralytics")
    import PIL.Image

    from segshift.images import read_image

    backends.build("ultralytics", settings={}, weights=random_yolo(tmp_path / "yolo11n-seg.pt"), device="cpu")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(PIL.UnidentifiedImageError):
        read_image(bad, 4, 4)
    assert os.environ["YOLO_AUTOINSTALL"] == "false"


# Checkpoint folders and hub downloads --------------------------------------------------------------


def test_a_checkpoint_folder_is_checked_by_the_hash_of_its_listing(tmp_path):
    from segshift import weights

    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * 10)
    pinned = weights.folder_sha256(folder)
    assert weights.verify(folder, pinned, "m2f") == pinned
    (folder / "model.safetensors").write_bytes(b"\1" * 10)  # one file changed: the folder's hash changes
    with pytest.raises(SegshiftError, match=r"checkpoint folder .*ckpt has sha256 [0-9a-f]{64} .*expected .*; delete"):
        weights.verify(folder, pinned, "m2f")


def test_a_hub_download_lands_whole_with_its_hashes_or_not_at_all(tmp_path, monkeypatch):
    hub = pytest.importorskip("huggingface_hub")
    from segshift import weights

    calls = []

    def snapshot_download(repo_id, revision, local_dir, allow_patterns):  # the files a revision holds
        calls.append((repo_id, revision, allow_patterns))
        (Path(local_dir) / "config.json").write_text('{"model_type": "eomt"}')
        (Path(local_dir) / "model.safetensors").write_bytes(b"weights")
        (Path(local_dir) / ".cache").mkdir()
        return local_dir

    monkeypatch.setattr(hub, "snapshot_download", snapshot_download)
    destination = tmp_path / "resources/weights/eomt_l_640"
    actual = weights.download_hub("tue-mps/coco_instance_eomt_large_640", "a" * 40, destination, None, "eomt_l_640")
    assert calls == [("tue-mps/coco_instance_eomt_large_640", "a" * 40, weights.HUB_FILES)]
    assert sorted(p.name for p in destination.iterdir()) == ["SHA256SUMS", "config.json", "model.safetensors"]
    assert weights.verify(destination, None, "eomt_l_640") == actual  # checked against the recorded hash
    assert (tmp_path / "resources/weights/eomt_l_640.sha256").read_text().strip() == actual
    other = tmp_path / "resources/weights/other"
    with pytest.raises(SegshiftError, match=r"has sha256 [0-9a-f]{64} \(of its SHA256SUMS\), expected 00000000"):
        weights.download_hub("tue-mps/coco_instance_eomt_large_640", "a" * 40, other, "0" * 8, "other")
    assert not other.exists() and not list(other.parent.glob(".other*"))  # nothing partial left
