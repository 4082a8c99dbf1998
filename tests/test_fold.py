"""BatchNorm folding for inference (stavis_lib.model.fold): hand values, whole networks, no side effects."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from stavis_lib.config import build_model
from stavis_lib.model.fold import fold_batchnorm


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
