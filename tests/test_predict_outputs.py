"""``python -m stavis_lib predict``: the three output files are a unit, the user's files are never
overwritten, and every bad option or output folder is one line naming it (exit status 2)."""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from stavis_lib.cli import main
from stavis_lib.model import build_model
from stavis_lib.data import media
from stavis_lib.model.checkpoints import save_checkpoint

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = ("maps.npz", "overlay.mp4", "summary.json")


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    """A tiny audio-visual checkpoint and two tiny videos with sound (64x48, 1 s, 10 fps)."""
    root = tmp_path_factory.mktemp("material")
    torch.manual_seed(0)
    checkpoint = root / "tiny.pt"
    save_checkpoint(checkpoint, build_model("L3mul_S3", depth=10, width=8, sample_size=32, sample_duration=16),
                    epoch=1)
    videos = []
    for name, pattern in (("a.mp4", "testsrc"), ("b.mp4", "rgbtestsrc")):
        path = root / name
        subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y",
                        "-f", "lavfi", "-i", f"{pattern}=size=64x48:rate=10:duration=1",
                        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=1",
                        "-c:v", "libx264", "-c:a", "aac", "-shortest", str(path)], check=True)
        videos.append(path)
    return checkpoint, videos[0], videos[1]


def _predict(video, out, checkpoint, *extra) -> int:
    return main(["predict", str(video), "--out", str(out), "--checkpoint", str(checkpoint), "--quiet",
                 "--device", "cpu", *extra])


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def _no_leftovers(parent: Path) -> None:
    hidden = [p.name for p in parent.iterdir() if p.name.startswith(".")]
    assert hidden == [], f"temporary files left behind: {hidden}"


def test_a_second_run_replaces_the_whole_set(material, tmp_path, capsys):
    checkpoint, a, b = material
    out = tmp_path / "out"
    assert _predict(a, out, checkpoint) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    (out / "notes.txt").write_text("mine")                  # a file of the user's: left alone
    capsys.readouterr()
    assert _predict(b, out, checkpoint, "--no-overlay") == 0
    printed = capsys.readouterr().out
    assert "overlay.mp4" not in printed                      # not listed ...
    assert not (out / "overlay.mp4").exists()                # ... and the one of video a is gone
    assert (out / "notes.txt").read_text() == "mine"
    assert '"video": "' + str(b) in (out / "summary.json").read_text()
    _no_leftovers(tmp_path)


_INTERRUPT = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from stavis_lib.cli import main

    real = np.lib.format.write_array_header_2_0

    def header_then_ctrl_c(*args, **kwargs):  # Ctrl-C arrives while maps.npz is being written
        real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)

    np.lib.format.write_array_header_2_0 = header_then_ctrl_c
    # Python's own Ctrl-C handler, also when the suite runs as a background job (which starts
    # with SIGINT ignored, so that Python would not install it)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main(sys.argv[1:]))
""")


def test_ctrl_c_while_writing_the_maps_keeps_the_old_set(material, tmp_path):
    checkpoint, a, b = material
    out = tmp_path / "out"
    assert _predict(a, out, checkpoint) == 0
    before = _snapshot(out)
    proc = subprocess.run([sys.executable, "-c", _INTERRUPT, "predict", str(b), "--out", str(out),
                           "--checkpoint", str(checkpoint), "--quiet", "--device", "cpu"],
                          capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 130, proc.stderr
    assert _snapshot(out) == before
    _no_leftovers(tmp_path)
    _no_leftovers(out)


def test_ctrl_c_on_a_first_run_leaves_nothing(material, tmp_path):
    checkpoint, a, _ = material
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", _INTERRUPT, "predict", str(a), "--out", str(out),
                           "--checkpoint", str(checkpoint), "--quiet", "--device", "cpu"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 130
    assert not out.exists() or not any(out.iterdir())
    _no_leftovers(tmp_path)


def test_the_input_video_is_never_overwritten(material, tmp_path, capsys):
    checkpoint, a, _ = material
    out = tmp_path / "x"
    out.mkdir()
    video = out / "overlay.mp4"
    shutil.copy(a, video)
    original = video.read_bytes()
    assert _predict(video, out, checkpoint) == 2
    err = _one_error_line(capsys)
    assert "--out" in err and "overwrite the input" in err and "overlay.mp4" in err
    assert video.read_bytes() == original
    assert sorted(p.name for p in out.iterdir()) == ["overlay.mp4"]


def test_a_second_run_into_a_locked_folder_is_refused(material, tmp_path, capsys):
    checkpoint, a, b = material
    out = tmp_path / "out"
    assert _predict(a, out, checkpoint) == 0
    before = _snapshot(out)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:  # the lock of a run that is still going (process `holder`)
        (tmp_path / ".out.lock").write_text(f"{holder.pid}\n")
        assert _predict(b, out, checkpoint) == 2
        err = _one_error_line(capsys)
        assert "--out" in err and "another run" in err and str(holder.pid) in err
        assert _snapshot(out) == before
    finally:
        holder.kill()
        holder.wait()
    # the same lock left by a process that has ended is taken over, with its staging folder
    (tmp_path / ".out.abc123.partial").mkdir()
    (tmp_path / ".out.abc123.partial" / "maps.npz").write_bytes(b"half")
    assert _predict(b, out, checkpoint) == 0
    assert _snapshot(out) != before
    _no_leftovers(tmp_path)


def test_a_full_disk_keeps_the_old_set(material, tmp_path, capsys, monkeypatch):
    import stavis_lib.inference.writers as writers

    checkpoint, a, b = material
    out = tmp_path / "out"
    assert _predict(a, out, checkpoint) == 0
    before = _snapshot(out)

    def full_disk(self, saliency):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))

    monkeypatch.setattr(writers.MapsWriter, "add", full_disk)
    assert _predict(b, out, checkpoint) == 2
    err = _one_error_line(capsys)
    assert "--out" in err and "No space left on device" in err and "previous results are kept" in err
    assert _snapshot(out) == before
    _no_leftovers(tmp_path)


def test_a_read_only_output_folder_is_one_line(material, tmp_path, capsys, monkeypatch):
    checkpoint, a, _ = material
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    if os.geteuid() == 0:  # root ignores permission bits: make the folder refuse as a read-only one would
        import stavis_lib.inference.writers as writers

        def refuse(*args, **kwargs):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(parent))

        monkeypatch.setattr(writers.tempfile, "mkdtemp", refuse)
    try:
        assert _predict(a, parent / "out", checkpoint) == 2
        err = _one_error_line(capsys)
        assert "--out" in err and "Permission denied" in err and str(parent) in err
        assert not (parent / "out").exists()
        _no_leftovers(parent)
    finally:
        parent.chmod(0o755)


def test_an_output_folder_that_is_a_file(material, tmp_path, capsys):
    checkpoint, a, _ = material
    target = tmp_path / "results"
    target.write_text("keep me")
    assert _predict(a, target, checkpoint) == 2
    assert "is a file" in _one_error_line(capsys)
    assert target.read_text() == "keep me"


@pytest.mark.parametrize("option,value,words", [
    ("--batch-size", "0", "at least 1"),
    ("--threads", "0", "at least 1"),
    ("--dtype", "float16", "not supported on CPU"),
    ("--device", "nonsense", "not a device"),
])
def test_bad_options_are_one_line_naming_the_option(material, tmp_path, capsys, option, value, words):
    checkpoint, a, _ = material
    assert _predict(a, tmp_path / "out", checkpoint, option, value) == 2
    err = _one_error_line(capsys)
    assert option in err and words in err
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_cuda_is_one_line(material, tmp_path, capsys):
    checkpoint, a, _ = material
    assert _predict(a, tmp_path / "out", checkpoint, "--device", "cuda") == 2
    err = _one_error_line(capsys)
    assert "--device cuda" in err and "CUDA is not available" in err


def test_a_folder_without_videos(material, tmp_path, capsys):
    checkpoint, _, _ = material
    (tmp_path / "notes.txt").write_text("not a video")
    assert _predict(tmp_path, tmp_path / "out", checkpoint) == 2      # a folder is a corpus: its videos
    assert f"{tmp_path}: no video files in this folder" in _one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_a_video_name_with_a_colon(material, tmp_path, monkeypatch):
    checkpoint, a, _ = material
    monkeypatch.chdir(tmp_path)
    shutil.copy(a, tmp_path / "clip:1.mp4")
    assert _predict("clip:1.mp4", "out:1", checkpoint) == 0
    with np.load(tmp_path / "out:1" / "maps.npz") as z:
        assert z["maps"].shape == (10, 48, 64)
    assert media.probe_video(tmp_path / "out:1" / "overlay.mp4").has_audio
