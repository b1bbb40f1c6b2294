"""Mask helpers: the box-limited bilinear resize and the band RLE encoder match their full-size references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from segshift import masks


@pytest.mark.parametrize("shape", [(160, 160, 426, 640), (120, 160, 480, 640), (37, 51, 1024, 2048), (160, 160, 100, 80)])
def test_bilinear_matrix_reproduces_torch_interpolate(shape):
    hin, win, hout, wout = shape
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, hin, win)).astype(np.float32)
    reference = F.interpolate(torch.from_numpy(x)[:, None], (hout, wout), mode="bilinear")[:, 0].numpy()
    ours = masks.bilinear_matrix(hout, hin) @ x @ masks.bilinear_matrix(wout, win).T
    np.testing.assert_allclose(ours, reference, atol=1e-4)
    assert ((ours > 0) != (reference > 0)).sum() == 0


def test_band_encoding_equals_full_mask_encoding():
    rng = np.random.default_rng(3)
    for _ in range(500):
        h, w = rng.integers(1, 50, 2)
        r1, r2 = sorted(rng.integers(0, h + 1, 2))
        c1, c2 = sorted(rng.integers(0, w + 1, 2))
        band = rng.random((r2 - r1, c2 - c1)) > rng.random()
        full = np.zeros((h, w), dtype=bool)
        full[r1:r2, c1:c2] = band
        assert masks.encode_band(band, r1, c1, h, w) == masks.encode(full[None])[0]


def test_encode_columns_equals_full_mask_encoding():
    rng = np.random.default_rng(4)
    binary = rng.random((6, 23, 31)) > 0.7
    binary[2] = False  # an empty mask
    binary[3, :, 5:9] &= True
    binary[3, :, :5] = binary[3, :, 9:] = False
    assert masks.encode_columns(torch.from_numpy(binary)) == masks.encode(binary)


def test_box_pixels_follow_the_half_open_pixel_rule():
    # Pixel index c is inside when x1 <= c < x2 (Ultralytics' crop_mask rule).
    assert masks.box_pixels(np.array([[0.0, 0.0, 2.0, 2.0]]), 10, 10).tolist() == [[0, 0, 2, 2]]
    assert masks.box_pixels(np.array([[0.2, 1.5, 2.1, 3.0]]), 10, 10).tolist() == [[1, 2, 3, 3]]
    assert masks.box_pixels(np.array([[-5.0, -1.0, 50.0, 4.0]]), 10, 10).tolist() == [[0, 0, 10, 4]]
