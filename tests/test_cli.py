"""The command line: ``python -m stavis_lib predict`` files, the no-checkpoint message, dispatch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stavis_lib.cli import main
from stavis_lib.model import build_model
from stavis_lib.data.media import probe_video, read_frames
from stavis_lib.demo import DEMO_MARKER, find_demo_checkpoint
from stavis_lib.model.checkpoints import save_checkpoint

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = build_model("L3mul_S3", depth=10, width=8, sample_size=32, sample_duration=16)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, model, epoch=1)
    return path


def test_predict_writes_maps_overlay_with_sound_and_summary(media_dir, checkpoint, tmp_path, capsys):
    video = media_dir / "park.mp4"
    out = tmp_path / "pred"
    status = main(["predict", str(video), "--out", str(out), "--checkpoint", str(checkpoint), "--quiet"])
    assert status == 0
    frames = read_frames(video)
    with np.load(out / "maps.npz") as z:
        maps, fps = z["maps"], float(z["fps"])
    assert maps.dtype == np.uint8 and maps.shape == frames.shape[:3]  # one map per frame, video size
    assert fps == pytest.approx(probe_video(video).fps)
    overlay = probe_video(out / "overlay.mp4")
    assert overlay.has_audio  # the original sound is in the overlay
    assert (overlay.width, overlay.height) == (frames.shape[2], frames.shape[1])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == len(frames)
    assert summary["fps"] == pytest.approx(fps)
    assert summary["seconds"] > 0 and summary["device"] == "cpu"
    assert summary["checkpoint"] == str(checkpoint)
    assert "overlay.mp4" in capsys.readouterr().out


def test_predict_without_checkpoint_says_how_to_get_one(tmp_path, monkeypatch, capsys, media_dir):
    monkeypatch.setenv("STAVIS_HOME", str(tmp_path / "empty_home"))
    status = main(["predict", str(media_dir / "park.mp4"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status != 0
    assert "no checkpoint" in err and "python -m stavis_lib demo" in err and "--checkpoint" in err
    assert not (tmp_path / "o" / "maps.npz").exists()


def test_predict_uses_the_newest_demo_checkpoint(tmp_path, monkeypatch, checkpoint):
    home = tmp_path / "home"
    older, newer = home / "demo" / "audiovisual" / "last.pt", home / "other" / "audiovisual" / "last.pt"
    for path in (older, newer):
        path.parent.mkdir(parents=True)
        path.write_bytes(checkpoint.read_bytes())
        (path.parent.parent / DEMO_MARKER).write_text(json.dumps({"checkpoints": {"audiovisual": str(path)}}))
    os.utime(older, (1_000_000_000, 1_000_000_000))
    monkeypatch.setenv("STAVIS_HOME", str(home))
    assert find_demo_checkpoint("audiovisual") == newer
    assert find_demo_checkpoint("visual") is None
    (home / "stray").mkdir()
    (home / "stray" / "audiovisual").mkdir()
    (home / "stray" / "audiovisual" / "best.pt").write_bytes(b"not a demo run")  # no demo.json: ignored
    assert find_demo_checkpoint("audiovisual") == newer


def test_predict_missing_video_is_a_clear_error(checkpoint, tmp_path, capsys):
    status = main(["predict", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "o"), "--checkpoint", str(checkpoint)])
    assert status == 2
    assert "nope.mp4" in capsys.readouterr().err


def test_dispatch_help_and_unknown_subcommand(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for name in ("demo", "synth", "import-diem", "train", "evaluate", "predict"):
        assert name in text
    assert main(["frobnicate"]) == 2
    assert "unknown sub-command" in capsys.readouterr().err
    assert main(["predict", "--help"]) == 0
    assert "--checkpoint" in capsys.readouterr().out


@pytest.mark.parametrize("sub", ["synth", "train", "evaluate", "demo", "import-diem"])
def test_every_subcommand_has_help(sub, capsys):
    assert main([sub, "--help"]) == 0
    assert f"python -m stavis_lib {sub}" in capsys.readouterr().out


def test_python_dash_m_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "stavis_lib", "predict", "x.mp4", "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "STAVIS_HOME": str(tmp_path)})
    assert proc.returncode == 2
    assert "python -m stavis_lib demo" in proc.stderr


def test_demo_verdict_needs_a_gain_that_shuffled_sound_loses():
    from stavis_lib.demo import _verdict

    def rows(visual, av, other):
        return [{"method": "visual-only (stage 1)", "nss": visual[0], "cc": visual[1]},
                {"method": "audio-visual L3mul_S3 (stage 2)", "nss": av[0], "cc": av[1]},
                {"method": "audio-visual, shuffled sound (other video's)", "nss": other[0], "cc": other[1]}]

    assert _verdict(rows((4.0, 0.5), (5.0, 0.6), (3.5, 0.4)))[0]          # gain, all lost
    assert _verdict(rows((4.0, 0.5), (5.0, 0.6), (4.4, 0.5)))[0]          # 60 % of the gain lost
    assert not _verdict(rows((4.0, 0.5), (5.0, 0.6), (4.8, 0.58)))[0]     # sound barely matters
    assert not _verdict(rows((4.0, 0.5), (3.9, 0.6), (3.0, 0.4)))[0]      # no NSS gain
    assert not _verdict(rows((4.0, 0.5), (5.0, 0.6), (3.0, 0.4))[:2])[0]  # incomplete table



def _raise_user_error(argv):
    from stavis_lib.errors import UserError

    raise UserError(f"clip {argv[0]} is not a video\nsecond line of the hint")


def test_user_errors_are_one_line_with_status_2_and_debug_shows_the_traceback(monkeypatch, capsys):
    import stavis_lib.cli as cli
    from stavis_lib.data.media import MediaError
    from stavis_lib.errors import UserError

    assert issubclass(MediaError, UserError)
    monkeypatch.setitem(cli.COMMANDS, "boom", (__name__, "_raise_user_error", "test"))
    status = main(["boom", "x.mp4"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.strip() == "error: clip x.mp4 is not a video second line of the hint"
    with pytest.raises(UserError):
        main(["--debug", "boom", "x.mp4"])


def test_an_unwritable_output_is_one_line_naming_the_file(monkeypatch, capsys, tmp_path):
    import stavis_lib.cli as cli

    target = tmp_path / "out.txt"
    monkeypatch.setitem(cli.COMMANDS, "write", (__name__, "_write_into_missing_folder", "test"))
    status = main(["write", str(target)])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert err.startswith("error: ") and "missing_folder" in err and "No such file" in err


def _write_into_missing_folder(argv):
    Path(argv[0]).with_name("missing_folder").joinpath("x").write_text("x")


def test_every_advertised_sub_command_dispatches(capsys):
    import stavis_lib.cli as cli

    assert "download" in cli.COMMANDS
    for name in cli.COMMANDS:
        assert main([name, "--help"]) == 0, name
        assert "usage: python -m stavis_lib " + name in capsys.readouterr().out
