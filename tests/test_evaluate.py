"""Evaluation over splits: tables, baselines, human LOO, prediction files, audio test, CLI."""
from __future__ import annotations

import math
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from stavis_lib import evaluate as E
from stavis_lib import metrics as M
from stavis_lib.cli import evaluate as evaluate_cli
from stavis_lib.cli import main as cli
from stavis_lib.errors import UserError
from stavis_lib.evaluate.baselines import gaze_sigma
from stavis_lib.evaluate.truth import load_gaze


# --------------------------------------------------------------------------- pure helpers
def _frame_table(rows) -> pd.DataFrame:
    frames = pd.DataFrame(rows, columns=["dataset", "split", "video", "frame", "nss"])
    frames.insert(0, "method", "m")
    for k in M.METRICS:
        if k != "nss":
            frames[k] = 0.5
    return frames


# D1, split 1: video a NSS [1, NaN, 3] -> 2 (1 NaN frame skipped), video b [4] -> 4; split mean 3.
# D1, split 2: videos c [5] -> 5, a [9] -> 9 (a is in both test lists), e [2] -> 2; split mean 16/3.
# DIEM, split 1: x [1] -> 1, y [3] -> 3; split 2: z [6] -> 6.
AVERAGING_ROWS = [("D1", 1, "a", 1, 1.0), ("D1", 1, "a", 2, np.nan), ("D1", 1, "a", 3, 3.0), ("D1", 1, "b", 1, 4.0),
                  ("D1", 2, "c", 1, 5.0), ("D1", 2, "a", 1, 9.0), ("D1", 2, "e", 1, 2.0),
                  ("DIEM", 1, "x", 1, 1.0), ("DIEM", 1, "y", 1, 3.0), ("DIEM", 2, "z", 1, 6.0)]
#: averaging -> (D1, DIEM, ALL) NSS, by hand:
#: pooled: D1 (2 + 4 + 5 + 9 + 2) / 5 = 4.4 (video a counts once per split it is tested in;
#: once per distinct video would give 4.125); DIEM (1 + 3 + 6) / 3 = 10/3.
#: split_means: D1 (3 + 16/3) / 2 = 25/6; DIEM (2 + 6) / 2 = 4.
#: official: D1 pooled 4.4, DIEM split means 4; ALL = mean over the datasets.
AVERAGING_EXPECTED = {
    "pooled": (4.4, 10 / 3, (4.4 + 10 / 3) / 2),
    "split_means": (25 / 6, 4.0, (25 / 6 + 4.0) / 2),
    "official": (4.4, 4.0, 4.2),
}


def test_summarize_video_and_split_means():
    videos, splits, _ = E.summarize(_frame_table(AVERAGING_ROWS))
    va = videos[(videos.video == "a") & (videos.split == 1)].iloc[0]
    assert va.nss == pytest.approx(2.0) and va.n_frames == 3 and va.n_nan_frames == 1
    s = splits.set_index(["dataset", "split"])
    assert s.loc[("D1", 1), "nss"] == pytest.approx(3.0) and s.loc[("D1", 2), "nss"] == pytest.approx(16 / 3)
    assert s.loc[("D1", 2), "n_videos"] == 3


@pytest.mark.parametrize("averaging", sorted(AVERAGING_EXPECTED))
def test_summarize_averaging_rules(averaging):
    _, _, datasets = E.summarize(_frame_table(AVERAGING_ROWS), averaging)
    d = datasets.set_index("dataset")
    d1, diem, overall = AVERAGING_EXPECTED[averaging]
    assert d.loc["D1", "nss"] == pytest.approx(d1, abs=1e-12)
    assert d.loc["DIEM", "nss"] == pytest.approx(diem, abs=1e-12)
    assert d.loc["ALL", "nss"] == pytest.approx(overall, abs=1e-12)
    assert d.loc["D1", "n_videos"] == 5 and d.loc["D1", "n_splits"] == 2 and d.loc["ALL", "n_videos"] == 8
    rule = {"official": ("pooled", "split_means")}.get(averaging, (averaging, averaging))
    assert (d.loc["D1", "averaging"], d.loc["DIEM", "averaging"]) == rule


def test_summarize_rejects_an_unknown_rule():
    with pytest.raises(UserError, match="averaging='mean'"):
        E.summarize(_frame_table(AVERAGING_ROWS), "mean")


def test_markdown_table_format():
    df = pd.DataFrame({"method": ["a", "b"], "nss": [1.23456, float("nan")]})
    md = M.markdown_table(df, digits=2)
    assert md.splitlines() == ["| method | nss |", "|---|---:|", "| a | 1.23 |", "| b | – |"]
    df["auc_shuffled"] = [0.5, 0.25]
    assert M.markdown_table(df, labels=True).splitlines()[:2] == ["| method | NSS ↑ | sAUC ↑ |", "|---|---:|---:|"]


def test_centre_bias_map_shape_and_values():
    m = E.centre_bias_map((20, 40), sigma=0.25)
    assert m.shape == (20, 40) and m.dtype == np.float32
    # pixel centres symmetric about the middle: the four central pixels share the maximum
    assert m[9, 19] == pytest.approx(m[10, 20]) == pytest.approx(m.max())
    # std along x = 0.25 * 40 = 10 px; the image centre is x = 20, pixel c has its centre at c + 0.5:
    # column 30 is 10.5 px away, column 20 is 0.5 px away -> ratio exp(-(10.5^2 - 0.5^2) / (2 * 10^2)) = exp(-0.55)
    row = m[10]
    assert row[30] / row[20] == pytest.approx(math.exp(-0.55), rel=1e-5)
    # std along y = 0.25 * 20 = 5 px: row 15 is 5.5 px away, row 10 is 0.5 px -> exp(-(5.5^2 - 0.5^2) / 50) = exp(-0.6)
    assert m[15, 20] / m[10, 20] == pytest.approx(math.exp(-0.6), rel=1e-5)
    np.testing.assert_allclose(m, m[::-1, ::-1], atol=1e-7)


def test_other_audio_assignment_is_a_deterministic_derangement():
    videos = ["v3", "v1", "v2", "v0"]
    a = E.other_audio_assignment(videos)
    assert a == {"v0": "v1", "v1": "v2", "v2": "v3", "v3": "v0"}
    assert all(k != v for k, v in a.items()) and sorted(a.values()) == sorted(videos)
    assert E.other_audio_assignment(list(reversed(videos))) == a
    with pytest.raises(ValueError, match="two videos"):
        E.other_audio_assignment(["only"])


def test_mean_gt_map_averages_training_frames(tmp_path):
    from stavis_lib.data.layout import ReleaseLayout, VideoEntry

    layout = ReleaseLayout(tmp_path)
    left = np.zeros((8, 16), np.float32); left[:, :8] = 1      # 8x8 blocks: JPEG keeps flat blocks exact
    right = 1 - left
    full = np.ones((8, 16), np.float32)
    fix = np.zeros((8, 16), bool); fix[0, 0] = True
    layout.write_maps("D", "a", [left, left], [fix, fix])
    layout.write_maps("D", "b", [right, full], [fix, fix])
    entries = [VideoEntry("a", 2, 25.0), VideoEntry("b", 2, 25.0)]
    # stride 1: left half = (1+1+0+1)/4 = .75, right = (0+0+1+1)/4 = .5 -> peak-normalised 1 and 2/3
    m = E.mean_gt_map(layout, "D", entries, stride=1)
    np.testing.assert_allclose(m[:, :8], 1.0, atol=0.01)
    np.testing.assert_allclose(m[:, 8:], 2 / 3, atol=0.01)
    # stride 2: frame 1 of each video only: left .5, right .5 -> all 1
    np.testing.assert_allclose(E.mean_gt_map(layout, "D", entries, stride=2), 1.0, atol=0.01)
    assert E.mean_gt_map(layout, "D", [], stride=1) is None


def test_human_loo_scores_hand_case():
    size = (20, 20)
    sigma = 2.0
    # frame 0: 3 viewers on pixel (row 10, col 10); frame 1: one viewer only -> NaN
    # frame 1's fixation (row 0, col 0) is frame 0's only shuffled negative
    fix_index = [np.array([10 * 20 + 10]), np.array([0])]
    truth = E.VideoTruth("D", "v", 2, 25.0, size, fix_index, read_dense=lambda t: np.zeros(size, np.float32))
    gx = np.array([[10.5, 3.2], [10.4, np.nan], [10.9, np.nan]])
    gy = np.array([[10.5, 4.0], [10.2, np.nan], [10.1, np.nan]])
    out = E.human_loo_scores(gx, gy, truth, 0, 2, sigma)
    # every LOO map is the Gaussian centred on (10,10), whose peak is the held-out pixel:
    r, c = np.mgrid[:20, :20]
    g = np.exp(-((r - 10) ** 2 + (c - 10) ** 2) / (2 * sigma ** 2))
    assert out["nss"][0] == pytest.approx((1 - g.mean()) / g.std(ddof=1), rel=1e-5)
    assert out["auc_judd"][0] == pytest.approx(1.0, abs=1e-9)      # the peak is above every other pixel
    assert out["auc_shuffled"][0] == pytest.approx(1.0)                     # peak vs the (0,0) negative
    assert all(math.isnan(out[k][1]) for k in ("nss", "auc_judd", "auc_shuffled"))
    assert all(np.isnan(out[k]).all() for k in ("cc", "sim", "kld"))


def test_video_truth_negatives_follow_the_staVis_rule():
    size = (2, 2)
    fix_index = [np.array([0]), np.array([0, 3]), np.array([1])]     # flat indices of fixated pixels
    truth = E.VideoTruth("D", "v", 3, 25.0, size, fix_index, read_dense=lambda t: np.zeros(size))
    fix = truth.fixations(0, 3)
    np.testing.assert_array_equal(truth.negatives(0, 3), M.shuffled_negatives(fix))
    # frame 1: other frames fixate {0, 1}; minus own {0, 3} -> {1}
    assert truth.negatives(1, 2)[0].ravel().tolist() == [False, True, False, False]


def test_save_predictions_official_names_and_npz(tmp_path):
    maps = np.random.default_rng(0).random((3, 16, 16)).astype(np.float32) * 0.5 + 0.2
    paths = E.save_predictions(maps, tmp_path, "D", "vid", 25.0)
    names = sorted(p.name for p in (tmp_path / "D" / "vid").iterdir())
    assert names == ["pred_sal_000001.jpg", "pred_sal_000002.jpg", "pred_sal_000003.jpg"]
    with np.load(tmp_path / "D" / "vid.npz") as z:
        u8, fps, numbers = z["maps"], float(z["fps"]), z["frames"]
    assert u8.dtype == np.uint8 and u8.shape == (3, 16, 16) and fps == 25.0 and numbers.tolist() == [1, 2, 3]
    mm = (maps - maps.min((1, 2), keepdims=True)) / np.ptp(maps, axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(u8 / 255.0, mm, atol=0.5 / 255 + 1e-6)
    jpg = np.asarray(Image.open(tmp_path / "D" / "vid" / "pred_sal_000002.jpg"))
    assert jpg.shape == (16, 16) and np.abs(jpg.astype(int) - u8[1]).mean() < 4
    assert len(paths) == 4


# --------------------------------------------------------------------------- whole evaluations
def test_baselines_tables_and_plots(synth_root, tmp_path):
    out = tmp_path / "eval"
    r = E.evaluate_split(synth_root, "Synthetic", [1, 2, 3], None, out_dir=out, progress=False)
    for f in ("frames.csv", "videos.csv", "splits.csv", "datasets.csv", "tables.md"):
        assert (out / f).is_file()
    assert len(list((out / "plots" / "Synthetic").glob("*_split*.png"))) == 6
    methods = set(r.frames.method)
    assert methods == {E.CENTRE, E.MEAN_GT, E.HUMAN}
    from stavis_lib.data.layout import ReleaseLayout

    n_frames = sum(e.n_frames for k in (1, 2, 3) for e in ReleaseLayout(synth_root).read_fold_list("Synthetic", "test", k))
    assert len(r.frames) == 3 * n_frames
    # the tables are consistent with the per-frame scores: mean over frames, then (official rule
    # for a dataset other than DIEM) one mean over the test videos of the three splits
    f = r.frames[r.frames.method == E.CENTRE]
    per_video = f.groupby(["split", "video"]).nss.mean()
    row = r.datasets[(r.datasets.method == E.CENTRE) & (r.datasets.dataset == "Synthetic")].iloc[0]
    assert row.nss == pytest.approx(per_video.mean()) and row.averaging == "pooled" and row.n_videos == 6
    # humans predict each other far better than the centre prior on this data
    d = r.datasets.set_index(["method", "dataset"])
    assert d.loc[(E.HUMAN, "Synthetic"), "nss"] > d.loc[(E.CENTRE, "Synthetic"), "nss"] + 1
    assert math.isnan(d.loc[(E.HUMAN, "Synthetic"), "cc"])
    assert "| centre bias | Synthetic |" in (out / "tables.md").read_text()
    reread = pd.read_csv(out / "frames.csv")
    assert list(reread.columns[:5]) == ["method", "dataset", "split", "video", "frame"]


def test_single_standard_split_is_scored_once(synth_root, tmp_path):
    root = tmp_path / "std"
    (root / "fold_lists").mkdir(parents=True)
    for sub in ("video_frames", "video_audio", "annotations"):
        os.symlink(synth_root / sub, root / sub)
    for kind in ("train", "test"):
        shutil.copy(synth_root / "fold_lists" / f"Synthetic_list_{kind}_1_fps.txt",
                    root / "fold_lists" / f"Synthetic_list_{kind}_fps.txt")
    r = E.evaluate_split(root, "Synthetic", [1, 2, 3], None, human=False, progress=False, max_frames=4)
    assert set(r.frames.split) == {0} and r.splits.n_videos.tolist() == [2, 2]


def test_model_evaluation_saves_predictions(synth_root, tiny_av, tmp_path):
    out = tmp_path / "model"
    r = E.evaluate_split(synth_root, "Synthetic", 1, tiny_av, name="tiny", out_dir=out, human=False,
                         save_jpg=True, save_npz=True, max_frames=8, progress=False, device="cpu")
    tiny = r.frames[r.frames.method == "tiny"]
    assert len(tiny) == 2 * 8 and np.isfinite(tiny[["cc", "nss", "auc_judd", "sim", "kld"]].to_numpy()).all()
    video = tiny.video.iloc[0]
    jpgs = sorted(p.name for p in (out / "predictions" / "Synthetic" / video).iterdir())
    assert jpgs == [f"pred_sal_{f:06d}.jpg" for f in range(1, 9)]
    with np.load(out / "predictions" / "Synthetic" / f"{video}.npz") as z:
        assert z["maps"].shape == (8, 32, 32) and z["maps"].max() == 255 and z["maps"].min() == 0


def test_audio_dependence_report(synth_root, tiny_av, tmp_path):
    table = E.audio_dependence(synth_root, "Synthetic", 1, tiny_av, name="tiny", out_dir=tmp_path,
                               max_frames=8, progress=False, device="cpu")
    syn = table[table.dataset == "Synthetic"].set_index("condition")
    assert list(syn.index) == ["true", "silence", "other", "silence - true", "other - true"]
    for k in M.METRICS:
        assert syn.loc["silence - true", k] == pytest.approx(syn.loc["silence", k] - syn.loc["true", k], abs=1e-12)
        assert syn.loc["other - true", k] == pytest.approx(syn.loc["other", k] - syn.loc["true", k], abs=1e-12)
    # an audio-visual network's output depends on its sound input, even untrained
    assert np.abs(syn.loc[["silence - true", "other - true"], ["cc", "nss"]].to_numpy()).max() > 0
    assert (tmp_path / "audio_dependence.md").is_file() and (tmp_path / "audio_dependence.csv").is_file()
    from stavis_lib.model import build_model

    visual = build_model("visual", depth=10, width=8, sample_size=32).eval()
    with pytest.raises(ValueError, match="does not use audio"):
        E.audio_dependence(synth_root, "Synthetic", 1, visual, max_frames=2, progress=False, device="cpu")


def test_cli_with_checkpoint_and_errors(synth_root, tiny_av, tmp_path, capsys):
    from stavis_lib.model.checkpoints import save_checkpoint

    ckpt = tmp_path / "tiny_1.pth"
    save_checkpoint(ckpt, tiny_av)
    out = tmp_path / "cli"
    rc = evaluate_cli.main([str(synth_root), "--splits", "1", "--checkpoint", str(tmp_path / "tiny_{split}.pth"),
                           "--out", str(out), "--max-frames", "4", "--no-human", "--no-plots", "--quiet",
                           "--device", "cpu", "--save-npz"])
    assert rc == 0
    frames = pd.read_csv(out / "frames.csv")
    assert "L3mul_S3" in set(frames.method)                          # named after the checkpoint's variant
    assert len(list((out / "predictions" / "Synthetic").glob("*.npz"))) == 2
    assert "| L3mul_S3 | Synthetic |" in capsys.readouterr().out


@pytest.mark.parametrize("args, named", [
    (["{missing}"], "nowhere: folder not found"),
    (["{root}", "--splits", "4"], "--splits: a split is 1, 2, 3 or 'std', got '4'"),
    (["{root}", "--splits", "std"], "--splits std:"),
    (["{root}", "--datasets", "AVAD"], "--datasets AVAD: no test fold list"),
    (["{root}", "--checkpoint", "{tmp}/missing_{{split}}.pth"], "missing_1.pth: checkpoint file not found"),
    (["{root}", "--checkpoint", "{tmp}/bad.pth"], "bad.pth"),
    (["{root}", "--max-frames", "0"], "--max-frames must be at least 1"),
    (["{root}", "--audio-test"], "--audio-test needs --checkpoint"),
])
def test_cli_configuration_errors_are_one_line(synth_root, tmp_path, capsys, args, named):
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    argv = [a.format(root=synth_root, missing=tmp_path / "nowhere", tmp=tmp_path) for a in args]
    rc = cli(["evaluate", *argv, "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and named in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert not (tmp_path / "out").exists()       # rejected before any work


def test_cli_averaging_option(synth_root, tmp_path):
    out = tmp_path / "cli"
    assert cli(["evaluate", str(synth_root), "--averaging", "split_means", "--max-frames", "3", "--no-human",
                "--no-plots", "--quiet", "--out", str(out)]) == 0
    d = pd.read_csv(out / "datasets.csv")
    s = pd.read_csv(out / "splits.csv")
    for method in (E.CENTRE, E.MEAN_GT):
        row = d[(d.method == method) & (d.dataset == "Synthetic")].iloc[0]
        assert row.averaging == "split_means"
        assert row.nss == pytest.approx(s[s.method == method].nss.mean())


def test_gaze_file_is_scaled_to_the_ground_truth_size(tmp_path):
    from stavis_lib.data.maps import gaze_path, write_gaze_npz

    # gaze recorded at 200x100 (W x H) with sigma 6 px; the GT maps are 50x100 (H x W): half size
    write_gaze_npz(gaze_path(tmp_path, "D", "v"), np.array([[100.0, np.nan]]), np.array([[40.0, 10.0]]),
                   size=np.array([200, 100]), sigma=np.float64(6.0))
    g = load_gaze(tmp_path, "D", "v", (50, 100))
    assert g["x"][0, 0] == pytest.approx(50.0) and g["y"][0, 0] == pytest.approx(20.0) and np.isnan(g["x"][0, 1])
    assert gaze_sigma(tmp_path, "D", 100, None, g) == pytest.approx(3.0)
    assert gaze_sigma(tmp_path, "D", 100, 7.0, g) == 7.0          # an explicit sigma wins
    assert gaze_sigma(tmp_path, "D", 100, None, None) == pytest.approx(5.0)   # 5 % of the width
    assert load_gaze(tmp_path, "D", "absent", (50, 100)) is None
