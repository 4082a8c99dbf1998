"""Bad input to the data sub-commands (import-diem, synth) is refused in one line (exit status 2)
before anything large is allocated or written."""
from __future__ import annotations

from pathlib import Path

import pytest

from stavis_lib.cli import data as data_cli
from stavis_lib.cli import main as cli
from stavis_lib.data import diem, synthetic

ROW = "{f} 10.0 20.0 1000.0 1 12.0 22.0 1000.0 1\n"


def _gaze_folder(tmp_path: Path, name: str, frames: list[int]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / f"s01.asc_1_{name}.txt").write_text("".join(ROW.format(f=f) for f in frames))
    return folder


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    return err


def test_import_diem_zero_size_in_the_name(tmp_path, capsys):
    folder = _gaze_folder(tmp_path, "clip_0x0", [1, 2, 3])
    assert cli(["import-diem", str(folder), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = _one_error_line(capsys)
    assert "clip_0x0" in err and "0x0" in err and f"1..{diem.MAX_SIDE}" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("frames, line", [([1, 2, 30000000], 3),        # past MAX_FRAMES
                                           ([1, 2, 3, 4003, 4004], 4)])  # a jump of 4000 frames
def test_import_diem_frame_number_typo_names_file_and_line(tmp_path, capsys, frames, line):
    folder = _gaze_folder(tmp_path, "clip_64x48", frames)
    assert cli(["import-diem", str(folder), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = _one_error_line(capsys)
    assert f"s01.asc_1_clip_64x48.txt line {line}" in err and "typo" in err
    assert not (tmp_path / "out").exists()


def test_import_diem_size_and_frames_options_are_bounded(tmp_path, capsys):
    folder = _gaze_folder(tmp_path, "clip_64x48", [1, 2, 3])
    assert cli(["import-diem", str(folder), "--out", str(tmp_path / "o"), "--size", "99999x10", "--quiet"]) == 2
    assert "99999x10" in _one_error_line(capsys)
    assert cli(["import-diem", str(folder), "--out", str(tmp_path / "o"), "--frames", "999999999", "--quiet"]) == 2
    assert "--frames 999999999" in _one_error_line(capsys)
    # a sane file imports
    assert cli(["import-diem", str(folder), "--out", str(tmp_path / "o"), "--quiet"]) == 0


def test_synth_zero_viewers_is_an_error(tmp_path, capsys):
    assert cli(["synth", str(tmp_path / "s"), "--videos", "3", "--viewers", "0", "--quiet"]) == 2
    assert "--viewers 0" in _one_error_line(capsys)
    assert not (tmp_path / "s").exists()


def test_synth_refuses_absurd_video_counts_unless_forced(tmp_path, capsys, monkeypatch):
    n = synthetic.MAX_VIDEOS + 1
    assert cli(["synth", str(tmp_path / "s"), "--videos", str(n), "--quiet"]) == 2
    err = _one_error_line(capsys)
    assert f"--videos {n}" in err and "--force" in err and "GB" in err
    assert not (tmp_path / "s").exists()
    calls = {}
    monkeypatch.setattr(data_cli, "generate_benchmark", lambda out, **kw: calls.update(kw) or Path(out))
    assert cli(["synth", str(tmp_path / "s"), "--videos", str(n), "--force", "--quiet"]) == 0
    assert calls["n_videos"] == n
    assert cli(["synth", str(tmp_path / "s"), "--videos", "2", "--quiet"]) == 2
    assert "--videos 2" in _one_error_line(capsys)


def test_synth_prints_an_estimate(tmp_path, capsys):
    assert cli(["synth", str(tmp_path / "s"), "--videos", "3", "--size", "32x24", "--viewers", "2",
                "--no-mp4", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "estimate" in out and "MB" in out
    est = synthetic.estimate_benchmark(3, synthetic.SyntheticConfig(width=32, height=24, n_viewers=2,
                                                                     write_mp4=False))
    written = sum(f.stat().st_size for f in (tmp_path / "s").rglob("*") if f.is_file())
    assert est.bytes / 4 < written < est.bytes * 4          # the estimate has the right order of magnitude
