"""Exact reuse of the stem convolution (``conv1``) across overlapping sliding windows.

STAViS predicts the saliency of every frame from its own 16-frame clip (test protocol of the
official code: sliding window, step 1), so consecutive clips share 15 of their 16 frames. The
first layer of the visual trunk (§3.1, Table 4) is a 3D convolution with a K×7×7 kernel
(K = 7), temporal stride 1 and temporal zero padding p = K // 2 = 3. Its output at a clip
position centred on video frame c is a sum over the temporal taps k = 0 … K-1 of 2D
convolutions of frame c-p+k with the k-th temporal slice of the kernel:

    conv(clip)[c] = bias + sum_k P_k[c-p+k],   P_k[f] = conv2d(frame f, W[:, :, k])     (*)

where the clip's zero padding simply drops the taps that fall outside the clip. Hence each
video frame needs its K tap partials P_0..P_{K-1} once (one 2D convolution with K·C output
channels: the FLOPs of one output position of the 3D convolution), and every output position
of every clip is a sum of cached partials:

* **interior positions** (all K taps inside the clip) are the same in every clip that contains
  them: ``full[c]``, summed once per video frame and cached;
* **edge positions** t < p and t ≥ T-p of a clip keep only the taps inside the clip; they are
  summed per clip from the same partials;
* clips that are not consecutive runs of frames (loop padding of the last frames of a video,
  or any other index pattern) are convolved as they are.

The assembled output is therefore the convolution itself, up to floating-point summation
order (about 1e-6 relative in fp32; the sums run in fp32 also under bf16 autocast). Per clip
of T = 16 the stem costs 1/T of its direct FLOPs plus memory-bound additions: 6.2 of the 19.5
GFLOP of a full-size 16×112×112 clip are saved. The precomputed output enters the network
through :func:`forward_with_stem` (``Stavis.forward_from_conv1``).

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
    """conv1 outputs of sliding-window clips of one video, reusing every shared computation.

    Frames (normalised, ``(3,H,W)``) are added in order with :meth:`add` and addressed by their
    absolute index; :meth:`windows` returns the conv1 output ``(B,C,T,H',W')`` of clips given
    as ``(B,T)`` absolute frame indices (any pattern); :meth:`forget_before` drops frames and
    cached results that no later clip needs, so memory stays bounded on long videos.
    Call it under the same ``torch.inference_mode`` / autocast context as the model.
    """

    def __init__(self, conv: nn.Conv3d) -> None:
        check_reusable(conv)
        self.conv = conv
        self.taps = conv.kernel_size[0]
        self.pad = self.taps // 2
        self._buf: Tensor | None = None   # (capacity, H, W, 3) frames, channels last
        self._base = 0                    # absolute index of self._buf[0]
        self._first = 0                   # oldest frame still kept
        self._next = 0                    # index of the next frame to add
        self._part: Tensor | None = None  # (F, H', W', K, C) tap partials P_k of eq. (*)
        self._part_first = 0              # absolute frame index of self._part[0]
        self._full: Tensor | None = None  # (F, H', W', C) interior outputs, fp32
        self._full_first = 0              # absolute centre frame of self._full[0]
        #: convolution work so far, in output positions of the 3D convolution (a frame's K tap
        #: partials count as one position; for measuring the saving)
        self.positions_computed = 0

    # ------------------------------------------------------------------ frame bookkeeping
    def add(self, index: int, frame: Tensor) -> None:
        """Add the normalised frame ``index`` (``(3,H,W)``); frames must come in order (any first index)."""
        if self._buf is None and self._next == 0:
            self._next = self._full_first = self._part_first = index
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
        """Drop frames and cached results with absolute index ``< index``."""
        self._first = max(self._first, min(index, self._next))
        self._full, self._full_first = _drop_before(self._full, self._full_first, index)
        self._part, self._part_first = _drop_before(self._part, self._part_first, index)

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

    def _ensure_partials(self, first: int, stop: int) -> None:
        """Make the tap partials of frames ``first <= f < stop`` available (convolves only new frames)."""
        have = 0 if self._part is None else self._part.shape[0]
        if self._part is not None and self._part_first <= first and stop <= self._part_first + have:
            return
        if self._part is None or not (self._part_first <= first <= self._part_first + have):
            self._part, self._part_first, have = None, first, 0
        begin = self._part_first + have
        assert self._buf is not None
        self._slots(np.array([begin, stop - 1]))
        frames = self._buf[begin - self._base: stop - self._base].permute(0, 3, 1, 2)  # (n,3,H,W) channels-last
        conv = self.conv
        k, c = self.taps, conv.out_channels
        weight = conv.weight.permute(2, 0, 1, 3, 4).reshape(k * c, conv.in_channels, *conv.kernel_size[1:])
        out = F.conv2d(frames, weight, None, conv.stride[1:], conv.padding[1:], conv.dilation[1:])
        self.positions_computed += out.shape[0]
        new = out.permute(0, 2, 3, 1).reshape(out.shape[0], out.shape[2], out.shape[3], k, c)
        self._part = new if self._part is None else torch.cat([self._part, new.to(self._part.dtype)])

    def _partial(self, frames: np.ndarray, tap: int) -> Tensor:
        """``P_tap`` of the given absolute frames, ``(n, H', W', C)`` (a view for a consecutive run)."""
        assert self._part is not None
        rel = frames - self._part_first
        if rel.size > 1 and (np.diff(rel) == 1).all():
            return self._part[int(rel[0]): int(rel[-1]) + 1, :, :, tap]
        return self._part[torch.as_tensor(rel, dtype=torch.long), :, :, tap]

    def _sum(self, centres: np.ndarray, taps: range) -> Tensor:
        """Eq. (*) for output positions centred on ``centres`` keeping only ``taps``; fp32."""
        p = self.pad
        terms = [self._partial(centres - p + k, k) for k in taps]
        bias = self.conv.bias
        acc = terms[0] + bias.float() if bias is not None else terms[0].to(torch.float32, copy=True)
        for term in terms[1:]:
            acc += term
        return acc

    def _ensure_full(self, first: int, stop: int) -> None:
        """Make ``full[c]`` available for centres ``first <= c < stop`` (sums only missing ones)."""
        have = 0 if self._full is None else self._full.shape[0]
        if self._full is not None and self._full_first <= first and stop <= self._full_first + have:
            return
        if self._full is None or not (self._full_first <= first <= self._full_first + have):
            self._full, self._full_first, have = None, first, 0
        begin = self._full_first + have
        self._ensure_partials(begin - self.pad, stop + self.pad)
        new = self._sum(np.arange(begin, stop), range(self.taps))
        self._full = new if self._full is None else torch.cat([self._full, new])

    def windows(self, windows: np.ndarray | Tensor) -> Tensor:
        """conv1 outputs ``(B, C, T, H', W')`` (channels-last-3d memory) of clips ``(B, T)``."""
        rows = np.asarray(torch.as_tensor(windows).cpu(), dtype=np.int64)
        if rows.ndim != 2 or rows.shape[0] == 0:
            raise ValueError(f"StemCache.windows: expected (B,T) frame indices, got shape {rows.shape}")
        assert self._buf is not None
        b, t = rows.shape
        p, k = self.pad, self.taps
        regular = is_consecutive(rows) if t >= 2 * p + 1 else np.zeros(b, dtype=bool)
        reg = np.flatnonzero(regular)
        irr = np.flatnonzero(~regular)
        irregular = None
        if irr.size:
            clips = _as_clips(self._buf[self._slots(rows[irr])])
            irregular = self._conv(clips, p).permute(0, 2, 3, 4, 1)  # (m, T, H', W', C)
        if reg.size:
            starts = rows[reg, 0]
            self._slots(np.array([starts.min(), starts.max() + t - 1]))
            self._ensure_partials(int(starts.min()), int(starts.max()) + t)
            self._ensure_full(int(starts.min()) + p, int(starts.max()) + t - p)
        dtype = irregular.dtype if irregular is not None else self._part.dtype  # type: ignore[union-attr]
        ref = irregular if irregular is not None else self._part
        assert ref is not None
        shape = (b, t) + tuple(self._part.shape[1:3] if self._part is not None else ref.shape[2:4]) \
            + (self.conv.out_channels,)
        out = torch.empty(shape, dtype=dtype, device=ref.device)
        if reg.size:
            assert self._full is not None
            index = slice(None) if reg.size == b else torch.as_tensor(reg)
            full = self._full
            for i, s in zip(reg.tolist(), starts.tolist()):
                begin = s + p - self._full_first
                out[i, p: t - p] = full[begin: begin + t - 2 * p]
            for j in range(p):  # edge positions: only the taps inside the clip
                out[index, j] = self._sum(starts + j, range(p - j, k)).to(dtype)
                out[index, t - 1 - j] = self._sum(starts + t - 1 - j, range(0, p + j + 1)).to(dtype)
        if irregular is not None:
            out[torch.as_tensor(irr)] = irregular.to(dtype)
        return out.permute(0, 4, 1, 2, 3)


def _drop_before(cache: Tensor | None, first: int, index: int) -> tuple[Tensor | None, int]:
    """Drop the leading entries of a per-frame cache whose absolute index is ``< index``."""
    if cache is None or index <= first:
        return cache, first
    drop = index - first
    if drop >= cache.shape[0]:
        return None, index
    return cache[drop:], index


def stem_flops_per_clip(conv: nn.Conv3d, frame_size: tuple[int, int], clip_length: int) -> tuple[float, float]:
    """FLOPs (2 per multiply-add) of the stem for one clip: ``(direct, with StemCache)``.

    Steady state of a step-1 sliding window: per clip, one new frame's K tap partials (the
    FLOPs of one output position) are convolved instead of ``clip_length`` positions; the
    additions of eq. (*) are not counted.
    """
    h = (frame_size[0] + 2 * conv.padding[1] - conv.kernel_size[1]) // conv.stride[1] + 1
    w = (frame_size[1] + 2 * conv.padding[2] - conv.kernel_size[2]) // conv.stride[2] + 1
    per_position = 2.0 * conv.out_channels * h * w * conv.in_channels * int(np.prod(conv.kernel_size))
    p = conv.kernel_size[0] // 2
    reused = 1 if clip_length >= 2 * p + 1 else clip_length
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
