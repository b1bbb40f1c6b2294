"""Checked downloads and archive unpacking."""

from __future__ import annotations

import hashlib
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from segshift.errors import SegshiftError
from segshift.io import atomic_path, sha256_file


def check_sha256(path: str | Path, expected: str | None, *, fix: str) -> str:
    """Return the file's sha256; raise if it does not start with `expected` (a full hash or a prefix)."""
    actual = sha256_file(path)
    if expected and not actual.startswith(expected.lower()):
        raise SegshiftError(f"{path} has sha256 {actual}, expected {expected}: {fix}")
    return actual


def fetch(url: str, destination: str | Path, sha256: str | None, *, chunk_size: int = 1 << 20) -> str:
    """Download `url` to `destination` atomically and return its sha256.

    A checksum mismatch raises and leaves nothing at `destination`.
    """
    destination = Path(destination)
    digest = hashlib.sha256()
    try:
        response = urllib.request.urlopen(url, timeout=60)
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise SegshiftError(f"cannot download {url} ({reason}); check the URL and the network") from None
    with response, atomic_path(destination) as tmp, open(tmp, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=destination.name, file=sys.stderr, mininterval=2) as bar:
            try:
                for chunk in iter(lambda: response.read(chunk_size), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            except (urllib.error.URLError, OSError) as e:
                raise SegshiftError(f"download of {url} broke off ({e}); run again to retry") from None
        out.flush()
        actual = digest.hexdigest()
        if sha256 and not actual.startswith(sha256.lower()):
            raise SegshiftError(
                f"{destination.name} from {url} has sha256 {actual}, expected {sha256}: the file is corrupt or the "
                "server sent another file; nothing was kept, retry or fix the sha256 in the config"
            )
    return actual


def unpack(archive: str | Path, destination: str | Path, members: str) -> None:
    """Extract `members` of a zip to `destination` atomically.

    `members` names one file of the archive, or a folder whose files are extracted
    into `destination`.
    """
    archive, destination = Path(archive), Path(destination)
    prefix = members.rstrip("/") + "/"
    try:
        with zipfile.ZipFile(archive) as zf:
            if members in zf.namelist():
                with zf.open(members) as src, atomic_path(destination) as tmp, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                return
        with zipfile.ZipFile(archive) as zf, atomic_path(destination, directory=True) as tmp:
            names = [n for n in zf.namelist() if n.startswith(prefix) and not n.endswith("/")]
            if not names:
                raise SegshiftError(f"{archive} holds nothing under {prefix}; it is not the expected archive")
            for name in tqdm(names, desc=f"unpack {archive.name}", file=sys.stderr, mininterval=2):
                target = tmp / name[len(prefix):]
                if not target.resolve().is_relative_to(tmp.resolve()):
                    raise SegshiftError(f"{archive} member {name} points outside its folder; refusing to unpack")
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(name) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    except zipfile.BadZipFile:
        raise SegshiftError(f"{archive} is not a valid zip file; delete it and download again") from None
