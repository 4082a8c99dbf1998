"""Every metric scores NaN for a frame whose prediction or ground truth holds a NaN or inf (numpy and torch),
leaves the other frames of the batch untouched, and the aggregators count such frames."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stavis_lib import metrics as M

BAD_VALUES = {"nan": np.nan, "+inf": np.inf, "-inf": -np.inf}


def _batch():
    """Two 6x7 frames: a smooth prediction, a dense map, fixations and sAUC negatives (all finite)."""
    rng = np.random.default_rng(3)
    pred = rng.random((2, 6, 7))
    dense = rng.random((2, 6, 7))
    fix = np.zeros((2, 6, 7))
    fix[:, 1, 2] = fix[:, 4, 5] = fix[:, 3, 1] = 1
    neg = np.zeros((2, 6, 7))
    neg[:, 0, 0] = neg[:, 5, 6] = neg[:, 2, 3] = 1
    return {"pred": pred, "dense": dense, "fix": fix, "neg": neg}


#: metric -> (function of the batch dict, the inputs it reads).
METRIC_CALLS = {
    "cc": (lambda b: M.cc(b["pred"], b["dense"]), ("pred", "dense")),
    "nss": (lambda b: M.nss(b["pred"], b["fix"]), ("pred", "fix")),
    "sim": (lambda b: M.sim(b["pred"], b["dense"]), ("pred", "dense")),
    "kld": (lambda b: M.kld(b["pred"], b["dense"]), ("pred", "dense")),
    "auc_judd": (lambda b: M.auc_judd(b["pred"], b["fix"], jitter=False), ("pred", "fix")),
    "sauc_exact": (lambda b: M.auc_shuffled(b["pred"], b["fix"], b["neg"], method="exact"), ("pred", "fix", "neg")),
    "sauc_mit": (lambda b: M.auc_shuffled(b["pred"], b["fix"], b["neg"], method="mit", n_splits=5),
                 ("pred", "fix", "neg")),
}
CASES = [(m, key, bad) for m, (_, keys) in METRIC_CALLS.items() for key in keys for bad in BAD_VALUES]


def _corrupt(batch: dict, key: str | None, value: float, as_torch: bool) -> dict:
    out = {k: v.copy() for k, v in batch.items()}
    if key is not None:
        out[key][0, 2, 2] = value                     # frame 0 only
    return {k: torch.from_numpy(v) for k, v in out.items()} if as_torch else out


def _values(x) -> np.ndarray:
    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float64)


@pytest.mark.parametrize("as_torch", [False, True], ids=["numpy", "torch"])
@pytest.mark.parametrize("metric, key, bad", CASES)
def test_non_finite_input_gives_nan_for_that_frame_only(metric, key, bad, as_torch):
    fn, _ = METRIC_CALLS[metric]
    clean = _values(fn(_corrupt(_batch(), None, 0.0, as_torch)))
    assert np.isfinite(clean).all()                   # the clean batch scores finite values
    got = _values(fn(_corrupt(_batch(), key, BAD_VALUES[bad], as_torch)))
    assert math.isnan(got[0])
    assert got[1] == pytest.approx(clean[1], abs=1e-12)


@pytest.mark.parametrize("key", ["pred", "dense", "fix"])
@pytest.mark.parametrize("bad", list(BAD_VALUES))
def test_batch_metrics_non_finite_rows_and_counts(key, bad):
    clean = M.batch_metrics(*(torch.from_numpy(_batch()[k]) for k in ("pred", "dense", "fix")), seed=1)
    b = _corrupt(_batch(), key, BAD_VALUES[bad], as_torch=True)
    got = M.batch_metrics(b["pred"], b["dense"], b["fix"], seed=1)
    reads = {"cc": ("pred", "dense"), "sim": ("pred", "dense"), "kld": ("pred", "dense"),
             "nss": ("pred", "fix"), "auc_judd": ("pred", "fix")}
    for name, keys in reads.items():
        assert math.isnan(got[name][0]) == (key in keys), name
        assert got[name][1].item() == pytest.approx(clean[name][1].item(), abs=1e-12), name
    agg = M.aggregate_scores(got)
    for name, keys in reads.items():
        assert (agg[name].n_nan, agg[name].n_valid) == ((1, 1) if key in keys else (0, 2)), name


def test_inf_logit_is_not_squashed_to_a_finite_map():
    b = _corrupt(_batch(), "pred", np.inf, as_torch=True)
    got = M.batch_metrics(b["pred"], b["dense"], b["fix"], from_logits=True)
    assert all(math.isnan(got[k][0]) and not math.isnan(got[k][1]) for k in got)


def test_score_video_counts_non_finite_frames():
    b = _corrupt(_batch(), "pred", np.nan, as_torch=False)
    scores = M.score_video(b["pred"], b["dense"], b["fix"], negatives=b["neg"])
    assert all(math.isnan(v[0]) and np.isfinite(v[1]) for v in scores.values())
    assert all(a.n_nan == 1 for a in M.aggregate_scores(scores).values())


def test_negative_finite_values_still_raise():
    b = _batch()
    b["pred"][0, 0, 0] = -0.5
    with pytest.raises(ValueError, match="negative values"):
        M.kld(b["pred"], b["dense"])
