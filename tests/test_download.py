"""Downloads against a local HTTP server on 127.0.0.1: checksums, atomic files, the COCO rules end to end."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
import zipfile
from pathlib import Path

import pytest

from conftest import snakemake, write_config
from segshift import download, manifest
from segshift.errors import SegshiftError


@pytest.fixture
def http_root(tmp_path):
    """Serve a folder on 127.0.0.1 for the duration of one test."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tiny_coco_archives(shared_data: Path, folder: Path, n_images: int = 2) -> tuple[Path, Path]:
    """val2017.zip and annotations_trainval2017.zip laid out as the official ones, with a few real images."""
    full = json.loads((shared_data / "coco" / "annotations" / "instances_val2017.json").read_text())
    images = sorted(full["images"], key=lambda im: im["file_name"])[:n_images]
    ids = {im["id"] for im in images}
    subset = {**full, "images": images, "annotations": [a for a in full["annotations"] if a["image_id"] in ids]}
    images_zip, annotations_zip = folder / "val2017.zip", folder / "annotations_trainval2017.zip"
    with zipfile.ZipFile(images_zip, "w") as zf:
        for im in images:
            zf.write(shared_data / "coco" / "val2017" / im["file_name"], f"val2017/{im['file_name']}")
    with zipfile.ZipFile(annotations_zip, "w") as zf:
        zf.writestr("annotations/instances_val2017.json", json.dumps(subset))
        zf.writestr("annotations/captions_val2017.json", "{}")
    return images_zip, annotations_zip


def test_fetch_accepts_the_right_checksum(http_root, tmp_path):
    root, url = http_root
    (root / "a.bin").write_bytes(b"segshift" * 1000)
    digest = download.fetch(f"{url}/a.bin", tmp_path / "out" / "a.bin", sha256(root / "a.bin"))
    assert digest == sha256(root / "a.bin")
    assert (tmp_path / "out" / "a.bin").read_bytes() == b"segshift" * 1000


def test_fetch_rejects_a_wrong_checksum_and_keeps_nothing(http_root, tmp_path):
    root, url = http_root
    (root / "a.bin").write_bytes(b"segshift" * 1000)
    with pytest.raises(SegshiftError) as e:
        download.fetch(f"{url}/a.bin", tmp_path / "out" / "a.bin", "0" * 64)
    assert "a.bin" in str(e.value) and "expected " + "0" * 64 in str(e.value)
    assert list((tmp_path / "out").iterdir()) == []


def test_fetch_names_an_unreachable_url(tmp_path):
    with pytest.raises(SegshiftError, match="cannot download http://127.0.0.1:9/none.zip"):
        download.fetch("http://127.0.0.1:9/none.zip", tmp_path / "none.zip", None)


def test_unpack_refuses_a_wrong_archive(tmp_path):
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("something/else.txt", "x")
    with pytest.raises(SegshiftError, match="holds nothing under val2017/"):
        download.unpack(archive, tmp_path / "val2017", "val2017")
    assert not (tmp_path / "val2017").exists()
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(SegshiftError, match="not a valid zip"):
        download.unpack(tmp_path / "broken.zip", tmp_path / "val2017", "val2017")


def coco_download_config(url: str, images_zip: Path, annotations_zip: Path, yolo_model: dict, *, images_sha: str | None = None) -> dict:
    return {
        "datasets": {
            "coco_val2017": {
                "kind": "coco",
                "download": {
                    "images": {"url": f"{url}/{images_zip.name}", "sha256": images_sha or sha256(images_zip)},
                    "annotations": {"url": f"{url}/{annotations_zip.name}", "sha256": sha256(annotations_zip)},
                }
            }
        },
        "models": yolo_model,
    }


@pytest.mark.workflow
def test_coco_rules_download_verify_unpack_and_prepare(http_root, shared_data, yolo_model, tmp_path):
    root, url = http_root
    images_zip, annotations_zip = tiny_coco_archives(shared_data, root)
    work = tmp_path / "work"
    work.mkdir()
    config = write_config(work / "c.yaml", coco_download_config(url, images_zip, annotations_zip, yolo_model))
    target = "resources/datasets/coco_val2017/manifest.parquet"
    snakemake(work, "--cores", "1", target, configfile=config, check=True)
    table = manifest.read(work / target)
    assert len(table.images) == 2
    assert (work / "resources/coco_val2017/val2017" / table.images["file_name"][0]).is_file()
    assert (work / "resources/downloads/coco_val2017/images.zip").read_bytes() == images_zip.read_bytes()
    assert (work / "logs/download_coco/coco_val2017/images.log").is_file()


@pytest.mark.workflow
def test_download_rule_rejects_a_wrong_checksum_and_leaves_no_file(http_root, shared_data, yolo_model, tmp_path):
    root, url = http_root
    images_zip, annotations_zip = tiny_coco_archives(shared_data, root)
    work = tmp_path / "work"
    work.mkdir()
    config = write_config(work / "c.yaml", coco_download_config(url, images_zip, annotations_zip, yolo_model, images_sha="1" * 64))
    proc = snakemake(work, "--cores", "1", "resources/downloads/coco_val2017/images.zip", configfile=config)
    assert proc.returncode != 0
    assert f"images.zip from {url}/val2017.zip has sha256 {sha256(images_zip)}, expected {'1' * 64}" in proc.stdout
    downloads = work / "resources/downloads/coco_val2017"
    assert not downloads.exists() or list(downloads.iterdir()) == []


@pytest.mark.workflow
def test_missing_cityscapes_credentials_stop_the_run_before_any_job(yolo_model, tmp_path):
    config = write_config(tmp_path / "c.yaml", {"datasets": {"cityscapes_val": {"kind": "cityscapes", "root": None}}, "models": yolo_model})
    proc = snakemake(
        tmp_path, "--cores", "1", configfile=config, env={"CITYSCAPES_USERNAME": "", "CITYSCAPES_PASSWORD": ""}
    )
    assert proc.returncode != 0
    assert "segshift: Cityscapes is neither on disk nor downloadable" in proc.stdout
    assert "export CITYSCAPES_USERNAME and CITYSCAPES_PASSWORD" in proc.stdout
    assert not (tmp_path / "resources").exists() and not (tmp_path / "results").exists()


@pytest.mark.workflow
def test_credentials_are_never_printed_or_logged(yolo_model, tmp_path):
    secret = "pa55-w0rd-never-shown"
    config = write_config(tmp_path / "c.yaml", {"datasets": {"cityscapes_val": {"kind": "cityscapes", "root": None}}, "models": yolo_model})
    proc = snakemake(
        tmp_path, "-n", "-p", "--verbose", configfile=config,
        env={"CITYSCAPES_USERNAME": "someone", "CITYSCAPES_PASSWORD": secret},
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "download_cityscapes" in proc.stdout
    assert secret not in proc.stdout
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
