"""Ground-truth maps (maps.py): hand-checkable cases for Y_fix / Y_den and fixation-preserving resizing."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from stavis_lib.data.maps import (
    dense_map,
    fixation_map,
    fixation_pixels,
    resize_dense,
    resize_fixations,
    sigma_from_width_fraction,
)


def test_fixation_map_rounding_and_dropping():
    # (x, y): pixel (floor(y), floor(x)); the frame is 4 rows x 5 columns.
    pts = np.array(
        [
            [0.0, 0.0],  # top-left pixel
            [4.999, 3.999],  # bottom-right pixel
            [2.5, 1.2],  # row 1, col 2
            [5.0, 1.0],  # x == W: outside
            [-0.01, 1.0],  # x < 0: outside
            [1.0, 4.0],  # y == H: outside
            [np.nan, 2.0],  # lost sample
        ]
    )
    fix = fixation_map(pts, 4, 5)
    assert fix.dtype == bool and fix.shape == (4, 5)
    expected = np.zeros((4, 5), bool)
    expected[0, 0] = expected[3, 4] = expected[1, 2] = True
    np.testing.assert_array_equal(fix, expected)
    np.testing.assert_array_equal(fixation_pixels(pts, 4, 5), [[0, 0], [3, 4], [1, 2]])


def test_fixation_map_empty_and_bad_shape():
    assert not fixation_map(np.zeros((0, 2)), 3, 3).any()
    with pytest.raises(ValueError, match="shape"):
        fixation_map(np.zeros((3, 3)), 3, 3)


def test_dense_map_single_fixation_is_a_gaussian():
    fix = np.zeros((21, 31), bool)
    fix[10, 15] = True
    sigma = 3.0
    d = dense_map(fix, sigma)
    assert d.dtype == np.float32 and d.shape == fix.shape
    assert d[10, 15] == pytest.approx(1.0)
    # one sigma away along a row: exp(-1/2); diagonal (3, 4) away: exp(-25 / 18)
    assert d[10, 18] == pytest.approx(math.exp(-0.5), rel=1e-6)
    assert d[13, 19] == pytest.approx(math.exp(-25 / 18), rel=1e-6)
    assert d.min() >= 0 and d.max() == 1.0


def test_dense_map_matches_scipy_gaussian_filter():
    rng = np.random.default_rng(0)
    fix = np.zeros((40, 60), bool)
    fix[rng.integers(0, 40, 12), rng.integers(0, 60, 12)] = True
    ours = dense_map(fix, 4.0)
    ref = ndimage.gaussian_filter(fix.astype(np.float64), 4.0, mode="constant", truncate=20.0)
    ref /= ref.max()
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_dense_map_no_fixation_and_bad_sigma():
    np.testing.assert_array_equal(dense_map(np.zeros((5, 6), bool), 2.0), np.zeros((5, 6), np.float32))
    with pytest.raises(ValueError, match="sigma"):
        dense_map(np.ones((3, 3), bool), 0.0)


def test_sigma_from_width_fraction():
    assert sigma_from_width_fraction(0.05, 160) == pytest.approx(8.0)
    with pytest.raises(ValueError):
        sigma_from_width_fraction(-1.0, 10)


def test_resize_fixations_downscale_keeps_every_fixation():
    fix = np.zeros((100, 100), bool)
    # isolated single fixations, none of which survive a naive bilinear/area resize to 7x7 as > 0.5
    fix[0, 0] = fix[99, 99] = fix[50, 13] = True
    small = resize_fixations(fix, (7, 7))
    # centre (r + .5) * 7 / 100: rows 0.035 -> 0, 99.5 * .07 = 6.965 -> 6, 50.5 * .07 = 3.535 -> 3
    # cols 0 -> 0, 99 -> 6, 13.5 * .07 = 0.945 -> 0
    expected = np.zeros((7, 7), bool)
    expected[0, 0] = expected[6, 6] = expected[3, 0] = True
    np.testing.assert_array_equal(small, expected)


def test_resize_fixations_merge_and_upscale():
    fix = np.zeros((4, 4), bool)
    fix[0, 0] = fix[0, 1] = True  # both centres land in output pixel (0, 0) at 2x2
    assert resize_fixations(fix, (2, 2)).sum() == 1
    up = resize_fixations(fix, (8, 12))
    # (0 + .5) * 8/4 = 1 -> row 1; cols (0.5 * 3 = 1.5 -> 1) and (1.5 * 3 = 4.5 -> 4)
    assert set(zip(*np.nonzero(up))) == {(1, 1), (1, 4)}


def test_resize_fixations_random_never_empty():
    rng = np.random.default_rng(1)
    for _ in range(20):
        fix = np.zeros((rng.integers(5, 300), rng.integers(5, 300)), bool)
        fix[rng.integers(0, fix.shape[0]), rng.integers(0, fix.shape[1])] = True
        out = resize_fixations(fix, (int(rng.integers(1, 50)), int(rng.integers(1, 50))))
        assert out.sum() == 1


def test_resize_dense_range_and_peak():
    fix = np.zeros((60, 80), bool)
    fix[30, 40] = True
    d = dense_map(fix, 1.0)  # narrow peak: antialiased shrinking lowers it
    small = resize_dense(d, (12, 16))
    assert small.shape == (12, 16) and small.dtype == np.float32
    assert small.max() == pytest.approx(1.0) and small.min() >= 0.0
    assert np.unravel_index(small.argmax(), small.shape) == (6, 8)
    raw = resize_dense(d, (12, 16), normalize=False)
    assert raw.max() < 1.0
    np.testing.assert_array_equal(resize_dense(np.zeros((5, 5), np.float32), (3, 3)), np.zeros((3, 3)))
