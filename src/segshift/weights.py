"""Model weights: fetched with a checksum, and checked again before anything loads them."""

from __future__ import annotations

import logging
from pathlib import Path

import hashlib
import shutil

from segshift.download import check_sha256, fetch
from segshift.errors import SegshiftError
from segshift.io import atomic_path, sha256_file, write_text

# The files of a Hugging Face checkpoint that inference reads (no README, no other formats).
HUB_FILES = ["config.json", "*.safetensors", "preprocessor_config.json"]

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


def folder_listing(folder: str | Path) -> str:
    """A checkpoint folder's SHA256SUMS text: every file's sha256 and name, sorted by name."""
    folder = Path(folder)
    files = sorted(f for f in folder.rglob("*") if f.is_file() and f.name != "SHA256SUMS")
    return "".join(f"{sha256_file(f)}  {f.relative_to(folder).as_posix()}\n" for f in files)


def folder_sha256(folder: str | Path) -> str:
    """One hash for a checkpoint folder: the sha256 of its listing (any file changed, added or removed changes it)."""
    return hashlib.sha256(folder_listing(folder).encode()).hexdigest()


def download_hub(repo: str, revision: str, destination: str | Path, sha256: str | None, model: str) -> str:
    """Fetch a Hugging Face checkpoint at a pinned revision into a folder (atomically); record its hashes."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise SegshiftError(f"model {model} is fetched from the Hugging Face hub, which needs huggingface_hub: "
                            f"pip install -r requirements-transformers.txt") from None
    destination = Path(destination)
    with atomic_path(destination, directory=True) as tmp:
        try:
            snapshot_download(repo_id=repo, revision=revision, local_dir=tmp, allow_patterns=HUB_FILES)
        except Exception as e:  # network, an unknown repository or revision: huggingface_hub's own errors
            raise SegshiftError(f"cannot download {repo}@{revision} for model {model} ({str(e).splitlines()[0][:200]}); "
                                f"check models.{model}.weights.hub and the network") from None
        for cache in tmp.glob(".cache"):  # huggingface_hub's bookkeeping, not part of the checkpoint
            shutil.rmtree(cache)
        listing = folder_listing(tmp)
        actual = hashlib.sha256(listing.encode()).hexdigest()
        if sha256 and not actual.startswith(sha256.lower()):
            raise SegshiftError(f"{repo}@{revision} has sha256 {actual} (of its SHA256SUMS), expected {sha256}: "
                                f"correct models.{model}.weights.sha256 or the revision")
        (tmp / "SHA256SUMS").write_text(listing)
    if not sha256:
        log.warning("no sha256 is pinned for model %s; recorded %s from this download. "
                    "Pin it as models.%s.weights.sha256 to detect a changed file.", model, actual, model)
    write_text(record_path(destination), actual + "\n")
    return actual


def verify(path: str | Path, sha256: str | None, model: str) -> str:
    """Check weights before they are loaded (a pickle runs code when loaded); return the sha256.

    Checked against the pinned hash when the config gives one, else against the hash
    recorded when the file was downloaded.
    """
    path = Path(path)
    if not path.exists():
        raise SegshiftError(f"weights file {path} of model {model} is missing; fix models.{model}.weights")
    expected = sha256
    record = record_path(path)
    if not expected and record.is_file():
        expected = record.read_text().strip()
    if path.is_dir():
        actual = folder_sha256(path)
        if expected and not actual.startswith(expected.lower()):
            raise SegshiftError(f"checkpoint folder {path} has sha256 {actual} (of its files' listing), expected "
                                f"{expected}: the weights of model {model} are not the pinned files; delete {path} to "
                                f"download them again or correct models.{model}.weights.sha256")
        return actual
    return check_sha256(
        path,
        expected,
        fix=f"the weights of model {model} are not the pinned file; delete {path} to download it again "
        f"or correct models.{model}.weights.sha256",
    )
