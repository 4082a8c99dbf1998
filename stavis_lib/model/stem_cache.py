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
  or any other index pattern) sum, at each position, the partials of the frames they hold
  there (same formula, no cached interior).

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
    "stem_activation",
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


class _PerFrame:
    """Tensors indexed by absolute frame number: appended in order, dropped from the front.

    Rows live in one buffer with spare capacity (grown by doubling, compacted when the front
    was dropped), so appending does not copy what is kept.
    """

    def __init__(self) -> None:
        self.buf: Tensor | None = None
        self.first = 0   # absolute index of the oldest kept row
        self.next = 0    # absolute index of the next row to append
        self._start = 0  # position of row ``first`` in ``buf``

    def __len__(self) -> int:
        return self.next - self.first

    def reset(self, first: int) -> None:
        self.first = self.next = first
        self._start = 0

    def append(self, rows: Tensor) -> None:
        n = rows.shape[0]
        if self.buf is None or self.buf.shape[1:] != rows.shape[1:] or self.buf.dtype != rows.dtype:
            kept = None if self.buf is None or len(self) == 0 else self.buf[self._start: self._start + len(self)]
            self.buf = rows.new_empty((max(64, 2 * (len(self) + n)),) + tuple(rows.shape[1:]))
            if kept is not None:
                self.buf[: kept.shape[0]] = kept.to(rows.dtype)
            self._start = 0
        elif self._start + len(self) + n > self.buf.shape[0]:
            kept = self.buf[self._start: self._start + len(self)]
            if len(self) + n > self.buf.shape[0] // 2:  # grow
                buf = rows.new_empty((2 * (len(self) + n),) + tuple(rows.shape[1:]))
            else:                                       # compact in place
                buf = self.buf
            buf[: kept.shape[0]] = kept.clone() if buf is self.buf else kept
            self.buf, self._start = buf, 0
        end = self._start + len(self)
        self.buf[end: end + n] = rows
        self.next += n

    def drop_before(self, index: int) -> None:
        index = min(max(index, self.first), self.next)
        self._start += index - self.first
        self.first = index

    def take(self, frames: np.ndarray, tap: int | None = None) -> Tensor:
        """Rows of the given absolute frames (a view for a consecutive run); ``tap``: only
        ``row[:, :, tap]`` of each (the tap partials' layout)."""
        assert self.buf is not None
        lo, hi = int(frames.min()), int(frames.max())
        if lo < self.first or hi >= self.next:
            raise IndexError(f"StemCache: clips need frames {lo}..{hi}, the cache holds {self.first}..{self.next - 1}")
        rel = frames - self.first + self._start
        if rel.size == 1 or (rel.ndim == 1 and (np.diff(rel) == 1).all()):
            rows = self.buf[int(rel[0]): int(rel[-1]) + 1]
            return rows if tap is None else rows[:, :, :, tap]
        index = torch.as_tensor(rel, dtype=torch.long)
        return self.buf[index] if tap is None else self.buf[index, :, :, tap]

    def ensure(self, first: int, stop: int, compute) -> None:
        """Make rows ``first <= f < stop`` available, computing ``compute(begin, stop)`` for missing ones."""
        if not (self.first <= first <= self.next):
            self.reset(first)
        if stop > self.next:
            self.append(compute(self.next, stop))


class StemCache:
    """conv1 outputs of sliding-window clips of one video, reusing every shared computation.

    Frames (normalised, ``(3,H,W)``) are added in order with :meth:`add` and addressed by their
    absolute index; :meth:`windows` returns the conv1 output ``(B,C,T,H',W')`` of clips given
    as ``(B,T)`` absolute frame indices (any pattern), :meth:`summaries` what the network needs
    of it after BN + ReLU (``Stavis.forward_from_stem_summary``); :meth:`forget_before` drops
    frames and cached results that no later clip needs, so memory stays bounded on long videos.
    Call it under the same ``torch.inference_mode`` / autocast context as the model.
    """

    def __init__(self, conv: nn.Conv3d) -> None:
        check_reusable(conv)
        self.conv = conv
        self.taps = conv.kernel_size[0]
        self.pad = self.taps // 2
        self._frames = _PerFrame()  # (H, W, 3) frames, channels last
        self._part = _PerFrame()    # (H', W', K, C) tap partials P_k of eq. (*)
        self._full = _PerFrame()    # (H', W', C) interior outputs, fp32
        self._act = _PerFrame()     # (H', W', C) activation(full), for summaries
        self._activation = None
        self._started = False
        #: convolution work so far, in output positions of the 3D convolution (a frame's K tap
        #: partials count as one position; for measuring the saving)
        self.positions_computed = 0

    # ------------------------------------------------------------------ frame bookkeeping
    def add(self, index: int, frame: Tensor) -> None:
        """Add the normalised frame ``index`` (``(3,H,W)``); frames must come in order (any first index)."""
        if not self._started:
            self._frames.reset(index)
            self._started = True
        if index != self._frames.next:
            raise ValueError(f"StemCache: frames must be added in order; expected {self._frames.next}, got {index}")
        if frame.dim() != 3 or frame.shape[0] != self.conv.in_channels:
            raise ValueError(f"StemCache: frame must be ({self.conv.in_channels},H,W), got {tuple(frame.shape)}")
        frame = frame.permute(1, 2, 0)
        if self._frames.buf is not None and len(self._frames) and frame.shape != self._frames.buf.shape[1:]:
            raise ValueError(f"StemCache: frame {index} has size {tuple(frame.shape)}, "
                             f"earlier frames {tuple(self._frames.buf.shape[1:])}")
        self._frames.append(frame.unsqueeze(0))

    def forget_before(self, index: int) -> None:
        """Drop frames and cached results with absolute index ``< index``."""
        for cache in (self._frames, self._part, self._full, self._act):
            cache.drop_before(index)

    # ------------------------------------------------------------------ convolutions
    def _partials(self, begin: int, stop: int) -> Tensor:
        """Tap partials of frames ``begin <= f < stop``: one 2D convolution with K·C outputs."""
        frames = self._frames.take(np.arange(begin, stop)).permute(0, 3, 1, 2)  # (n,3,H,W) channels-last
        conv = self.conv
        k, c = self.taps, conv.out_channels
        weight = conv.weight.permute(2, 0, 1, 3, 4).reshape(k * c, conv.in_channels, *conv.kernel_size[1:])
        out = F.conv2d(frames, weight, None, conv.stride[1:], conv.padding[1:], conv.dilation[1:])
        self.positions_computed += out.shape[0]
        return out.permute(0, 2, 3, 1).reshape(out.shape[0], out.shape[2], out.shape[3], k, c)

    def _sum(self, frames: np.ndarray, taps: range | list[int]) -> Tensor:
        """Eq. (*) over ``taps`` for output positions whose tap k reads frame ``frames[:, k]``; fp32."""
        terms = [self._part.take(frames[:, k], k) for k in taps]
        bias = self.conv.bias
        acc = terms[0] + bias.float() if bias is not None else terms[0].to(torch.float32, copy=True)
        for term in terms[1:]:
            acc += term
        return acc

    def _centred(self, centres: np.ndarray) -> np.ndarray:
        """(n, K) frame read by tap k of the output position centred on each of ``centres``."""
        return centres[:, None] - self.pad + np.arange(self.taps)

    def _prepare(self, starts: np.ndarray, length: int) -> None:
        """Partials and interior outputs for consecutive clips starting at ``starts``."""
        p = self.pad
        first, last = int(starts.min()), int(starts.max()) + length  # frames first .. last-1
        self._frames.take(np.array([first, last - 1]))  # IndexError naming the missing frames
        self._part.ensure(first, last, self._partials)
        self._full.ensure(first + p, last - p, lambda b, e: self._sum(self._centred(np.arange(b, e)), range(self.taps)))

    def _split(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t, p = rows.shape[1], self.pad
        regular = is_consecutive(rows) if t >= 2 * p + 1 else np.zeros(rows.shape[0], dtype=bool)
        return np.flatnonzero(regular), np.flatnonzero(~regular)

    @staticmethod
    def _rows(rows: np.ndarray | Tensor) -> np.ndarray:
        rows = np.asarray(torch.as_tensor(rows).cpu(), dtype=np.int64)
        if rows.ndim != 2 or rows.shape[0] == 0:
            raise ValueError(f"StemCache: expected (B,T) frame indices, got shape {rows.shape}")
        return rows

    def windows(self, windows: np.ndarray | Tensor) -> Tensor:
        """conv1 outputs ``(B, C, T, H', W')`` (channels-last-3d memory) of clips ``(B, T)``."""
        rows = self._rows(windows)
        b, t = rows.shape
        p, k = self.pad, self.taps
        reg, irr = self._split(rows)
        if reg.size:
            self._prepare(rows[reg, 0], t)
        if irr.size:
            self._frames.take(np.array([rows[irr].min(), rows[irr].max()]))  # IndexError naming missing frames
            self._part.ensure(int(rows[irr].min()), int(rows[irr].max()) + 1, self._partials)
        ref = self._part.buf
        assert ref is not None
        dtype = ref.dtype
        out = torch.empty((b, t) + tuple(ref.shape[1:3]) + (self.conv.out_channels,), dtype=dtype, device=ref.device)
        if irr.size:  # any index pattern: each position sums the taps whose frame lies inside the clip
            index = torch.as_tensor(irr)
            for tau in range(t):
                positions = tau - p + np.arange(k)  # clip position of each tap's frame
                inside = [kk for kk in range(k) if 0 <= positions[kk] < t]
                frames = rows[irr][:, np.clip(positions, 0, t - 1)]
                out[index, tau] = self._sum(frames, inside).to(dtype)
        if reg.size:
            starts = rows[reg, 0]
            index = slice(None) if reg.size == b else torch.as_tensor(reg)
            for i, s in zip(reg.tolist(), starts.tolist()):
                out[i, p: t - p] = self._full.take(np.arange(s + p, s + t - p))
            for j in range(p):  # edge positions: only the taps inside the clip
                out[index, j] = self._sum(self._centred(starts + j), range(p - j, k)).to(dtype)
                out[index, t - 1 - j] = self._sum(self._centred(starts + t - 1 - j), range(0, p + j + 1)).to(dtype)
        return out.permute(0, 4, 1, 2, 3)

    def summaries(self, windows: np.ndarray | Tensor, activation) -> tuple[Tensor, Tensor]:
        """``(pooled, tmax)`` of ``X = activation(conv1(clips))`` for clips ``(B, T)``, without X.

        ``activation`` maps channel-last tensors ``(..., C)`` elementwise (the stem's BN +
        ReLU, see :func:`stem_activation`). pooled ``(B,C,H',W')`` = mean of X over time;
        tmax ``(B,C,T',H',W')`` = X max-pooled over time (kernel 3, stride 2, padding 1), what
        ``Stavis.forward_from_stem_summary`` takes. Interior positions come from per-frame
        caches (activation once per frame, the 3-frame maxima per batch), only the 2p edge
        positions per clip are activated per clip.
        """
        rows = self._rows(windows)
        b, t = rows.shape
        p, k = self.pad, self.taps
        n_out = (t - 1) // 2 + 1
        reg, irr = self._split(rows)
        pooled_parts, tmax_parts, order = [], [], []
        if irr.size:
            x = activation(self.windows(rows[irr]).permute(0, 2, 3, 4, 1))  # (m, T, H', W', C)
            pooled_parts.append(x.float().mean(dim=1).to(x.dtype))
            tmax_parts.append(_temporal_max(x))
            order.append(irr)
        if reg.size:
            starts = rows[reg, 0]
            self._prepare(starts, t)
            if self._activation is not activation or len(self._act) == 0:
                self._act.reset(self._full.first)
                self._activation = activation
            self._act.ensure(self._full.first, self._full.next,
                             lambda b_, e_: activation(self._full.take(np.arange(b_, e_))))
            dtype = self._part.buf.dtype  # type: ignore[union-attr]
            # X at every clip position: cached interior views, activated edges
            cols: list[Tensor] = []
            for tau in range(t):
                if tau < p:
                    cols.append(activation(self._sum(self._centred(starts + tau), range(p - tau, k))))
                elif tau >= t - p:
                    j = t - 1 - tau
                    cols.append(activation(self._sum(self._centred(starts + tau), range(0, p + j + 1))))
                else:
                    cols.append(self._act.take(starts + tau))
            pooled = cols[0].to(torch.float32, copy=True)
            for col in cols[1:]:
                pooled += col
            pooled_parts.append((pooled / t).to(dtype))
            tmax = torch.empty((reg.size, n_out) + tuple(cols[0].shape[1:]), dtype=dtype, device=pooled.device)
            for u in range(n_out):
                taus = [tau for tau in (2 * u - 1, 2 * u, 2 * u + 1) if 0 <= tau < t]
                m = torch.maximum(cols[taus[0]], cols[taus[1]]) if len(taus) > 1 else cols[taus[0]]
                if len(taus) > 2:
                    m = torch.maximum(m, cols[taus[2]])
                tmax[:, u] = m
            tmax_parts.append(tmax)
            order.append(reg)
        if len(order) == 1:
            pooled, tmax = pooled_parts[0], tmax_parts[0]
        else:
            index = torch.as_tensor(np.argsort(np.concatenate(order)))
            pooled = torch.cat([x.to(pooled_parts[-1].dtype) for x in pooled_parts])[index]
            tmax = torch.cat([x.to(tmax_parts[-1].dtype) for x in tmax_parts])[index]
        return pooled.permute(0, 3, 1, 2), tmax.permute(0, 4, 1, 2, 3)


def _temporal_max(x: Tensor) -> Tensor:
    """(n, T, H', W', C) -> (n, T', H', W', C): max over time, kernel 3, stride 2, padding 1."""
    return F.max_pool3d(x.permute(0, 4, 1, 2, 3), kernel_size=(3, 1, 1), stride=(2, 1, 1),
                        padding=(1, 0, 0)).permute(0, 2, 3, 4, 1)


def stem_activation(trunk: nn.Module):
    """The stem's BN (eval statistics; identity once folded) + ReLU on channel-last tensors (..., C)."""
    bn = trunk.bn1
    if isinstance(bn, nn.Identity):
        return F.relu
    if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or bn.running_mean is None:
        raise ValueError("stem_activation: trunk.bn1 must be a BatchNorm with running statistics or Identity")
    scale = (bn.running_var + bn.eps).rsqrt() * (bn.weight if bn.weight is not None else 1.0)
    shift = (bn.bias if bn.bias is not None else 0.0) - bn.running_mean * scale

    def activation(x: Tensor) -> Tensor:
        return F.relu(x * scale.to(x.dtype) + shift.to(x.dtype))

    return activation


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
