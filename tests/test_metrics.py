"""Saliency metrics against hand-computed values, invariances and independent brute-force checks."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from stavis_lib import metrics as M

# A 3x3 prediction with distinct values 0..8 and two fixations, on the values 8 and 5.
S9 = np.array([[8, 0, 1],
               [2, 7, 3],
               [4, 5, 6]], dtype=float)
F9 = np.zeros((3, 3))
F9[0, 0] = 1
F9[2, 1] = 1


# --------------------------------------------------------------------------- hand-computed values
def test_cc_hand_computed():
    # a = one pixel on, b = two pixels on (N = 9).
    # sum((a-ma)(b-mb)) = sum(ab) - N*ma*mb = 1 - 9*(1/9)*(2/9) = 7/9
    # sum((a-ma)^2) = 1 - 1/9 = 8/9 ; sum((b-mb)^2) = 2 - 4/9 = 14/9
    # r = (7/9) / sqrt(8/9 * 14/9) = 7 / sqrt(112) = sqrt(7) / 4 = 0.6614378...
    a = np.zeros((3, 3)); a[0, 0] = 1
    b = np.zeros((3, 3)); b[0, 0] = b[0, 1] = 1
    assert M.cc(a, b) == pytest.approx(math.sqrt(7) / 4, abs=1e-12)
    assert M.cc(b, a) == pytest.approx(math.sqrt(7) / 4, abs=1e-12)


def test_nss_hand_computed_uses_sample_std():
    # mean(S9) = 4; sum of squared deviations = 16+9+4+1+0+1+4+9+16 = 60
    # sample std = sqrt(60/8) = sqrt(7.5); fixated values 8 and 5 -> z = 4/sqrt(7.5), 1/sqrt(7.5)
    # NSS = (5/2)/sqrt(7.5) = 0.912870...
    expected = 2.5 / math.sqrt(7.5)
    assert M.nss(S9, F9) == pytest.approx(expected, abs=1e-12)
    # pysaliency's population std (ddof 0) would give 2.5/sqrt(60/9) = 0.968...: not our convention
    assert abs(M.nss(S9, F9) - 2.5 / math.sqrt(60 / 9)) > 0.05


def test_nss_binarises_the_fixation_map():
    twice = F9.copy()
    twice[0, 0] = 2          # fixated by two viewers: still counts once
    assert M.nss(S9, twice) == pytest.approx(M.nss(S9, F9), abs=1e-15)


def test_auc_judd_hand_computed():
    # positives {8,5}, negatives {0,1,2,3,4,6,7} (7 pixels); min-max keeps the order.
    # threshold 8: TP 1/2, FP 0/7 ; threshold 5: TP 1, FP #{6,7}/7 = 2/7
    # ROC (0,0) (0,.5) (2/7,1) (1,1): area = 0 + (2/7)(.5+1)/2 + (5/7)(1+1)/2 = 3/14 + 10/14 = 13/14
    assert M.auc_judd(S9, F9, jitter=False) == pytest.approx(13 / 14, abs=1e-12)
    # the jitter (< 1e-7) cannot reorder values one apart
    assert M.auc_judd(S9, F9, jitter=True, seed=3) == pytest.approx(13 / 14, abs=1e-6)
    # the Mann-Whitney pairwise AUC would be (7 + 5) / 14 = 6/7: AUC-Judd is not that
    assert abs(M.auc_judd(S9, F9, jitter=False) - 6 / 7) > 0.05


def test_auc_judd_ties_without_jitter():
    # S = [[1,1,0],[0,...]], one fixation on the first 1. Threshold 1: TP 1, FP 1/8 (the other 1).
    # ROC (0,0) (1/8,1) (1,1): area = (1/8)(0+1)/2 + (7/8)(1+1)/2 = 1/16 + 14/16 = 15/16
    s = np.zeros((3, 3)); s[0, 0] = s[0, 1] = 1
    f = np.zeros((3, 3)); f[0, 0] = 1
    assert M.auc_judd(s, f, jitter=False) == pytest.approx(15 / 16, abs=1e-12)


def test_sim_hand_computed_min_max_first():
    # pred = [[3,4,5],[3,3,3],[3,3,3]] -> min-max [[0,.5,1],0...] -> /1.5 -> [0, 1/3, 2/3]
    # gt   = [[1,1,0],0...]           -> [.5, .5, 0]
    # SIM = min(0,.5) + min(1/3,.5) + min(2/3,0) = 1/3
    pred = np.full((3, 3), 3.0); pred[0] = [3, 4, 5]
    gt = np.zeros((3, 3)); gt[0, :2] = 1
    assert M.sim(pred, gt) == pytest.approx(1 / 3, abs=1e-12)


def test_kld_hand_computed():
    # P = [2,1,1,0...]/4 = [.5,.25,.25,0...] ; Q = [1,1,0,...]/2 = [.5,.5,0...]
    # KLD = .5 ln(1) + .5 ln(.5/.25) + 0 = 0.5 ln 2 (eps = 2.2e-16 is negligible)
    pred = np.zeros((3, 3)); pred[0] = [2, 1, 1]
    gt = np.zeros((3, 3)); gt[0, :2] = 1
    assert M.kld(pred, gt) == pytest.approx(0.5 * math.log(2), abs=1e-12)
    # a zero prediction where the GT has mass costs log(eps + Q/eps) ~ log(1/(2 eps)), large and finite
    big = M.kld(np.zeros((3, 3)), gt)
    assert big == pytest.approx(math.log(0.5 / M.KLD_EPS), rel=1e-6)


def test_sauc_mit_hand_computed_and_exact():
    # After min-max: positives {1.0, 0.58}, negatives {0.52, 0.0}; other pixels 0.3 (not used).
    # Two negatives for two fixations: every split draws the same set, so the mean is exact.
    # MIT thresholds 1.0..0.0 step .1:  t=1.0..0.6: TP .5 FP 0 ; t=.5..0.1: TP 1 FP .5 ; t=0: TP 1 FP 1
    # ROC (0,0) (0,.5) (.5,1) (1,1): area = (.5)(.5+1)/2 + (.5)(2)/2 = .375 + .5 = .875
    # Exact: 1.0 beats both, 0.58 beats both -> 4/4 = 1.0 (0.58 and 0.52 share a 0.1 bin in MIT)
    s = np.full((3, 3), 0.3)
    s[0, 0], s[0, 1], s[1, 0], s[1, 1] = 1.0, 0.58, 0.52, 0.0
    fix = np.zeros((3, 3)); fix[0, 0] = fix[0, 1] = 1
    neg = np.zeros((3, 3), bool); neg[1, 0] = neg[1, 1] = True
    assert M.auc_shuffled(s, fix, neg, method="mit", n_splits=7, seed=1) == pytest.approx(0.875, abs=1e-12)
    assert M.auc_shuffled(s, fix, neg, method="exact") == pytest.approx(1.0, abs=1e-12)


def test_exact_sauc_equals_brute_force_pairwise_auc():
    rng = np.random.default_rng(5)
    pred = np.round(rng.random((4, 12, 15)) * 10) / 10         # coarse values: many ties
    fix = rng.random((4, 12, 15)) > 0.9
    neg = rng.random((4, 12, 15)) > 0.7
    neg &= ~fix
    got = M.auc_shuffled(pred, fix, neg, method="exact")
    for i in range(4):
        pos_v = pred[i][fix[i]]
        neg_v = pred[i][neg[i]]
        wins = sum(1.0 for a in pos_v for b in neg_v if a > b)
        ties = sum(1.0 for a in pos_v for b in neg_v if a == b)
        assert got[i] == pytest.approx((wins + 0.5 * ties) / (len(pos_v) * len(neg_v)), abs=1e-12)


def test_sauc_mit_is_seedable_and_close_to_exact():
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[:30, :40]
    pred = np.exp(-((yy - 15) ** 2 + (xx - 20) ** 2) / 80.0) + 0.3 * rng.random((30, 40))
    fix = rng.random((30, 40)) > 0.9
    neg = (rng.random((30, 40)) > 0.5) & ~fix
    a = M.auc_shuffled(pred, fix, neg, method="mit", seed=11)
    b = M.auc_shuffled(pred, fix, neg, method="mit", seed=11)
    c = M.auc_shuffled(pred, fix, neg, method="mit", seed=12)
    assert a == b and a != c
    assert a == pytest.approx(M.auc_shuffled(pred, fix, neg, method="exact"), abs=0.03)


def test_shuffled_negatives_construction():
    f = np.zeros((3, 2, 2), bool)
    f[0, 0, 0] = True                 # frame 0 fixates (0,0)
    f[1, 0, 0] = f[1, 1, 1] = True    # frame 1 fixates (0,0) and (1,1)
    f[2, 0, 1] = True                 # frame 2 fixates (0,1)
    neg = M.shuffled_negatives(f)
    # frame 0: union of frames 1,2 = {(0,0),(1,1),(0,1)} minus own {(0,0)} -> {(1,1),(0,1)}
    assert neg[0].tolist() == [[False, True], [False, True]]
    # frame 1: union of frames 0,2 = {(0,0),(0,1)} minus own {(0,0),(1,1)} -> {(0,1)}
    assert neg[1].tolist() == [[False, True], [False, False]]
    # frame 2: union of frames 0,1 = {(0,0),(1,1)} minus own {(0,1)} -> {(0,0),(1,1)}
    assert neg[2].tolist() == [[True, False], [False, True]]
    keep = M.shuffled_negatives(f, exclude_current=False)
    assert keep[1].tolist() == [[True, True], [False, False]]
    one = M.shuffled_negatives(f, n_other=1, seed=0)
    for t in range(3):                # one other frame: a subset of the all-frames union
        assert not (one[t] & ~neg[t]).any()


# --------------------------------------------------------------------------- NaN handling
def test_frames_without_fixations_are_nan_and_counted():
    pred = np.random.default_rng(0).random((3, 5, 5))
    fix = np.zeros((3, 5, 5))
    fix[0, 2, 2] = 1
    neg = np.zeros((3, 5, 5), bool); neg[:, 0, 0] = True
    for values in (M.nss(pred, fix), M.auc_judd(pred, fix), M.auc_shuffled(pred, fix, neg),
                   M.auc_shuffled(pred, fix, neg, method="mit", n_splits=3)):
        assert np.isfinite(values[0]) and np.isnan(values[1:]).all()
        agg = M.nan_aggregate(values)
        assert (agg.n_valid, agg.n_nan) == (1, 2) and agg.mean == pytest.approx(values[0])
    zero_gt = np.zeros((5, 5))
    assert math.isnan(M.cc(pred[0], zero_gt))
    assert math.isnan(M.sim(pred[0], zero_gt))
    assert math.isnan(M.kld(pred[0], zero_gt))
    assert math.isnan(M.auc_shuffled(pred[0], fix[0], np.zeros((5, 5))))   # no negatives
    assert M.nan_aggregate([np.nan, np.nan]).n_nan == 2 and math.isnan(M.nan_aggregate([np.nan]).mean)


def test_torch_nan_handling_matches_numpy():
    pred = torch.rand(2, 6, 6, dtype=torch.float64)
    dense = torch.zeros(2, 6, 6, dtype=torch.float64); dense[0, 1, 1] = 1
    fix = dense.clone()
    out = M.batch_metrics(pred, dense, fix)
    for k in ("cc", "nss", "auc_judd", "sim", "kld"):
        assert torch.isfinite(out[k][0]) and torch.isnan(out[k][1]), k


# --------------------------------------------------------------------------- invariances
def test_scaling_and_shifting_do_not_change_cc_nss_auc():
    rng = np.random.default_rng(3)
    pred = rng.random((2, 20, 20))
    dense = ndimage.gaussian_filter(rng.random((2, 20, 20)), (0, 2, 2))
    fix = rng.random((2, 20, 20)) > 0.95
    neg = M.shuffled_negatives(rng.random((6, 20, 20)) > 0.9)[:2]
    moved = 7.5 * pred + 3.0
    np.testing.assert_allclose(M.cc(moved, dense), M.cc(pred, dense), atol=1e-12)
    np.testing.assert_allclose(M.nss(moved, fix), M.nss(pred, fix), atol=1e-12)
    np.testing.assert_allclose(M.auc_judd(moved, fix, jitter=False), M.auc_judd(pred, fix, jitter=False), atol=1e-12)
    np.testing.assert_allclose(M.auc_shuffled(moved, fix, neg), M.auc_shuffled(pred, fix, neg), atol=1e-12)
    np.testing.assert_allclose(M.auc_shuffled(moved, fix, neg, method="mit", n_splits=5),
                               M.auc_shuffled(pred, fix, neg, method="mit", n_splits=5), atol=1e-12)
    # SIM min-max normalises, so a shift does not change it either (pysaliency's SIM would change)
    np.testing.assert_allclose(M.sim(pred + 3.0, dense), M.sim(pred, dense), atol=1e-12)


def test_perfect_prediction_scores():
    dense = ndimage.gaussian_filter(np.random.default_rng(4).random((16, 16)), 2)
    assert M.cc(dense, dense) == pytest.approx(1.0, abs=1e-12)
    assert M.sim(dense, dense) == pytest.approx(1.0, abs=1e-12)
    assert M.kld(dense, dense) == pytest.approx(0.0, abs=1e-12)
    t = torch.from_numpy(dense)
    assert float(M.cc(t, t)) == pytest.approx(1.0, abs=1e-12)
    assert float(M.kld(t, t)) == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------- numpy vs torch
def test_numpy_and_torch_paths_agree():
    rng = np.random.default_rng(6)
    pred = np.round(rng.random((5, 24, 32)) * 40) / 40      # ties on purpose
    dense = ndimage.gaussian_filter(rng.random((5, 24, 32)), (0, 3, 3))
    fix = rng.random((5, 24, 32)) > 0.96
    fix[3] = False                                           # a frame without fixations
    out = M.batch_metrics(torch.from_numpy(pred)[:, None], torch.from_numpy(dense)[:, None],
                          torch.from_numpy(fix.astype(np.float32))[:, None], jitter=False, chunk=2)
    ref = {"cc": M.cc(pred, dense), "nss": M.nss(pred, fix), "auc_judd": M.auc_judd(pred, fix, jitter=False),
           "sim": M.sim(pred, dense), "kld": M.kld(pred, dense)}
    for k, v in ref.items():
        np.testing.assert_allclose(out[k].numpy(), v, atol=1e-7, equal_nan=True, err_msg=k)
    # single-frame tensors give 0-d tensors; numpy single frames give floats
    assert M.nss(torch.from_numpy(pred[0]), torch.from_numpy(fix[0])).ndim == 0
    assert isinstance(M.nss(pred[0], fix[0]), float)


def test_batch_metrics_from_logits_and_jitter_seed():
    logits = torch.randn(3, 1, 10, 10)
    dense = torch.rand(3, 1, 10, 10)
    fix = (torch.rand(3, 1, 10, 10) > 0.9).float()
    a = M.batch_metrics(logits, dense, fix, from_logits=True, seed=1)
    b = M.batch_metrics(torch.sigmoid(logits), dense, fix, seed=1)
    for k in a:
        torch.testing.assert_close(a[k], b[k], equal_nan=True)
    assert a["auc_judd"].shape == (3,)


# --------------------------------------------------------------------------- post-processing
def test_gaussian_kernel_is_fspecial():
    k = M.gaussian_kernel_1d(2.0, 13)
    assert k.shape == (13,) and k.sum() == pytest.approx(1.0)
    # fspecial: exp(-x^2 / (2 sigma^2)) -> k[6] / k[8] = exp(4 / 8)
    assert k[6] / k[8] == pytest.approx(math.exp(0.5))


def test_postprocess_blur_uses_symmetric_padding():
    x = np.random.default_rng(7).random((20, 24))
    ours = M.postprocess_prediction(x, size=None, normalize=False)
    k = M.gaussian_kernel_1d()
    # scipy's 'reflect' mode is MATLAB's 'symmetric' (mirror including the edge pixel)
    ref = ndimage.correlate(x, np.outer(k, k), mode="reflect")
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_postprocess_resize_is_keys_bicubic_and_minmax():
    rng = np.random.default_rng(8)
    x = 5 + 3 * rng.random((16, 16))
    out = M.postprocess_prediction(x, size=(40, 30), sigma=0)
    assert out.shape == (40, 30) and out.dtype == np.float32
    mm = ((x - x.min()) / (x.max() - x.min())).astype(np.float32)
    ref = np.asarray(Image.fromarray(mm).resize((30, 40), Image.BICUBIC))   # PIL: Keys a = -0.5
    np.testing.assert_allclose(out, np.clip(ref, 0, 1), atol=1e-5)
    t = M.postprocess_prediction(torch.from_numpy(x).float()[None], size=(40, 30), sigma=0)
    assert isinstance(t, torch.Tensor) and t.shape == (1, 40, 30)
    np.testing.assert_allclose(t[0].numpy(), out, atol=1e-5)


# --------------------------------------------------------------------------- errors and helpers
def test_clear_errors():
    with pytest.raises(ValueError, match="postprocess_prediction"):
        M.cc(np.zeros((4, 4)), np.zeros((5, 5)))
    with pytest.raises(ValueError, match="logits"):
        M.kld(-np.ones((3, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="method"):
        M.auc_shuffled(S9, F9, F9, method="borji")
    with pytest.raises(ValueError, match="shape"):
        M.nss(np.zeros((2, 3, 4, 5)), np.zeros((2, 3, 4, 5)))


def test_score_video_keys_and_reproducibility():
    rng = np.random.default_rng(9)
    pred = rng.random((4, 10, 12)).astype(np.float32)
    dense = rng.random((4, 10, 12)).astype(np.float32)
    fix = rng.random((4, 10, 12)) > 0.9
    a = M.score_video(pred, dense, fix)
    b = M.score_video(pred, dense, fix)
    assert tuple(a) == M.METRICS and all(v.shape == (4,) for v in a.values())
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    np.testing.assert_allclose(a["auc_shuffled"], M.auc_shuffled(pred, fix, M.shuffled_negatives(fix)))
    agg = M.aggregate_scores(a)
    assert set(agg) == set(M.METRICS) and agg["cc"].n_valid == 4
