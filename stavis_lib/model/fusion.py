"""§3.4 Audio-visual saliency estimation: the fusion heads of Table 1.

Inputs: S^v (B,1,H,W) logits of the visual head, V (B,64,H,W) the concatenated DSAM
saliency features (S^1|..|S^4) and L (B,K,H,W) the localization maps. Every head returns
**logits** (B,1,H,W), so a sigmoid always gives the saliency map. Per head:

* ``visual``: S^v itself.
* ``audio_only``: S^a = W_a * L + b (1x1 conv; the "AudioOnly" rows of Table 1).
* ``S1``: p = w_v sigma(S^v) + w_a sigma(S^a), (w_v, w_a) = softmax of two learned scalars
  (a convex combination, so p stays in (0,1)); returns logit(p).
* ``S2``: p = sigma(S^v) (1 + sigma(S^a)) / 2; the /2 maps the product from (0,2) into (0,1)
  and does not change any ranking metric; returns logit(p).
* ``S2tilde``: S~2 = W * [sigma(V^j) (1 + sigma(L^j))]_j + b (1x1 conv; a logit), K = 64 = V channels.
* ``S3`` (proposed): S3 = W_cat * (V|L) + beta_av (1x1 conv; a logit). Official name ``fuseav``.
* ``Sfus``: p = w~_v sigma(S^v) + w~_a sigma(S^a) + w_av sigma(S3), weights = softmax of three
  learned scalars; returns logit(p).

logit(p) is taken of p clamped to [1e-6, 1 - 1e-6], so every output is finite.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

FUSION_BIAS_INIT = -6.0  # official initial bias of fuse / fuseav
PROB_EPS = 1e-6


def prob_logit(p: Tensor) -> Tensor:
    """logit of a probability map, clamped to [PROB_EPS, 1 - PROB_EPS]."""
    return torch.logit(p.clamp(PROB_EPS, 1.0 - PROB_EPS))


def logit_conv(in_channels: int) -> nn.Conv2d:
    """1x1 conv to one logit map, initialised like the official fuse/fuseav (N(0, 0.001), bias -6)."""
    conv = nn.Conv2d(in_channels, 1, kernel_size=1)
    nn.init.normal_(conv.weight, 0.0, 0.001)
    nn.init.constant_(conv.bias, FUSION_BIAS_INIT)
    return conv


class FusionHead(nn.Module):
    """One of the fusion schemes of §3.4 (see the module docstring)."""

    def __init__(self, fusion: str, v_channels: int = 64, n_maps: int = 64) -> None:
        super().__init__()
        self.fusion = fusion
        self.audio_conv: nn.Conv2d | None = None  # S^a
        self.cat_conv: nn.Conv2d | None = None  # S3 (official fuseav)
        self.modulated_conv: nn.Conv2d | None = None  # S~2
        self.mix: nn.Parameter | None = None  # raw weights of S1 / Sfus
        if fusion in ("audio_only", "S1", "S2", "Sfus"):
            self.audio_conv = logit_conv(n_maps)
        if fusion in ("S3", "Sfus"):
            self.cat_conv = logit_conv(v_channels + n_maps)
        if fusion == "S2tilde":
            if n_maps != v_channels:
                raise ValueError(f"S2tilde needs as many localization maps as V channels ({v_channels}), got {n_maps}")
            self.modulated_conv = logit_conv(v_channels)
        if fusion == "S1":
            self.mix = nn.Parameter(torch.zeros(2))
        elif fusion == "Sfus":
            self.mix = nn.Parameter(torch.zeros(3))
        elif fusion not in ("visual", "audio_only", "S2", "S2tilde", "S3"):
            raise ValueError(f"unknown fusion {fusion!r}")

    def mix_weights(self) -> Tensor:
        """The convex weights (w_v, w_a) of S1 or (w~_v, w~_a, w_av) of Sfus."""
        if self.mix is None:
            raise ValueError(f"fusion {self.fusion!r} has no learned mixing weights")
        return torch.softmax(self.mix, dim=0)

    def forward(self, s_v: Tensor, v: Tensor, loc: Tensor | None) -> Tensor:
        if self.fusion == "visual":
            return s_v
        if loc is None:
            raise ValueError(f"fusion {self.fusion!r} needs localization maps")
        if self.fusion == "audio_only":
            return self._audio(loc)
        if self.fusion == "S1":
            w = self.mix_weights()
            return prob_logit(w[0] * torch.sigmoid(s_v) + w[1] * torch.sigmoid(self._audio(loc)))
        if self.fusion == "S2":
            return prob_logit(torch.sigmoid(s_v) * (1.0 + torch.sigmoid(self._audio(loc))) / 2.0)
        if self.fusion == "S2tilde":
            assert self.modulated_conv is not None
            return self.modulated_conv(torch.sigmoid(v) * (1.0 + torch.sigmoid(loc)))
        s3 = self._concat(v, loc)
        if self.fusion == "S3":
            return s3
        w = self.mix_weights()  # Sfus
        p = w[0] * torch.sigmoid(s_v) + w[1] * torch.sigmoid(self._audio(loc)) + w[2] * torch.sigmoid(s3)
        return prob_logit(p)

    def _audio(self, loc: Tensor) -> Tensor:
        assert self.audio_conv is not None
        return self.audio_conv(loc)

    def _concat(self, v: Tensor, loc: Tensor) -> Tensor:
        assert self.cat_conv is not None
        return self.cat_conv(torch.cat([v, loc], dim=1))
