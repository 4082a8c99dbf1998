"""The whole STAViS network (Fig. 2): visual trunk + DSAM, SoundNet, localization, fusion.

Submodules (the top-level names group the parameters by part of the paper):

* ``trunk``        §3.1 3D ResNet conv1..layer3 (official ``conv1``, ``bn1``, ``layer1-3``)
* ``dsam``         §3.1 four DSAM modules (official ``score_dsn.{0..3}``)
* ``visual_head``  S^v = 1x1 conv of V (official ``fuse``)
* ``audio``        §3.2 SoundNet-8 (official ``soundnet8``), only when the variant uses audio
* ``localization`` §3.3 L1/L2/L3 (official ``fusion3``), only when the variant uses audio
* ``fusion``       §3.4 fusion head (S3's conv is the official ``fuseav``)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stavis_lib.config import ModelConfig
from stavis_lib.model.audio import AUDIO_DIM, SoundNet8
from stavis_lib.model.fusion import FusionHead, logit_conv
from stavis_lib.model.localization import Localization
from stavis_lib.model.visual import DSAM, ResNet3DTrunk


def _triple(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value, value)


#: upsampling factor of the DSAM deconvolutions at levels 0..3 (conv1, layer1, layer2, layer3)
DSAM_FACTORS = (2, 4, 8, 16)
PARTS = ("trunk", "dsam", "visual_head", "audio", "localization", "fusion")
STAGES = ("visual", "audiovisual")


@dataclass
class StavisOutput:
    """Named outputs of one forward pass (all maps at the input resolution unless stated).

    saliency: (B,1,H,W) logits of the final map (S^v for "visual", S^av otherwise).
    visual: (B,1,H,W) logits S^v.
    side: 4 x (B,1,H,W) logits, the upsampled DSAM activations A^m (deep supervision, eq. 6).
    attention: 4 x (B,1,h_m,w_m) spatial-softmax maps M^m (eq. 2); each sums to 1 per sample.
    localization: (B,K,H,W) localization maps L, None for "visual".
    audio_features: (B,1024) f_a, None for "visual".
    """

    saliency: Tensor
    visual: Tensor
    side: list[Tensor]
    attention: list[Tensor]
    localization: Tensor | None
    audio_features: Tensor | None


class Stavis(nn.Module):
    """STAViS (Tsiami, Koutras, Maragos, CVPR 2020), any Table-1 variant (see ``stavis_lib.config``)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.trunk = ResNet3DTrunk(config.depth, config.blocks, config.width, config.shortcut)
        self.dsam = nn.ModuleList(
            DSAM(c, f, config.dsam_channels) for c, f in zip(self.trunk.level_channels, DSAM_FACTORS)
        )
        v_channels = 4 * config.dsam_channels
        self.visual_head = logit_conv(v_channels)
        self.audio: SoundNet8 | None = None
        self.localization: Localization | None = None
        if config.uses_audio:
            assert config.localization is not None
            self.audio = SoundNet8()
            self.localization = Localization(
                config.localization,
                visual_channels=self.trunk.level_channels[2],
                audio_channels=AUDIO_DIM,
                hidden_dim=config.hidden_dim,
                n_maps=config.n_loc_maps,
                visual_pool=config.visual_pool,
                projection_relu=config.projection_relu,
            )
        self.fusion = FusionHead(config.fusion, v_channels, config.n_loc_maps)

    # ------------------------------------------------------------------ forward
    def forward(self, frames: Tensor, audio: Tensor | None = None) -> StavisOutput:
        """frames (B,3,T,H,W) officially normalised; audio (B,N)|(B,1,N)|(B,1,1,N), SoundNet scale."""
        if frames.dim() != 5 or frames.shape[1] != 3:
            raise ValueError(f"frames must have shape (B,3,T,H,W); got {tuple(frames.shape)}")
        self._check_inputs(frames.shape[0], tuple(frames.shape[-2:]), audio)
        return self.forward_from_conv1(self.trunk.conv1(frames), audio, tuple(frames.shape[-2:]))

    def _check_inputs(self, batch: int, frame_size: tuple[int, ...], audio: Tensor | None) -> None:
        height, width = frame_size
        if height % 16 or width % 16:
            raise ValueError(f"frame height and width must be divisible by 16; got {height}x{width}")
        if self.config.uses_audio and audio is None:
            raise ValueError(f"variant {self.config.variant!r} uses audio: pass audio (B,N) to forward()")
        if audio is not None and audio.shape[0] != batch:
            raise ValueError(f"batch sizes differ: frames {batch}, audio {audio.shape[0]}")

    def forward_from_conv1(self, x1: Tensor, audio: Tensor | None, frame_size: tuple[int, int]) -> StavisOutput:
        """Everything after the stem convolution: ``forward(frames) == forward_from_conv1(conv1(frames))``.

        x1: (B,C,T,H/2,W/2) output of ``trunk.conv1`` for clips of ``frame_size = (H, W)``. Lets
        inference compute conv1 once per video frame and share it between overlapping windows
        (``stavis_lib.model.stem_cache``) and compile the rest as one graph.
        """
        if x1.dim() != 5 or x1.shape[1] != self.trunk.conv1.out_channels:
            raise ValueError(f"conv1 output must have shape (B,{self.trunk.conv1.out_channels},T,h,w); "
                             f"got {tuple(x1.shape)}")
        self._check_inputs(x1.shape[0], frame_size, audio)
        x = self.trunk.relu(self.trunk.bn1(x1))  # the rest of the stem: X^1
        x, s_up, a_up, m = self.dsam[0](x)
        return self._forward_from_layer1(self.trunk.maxpool(x), (s_up, a_up, m), audio, frame_size)

    def forward_from_stem_summary(self, pooled: Tensor, tmax: Tensor, audio: Tensor | None,
                                  frame_size: tuple[int, int]) -> StavisOutput:
        """The network from two summaries of X^1 (the stem after BN + ReLU), without X^1 itself.

        pooled: (B,C,h,w) temporal mean of X^1 (what DSAM level 0 pools, eq. 2);
        tmax: (B,C,T',h,w) X^1 max-pooled over time only (kernel 3, stride 2, padding 1).
        Because the DSAM re-weighting 1 + M (eq. 1) is positive and the same for every time
        step, ``maxpool3d((1 + M) X^1) == maxpool2d((1 + M) tmax)``, exactly; so this equals
        ``forward_from_conv1`` while touching half as much memory at the largest resolution
        (``StemCache.summaries`` computes both from per-frame caches).
        """
        if not self.takes_stem_summaries():
            raise ValueError("forward_from_stem_summary needs the trunk's MaxPool3d(3, stride 2, padding 1)")
        if pooled.dim() != 4 or tmax.dim() != 5 or pooled.shape[:2] != tmax.shape[:2]:
            raise ValueError(f"expected pooled (B,C,h,w) and tmax (B,C,T',h,w); got {tuple(pooled.shape)}, "
                             f"{tuple(tmax.shape)}")
        self._check_inputs(pooled.shape[0], frame_size, audio)
        s_up, a_up, m = self.dsam[0].attention(pooled)
        x = F.max_pool3d((1.0 + m.unsqueeze(2)) * tmax, kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        return self._forward_from_layer1(x, (s_up, a_up, m), audio, frame_size)

    def takes_stem_summaries(self) -> bool:
        """Whether ``forward_from_stem_summary`` applies: the trunk max-pool is MaxPool3d(3, 2, 1)."""
        pool = self.trunk.maxpool
        return isinstance(pool, nn.MaxPool3d) and (
            _triple(pool.kernel_size), _triple(pool.stride), _triple(pool.padding), _triple(pool.dilation),
            pool.ceil_mode) == ((3, 3, 3), (2, 2, 2), (1, 1, 1), (1, 1, 1), False)

    def _forward_from_layer1(self, x: Tensor, level0: tuple[Tensor, Tensor, Tensor], audio: Tensor | None,
                             frame_size: tuple[int, int]) -> StavisOutput:
        """Levels 1-3 of the trunk and DSAM, then the audio branch, localization and fusion."""
        height, width = frame_size
        sides, side_logits, attention = [level0[0]], [level0[1]], [level0[2]]
        x3: Tensor | None = None
        for level in (1, 2, 3):
            if level == 1:
                x = self.trunk.layer1(x)
            elif level == 2:
                x = self.trunk.layer2(x)
                x3 = x  # X^3 for the localization, before this level's re-weighting
            else:
                x = self.trunk.layer3(x)
            x, s_up, a_up, m = self.dsam[level](x)
            sides.append(s_up)
            side_logits.append(a_up)
            attention.append(m)
        v = torch.cat(sides, dim=1)  # V = (S^1 | .. | S^4)
        s_v = self.visual_head(v)

        loc: Tensor | None = None
        f_a: Tensor | None = None
        if self.config.uses_audio:
            assert self.audio is not None and self.localization is not None and x3 is not None
            f_a = self.audio(audio)
            loc = self.localization(x3, f_a, (height, width))
        saliency = self.fusion(s_v, v, loc)
        return StavisOutput(saliency, s_v, side_logits, attention, loc, f_a)

    # ------------------------------------------------------------------ parameter bookkeeping
    def parameter_parts(self) -> dict[str, int]:
        """Number of parameter values per part (``PARTS``)."""
        counts = {part: 0 for part in PARTS}
        for name, p in self.named_parameters():
            counts[name.split(".", 1)[0]] += p.numel()
        return counts

    def stage_parameter_names(self, stage: str) -> set[str]:
        """Names of the parameters that the loss of a training stage reaches.

        "visual" (eq. 6: S^v and the four side outputs A^m): trunk, dsam, visual_head.
        "audiovisual" (eq. 7: S^av only; not for the "visual" variant): everything except
        - the side-output deconvolutions ``dsam.*.up_activation`` and the last activation
          ``dsam.3.activation_conv`` (its attention has no later layer to re-weight);
        - the biases ``dsam.*.activation_conv.bias``: without the side outputs A^m only enters
          through the spatial softmax (eq. 2), which ignores a constant shift, so their exact
          gradient is 0;
        - ``visual_head`` for S2tilde and S3, which do not use S^v;
        - for the audio-only heads, also V (``dsam.*.up_saliency``), ``visual_head``, the part of
          the trunk after X^3 (``trunk.layer3``, ``dsam.2``, ``dsam.3``) and, by the same softmax
          argument, ``dsam.*.saliency_conv.bias`` (S^m then only feeds A^m).

        The SoundNet conv biases stay in the set although, like any bias right before a
        BatchNorm, their gradient is exactly 0 while BN uses batch statistics (train mode);
        with running statistics (eval mode, frozen BN) they are reached.
        """
        names = [n for n, _ in self.named_parameters()]
        if stage == "visual":
            return {n for n in names if n.split(".", 1)[0] in ("trunk", "dsam", "visual_head")}
        if stage != "audiovisual":
            raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
        if not self.config.uses_audio:
            raise ValueError("the 'visual' variant has no audio-visual stage")
        # patterns matched against "." + name
        unused = [".up_activation.", ".dsam.3.activation_conv.", ".activation_conv.bias"]
        if self.config.fusion in ("S2tilde", "S3", "audio_only"):
            unused.append(".visual_head.")
        if self.config.fusion == "audio_only":
            unused += [".up_saliency.", ".trunk.layer3.", ".dsam.2.", ".dsam.3.", ".saliency_conv.bias"]
        return {n for n in names if not any(u in "." + n + "." for u in unused)}
