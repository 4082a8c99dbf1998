"""The exact conv1 reuse across sliding windows (stavis_lib/model/stem_cache.py).

The reference is the convolution itself: ``nn.Conv3d`` applied to each clip tensor, and the
whole network applied to the clips. Tiny sizes, fp32.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from stavis_lib.model.stem_cache import (
    StemCache,
    check_reusable,
    find_stem_conv,
    forward_with_stem,
    stem_activation,
    is_consecutive,
    stem_flops_per_clip,
)


def _stem_conv(seed: int = 0, bias: bool = True) -> nn.Conv3d:
    torch.manual_seed(seed)
    return nn.Conv3d(3, 8, kernel_size=7, stride=(1, 2, 2), padding=3, bias=bias)


def _video(n: int, size: int = 32, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, size, size, generator=g) * 255.0) - 110.0  # officially normalised range


def _reference(conv: nn.Conv3d, video: torch.Tensor, windows: np.ndarray) -> torch.Tensor:
    clips = video[torch.as_tensor(windows)].permute(0, 2, 1, 3, 4)  # (B,3,T,H,W)
    with torch.no_grad():
        return conv(clips)


def _filled(conv: nn.Conv3d, video: torch.Tensor) -> StemCache:
    cache = StemCache(conv)
    for i, frame in enumerate(video):
        cache.add(i, frame)
    return cache


def test_consecutive_windows_equal_the_convolution():
    conv, video = _stem_conv(), _video(40)
    windows = np.stack([np.arange(s, s + 16) for s in range(0, 20)])
    with torch.no_grad():
        got = _filled(conv, video).windows(windows)
    want = _reference(conv, video, windows)
    assert got.shape == want.shape == (20, 8, 16, 16, 16)
    scale = float(want.abs().max())
    assert float((got - want).abs().max()) <= 1e-5 * scale


@pytest.mark.parametrize(
    "rows",
    [
        [[30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 38, 39, 38, 39, 38, 39]],  # official LoopPadding tail
        [[0] * 8 + list(range(8))],                                           # clamped start
        [list(range(16)), list(range(24, 40)), [5] * 16],                     # mixed batch, a still frame
        [list(np.random.default_rng(3).permutation(40)[:16])],                # any order
        [list(range(10, 16))],                                                # clip shorter than 2p+1
    ],
)
def test_any_index_pattern_equals_the_convolution(rows):
    conv, video = _stem_conv(), _video(40)
    windows = np.asarray(rows)
    with torch.no_grad():
        got = _filled(conv, video).windows(windows)
    want = _reference(conv, video, windows)
    assert got.shape == want.shape
    assert float((got - want).abs().max()) <= 1e-5 * float(want.abs().max())


def test_output_is_channels_last_3d():
    conv, video = _stem_conv(), _video(20)
    with torch.no_grad():
        out = _filled(conv, video).windows(np.stack([np.arange(s, s + 16) for s in range(3)]))
    assert out.is_contiguous(memory_format=torch.channels_last_3d)


def test_each_frame_is_convolved_once():
    # Hand count for B=8 consecutive clips of T=16 starting at frames 0..7: they touch frames
    # 0..22, each convolved once (its K tap partials count as one output position) = 23;
    # the 6 edge positions per clip are sums of those partials, not convolutions.
    conv, video = _stem_conv(), _video(32)
    cache = _filled(conv, video)
    with torch.no_grad():
        cache.windows(np.stack([np.arange(s, s + 16) for s in range(8)]))
    assert cache.positions_computed == 23
    # the next 8 clips (frames 8..30) convolve only the 8 new frames 23..30
    with torch.no_grad():
        cache.windows(np.stack([np.arange(s, s + 16) for s in range(8, 16)]))
    assert cache.positions_computed == 23 + 8


def test_streaming_add_and_forget_keep_results_exact():
    conv, video = _stem_conv(), _video(60)
    cache = StemCache(conv)
    outs, wants = [], []
    added = 0
    for first in range(0, 44, 11):  # batches of 11 windows, frames added just in time
        rows = np.stack([np.arange(s, s + 16) for s in range(first, min(first + 11, 45))])
        while added <= rows.max():
            cache.add(added, video[added])
            added += 1
        with torch.no_grad():
            outs.append(cache.windows(rows))
        wants.append(_reference(conv, video, rows))
        cache.forget_before(int(rows[-1, 0]) + 1)
    for got, want in zip(outs, wants):
        assert float((got - want).abs().max()) <= 1e-5 * float(want.abs().max())
    with pytest.raises(IndexError, match="cache holds"):
        cache.windows(np.arange(0, 16)[None])


def test_frames_must_come_in_order_and_match():
    cache = StemCache(_stem_conv())
    cache.add(0, torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match="in order"):
        cache.add(2, torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match=r"\(3,H,W\)"):
        cache.add(1, torch.zeros(1, 32, 32))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(kernel_size=7, stride=(2, 2, 2), padding=3), "temporal stride"),
        (dict(kernel_size=(6, 7, 7), stride=(1, 2, 2), padding=(3, 3, 3)), "temporal kernel"),
        (dict(kernel_size=7, stride=(1, 2, 2), padding=(1, 3, 3)), "temporal kernel"),
        (dict(kernel_size=7, stride=(1, 2, 2), padding=3, dilation=(2, 1, 1)), "dilation"),
    ],
)
def test_rejects_convolutions_that_cannot_be_reused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_reusable(nn.Conv3d(3, 4, **kwargs))


def test_is_consecutive():
    rows = np.array([[3, 4, 5, 6], [3, 4, 3, 4], [0, 0, 1, 2]])
    assert is_consecutive(rows).tolist() == [True, False, False]


def test_flop_count_of_the_full_size_stem():
    # conv1 of the full-size model: 3 -> 64 channels, 7x7x7, 112x112 -> 56x56;
    # one output position = 2 * 64*56*56 * 3*343 FLOPs = 413,048,832.
    conv = nn.Conv3d(3, 64, kernel_size=7, stride=(1, 2, 2), padding=3, bias=False)
    direct, reused = stem_flops_per_clip(conv, (112, 112), 16)
    assert direct == 16 * 413_048_832
    assert reused == 413_048_832  # one new frame's 7 tap partials per clip


def test_whole_network_with_the_cached_stem_equals_the_plain_forward():
    from stavis_lib.model import build_model

    torch.manual_seed(0)
    model = build_model("L3mul_S3", depth=10, width=8, sample_size=32, sample_duration=16).eval()
    # give conv1 outputs a visible effect downstream (DSAM weights start near zero)
    for module in model.modules():
        if isinstance(module, nn.Conv2d) and module.weight.abs().max() < 0.01:
            nn.init.normal_(module.weight, 0.0, 0.3)
    video = _video(30, size=32)
    windows = np.concatenate(
        [np.stack([np.arange(s, s + 16) for s in range(5)]),
         np.array([[20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 28, 29, 28, 29, 28, 29]])]
    )
    audio = torch.randn(len(windows), 6000, generator=torch.Generator().manual_seed(2)) * 50
    clips = video[torch.as_tensor(windows)].permute(0, 2, 1, 3, 4).contiguous()
    _, _, conv = find_stem_conv(model)
    assert conv is model.trunk.conv1
    with torch.no_grad():
        want = model(clips, audio)
        got = forward_with_stem(model, _filled(conv, video).windows(windows), audio)
    for name in ("saliency", "visual", "localization"):
        a, b = getattr(got, name), getattr(want, name)
        assert float((a - b).abs().max()) <= 1e-5 * max(1.0, float(b.abs().max())), name
    for a, b in zip(got.side, want.side):
        assert float((a - b).abs().max()) <= 1e-5 * max(1.0, float(b.abs().max()))
    # M = softmax(A) saturates here (A up to ~10^2), so rounding of A in the last bits moves
    # M by ~1e-5 on AVX2 kernels; a wrong stem summary moves it by O(0.1).
    for a, b in zip(got.attention, want.attention):
        assert float((a - b).abs().max()) <= 1e-4
    assert float(want.saliency.std()) > 0  # the comparison is not between constants


def test_a_stem_output_of_the_wrong_shape_is_refused():
    from stavis_lib.model import build_model

    model = build_model("visual", depth=10, width=8, sample_size=32, sample_duration=16).eval()
    with pytest.raises(ValueError, match=r"conv1 output must have shape \(B,8,T,h,w\)"):
        forward_with_stem(model, torch.zeros(2, 4, 16, 16, 16), frame_size=(32, 32))  # 4 channels, not 8
    with pytest.raises(ValueError, match="divisible by 16"):
        forward_with_stem(model, torch.zeros(2, 8, 16, 12, 12), frame_size=(24, 24))


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("loop_padded_tail", [False, True])
def test_bf16_autocast_matches_the_autocast_convolution(bias, loop_padded_tail):
    conv, video = _stem_conv(bias=bias), _video(24)
    windows = np.stack([np.arange(s, s + 16) for s in range(6)])
    if loop_padded_tail:  # a batch mixing consecutive clips and a loop-padded one
        windows = np.concatenate([windows, [[16, 17, 18, 19, 20, 21, 22, 23] * 2]])
    clips = video[torch.as_tensor(windows)].permute(0, 2, 1, 3, 4)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = _filled(conv, video).windows(windows)
        want = conv(clips)
    assert got.dtype == want.dtype == torch.bfloat16
    assert float((got.float() - want.float()).abs().max()) <= 1e-2 * float(want.float().abs().max())


def test_frames_may_start_at_any_index():
    conv, video = _stem_conv(), _video(40)
    cache = StemCache(conv)
    for i in range(10, 40):
        cache.add(i, video[i])
    windows = np.stack([np.arange(s, s + 16) for s in range(12, 20)])
    with torch.no_grad():
        got = cache.windows(windows)
    want = _reference(conv, video, windows)
    assert float((got - want).abs().max()) <= 1e-5 * float(want.abs().max())
    with pytest.raises(IndexError, match="cache holds"):
        cache.windows(np.arange(5, 21)[None])


# ---------------------------------------------------------------------- summaries (X^1 never built)
def _reference_summaries(conv, video, windows, activation):
    x = activation(_reference(conv, video, windows).permute(0, 2, 3, 4, 1))  # (B,T,H',W',C)
    x = x.permute(0, 4, 1, 2, 3)                                            # (B,C,T,H',W')
    pooled = x.mean(dim=2)
    tmax = torch.nn.functional.max_pool3d(x, kernel_size=(3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))
    return pooled, tmax


@pytest.mark.parametrize(
    "rows",
    [
        np.stack([np.arange(s, s + 16) for s in range(0, 12)]),                      # consecutive clips
        np.array([list(range(20, 36)), [30, 31, 32, 33, 34, 35, 36, 37, 38, 39] + [38, 39] * 3,
                  list(range(5, 21))]),                                               # mixed, loop-padded tail
    ],
)
@pytest.mark.parametrize("with_bn", [False, True])
def test_summaries_equal_mean_and_temporal_maxpool_of_the_activated_stem(rows, with_bn):
    conv, video = _stem_conv(), _video(40)
    if with_bn:
        bn = nn.BatchNorm3d(8).eval()
        with torch.no_grad():
            bn.running_mean.uniform_(-20, 20)
            bn.running_var.uniform_(50, 400)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
        trunk = nn.Module()
        trunk.bn1 = bn
        activation = stem_activation(trunk)

        def reference_activation(y):  # the module itself, on (..., C) via channels-first
            return torch.relu(bn(y.movedim(-1, 1)).movedim(1, -1))
    else:
        trunk = nn.Module()
        trunk.bn1 = nn.Identity()
        activation = reference_activation = stem_activation(trunk)
    with torch.no_grad():
        pooled, tmax = _filled(conv, video).summaries(rows, activation)
        want_pooled, want_tmax = _reference_summaries(conv, video, rows, reference_activation)
    assert pooled.shape == want_pooled.shape == (len(rows), 8, 16, 16)
    assert tmax.shape == want_tmax.shape == (len(rows), 8, 8, 16, 16)
    assert float(want_tmax.std()) > 0 and float((want_tmax == 0).float().mean()) > 0.1  # ReLU did cut
    for got, want in ((pooled, want_pooled), (tmax, want_tmax)):
        assert float((got - want).abs().max()) <= 1e-5 * float(want.abs().max())


@pytest.mark.parametrize("fold", [False, True])
def test_network_from_stem_summaries_equals_the_plain_forward(fold):
    from stavis_lib.model import build_model
    from stavis_lib.model.fold import fold_batchnorm

    torch.manual_seed(0)
    model = build_model("L3mul_S3", depth=10, width=8, sample_size=32, sample_duration=16).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm3d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
            if isinstance(module, nn.Conv2d) and module.weight.abs().max() < 0.01:
                nn.init.normal_(module.weight, 0.0, 0.3)  # maps with structure
    if fold:
        model = fold_batchnorm(model)
    video = _video(30, size=32)
    windows = np.concatenate([np.stack([np.arange(s, s + 16) for s in range(6)]),
                              [[20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 28, 29, 28, 29, 28, 29]]])
    audio = torch.randn(len(windows), 6000, generator=torch.Generator().manual_seed(2)) * 50
    clips = video[torch.as_tensor(windows)].permute(0, 2, 1, 3, 4).contiguous()
    with torch.no_grad():
        want = model(clips, audio)
        cache = _filled(model.trunk.conv1, video)
        got = model.forward_from_stem_summary(*cache.summaries(windows, stem_activation(model.trunk)), audio, (32, 32))
    for name in ("saliency", "visual", "localization"):
        a, b = getattr(got, name), getattr(want, name)
        assert float(b.std()) > 0
        assert float((a - b).abs().max()) <= 1e-5 * max(1.0, float(b.abs().max())), name
    for a, b in zip(got.side, want.side):
        assert float((a - b).abs().max()) <= 1e-5 * max(1.0, float(b.abs().max()))
    # M = softmax(A) saturates here (A up to ~10^2), so rounding of A in the last bits moves
    # M by ~1e-5 on AVX2 kernels; a wrong stem summary moves it by O(0.1).
    for a, b in zip(got.attention, want.attention):
        assert float((a - b).abs().max()) <= 1e-4


def test_stem_summaries_need_the_official_maxpool():
    from stavis_lib.model import build_model

    model = build_model("visual", depth=10, width=8, sample_size=32, sample_duration=16).eval()
    model.trunk.maxpool = nn.MaxPool3d(kernel_size=3, stride=(1, 2, 2), padding=1)
    with pytest.raises(ValueError, match="MaxPool3d"):
        model.forward_from_stem_summary(torch.zeros(1, 8, 16, 16), torch.zeros(1, 8, 8, 16, 16), None, (32, 32))
