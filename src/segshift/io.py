"""Atomic writes and careful reads.

Every output is written under a hidden temporary name in its own folder and
renamed into place, so a job killed at any moment leaves no partial file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from segshift.errors import SegshiftError

_TMP_MARK = ".segshift-tmp-"


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _temp_glob(path: Path) -> str:
    return f".{path.name}{_TMP_MARK}*"


def remove_stale_temps(path: Path) -> None:
    """Remove temporaries left by an earlier writer of `path` that was killed."""
    path = Path(path)
    if path.parent.is_dir():
        for stale in path.parent.glob(_temp_glob(path)):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to `path`; move it into place on success.

    On an exception the temporary is removed and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    prefix = f".{path.name}{_TMP_MARK}"
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=path.parent))
        tmp.chmod(0o777 & ~_umask())  # mkdtemp and mkstemp make private ones
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, dir=path.parent)
        os.fchmod(fd, 0o666 & ~_umask())
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if directory and path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 1) -> None:
    write_text(path, json.dumps(obj, indent=indent, allow_nan=True) + "\n")


def read_json(path: str | os.PathLike, *, what: str = "JSON file") -> Any:
    """Read JSON, turning a missing or truncated file into a one-line error."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        raise SegshiftError(f"{what} not found: {path}. Check the path in the config.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SegshiftError(
            f"{what} {path} is not valid JSON ({e.__class__.__name__} at byte "
            f"{getattr(e, 'pos', '?')}): the file is truncated or corrupt; "
            "download or copy it again."
        ) from None


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            h.update(chunk)
    return h.hexdigest()
