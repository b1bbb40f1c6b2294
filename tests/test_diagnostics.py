"""Why AP drops: TIDE errors on hand-made cases and against tidecv, Boundary AP against the official
boundary-iou-api, calibration against hotcoco, confusions on hand-made cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import reference_tools
from segshift import masks, metrics, predictions, tables
from segshift.evaluation import bootstrap, coco, diagnostics
from test_evaluation import detections, real_cityscapes_predictions, region  # noqa: F401

SIZE = (200, 200)
CAR, TRUCK, PERSON = 3, 8, 1
CAR_A, CAR_B = region(slice(20, 80), slice(20, 80), SIZE), region(slice(120, 180), slice(120, 180), SIZE)


def ground_truth(objects, size=SIZE, categories=(PERSON, CAR, TRUCK)) -> dict:
    """One image holding `objects` ((category_id, mask)), as a dataset's ground-truth JSON."""
    names = {PERSON: "person", CAR: "car", TRUCK: "truck"}
    annotations = []
    for k, (category_id, mask) in enumerate(objects, start=1):
        rle = masks.encode(mask[None])[0]
        ys, xs = np.nonzero(mask)
        annotations.append({"id": k, "image_id": 1, "category_id": category_id, "iscrowd": 0, "area": float(mask.sum()),
                            "bbox": [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                                     float(ys.max() - ys.min() + 1)], "segmentation": rle})
    return {"images": [{"id": 1, "width": size[1], "height": size[0], "file_name": "a.png"}],
            "annotations": annotations,
            "categories": [{"id": c, "name": names[c], "supercategory": "x"} for c in categories]}


TWO_CARS = ground_truth([(CAR, CAR_A), (CAR, CAR_B)])
FOUND_A, FOUND_B = (CAR, 0.9, CAR_A), (CAR, 0.7, CAR_B)
# Each case: the two cars, and detections with exactly one error, ranked between the two hits.
ERROR_CASES = {
    "classification": [FOUND_A, (TRUCK, 0.7, CAR_B)],
    "localisation": [FOUND_A, (CAR, 0.8, region(slice(20, 80), slice(55, 115), SIZE)), FOUND_B],
    "duplicate": [FOUND_A, (CAR, 0.8, region(slice(21, 80), slice(20, 80), SIZE)), FOUND_B],
    "background": [FOUND_A, (CAR, 0.8, region(slice(150, 190), slice(10, 50), SIZE)), FOUND_B],
    "missed": [FOUND_A],
}


@pytest.mark.parametrize("iou_type", coco.IOU_TYPES)
@pytest.mark.parametrize("error", ERROR_CASES)
def test_each_hand_made_error_is_counted_as_its_tide_type_and_only_it_costs_ap(error, iou_type):
    frame = detections(*ERROR_CASES[error], size=SIZE)
    out = diagnostics.tide_errors(diagnostics.evaluated(TWO_CARS, frame, [1], iou_type, [PERSON, CAR, TRUCK]))
    assert out["counts"] == {name: int(name == error) for name in diagnostics.ERRORS.values()}
    assert out["AP50"] < 1
    assert out["delta_ap"][error] > 0.1
    assert all(v == 0 for name, v in out["delta_ap"].items() if name not in (error, "false_positives", "false_negatives"))
    assert out["AP50"] + out["delta_ap"][error] == pytest.approx(1)


def test_perfect_detections_have_no_error():
    out = diagnostics.tide_errors(diagnostics.evaluated(TWO_CARS, detections(FOUND_A, FOUND_B, size=SIZE), [1], "segm",
                                                        [CAR]))
    assert out["AP50"] == 1 and not any(out["counts"].values()) and not any(out["delta_ap"].values())


def real_coco(run) -> tuple[pd.DataFrame, dict, list[int], list[int]]:
    """The real YOLO predictions on the shared COCO images: frame, ground truth, image ids, class ids."""
    shards, gt_path = run
    frame, meta = predictions.read(shards)
    gt = json.loads(Path(gt_path).read_text())
    return frame, gt, sorted(predictions.covered_images(meta)), sorted(c["id"] for c in gt["categories"])


def tidecv_errors(gt: dict, frame: pd.DataFrame, iou_type: str) -> dict:
    pytest.importorskip("tidecv")
    return reference_tools.tidecv_errors(gt, frame, iou_type)


@pytest.mark.parametrize("iou_type", coco.IOU_TYPES)
def test_tide_errors_equal_tidecv_on_the_real_predictions(coco_run, iou_type):
    """Where the two define the same thing (README, "Why it drops"): no crowd regions, no class without
    ground truth among the detections, none whose objects are all missed."""
    frame, gt, ids, _ = real_coco(coco_run)
    gt["annotations"] = [a for a in gt["annotations"] if not a["iscrowd"] and a["image_id"] in set(ids)]
    classes = sorted({a["category_id"] for a in gt["annotations"]} & set(frame["category_id"]))
    gt["annotations"] = [a for a in gt["annotations"] if a["category_id"] in classes]
    frame = frame[frame["category_id"].isin(classes)]
    assert len(classes) > 30 and len(frame) > 5000
    ours = diagnostics.tide_errors(diagnostics.evaluated(gt, frame, ids, iou_type, classes))
    theirs = tidecv_errors(gt, frame, iou_type)
    # to 0.01 AP points: tidecv reads precision on the grid i / 100, COCOeval on np.linspace(0, 1, 101)
    assert ours["AP50"] == pytest.approx(theirs["AP50"], abs=1e-4)
    for name in [*diagnostics.ERRORS.values(), "false_positives", "false_negatives"]:
        assert ours["delta_ap"][name] == pytest.approx(theirs[name], abs=1e-4), name
    assert ours["counts"] == theirs["counts"]
    assert all(ours["counts"].values())


def test_tidecv_and_hotcoco_differ_where_the_readme_says(coco_run):
    """A class whose only object is missed and that nothing detects: tidecv drops it from the mean once
    the miss is fixed (its AP was 0), hotcoco keeps it."""
    frame, gt, ids, _ = real_coco(coco_run)
    gt["annotations"] = [a for a in gt["annotations"] if not a["iscrowd"] and a["image_id"] in set(ids)]
    detected = set(frame["category_id"])
    classes = sorted({a["category_id"] for a in gt["annotations"]})
    assert set(classes) - detected, "the shared images have a class nothing detects"
    frame = frame[frame["category_id"].isin(classes)]
    ours = diagnostics.tide_errors(diagnostics.evaluated(gt, frame, ids, "bbox", classes))
    theirs = tidecv_errors(gt, frame, "bbox")
    assert ours["AP50"] == pytest.approx(theirs["AP50"], abs=1e-4)
    assert ours["delta_ap"]["classification"] == pytest.approx(theirs["classification"], abs=1e-4)
    n = len(classes)
    fixed = theirs["AP50"] + theirs["missed"]  # tidecv: mean over the n - 1 classes left
    assert abs(ours["delta_ap"]["missed"] - theirs["missed"]) > 0.005
    assert ours["delta_ap"]["missed"] == pytest.approx(fixed * (n - 1) / n - ours["AP50"], abs=1e-4)


# Boundary AP -----------------------------------------------------------------------------------


def square(size, top, side) -> np.ndarray:
    return region(slice(top, top + side), slice(top, top + side), size)


@pytest.mark.parametrize("engine", coco.ENGINES)
def test_boundary_ap_of_a_perfect_prediction_is_one(engine):
    gt = ground_truth([(CAR, CAR_A), (PERSON, CAR_B)])
    frame = detections((CAR, 0.9, CAR_A), (PERSON, 0.8, CAR_B), size=SIZE)
    out = coco.evaluate(gt, frame, [1], engine=engine, iou_types=("segm", coco.BOUNDARY))
    assert out[coco.BOUNDARY]["summary"]["AP"] == pytest.approx(1, abs=1e-12)
    assert out["segm"]["summary"]["AP"] == pytest.approx(1, abs=1e-12)


def test_a_mask_shrunk_by_a_few_pixels_loses_more_boundary_ap_than_mask_ap():
    size = (480, 640)
    truth = square(size, 60, 300)
    gt = ground_truth([(CAR, truth)], size=size)
    scores = {}
    for shrink in (0, 3):
        frame = detections((CAR, 0.9, square(size, 60 + shrink, 300 - 2 * shrink)), size=size)
        out = coco.evaluate(gt, frame, [1], iou_types=("segm", coco.BOUNDARY), category_ids=[CAR])
        scores[shrink] = {k: out[k]["summary"]["AP"] for k in ("segm", coco.BOUNDARY)}
    mask_loss = scores[0]["segm"] - scores[3]["segm"]
    boundary_loss = scores[0][coco.BOUNDARY] - scores[3][coco.BOUNDARY]
    assert scores[0] == pytest.approx({"segm": 1, coco.BOUNDARY: 1}, abs=1e-12)
    assert boundary_loss > mask_loss + 0.3, scores


def official_boundary_ap(gt: dict, frame: pd.DataFrame, image_ids, category_ids) -> dict:
    root = reference_tools.boundary_iou_api_root()
    if root is None:
        pytest.skip("the official boundary-iou-api is not here: set SEGSHIFT_BOUNDARY_IOU_API to a checkout of "
                    "github.com/bowenc0221/boundary-iou-api")
    return reference_tools.official_boundary_ap(root, gt, frame, image_ids, category_ids)


def assert_boundary_equal(ours: dict, theirs: dict):
    np.testing.assert_allclose([ours["summary"][k] for k in coco.SUMMARY], theirs["summary"], rtol=0, atol=1e-12)
    for name, value in theirs["per_class"].items():
        np.testing.assert_allclose(ours["per_class"][name]["AP"], value, rtol=0, atol=1e-12, err_msg=name)


def test_boundary_ap_equals_the_official_boundary_iou_api_on_the_real_coco_predictions(coco_run):
    frame, gt, ids, classes = real_coco(coco_run)
    ours = coco.evaluate(gt, frame, ids, iou_types=(coco.BOUNDARY,))[coco.BOUNDARY]
    assert 0 < ours["summary"]["AP"] < coco.evaluate(gt, frame, ids, iou_types=("segm",))["segm"]["summary"]["AP"]
    assert_boundary_equal(ours, official_boundary_ap(gt, frame, ids, classes))


def test_boundary_ap_equals_the_official_boundary_iou_api_on_the_real_cityscapes_frame(shared_data, yolo_weights,
                                                                                      tmp_path):
    out = real_cityscapes_predictions(shared_data, yolo_weights, tmp_path)
    frame, meta = predictions.read([out / "s.parquet"])
    raw = json.loads((out / "gt.json").read_text())
    classes = coco.domain_classes(raw, "cityscapes")
    gt, frame, _ = coco.same_ruler_inputs(raw, "cityscapes", frame, classes, False)
    ids = predictions.covered_images(meta)
    ours = coco.evaluate(gt, frame, ids, iou_types=(coco.BOUNDARY,), category_ids=classes)[coco.BOUNDARY]
    assert np.isfinite(ours["summary"]["AP"])
    assert_boundary_equal(ours, official_boundary_ap(gt, frame, ids, classes))


def test_resampled_boundary_ap_on_unit_weights_equals_faster_coco_eval(coco_run):
    """The bootstrap's Boundary IoU (faster-coco-eval's boundary bands, re-matched per resample) on the
    full image list is faster-coco-eval's Boundary AP: the intervals are of the same number."""
    frame, gt, ids, classes = real_coco(coco_run)
    pairs = bootstrap.coco_pairs(gt, frame, ids, coco.BOUNDARY, classes)
    names = [c["name"] for c in sorted(gt["categories"], key=lambda c: c["id"])]
    ours = bootstrap.coco_numbers(bootstrap.coco_resampled(bootstrap.match(pairs), np.ones((1, len(ids)))), names)
    theirs = coco.evaluate(gt, frame, ids, iou_types=(coco.BOUNDARY,))[coco.BOUNDARY]
    for key in coco.SUMMARY:
        np.testing.assert_allclose(ours[f"summary/{key}"][0], theirs["summary"][key], rtol=0, atol=1e-12, err_msg=key)


# Calibration ------------------------------------------------------------------------------------


@pytest.mark.parametrize("iou_type", coco.IOU_TYPES)
def test_resampled_ece_on_unit_weights_equals_hotcocos_calibration(coco_run, iou_type):
    frame, gt, ids, classes = real_coco(coco_run)
    theirs = diagnostics.calibration(diagnostics.evaluated(gt, frame, ids, iou_type, classes), 10)
    pairs = bootstrap.coco_pairs(gt, frame, ids, iou_type, classes)
    image, score, true = diagnostics.scored_detections(pairs)
    assert len(score) == theirs["detections"] == sum(b["count"] for b in theirs["bins"])
    ece = diagnostics.resampled_ece(image, score, true, len(ids), np.ones((1, len(ids))), 10)
    assert ece[0] == pytest.approx(theirs["ece"], abs=1e-12)
    # an image drawn twice counts twice: the same as its detections listed twice
    counts = np.ones((1, len(ids)), dtype=np.int64)
    counts[0, :5] = 2
    twice = np.isin(image, np.arange(5))
    doubled = diagnostics.resampled_ece(np.concatenate([image, image[twice]]), np.concatenate([score, score[twice]]),
                                        np.concatenate([true, true[twice]]), len(ids), np.ones((1, len(ids))), 10)
    assert diagnostics.resampled_ece(image, score, true, len(ids), counts, 10)[0] == pytest.approx(doubled[0], abs=1e-12)


def test_score_histograms_split_true_and_false_positives():
    score = np.array([0.05, 0.5, 0.97, 0.99])
    true = np.array([False, True, True, False])
    out = diagnostics.score_histograms(score, true, bins=4)
    assert out["true_positives"] == [0, 0, 1, 1] and out["false_positives"] == [1, 0, 0, 1]


# Confusions -------------------------------------------------------------------------------------


def test_a_truck_on_a_car_is_a_car_to_truck_confusion_and_a_box_on_nothing_is_background():
    gt = ground_truth([(CAR, CAR_A), (CAR, CAR_B), (PERSON, region(slice(150, 190), slice(10, 50), SIZE))])
    frame = detections((CAR, 0.9, CAR_A), (TRUCK, 0.8, CAR_B), (CAR, 0.6, region(slice(0, 10), slice(150, 200), SIZE)),
                       size=SIZE)
    out = diagnostics.confusion(gt, frame, [1])
    index = {name: k for k, name in enumerate(out["classes"] + ["background"])}
    m = np.asarray(out["matrix"])
    assert m[index["car"], index["car"]] == 1 and m[index["car"], index["truck"]] == 1
    assert m[index["person"], index["background"]] == 1  # missed
    assert m[index["background"], index["car"]] == 1  # a car on nothing
    assert m.sum() == 4
    tidy, layout = tables.confusion_table([{"model": "m", "domain": "d", "results": [{"rider_policy": None, **out}]}],
                                          {"m": "M"})
    row = tidy[(tidy.ground_truth == "car") & (tidy.predicted == "truck")]
    assert row["share"].iat[0] == 0.5
    assert "50.0" in layout.markdown()


def test_the_confusion_stage_scores_cityscapes_under_each_rider_policy(shared_data, yolo_weights, tmp_path):
    out = real_cityscapes_predictions(shared_data, yolo_weights, tmp_path)
    mapping = {n: n for n in ["person", "bicycle", "car", "motorcycle", "bus", "train", "truck"]}
    result = metrics.confusion_metrics([out / "s.parquet"], out / "gt.json", domain="cityscapes_val", kind="cityscapes",
                                       score_threshold=0.0, class_mapping=mapping,
                                       rider_policies=["none", "two_wheeler"], rider={"rider_overlap": 0.3})
    assert [e["rider_policy"] for e in result["results"]] == ["none", "two_wheeler"]
    for entry in result["results"]:
        assert "rider" in entry["classes"]
        m = np.asarray(entry["matrix"])
        rider = entry["classes"].index("rider")
        if entry["rider_policy"] == "none":
            assert m[:, rider].sum() == 0  # nothing is ever called a rider
        gt = json.loads((out / "gt.json").read_text())
        assert m[:-1].sum() == len([a for a in gt["annotations"] if not a.get("iscrowd")])


# The metric stage, tables and figures ----------------------------------------------------------


def write_case(tmp_path, items) -> tuple[Path, Path]:
    """A one-image domain (TWO_CARS) and a prediction shard holding `items`."""
    from segshift.backends import Instances

    frame = detections(*items, size=SIZE) if items else None
    inst = Instances(
        category_id=np.array([] if frame is None else frame["category_id"], dtype=np.int64),
        score=np.array([] if frame is None else frame["score"], dtype=np.float32),
        bbox=np.zeros((0, 4), np.float32) if frame is None else np.stack(frame["bbox"]),
        segmentation=[] if frame is None else [{"size": list(SIZE), "counts": c} for c in frame["counts"]],
    )
    shard = tmp_path / "shard.parquet"
    predictions.write(shard, [(1, inst)], {"model": "m", "image_ids": [1]})
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(TWO_CARS))
    return shard, gt


@pytest.mark.parametrize("items", [ERROR_CASES["duplicate"], []], ids=["duplicate", "nothing detected"])
def test_the_diagnostics_stage_scores_a_domain_with_intervals_or_says_why_not(tmp_path, items):
    shard, gt = write_case(tmp_path, items)
    result, values = metrics.diagnostics_metrics([shard], gt, gt, domain="d", kind="coco", source="d", source_kind="coco",
                                                 score_threshold=0.0, calibration_bins=5,
                                                 resampling={"resamples": 20, "seed": 0, "confidence": 0.95})
    r = result["results"]
    assert set(r) == {"boundary", "bbox", "segm"}
    assert set(values) >= {"boundary/summary/AP", "segm/ece", "bbox/ece"}
    assert result["provenance"]["settings"]["calibration_bins"] == 5
    if items:
        assert r["segm"]["errors"]["counts"]["duplicate"] == 1
        assert r["boundary"]["summary"]["AP"] < 1
        # one image: every resample is the image itself
        assert result["intervals"]["boundary/summary/AP"] == pytest.approx([r["boundary"]["summary"]["AP"]] * 2, abs=1e-12)
        assert sum(r["segm"]["scores"]["true_positives"]) == 2 and sum(r["segm"]["scores"]["false_positives"]) == 1
        assert r["segm"]["calibration"]["detections"] == 3
    else:
        assert r["boundary"]["summary"]["AP"] == 0 and r["segm"]["errors"]["counts"]["missed"] == 2
        assert r["segm"]["calibration"]["ece"] is None  # no detection has no calibration
    files = [{**result, "model": "m"}]
    tidy, layout = tables.errors_table(files, {"m": "M"})
    assert set(tidy["error"]) == {*diagnostics.ERRORS.values(), *diagnostics.SPECIAL_ERRORS.values()}
    tidy, layout = tables.calibration_table(files, {"m": "M"})
    assert len(tidy) == 4 and "ECE mask" in layout.markdown()
    from segshift import figures

    for fig in (figures.errors({"m": "M"}, {"m": {"d": files[0]}}, {"d": "D"}),
                figures.reliability({"m": "M"}, {"m": {"d": files[0]}}, {"d": "D"}, {"d": "#000000"})):
        figures.save(fig, tmp_path / "figure")
        assert (tmp_path / "figure.png").stat().st_size > 0


def test_boundary_table_gaps_use_both_files_resamples(tmp_path):
    """The Boundary gap's interval comes from the diagnostics' resamples, the mask gap's from the same
    ruler's, joined row by row (the same draws)."""
    def files(model, domain, mask, boundary):
        same = {"metric": "same_ruler", "model": model, "domain": domain,
                "results": {"segm": {"summary": {"AP": mask}, "per_class": {"car": {"AP": mask, "AP50": mask, "APs": None,
                                                                                     "APm": None, "APl": mask}}}},
                "intervals": {"segm/summary/AP": [mask - 0.1, mask + 0.1]}}
        diag = {"metric": "diagnostics", "model": model, "domain": domain,
                "results": {"boundary": {"summary": {"AP": boundary}, "per_class": {"car": {
                    "AP": boundary, "AP50": boundary, "APs": None, "APm": None, "APl": boundary}}}}}
        return same, diag

    (s1, d1), (s2, d2) = files("m", "src", 0.6, 0.4), files("m", "tgt", 0.3, 0.3)
    rng = np.random.default_rng(0)
    resamples = {}
    for same, diag in ((s1, d1), (s2, d2)):
        noise = rng.normal(0, 0.02, 50)
        resamples[("m", same["domain"], "same_ruler")] = pd.DataFrame({"segm/per_class/car/AP": same["results"]["segm"]["summary"]["AP"] + noise})
        resamples[("m", same["domain"], "diagnostics")] = pd.DataFrame({"boundary/per_class/car/AP": diag["results"]["boundary"]["summary"]["AP"] + noise / 2})
    tidy, layout = tables.boundary_table([d1, d2], [s1, s2], {"m": "M"}, "src", resamples=resamples)
    rows = tidy[(tidy.metric == "AP") & (tidy.category == "all")].set_index("iou_type")
    assert rows.at["mask", "gap"] == pytest.approx(0.3) and rows.at["boundary", "gap"] == pytest.approx(0.1)
    width = rows["ci_high"] - rows["ci_low"]
    assert 0 < width["boundary"] < width["mask"]  # the boundary columns carry half the noise
    assert "+30.0 [" in layout.markdown() and "+10.0 [" in layout.markdown()
