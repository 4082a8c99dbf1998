"""Corpus prediction: ``predict`` over several videos, a folder, a glob or a list writes one output
set per video and a manifest, resumes, records a failing video and carries on, and shards the list
over the processes of ``torchrun``."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stavis_lib.cli import main
from stavis_lib.data import media
from stavis_lib.inference import corpus
from stavis_lib.inference.corpus import predict_corpus
from stavis_lib.inference.corpus_inputs import CorpusInputError, expand_inputs, is_corpus, output_names
from stavis_lib.model import build_model
from stavis_lib.model.checkpoints import load_checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[1]


def _ffmpeg(*args: str) -> None:
    subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def material(tmp_path_factory, media_dir):
    """A tiny audio-visual checkpoint; four tiny videos with sound (0.6 s at 10 fps): two synthetic,
    two cut from the real clips of ``assets/media``; and a text file named ``.mp4``."""
    root = tmp_path_factory.mktemp("corpus")
    torch.manual_seed(0)
    checkpoint = root / "tiny.pt"
    save_checkpoint(checkpoint, build_model("L3mul_S3", depth=10, width=8, sample_size=32), epoch=1)
    videos = root / "videos"
    videos.mkdir()
    for name, pattern in (("a.mp4", "testsrc"), ("b.mp4", "rgbtestsrc")):
        _ffmpeg("-f", "lavfi", "-i", f"{pattern}=size=48x32:rate=10:duration=0.6", "-f", "lavfi",
                "-i", "sine=frequency=440:sample_rate=22050:duration=0.6", "-c:v", "libx264", "-c:a", "aac",
                "-shortest", str(videos / name))
    for name, clip in (("park.mp4", "park.mp4"), ("speech.mkv", "obama_speech.mp4")):
        _ffmpeg("-i", str(media_dir / clip), "-t", "0.6", "-vf", "scale=48:32,fps=10", "-c:v", "libx264",
                "-c:a", "aac", str(videos / name))
    broken = root / "broken.mp4"
    broken.write_text("this is a text file, not a video\n")
    return checkpoint, sorted(videos.iterdir()), broken


def _manifest(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _predict(inputs, out, checkpoint, *extra) -> int:
    return main(["predict", *map(str, inputs), "--out", str(out), "--checkpoint", str(checkpoint), "--quiet",
                 "--device", "cpu", "--no-overlay", *extra])


class _Counter:
    """Stands in for ``predict_video`` in ``inference.corpus`` and records which videos it was asked for."""

    def __init__(self, monkeypatch):
        self.videos: list[str] = []
        real = corpus.predict_video

        def counted(video, *args, **kwargs):
            self.videos.append(Path(video).name)
            return real(video, *args, **kwargs)

        monkeypatch.setattr(corpus, "predict_video", counted)


# ----------------------------------------------------------------------------------------
# Inputs and folder names (no model)
# ----------------------------------------------------------------------------------------


def test_files_folders_globs_and_lists_expand_in_order_each_video_once(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    for name in ("b.mp4", "a.MOV", "notes.txt", "c.avi"):
        (folder / name).write_bytes(b"x")
    other = tmp_path / "other.webm"
    other.write_bytes(b"x")
    listing = tmp_path / "list.txt"
    listing.write_text("# videos\n\nother.webm\nclips/c.avi\n")
    assert expand_inputs([folder]) == [folder / "a.MOV", folder / "b.mp4", folder / "c.avi"]  # .txt is not a video
    assert expand_inputs([str(tmp_path / "clips" / "*.mp4")]) == [folder / "b.mp4"]
    assert expand_inputs([str(tmp_path / "**" / "*.avi")]) == [folder / "c.avi"]
    assert expand_inputs([listing, folder / "b.mp4", folder]) == [
        other, folder / "c.avi", folder / "b.mp4", folder / "a.MOV"]
    assert is_corpus([folder]) and is_corpus([listing]) and is_corpus([other, other])
    assert is_corpus([str(folder / "*.mp4")]) and not is_corpus([other]) and not is_corpus([tmp_path / "none.mp4"])


@pytest.mark.parametrize("item, message", [
    ("missing.mp4", "missing.mp4: no such file or folder"),
    ("*.mkv", "no file matches this pattern"),
    ("empty", "no video files in this folder"),
    ("bad.txt", "bad.txt line 2: gone.mp4: no such file or folder"),
    ("nested.txt", "a list inside a list"),
])
def test_inputs_that_name_nothing_are_one_line_errors(tmp_path, item, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "ok.mp4").write_bytes(b"x")
    (tmp_path / "bad.txt").write_text("ok.mp4\ngone.mp4\n")
    (tmp_path / "nested.txt").write_text("bad.txt\n")
    with pytest.raises(CorpusInputError, match=message.replace("*", r"\*")):
        expand_inputs([str(tmp_path / item)])


def test_folder_names_are_the_stems_and_colliding_stems_get_a_path_digest():
    videos = [Path("/x/clip.mp4"), Path("/y/clip.mp4"), Path("/y/Clip.avi"), Path("/y/solo.mp4"),
              Path("/y/manifest.csv.mp4")]
    names = output_names(videos)
    assert names[3] == "solo"
    assert len(set(names)) == 5 and all(n.startswith(v.stem + "-") for n, v in zip(names, videos) if n != "solo")
    assert names[4] != "manifest.csv"                                       # never the manifest's name
    assert output_names(list(reversed(videos))) == list(reversed(names))   # independent of the order


# ----------------------------------------------------------------------------------------
# The command line and the Python API
# ----------------------------------------------------------------------------------------


def test_a_folder_and_a_broken_video_one_set_per_video_failure_recorded_exit_1(material, tmp_path, capsys):
    checkpoint, videos, broken = material
    folder = videos[0].parent
    out = tmp_path / "out"
    status = main(["predict", str(folder), str(broken), "--out", str(out), "--checkpoint", str(checkpoint),
                   "--quiet", "--device", "cpu"])
    assert status == 1                                                     # a video failed ...
    rows = _manifest(out)
    assert [r["video"] for r in rows] == [str(v) for v in videos] + [str(broken)]
    assert [r["status"] for r in rows] == ["ok"] * 4 + ["failed"]          # ... and the others were done
    assert "broken.mp4" in rows[-1]["error"] and rows[-1]["frames"] == ""
    for row, video in zip(rows[:4], videos):
        assert row["output"] == video.stem and row["error"] == ""
        assert sorted(p.name for p in (out / video.stem).iterdir()) == ["maps.npz", "overlay.mp4", "summary.json"]
        with np.load(out / video.stem / "maps.npz") as npz:
            assert npz["maps"].shape == (int(row["frames"]), 32, 48) and float(npz["fps"]) == float(row["fps"])
        assert json.loads((out / video.stem / "summary.json").read_text())["video"] == str(video)
    assert not (out / "broken").exists()
    assert [p.name for p in out.iterdir() if p.name.startswith(".") or p.name.startswith("manifest.part")] == []
    printed = capsys.readouterr()
    assert "5 videos: 4 predicted, 0 done before (skipped), 1 failed" in printed.out
    assert f"failed: {broken}" in printed.err


def test_a_rerun_skips_done_videos_and_redoes_an_incomplete_or_failed_one(material, tmp_path, monkeypatch, capsys):
    checkpoint, videos, broken = material
    out = tmp_path / "out"
    assert _predict(videos[:3], out, checkpoint) == 0
    first = _manifest(out)
    (out / videos[1].stem / "maps.npz").unlink()                           # an incomplete set
    counter = _Counter(monkeypatch)
    assert _predict(videos, out, checkpoint) == 0                          # one more video in the list
    assert counter.videos == [videos[1].name, videos[3].name]
    rows = _manifest(out)
    assert [r["video"] for r in rows] == [str(v) for v in videos]
    assert rows[0] == first[0] and rows[2] == first[2]                     # the rows of skipped videos carried over
    assert "4 videos: 2 predicted, 2 done before (skipped), 0 failed" in capsys.readouterr().out
    counter.videos.clear()
    assert _predict([videos[0].with_suffix(".*")], out, checkpoint, "--no-resume") == 0  # a glob: a corpus of one
    assert counter.videos == [videos[0].name]
    assert [r["video"] for r in _manifest(out)] == [str(v) for v in videos]  # the other rows are kept
    counter.videos.clear()
    assert _predict([videos[2].with_suffix(".*")], out, checkpoint, "--map-size", "model") == 0  # other maps
    assert counter.videos == [videos[2].name]


def test_the_stride_reaches_every_video_and_a_new_stride_redoes_them(material, tmp_path, monkeypatch):
    checkpoint, videos, broken = material
    out = tmp_path / "out"
    assert _predict(videos[:2], out, checkpoint, "--stride", "3") == 0
    for video in videos[:2]:
        summary = json.loads((out / video.stem / "summary.json").read_text())
        frames = summary["n_frames"] if "n_frames" in summary else summary["frames"]
        assert summary["stride"] == 3 and summary["windows"] == len(range(0, frames, 3)) + ((frames - 1) % 3 != 0)
    counter = _Counter(monkeypatch)
    assert _predict(videos[:2], out, checkpoint, "--stride", "3") == 0     # same stride: nothing to do
    assert counter.videos == []
    assert _predict(videos[:2], out, checkpoint) == 0                      # stride 1 gives other maps
    assert counter.videos == [videos[0].name, videos[1].name]


def test_an_interrupted_run_resumes_from_its_part_manifest(material, tmp_path, monkeypatch):
    checkpoint, videos, _ = material
    out = tmp_path / "out"
    real = corpus.predict_video
    calls = []

    def interrupted(video, *args, **kwargs):
        calls.append(video)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(video, *args, **kwargs)

    monkeypatch.setattr(corpus, "predict_video", interrupted)
    assert _predict(videos[:2], out, checkpoint) == 130
    assert not (out / "manifest.csv").exists() and (out / "manifest.part-0.csv").is_file()
    counter = _Counter(monkeypatch)
    assert _predict(videos[:2], out, checkpoint) == 0
    assert counter.videos == [videos[1].name]
    assert [r["status"] for r in _manifest(out)] == ["ok", "ok"] and not (out / "manifest.part-0.csv").exists()


def test_python_api_takes_a_list_and_returns_the_manifest_rows(material, tmp_path):
    checkpoint, videos, _ = material
    listing = tmp_path / "videos.txt"
    listing.write_text("\n".join(os.path.relpath(v, tmp_path) for v in videos[:2]) + "\n")
    model, _ = load_checkpoint(checkpoint)
    result = predict_corpus([listing], tmp_path / "out", model, overlay=False, progress=False, device="cpu",
                            batch_size=8)
    assert [row.video for row in result.rows] == [str(v) for v in videos[:2]]
    assert [row.status for row in result.rows] == ["ok", "ok"] and result.failed == [] and result.skipped == []
    assert all(row.frames == 6 and row.fps == 10.0 and row.seconds > 0 for row in result.rows)
    assert result.manifest == tmp_path / "out" / "manifest.csv" and len(_manifest(tmp_path / "out")) == 2
    again = predict_corpus([listing], tmp_path / "out", model, overlay=False, progress=False, device="cpu",
                           batch_size=4)                                   # a speed option may change
    assert again.skipped == [str(v) for v in videos[:2]] and again.rows == result.rows


def test_one_video_keeps_the_single_video_layout(material, tmp_path):
    checkpoint, videos, _ = material
    assert _predict([videos[0]], tmp_path / "out", checkpoint) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["maps.npz", "summary.json"]


def test_an_unusable_corpus_input_is_one_error_line(material, tmp_path, capsys):
    checkpoint, videos, _ = material
    assert _predict([videos[0], tmp_path / "gone.mp4"], tmp_path / "out", checkpoint) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tmp_path / 'gone.mp4'}: no such file or folder"
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------
# torchrun: two processes on the CPU
# ----------------------------------------------------------------------------------------


def test_torchrun_two_processes_share_the_list_and_merge_one_manifest(material, tmp_path):
    checkpoint, videos, _ = material
    listing = tmp_path / "videos.txt"
    listing.write_text("\n".join(map(str, videos)) + "\n")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "stavis_lib", "predict", str(listing), "--out", str(out), "--checkpoint", str(checkpoint),
         "--device", "cpu", "--quiet", "--no-overlay", "--threads", "1"],
        env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _manifest(out)
    assert sorted(r["video"] for r in rows) == sorted(map(str, videos))  # each video exactly once
    assert {r["status"] for r in rows} == {"ok"}
    assert sorted(out.glob("manifest.part-*")) == []
    for i, video in enumerate(videos):
        summary = json.loads((out / video.stem / "summary.json").read_text())
        assert (out / video.stem / "maps.npz").is_file()
        assert summary["corpus_process"] == {"rank": i % 2, "world_size": 2}  # rank r took videos r, r+2
    assert done.stdout.count("4 videos: 4 predicted") == 1                 # rank 0 reports
