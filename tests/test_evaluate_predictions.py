"""Scoring maps saved by any model (``evaluate --predictions``): the same numbers as the checkpoint
path, missing frames, every form of saved maps, and one-line errors for bad input."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from stavis_lib import evaluate as E
from stavis_lib.cli import main as cli
from stavis_lib.errors import UserError
from stavis_lib.evaluate import runner

METRICS = ["cc", "nss", "auc_judd", "auc_shuffled", "sim", "kld"]
FRAMES = 10          # frames scored per video (max_frames): fast, and every saved map is in range
QUIET = dict(progress=False, device="cpu", plots=False, human=False, max_frames=FRAMES)


@pytest.fixture(scope="module")
def checkpoint_run(synth_root, tiny_av, tmp_path_factory):
    """The checkpoint path on split 1, saving its maps as JPEGs and npz: (result, predictions folder)."""
    out = tmp_path_factory.mktemp("ckpt")
    r = E.evaluate_split(synth_root, "Synthetic", 1, tiny_av, name="tiny", out_dir=out, save_jpg=True,
                         save_npz=True, **QUIET)
    return r, out / "predictions"


def _model_rows(table: pd.DataFrame, keys=("split", "video")) -> pd.DataFrame:
    return table[table.method == "tiny"].set_index(list(keys))[METRICS].sort_index()


def _copy(src, dst, keep=("jpg", "npz")):
    """A copy of a predictions folder with only the given forms."""
    shutil.copytree(src, dst, ignore=lambda d, names: [n for n in names if
                                                       (n.endswith(".npz") and "npz" not in keep) or
                                                       (n.endswith(".jpg") and "jpg" not in keep)])
    return dst


# --------------------------------------------------------------------------- same numbers as the checkpoint path
def test_npz_scores_equal_the_checkpoint_path_on_uint8_maps(synth_root, tiny_av, checkpoint_run, monkeypatch):
    """The npz holds round(255 m) of the model's min-max maps m. Scored as saved predictions they give
    exactly the checkpoint path's numbers when that path is fed the same uint8 quantisation."""
    _, preds = checkpoint_run
    saved = E.evaluate_predictions(synth_root, preds, "Synthetic", 1, name="tiny", fmt="npz", **QUIET)
    predict = runner.predict_conditions

    def quantised(*args, **kw):
        return {k: np.round(255 * m).astype(np.uint8).astype(np.float32) / 255 for k, m in predict(*args, **kw).items()}

    monkeypatch.setattr(runner, "predict_conditions", quantised)
    ckpt_u8 = E.evaluate_split(synth_root, "Synthetic", 1, tiny_av, name="tiny", **QUIET)
    pd.testing.assert_frame_equal(_model_rows(saved.frames, ["video", "frame"]),
                                  _model_rows(ckpt_u8.frames, ["video", "frame"]), atol=1e-9, rtol=0)
    # the reference lines do not depend on where the model's maps come from
    ref = [x[x.method != "tiny"].set_index(["method", "dataset"])[METRICS] for x in (saved.datasets, ckpt_u8.datasets)]
    pd.testing.assert_frame_equal(*ref)


@pytest.mark.parametrize("fmt", ["npz", "jpg"])
def test_saved_maps_score_like_the_checkpoint_within_rounding(synth_root, checkpoint_run, fmt):
    """Against the unquantised checkpoint run: the npz maps differ by at most 0.5/255 per pixel, the
    JPEGs (quality 95) by a few grey levels, and the sigma-2 blur averages that further. Measured on
    this data, per-video means: npz <= 1.1e-4 and JPEG <= 8.7e-4 in CC, NSS, AUC-J, SIM and KLD
    (tolerance 2e-3); sAUC npz 8.3e-4, JPEG 2.5e-3 (tolerance 5e-3), larger because a frame has at
    most 5 fixated pixels, so one positive overtaking one negative pixel is a visible step."""
    ckpt, preds = checkpoint_run
    r = E.evaluate_predictions(synth_root, preds, "Synthetic", 1, name="tiny", fmt=fmt, **QUIET)
    tol = pd.Series(2e-3, index=METRICS).where(lambda t: t.index != "auc_shuffled", 5e-3)
    for table in ("videos", "datasets"):
        keys = ("split", "video") if table == "videos" else ("dataset",)
        diff = (_model_rows(getattr(r, table), keys) - _model_rows(getattr(ckpt, table), keys)).abs()
        assert (diff.max() < tol).all(), diff
    assert "missing" in r.frames.columns and not r.frames.missing.any()
    assert r.videos.n_missing_frames.tolist() == [0] * len(r.videos)


def test_ground_truth_as_predictions_scores_perfect_cc_at_any_size(synth_root, tmp_path):
    """The dense GT maps saved as predictions (float npz, no post-processing) give CC = SIM = 1 and
    KLD = 0; the same maps at twice the size are resized to the GT size by the post-processing."""
    from stavis_lib.data.layout import ReleaseLayout

    layout = ReleaseLayout(synth_root)
    for e in layout.read_fold_list("Synthetic", "test", 1):
        gt = np.stack([np.asarray(layout.read_dense("Synthetic", e.name, t), np.float32) for t in range(1, FRAMES + 1)])
        (tmp_path / "gt" / "Synthetic").mkdir(parents=True, exist_ok=True)
        np.savez(tmp_path / "gt" / "Synthetic" / f"{e.name}.npz", maps=gt)
        (tmp_path / "big" / "Synthetic").mkdir(parents=True, exist_ok=True)
        np.savez(tmp_path / "big" / "Synthetic" / f"{e.name}.npz", maps=gt.repeat(2, 1).repeat(2, 2))
    r = E.evaluate_predictions(synth_root, tmp_path / "gt", "Synthetic", 1, postprocess=False, baselines=False,
                               **QUIET)
    own = r.frames[r.frames.method == "gt"]
    assert len(own) == 2 * FRAMES
    np.testing.assert_allclose(own.cc, 1.0, atol=1e-6)
    np.testing.assert_allclose(own.sim, 1.0, atol=1e-6)
    np.testing.assert_allclose(own.kld, 0.0, atol=1e-5)
    big = E.evaluate_predictions(synth_root, tmp_path / "big", "Synthetic", 1, baselines=False, **QUIET)
    assert (big.frames[big.frames.method == "big"].cc > 0.9).all()


def test_mp4_of_maps_scores_like_the_npz(synth_root, checkpoint_run, tmp_path):
    """A grayscale H.264 video of the saved maps (decoded frame i = frame i + 1) scores like the npz
    within the video codec's rounding (crf 18: a few grey levels, 2e-2 on per-video means)."""
    from stavis_lib.data.media import write_video

    _, preds = checkpoint_run
    for npz in (preds / "Synthetic").glob("*.npz"):
        with np.load(npz) as z:
            write_video(tmp_path / "mp4" / "Synthetic" / f"{npz.stem}.mp4", list(z["maps"]), fps=25.0)
    mp4 = E.evaluate_predictions(synth_root, tmp_path / "mp4", "Synthetic", 1, name="tiny", **QUIET)
    npz = E.evaluate_predictions(synth_root, preds, "Synthetic", 1, name="tiny", fmt="npz", **QUIET)
    assert (_model_rows(mp4.videos) - _model_rows(npz.videos)).abs().to_numpy().max() < 2e-2


# --------------------------------------------------------------------------- missing frames
@pytest.fixture()
def gap_preds(checkpoint_run, tmp_path):
    """The JPEG predictions without frames 1-3 of the first test video (like the official code's
    first frames): (folder, that video's name)."""
    _, preds = checkpoint_run
    folder = _copy(preds, tmp_path / "gap", keep=("jpg",))
    video = sorted(p.name for p in (folder / "Synthetic").iterdir())[0]
    for f in (1, 2, 3):
        (folder / "Synthetic" / video / f"pred_sal_{f:06d}.jpg").unlink()
    return folder, video


def test_missing_frames_skipped_and_counted(synth_root, checkpoint_run, gap_preds):
    folder, video = gap_preds
    full = E.evaluate_predictions(synth_root, checkpoint_run[1], "Synthetic", 1, name="tiny", fmt="jpg", **QUIET)
    with pytest.warns(E.MissingPredictionsWarning, match=rf"3 of the {2 * FRAMES} frames to score in 1 of 2 videos .*"
                                                         rf"left out .* Synthetic/{video} frames 1-3"):
        r = E.evaluate_predictions(synth_root, folder, "Synthetic", 1, name="tiny", **QUIET)
    f = r.frames[(r.frames.method == "tiny") & (r.frames.video == video)].set_index("frame")
    assert f.missing.tolist() == [True] * 3 + [False] * (FRAMES - 3)
    assert f.loc[[1, 2, 3], METRICS].isna().all().all()
    # the video's mean is the mean of the complete run's frames 4..n
    ff = full.frames[(full.frames.method == "tiny") & (full.frames.video == video)].set_index("frame")
    v = r.videos[(r.videos.method == "tiny")].set_index("video")
    np.testing.assert_allclose(v.loc[video, METRICS].astype(float), ff.loc[4:, METRICS].mean(), atol=1e-12)
    assert v.loc[video, "n_missing_frames"] == 3 and v.loc[video, "n_nan_frames"] == 0
    assert v.n_missing_frames.sum() == 3 and v.loc[video, "n_frames"] == FRAMES
    d = r.datasets.set_index(["method", "dataset"])
    assert d.loc[("tiny", "Synthetic"), "n_missing_frames"] == 3 and d.loc[("tiny", "ALL"), "n_missing_frames"] == 3
    assert d.loc[(E.CENTRE, "Synthetic"), "n_missing_frames"] == 0     # the reference lines score every frame


def test_missing_frames_scored_with_the_centre_map(synth_root, checkpoint_run, tmp_path):
    """``missing="centre"`` gives the scores of a file that holds the centre-bias map in those frames."""
    _, preds = checkpoint_run
    video = sorted(p.stem for p in (preds / "Synthetic").glob("*.npz"))[0]
    with np.load(preds / "Synthetic" / f"{video}.npz") as z:
        maps = z["maps"][:FRAMES].astype(np.float32) / 255
    centre = E.centre_bias_map(maps.shape[1:])
    filled = maps.copy()
    filled[:3] = centre
    for name, arrays in (("gap", dict(maps=maps[3:], frames=np.arange(4, FRAMES + 1))), ("filled", dict(maps=filled))):
        shutil.copytree(preds / "Synthetic", tmp_path / name / "Synthetic", ignore=shutil.ignore_patterns("*.jpg"))
        np.savez(tmp_path / name / "Synthetic" / f"{video}.npz", **arrays)
    with pytest.warns(E.MissingPredictionsWarning, match="centre-bias map"):
        gap = E.evaluate_predictions(synth_root, tmp_path / "gap", "Synthetic", 1, name="m", missing="centre", **QUIET)
    ref = E.evaluate_predictions(synth_root, tmp_path / "filled", "Synthetic", 1, name="m", **QUIET)
    a, b = (x.frames[x.frames.method == "m"].set_index(["video", "frame"]) for x in (gap, ref))
    pd.testing.assert_frame_equal(a[METRICS], b[METRICS], atol=1e-9, rtol=0)
    assert a.missing.sum() == 3 and not b.missing.any()
    assert np.isfinite(a.loc[(video, 1), ["cc", "nss"]].astype(float)).all()


def test_missing_frames_as_an_error(synth_root, gap_preds):
    folder, video = gap_preds
    with pytest.raises(UserError, match=rf"{video}: no map for frames 1-3 \(of 1-{FRAMES}"):
        E.evaluate_predictions(synth_root, folder, "Synthetic", 1, missing="error", **QUIET)


def test_cli_reports_missing_frames_in_one_warning_line(synth_root, gap_preds, tmp_path, capsys):
    folder, video = gap_preds
    out = tmp_path / "out"
    rc = cli(["evaluate", str(synth_root), "--splits", "1", "--predictions", str(folder), "--name", "theirs",
              "--max-frames", str(FRAMES), "--no-human", "--no-plots", "--quiet", "--device", "cpu",
              "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0
    assert captured.err.strip().splitlines() == [
        f"warning: 3 of the {2 * FRAMES} frames to score in 1 of 2 videos have no saved prediction (left out of the "
        f"means; column n_missing_frames of the videos table), e.g. Synthetic/{video} frames 1-3"]
    assert "| theirs | Synthetic | pooled | 1 | 2 | 3 |" in captured.out
    videos = pd.read_csv(out / "videos.csv")
    assert videos.set_index(["method", "video"]).loc[("theirs", video), "n_missing_frames"] == 3
    assert "n_missing_frames" in (out / "tables.md").read_text()


# --------------------------------------------------------------------------- bad input
def _jpg(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)


@pytest.mark.parametrize("case, message", [
    ("no folder", "Synthetic: no predictions for video"),
    ("unreadable", "pred_sal_000002.jpg: cannot read the map image"),
    ("numbered 0", "a map is numbered 0: frames are numbered from 1"),
    ("far beyond", "beyond its end"),
    ("two sizes", "the map of frame 2 is 16x16, the first map is 32x32"),
    ("colour", "pred_sal_000001.jpg: colour map"),
])
def test_bad_jpg_folders_are_one_line_errors(synth_root, checkpoint_run, tmp_path, capsys, case, message):
    folder = _copy(checkpoint_run[1], tmp_path / "p", keep=("jpg",))
    video = sorted(p.name for p in (folder / "Synthetic").iterdir())[0]
    vdir = folder / "Synthetic" / video
    if case == "no folder":
        shutil.rmtree(vdir)
    elif case == "unreadable":
        (vdir / "pred_sal_000002.jpg").write_bytes(b"not a jpeg")
    elif case == "numbered 0":
        shutil.copy(vdir / "pred_sal_000001.jpg", vdir / "pred_sal_000000.jpg")
    elif case == "far beyond":
        shutil.copy(vdir / "pred_sal_000001.jpg", vdir / "pred_sal_000099.jpg")
    elif case == "two sizes":
        _jpg(vdir / "pred_sal_000002.jpg", np.zeros((16, 16)))
    else:
        rgb = np.zeros((32, 32, 3), np.uint8)
        rgb[..., 0] = 200
        _jpg(vdir / "pred_sal_000001.jpg", rgb)
    out = tmp_path / "out"
    rc = cli(["evaluate", str(synth_root), "--splits", "1", "--predictions", str(folder), "--max-frames", str(FRAMES),
              "--no-human", "--no-plots", "--quiet", "--device", "cpu", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert message in err and (video in err or case == "far beyond")
    assert not out.exists()


def test_maps_just_beyond_the_video_are_ignored(synth_root, checkpoint_run, tmp_path):
    """The official test code names maps up to frame n + 7 (a 64-frame video gets pred_sal_000009 to
    pred_sal_000071): such files are ignored; one further is an error."""
    from stavis_lib.data.layout import ReleaseLayout

    folder = _copy(checkpoint_run[1], tmp_path / "p", keep=("jpg",))
    entry = ReleaseLayout(synth_root).read_fold_list("Synthetic", "test", 1)[0]
    vdir = folder / "Synthetic" / entry.name
    shutil.copy(vdir / "pred_sal_000001.jpg", vdir / f"pred_sal_{entry.n_frames + 7:06d}.jpg")
    r = E.evaluate_predictions(synth_root, folder, "Synthetic", 1, **QUIET)
    assert not r.frames.missing.any()
    shutil.copy(vdir / "pred_sal_000001.jpg", vdir / f"pred_sal_{entry.n_frames + 8:06d}.jpg")
    with pytest.raises(UserError, match=f"has {entry.n_frames} frames"):
        E.evaluate_predictions(synth_root, folder, "Synthetic", 1, **QUIET)


@pytest.mark.parametrize("arrays, message", [
    (dict(other=np.zeros((3, 4, 4))), "no array 'maps' (has other)"),
    (dict(maps=np.zeros((3, 4))), "'maps' has shape (3, 4)"),
    (dict(maps=np.full((3, 4, 4), np.nan)), "non-finite"),
    (dict(maps=np.zeros((2, 4, 4)), frames=np.array([1, 1])), "numbers a frame twice"),
])
def test_bad_npz_files_name_the_file(synth_root, checkpoint_run, tmp_path, arrays, message):
    folder = _copy(checkpoint_run[1], tmp_path / "p", keep=("npz",))
    npz = sorted((folder / "Synthetic").glob("*.npz"))[0]
    np.savez(npz, **arrays)
    with pytest.raises(UserError) as info:
        E.evaluate_predictions(synth_root, folder, "Synthetic", 1, **QUIET)
    assert str(info.value).startswith(str(npz)) and message in str(info.value)


@pytest.mark.parametrize("extra, named", [
    (["--checkpoint", "x.pth"], "--predictions: saved maps are scored as they are; --checkpoint needs"),
    (["--audio-test"], "--audio-test needs a checkpoint"),
    (["--save-npz"], "--save-npz needs a checkpoint"),
    (["--audio", "silence"], "--audio needs a checkpoint"),
])
def test_cli_predictions_option_clashes(synth_root, checkpoint_run, tmp_path, capsys, extra, named):
    rc = cli(["evaluate", str(synth_root), "--predictions", str(checkpoint_run[1]), *extra, "--out",
              str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and named in err and len(err.strip().splitlines()) == 1


def test_cli_predictions_folder_not_found(synth_root, tmp_path, capsys):
    rc = cli(["evaluate", str(synth_root), "--predictions", str(tmp_path / "nowhere"), "--quiet"])
    assert rc == 2 and f"--predictions {tmp_path / 'nowhere'}: folder not found" in capsys.readouterr().err


def test_saved_predictions_options_are_checked(tmp_path):
    with pytest.raises(UserError, match="missing='zero'"):
        E.SavedPredictions(tmp_path, missing="zero")
    with pytest.raises(UserError, match="format 'png'"):
        E.SavedPredictions(tmp_path, fmt="png")
