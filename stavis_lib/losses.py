"""§3.5 Saliency losses, eq. (6)-(11).

All functions take **logits** (the network outputs) and apply the sigmoid themselves:
P = sigma(logits). Per sample (one (1,H,W) map) and then averaged over the batch:

* D_CE (eq. 8): binary cross-entropy between P and the dense map Y_den in [0,1], **summed over
  the pixels** as eq. (8) writes it and as the official loss does
  (``BCE_with_logits(output, label).sum(1)``), computed from the logits (numerically stable).
  ``ce_reduction="mean"`` averages over the pixels instead (a named deviation, used only by the
  small CPU demo preset; it divides the CE term's weight by H*W). Eq. (8) as printed has a typo
  ("1 - log P"); the standard BCE term (1 - Y) log(1 - P) is meant and used.
* D_CC (eq. 9): -cov(P, Y_den) / (std(P) std(Y_den)).
* D_NSS (eq. 10): -(1/N_f) sum_xy P~ Y_fix with P~ = (P - mean P) / std P.
* eq. (11): L = w_1 D_CE + w_2 D_CC + w_3 D_NSS with (w_1, w_2, w_3) = (0.1, 2, 1).

Degenerate input (documented masks; never NaN, also no NaN gradient):
* a constant prediction or a constant / all-zero dense map has no defined correlation:
  CC is taken as 0 for that sample (std below ``STD_EPS``);
* a constant prediction has no defined NSS: NSS is taken as 0 for that sample;
* a frame without any fixation (N_f = 0) is left out of the NSS mean; a batch with no
  fixation at all has NSS 0.

Returned components (python floats): ``ce`` (the loss term D_CE), ``cc`` and ``nss`` (the
scores CC and NSS, higher is better, so ``loss = w_ce ce - w_cc cc - w_nss nss``) and ``loss``.
With 112x112 maps the summed CE is in the thousands while CC and NSS are of order 1; their
gradients with respect to the logits are nevertheless of comparable size (each pixel's CE
gradient is w_1 (P - Y_den), the CC/NSS gradients are spread over the pixels).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from stavis_lib.model.stavis import StavisOutput

STD_EPS = 1e-8  # below this standard deviation a map counts as constant
CE_REDUCTIONS = ("sum", "mean")  # eq. (8) / official: "sum" over the pixels


@dataclass
class LossWeights:
    """Weights of eq. (11): w_1 (CE), w_2 (CC), w_3 (NSS)."""

    ce: float = 0.1
    cc: float = 2.0
    nss: float = 1.0


def _check_maps(logits: Tensor, dense: Tensor, fix: Tensor) -> None:
    if logits.dim() != 4 or logits.shape[1] != 1:
        raise ValueError(f"logits must have shape (B,1,H,W); got {tuple(logits.shape)}")
    for name, t in (("dense", dense), ("fix", fix)):
        if t.shape != logits.shape:
            raise ValueError(f"{name} has shape {tuple(t.shape)}, logits {tuple(logits.shape)}: they must match")


def _flat(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1).float()


def _standardize(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-row (x - mean) / std with a safe denominator, and the mask of rows with std > STD_EPS."""
    centred = x - x.mean(dim=1, keepdim=True)
    var = centred.pow(2).mean(dim=1, keepdim=True)
    valid = var > STD_EPS**2
    std = var.clamp_min(STD_EPS**2).sqrt()  # clamp first: finite gradient at var = 0
    return centred / std, valid.squeeze(1)


def ce_loss(logits: Tensor, dense: Tensor, reduction: str = "sum") -> Tensor:
    """D_CE per sample (B,), eq. (8): BCE(sigma(logits), dense) summed over the pixels
    (``reduction="mean"``: averaged over them)."""
    if reduction not in CE_REDUCTIONS:
        raise ValueError(f"ce reduction {reduction!r}: expected one of {CE_REDUCTIONS}")
    bce = F.binary_cross_entropy_with_logits(_flat(logits), _flat(dense), reduction="none")
    return bce.sum(dim=1) if reduction == "sum" else bce.mean(dim=1)


def cc_metric(prob: Tensor, dense: Tensor) -> Tensor:
    """Linear correlation coefficient per sample (B,); 0 where either map is constant."""
    zp, vp = _standardize(_flat(prob))
    zd, vd = _standardize(_flat(dense))
    cc = (zp * zd).mean(dim=1)
    return torch.where(vp & vd, cc, torch.zeros_like(cc))


def nss_metric(prob: Tensor, fix: Tensor) -> tuple[Tensor, Tensor]:
    """NSS per sample (B,) and the mask of samples that have fixations (N_f > 0)."""
    zp, vp = _standardize(_flat(prob))
    f = (_flat(fix) > 0.5).float()
    n_fix = f.sum(dim=1)
    has_fix = n_fix > 0
    nss = (zp * f).sum(dim=1) / n_fix.clamp_min(1.0)
    nss = torch.where(vp & has_fix, nss, torch.zeros_like(nss))
    return nss, has_fix


def saliency_loss(
    logits: Tensor, dense: Tensor, fix: Tensor, weights: LossWeights = LossWeights(), ce_reduction: str = "sum"
) -> tuple[Tensor, dict[str, float]]:
    """Eq. (11) on P = sigma(logits): w_1 D_CE + w_2 D_CC + w_3 D_NSS, averaged over the batch.

    logits (B,1,H,W); dense (B,1,H,W) in [0,1]; fix (B,1,H,W) in {0,1}. ``ce_reduction``:
    see ``ce_loss``.
    """
    _check_maps(logits, dense, fix)
    prob = torch.sigmoid(logits)
    ce = ce_loss(logits, dense, ce_reduction).mean()
    cc = cc_metric(prob, dense).mean()
    nss_per, has_fix = nss_metric(prob, fix)
    nss = nss_per.sum() / has_fix.sum().clamp_min(1)
    loss = weights.ce * ce - weights.cc * cc - weights.nss * nss
    parts = {"ce": float(ce.detach()), "cc": float(cc.detach()), "nss": float(nss.detach()), "loss": float(loss.detach())}
    return loss, parts


def side_weight(epoch: int, n_epochs: int) -> float:
    """Weight of the DSAM side losses in eq. (6): 1 - epoch / n_epochs (clamped to [0, 1]).

    ``epoch`` is 1-based as in the official training loop (``train`` passes epoch index + 1):
    (n-1)/n in the first epoch, 0 in the last.
    """
    if n_epochs <= 0:
        raise ValueError(f"n_epochs must be positive, got {n_epochs}")
    return min(1.0, max(0.0, 1.0 - epoch / n_epochs))


def visual_loss(
    out: "StavisOutput", dense: Tensor, fix: Tensor, epoch: int, n_epochs: int, weights: LossWeights = LossWeights(),
    ce_reduction: str = "sum",
) -> tuple[Tensor, dict[str, float]]:
    """Eq. (6): D(sigma(S^v)) + (1 - epoch/n_epochs) * sum_m D(sigma(A^m)) (visual-only stage).

    ``epoch`` is 1-based (``side_weight``). Components: ``ce``/``cc``/``nss`` of the S^v term,
    ``side`` (sum of the four side losses), ``side_weight`` and ``loss``.
    """
    main, parts = saliency_loss(out.visual, dense, fix, weights, ce_reduction)
    w_side = side_weight(epoch, n_epochs)
    side = torch.zeros((), device=main.device, dtype=main.dtype)
    for a in out.side:
        side = side + saliency_loss(a, dense, fix, weights, ce_reduction)[0]
    loss = main + w_side * side
    parts = {**parts, "side": float(side.detach()), "side_weight": w_side, "loss": float(loss.detach())}
    return loss, parts


def audiovisual_loss(
    out: "StavisOutput", dense: Tensor, fix: Tensor, weights: LossWeights = LossWeights(), ce_reduction: str = "sum"
) -> tuple[Tensor, dict[str, float]]:
    """Eq. (7): D(sigma(S^av)) on the final map only (no DSAM skip connections)."""
    return saliency_loss(out.saliency, dense, fix, weights, ce_reduction)
