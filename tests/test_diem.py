"""Raw DIEM gaze -> maps and the leave-one-out human baseline (diem.py), on the real arctic_bears files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stavis_lib.cli.data import import_diem_main
from stavis_lib.data.diem import (
    DiemFormatError,
    DiemGaze,
    combine_eyes,
    diem_frame_count,
    leave_one_out_nss,
    load_diem_gaze,
    parse_video_name,
    read_diem_file,
)
from stavis_lib.data.layout import ReleaseLayout
from stavis_lib.data.maps import dense_map, fixation_pixels, read_gaze_npz

VIDEO = "arctic_bears_1066x710"


@pytest.fixture(scope="module")
def gaze_dir(diem_gaze_root: Path) -> Path:
    path = diem_gaze_root / VIDEO
    if not path.is_dir():
        pytest.skip(f"DIEM gaze files not found at {path}")
    return path


@pytest.fixture(scope="module")
def gaze(gaze_dir: Path) -> DiemGaze:
    return load_diem_gaze(gaze_dir)


def test_parse_video_name():
    assert parse_video_name("/x/arctic_bears_1066x710") == (VIDEO, 1066, 710)
    assert parse_video_name("diem5s01.asc_15_arctic_bears_1066x710.txt") == (VIDEO, 1066, 710)
    with pytest.raises(DiemFormatError, match="no_size_here"):
        parse_video_name("no_size_here")


def test_real_files_parsing_facts(gaze_dir: Path, gaze: DiemGaze):
    assert len(list(gaze_dir.glob("*.txt"))) == 49
    assert len(gaze.viewers) == 49 and gaze.viewers[0] == "diem5s01"
    assert (gaze.width, gaze.height, gaze.n_frames) == (1066, 710, 2785)
    rows = read_diem_file(gaze_dir / "diem5s01.asc_15_arctic_bears_1066x710.txt")
    assert rows.shape == (2785, 9)
    # first row of the file: 1 647.4 503.8 1506.0 1 633.9 446.2 1793.0 1 (both eyes fixate: averaged)
    np.testing.assert_allclose(rows[0], [1, 647.4, 503.8, 1506.0, 1, 633.9, 446.2, 1793.0, 1])
    assert gaze.x[0, 0] == pytest.approx((647.4 + 633.9) / 2) and gaze.y[0, 0] == pytest.approx((503.8 + 446.2) / 2)
    valid = np.isfinite(gaze.x)
    assert np.array_equal(valid, np.isfinite(gaze.y))
    assert 0.7 < valid.mean() < 0.95  # saccades, blinks and losses are dropped


def test_frame_count_from_files_is_fast(gaze_dir: Path):
    assert diem_frame_count(gaze_dir) == 2785


def test_combine_eyes_rules():
    #                 frame Lx  Ly Lp Lev  Rx  Ry Rp Rev
    rows = np.array([[1, 10, 20, 0, 1, 30, 40, 0, 1],  # both fixate: mean
                     [2, 10, 20, 0, 1, 30, 40, 0, -1],  # right lost: left
                     [3, 10, 20, 0, -1, 30, 40, 0, 1],  # left lost: right
                     [4, 10, 20, 0, 2, 30, 40, 0, 1],  # left saccade vetoes
                     [5, 10, 20, 0, 1, 30, 40, 0, 0],  # right blink vetoes
                     [6, 10, 20, 0, -1, 30, 40, 0, -1]], float)  # both lost
    x, y = combine_eyes(rows)
    np.testing.assert_array_equal(x, [20, 10, 30, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(y, [30, 20, 40, np.nan, np.nan, np.nan])
    xl, _ = combine_eyes(rows, "left")
    np.testing.assert_array_equal(xl, [10, 10, np.nan, np.nan, 10, np.nan])
    with pytest.raises(ValueError):
        combine_eyes(rows, "cyclops")


@pytest.mark.parametrize(
    "line, message",
    [
        ("3\t1\t2\t3\t1\t4\t5\t6", "line 3: expected 9 fields"),
        ("3\t1\tx\t3\t1\t4\t5\t6\t1", "line 3: non-numeric"),
        ("3\t1\t2\t3\t7\t4\t5\t6\t1", "line 3: event code"),
        ("2\t1\t2\t3\t1\t4\t5\t6\t1", "line 3: frame 2 does not increase"),
        ("3.5\t1\t2\t3\t1\t4\t5\t6\t1", "line 3: frame number"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path: Path, line: str, message: str):
    folder = tmp_path / "clip_64x48"
    folder.mkdir()
    bad = folder / "s01.asc_1_clip_64x48.txt"
    bad.write_text("1\t1\t2\t3\t1\t4\t5\t6\t1\r\n2\t1\t2\t3\t1\t4\t5\t6\t1\r\n" + line + "\r\n")
    with pytest.raises(DiemFormatError) as info:
        load_diem_gaze(folder)
    assert str(bad) in str(info.value) and message in str(info.value)


def test_missing_folder_and_empty_file(tmp_path: Path):
    with pytest.raises(DiemFormatError, match="not found"):
        load_diem_gaze(tmp_path / "nothing_10x10")
    folder = tmp_path / "clip_10x10"
    folder.mkdir()
    with pytest.raises(DiemFormatError, match="no DIEM gaze files"):
        load_diem_gaze(folder)
    (folder / "s.asc_1_clip_10x10.txt").write_text("\n\n")
    with pytest.raises(DiemFormatError, match="no gaze rows"):
        load_diem_gaze(folder)


def _brute_force_loo(gaze: DiemGaze, t: int, sigma: float) -> float:
    """Definition: each viewer scored by NSS on the rendered dense map of the others."""
    px = fixation_pixels(gaze.points(t), gaze.height, gaze.width)
    scores = []
    for v in range(len(px)):
        others = np.delete(px, v, axis=0)
        fix = np.zeros((gaze.height, gaze.width), bool)
        fix[others[:, 0], others[:, 1]] = True
        d = dense_map(fix, sigma).astype(np.float64)
        scores.append((d[px[v, 0], px[v, 1]] - d.mean()) / d.std())
    return float(np.mean(scores))


def test_leave_one_out_nss_matches_definition(gaze: DiemGaze):
    small = DiemGaze(gaze.video, gaze.width, gaze.height, gaze.viewers[:12], gaze.x[:12, :400], gaze.y[:12, :400])
    nss = leave_one_out_nss(small, 32.0)
    for t in (0, 399):
        assert nss[t] == pytest.approx(_brute_force_loo(small, t, 32.0), rel=1e-4)


def test_leave_one_out_nss_hand_case():
    # two viewers 100 px apart on a 64x200 frame, sigma 5: each scores the other's Gaussian at ~0
    x = np.array([[50.5], [150.5]], np.float32)
    y = np.array([[32.5], [32.5]], np.float32)
    g = DiemGaze("toy", 200, 64, ["a", "b"], x, y)
    nss = leave_one_out_nss(g, 5.0)[0]
    # others' map: one Gaussian of mass 2*pi*25 over 12800 pixels -> its mean; the value at 100 px is 0
    mass = 2 * np.pi * 25
    mean = mass / 12800
    second = np.pi * 25 / 12800  # mean of g^2: integral of exp(-d^2/sigma^2) = pi sigma^2
    assert nss == pytest.approx(-mean / np.sqrt(second - mean**2), rel=1e-3)
    lone = DiemGaze("toy", 200, 64, ["a", "b"], np.array([[50.5], [np.nan]], np.float32), y)
    assert np.isnan(leave_one_out_nss(lone, 5.0)[0])


def test_subset_import_writes_layout(gaze_dir: Path, tmp_path: Path, capsys):
    rc = import_diem_main([str(gaze_dir), "--out", str(tmp_path), "--frames", "12", "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "12 frames at 1066x710, 49 viewers" in out and "leave-one-out human NSS" in out
    layout = ReleaseLayout(tmp_path)
    assert not layout.eyemap_path("DIEM", VIDEO, 13).exists()
    gaze = load_diem_gaze(gaze_dir, n_frames=12)
    for index in (1, 12):
        fix = layout.read_fixations("DIEM", VIDEO, index)
        assert fix.shape == (710, 1066)
        np.testing.assert_array_equal(fix, gaze.fixations(index - 1))
        dense = layout.read_dense("DIEM", VIDEO, index)
        np.testing.assert_allclose(dense, dense_map(fix, 0.03 * 1066), atol=0.03)
    saved = read_gaze_npz(tmp_path / "gaze" / "DIEM" / f"{VIDEO}.npz")
    assert saved["x"].shape == (49, 12) and float(saved["sigma"]) == pytest.approx(31.98)
    np.testing.assert_array_equal(saved["x"], gaze.x)
    assert np.all(np.isfinite(saved["loo_nss"])) and 1.0 < np.nanmean(saved["loo_nss"]) < 15.0


def test_cli_size_override_and_errors(gaze_dir: Path, tmp_path: Path, capsys):
    assert import_diem_main([str(gaze_dir), "--out", str(tmp_path), "--frames", "2", "--size", "533x355", "--quiet",
                             "--sigma", "16"]) == 0
    assert ReleaseLayout(tmp_path).read_fixations("DIEM", VIDEO, 1).shape == (355, 533)
    bad = tmp_path / "broken_10x10"
    bad.mkdir()
    (bad / "s.asc_1_broken_10x10.txt").write_text("1 2 3\n")
    with pytest.raises(DiemFormatError, match="line 1"):
        import_diem_main([str(bad), "--out", str(tmp_path), "--quiet"])
    from stavis_lib.cli import main as cli

    assert cli(["import-diem", str(bad), "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "line 1" in err and len(err.strip().splitlines()) == 1
    assert cli(["import-diem", str(gaze_dir), "--out", str(tmp_path), "--frames", "0"]) == 2
    assert "--frames 0" in capsys.readouterr().err
