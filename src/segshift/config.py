"""Validate the experiment config against its JSON schema, with one-line errors."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError, best_match

from segshift import domains, slices
from segshift.categories import COCO_NAME_TO_ID
from segshift.errors import SegshiftError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(SegshiftError):
    pass


def expand_env(value: str) -> str:
    """Expand ${VAR} and ${VAR:-default}; an unset variable without default is an error."""

    def replace(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ and os.environ[name] != "":
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(
            f"config value {value!r} uses ${{{name}}}, which is not set: export {name} "
            f"or write ${{{name}:-default}}"
        )

    return _ENV_PATTERN.sub(replace, value)


def _with_defaults(validator_class):
    """A validator that fills in schema defaults while it validates."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _describe(error: ValidationError) -> str:
    where = _key(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        keys = ", ".join(f"{where}.{k}" if error.absolute_path else k for k in extra)
        hint = f"allowed keys: {', '.join(allowed)}" if allowed else "no other keys are allowed here"
        return f"unknown key {keys}; {hint}"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"{where}: missing required key '{missing}'"
    if error.validator == "enum":
        return f"{where}: {error.instance!r} is not allowed; allowed values: {', '.join(map(str, error.validator_value))}"
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{where}: {error.instance!r} has the wrong type; expected {expected}"
    if error.validator == "oneOf" and error.context:
        reasons = sorted({_describe(e).split(": ", 1)[-1] for e in error.context})
        return f"{where}: {error.instance!r} fits none of the allowed forms ({'; '.join(reasons)})"
    if error.validator == "not":
        return f"{where}: give one of url, path or hub, not several"
    return f"{where}: {error.message}"


def validate(config: dict, schema: dict | None = None, source: str = "config") -> dict:
    """Return a validated copy of `config` with defaults filled in.

    Raises ConfigError with one line that names the key, the problem and what is allowed.
    """
    config = copy.deepcopy(config)
    schema = schema if schema is not None else load_schema()
    validator = _Validator(schema)
    error = best_match(validator.iter_errors(config))
    if error is not None:
        raise ConfigError(f"{source}: {_describe(error)}")
    _expand_paths(config)
    try:
        config["domains"] = domains.expand(config, source)
        config["source"] = config.get("source") or domains.default_source(config, config["domains"])
    except domains.DomainError as e:
        raise ConfigError(str(e)) from None
    _check_semantics(config, source)
    return config


def _check_semantics(config: dict, source: str) -> None:
    models, names = config["models"], config["domains"]
    for pair in config.get("report", {}).get("model_pairs", []):
        for name in pair:
            if name not in models:
                raise ConfigError(
                    f"{source}: report.model_pairs names model {name!r}, which is not under models "
                    f"(models: {', '.join(models)})"
                )
    for name in config.get("evaluation", {}).get("class_mapping", {}):
        if name not in COCO_NAME_TO_ID:
            raise ConfigError(
                f"{source}: evaluation.class_mapping: {name!r} is not a COCO category name "
                f"(e.g. person, bicycle, car, motorcycle, bus, train, truck)"
            )
    if config["source"] not in names or names[config["source"]]["corruption"]:
        raise ConfigError(f"{source}: source is {config['source']!r}, which is not a clean domain "
                          f"(domains: {', '.join(n for n, d in names.items() if not d['corruption'])})")
    report = config.get("report", {})
    named = [(f"report.qualitative_image_ids.{d}", d) for d in report.get("qualitative_image_ids", {})]
    named += [("report.qualitative_domains", d) for d in report.get("qualitative_domains") or []]
    named += [("report.domain_pairs", d) for pair in report.get("domain_pairs") or [] for d in pair]
    named += [("evaluation.diagnostics_domains", d) for d in config.get("evaluation", {}).get("diagnostics_domains") or []]
    for key, domain in named:
        if domain not in names:
            raise ConfigError(f"{source}: {key} names {domain!r}, which is not a domain (domains: {', '.join(names)})")
    _check_shift_pairs(config, source)
    _check_results(config, source)
    try:
        slices.check(config, source)
    except SegshiftError as e:
        raise ConfigError(str(e)) from None
    for name, dataset in config["datasets"].items():
        if dataset["kind"] == "coco_json":
            _check_coco_json(config, name, dataset, source)


def _check_shift_pairs(config: dict, source: str) -> None:
    """report.shift_pairs names a corruption of a suite and a clean target; a suite and a domain do not
    share a name (the across-models figures name both by key)."""
    names = config["domains"]
    suites = config.get("corruption_suites") or {}
    for suite in suites:
        if suite in names:
            raise ConfigError(f"{source}: corruption_suites.{suite} has the name of a domain; rename the suite")
    corrupted = list(dict.fromkeys(d["corruption"]["name"] for d in names.values() if d["suite"]))
    real = [n for n, d in names.items() if not d["corruption"] and n != config["source"]]
    for corruption, domain in config.get("report", {}).get("shift_pairs", []):
        if corruption not in corrupted:
            raise ConfigError(f"{source}: report.shift_pairs names corruption {corruption!r}, which no corruption "
                              f"suite makes (suites' corruptions: {', '.join(corrupted) or 'none'})")
        if domain not in real:
            raise ConfigError(f"{source}: report.shift_pairs names {domain!r}, which is not a clean target domain "
                              f"(clean targets: {', '.join(real) or 'none'})")


def _check_results(config: dict, source: str) -> None:
    """A results_json model's files name domains, include the source (every gap is taken to it) and
    cover a corruption suite wholly or not at all (mPC averages over all of its domains)."""
    names = config["domains"]
    for model, entry in config["models"].items():
        given = entry.get("results")
        if given is None:
            continue
        key = f"{source}: models.{model}.results"
        for domain in given:
            if domain not in names:
                raise ConfigError(f"{key} names {domain!r}, which is not a domain (domains: {', '.join(names)})")
        if config["source"] not in given:
            raise ConfigError(f"{key} has no file for the source domain {config['source']!r}; every gap is "
                              "taken to it: give one")
        for suite in dict.fromkeys(d["suite"] for d in names.values() if d["suite"]):
            base = config["corruption_suites"][suite]["domain"]  # rPC divides by the clean domain's AP
            members = [base] + [n for n, d in names.items() if d["suite"] == suite]
            have = [n for n in members if n in given]
            if have and len(have) < len(members):
                missing = [n for n in members if n not in given]
                raise ConfigError(f"{key} gives {len(have)} of the {len(members)} domains of corruption suite "
                                  f"{suite!r} and its clean domain (missing {', '.join(missing)}); give all or none: "
                                  "mPC averages over all")


def covers(config: dict, model: str, domain: str) -> bool:
    """Whether a model has predictions on a domain: always, but for a results_json model without its file."""
    given = config["models"][model].get("results")
    return given is None or domain in given


def _check_coco_json(config: dict, name: str, dataset: dict, source: str) -> None:
    """A coco_json dataset maps onto COCO's classes and shares at least one with the source."""
    from segshift.datasets import coco_json

    key = f"{source}: datasets.{name}"
    for theirs, ours in (dataset.get("category_mapping") or {}).items():
        if ours not in COCO_NAME_TO_ID:
            raise ConfigError(f"{key}.category_mapping maps {theirs!r} to {ours!r}, which is not a COCO class "
                              f"(e.g. person, car, bicycle)")
    if not Path(dataset["annotations"]).is_file():
        raise ConfigError(f"{key}.annotations is {dataset['annotations']}, which is not a file; fix the path")
    mapped = set(coco_json.category_map(coco_json.read_categories(dataset["annotations"]),
                                        dataset.get("category_mapping")).values())
    source_dataset = config["datasets"][config["domains"][config["source"]]["dataset"]]
    if source_dataset["kind"] == "coco_json":
        source_classes = set(coco_json.category_map(coco_json.read_categories(source_dataset["annotations"]),
                                                    source_dataset.get("category_mapping")).values())
    else:
        source_classes = set(COCO_NAME_TO_ID.values())
    if not mapped & source_classes:
        raise ConfigError(f"{key}: no category of {dataset['annotations']} maps to a class of the source "
                          f"{config['source']!r}; give category_mapping (their name: COCO name)")


def _expand_paths(config: dict) -> None:
    for dataset in config["datasets"].values():
        for key in ("root", "images", "annotations"):
            if dataset.get(key):
                dataset[key] = expand_env(dataset[key])
    for model in config["models"].values():
        if "path" in model.get("weights", {}):
            model["weights"]["path"] = expand_env(model["weights"]["path"])
        for domain, path in (model.get("results") or {}).items():
            model["results"][domain] = expand_env(path)


class _StrictLoader(yaml.SafeLoader):
    """YAML whose mappings may not repeat a key (PyYAML keeps the last one silently)."""


def _mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"key {key!r} appears twice in one mapping (line {key_node.start_mark.line + 1}); "
                              "rename or remove one")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_yaml(path: str | os.PathLike):
    """A config file's contents; a repeated key is an error that names the file and line."""
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.load(f, Loader=_StrictLoader)
    except ConfigError as e:
        raise ConfigError(f"config file {path}: {e}") from None


def load(path: str | os.PathLike) -> dict:
    """Read and validate a config file (used by tests and scripts outside Snakemake)."""
    path = Path(path)
    try:
        raw = read_yaml(path)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys, not {type(raw).__name__}")
    return validate(raw, source=str(path))


def model_label(config: dict, model: str) -> str:
    return config["models"][model].get("label", model)


def model_settings(config: dict, model: str) -> dict[str, Any]:
    """The backend's keyword arguments: everything in the model entry but what describes it (backend, weights,
    label, family, backbone), so that a new label or family reruns no inference."""
    entry = config["models"][model]
    return {k: v for k, v in entry.items()
            if k not in ("backend", "weights", "label", "family", "backbone", "results")}
