"""BatchNorm folding for inference (stavis_lib.model.fold): hand values, whole networks, no side effects."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from stavis_lib.model import build_model
from stavis_lib.model.fold import fold_batchnorm, fuse_cpu_pointwise


def test_hand_computed_fold_of_one_pair():
    # conv: y = 2x (+ bias 1); BN: mean 1, var 3, eps 1 -> sd 2; gamma 4, beta 0.5
    # BN(conv(x)) = (2x + 1 - 1) / 2 * 4 + 0.5 = 4x + 0.5
    seq = nn.Sequential(nn.Conv1d(1, 1, kernel_size=1), nn.BatchNorm1d(1, eps=1.0)).eval()
    with torch.no_grad():
        seq[0].weight.fill_(2.0)
        seq[0].bias.fill_(1.0)
        seq[1].running_mean.fill_(1.0)
        seq[1].running_var.fill_(3.0)
        seq[1].weight.fill_(4.0)
        seq[1].bias.fill_(0.5)
    folded = fold_batchnorm(seq)
    assert isinstance(folded[1], nn.Identity) and folded.folded_batchnorms == 1
    assert folded[0].weight.detach().item() == 4.0 and folded[0].bias.detach().item() == 0.5
    x = torch.tensor([[[3.0, -1.0]]])
    assert folded(x).tolist() == [[[12.5, -3.5]]]
    assert seq(x).tolist() == [[[12.5, -3.5]]]
    assert isinstance(seq[1], nn.BatchNorm1d)  # the original is untouched


def _randomise_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.5)
                m.running_var.copy_(torch.rand(n, generator=gen) * 2 + 0.2)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)
    return model


@pytest.mark.parametrize("variant,depth", [("visual", 10), ("L3mul_S3", 10), ("L3mul_S3", 50)])
def test_folded_network_computes_the_same_function(variant, depth):
    torch.manual_seed(0)
    width = 8 if depth == 10 else 4
    model = _randomise_batchnorm(build_model(variant, depth=depth, width=width, sample_size=32,
                                             sample_duration=16)).eval()
    model = model.double()  # in float64 the fold is exact to rounding (float32 rounding alone,
    # amplified by a random network, moves these logits by ~1e-6 of their range, folded or not)
    n_bn = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    folded = fold_batchnorm(model)
    assert folded.folded_batchnorms == n_bn > 0
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in folded.modules())
    assert any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    clips = torch.randn(2, 3, 16, 32, 32, dtype=torch.float64) * 40
    audio = torch.randn(2, 22050, dtype=torch.float64) * 30 if model.config.uses_audio else None
    with torch.no_grad():
        want, got = model(clips, audio), folded(clips, audio)
    for name in ("saliency", "visual"):
        a, b = getattr(got, name), getattr(want, name)
        assert float(b.std()) > 0
        assert float((a - b).abs().max()) <= 1e-10 * max(1.0, float(b.abs().max())), name
    if audio is not None:
        assert torch.allclose(got.audio_features, want.audio_features, rtol=1e-10, atol=1e-10)


def test_training_mode_model_is_folded_with_its_running_statistics():
    model = _randomise_batchnorm(build_model("visual", depth=10, width=8, sample_size=32, sample_duration=16))
    model.train()
    folded = fold_batchnorm(model)
    assert model.training and not folded.training
    clips = torch.randn(1, 3, 16, 32, 32)
    with torch.no_grad():
        assert torch.allclose(folded(clips).saliency, model.eval()(clips).saliency, atol=1e-4)


def test_batchnorm_without_running_statistics_is_refused():
    seq = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, track_running_stats=False))
    with pytest.raises(ValueError, match="running statistics"):
        fold_batchnorm(seq)


def test_inplace_rewrites_the_given_model():
    seq = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).eval()
    out = fold_batchnorm(copy.deepcopy(seq), inplace=True)
    assert isinstance(out[1], nn.Identity)


# ------------------------------------------------------------------ fuse_cpu_pointwise
def _folded_fused_pair(depth: int):
    torch.manual_seed(1)
    model = _randomise_batchnorm(build_model("L3mul_S3", depth=depth, width=8, sample_size=32,
                                             sample_duration=16)).eval()
    plain = fold_batchnorm(model)
    fused = copy.deepcopy(plain)
    return plain, fused, fuse_cpu_pointwise(fused)


@pytest.mark.parametrize("depth,blocks", [(10, 3), (50, 3 + 4 + 6)])  # residual blocks in layer1-3
def test_fused_blocks_compute_the_same_function(depth, blocks):
    plain, fused, count = _folded_fused_pair(depth)
    assert count == blocks
    clips = torch.randn(2, 3, 16, 32, 32) * 40
    audio = torch.randn(2, 22050) * 30
    with torch.inference_mode():
        want, got = plain(clips, audio).saliency, fused(clips, audio).saliency
    assert float(want.std()) > 0
    assert float((got - want).abs().max()) <= 1e-4 * float(want.abs().max())
    assert not fused.dsam[0].training  # fusing changes no module state
    # the oneDNN path really ran (a silent fallback would make this test vacuous)
    fused_forwards = [m.__dict__["forward"] for m in fused.modules() if "forward" in m.__dict__]
    assert len(fused_forwards) == blocks and not any(f.broken for f in fused_forwards)


def test_unfolded_blocks_are_not_fused():
    model = build_model("visual", depth=10, width=8, sample_size=32, sample_duration=16).eval()
    assert fuse_cpu_pointwise(model) == 0


def test_fused_blocks_fall_back_to_their_own_forward_outside_fp32_inference():
    plain, fused, _ = _folded_fused_pair(10)
    block, x = fused.trunk.layer1[0], torch.randn(1, 8, 4, 8, 8)
    with torch.no_grad():
        want = plain.trunk.layer1[0](x.clone())
        # autocast and bf16 inputs take the block's own forward: same rounding as unfused
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.equal(block(x.clone()), plain.trunk.layer1[0](x.clone()))
    # with gradients the plain forward runs and its input is left intact
    xg = x.clone().requires_grad_(True)
    out = block(xg)
    out.sum().backward()
    assert xg.grad is not None and torch.equal(xg.detach(), x)
    assert torch.allclose(out.detach(), want, atol=1e-5)


def test_fused_block_that_fails_falls_back_for_good(monkeypatch):
    plain, fused, _ = _folded_fused_pair(10)
    import stavis_lib.model.fold as fold_module

    calls = []

    def broken(block, x):
        calls.append(1)
        raise RuntimeError("op changed in this torch release")

    monkeypatch.setattr(fold_module, "_fused_forward", broken)
    x = torch.randn(1, 8, 4, 8, 8)
    with torch.inference_mode():
        want = plain.trunk.layer1[0](x.clone())
        for _ in range(2):
            assert torch.allclose(fused.trunk.layer1[0](x.clone()), want, atol=1e-6)
    assert calls == [1]  # tried once, then the plain forward for good
