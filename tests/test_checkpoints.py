"""Checkpoint import/export against the official key manifests, and project checkpoints."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from stavis_lib.model import PARTS, build_model
from stavis_lib.model.checkpoints import ImportReport, load_checkpoint, save_checkpoint, transfer_weights
from stavis_lib.model.official import (
    export_official_stavis,
    import_kinetics_resnet,
    import_official_stavis,
    import_soundnet8_pth,
    import_weights,
)

TINY = dict(depth=10, width=8, sample_size=32, sample_duration=8)


def _manifest(reference_dir: Path, name: str) -> dict:
    return json.loads((reference_dir / name).read_text())


def _fake_state(entries: list[dict], seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors with the manifest's key names, shapes and dtypes."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for e in entries:
        if e["dtype"] == "int64":
            out[e["key"]] = torch.tensor(7, dtype=torch.int64)
        else:
            out[e["key"]] = torch.rand(e["shape"], generator=g) + 0.5  # positive: valid running_var too
    return out


@pytest.fixture(scope="module")
def official_av(reference_dir) -> dict:
    return _manifest(reference_dir, "official_stavis_audiovisual_state_dict.json")


@pytest.fixture(scope="module")
def big_model():
    return build_model("L3mul_S3")  # official geometry: depth 50, width 64


def _randomize(model: torch.nn.Module, seed: int) -> None:
    """Non-default weights and BN statistics, so that a round trip really has to carry them."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.dtype.is_floating_point:
                t.copy_(torch.rand(t.shape, generator=g) * 0.2 + (0.9 if "running_var" in name else -0.1))


def test_official_av_checkpoint_every_key_accepted(official_av, big_model, tmp_path):
    fake = _fake_state(official_av["keys"])
    assert len(fake) == 341
    path = tmp_path / "audiovisual_split1_save_60.pth"
    sgd = {"state": {}, "param_groups": [{"lr": 0.01, "momentum": 0.9, "dampening": 0.9, "params": [0]}]}
    torch.save({"epoch": 61, "arch": "resnet-50", "state_dict": fake, "optimizer_global": sgd,
                "optimizer_sal": sgd, "optimizer_sound": sgd, "optimizer_fusion": sgd}, path)
    report = import_official_stavis(big_model, path)  # weights_only=True load
    assert isinstance(report, ImportReport)
    assert report.missing == [] and report.unexpected == []
    assert len(report.loaded) == 341
    state = big_model.state_dict()
    pairs = {  # hand-written correspondences (official -> ours)
        "module.conv1.weight": "trunk.conv1.weight",
        "module.layer2.1.conv2.weight": "trunk.layer2.1.conv2.weight",
        "module.layer3.0.downsample.1.running_var": "trunk.layer3.0.downsample.1.running_var",
        "module.score_dsn.0.side_prep.weight": "dsam.0.saliency_conv.weight",
        "module.score_dsn.2.score_dsn.bias": "dsam.2.activation_conv.bias",
        "module.score_dsn.1.upscale_.weight": "dsam.1.up_activation.weight",
        "module.score_dsn.3.upscale.weight": "dsam.3.up_saliency.weight",
        "module.fuse.weight": "visual_head.weight",
        "module.fuseav.bias": "fusion.cat_conv.bias",
        "module.soundnet8.21.weight": "audio.soundnet8.21.weight",
        "module.soundnet8.22.running_mean": "audio.soundnet8.22.running_mean",
        "module.fusion3.affine_rgb.weight": "localization.affine_visual.weight",
        "module.fusion3.affine_audio.bias": "localization.affine_audio.bias",
        "module.fusion3.w_a_rgb.weight": "localization.bilinear.weight",
    }
    for official, ours in pairs.items():
        assert torch.equal(state[ours], fake[official]), official


def test_official_checkpoint_into_visual_variant_reports_unused_parts(official_av):
    model = build_model("visual")
    fake = _fake_state(official_av["keys"], seed=1)
    report = import_official_stavis(model, {"epoch": 61, "arch": "resnet-50", "state_dict": fake})
    assert report.missing == []
    unused = {k for k in fake if k.startswith(("module.soundnet8.", "module.fusion3.", "module.fuseav."))}
    assert set(report.unexpected) == unused and len(unused) == 49 + 6 + 2
    assert torch.equal(model.visual_head.weight, fake["module.fuse.weight"])


def test_wrong_shape_and_wrong_arch_are_refused(official_av, big_model):
    fake = _fake_state(official_av["keys"], seed=2)
    fake["module.score_dsn.1.side_prep.weight"] = torch.zeros(16, 128, 3, 3)
    with pytest.raises(ValueError, match=r"module\.score_dsn\.1\.side_prep\.weight.*\(16, 128, 3, 3\).*\(16, 256, 3, 3\)"):
        import_official_stavis(big_model, {"arch": "resnet-50", "state_dict": fake})
    with pytest.raises(ValueError, match="resnet-101"):
        import_official_stavis(big_model, {"arch": "resnet-101", "state_dict": {}})


def test_kinetics_resnet_manifest(reference_dir, big_model):
    manifest = _manifest(reference_dir, "official_resnet50_kinetics_state_dict.json")
    entries = [e for e in manifest["keys"] if not e["absent_in_released_file"]]
    fake = _fake_state(entries, seed=3)
    report = import_kinetics_resnet(big_model, {"epoch": 200, "arch": "resnet-50", "state_dict": fake, "optimizer": {}})
    used = {e["key"] for e in entries if e["loaded_into_stavis"]}
    assert set(report.loaded) == {"trunk." + k[len("module."):] for k in used}
    assert set(report.unexpected) == {e["key"] for e in entries if not e["loaded_into_stavis"]}
    assert all(k.startswith(("module.layer4.", "module.fc.")) for k in report.unexpected)
    assert report.missing == []  # num_batches_tracked absent in the 2017 file is fine
    assert torch.equal(big_model.trunk.layer3[5].bn3.running_mean, fake["module.layer3.5.bn3.running_mean"])


def test_soundnet8_pth_manifest(reference_dir, big_model):
    manifest = _manifest(reference_dir, "official_soundnet8_state_dict.json")
    fake = _fake_state(manifest["keys"], seed=4)
    report = import_soundnet8_pth(big_model, fake)
    assert len(report.loaded) == 49 and report.missing == [] and report.unexpected == []
    assert torch.equal(big_model.audio.soundnet8[0].weight, fake["module.soundnet8.0.weight"])
    with pytest.raises(ValueError, match="no audio branch"):
        import_soundnet8_pth(build_model("visual", **TINY), fake)


def test_export_matches_manifest_keys_and_shapes(official_av, big_model, tmp_path):
    path = tmp_path / "export.pth"
    export_official_stavis(big_model, path, epoch=61)
    obj = torch.load(path, weights_only=True)
    assert set(obj) == {"epoch", "arch", "state_dict"} and obj["arch"] == "resnet-50" and obj["epoch"] == 61
    shapes = {k: tuple(v.shape) for k, v in obj["state_dict"].items()}
    assert shapes == {e["key"]: tuple(e["shape"]) for e in official_av["keys"]}
    visual_path = tmp_path / "visual.pth"
    export_official_stavis(build_model("visual"), visual_path)  # visual-only files have the same keys
    assert set(torch.load(visual_path, weights_only=True)["state_dict"]) == set(shapes)
    with pytest.raises(ValueError, match="no official layout"):
        export_official_stavis(build_model("L2_S1", **TINY), tmp_path / "x.pth")


@pytest.mark.parametrize("variant", ["L3mul_S3", "visual"])
def test_official_round_trip_gives_identical_outputs(variant, tmp_path):
    cfg = dict(depth=10, width=64, sample_size=32, sample_duration=8)
    src = build_model(variant, **cfg)
    _randomize(src, seed=5)
    src.eval()
    path = tmp_path / "official.pth"
    export_official_stavis(src, path)
    dst = build_model(variant, **cfg)
    report = import_official_stavis(dst, path)
    assert report.missing == []
    dst.eval()
    x = torch.randn(2, 3, 8, 32, 32) * 50
    a = torch.randn(2, 6000) * 30 if src.config.uses_audio else None
    with torch.no_grad():
        o1, o2 = src(x, a), dst(x, a)
    assert torch.equal(o1.saliency, o2.saliency)
    for s1, s2 in zip(o1.side, o2.side):
        assert torch.equal(s1, s2)
    assert not torch.equal(o1.saliency, build_model(variant, **cfg).eval()(x, a).saliency)


def test_project_checkpoint_round_trip(tmp_path):
    model = build_model("L3mul_Sfus", **TINY)
    _randomize(model, seed=6)
    path = tmp_path / "ckpt" / "model.pt"
    save_checkpoint(path, model, epoch=3, metrics={"cc": 0.5}, optimizer={"param_groups": [{"lr": 0.1}]})
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary file left behind
    loaded, extra = load_checkpoint(path)  # weights_only=True
    assert loaded.config == model.config
    assert extra == {"epoch": 3, "metrics": {"cc": 0.5}, "optimizer": {"param_groups": [{"lr": 0.1}]}}
    model.eval(), loaded.eval()
    x, a = torch.randn(1, 3, 8, 32, 32) * 50, torch.randn(1, 6000) * 30
    with torch.no_grad():
        assert torch.equal(model(x, a).saliency, loaded(x, a).saliency)
    save_checkpoint(path, build_model("visual", **TINY))  # overwrite in place
    assert load_checkpoint(path)[0].config.variant == "visual"
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(path, model, config={})


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt"):
        load_checkpoint(bad)
    official = tmp_path / "official.pth"
    torch.save({"epoch": 1, "arch": "resnet-10", "state_dict": {}}, official)
    with pytest.raises(ValueError, match="import_official_stavis"):
        load_checkpoint(official)


def test_transfer_visual_to_audiovisual_and_autodetect(tmp_path, reference_dir):
    visual = build_model("visual", **TINY)
    _randomize(visual, seed=7)
    av = build_model("L3mul_S3", **TINY)
    report = transfer_weights(av, visual)
    assert report.missing == []
    assert torch.equal(av.trunk.layer2[0].conv1.weight, visual.trunk.layer2[0].conv1.weight)
    assert torch.equal(av.dsam[3].up_saliency.weight, visual.dsam[3].up_saliency.weight)
    path = tmp_path / "v.pt"
    save_checkpoint(path, visual)
    auto = import_weights(build_model("L3mul_S3", **TINY), path)
    assert set(auto.loaded) == set(report.loaded)
    manifest = _manifest(reference_dir, "official_soundnet8_state_dict.json")
    sound = tmp_path / "soundnet8.pth"
    torch.save(_fake_state(manifest["keys"]), sound)
    assert len(import_weights(av, sound).loaded) == 49


def test_transfer_of_every_part_refuses_or_skips_tensors_of_another_shape():
    """L3mul_S3 (64 localization maps) into L3_S1 (one map): the bilinear form of eq. (5) and the
    fusion differ in shape; trunk, DSAM, visual head, SoundNet and the affine maps of eq. (3) match."""
    source = build_model("L3mul_S3", **TINY)
    _randomize(source, seed=3)
    with pytest.raises(ValueError, match=r"localization\.bilinear.*has shape"):
        transfer_weights(build_model("L3_S1", **TINY), source, PARTS)
    target = build_model("L3_S1", **TINY)
    bilinear_before = target.localization.bilinear.weight.clone()
    report = transfer_weights(target, source, PARTS, skip_mismatched=True)
    assert "localization.bilinear.weight" in report.missing
    assert "localization.bilinear.weight" in report.unexpected
    assert torch.equal(target.localization.bilinear.weight, bilinear_before)  # left as it was
    for name in ("audio.soundnet8.0.weight", "localization.affine_audio.weight", "trunk.conv1.weight"):
        assert name in report.loaded and torch.equal(target.state_dict()[name], source.state_dict()[name])
    assert {k.split(".", 1)[0] for k in report.missing} <= {"localization", "fusion"}


# ---------------------------------------------------------------- refusing unusable files


OFFICIAL_GEOMETRY = dict(depth=10, width=64, sample_size=32, sample_duration=8)


def _one_line_user_error(exc_info, *needles: str) -> str:
    from stavis_lib.errors import UserError

    message = str(exc_info.value)
    assert isinstance(exc_info.value, UserError)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


def test_load_model_refuses_a_visual_only_official_file_as_audiovisual(tmp_path):
    from stavis_lib.cli.predict import load_model
    from stavis_lib.errors import UserError

    visual = build_model("visual", **OFFICIAL_GEOMETRY)
    path = tmp_path / "visual_save_60.pth"
    export_official_stavis(visual, path)
    with pytest.raises(UserError) as info:
        load_model(path, "L3mul_S3")
    message = _one_line_user_error(info, str(path), "audio", "localization", "--variant visual")
    assert "'fusion'" in message  # fuseav (the S3 fusion conv) is absent too
    # the variant the message proposes does load, with every tensor
    model = load_model(path, "visual")
    torch.testing.assert_close(model.state_dict()["dsam.0.saliency_conv.weight"],
                               visual.state_dict()["dsam.0.saliency_conv.weight"])


def test_load_model_refuses_a_file_of_unrelated_tensors(tmp_path):
    from stavis_lib.cli.predict import load_model
    from stavis_lib.errors import UserError

    path = tmp_path / "foo.pt"
    torch.save({"foo": torch.zeros(3)}, path)
    with pytest.raises(UserError) as info:
        load_model(path, "L3mul_S3")
    _one_line_user_error(info, str(path), "0 tensors loaded", "not an official STAViS checkpoint")


@pytest.mark.parametrize("damage", ["empty", "truncated", "text"])
def test_corrupt_checkpoints_give_one_line_errors_naming_the_file(tmp_path, damage):
    from stavis_lib.cli.predict import load_model
    from stavis_lib.errors import UserError

    good = tmp_path / "good.pt"
    save_checkpoint(good, build_model("visual", **TINY), epoch=1)
    path = tmp_path / f"{damage}.pt"
    data = good.read_bytes()
    path.write_bytes({"empty": b"", "truncated": data[: len(data) // 2], "text": b"hello"}[damage])
    for loader in (load_checkpoint, load_model):
        with pytest.raises(UserError) as info:
            loader(path)
        _one_line_user_error(info, str(path))


def test_project_checkpoint_missing_a_part_is_refused(tmp_path):
    from stavis_lib.errors import UserError

    model = build_model("L3mul_S3", **TINY)
    path = tmp_path / "no_audio.pt"
    save_checkpoint(path, model)
    obj = torch.load(path, weights_only=True)
    obj["state_dict"] = {k: v for k, v in obj["state_dict"].items() if not k.startswith("audio.")}
    torch.save(obj, path)
    with pytest.raises(UserError) as info:
        load_checkpoint(path)
    _one_line_user_error(info, str(path), "'audio'", "L3mul_S3")
