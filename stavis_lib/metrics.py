"""Saliency metrics with the MIT saliency benchmark conventions that STAViS was scored with.

STAViS (Tsiami et al., CVPR 2020, Sec. 4.2 and Table 2) reports CC, NSS, AUC-Judd (AUC-J),
shuffled AUC (sAUC) and SIM, computed by the MIT benchmark MATLAB code (Bylinskii et al.,
"What do different evaluation metrics tell us about saliency models?", TPAMI 2019). This module
re-implements those conventions in NumPy (one readable function per frame) and in batched torch
(for scoring a whole split inside a training loop); both paths are tested to agree.

Conventions (each one is a parameter or a named constant here):

===============  =====================================================================
metric           convention
===============  =====================================================================
CC               both maps z-scored; Pearson correlation (``corr2``).
NSS              prediction z-scored with the *sample* std (N-1, MATLAB ``std``); the
                 fixation map is binarised (a pixel fixated twice counts once); mean of
                 the z-scored prediction at fixated pixels.
AUC-Judd         uniform jitter ``rand/1e7`` (seedable) added, then min-max; thresholds =
                 predicted values at fixated pixels; negatives = every other pixel;
                 ROC (0,0) ... (1,1) integrated with the trapezoid rule (written out).
sAUC (MIT)       min-max; as many negatives as fixations drawn without replacement from
                 the negative set; thresholds 0:0.1:max; trapezoid; mean of 100 splits.
sAUC (exact)     deterministic: Mann-Whitney AUC of fixated values against *all*
                 negatives (ties count 1/2).
sAUC negatives   STAViS variant: pixels fixated in other frames of the same video, minus
                 the current frame's fixated pixels (:func:`shuffled_negatives`).
SIM              each map min-max normalised, then divided by its sum; sum of minima.
KLD              KL(GT || pred) = sum Q log(eps + Q / (P + eps)), maps divided by their
                 sums, eps = 2.2204e-16 (MATLAB ``eps``), natural log.
post-processing  (optional, :func:`postprocess_prediction`) min-max, Gaussian sigma 2 on a
                 13x13 kernel with symmetric padding, bicubic resize to the GT size.
no fixation      NSS / AUC-J / sAUC are NaN; an all-zero dense GT gives NaN CC/SIM/KLD.
non-finite       a NaN or inf anywhere in a frame's prediction, dense map, fixation map or
                 sAUC negatives makes every metric of that frame NaN (numpy and torch).
===============  =====================================================================

Aggregators (:func:`nan_aggregate`) skip NaN frames (no fixation, non-finite maps) explicitly and
report how many they skipped.
The module knows nothing of training, evaluation or inference (imports point one way).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

ArrayLike = Union[np.ndarray, torch.Tensor]

#: MATLAB ``eps`` as written in the MIT benchmark's KLdiv.m.
KLD_EPS = 2.2204e-16
#: Magnitude of the uniform jitter of AUC_Judd.m (``rand(size)/10000000``).
AUC_JITTER = 1e-7
#: Threshold step of AUC_shuffled.m.
SAUC_STEP = 0.1
#: Number of random negative draws of AUC_shuffled.m.
SAUC_SPLITS = 100
#: STAViS post-processing (postprocessMap.m): Gaussian sigma and kernel size in pixels.
POST_SIGMA = 2.0
POST_KERNEL = 13

#: Names of the per-frame metrics, in the order of the paper's tables (plus KLD). They are the
#: keys of every score dict and the metric columns of every evaluation table.
METRICS = ("cc", "nss", "auc_judd", "auc_shuffled", "sim", "kld")
#: The metric columns of the paper's tables (Tables 1-4), in the paper's order.
PAPER_METRICS = METRICS[:5]
#: Metrics that need a fixation map (NaN on a frame without fixations).
FIXATION_METRICS = ("nss", "auc_judd", "auc_shuffled")
#: Display labels of the metrics in tables and figures (the arrow: which way is better).
METRIC_LABELS = {"cc": "CC ↑", "nss": "NSS ↑", "auc_judd": "AUC-J ↑", "auc_shuffled": "sAUC ↑", "sim": "SIM ↑",
                 "kld": "KLD ↓"}


# --------------------------------------------------------------------------- input handling
def _as_batch_np(x: ArrayLike, name: str) -> tuple[np.ndarray, bool]:
    """(H,W) | (B,H,W) | (B,1,H,W) array or tensor -> float64 (B,H,W) numpy, and whether it was one frame."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    if a.dtype == bool:
        a = a.astype(np.float64)
    a = a.astype(np.float64, copy=False)
    return _to_bhw(a, name)


def _to_bhw(a, name: str):
    if a.ndim == 2:
        return a[None], True
    if a.ndim == 3:
        return a, False
    if a.ndim == 4 and a.shape[1] == 1:
        return a[:, 0], False
    raise ValueError(f"{name}: expected a map (H,W) or a batch (B,H,W) / (B,1,H,W), got shape {tuple(a.shape)}")


def _check_same(a_shape, b_shape, a_name: str, b_name: str) -> None:
    if tuple(a_shape) != tuple(b_shape):
        raise ValueError(
            f"{a_name} has shape {tuple(a_shape)} but {b_name} has shape {tuple(b_shape)}; resize the "
            f"prediction to the ground-truth size first (postprocess_prediction(pred, size=(H, W)))")


def _is_torch(*xs) -> bool:
    return any(isinstance(x, torch.Tensor) for x in xs)


def _as_batch_torch(x: ArrayLike, name: str, device=None) -> tuple[torch.Tensor, bool]:
    """Like :func:`_as_batch_np` for torch: float64 (B,H,W) on ``device`` (default: the tensor's own)."""
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    if device is not None:
        t = t.to(device)
    t = t.to(torch.float64)
    return _to_bhw(t, name)


def _unbatch_np(values: np.ndarray, single: bool):
    return float(values[0]) if single else values


def _unbatch_torch(values: torch.Tensor, single: bool) -> torch.Tensor:
    return values[0] if single else values


def _check_nonnegative(x, name: str) -> None:
    """Negative finite values are an error (logits passed by mistake); non-finite ones score NaN."""
    if bool(((x < 0) & (x > -np.inf)).any()):
        raise ValueError(f"{name} has negative values; pass a saliency map (e.g. sigmoid of the logits), not logits")


# --------------------------------------------------------------------------- per-frame NumPy
def _per_frame(fn, *batches: np.ndarray) -> np.ndarray:
    """``fn`` on every frame of the (B,H,W) batches; NaN for a frame where any map has a NaN or inf."""
    return np.array([fn(*maps) if all(np.isfinite(m).all() for m in maps) else float("nan")
                     for maps in zip(*batches)], dtype=np.float64)


def _minmax(x: np.ndarray) -> np.ndarray | None:
    lo, hi = x.min(), x.max()
    if hi == lo:
        return None
    return (x - lo) / (hi - lo)


def _trapezoid(x: np.ndarray, y: np.ndarray) -> float:
    """Trapezoid rule written out (MATLAB ``trapz``; NumPy 2.4 removed ``np.trapz``)."""
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1])) / 2.0)


def _cc_frame(p: np.ndarray, g: np.ndarray) -> float:
    a = p - p.mean()
    b = g - g.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def _nss_frame(p: np.ndarray, fix: np.ndarray) -> float:
    mask = fix > 0
    if not mask.any():
        return float("nan")
    sd = p.std(ddof=1)
    if not sd > 0:
        return float("nan")
    return float(((p[mask] - p.mean()) / sd).mean())


def _sim_frame(p: np.ndarray, g: np.ndarray) -> float:
    if not (g != 0).any():
        return float("nan")
    out = []
    for m in (p, g):
        if (m != 0).any():
            m = _minmax(m)
            if m is None:
                return float("nan")
            m = m / m.sum()
        out.append(m)
    return float(np.minimum(out[0], out[1]).sum())


def _kld_frame(p: np.ndarray, g: np.ndarray, eps: float) -> float:
    if not (g != 0).any():
        return float("nan")
    if (p != 0).any():
        p = p / p.sum()
    q = g / g.sum()
    return float((q * np.log(eps + q / (p + eps))).sum())


def _auc_judd_frame(s: np.ndarray, fix: np.ndarray, jitter: bool, rng: np.random.Generator) -> float:
    pos = fix > 0
    if not pos.any():
        return float("nan")
    if jitter:
        s = s + rng.random(s.shape) * AUC_JITTER
    s = _minmax(s)
    n_pos = int(pos.sum())
    n_neg = s.size - n_pos if s is not None else 0
    if s is None or n_neg == 0:
        return float("nan")
    pos_sorted = np.sort(s[pos])
    neg_sorted = np.sort(s[~pos])
    thresholds = np.unique(pos_sorted)[::-1]            # fixated values, descending
    tp = (n_pos - np.searchsorted(pos_sorted, thresholds, side="left")) / n_pos   # share of fixations >= t
    fp = (n_neg - np.searchsorted(neg_sorted, thresholds, side="left")) / n_neg   # share of other pixels >= t
    tp = np.concatenate([[0.0], tp, [1.0]])
    fp = np.concatenate([[0.0], fp, [1.0]])
    return _trapezoid(fp, tp)


def _mann_whitney(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(pos > neg) + 1/2 P(pos == neg) over all pairs, by sorting (O((P+N) log N))."""
    neg_sorted = np.sort(neg)
    below = np.searchsorted(neg_sorted, pos, side="left")
    ties = np.searchsorted(neg_sorted, pos, side="right") - below
    return float((below.sum() + 0.5 * ties.sum()) / (pos.size * neg.size))


def _sauc_mit_frame(s: np.ndarray, fix: np.ndarray, neg_map: np.ndarray, n_splits: int, step: float,
                    rng: np.random.Generator) -> float:
    pos = fix > 0
    s = _minmax(s)
    neg_idx = np.flatnonzero(neg_map.ravel() > 0)
    if s is None or neg_idx.size == 0:
        return float("nan")
    flat = s.ravel()
    s_pos = flat[pos.ravel()]
    n_draw = min(s_pos.size, neg_idx.size)
    aucs = np.empty(n_splits)
    for k in range(n_splits):
        s_neg = flat[rng.choice(neg_idx, size=n_draw, replace=False)]
        top = max(s_pos.max(), s_neg.max())
        thresholds = np.arange(int(np.floor(top / step + 1e-9)) + 1)[::-1] * step   # fliplr(0:step:top)
        tp = (s_pos[None, :] >= thresholds[:, None]).mean(axis=1)
        fp = (s_neg[None, :] >= thresholds[:, None]).mean(axis=1)
        aucs[k] = _trapezoid(np.concatenate([[0.0], fp, [1.0]]), np.concatenate([[0.0], tp, [1.0]]))
    return float(aucs.mean())


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


# --------------------------------------------------------------------------- public metrics
def cc(pred: ArrayLike, dense: ArrayLike):
    """Linear correlation coefficient CC (MIT CC.m): Pearson correlation of the two maps.

    ``pred`` and ``dense`` are (H,W) maps or (B,H,W) batches of the same size. Returns a float
    for one frame, a (B,) array for a batch (a tensor when either input is a tensor). NaN when
    either map is constant (e.g. an all-zero ground truth).
    """
    if _is_torch(pred, dense):
        p, single = _as_batch_torch(pred, "pred")
        g, _ = _as_batch_torch(dense, "dense", p.device)
        _check_same(p.shape, g.shape, "pred", "dense")
        return _unbatch_torch(_finite_rows(_cc_torch, p.flatten(1), g.flatten(1)), single)
    p, single = _as_batch_np(pred, "pred")
    g, _ = _as_batch_np(dense, "dense")
    _check_same(p.shape, g.shape, "pred", "dense")
    return _unbatch_np(_per_frame(_cc_frame, p, g), single)


def nss(pred: ArrayLike, fix: ArrayLike):
    """Normalized Scanpath Saliency (MIT NSS.m): mean z-scored prediction at fixated pixels.

    The prediction is z-scored with the sample standard deviation (N-1, MATLAB ``std``); the
    fixation map is binarised (``fix > 0``). NaN for a frame without fixations or a constant map.
    """
    if _is_torch(pred, fix):
        p, single = _as_batch_torch(pred, "pred")
        f, _ = _as_batch_torch(fix, "fix", p.device)
        _check_same(p.shape, f.shape, "pred", "fix")
        return _unbatch_torch(_finite_rows(lambda a, b: _nss_torch(a, b > 0), p.flatten(1), f.flatten(1)), single)
    p, single = _as_batch_np(pred, "pred")
    f, _ = _as_batch_np(fix, "fix")
    _check_same(p.shape, f.shape, "pred", "fix")
    return _unbatch_np(_per_frame(_nss_frame, p, f), single)


def sim(pred: ArrayLike, dense: ArrayLike):
    """Similarity / histogram intersection (MIT similarity.m).

    Each non-zero map is min-max normalised and divided by its sum; SIM = sum of element-wise
    minima. NaN for an all-zero ground truth or a constant non-zero prediction.
    """
    if _is_torch(pred, dense):
        p, single = _as_batch_torch(pred, "pred")
        g, _ = _as_batch_torch(dense, "dense", p.device)
        _check_same(p.shape, g.shape, "pred", "dense")
        return _unbatch_torch(_finite_rows(_sim_torch, p.flatten(1), g.flatten(1)), single)
    p, single = _as_batch_np(pred, "pred")
    g, _ = _as_batch_np(dense, "dense")
    _check_same(p.shape, g.shape, "pred", "dense")
    return _unbatch_np(_per_frame(_sim_frame, p, g), single)


def kld(pred: ArrayLike, dense: ArrayLike, eps: float = KLD_EPS):
    """KL divergence KL(GT || pred) (MIT KLdiv.m): sum Q log(eps + Q / (P + eps)).

    P = pred / sum(pred), Q = dense / sum(dense) (an all-zero prediction stays zero), natural
    log, ``eps`` = 2.2204e-16. The prediction must be non-negative. NaN for an all-zero GT.
    """
    if _is_torch(pred, dense):
        p, single = _as_batch_torch(pred, "pred")
        g, _ = _as_batch_torch(dense, "dense", p.device)
        _check_same(p.shape, g.shape, "pred", "dense")
        _check_nonnegative(p, "pred")
        return _unbatch_torch(_finite_rows(lambda a, b: _kld_torch(a, b, eps), p.flatten(1), g.flatten(1)), single)
    p, single = _as_batch_np(pred, "pred")
    g, _ = _as_batch_np(dense, "dense")
    _check_same(p.shape, g.shape, "pred", "dense")
    _check_nonnegative(p, "pred")
    return _unbatch_np(_per_frame(lambda a, b: _kld_frame(a, b, eps), p, g), single)


def auc_judd(pred: ArrayLike, fix: ArrayLike, jitter: bool = True, seed: int | np.random.Generator | None = 0):
    """AUC-Judd (MIT AUC_Judd.m).

    1. add uniform jitter in [0, 1e-7) to every pixel (``jitter=True``; ``seed`` makes it
       reproducible; numpy and torch draw different jitter);
    2. min-max normalise;
    3. thresholds = the predicted values at fixated pixels (``fix > 0``); at each threshold
       TP rate = share of fixated pixels >= t, FP rate = share of the other pixels >= t;
    4. trapezoid rule over (0,0), the thresholds in descending order, (1,1).

    Ties are counted exactly (with distinct values this is MIT's ``i / Nfixations`` formula).
    NaN for a frame without fixations, a constant map (possible only with ``jitter=False``)
    or a frame where every pixel is fixated.
    """
    if _is_torch(pred, fix):
        p, single = _as_batch_torch(pred, "pred")
        f, _ = _as_batch_torch(fix, "fix", p.device)
        _check_same(p.shape, f.shape, "pred", "fix")
        gen = None
        if jitter:
            gen = torch.Generator(device=p.device)
            gen.manual_seed(int(seed) if isinstance(seed, (int, np.integer)) else 0)
        return _unbatch_torch(_finite_rows(lambda a, b: _auc_judd_torch(a, b > 0, jitter, gen), p.flatten(1), f.flatten(1)), single)
    p, single = _as_batch_np(pred, "pred")
    f, _ = _as_batch_np(fix, "fix")
    _check_same(p.shape, f.shape, "pred", "fix")
    rng = _rng(seed)
    return _unbatch_np(_per_frame(lambda a, b: _auc_judd_frame(a, b, jitter, rng), p, f), single)


def auc_shuffled(pred: ArrayLike, fix: ArrayLike, negatives: ArrayLike, method: str = "exact",
                 n_splits: int = SAUC_SPLITS, step: float = SAUC_STEP,
                 seed: int | np.random.Generator | None = 0):
    """Shuffled AUC: fixated pixels of this frame against pixels fixated elsewhere.

    ``negatives`` is the binary map of negative locations; for the STAViS variant build it with
    :func:`shuffled_negatives` (pixels fixated in other frames of the same video, minus this
    frame's fixated pixels). Positives are the binarised fixations (``fix > 0``).

    ``method="mit"`` (MIT AUC_shuffled.m): min-max normalise; in each of ``n_splits`` splits draw
    min(#fixations, #negatives) negative locations without replacement (``seed``); thresholds
    ``fliplr(0:step:max)``; TP/FP rates at each; trapezoid over (0,0)...(1,1); mean of splits.

    ``method="exact"``: deterministic AUC against all negatives, i.e. the Mann-Whitney statistic
    P(s_pos > s_neg) + 1/2 P(s_pos = s_neg) (the ROC over every threshold; 0.5 for a constant map).

    NaN for a frame without fixations or without negatives (and for a constant map with "mit").
    Computed in NumPy (tensors are moved to the CPU). Returns a float or a (B,) array.
    """
    if method not in ("exact", "mit"):
        raise ValueError(f"auc_shuffled: method must be 'exact' or 'mit', got {method!r}")
    p, single = _as_batch_np(pred, "pred")
    f, _ = _as_batch_np(fix, "fix")
    n, _ = _as_batch_np(negatives, "negatives")
    _check_same(p.shape, f.shape, "pred", "fix")
    _check_same(p.shape, n.shape, "pred", "negatives")
    rng = _rng(seed)

    def frame(s: np.ndarray, fx: np.ndarray, ng: np.ndarray) -> float:
        pos = fx > 0
        if not pos.any() or not (ng > 0).any():
            return float("nan")
        if method == "exact":
            return _mann_whitney(s[pos], s[ng > 0])
        return _sauc_mit_frame(s, fx, ng, n_splits, step, rng)

    return _unbatch_np(_per_frame(frame, p, f, n), single)


def shuffled_negatives(fixations: ArrayLike, n_other: int | None = None, exclude_current: bool = True,
                       seed: int | np.random.Generator | None = 0) -> np.ndarray:
    """STAViS shuffled-AUC negatives for every frame of one video.

    ``fixations`` (T,H,W) binary (``> 0``) fixation maps of one video. For frame t the negative
    map is the union of the fixations of the *other* frames of the same video (all of them when
    ``n_other`` is None, else ``n_other`` randomly chosen other frames, ``seed``), minus frame t's
    own fixated pixels when ``exclude_current`` (the STAViS convention). Returns (T,H,W) bool.
    """
    f, _ = _as_batch_np(fixations, "fixations")
    f = f > 0
    n_frames = len(f)
    if n_other is None:
        counts = f.sum(axis=0, dtype=np.int64)
        other = (counts[None] - f) > 0
    else:
        rng = _rng(seed)
        other = np.zeros_like(f)
        for t in range(n_frames):
            choices = np.delete(np.arange(n_frames), t)
            pick = rng.choice(choices, size=min(n_other, choices.size), replace=False)
            other[t] = f[pick].any(axis=0) if pick.size else False
    if exclude_current:
        other &= ~f
    return other


# --------------------------------------------------------------------------- batched torch
def _nan_like(x: torch.Tensor) -> torch.Tensor:
    return torch.full_like(x, float("nan"))


def _finite_rows(fn, *rows: torch.Tensor) -> torch.Tensor:
    """``fn(*rows)`` on (B,N) rows, NaN for a row where any input has a NaN or inf (the inputs of
    such rows are zeroed first, so sorting and sums of the other rows never see them)."""
    bad = torch.zeros(rows[0].shape[0], dtype=torch.bool, device=rows[0].device)
    for r in rows:
        bad |= ~torch.isfinite(r).all(1)
    if not bool(bad.any()):
        return fn(*rows)
    clean = [torch.where(torch.isfinite(r), r, torch.zeros_like(r)) for r in rows]
    out = fn(*clean)
    return torch.where(bad, _nan_like(out), out)


def _cc_torch(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    a = p - p.mean(1, keepdim=True)
    b = g - g.mean(1, keepdim=True)
    num = (a * b).sum(1)
    den = torch.sqrt((a * a).sum(1) * (b * b).sum(1))
    return torch.where(den > 0, num / den.clamp_min(torch.finfo(den.dtype).tiny), _nan_like(num))


def _nss_torch(p: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    sd = p.std(1, unbiased=True, keepdim=True)
    z = (p - p.mean(1, keepdim=True)) / sd.clamp_min(torch.finfo(p.dtype).tiny)
    count = mask.sum(1)
    val = (z * mask).sum(1) / count.clamp_min(1)
    return torch.where((count > 0) & (sd[:, 0] > 0), val, _nan_like(val))


def _minmax_sum_torch(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """MIT similarity.m normalisation per row; returns (normalised, row is constant non-zero)."""
    lo = m.amin(1, keepdim=True)
    hi = m.amax(1, keepdim=True)
    nonzero = (m != 0).any(1, keepdim=True)
    rng = hi - lo
    mm = (m - lo) / rng.clamp_min(torch.finfo(m.dtype).tiny)
    mm = mm / mm.sum(1, keepdim=True).clamp_min(torch.finfo(m.dtype).tiny)
    out = torch.where(nonzero, mm, m)
    bad = (nonzero & (rng == 0))[:, 0]
    return out, bad


def _sim_torch(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    pn, p_bad = _minmax_sum_torch(p)
    gn, g_bad = _minmax_sum_torch(g)
    val = torch.minimum(pn, gn).sum(1)
    ok = ~p_bad & ~g_bad & (g != 0).any(1)
    return torch.where(ok, val, _nan_like(val))


def _kld_torch(p: torch.Tensor, g: torch.Tensor, eps: float) -> torch.Tensor:
    tiny = torch.finfo(p.dtype).tiny
    p = torch.where((p != 0).any(1, keepdim=True), p / p.sum(1, keepdim=True).clamp_min(tiny), p)
    g_ok = (g != 0).any(1)
    q = g / g.sum(1, keepdim=True).clamp_min(tiny)
    val = (q * torch.log(eps + q / (p + eps))).sum(1)
    return torch.where(g_ok, val, _nan_like(val))


def _auc_judd_torch(p: torch.Tensor, mask: torch.Tensor, jitter: bool, gen: torch.Generator | None) -> torch.Tensor:
    """Batched AUC-Judd: one sort per row; every fixated position is an ROC vertex.

    For the sorted (descending) values, the number of pixels >= the value at each position is
    found by ``searchsorted`` (tie aware), split into fixated / other by a cumulative sum. The
    vertex of the last fixated position is carried forward with ``cummax`` (TP and FP rates are
    non-decreasing), so repeated points add zero area and the trapezoid runs over all positions.
    """
    if jitter:
        p = p + torch.rand(p.shape, generator=gen, device=p.device, dtype=p.dtype) * AUC_JITTER
    lo = p.amin(1, keepdim=True)
    hi = p.amax(1, keepdim=True)
    constant = (hi == lo)[:, 0]
    s = (p - lo) / (hi - lo).clamp_min(torch.finfo(p.dtype).tiny)
    s_sorted, order = torch.sort(s, dim=1, descending=True)
    m_sorted = torch.gather(mask, 1, order)
    neg_key = (-s_sorted).contiguous()
    n_ge = torch.searchsorted(neg_key, neg_key, right=True)          # pixels with value >= this one
    cum_pos = torch.cumsum(m_sorted.to(torch.int64), 1)
    pos_ge = torch.gather(cum_pos, 1, n_ge - 1)
    neg_ge = n_ge - pos_ge
    n_pos = mask.sum(1, keepdim=True)
    n_neg = mask.shape[1] - n_pos
    tp = torch.where(m_sorted, pos_ge / n_pos.clamp_min(1), torch.zeros_like(s))
    fp = torch.where(m_sorted, neg_ge / n_neg.clamp_min(1), torch.zeros_like(s))
    tp = torch.cummax(tp, 1).values
    fp = torch.cummax(fp, 1).values
    zeros = torch.zeros_like(s[:, :1])
    tp = torch.cat([zeros, tp, zeros + 1], 1)
    fp = torch.cat([zeros, fp, zeros + 1], 1)
    area = ((fp[:, 1:] - fp[:, :-1]) * (tp[:, 1:] + tp[:, :-1])).sum(1) / 2
    ok = (n_pos[:, 0] > 0) & (n_neg[:, 0] > 0) & ~constant
    return torch.where(ok, area, _nan_like(area))


def batch_metrics(pred: torch.Tensor, dense: torch.Tensor, fix: torch.Tensor, *, from_logits: bool = False,
                  jitter: bool = True, seed: int = 0, chunk: int = 64) -> dict[str, torch.Tensor]:
    """CC, NSS, AUC-Judd, SIM and KLD per item of a batch, on the batch's device.

    ``pred`` (B,H,W) or (B,1,H,W) saliency maps (``from_logits=True`` applies a sigmoid first);
    ``dense`` and ``fix`` the ground truth of the same size. Computed in float64 by ``chunk``
    items at a time (AUC-Judd sorts every row). Returns ``{name: (B,) float64 tensor}``;
    NaN marks frames a metric does not apply to, or whose maps hold a NaN or inf (see
    :func:`nan_aggregate`). Shuffled AUC needs
    the other frames of the video and is computed by :func:`auc_shuffled`.
    """
    p, _ = _as_batch_torch(pred, "pred")
    g, _ = _as_batch_torch(dense, "dense", p.device)
    f, _ = _as_batch_torch(fix, "fix", p.device)
    _check_same(p.shape, g.shape, "pred", "dense")
    _check_same(p.shape, f.shape, "pred", "fix")
    if from_logits:
        p = torch.where(torch.isfinite(p), torch.sigmoid(p), p)     # an inf logit stays non-finite: NaN scores
    _check_nonnegative(p, "pred")
    gen = None
    if jitter:
        gen = torch.Generator(device=p.device)
        gen.manual_seed(int(seed))
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("cc", "nss", "auc_judd", "sim", "kld")}
    with torch.no_grad():
        for start in range(0, len(p), chunk):
            pc = p[start:start + chunk].flatten(1)
            gc = g[start:start + chunk].flatten(1)
            fc = f[start:start + chunk].flatten(1)
            parts["cc"].append(_finite_rows(_cc_torch, pc, gc))
            parts["nss"].append(_finite_rows(lambda a, b: _nss_torch(a, b > 0), pc, fc))
            parts["auc_judd"].append(_finite_rows(lambda a, b: _auc_judd_torch(a, b > 0, jitter, gen), pc, fc))
            parts["sim"].append(_finite_rows(_sim_torch, pc, gc))
            parts["kld"].append(_finite_rows(lambda a, b: _kld_torch(a, b, KLD_EPS), pc, gc))
    return {k: torch.cat(v) if v else torch.empty(0, dtype=torch.float64) for k, v in parts.items()}


# --------------------------------------------------------------------------- post-processing
def gaussian_kernel_1d(sigma: float = POST_SIGMA, size: int = POST_KERNEL) -> np.ndarray:
    """Normalised 1-D Gaussian; its outer product is MATLAB ``fspecial('gaussian', size, sigma)``."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    k = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return k / k.sum()


def _symmetric_index(n: int, pad: int, device) -> torch.Tensor:
    """Indices for MATLAB 'symmetric' padding (mirror including the edge pixel), any pad length."""
    i = torch.arange(-pad, n + pad, device=device) % (2 * n)
    return torch.where(i >= n, 2 * n - 1 - i, i)


def _blur_symmetric(x: torch.Tensor, sigma: float, size: int) -> torch.Tensor:
    """Separable Gaussian filter of (B,H,W) with symmetric padding (``imfilter(..., 'symmetric')``)."""
    k = torch.from_numpy(gaussian_kernel_1d(sigma, size)).to(x)
    pad = size // 2
    _, h, w = x.shape
    x = x[:, _symmetric_index(h, pad, x.device)][:, :, _symmetric_index(w, pad, x.device)]
    x = F.conv2d(x[:, None], k.view(1, 1, -1, 1))
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return x[:, 0]


def postprocess_prediction(pred: ArrayLike, size: tuple[int, int] | None = None, sigma: float = POST_SIGMA,
                           kernel_size: int = POST_KERNEL, normalize: bool = True):
    """STAViS post-processing applied before scoring (official postprocessMap.m).

    1. min-max normalise each map to [0,1] (a constant map becomes zeros) when ``normalize``;
    2. blur with a Gaussian of ``sigma`` = 2 px on a ``kernel_size`` = 13 kernel, symmetric
       padding, at the prediction's own resolution (``sigma=0`` skips it);
    3. resize to the ground-truth ``size`` = (H, W) with bicubic interpolation (Keys a = -0.5,
       antialiased when shrinking: MATLAB ``imresize``'s default), clipped to [0,1].

    ``pred`` (H,W) or (B,H,W), numpy or torch; returns the same kind (numpy float32 / torch float).
    """
    was_np = not isinstance(pred, torch.Tensor)
    t, single = _as_batch_torch(pred, "pred")
    if t.numel() == 0:
        raise ValueError("postprocess_prediction: empty prediction")
    if normalize:
        lo = t.flatten(1).amin(1)[:, None, None]
        hi = t.flatten(1).amax(1)[:, None, None]
        t = torch.where(hi > lo, (t - lo) / (hi - lo).clamp_min(1e-300), torch.zeros_like(t))
    if sigma > 0:
        t = _blur_symmetric(t, sigma, kernel_size)
    if size is not None and tuple(size) != tuple(t.shape[-2:]):
        t = F.interpolate(t[:, None], size=tuple(int(v) for v in size), mode="bicubic", antialias=True,
                          align_corners=False)[:, 0]
        t = t.clamp(0.0, 1.0) if normalize else t
    out = t[0] if single else t
    if was_np:
        return out.numpy().astype(np.float32)
    return out.to(pred.dtype if pred.is_floating_point() else torch.float32)


# --------------------------------------------------------------------------- whole videos and aggregation
def score_video(pred: ArrayLike, dense: ArrayLike, fix: ArrayLike, *, sauc: str | None = "exact",
                negatives: ArrayLike | None = None, jitter: bool = True, seed: int = 0,
                n_splits: int = SAUC_SPLITS) -> dict[str, np.ndarray]:
    """All metrics for every frame of one video: ``{name: (T,) float64}`` with the :data:`METRICS` keys.

    ``pred``, ``dense`` and ``fix`` are (T,H,W) at the ground-truth size (post-process the
    prediction first). The shuffled-AUC negatives default to :func:`shuffled_negatives` of
    ``fix``; ``sauc`` is "exact", "mit" or None (skip: NaN). Uses the batched torch code.
    """
    p, _ = _as_batch_torch(pred, "pred")
    out = {k: v.cpu().numpy() for k, v in batch_metrics(p, dense, fix, jitter=jitter, seed=seed).items()}
    if sauc is None:
        out["auc_shuffled"] = np.full(len(p), np.nan)
    else:
        f_np, _ = _as_batch_np(fix, "fix")
        neg = shuffled_negatives(f_np) if negatives is None else negatives
        out["auc_shuffled"] = np.atleast_1d(auc_shuffled(p.cpu().numpy(), f_np, neg, method=sauc, n_splits=n_splits, seed=seed))
    return {k: out[k] for k in METRICS}


@dataclass
class MetricMean:
    """Mean of the finite values, with how many were used and how many NaN frames were skipped."""

    mean: float
    n_valid: int
    n_nan: int


def nan_aggregate(values: ArrayLike | Sequence[float]) -> MetricMean:
    """Average a metric over frames (or videos), skipping NaN entries explicitly and counting them."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    v = np.asarray(values, dtype=np.float64).ravel()
    ok = ~np.isnan(v)
    n_valid = int(ok.sum())
    return MetricMean(float(v[ok].mean()) if n_valid else float("nan"), n_valid, int(v.size - n_valid))


def aggregate_scores(scores: dict[str, ArrayLike]) -> dict[str, MetricMean]:
    """:func:`nan_aggregate` for each metric of a ``{name: values}`` dict (e.g. from :func:`score_video`)."""
    return {k: nan_aggregate(v) for k, v in scores.items()}


# --------------------------------------------------------------------------- tables
def markdown_table(table, digits: int = 3, labels: bool = False) -> str:
    """A GitHub markdown table of a pandas DataFrame: floats with ``digits`` decimals, NaN as
    "–", numeric columns right-aligned. ``labels=True`` heads the metric columns with
    :data:`METRIC_LABELS` (e.g. "sAUC ↑" for ``auc_shuffled``)."""
    def fmt(v) -> str:
        if isinstance(v, (float, np.floating)):
            return "–" if np.isnan(v) else f"{v:.{digits}f}"
        return str(v)

    cols = list(table.columns)
    names = [METRIC_LABELS.get(c, c) if labels else c for c in cols]
    head = "| " + " | ".join(str(c) for c in names) + " |"
    rule = "|" + "|".join("---:" if table[c].dtype.kind in "biufc" else "---" for c in cols) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *body]) + "\n"
