"""Exact reuse of the stem convolution (``conv1``) across overlapping sliding windows.

STAViS predicts the saliency of every frame from its own 16-frame clip (test protocol of the
official code: sliding window, step 1), so consecutive clips share 15 of their 16 frames. The
first layer of the visual trunk (§3.1, Table 4) is a 3D convolution with a 7×7×7 kernel,
temporal stride 1 and temporal zero padding p = 3. Its output at clip position t depends only
on the clip frames t-p … t+p (zeros outside the clip). Hence:

* **interior positions** p ≤ t < T-p of a clip made of consecutive video frames s … s+T-1 see
  the video frames s+t-p … s+t+p and no padding: their output is the same in every clip that
  contains frame s+t there, namely ``full[s+t]`` = the unpadded convolution of the video. That
  is computed once per video frame (one output position per frame instead of one per clip
  position);
* **edge positions** t < p and t ≥ T-p see the clip's zero padding, which depends on where the
  clip starts; they are recomputed per clip from the 2p frames at that edge, with the same
  zero padding (p outputs per edge);
* clips that are not consecutive runs of frames (loop padding of the last frames of a video,
  or any other index pattern) are convolved as they are.

The assembled output is therefore the convolution itself, up to floating-point summation order
inside the convolution kernels (about 1e-6 relative in fp32). For T = 16, p = 3 the stem costs
(1 + 2p)/T = 7/16 of its direct cost per clip: 3.7 of the 19.9 GFLOP of a full-size 16×112×112
clip are saved. The precomputed output enters the network through :func:`forward_with_stem`,
which feeds it to the model's own BN + ReLU and everything after, unchanged.

Tested against ``nn.Conv3d`` and against the whole network in ``tests/test_stem_cache.py``.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "check_reusable",
    "is_consecutive",
    "StemCache",
    "find_stem_conv",
    "forward_with_stem",
    "stem_flops_per_clip",
]


def check_reusable(conv: nn.Conv3d) -> None:
    """Raise ``ValueError`` unless ``conv`` has the structure the reuse needs.

    Needs: temporal stride 1, temporal dilation 1, odd temporal kernel K with "same" temporal
    zero padding p = K // 2, no groups, numeric padding.
    """
    if not isinstance(conv, nn.Conv3d):
        raise ValueError(f"stem reuse needs an nn.Conv3d, got {type(conv).__name__}")
    problems = []
    if isinstance(conv.padding, str):
        problems.append(f"string padding {conv.padding!r}")
    else:
        k_t, p_t = conv.kernel_size[0], conv.padding[0]
        if k_t % 2 == 0 or p_t != k_t // 2:
            problems.append(f"temporal kernel {k_t} with padding {p_t} (needs odd K and padding K//2)")
    if conv.stride[0] != 1:
        problems.append(f"temporal stride {conv.stride[0]} (needs 1)")
    if conv.dilation[0] != 1:
        problems.append(f"temporal dilation {conv.dilation[0]} (needs 1)")
    if conv.groups != 1:
        problems.append(f"groups={conv.groups} (needs 1)")
    if conv.padding_mode != "zeros":
        problems.append(f"padding_mode={conv.padding_mode!r} (needs 'zeros')")
    if problems:
        raise ValueError("conv1 cannot be reused across windows: " + ", ".join(problems))


def is_consecutive(windows: np.ndarray) -> np.ndarray:
    """``(B,)`` bool: row b is a run of consecutive frames ``s, s+1, …, s+T-1``."""
    windows = np.asarray(windows)
    if windows.shape[1] < 2:
        return np.ones(windows.shape[0], dtype=bool)
    return (np.diff(windows, axis=1) == 1).all(axis=1)


def _as_clips(frames: Tensor) -> Tensor:
    """``(B, T, H, W, 3)`` channel-last frames -> clips ``(B, 3, T, H, W)``, channels-last-3d strides."""
    return frames.permute(0, 4, 1, 2, 3)


class StemCache:
    """conv1 outputs of sliding-window clips of one video, reusing every shared position.

    Frames (normalised, ``(3,H,W)``) are added in order with :meth:`add` and addressed by their
    absolute index; :meth:`windows` returns the conv1 output ``(B,C,T,H',W')`` of clips given
    as ``(B,T)`` absolute frame indices (any pattern); :meth:`forget_before` drops frames and
    cached outputs that no later clip needs, so memory stays bounded on long videos.
    Call it under the same ``torch.inference_mode`` / autocast context as the model.
    """

    def __init__(self, conv: nn.Conv3d) -> None:
        check_reusable(conv)
        self.conv = conv
        self.pad = conv.kernel_size[0] // 2
        self._buf: Tensor | None = None   # (capacity, H, W, 3) frames, channels last
        self._base = 0                    # absolute index of self._buf[0]
        self._first = 0                   # oldest frame still kept
        self._next = 0                    # index of the next frame to add
        self._full: Tensor | None = None  # (F, H', W', C) unpadded outputs, channels last
        self._full_first = 0              # absolute frame index of self._full[0]
        #: output positions computed by convolution so far (for measuring the saving)
        self.positions_computed = 0

    # ------------------------------------------------------------------ frame bookkeeping
    def add(self, index: int, frame: Tensor) -> None:
        """Add the normalised frame ``index`` (``(3,H,W)``); frames must come in order (any first index)."""
        if self._buf is None and self._next == 0:
            self._next = self._full_first = index
        if index != self._next:
            raise ValueError(f"StemCache: frames must be added in order; expected {self._next}, got {index}")
        if frame.dim() != 3 or frame.shape[0] != self.conv.in_channels:
            raise ValueError(f"StemCache: frame must be ({self.conv.in_channels},H,W), got {tuple(frame.shape)}")
        frame = frame.permute(1, 2, 0)
        if self._buf is None:
            self._buf = frame.new_empty((64,) + tuple(frame.shape))
            self._base = self._first = index
        slot = index - self._base
        if slot >= self._buf.shape[0]:
            keep = self._buf[self._first - self._base: slot]
            capacity = max(64, 2 * (keep.shape[0] + 1))
            buf = frame.new_empty((capacity,) + tuple(frame.shape))
            buf[: keep.shape[0]] = keep
            self._buf, self._base = buf, self._first
            slot = index - self._base
        elif frame.shape != self._buf.shape[1:]:
            raise ValueError(f"StemCache: frame {index} has size {tuple(frame.shape)}, earlier frames {tuple(self._buf.shape[1:])}")
        self._buf[slot] = frame
        self._next += 1

    def forget_before(self, index: int) -> None:
        """Drop frames and cached outputs with absolute index ``< index``."""
        self._first = max(self._first, min(index, self._next))
        if self._full is not None and index > self._full_first:
            drop = index - self._full_first
            if drop >= self._full.shape[0]:
                self._full, self._full_first = None, index
            else:
                self._full = self._full[drop:]
                self._full_first = index

    def _slots(self, indices: np.ndarray) -> Tensor:
        lo, hi = int(indices.min()), int(indices.max())
        if lo < self._first or hi >= self._next:
            raise IndexError(f"StemCache: clips need frames {lo}..{hi}, the cache holds {self._first}..{self._next - 1}")
        return torch.as_tensor(indices - self._base, dtype=torch.long)

    # ------------------------------------------------------------------ convolutions
    def _conv(self, clips: Tensor, temporal_padding: int) -> Tensor:
        conv = self.conv
        padding = (temporal_padding,) + tuple(conv.padding[1:])
        out = F.conv3d(clips, conv.weight, conv.bias, conv.stride, padding, conv.dilation)
        self.positions_computed += out.shape[0] * out.shape[2]
        return out

    def _ensure_full(self, first: int, stop: int) -> None:
        """Make ``full[f]`` available for ``first <= f < stop`` (computes only missing frames)."""
        p = self.pad
        have = 0 if self._full is None else self._full.shape[0]
        if self._full is not None and self._full_first <= first and stop <= self._full_first + have:
            return
        if self._full is None or not (self._full_first <= first <= self._full_first + have):
            self._full, self._full_first, have = None, first, 0
        begin = self._full_first + have
        assert self._buf is not None
        self._slots(np.array([begin - p, stop + p - 1]))
        frames = self._buf[begin - p - self._base: stop + p - self._base].unsqueeze(0)
        new = self._conv(_as_clips(frames), 0)[0].permute(1, 2, 3, 0)  # (F, H', W', C)
        self._full = new if self._full is None else torch.cat([self._full, new.to(self._full.dtype)])

    def windows(self, windows: np.ndarray | Tensor) -> Tensor:
        """conv1 outputs ``(B, C, T, H', W')`` (channels-last-3d memory) of clips ``(B, T)``."""
        rows = np.asarray(torch.as_tensor(windows).cpu(), dtype=np.int64)
        if rows.ndim != 2 or rows.shape[0] == 0:
            raise ValueError(f"StemCache.windows: expected (B,T) frame indices, got shape {rows.shape}")
        assert self._buf is not None
        b, t = rows.shape
        p = self.pad
        regular = is_consecutive(rows) if t >= 2 * p + 1 else np.zeros(b, dtype=bool)
        reg = np.flatnonzero(regular)
        irr = np.flatnonzero(~regular)
        edges = irregular = None
        if reg.size:
            n = reg.size
            starts = rows[reg, 0]
            # each edge: the 2p frames next to it, zero-padded by p on the outer side only
            offsets = np.arange(2 * p)
            near = np.concatenate([starts[:, None] + offsets, starts[:, None] + (t - 2 * p) + offsets])
            edge_in = self._buf.new_zeros((2 * n, 3 * p) + tuple(self._buf.shape[1:]))
            gathered = self._buf[self._slots(near)]
            edge_in[:n, p:] = gathered[:n]
            edge_in[n:, : 2 * p] = gathered[n:]
            edges = self._conv(_as_clips(edge_in), 0).permute(0, 2, 3, 4, 1)  # (2n, p, H', W', C)
            self._ensure_full(int(starts.min()) + p, int(starts.max()) + t - p)
        if irr.size:
            clips = _as_clips(self._buf[self._slots(rows[irr])])
            irregular = self._conv(clips, p).permute(0, 2, 3, 4, 1)  # (m, T, H', W', C)
        ref = edges if edges is not None else irregular
        assert ref is not None
        out = torch.empty((b, t) + tuple(ref.shape[2:]), dtype=ref.dtype, device=ref.device)
        if edges is not None:
            assert self._full is not None
            full = self._full.to(ref.dtype)
            n = reg.size
            for k, (i, s) in enumerate(zip(reg.tolist(), rows[reg, 0].tolist())):
                begin = s + p - self._full_first
                out[i, p: t - p] = full[begin: begin + t - 2 * p]
            if n == b:
                out[:, :p] = edges[:n]
                out[:, t - p:] = edges[n:]
            else:
                index = torch.as_tensor(reg)
                out[index, :p] = edges[:n]
                out[index, t - p:] = edges[n:]
        if irregular is not None:
            out[torch.as_tensor(irr)] = irregular.to(ref.dtype)
        return out.permute(0, 4, 1, 2, 3)


def stem_flops_per_clip(conv: nn.Conv3d, frame_size: tuple[int, int], clip_length: int) -> tuple[float, float]:
    """FLOPs (2 per multiply-add) of the stem for one clip: ``(direct, with StemCache)``.

    Steady state of a step-1 sliding window: per clip, one new unpadded position plus 2p edge
    positions are convolved instead of ``clip_length``.
    """
    h = (frame_size[0] + 2 * conv.padding[1] - conv.kernel_size[1]) // conv.stride[1] + 1
    w = (frame_size[1] + 2 * conv.padding[2] - conv.kernel_size[2]) // conv.stride[2] + 1
    per_position = 2.0 * conv.out_channels * h * w * conv.in_channels * int(np.prod(conv.kernel_size))
    p = conv.kernel_size[0] // 2
    reused = 1 + 2 * p if clip_length >= 2 * p + 1 else clip_length
    return per_position * clip_length, per_position * reused


def find_stem_conv(model: nn.Module) -> tuple[nn.Module, str, nn.Conv3d]:
    """The model's first ``nn.Conv3d`` taking the video frames: ``(parent, attribute, conv)``.

    The first Conv3d in registration order with 3 input channels is the visual stem of the
    trunk (§3.1); SoundNet (§3.2) uses 2D convolutions and is never picked.
    """
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv3d) and module.in_channels == 3:
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            return parent, attr, module
    raise ValueError(f"{type(model).__name__} has no Conv3d with 3 input channels (the visual stem)")


def forward_with_stem(
    model: nn.Module,
    stem: Tensor,
    audio: Tensor | None = None,
    frame_size: tuple[int, int] | None = None,
):
    """Run ``model`` on clips whose conv1 output ``stem`` ``(B, C, T, H', W')`` is given.

    Everything after conv1 (BN, ReLU, DSAM, trunk, audio, fusion) runs as usual
    (``Stavis.forward_from_conv1``); equals ``model(clips, audio)`` when
    ``stem = conv1(clips)``. ``frame_size = (H, W)`` of the clips, default the model's
    ``config.sample_size``.
    """
    if frame_size is None:
        size = int(model.config.sample_size)
        frame_size = (size, size)
    return model.forward_from_conv1(stem, audio, frame_size)
