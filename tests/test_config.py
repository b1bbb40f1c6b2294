"""The config is validated at start-up: one line that names the key and what is allowed."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from conftest import REPO, snakemake, write_config
from segshift import config as segshift_config
from segshift.config import ConfigError

MINIMAL = {
    "datasets": {"coco_val2017": {"kind": "coco", "root": "/data/coco"}},
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
    assert MINIMAL["datasets"]["coco_val2017"] == {"kind": "coco", "root": "/data/coco"}  # the input is not changed
    # No domains: one clean domain per dataset, and the coco one is the source.
    assert config["domains"] == {"coco_val2017": {"dataset": "coco_val2017", "corruption": None, "test_size": None,
                                                  "suite": None, "label": None}}
    assert config["source"] == "coco_val2017"


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


def test_diagnostics_domains_must_name_domains():
    message = error_of({**MINIMAL, "evaluation": {"diagnostics_domains": ["coco_val2017-fog-3"]}})
    assert "evaluation.diagnostics_domains names 'coco_val2017-fog-3', which is not a domain" in message
    assert "(domains: coco_val2017)" in message


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
        "segshift: config: unknown key evaluation.score_treshold; allowed keys: bootstrap, boundary_dilation_ratio, "
        "calibration_bins, cityscapes_eval_engine, "
        "class_mapping, coco_eval_engine, diagnostics_domains, multiple_comparisons, rider_mask_overlap, rider_min_score, rider_overlap, rider_policies, "
        "same_ruler_ignore_regions, score_threshold"
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
    config = {"datasets": {"coco_val2017": {"kind": "coco", "root": str(tmp_path / "nowhere")}}, "models": yolo_model}
    proc = snakemake(tmp_path, "-n", configfile=write_config(tmp_path / "c.yaml", config))
    assert proc.returncode != 0
    assert f"datasets.coco_val2017.root is {tmp_path / 'nowhere'}, but {tmp_path / 'nowhere' / 'val2017'} does not exist" in proc.stdout


# Domains --------------------------------------------------------------------------------------


def with_domains(**extra) -> dict:
    config = copy.deepcopy(MINIMAL)
    config["datasets"]["streets"] = {"kind": "cityscapes", "root": "/data/cityscapes"}
    config["domains"] = {"coco_val2017": {"dataset": "coco_val2017"}, "streets": {"dataset": "streets"}}
    config.update(extra)
    return config


def test_a_suite_expands_into_one_domain_per_corruption_and_severity():
    config = segshift_config.validate(with_domains(corruption_suites={
        "coco_c": {"domain": "coco_val2017", "corruptions": ["fog", "gaussian_noise"], "severities": [1, 5]}}))
    names = [d for d in config["domains"] if config["domains"][d]["suite"] == "coco_c"]
    assert names == ["coco_val2017-fog-1", "coco_val2017-gaussian_noise-1", "coco_val2017-fog-5",
                     "coco_val2017-gaussian_noise-5"]
    assert config["domains"]["coco_val2017-fog-5"]["corruption"] == {"name": "fog", "severity": 5}
    benchmark = segshift_config.validate(with_domains(corruption_suites={"c": {"domain": "streets"}}))
    assert sum(d["suite"] == "c" for d in benchmark["domains"].values()) == 15 * 5


def test_an_unknown_corruption_names_the_key_and_the_allowed_ones():
    config = with_domains()
    config["domains"]["fog"] = {"dataset": "coco_val2017", "corruption": {"name": "fgo", "severity": 3}}
    message = error_of(config)
    assert "domains.fog.corruption.name" in message and "'fgo'" in message and "gaussian_noise" in message


def test_a_severity_outside_1_to_5_is_refused():
    config = with_domains()
    config["domains"]["fog"] = {"dataset": "coco_val2017", "corruption": {"name": "fog", "severity": 6}}
    assert "domains.fog.corruption.severity: severity 6 is outside 1-5" in error_of(config)
    suite = with_domains(corruption_suites={"c": {"domain": "coco_val2017", "severities": [0, 1]}})
    assert "corruption_suites.c.severities: severity 0 is outside 1-5" in error_of(suite)


def test_two_domains_with_one_name_are_refused(tmp_path):
    suite = {"domain": "coco_val2017", "corruptions": ["fog"], "severities": [3]}
    config = with_domains(corruption_suites={"c": suite, "d": {**suite, "severities": [2, 3]}})
    assert "corruption_suites.d makes domain 'coco_val2017-fog-3', which is declared twice" in error_of(config)
    config = with_domains(corruption_suites={"c": suite})
    config["domains"]["coco_val2017-fog-3"] = {"dataset": "coco_val2017"}  # a name only a suite can make
    assert "domains: 'coco_val2017-fog-3' does not match" in error_of(config)
    path = tmp_path / "twice.yaml"
    path.write_text("datasets:\n  coco_val2017: {kind: coco}\ndomains:\n  a: {dataset: coco_val2017}\n"
                    "  a: {dataset: coco_val2017, test_size: [400, 600]}\nmodels: {}\n")
    with pytest.raises(ConfigError) as e:
        segshift_config.load(path)
    assert str(path) in str(e.value) and "'a' appears twice" in str(e.value) and "line 5" in str(e.value)


def test_a_domain_of_an_unknown_dataset_and_a_bad_source_are_refused():
    config = with_domains()
    config["domains"]["x"] = {"dataset": "kitti"}
    assert "domains.x.dataset is 'kitti', which is not under datasets" in error_of(config)
    assert "source is 'nowhere'" in error_of(with_domains(source="nowhere"))


def coco_json_dataset(tmp_path, categories) -> dict:
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": [], "annotations": [], "categories": categories}))
    return {"kind": "coco_json", "images": str(tmp_path), "annotations": str(path)}


def test_a_coco_json_target_must_share_a_class_with_the_source(tmp_path):
    config = with_domains()
    config["datasets"]["mine"] = coco_json_dataset(tmp_path, [{"id": 1, "name": "pedestrian"}])
    config["domains"]["mine"] = {"dataset": "mine"}
    assert "datasets.mine: no category of" in error_of(config) and "category_mapping" in error_of(config)
    config["datasets"]["mine"]["category_mapping"] = {"pedestrian": "person"}
    assert segshift_config.validate(config)["domains"]["mine"]["dataset"] == "mine"
    config["datasets"]["mine"]["category_mapping"] = {"pedestrian": "walker"}
    assert "maps 'pedestrian' to 'walker', which is not a COCO class" in error_of(config)


def test_no_rule_or_module_names_a_dataset():
    """The kind of a domain comes from its config entry: rules/, src/ and the scripts spell no dataset name."""
    files = [p for d in ("rules", "src/segshift", "workflow/scripts") for p in (REPO / d).rglob("*") if p.suffix in (".py", ".smk")]
    files.append(REPO / "Snakefile")
    assert len(files) > 30
    for path in files:
        text = path.read_text()
        for name in ("coco_val2017", "cityscapes_val"):
            assert name not in text, f"{path.relative_to(REPO)} names {name}"


def test_bootstrap_settings_get_defaults_and_bad_values_are_one_line(tmp_path):
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    checked = segshift_config.validate(copy.deepcopy(config))
    assert checked["evaluation"]["bootstrap"] == {
        "resamples": 1000, "seed": 0, "min_images": 10, "confidence": 0.95, "method": "bca", "jackknife_groups": 100,
        "cluster_by": {"coco": [], "coco_json": [], "cityscapes": ["city", "sequence"], "acdc": ["condition", "sequence"]},
        "min_clusters": 10}
    assert checked["evaluation"]["multiple_comparisons"] == "holm"
    config.setdefault("evaluation", {})["bootstrap"] = {"resamples": 100, "confidence": 1.5}
    with pytest.raises(ConfigError) as e:
        segshift_config.validate(config)
    assert "evaluation.bootstrap.confidence" in str(e.value) and "\n" not in str(e.value)


def test_the_new_backends_settings_are_checked():
    hub = {"hub": {"repo": "facebook/mask2former-swin-tiny-coco-instance", "revision": "0" * 40}}
    config = copy.deepcopy(MINIMAL)
    config["models"] = {"m2f": {"backend": "transformers", "weights": hub},
                        "rf": {"backend": "rfdetr", "weights": {"path": "/rf-detr-seg-medium.pt"}},
                        "y11": {"backend": "ultralytics", "weights": {"path": "/yolo11n-seg.pt"}}}
    validated = segshift_config.validate(config)["models"]
    assert validated["rf"]["size"] == "medium" and validated["y11"]["score_floor"] == 0.001
    config["models"]["m2f"]["weights"]["hub"]["revision"] = "main"  # a branch moves: a commit is required
    assert "models.m2f.weights" in error_of(config)
    config["models"]["m2f"]["weights"] = {**hub, "path": "/ckpt"}
    assert "give one of url, path or hub" in error_of(config)
    config["models"]["m2f"]["weights"] = hub
    config["models"]["rf"]["size"] = "huge"
    assert "models.rf.size: 'huge' is not allowed; allowed values: nano, small, medium, large, xlarge, 2xlarge" in error_of(config)
