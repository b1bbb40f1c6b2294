"""Figures and qualitative panels, without Snakemake."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from segshift import figures, qualitative
from segshift.categories import SHARED_CLASSES
from segshift.errors import SegshiftError
from segshift.evaluation.cityscapes import CLASS_NAMES


def same_ruler_metric(ap: float, missing: tuple[str, ...] = ()) -> dict:
    keys = ("AP", "AP50", "APs", "APm", "APl", "APs_rel", "APm_rel", "APl_rel")
    per_class = {c: {k: (None if c in missing else ap) for k in keys} for c in SHARED_CLASSES}
    curve = list(np.linspace(1, 0, 101))
    return {
        "results": {
            "segm": {
                "summary": {"AP": ap, "AP50": ap, "AP75": ap, "APs": ap / 2, "APm": ap, "APl": None},
                "per_class": per_class,
                "pr_curves": {
                    "recall": list(np.linspace(0, 1, 101)),
                    "classes": {c: {"precision_iou50": [-1] * 101 if c in missing else curve,
                                    "precision_mean": [-1] * 101 if c in missing else curve} for c in SHARED_CLASSES},
                },
            }
        }
    }


def cityscapes_metric(ap: float) -> dict:
    return {"results": {"per_class": {c: {"AP": None if c == "train" else ap, "AP50": ap} for c in CLASS_NAMES}}}


@pytest.fixture
def metrics():
    same_ruler = {"coco_val2017": same_ruler_metric(0.5), "cityscapes_val": same_ruler_metric(0.3, missing=("train", "bus"))}
    return same_ruler, {"none": cityscapes_metric(0.2), "two_wheeler": cityscapes_metric(0.25)}


NAMES = {"coco_val2017": "COCO", "cityscapes_val": "Cityscapes"}
COLORS = figures.domain_colors(list(NAMES), "coco_val2017")


def test_every_figure_draws_with_missing_classes_and_saves_atomically(metrics, tmp_path):
    same_ruler, cityscapes = metrics
    labels = {"a": "Model A", "b": "Model B"}
    shares = {d: {how: {"small": 0.5, "medium": 0.3, "large": 0.2} for how in ("absolute", "relative")} for d in NAMES}
    curves = {m: {"fog": {1: 0.4, 3: 0.3, 5: 0.2}, "gaussian_noise": {3: 0.1}} for m in labels}
    drawn = {
        "per_class_ap": figures.per_class_ap("Model A", same_ruler, cityscapes, NAMES, COLORS),
        "per_class_ap_no_protocol": figures.per_class_ap("Model A", same_ruler, {}, NAMES, COLORS),
        "ap_by_size": figures.ap_by_size("Model A", same_ruler, shares, NAMES, COLORS),
        "pr_curves": figures.pr_curves("Model A", same_ruler, NAMES, COLORS),
        "transfer_gap": figures.transfer_gap(labels, {"a": same_ruler, "b": same_ruler}, "coco_val2017",
                                             ["cityscapes_val"], NAMES),
        "model_pair": figures.model_pair(labels, {"a": same_ruler, "b": same_ruler},
                                         {"a": cityscapes["none"], "b": cityscapes["none"]}, ["a", "b"], NAMES),
        "severity": figures.severity_curves(labels, "coco_c", {"a": 0.5, "b": 0.5}, curves, "mask AP"),
    }
    for name, fig in drawn.items():
        paths = figures.save(fig, tmp_path / name)
        assert [p.suffix for p in paths] == [".png", ".pdf"]
        with Image.open(paths[0]) as image:
            assert image.width > 600
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.{e}" for n in drawn for e in ("png", "pdf"))


def test_transfer_gap_bars_are_coco_minus_cityscapes(metrics):
    same_ruler, _ = metrics
    same_ruler["cityscapes_val"]["results"]["segm"]["per_class"]["car"]["AP"] = 0.1
    fig = figures.transfer_gap({"a": "Model A"}, {"a": same_ruler}, "coco_val2017", ["cityscapes_val"], NAMES)
    widths = [p.get_width() for p in fig.axes[0].patches]
    # all classes: the mean over the 5 classes with ground truth on both sides, the same on each side
    assert widths[0] == pytest.approx(50 - (4 * 30 + 10) / 5)
    assert widths[SHARED_CLASSES.index("car") + 1] == pytest.approx(40.0)
    assert widths[SHARED_CLASSES.index("bus") + 1] == 0  # no ground truth on Cityscapes: no bar


def test_severity_curves_start_at_the_clean_ap_and_follow_each_severity():
    curves = {"a": {"fog": {1: 0.4, 3: 0.3}, "snow": {1: 0.2, 3: 0.1}}}
    fig = figures.severity_curves({"a": "A"}, "s", {"a": 0.5}, curves, "AP")
    fog, snow, mean = (ax.get_lines()[0] for ax in fig.axes[:3])
    assert list(fog.get_xdata()) == [0, 1, 3] and list(fog.get_ydata()) == pytest.approx([50, 40, 30])
    assert list(mean.get_ydata()) == pytest.approx([50, 30, 20])


def test_size_shares_use_coco_area_buckets_and_skip_crowd():
    gt = {
        "images": [{"id": 1, "width": 640, "height": 480}],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 5, "name": "airplane"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "area": 31**2, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 3, "area": 32**2, "iscrowd": 0},
            {"id": 3, "image_id": 1, "category_id": 3, "area": 96**2, "iscrowd": 0},
            {"id": 4, "image_id": 1, "category_id": 3, "area": 96**2, "iscrowd": 1},
            {"id": 5, "image_id": 1, "category_id": 5, "area": 10, "iscrowd": 0},  # not a shared class
        ],
    }
    shared = [1, 2, 3, 4, 6, 7, 8]
    assert figures.size_shares(gt, "coco", shared) == pytest.approx({"small": 1 / 3, "medium": 1 / 3, "large": 1 / 3})
    # At 640x480 both definitions agree; on a frame 4x larger each object is a quarter of the share.
    assert figures.size_shares(gt, "coco", shared, relative=True) == figures.size_shares(gt, "coco", shared)
    gt["images"][0].update(width=1280, height=960)
    assert figures.size_shares(gt, "coco", shared, relative=True) == pytest.approx({"small": 2 / 3, "medium": 1 / 3, "large": 0})


# Qualitative ---------------------------------------------------------------------------------------


def boxes(*items):
    return qualitative._boxes([i[0] for i in items], [i[1] for i in items], [i[2] if len(i) > 2 else 1.0 for i in items])


def test_f1_matches_one_to_one_by_class_at_iou_half():
    gt = boxes(("car", [0, 0, 10, 10]), ("person", [20, 20, 10, 10]))
    assert qualitative.f1(gt, gt) == 1
    assert qualitative.f1(gt, boxes(("car", [0, 0, 10, 10]))) == pytest.approx(2 / 3)
    assert qualitative.f1(gt, boxes(("truck", [0, 0, 10, 10]), ("person", [20, 20, 10, 10]))) == pytest.approx(0.5)
    # two detections of one object: only one matches
    assert qualitative.f1(boxes(("car", [0, 0, 10, 10])), boxes(("car", [0, 0, 10, 10], 0.9), ("car", [1, 0, 10, 10], 0.8))) == pytest.approx(2 / 3)
    assert qualitative.f1(boxes(("car", [0, 0, 10, 10])), boxes(("car", [6, 0, 10, 10]))) == 0  # IoU 0.25
    assert qualitative.f1(qualitative.EMPTY, qualitative.EMPTY) == 1


def frame(rows):
    return pd.DataFrame(
        {"image_id": [r[0] for r in rows], "category_id": [r[1] for r in rows], "score": [r[2] for r in rows],
         "bbox": [np.array(r[3], np.float32) for r in rows]}
    )


def test_images_are_chosen_by_disagreement_then_id_with_fixed_ids_first():
    gt = {
        "categories": [{"id": 3, "name": "car"}],
        "annotations": [{"image_id": i, "category_id": 3, "bbox": [0, 0, 10, 10]} for i in (1, 2, 3, 4)],
    }
    names = {3: "car"}
    a = frame([(1, 3, 0.9, [0, 0, 10, 10]), (2, 3, 0.9, [0, 0, 10, 10]), (3, 3, 0.9, [50, 50, 10, 10])])
    b = frame([(1, 3, 0.9, [0, 0, 10, 10]), (2, 3, 0.2, [0, 0, 10, 10]), (3, 3, 0.9, [80, 80, 10, 10])])
    chosen = qualitative.choose_images(gt, {"a": a, "b": b}, [1, 2, 3, 4], names, display_threshold=0.5, count=2, fixed_ids=[1])
    # image 3: all three sources differ (1); images 2 and 4: two pairs of three disagree (2/3), 2 has the lower id
    assert [c["image_id"] for c in chosen] == [1, 3, 2]
    assert [c["disagreement"] for c in chosen[1:]] == pytest.approx([1, 2 / 3])
    assert [c["why"] for c in chosen] == ["config", "most disagreement", "most disagreement"]
    assert chosen[0]["disagreement"] == 0
    with pytest.raises(SegshiftError, match="qualitative_image_ids"):
        qualitative.choose_images(gt, {"a": a}, [1, 2], names, display_threshold=0.5, count=1, fixed_ids=[9])


@pytest.mark.parametrize("objects", [[], [("car", [0, 0, 5, 5])], [("car", [-20, -20, 900, 700])], [("car", [630, 470, 9, 9])]])
def test_crops_stay_inside_the_image(objects):
    top, left, bottom, right = qualitative._crop([(n, b, None, None) for n, b in objects], 480, 640)
    assert 0 <= top < bottom <= 480 and 0 <= left < right <= 640
    assert bottom - top >= 120 and right - left >= 160


def diagnostics_file(delta: dict[str, float], bins: list[tuple[float, float, int]]) -> dict:
    calibration = {"ece": 0.1, "mce": 0.2, "detections": sum(b[2] for b in bins),
                   "bins": [{"confidence": c, "accuracy": a, "count": n} for c, a, n in bins]}
    result = {"errors": {"delta_ap": delta}, "calibration": calibration,
              "scores": {"edges": list(np.linspace(0, 1, 21)), "true_positives": [1] * 20, "false_positives": [1] * 20}}
    return {"results": {"segm": result, "bbox": result}}


def test_tide_errors_are_separate_bars_with_no_total():
    """Each ΔAP fixes one error type alone: stacking or summing them would suggest they add up."""
    delta = {"classification": 0.05, "localisation": 0.04, "both": 0.01, "duplicate": 0.02, "background": 0.03,
             "missed": 0.06}
    fig = figures.errors({"a": "A"}, {"a": {"d": diagnostics_file(delta, [])}}, {"d": "D"})
    for ax in fig.axes[:2]:
        bars = [b for container in ax.containers for b in container]
        assert len(ax.containers) == 6 and len(bars) == 6
        assert all(b.get_x() == 0 for b in bars)  # every bar starts at 0: none stacked on another
        assert sorted(round(b.get_width(), 6) for b in bars) == sorted(round(100 * v, 6) for v in delta.values())
        texts = {t.get_text() for t in ax.texts}
        assert f"{100 * sum(delta.values()):.1f}" not in texts


def test_severity_curves_carry_intervals_on_an_axis_fitted_to_them():
    curves = {"a": {"fog": {1: 0.40, 3: 0.30}}}
    intervals = {("a", None, 0): (0.45, 0.55), ("a", "fog", 1): (0.35, 0.46), ("a", "fog", 3): (0.26, 0.33)}
    fig = figures.severity_curves({"a": "A"}, "s", {"a": 0.5}, curves, "AP", intervals)
    fog = fig.axes[0]
    low, high = fog.get_ylim()
    assert 0 < low <= 26 and 55 <= high < 100  # fitted to the data and whiskers, not 0-100
    whiskers = [c for c in fog.collections if len(c.get_segments()) == 3]
    assert whiskers and sorted(s[:, 1].min() for s in whiskers[0].get_segments()) == pytest.approx([26, 35, 45])


def test_reliability_leaves_out_thin_bins_and_shows_counts():
    bins = [(0.15, 0.1, 3), (0.55, 0.5, 40), (0.85, 0.9, 12)]
    fig = figures.reliability({"a": "A"}, {"a": {"d": diagnostics_file({}, bins)}}, {"d": "D"}, {"d": "#000000"})
    left = fig.axes[0]
    curve = [line for line in left.get_lines() if line.get_marker() == "o"][0]
    assert list(curve.get_xdata()) == [0.55, 0.85]  # the bin of 3 detections is left out
    assert {t.get_text() for t in left.texts} >= {"40", "12"} and "3" not in {t.get_text() for t in left.texts}
