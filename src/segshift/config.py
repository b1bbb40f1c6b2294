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
        return f"{where}: give either url or path, not both"
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
    _check_semantics(config, source)
    _expand_paths(config)
    return config


def _check_semantics(config: dict, source: str) -> None:
    models = config["models"]
    for pair in config.get("report", {}).get("model_pairs", []):
        for name in pair:
            if name not in models:
                raise ConfigError(
                    f"{source}: report.model_pairs names model {name!r}, which is not under models "
                    f"(models: {', '.join(models)})"
                )
    for name in config.get("evaluation", {}).get("class_mapping", {}):
        from segshift.categories import COCO_NAME_TO_ID

        if name not in COCO_NAME_TO_ID:
            raise ConfigError(
                f"{source}: evaluation.class_mapping: {name!r} is not a COCO category name "
                f"(e.g. person, bicycle, car, motorcycle, bus, train, truck)"
            )
    ids = config.get("report", {}).get("qualitative_image_ids", {})
    for dataset in ids:
        if dataset not in config["datasets"]:
            raise ConfigError(
                f"{source}: report.qualitative_image_ids.{dataset} names a dataset that is not under datasets"
            )


def _expand_paths(config: dict) -> None:
    for dataset in config["datasets"].values():
        if dataset.get("root"):
            dataset["root"] = expand_env(dataset["root"])
    for model in config["models"].values():
        if "path" in model["weights"]:
            model["weights"]["path"] = expand_env(model["weights"]["path"])


def load(path: str | os.PathLike) -> dict:
    """Read and validate a config file (used by tests and scripts outside Snakemake)."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
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
    """The backend's keyword arguments: everything in the model entry but backend, weights and label."""
    entry = config["models"][model]
    return {k: v for k, v in entry.items() if k not in ("backend", "weights", "label")}
