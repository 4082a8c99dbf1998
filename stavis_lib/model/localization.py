"""§3.3 Sound source localization: eq. (3)-(5).

f_v is X^3 (layer2 output, before the DSAM re-weighting of that level, as in the official
code) pooled over time; f_a is the SoundNet vector. Eq. (3) re-projects both to D_h with
affine maps U_v, U_a (each followed by a ReLU, as in the official code); h_a is tiled over
space. Then, per pixel:

* L1: cosine similarity of h_v and h_a (no parameters, one map);
* L2: eq. (4), L^j = sum_k s^{j,k} h_v^k h_a^k + beta^j (1 or N_out maps);
* L3: eq. (5), L^j = h_v^T M^j h_a + mu^j, an ``nn.Bilinear(h_v, h_a)`` (1 or N_out maps).

The maps are upsampled bilinearly (align_corners=False) to the input size (x8 at 112 px).
Official key names (``fusion3.*``): affine_rgb -> ``affine_visual``, affine_audio ->
``affine_audio``, w_a_rgb -> ``bilinear`` (first input h_v, second h_a, as officially).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stavis_lib.model.visual import temporal_mean

COSINE_EPS = 1e-8


def pool_time(x: Tensor, mode: str) -> Tensor:
    """(B,C,T,h,w) -> (B,C,h,w). "mean": all steps; "center": the two central steps (official)."""
    if mode == "mean" or x.shape[2] < 2:
        return temporal_mean(x)
    if mode == "center":
        mid = x.shape[2] // 2
        return temporal_mean(x[:, :, mid - 1 : mid + 1])
    raise ValueError(f"unknown temporal pooling {mode!r}; expected 'center' or 'mean'")


def bilinear_tiled(h_v: Tensor, h_a: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Eq. (5) for an audio vector shared by every pixel: L^j = h_v^T (M^j h_a) + mu^j.

    h_v (B,h,w,D), h_a (B,D), weight M (K,D,D), bias mu (K,) -> (B,h,w,K). Equal to
    ``nn.Bilinear(h_v, tiled h_a)`` but M^j h_a is formed once per clip instead of once per
    pixel (``F.bilinear`` on CPU was ~27 % of a forward).
    """
    m_ha = torch.einsum("kij,bj->bki", weight, h_a)
    return torch.einsum("bhwi,bki->bhwk", h_v, m_ha) + bias


class Localization(nn.Module):
    """Audio-visual correspondence maps L (B, K, H, W) from X^3 and f_a."""

    def __init__(
        self,
        method: str,
        visual_channels: int,
        audio_channels: int = 1024,
        hidden_dim: int = 128,
        n_maps: int = 64,
        visual_pool: str = "center",
        projection_relu: bool = True,
    ) -> None:
        super().__init__()
        if method not in ("L1", "L2", "L3"):
            raise ValueError(f"unknown localization {method!r}; expected 'L1', 'L2' or 'L3'")
        if method == "L1" and n_maps != 1:
            raise ValueError("L1 (cosine similarity) yields exactly one map")
        self.method = method
        self.n_maps = n_maps
        self.visual_pool = visual_pool
        self.projection_relu = projection_relu
        self.affine_visual = nn.Linear(visual_channels, hidden_dim)  # U_v, b_v of eq. (3)
        self.affine_audio = nn.Linear(audio_channels, hidden_dim)  # U_a, b_a of eq. (3)
        self.weighted: nn.Linear | None = None
        self.bilinear: nn.Bilinear | None = None
        if method == "L2":
            self.weighted = nn.Linear(hidden_dim, n_maps)  # s^{j,k} (weight), beta^j (bias), eq. (4)
        elif method == "L3":
            self.bilinear = nn.Bilinear(hidden_dim, hidden_dim, n_maps)  # M^j, mu^j of eq. (5)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Bilinear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                nn.init.zeros_(m.bias)

    def project(self, x3: Tensor, f_a: Tensor) -> tuple[Tensor, Tensor]:
        """Eq. (3): h_v (B,h,w,D_h) and the spatially tiled h_a (B,h,w,D_h); followed by a ReLU
        when ``projection_relu`` (the official code's choice; the paper's eq. (3) is affine only)."""
        f_v = pool_time(x3, self.visual_pool).permute(0, 2, 3, 1)  # (B,h,w,D_v)
        h_v, h_a = self.affine_visual(f_v), self.affine_audio(f_a)
        if self.projection_relu:
            h_v, h_a = F.relu(h_v), F.relu(h_a)
        return h_v, h_a[:, None, None, :].expand_as(h_v)

    def correspond(self, h_v: Tensor, h_a: Tensor) -> Tensor:
        """Per-pixel correspondence maps at feature resolution, (B,K,h,w)."""
        if self.method == "L1":
            num = (h_v * h_a).sum(-1, keepdim=True)
            sq = (h_v * h_v).sum(-1, keepdim=True) * (h_a * h_a).sum(-1, keepdim=True)
            maps = num / sq.clamp_min(COSINE_EPS**2).sqrt()  # clamp first: finite value and gradient at 0
        elif self.weighted is not None:
            maps = self.weighted(h_v * h_a)
        else:
            assert self.bilinear is not None
            if h_a.stride(1) == 0 and h_a.stride(2) == 0:  # tiled audio (eq. 3): one M^j h_a per clip
                maps = bilinear_tiled(h_v, h_a[:, 0, 0, :], self.bilinear.weight, self.bilinear.bias)
            else:
                maps = self.bilinear(h_v.contiguous(), h_a.contiguous())
        return maps.permute(0, 3, 1, 2)

    def forward(self, x3: Tensor, f_a: Tensor, size: tuple[int, int]) -> Tensor:
        """x3 (B,D_v,T,h,w), f_a (B,D_a) -> L (B,K,H,W) upsampled to ``size`` = (H, W)."""
        h_v, h_a = self.project(x3, f_a)
        maps = self.correspond(h_v, h_a)
        return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)
