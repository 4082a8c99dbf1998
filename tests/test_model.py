"""STAViS network: shapes of every Table-1 variant, official parameter counts, DSAM, fusion, gradients."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from stavis_lib.config import VARIANTS, ModelConfig, make_config
from stavis_lib.model import build_model
from stavis_lib.losses import audiovisual_loss, visual_loss
from stavis_lib.model import StavisOutput
from stavis_lib.model.audio import SoundNet8, soundnet_output_length
from stavis_lib.model.fusion import FusionHead
from stavis_lib.model.localization import Localization, pool_time
from stavis_lib.model.visual import DSAM, ResNet3DTrunk

TABLE1_ROWS = {
    "visual", "L1_audio_only", "L2_audio_only", "L3_audio_only", "L1_S1", "L2_S1", "L3_S1",
    "L1_S2", "L2_S2", "L3_S2", "L3mul_S2tilde", "L3mul_S3", "L3mul_Sfus",
}
TINY = dict(depth=10, width=8, sample_size=32, sample_duration=8)
AUDIO_N = 6000  # > the 4574-sample minimum of SoundNet-8, keeps the tests fast


def _inputs(batch: int, size: int = 32, frames: int = 8, n_audio: int = AUDIO_N, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, frames, size, size, generator=g) * 50
    a = torch.randn(batch, n_audio, generator=g) * 40
    return x, a


def _expected_maps(variant: str) -> int | None:
    row = VARIANTS[variant]
    return None if row["localization"] is None else row["n_loc_maps"]


def _check_output(out: StavisOutput, batch: int, size: int, variant: str) -> None:
    assert out.saliency.shape == (batch, 1, size, size)
    assert out.visual.shape == (batch, 1, size, size)
    assert [s.shape for s in out.side] == [(batch, 1, size, size)] * 4
    assert [a.shape for a in out.attention] == [(batch, 1, size // f, size // f) for f in (2, 4, 8, 16)]
    k = _expected_maps(variant)
    if k is None:
        assert out.localization is None and out.audio_features is None
        assert torch.equal(out.saliency, out.visual)
    else:
        assert out.localization.shape == (batch, k, size, size)
        assert out.audio_features.shape == (batch, 1024)
    for t in [out.saliency, out.visual, *out.side]:
        assert torch.isfinite(t).all()


def test_registry_names_every_table1_row():
    assert set(VARIANTS) == TABLE1_ROWS
    assert make_config("L3mul_S3") == ModelConfig()  # the proposed model is the default config
    assert make_config("L2_S1").n_loc_maps == 1 and make_config("L3mul_Sfus").n_loc_maps == 64


def test_config_roundtrip_and_errors():
    cfg = make_config("L2_S2", depth=18, width=8)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert json.loads(json.dumps(cfg.to_dict())) == cfg.to_dict()
    with pytest.raises(ValueError, match="depth"):
        ModelConfig(depth=42)
    with pytest.raises(ValueError, match="n_loc_maps"):
        make_config("L1_S1", n_loc_maps=4)
    with pytest.raises(ValueError, match="S2tilde"):
        make_config("L3mul_S2tilde", n_loc_maps=8)
    with pytest.raises(ValueError, match="unknown variant"):
        make_config("L4_S9")
    with pytest.raises(ValueError, match="unknown ModelConfig fields"):
        build_model("visual", colour="red")
    with pytest.raises(ValueError, match="unknown fields"):
        ModelConfig.from_dict({"depth": 10, "bogus": 1})


def test_official_parameter_counts_part_by_part(reference_dir):
    model = build_model("L3mul_S3")  # depth 50, width 64, 112x112, 16 frames
    expected = {
        "trunk": 17_078_464, "dsam": 616_916, "audio": 2_874_320,
        "localization": 1_245_504, "fusion": 129, "visual_head": 65,
    }
    assert model.parameter_parts() == expected
    assert sum(p.numel() for p in model.parameters()) == 21_815_398
    manifest = json.loads((reference_dir / "official_stavis_audiovisual_state_dict.json").read_text())
    official = manifest["numel_parameters_by_part"]
    assert expected == {
        "trunk": official["trunk"], "dsam": official["score_dsn"], "audio": official["soundnet8"],
        "localization": official["fusion3"], "fusion": official["fuseav"], "visual_head": official["fuse"],
    }


@pytest.mark.parametrize("variant", sorted(TABLE1_ROWS))
def test_every_variant_shapes_depth10_and_50(variant):
    torch.manual_seed(0)
    x, a = _inputs(2, size=32, frames=8)
    for depth, width in ((10, 8), (50, 8)):
        model = build_model(variant, depth=depth, width=width, sample_size=32, sample_duration=8).eval()
        with torch.no_grad():
            out = model(x, a if model.config.uses_audio else None)
        _check_output(out, 2, 32, variant)


@pytest.mark.parametrize("variant", ["visual", "L3mul_S3", "L2_S1"])
def test_batch_size_one_and_rectangular_frames(variant):
    model = build_model(variant, **TINY).eval()
    x, a = _inputs(1, size=32)
    with torch.no_grad():
        out = model(x, a if model.config.uses_audio else None)
    _check_output(out, 1, 32, variant)
    x = torch.randn(1, 3, 8, 48, 64)
    with torch.no_grad():
        out = model(x, a if model.config.uses_audio else None)
    assert out.saliency.shape == (1, 1, 48, 64)
    assert out.attention[3].shape == (1, 1, 3, 4)


def test_batch_size_one_matches_row_of_a_batch():
    model = build_model("L3mul_S3", **TINY).eval()
    x, a = _inputs(3)
    with torch.no_grad():
        full = model(x, a).saliency
        single = model(x[1:2], a[1:2]).saliency
    torch.testing.assert_close(single, full[1:2], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n_audio", [4574, 22050, 35280, 50000])
def test_audio_lengths(n_audio):
    model = build_model("L3mul_S3", **TINY).eval()
    x, a = _inputs(2, n_audio=n_audio)
    with torch.no_grad():
        out = model(x, a)
    _check_output(out, 2, 32, "L3mul_S3")


def test_audio_input_layouts_and_errors():
    model = build_model("L3_S1", **TINY).eval()
    x, a = _inputs(2)
    with torch.no_grad():
        ref = model(x, a).saliency
        for layout in (a[:, None], a[:, None, None]):
            torch.testing.assert_close(model(x, layout).saliency, ref)
        with pytest.raises(ValueError, match="at least 4574"):
            model(x, a[:, :4573])
        with pytest.raises(ValueError, match="uses audio"):
            model(x)
        with pytest.raises(ValueError, match="divisible by 16"):
            model(torch.randn(2, 3, 8, 40, 40), a)
        with pytest.raises(ValueError, match="batch sizes differ"):
            model(x, a[:1])


def test_soundnet_official_window_has_two_conv7_steps():
    # Table 5 by hand for 35280 samples: conv1 17641 -> pool 2205 -> conv2 1103 -> pool 137 -> conv3 69
    # -> conv4 35 -> conv5 18 -> pool 4 -> conv6 3 -> conv7 2; the official MaxPool(1,2) then gives 1.
    assert soundnet_output_length(35280) == 2
    net = SoundNet8().eval()
    wave = torch.randn(2, 35280) * 30
    with torch.no_grad():
        feats = net.features(wave)
        f_a = net(wave)
        official = F.max_pool2d(feats[:, :, None, :], kernel_size=(1, 2)).flatten(1)
    assert feats.shape == (2, 1024, 2)
    torch.testing.assert_close(f_a, official)
    assert sum(p.numel() for p in net.parameters()) == 2_874_320


def test_trunk_structure_and_shortcut_a():
    trunk = ResNet3DTrunk(depth=50, blocks=(3, 4, 6), width=64, shortcut="B")
    names = {n for n, _ in trunk.named_parameters()}
    assert "layer3.5.conv3.weight" in names and "layer1.0.downsample.0.weight" in names
    assert not any(n.startswith("layer4") for n in names)
    assert trunk.level_channels == (64, 256, 512, 1024)
    assert tuple(trunk.conv1.weight.shape) == (64, 3, 7, 7, 7) and trunk.conv1.bias is None
    basic_a = ResNet3DTrunk(depth=18, blocks=(2, 2, 2), width=8, shortcut="A")
    assert not any("downsample" in n for n, _ in basic_a.named_parameters())  # zero-pad shortcut
    assert basic_a.level_channels == (8, 8, 16, 32)
    model = build_model("visual", depth=18, shortcut="A", width=8, sample_size=32).eval()
    with torch.no_grad():
        _check_output(model(_inputs(2)[0]), 2, 32, "visual")


def test_dsam_equations_1_and_2():
    torch.manual_seed(1)
    dsam = DSAM(in_channels=6, factor=4, channels=16)
    with torch.no_grad():
        dsam.saliency_conv.weight.normal_(0, 0.3)  # a non-flat attention map
        dsam.activation_conv.weight.normal_(0, 1.0)
    x = torch.randn(2, 6, 3, 5, 7)
    x_tilde, s_up, a_up, m = dsam(x)
    # eq. (2) computed independently from the activation map A = conv1x1(conv3x3(mean_t X))
    a = dsam.activation_conv(dsam.saliency_conv(x.mean(2)))
    expected_m = torch.exp(a) / torch.exp(a).sum(dim=(2, 3), keepdim=True)
    torch.testing.assert_close(m, expected_m)
    torch.testing.assert_close(m.sum(dim=(2, 3)), torch.ones(2, 1))
    assert m.max() > 2 * m.min()
    torch.testing.assert_close(x_tilde, x * (1 + expected_m[:, :, None]))  # eq. (1), all channels and frames
    assert s_up.shape == (2, 16, 20, 28) and a_up.shape == (2, 1, 20, 28)


@pytest.mark.parametrize("factor", [2, 4, 8, 16])
def test_dsam_deconvolution_is_bilinear_upsampling(factor):
    dsam = DSAM(in_channels=3, factor=factor)
    a = torch.randn(1, 1, 6, 5)
    with torch.no_grad():
        up = dsam.up_activation(a)
    ref = F.interpolate(a, scale_factor=factor, mode="bilinear", align_corners=False)
    assert up.shape == ref.shape == (1, 1, 6 * factor, 5 * factor)
    inner = slice(factor, -factor)  # borders differ: zero padding vs. edge replication
    torch.testing.assert_close(up[..., inner, inner], ref[..., inner, inner], rtol=1e-5, atol=1e-5)


def test_attention_maps_sum_to_one_in_the_network():
    model = build_model("L3mul_S3", **TINY).eval()
    x, a = _inputs(2)
    with torch.no_grad():
        out = model(x, a)
    for m in out.attention:
        torch.testing.assert_close(m.sum(dim=(2, 3)), torch.ones(2, 1))
        assert (m > 0).all()


def test_localization_correspondences():
    torch.manual_seed(2)
    h_v = torch.rand(2, 3, 4, 5)
    h_a = torch.rand(2, 1, 1, 5).expand(2, 3, 4, 5)
    l1 = Localization("L1", visual_channels=7, hidden_dim=5, n_maps=1)
    cos = l1.correspond(h_v, h_a)
    manual = torch.einsum("bhwk,bhwk->bhw", h_v, h_a) / (h_v.norm(dim=-1) * h_a.norm(dim=-1))
    torch.testing.assert_close(cos[:, 0], manual)
    torch.testing.assert_close(l1.correspond(h_a, h_a), torch.ones(2, 1, 3, 4))
    assert torch.isfinite(l1.correspond(torch.zeros_like(h_v), h_a)).all()
    # L2 (eq. 4) is L3 (eq. 5) with diagonal M^j = diag(s^j) (as the paper states)
    l2 = Localization("L2", visual_channels=7, hidden_dim=5, n_maps=3)
    l3 = Localization("L3", visual_channels=7, hidden_dim=5, n_maps=3)
    with torch.no_grad():
        l3.bilinear.weight.zero_()
        for j in range(3):
            l3.bilinear.weight[j] = torch.diag(l2.weighted.weight[j])
        l3.bilinear.bias.copy_(l2.weighted.bias)
    torch.testing.assert_close(l2.correspond(h_v, h_a), l3.correspond(h_v, h_a))
    # eq. (5) written out for one pixel and map: h_v^T M^j h_a + mu^j
    got = l3.correspond(h_v, h_a)[1, 2, 2, 3]  # sample 1, map j=2, pixel (y=2, x=3)
    want = h_v[1, 2, 3] @ l3.bilinear.weight[2] @ h_a[1, 2, 3] + l3.bilinear.bias[2]
    torch.testing.assert_close(got, want)


def test_visual_pooling_modes():
    x = torch.arange(4.0).reshape(1, 1, 4, 1, 1).expand(1, 2, 4, 3, 3)
    assert pool_time(x, "mean")[0, 0, 0, 0] == 1.5
    assert pool_time(x, "center")[0, 0, 0, 0] == 1.5  # steps 1, 2
    x = torch.tensor([0.0, 1.0, 5.0, 10.0]).reshape(1, 1, 4, 1, 1)
    assert pool_time(x, "mean").item() == 4.0
    assert pool_time(x, "center").item() == 3.0  # official: mean of the two central steps


def test_projection_relu_is_the_official_choice_and_the_paper_is_affine():
    torch.manual_seed(0)
    x3 = torch.randn(2, 8, 4, 3, 3)
    f_a = torch.randn(2, 6)
    official = Localization("L3", visual_channels=8, audio_channels=6, hidden_dim=5, n_maps=2)
    paper = Localization("L3", visual_channels=8, audio_channels=6, hidden_dim=5, n_maps=2, projection_relu=False)
    paper.load_state_dict(official.state_dict())
    h_v, h_a = paper.project(x3, f_a)
    f_v = x3[:, :, 1:3].mean(2).permute(0, 2, 3, 1)            # "center" pooling: the two central steps
    hand_v = f_v @ paper.affine_visual.weight.T + paper.affine_visual.bias
    assert torch.allclose(h_v, hand_v, atol=1e-6) and (h_v < 0).any()    # eq. (3) as printed: affine only
    assert torch.allclose(h_a[:, 0, 0], f_a @ paper.affine_audio.weight.T + paper.affine_audio.bias, atol=1e-6)
    r_v, r_a = official.project(x3, f_a)
    assert torch.allclose(r_v, hand_v.clamp_min(0), atol=1e-6)
    assert (r_a >= 0).all()
    assert ModelConfig().projection_relu is True
    assert build_model("L3mul_S3", depth=10, width=8, sample_size=32,
                       projection_relu=False).localization.projection_relu is False
    with pytest.raises(ValueError, match="projection_relu"):
        ModelConfig(projection_relu="no")


def test_fusion_heads_hand_values():
    s_v = torch.tensor([0.0, 2.0, -1.0, 3.0]).reshape(1, 1, 2, 2)
    loc = torch.tensor([1.0, -2.0, 0.5, 0.0]).reshape(1, 1, 2, 2)
    v = torch.zeros(1, 4, 2, 2)
    sig = torch.sigmoid
    s_a = 0.5 * loc - 1.0
    for fusion in ("audio_only", "S1", "S2", "Sfus"):
        head = FusionHead(fusion, v_channels=4, n_maps=1)
        with torch.no_grad():
            head.audio_conv.weight.fill_(0.5)
            head.audio_conv.bias.fill_(-1.0)
        out = head(s_v, v, loc)
        if fusion == "audio_only":
            torch.testing.assert_close(out, s_a)
        elif fusion == "S1":  # equal weights at init (softmax of zeros)
            torch.testing.assert_close(sig(out), 0.5 * sig(s_v) + 0.5 * sig(s_a))
        elif fusion == "S2":
            torch.testing.assert_close(sig(out), sig(s_v) * (1 + sig(s_a)) / 2)
        else:
            s3 = head.cat_conv(torch.cat([v, loc], 1))
            torch.testing.assert_close(sig(out), (sig(s_v) + sig(s_a) + sig(s3)) / 3, rtol=1e-5, atol=1e-6)
    s3_head = FusionHead("S3", v_channels=4, n_maps=1)
    with torch.no_grad():
        s3_head.cat_conv.weight.copy_(torch.tensor([1.0, 0, 0, 0, 2.0]).reshape(1, 5, 1, 1))
    torch.testing.assert_close(s3_head(s_v, v, loc), 2 * loc - 6.0)  # official bias init -6
    tilde = FusionHead("S2tilde", v_channels=1, n_maps=1)
    with torch.no_grad():
        tilde.modulated_conv.weight.fill_(1.0)
        tilde.modulated_conv.bias.zero_()
    torch.testing.assert_close(tilde(s_v, s_v, loc), sig(s_v) * (1 + sig(loc)))
    with pytest.raises(ValueError, match="S2tilde"):
        FusionHead("S2tilde", v_channels=64, n_maps=1)


def _unused_in_stage(variant: str, stage: str, names: list[str]) -> set[str]:
    """Hand-written list of parameters a stage's loss cannot reach (see Fig. 2 and eq. 6/7)."""
    if stage == "visual":
        return {n for n in names if n.split(".")[0] in ("audio", "localization", "fusion")}
    fusion = VARIANTS[variant]["fusion"]
    # side outputs are not in eq. (7); A^m only acts through the shift-invariant softmax (eq. 2),
    # so the activation biases have an exactly-zero gradient; level 4's attention re-weights nothing
    unused = {n for n in names if ".up_activation." in n or n.startswith("dsam.3.activation_conv.")
              or n.endswith("activation_conv.bias")}
    if fusion in ("S3", "S2tilde", "audio_only"):
        unused |= {n for n in names if n.startswith("visual_head.")}
    if fusion == "audio_only":  # only L is used: nothing of V, nothing after X^3
        unused |= {n for n in names if ".up_saliency." in n or n.endswith("saliency_conv.bias")
                   or n.startswith(("trunk.layer3.", "dsam.2.", "dsam.3."))}
    return unused


def _wake_heads(model: torch.nn.Module) -> None:
    """Replace the near-zero official init of the 2-D heads (N(0, 0.001), bias -6) by N(0, 0.1)
    weights and zero biases, so that every reachable parameter gets a clearly non-zero gradient."""
    for name, module in model.named_modules():
        if name.startswith(("dsam", "visual_head", "fusion")) and hasattr(module, "weight"):
            torch.nn.init.normal_(module.weight, 0.0, 0.1)
            if getattr(module, "bias", None) is not None:
                torch.nn.init.zeros_(module.bias)


@pytest.mark.parametrize("variant", sorted(TABLE1_ROWS))
def test_every_parameter_gets_a_gradient_from_its_stage_loss(variant):
    torch.manual_seed(3)
    # float64, so that exactly-zero gradients (~1e-17) and real ones (> 1e-8) cannot be confused
    model = build_model(variant, **TINY).double().train()
    _wake_heads(model)
    names = [n for n, _ in model.named_parameters()]
    x, a = (t.double() for t in _inputs(2))
    dense = torch.rand(2, 1, 32, 32, dtype=torch.float64)
    fix = torch.zeros(2, 1, 32, 32, dtype=torch.float64)
    fix[:, :, 10, 12] = 1
    fix[:, :, 20, 5] = 1
    stages = ["visual"] if variant == "visual" else ["visual", "audiovisual"]
    reached_any: set[str] = set()
    for stage in stages:
        model.zero_grad(set_to_none=True)
        out = model(x, a if model.config.uses_audio else None)
        if stage == "visual":
            loss, _ = visual_loss(out, dense, fix, epoch=1, n_epochs=10)
        else:
            loss, _ = audiovisual_loss(out, dense, fix)
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        scale = max(p.grad.abs().max().item() for p in model.parameters() if p.grad is not None)
        # "reached": a gradient above float64 round-off of the largest one
        reached = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().max() > 1e-11 * scale}
        expected = set(names) - _unused_in_stage(variant, stage, names)
        assert model.stage_parameter_names(stage) == expected
        if stage == "audiovisual":  # a conv bias before a train-mode BatchNorm is cancelled by the batch mean
            expected -= {f"audio.soundnet8.{i}.bias" for i in (0, 4, 8, 11, 14, 18, 21)}
        assert reached == expected, (stage, sorted(expected - reached)[:5], sorted(reached - expected)[:5])
        reached_any |= reached
    # every parameter of the variant is trained by one of its two stages (SoundNet conv biases: with frozen BN)
    if variant != "visual":
        assert set(names) - reached_any == {f"audio.soundnet8.{i}.bias" for i in (0, 4, 8, 11, 14, 18, 21)}
        model.zero_grad(set_to_none=True)
        model.audio.eval()  # running statistics: the conv biases matter and are reached
        audiovisual_loss(model(x, a), dense, fix)[0].backward()
        assert all(model.audio.soundnet8[i].bias.grad.abs().max() > 0 for i in (0, 4, 8, 11, 14, 18, 21))
    else:
        assert reached_any == set(names)


def test_tiled_bilinear_equals_per_pixel_bilinear():
    """The fast eq.-(5) path (audio shared by all pixels) equals nn.Bilinear applied per pixel."""
    torch.manual_seed(0)
    l3 = Localization("L3", visual_channels=7, hidden_dim=6, n_maps=4)
    h_v = torch.randn(2, 3, 5, 6)
    h_a = torch.randn(2, 6)[:, None, None, :].expand_as(h_v)
    fast = l3.correspond(h_v, h_a)
    slow = l3.correspond(h_v, h_a.contiguous())  # no stride-0 dims: the nn.Bilinear path
    torch.testing.assert_close(fast, slow)


def test_temporal_mean_in_both_memory_formats():
    from stavis_lib.model.visual import temporal_mean

    # x[b,c,t,h,w] = t + 10c: the mean over t = 0..3 is 1.5 + 10c everywhere
    t = torch.arange(4.0).view(1, 1, 4, 1, 1)
    c = 10.0 * torch.arange(3.0).view(1, 3, 1, 1, 1)
    x = (t + c).expand(2, 3, 4, 5, 6).contiguous()
    want = (1.5 + 10.0 * torch.arange(3.0)).view(1, 3, 1, 1).expand(2, 3, 5, 6)
    for layout in (x, x.contiguous(memory_format=torch.channels_last_3d)):
        assert torch.equal(temporal_mean(layout), want)
    assert temporal_mean(x.contiguous(memory_format=torch.channels_last_3d)).is_contiguous(
        memory_format=torch.channels_last)


def test_the_lazy_public_api_names_the_library_objects():
    import importlib

    import stavis_lib
    from stavis_lib.model import checkpoints

    assert stavis_lib.build_model is build_model
    assert stavis_lib.load_checkpoint is checkpoints.load_checkpoint
    for name in ("train", "evaluate", "metrics", "losses"):  # modules, not functions of that name
        assert getattr(stavis_lib, name) is importlib.import_module(f"stavis_lib.{name}")
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        stavis_lib.nothing
