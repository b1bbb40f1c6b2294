"""Foggy Cityscapes as a cityscapes dataset with fog_beta, and its paired gap to the clean frames.

The fixture follows Foggy Cityscapes' layout as the Cityscapes server's leftImg8bit_trainvaltest_foggy.zip
unpacks it and as its users read it: leftImg8bit_foggy/{split}/{city}/{frame}_leftImg8bit_foggy_beta_{beta}.png,
three betas per frame (0.005, 0.01, 0.02), 8-bit RGB PNGs at the clean frame's size, no ground truth of
its own (the clean frame's gtFine); see Sakaridis et al. 2018 and sakaridis/fog_simulation-SFSU_synthetic's
README, and DAFormer's FoggyCityscapesDataset (img_suffix leftImg8bit_foggy_beta_0.02.png).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from segshift import manifest
from segshift.datasets import cityscapes
from segshift.errors import SegshiftError
from segshift.evaluation import intervals, resampling


def foggy_tree(shared_data, root):
    """The real frame's image fogged (a flat airlight blend, per beta) in Foggy Cityscapes' names, with
    the real gtFine beside it."""
    clean = shared_data / "cityscapes"
    shutil.copytree(clean / "gtFine", root / "gtFine")
    frame = "frankfurt/frankfurt_000000_000294"
    image = np.asarray(Image.open(clean / "leftImg8bit/val" / f"{frame}_leftImg8bit.png").convert("RGB"), dtype=np.float64)
    for beta in cityscapes.FOG_BETAS:
        t = np.exp(-beta * 60)  # transmittance at a fixed 60 m: enough to make three distinct images
        fogged = (image * t + 255 * (1 - t)).round().astype(np.uint8)
        path = root / cityscapes.image_subdir("val", beta) / f"{frame}{cityscapes.image_suffix(beta)}"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(fogged, "RGB").save(path)
    return root


def test_foggy_frames_keep_the_clean_frames_ground_truth_and_ids(shared_data, tmp_path):
    root = foggy_tree(shared_data, tmp_path / "foggy")
    cityscapes.convert(shared_data / "cityscapes/leftImg8bit/val", shared_data / "cityscapes/gtFine/val",
                       tmp_path / "clean.parquet", tmp_path / "clean.json", dataset="cityscapes_val")
    cityscapes.convert(root / cityscapes.image_subdir("val", 0.02), root / "gtFine/val", tmp_path / "fog.parquet",
                       tmp_path / "fog.json", dataset="foggy", fog_beta=0.02)
    clean, foggy = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("clean", "fog"))
    assert foggy["annotations"] == clean["annotations"] and len(foggy["annotations"]) == 7
    [image] = foggy["images"]
    assert image["file_name"] == "frankfurt/frankfurt_000000_000294_leftImg8bit_foggy_beta_0.02.png"
    assert image["instance_ids_file"] == clean["images"][0]["instance_ids_file"]
    fog, plain = manifest.read(tmp_path / "fog.parquet"), manifest.read(tmp_path / "clean.parquet")
    assert fog.images[["image_id", "city", "sequence"]].equals(plain.images[["image_id", "city", "sequence"]])
    # The other betas are other files: the chosen one is read.
    assert fog.image_path(image["file_name"]).is_file()


def test_a_foggy_frame_without_its_ground_truth_is_one_line_naming_the_file(shared_data, tmp_path):
    root = foggy_tree(shared_data, tmp_path / "foggy")
    missing = root / "gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_instanceIds.png"
    missing.unlink()
    with pytest.raises(SegshiftError) as e:
        cityscapes.convert(root / cityscapes.image_subdir("val", 0.01), root / "gtFine/val", tmp_path / "m.parquet",
                           tmp_path / "g.json", dataset="foggy", fog_beta=0.01)
    assert "\n" not in str(e.value) and str(missing) in str(e.value) and "gtFine_trainvaltest.zip" in str(e.value)
    assert not (tmp_path / "m.parquet").exists() and not (tmp_path / "g.json").exists()


def test_the_paired_gap_uses_the_same_draws_and_is_narrower_than_unpaired():
    """Same image ids (a foggy domain and its clean one): the same draws, so a gap is differenced
    resample by resample; identical predictions give exactly 0."""
    ids = np.arange(1, 41)
    settings = {"resamples": 500, "seed": 0}
    paired = resampling.plan(ids, settings).counts  # resamples, the estimate, the jackknife
    assert np.array_equal(paired, resampling.plan(ids, settings).counts)
    other = resampling.plan(ids + 1000, settings).counts  # other images: independent draws
    setting = intervals.Setting("bca", 0.95, 500)
    rng = np.random.default_rng(0)
    clean = rng.uniform(0.2, 0.8, len(ids))  # per-image contributions to a mean
    fog = clean - 0.05 + rng.normal(0, 0.02, len(ids))  # fog costs each frame about the same
    mean = lambda counts, v: counts @ v / counts.sum(1)  # noqa: E731
    same = intervals.difference(mean(paired, clean), mean(paired, fog), setting)
    unpaired = intervals.difference(mean(paired, clean), mean(other, fog), setting, paired=False)
    assert same["ci_high"] - same["ci_low"] < (unpaired["ci_high"] - unpaired["ci_low"]) / 3
    identical = intervals.difference(mean(paired, clean), mean(paired, clean), setting)
    assert identical["ci_low"] == identical["ci_high"] == 0.0
