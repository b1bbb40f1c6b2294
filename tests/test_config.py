"""The config is validated at start-up: one line that names the key and what is allowed."""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import REPO, snakemake, write_config
from segshift import config as segshift_config
from segshift.config import ConfigError

MINIMAL = {
    "datasets": {"coco_val2017": {"root": "/data/coco"}},
    "models": {"m": {"backend": "torchvision", "architecture": "maskrcnn_resnet50_fpn", "weights": {"path": "/w.pth"}}},
}


def error_of(config: dict) -> str:
    with pytest.raises(ConfigError) as e:
        segshift_config.validate(config)
    message = str(e.value)
    assert "\n" not in message
    return message


def test_shipped_configs_are_valid():
    for name in ("config.yaml", "test.yaml"):
        config = segshift_config.load(REPO / "config" / name)
        assert config["evaluation"]["coco_eval_engine"] in ("hotcoco", "faster_coco_eval", "pycocotools")


def test_defaults_are_filled_in():
    config = segshift_config.validate(MINIMAL)
    assert config["images_per_shard"] == 50
    assert config["datasets"]["coco_val2017"]["max_images"] is None
    assert config["evaluation"]["rider_policies"] == ["none", "two_wheeler"]
    assert config["evaluation"]["class_mapping"]["person"] == "person"
    assert config["datasets"]["coco_val2017"]["download"]["images"]["sha256"].startswith("4f7e2ccb")
    assert MINIMAL["datasets"]["coco_val2017"] == {"root": "/data/coco"}  # the input is not changed


def test_unknown_key_names_it_and_the_allowed_keys():
    config = copy.deepcopy(MINIMAL)
    config["datasets"]["coco_val2017"]["max_imgs"] = 10
    message = error_of(config)
    assert "unknown key datasets.coco_val2017.max_imgs" in message
    assert "max_images" in message and "root" in message


def test_unknown_top_level_key():
    message = error_of({**MINIMAL, "thresholds": 0.5})
    assert "unknown key thresholds" in message and "evaluation" in message


def test_wrong_type_names_key_and_expected_type():
    config = copy.deepcopy(MINIMAL)
    config["images_per_shard"] = "fifty"
    message = error_of(config)
    assert message.startswith("config: images_per_shard")
    assert "'fifty'" in message and "integer" in message


def test_wrong_type_inside_a_nullable_value():
    config = copy.deepcopy(MINIMAL)
    config["datasets"]["coco_val2017"]["max_images"] = "ten"
    message = error_of(config)
    assert "datasets.coco_val2017.max_images" in message and "integer" in message


def test_missing_required_value():
    config = copy.deepcopy(MINIMAL)
    del config["models"]["m"]["architecture"]
    message = error_of(config)
    assert "models.m" in message and "architecture" in message


def test_unknown_backend_lists_the_allowed_ones():
    config = copy.deepcopy(MINIMAL)
    config["models"]["m"]["backend"] = "mmdet"
    message = error_of(config)
    assert "models.m.backend" in message and "detectron2" in message and "yolo_seg_export" in message


def test_backend_specific_key_is_checked():
    config = copy.deepcopy(MINIMAL)
    config["models"]["m"]["iou_threshold"] = 0.5  # a yolo_seg_export setting
    message = error_of(config)
    assert "models.m.iou_threshold" in message


def test_weights_need_url_or_path_not_both():
    config = copy.deepcopy(MINIMAL)
    config["models"]["m"]["weights"] = {"path": "/w.pth", "url": "https://example.org/w.pth"}
    assert "models.m.weights" in error_of(config)


def test_bad_sha256_is_rejected():
    config = copy.deepcopy(MINIMAL)
    config["models"]["m"]["weights"]["sha256"] = "not-a-hash"
    assert "models.m.weights.sha256" in error_of(config)


def test_class_mapping_names_must_be_coco_classes():
    config = copy.deepcopy(MINIMAL)
    config["evaluation"] = {"class_mapping": {"pedestrian": "person"}}
    assert "pedestrian" in error_of(config)


def test_class_mapping_targets_must_be_cityscapes_classes():
    config = copy.deepcopy(MINIMAL)
    config["evaluation"] = {"class_mapping": {"person": "human"}}
    message = error_of(config)
    assert "evaluation.class_mapping.person" in message and "rider" in message


def test_model_pairs_must_name_models():
    config = copy.deepcopy(MINIMAL)
    config["report"] = {"model_pairs": [["m", "other"]]}
    assert "other" in error_of(config)


def test_environment_variables_expand_in_paths(monkeypatch):
    config = copy.deepcopy(MINIMAL)
    config["datasets"]["coco_val2017"]["root"] = "${SEGSHIFT_TEST_ROOT:-/fallback}/coco"
    monkeypatch.delenv("SEGSHIFT_TEST_ROOT", raising=False)
    assert segshift_config.validate(config)["datasets"]["coco_val2017"]["root"] == "/fallback/coco"
    monkeypatch.setenv("SEGSHIFT_TEST_ROOT", "/elsewhere")
    assert segshift_config.validate(config)["datasets"]["coco_val2017"]["root"] == "/elsewhere/coco"
    config["datasets"]["coco_val2017"]["root"] = "${SEGSHIFT_UNSET_VARIABLE}/coco"
    assert "SEGSHIFT_UNSET_VARIABLE" in error_of(config)


def test_truncated_config_file_is_one_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("datasets:\n  coco_val2017: {root: [unclosed\n")
    with pytest.raises(ConfigError) as e:
        segshift_config.load(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.workflow
def test_workflow_stops_before_any_job_on_a_bad_key(tmp_path):
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["evaluation"] = {"score_treshold": 0.5}
    proc = snakemake(tmp_path, "-n", configfile=write_config(tmp_path / "bad.yaml", config))
    assert proc.returncode != 0
    lines = [line for line in proc.stdout.splitlines() if line.startswith("segshift:")]
    assert lines == [
        "segshift: config: unknown key evaluation.score_treshold; allowed keys: cityscapes_eval_engine, "
        "class_mapping, coco_eval_engine, rider_min_score, rider_overlap, rider_policies, score_threshold"
    ]
    assert "Building DAG" not in proc.stdout
    assert not (tmp_path / "resources").exists() and not (tmp_path / "results").exists()


@pytest.mark.workflow
def test_workflow_stops_on_a_wrong_type(tmp_path):
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["images_per_shard"] = 0
    proc = snakemake(tmp_path, "-n", configfile=write_config(tmp_path / "bad.yaml", config))
    assert proc.returncode != 0
    assert "segshift: config: images_per_shard: 0 is less than the minimum of 1" in proc.stdout


@pytest.mark.workflow
def test_workflow_stops_on_a_wrong_dataset_root(tmp_path, yolo_model):
    config = {"datasets": {"coco_val2017": {"root": str(tmp_path / "nowhere")}}, "models": yolo_model}
    proc = snakemake(tmp_path, "-n", configfile=write_config(tmp_path / "c.yaml", config))
    assert proc.returncode != 0
    assert f"datasets.coco_val2017.root is {tmp_path / 'nowhere'}, but {tmp_path / 'nowhere' / 'val2017'} does not exist" in proc.stdout
