"""Saliency losses of §3.5 on hand-computed cases, degenerate input and the eq. (6) schedule."""
from __future__ import annotations

import math

import pytest
import torch

from stavis_lib.losses import (
    LossWeights,
    audiovisual_loss,
    cc_metric,
    ce_loss,
    nss_metric,
    saliency_loss,
    side_weight,
    visual_loss,
)
from stavis_lib.model import StavisOutput


def _logit(p: float | torch.Tensor) -> torch.Tensor:
    p = torch.as_tensor(p, dtype=torch.float32)
    return torch.log(p / (1 - p))


def _two_level_case():
    """A 4x4 dense map, left half 0.2, right half 0.8; fixations on two right-half pixels."""
    dense = torch.full((1, 1, 4, 4), 0.2)
    dense[..., 2:] = 0.8
    fix = torch.zeros(1, 1, 4, 4)
    fix[0, 0, 1, 3] = 1
    fix[0, 0, 2, 2] = 1
    return dense, fix


def test_perfect_prediction_hand_values():
    dense, fix = _two_level_case()
    logits = _logit(dense)  # P == Y_den exactly
    loss, parts = saliency_loss(logits, dense, fix)
    ce = 16 * -(0.2 * math.log(0.2) + 0.8 * math.log(0.8))  # 16 pixels x binary entropy of 0.2 (= of 0.8)
    # P has mean 0.5 and (population) std 0.3; both fixations sit on 0.8 -> NSS = 0.3 / 0.3 = 1
    assert parts["ce"] == pytest.approx(ce, rel=1e-5)
    assert parts["cc"] == pytest.approx(1.0, abs=1e-5)
    assert parts["nss"] == pytest.approx(1.0, abs=1e-5)
    assert loss.item() == pytest.approx(0.1 * ce - 2.0 - 1.0, abs=1e-5)
    assert parts["loss"] == pytest.approx(loss.item())


def test_eq8_ce_is_summed_over_pixels_by_hand():
    """Eq. (8) on a 2x2 map with known numbers: -sum_x [Y log P + (1 - Y) log(1 - P)]."""
    p = torch.tensor([[0.9, 0.2], [0.5, 0.7]])
    y = torch.tensor([[1.0, 0.0], [0.25, 0.5]])
    by_hand = -(math.log(0.9) + math.log(0.8) + (0.25 * math.log(0.5) + 0.75 * math.log(0.5))
                + (0.5 * math.log(0.7) + 0.5 * math.log(0.3)))
    logits = _logit(p).reshape(1, 1, 2, 2)
    assert ce_loss(logits, y.reshape(1, 1, 2, 2)).item() == pytest.approx(by_hand, rel=1e-5)
    assert ce_loss(logits, y.reshape(1, 1, 2, 2), reduction="mean").item() == pytest.approx(by_hand / 4, rel=1e-5)
    # per sample, then the batch mean in eq. (11)
    batch = torch.cat([logits, torch.zeros_like(logits)])
    ys = torch.cat([y.reshape(1, 1, 2, 2)] * 2)
    second = 4 * math.log(2.0)  # P = 0.5 everywhere: log 2 per pixel whatever Y is
    assert ce_loss(batch, ys).tolist() == pytest.approx([by_hand, second], rel=1e-5)
    _, parts = saliency_loss(batch, ys, torch.zeros_like(ys))
    assert parts["ce"] == pytest.approx((by_hand + second) / 2, rel=1e-5)
    with pytest.raises(ValueError, match="reduction"):
        ce_loss(logits, y.reshape(1, 1, 2, 2), reduction="max")


def test_ce_gradient_share_is_of_the_order_of_the_nss_term():
    """With the summed CE of eq. (8) the CE term of eq. (11) has a real share of the gradient
    w.r.t. the logits: its norm is within a decade of the NSS term's (the CC term's is smaller
    still, its per-pixel gradient scales with 1/(H*W)); the pixel mean would leave CE ~0."""
    g = torch.Generator().manual_seed(0)
    x = torch.linspace(-1, 1, 112)
    yy, xx = torch.meshgrid(x, x, indexing="ij")
    dense = torch.exp(-((xx - 0.2) ** 2 + (yy + 0.1) ** 2) / (2 * 0.2**2)).expand(8, 1, 112, 112).contiguous()
    fix = (torch.rand(8, 1, 112, 112, generator=g) < dense * 0.002).float()
    fix[:, 0, 62, 67] = 1.0  # at least one fixation per frame
    # a prediction near the target: the logit of the dense map plus noise
    logits = (torch.logit(dense.clamp(0.02, 0.98)) + torch.randn(8, 1, 112, 112, generator=g)).requires_grad_(True)
    w = LossWeights()

    def grad_norm(term: torch.Tensor) -> float:
        (grad,) = torch.autograd.grad(term, logits, retain_graph=True)
        return float(grad.norm())

    prob = torch.sigmoid(logits)
    ce = grad_norm(w.ce * ce_loss(logits, dense).mean())
    cc = grad_norm(-w.cc * cc_metric(prob, dense).mean())
    nss = grad_norm(-w.nss * nss_metric(prob, fix)[0].mean())
    assert 0.1 < ce / nss < 10, (ce, cc, nss)
    share = ce / (ce + cc + nss)
    assert 0.1 < share < 0.95, (ce, cc, nss)
    mean_ce = grad_norm(w.ce * ce_loss(logits, dense, reduction="mean").mean())
    assert mean_ce / (mean_ce + cc + nss) < 0.01  # the pixel mean: CE has almost no say


def test_anti_correlated_prediction_and_custom_weights():
    dense, fix = _two_level_case()
    logits = _logit(1 - dense)
    loss, parts = saliency_loss(logits, dense, fix, LossWeights(ce=0.0, cc=1.0, nss=0.0))
    assert parts["cc"] == pytest.approx(-1.0, abs=1e-5)
    assert parts["nss"] == pytest.approx(-1.0, abs=1e-5)
    assert loss.item() == pytest.approx(1.0, abs=1e-5)


def test_nss_hand_value():
    probs = torch.tensor([0.1, 0.1, 0.1, 0.9]).reshape(1, 1, 2, 2)
    fix = torch.tensor([0.0, 0.0, 0.0, 1.0]).reshape(1, 1, 2, 2)
    dense = torch.tensor([0.0, 0.0, 0.5, 1.0]).reshape(1, 1, 2, 2)
    _, parts = saliency_loss(_logit(probs), dense, fix)
    # mean 0.3, std sqrt((3 * 0.2^2 + 0.6^2) / 4) = sqrt(0.12)
    assert parts["nss"] == pytest.approx(0.6 / math.sqrt(0.12), rel=1e-5)


@pytest.mark.parametrize("target", ["constant", "zeros"])
def test_constant_prediction_and_constant_targets_are_finite(target):
    logits = torch.full((2, 1, 8, 8), -2.0, requires_grad=True)
    p = 1 / (1 + math.exp(2.0))
    if target == "constant":
        dense = torch.full((2, 1, 8, 8), 0.5)
        ce = 64 * -(0.5 * math.log(p) + 0.5 * math.log(1 - p))  # summed over the 8x8 pixels
    else:
        dense = torch.zeros(2, 1, 8, 8)
        ce = 64 * -math.log(1 - p)
    fix = torch.zeros(2, 1, 8, 8)
    fix[:, :, 3, 3] = 1
    loss, parts = saliency_loss(logits, dense, fix)
    loss.backward()
    assert parts["cc"] == 0.0 and parts["nss"] == 0.0  # documented convention: undefined -> 0
    assert parts["ce"] == pytest.approx(ce, rel=1e-5)
    assert loss.item() == pytest.approx(0.1 * ce, rel=1e-5)
    assert torch.isfinite(logits.grad).all()


def test_constant_target_with_varying_prediction_has_cc_zero_and_finite_gradient():
    logits = torch.randn(1, 1, 6, 6, requires_grad=True)
    dense = torch.zeros(1, 1, 6, 6)
    fix = torch.zeros(1, 1, 6, 6)
    loss, parts = saliency_loss(logits, dense, fix)
    loss.backward()
    assert parts["cc"] == 0.0 and parts["nss"] == 0.0
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_frame_without_fixations_is_left_out_of_nss():
    dense, fix = _two_level_case()
    logits = _logit(dense).repeat(2, 1, 1, 1)
    dense2 = dense.repeat(2, 1, 1, 1)
    fix2 = torch.cat([fix, torch.zeros_like(fix)])
    logits.requires_grad_(True)
    loss, parts = saliency_loss(logits, dense2, fix2)
    loss.backward()
    assert parts["nss"] == pytest.approx(1.0, abs=1e-5)  # mean over the one frame with fixations
    assert torch.isfinite(logits.grad).all()
    _, none = saliency_loss(logits, dense2, torch.zeros_like(fix2))
    assert none["nss"] == 0.0


def test_extreme_logits_stay_finite():
    dense, fix = _two_level_case()
    logits = torch.where(dense > 0.5, torch.tensor(80.0), torch.tensor(-80.0)).requires_grad_(True)
    loss, parts = saliency_loss(logits, dense, fix)
    loss.backward()
    assert math.isfinite(parts["ce"]) and torch.isfinite(logits.grad).all()
    assert parts["cc"] == pytest.approx(1.0, abs=1e-4)


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="dense"):
        saliency_loss(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5), torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="logits"):
        saliency_loss(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4), torch.zeros(1, 4, 4))


def _fake_output(visual: torch.Tensor, final: torch.Tensor) -> StavisOutput:
    return StavisOutput(final, visual, [visual.clone() for _ in range(4)], [], None, None)


def test_eq6_side_weight_schedule_and_sum():
    # 1-based epochs as the official loop: 59/60 in the first epoch, 0 in the last (60th)
    assert side_weight(1, 60) == pytest.approx(59 / 60)
    assert side_weight(30, 60) == 0.5
    assert side_weight(60, 60) == 0.0
    assert side_weight(90, 60) == 0.0
    dense, fix = _two_level_case()
    visual = _logit(dense * 0.5 + 0.1)
    main, _ = saliency_loss(visual, dense, fix)
    out = _fake_output(visual, torch.zeros_like(visual))
    for epoch, w in ((0, 1.0), (15, 0.75), (60, 0.0)):
        loss, parts = visual_loss(out, dense, fix, epoch=epoch, n_epochs=60)
        assert parts["side_weight"] == w
        assert loss.item() == pytest.approx((1 + 4 * w) * main.item(), rel=1e-5)  # 4 identical side maps
        assert parts["side"] == pytest.approx(4 * main.item(), rel=1e-5)


def test_eq7_uses_the_final_map_only():
    dense, fix = _two_level_case()
    final = _logit(dense)
    out = _fake_output(torch.zeros_like(final), final)
    loss, parts = audiovisual_loss(out, dense, fix)
    ref, _ = saliency_loss(final, dense, fix)
    assert loss.item() == pytest.approx(ref.item())
    assert parts["cc"] == pytest.approx(1.0, abs=1e-5)
