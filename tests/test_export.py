"""Deployment export (``python -m stavis_lib export``): ONNX through onnxruntime and the torch.export
program match the PyTorch network at two batch sizes; bad requests fail in one line before exporting."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from stavis_lib.cli import main
from stavis_lib.data.clips import ACTIVITYNET_MEAN
from stavis_lib.export import ExportConfig, export_checkpoint, export_model
from stavis_lib.model import build_model
from stavis_lib.model.checkpoints import load_checkpoint, save_checkpoint

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in requirements.txt; needed to run the .onnx files")
pytest.importorskip("onnxscript", reason="onnxscript is in requirements.txt; torch's ONNX exporter needs it")

TINY = dict(depth=10, width=8, sample_size=32)
TOLERANCE = 1e-4  # max |diff| of the logits, fp32


def _tiny(variant: str, seed: int) -> nn.Module:
    """A tiny network whose BatchNorms are not the identity (so folding them is really tested)."""
    torch.manual_seed(seed)
    model = build_model(variant, **TINY)
    gen = torch.Generator().manual_seed(seed)
    for bn in model.modules():
        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
            bn.running_mean.copy_(torch.rand(bn.num_features, generator=gen) - 0.5)
            bn.running_var.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)
            bn.weight.data.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)
            bn.bias.data.copy_(torch.rand(bn.num_features, generator=gen) * 0.4 - 0.2)
    return model.eval()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("export")
    paths = {}
    for seed, variant in enumerate(("L3mul_S3", "visual")):
        paths[variant] = folder / f"{variant}.pt"
        save_checkpoint(paths[variant], _tiny(variant, seed))
    return paths


def _inputs(batch: int, audio: bool, seed: int) -> dict[str, np.ndarray]:
    """Inputs on the network's scale: pixels 0-255 minus the means, audio on the SoundNet scale."""
    rng = np.random.default_rng(seed)
    frames = rng.uniform(0, 255, (batch, 3, 16, 32, 32)) - np.array(ACTIVITYNET_MEAN).reshape(1, 3, 1, 1, 1)
    out = {"frames": frames.astype(np.float32)}
    if audio:
        out["audio"] = (rng.standard_normal((batch, 35280)) * 64).astype(np.float32)
    return out


def _eager(checkpoint: Path, inputs: dict[str, np.ndarray]) -> np.ndarray:
    model, _ = load_checkpoint(checkpoint)
    with torch.no_grad():
        return model.eval()(*(torch.from_numpy(x) for x in inputs.values())).saliency.numpy()


def _check_onnx_session(path: Path, checkpoint: Path, audio: bool) -> None:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = ["frames", "audio"] if audio else ["frames"]
    assert [i.name for i in session.get_inputs()] == names
    assert [o.name for o in session.get_outputs()] == ["saliency"]
    assert session.get_inputs()[0].shape == ["batch", 3, 16, 32, 32]
    assert session.get_outputs()[0].shape == ["batch", 1, 32, 32]
    for batch in (1, 3):  # neither is the traced batch size (2)
        inputs = _inputs(batch, audio, seed=batch)
        (got,) = session.run(["saliency"], inputs)
        ref = _eager(checkpoint, inputs)
        assert got.shape == ref.shape == (batch, 1, 32, 32)
        assert np.abs(got - ref).max() < TOLERANCE
        assert np.abs(ref).max() > 1.0  # logits of real size, not a vacuous comparison


@pytest.mark.slow
def test_cli_onnx_of_an_audio_visual_checkpoint_matches_pytorch_at_two_batch_sizes(checkpoints, tmp_path, capsys):
    out = tmp_path / "deploy" / "stavis.onnx"  # the folder is created
    assert main(["export", str(checkpoints["L3mul_S3"]), "--format", "onnx", "--out", str(out), "--check"]) == 0
    text = capsys.readouterr().out
    assert "frames (batch, 3, 16, 32, 32), audio (batch, 35280) -> saliency (batch, 1, 32, 32)" in text
    assert "BatchNorm: 16 folded into the convolutions" in text  # 16 = every BatchNorm of the tiny network
    checked = [float(x) for x in re.findall(r"max \|exported - PyTorch\| = (\S+) ", text)]
    assert len(checked) == 2 and max(checked) < TOLERANCE  # --check: batch sizes 1 and 3
    assert sorted(p.name for p in out.parent.iterdir()) == ["stavis.onnx"]  # no temporary left behind
    _check_onnx_session(out, checkpoints["L3mul_S3"], audio=True)
    import onnx

    ops = {node.op_type for node in onnx.load(str(out)).graph.node}
    assert "BatchNormalization" not in ops and "Conv" in ops  # folded into the convolutions


@pytest.mark.slow
def test_onnx_of_the_visual_only_variant_takes_frames_alone(checkpoints, tmp_path):
    out = tmp_path / "visual.onnx"
    result = export_checkpoint(checkpoints["visual"], out, ExportConfig(format="onnx"))
    assert result.inputs == {"frames": ("batch", 3, 16, 32, 32)} and result.batchnorm_folded > 0
    _check_onnx_session(out, checkpoints["visual"], audio=False)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The given buffer is not writable")  # torch.export.load's own read
def test_exported_program_round_trip_equals_the_eager_network(checkpoints, tmp_path):
    """Without folding, the .pt2 graph runs the very operations of the eager network: equal outputs."""
    model, _ = load_checkpoint(checkpoints["L3mul_S3"])
    out = tmp_path / "stavis.pt2"
    result = export_model(model, out, ExportConfig(format="exported-program", fold_batchnorm=False))
    assert result.batchnorm_folded == 0 and result.format == "exported-program"
    assert model.training  # the caller's model is left as it was (exported from an eval copy)
    program = torch.export.load(str(out))
    assert any("batch_norm" in str(node.target) for node in program.graph.nodes)
    for batch in (1, 3):
        inputs = _inputs(batch, True, seed=10 + batch)
        with torch.no_grad():
            got = program.module()(*(torch.from_numpy(x) for x in inputs.values()))
        ref = _eager(checkpoints["L3mul_S3"], inputs)
        assert got.shape == (batch, 1, 32, 32)
        np.testing.assert_array_equal(got.numpy(), ref)


# --------------------------------------------------------------------------- one-line errors
def _error(argv: list[str], capsys) -> str:
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_missing_checkpoint_is_one_line(tmp_path, capsys):
    line = _error(["export", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "m.onnx")], capsys)
    assert "nope.pt" in line and "no such file" in line


def test_a_foreign_file_is_refused(tmp_path, capsys):
    foreign = tmp_path / "weights.pth"
    torch.save({"conv.weight": torch.zeros(2)}, foreign)
    line = _error(["export", str(foreign), "--out", str(tmp_path / "m.onnx")], capsys)
    assert "weights.pth" in line and "not a stavis checkpoint" in line


def test_bad_format_is_one_line(checkpoints, tmp_path, capsys):
    line = _error(["export", str(checkpoints["visual"]), "--format", "tflite", "--out", str(tmp_path / "m.x")], capsys)
    assert "--format 'tflite'" in line and "onnx, exported-program" in line
    line = _error(["export", str(checkpoints["visual"]), "--out", str(tmp_path / "m.bin")], capsys)
    assert "cannot tell the format" in line
    line = _error(["export", str(checkpoints["visual"]), "--format", "onnx", "--out", str(tmp_path / "m.pt2")],
                  capsys)
    assert "m.pt2" in line and "exported-program" in line
    onnx_out = str(tmp_path / "m.onnx")
    assert "divisible by 16" in _error(["export", str(checkpoints["visual"]), "--out", onnx_out, "--size", "40"], capsys)
    line = _error(["export", str(checkpoints["visual"]), "--out", onnx_out, "--audio-samples", "100"], capsys)
    assert "--audio-samples 100" in line and "SoundNet-8 needs at least" in line


def test_unwritable_out_fails_before_exporting(checkpoints, tmp_path, capsys, monkeypatch):
    import stavis_lib.export as export

    monkeypatch.setattr(export, "export_program", lambda *a, **k: pytest.fail("exported despite a bad --out"))
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    line = _error(["export", str(checkpoints["visual"]), "--out", str(blocker / "m.onnx")], capsys)
    assert "a_file" in line
    line = _error(["export", str(checkpoints["visual"]), "--format", "onnx", "--out", str(tmp_path)], capsys)
    assert "is a folder" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
