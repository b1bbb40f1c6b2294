"""Model weights: fetched with a checksum, and checked again before anything loads them."""

from __future__ import annotations

import logging
from pathlib import Path

from segshift.download import check_sha256, fetch
from segshift.errors import SegshiftError
from segshift.io import write_text

log = logging.getLogger(__name__)


def record_path(weights: str | Path) -> Path:
    return Path(f"{weights}.sha256")


def download(url: str, destination: str | Path, sha256: str | None, model: str) -> str:
    """Download weights, check them against `sha256`, and record the full hash beside them."""
    actual = fetch(url, destination, sha256)
    if not sha256:
        log.warning(
            "no sha256 is pinned for model %s; recorded %s from this download. "
            "Pin it as models.%s.weights.sha256 to detect a changed file.",
            model, actual, model,
        )
    write_text(record_path(destination), actual + "\n")
    return actual


def verify(path: str | Path, sha256: str | None, model: str) -> str:
    """Check weights before they are loaded (a pickle runs code when loaded); return the sha256.

    Checked against the pinned hash when the config gives one, else against the hash
    recorded when the file was downloaded.
    """
    path = Path(path)
    if not path.is_file():
        raise SegshiftError(f"weights file {path} of model {model} is missing; fix models.{model}.weights")
    expected = sha256
    record = record_path(path)
    if not expected and record.is_file():
        expected = record.read_text().strip()
    return check_sha256(
        path,
        expected,
        fix=f"the weights of model {model} are not the pinned file; delete {path} to download it again "
        f"or correct models.{model}.weights.sha256",
    )
