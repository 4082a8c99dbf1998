"""The official release layout: every real fold list parses; writers and readers round-trip;
bad data raises LayoutError naming the file."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.io import loadmat, savemat, wavfile

from stavis_lib.data.layout import (LayoutError, ReleaseLayout, VideoEntry, read_fold_list_file,
                                    write_fold_list_file)

CV_DATABASES = ("AVAD", "Coutrot_db1", "Coutrot_db2", "ETMD_av", "SumMe")
# test-list sizes of splits 1..3 counted in the files (`wc -l`)
TEST_SIZES = {"AVAD": (15, 15, 15), "Coutrot_db1": (20, 20, 20), "Coutrot_db2": (5, 5, 5),
              "ETMD_av": (4, 4, 4), "SumMe": (8, 7, 8)}


def test_every_real_fold_list_parses(data_dir):
    layout = ReleaseLayout(data_dir)
    files = sorted((data_dir / "fold_lists").glob("*_fps.txt"))
    assert len(files) == 32  # 5 databases x 2 kinds x 3 splits + DIEM train/test
    seen = set()
    for db in CV_DATABASES:
        for split in (1, 2, 3):
            for kind in ("train", "test"):
                path = layout.fold_list_path(db, kind, split)
                seen.add(path)
                entries = layout.read_fold_list(db, kind, split, check=False)
                assert entries == read_fold_list_file(path)
                assert all(e.n_frames > 0 and 5 < e.fps < 61 for e in entries)
            assert len(layout.read_fold_list(db, "test", split, check=False)) == TEST_SIZES[db][split - 1]
    for kind, size in (("train", 64), ("test", 17)):
        path = layout.fold_list_path("DIEM", kind, None)
        seen.add(path)
        assert len(layout.read_fold_list("DIEM", kind, None, check=False)) == size
        # DIEM has one standard split: asking for split k falls back to it
        assert layout.read_fold_list("DIEM", kind, 2, check=False) == read_fold_list_file(path)
    assert seen == set(files)


def test_known_fold_list_lines(data_dir):
    layout = ReleaseLayout(data_dir)
    avad = layout.read_fold_list("AVAD", "test", 1, check=False)
    assert avad[0] == VideoEntry("V32_Dancers", 202, 28.666571)
    summe = {e.name: e for e in layout.read_fold_list("SumMe", "test", 2, check=False)}
    assert summe["Cooking"] == VideoEntry("Cooking", 1279, 14.999850)
    diem = layout.read_fold_list("DIEM", "test", None, check=False)
    assert diem[5] == VideoEntry("advert_iphone_1272x720", 898, 29.9997)


def test_paths_follow_the_release():
    layout = ReleaseLayout("/data")
    assert str(layout.frame_path("AVAD", "V1", 7)) == "/data/video_frames/AVAD/V1/img_00007.jpg"
    assert str(layout.audio_path("AVAD", "V1")) == "/data/video_audio/AVAD/V1/V1.wav"
    assert str(layout.eyemap_path("AVAD", "V1", 12)) == "/data/annotations/AVAD/V1/maps/eyeMap_00012.jpg"
    assert str(layout.fixmap_path("AVAD", "V1", 12)) == "/data/annotations/AVAD/V1/fixMap_00012.mat"
    assert str(layout.fold_list_path("AVAD", "train", 3)) == "/data/fold_lists/AVAD_list_train_3_fps.txt"
    assert str(layout.fold_list_path("DIEM", "test", None)) == "/data/fold_lists/DIEM_list_test_fps.txt"
    with pytest.raises(ValueError, match="kind"):
        layout.fold_list_path("AVAD", "val", 1)


def _small_video(layout, db="DB", video="vid", n=4, h=12, w=16):
    frames = [np.full((h, w, 3), 40 * i, np.uint8) for i in range(n)]
    assert layout.write_frames(db, video, frames) == n
    yy, xx = np.mgrid[0:h, 0:w]
    dense = [np.exp(-((xx - 2 * i) ** 2 + (yy - i) ** 2) / 20.0).astype(np.float32) for i in range(n)]
    fix = [np.zeros((h, w), bool) for _ in range(n)]
    for i, f in enumerate(fix):
        f[i, 2 * i] = True
    assert layout.write_maps(db, video, dense, fix) == n
    return frames, dense, fix


def test_round_trip(tmp_path):
    layout = ReleaseLayout(tmp_path)
    frames, dense, fix = _small_video(layout)
    assert layout.count_frames("DB", "vid") == 4
    assert layout.databases() == ["DB"] and layout.videos("DB") == ["vid"]
    assert np.abs(layout.read_frame("DB", "vid", 3).astype(int) - 80).max() <= 2  # JPEG of a flat frame
    for i in range(4):
        assert np.abs(layout.read_dense("DB", "vid", i + 1) - dense[i]).max() <= 0.03  # smooth map through JPEG q95
        np.testing.assert_array_equal(layout.read_fixations("DB", "vid", i + 1), fix[i])
    mat = loadmat(layout.fixmap_path("DB", "vid", 2))
    assert "eyeMap" in mat and mat["eyeMap"].shape == (12, 16)

    entries = [VideoEntry("vid", 4, 29.97003), VideoEntry("other", 10, 25.0)]
    path = layout.write_fold_list("DB", "train", 1, entries)
    assert path.read_text().splitlines() == ["vid 4 29.970030", "other 10 25.000000"]
    assert layout.read_fold_list("DB", "train", 1, check=False) == [
        VideoEntry("vid", 4, 29.97003), VideoEntry("other", 10, 25.0)]


def test_audio_round_trip_and_scale(tmp_path):
    layout = ReleaseLayout(tmp_path)
    wave = np.array([0.0, 1.0, -1.0, 255.9, -256.0, 300.0], np.float32)  # SoundNet scale
    path = layout.write_audio("DB", "vid", wave, 22050)
    rate, raw = wavfile.read(path)
    assert rate == 22050 and raw.dtype == np.int16
    np.testing.assert_array_equal(raw, [0, 128, -128, 32755, -32768, 32767])  # *128, clipped
    back, rate = layout.read_audio("DB", "vid")
    np.testing.assert_allclose(back, [0, 1, -1, 255.8984375, -256, 255.9921875])
    # stereo 16-bit is averaged; 32-bit float is scaled by 256
    wavfile.write(path, 16000, np.array([[128, 384], [-256, 0]], np.int16))
    back, rate = layout.read_audio("DB", "vid")
    assert rate == 16000
    np.testing.assert_allclose(back, [2.0, -1.0])
    wavfile.write(path, 8000, np.array([0.5, -0.25], np.float32))
    np.testing.assert_allclose(layout.read_audio("DB", "vid")[0], [128.0, -64.0])


def test_missing_eyemap_names_the_file(tmp_path):
    layout = ReleaseLayout(tmp_path)
    _small_video(layout)
    layout.eyemap_path("DB", "vid", 3).unlink()
    with pytest.raises(LayoutError, match=r"eyeMap_00003\.jpg.*missing eyeMap"):
        layout.read_dense("DB", "vid", 3)
    layout.fixmap_path("DB", "vid", 2).unlink()
    with pytest.raises(LayoutError, match=r"fixMap_00002\.mat"):
        layout.read_fixations("DB", "vid", 2)


def test_fixation_file_without_eyemap_key(tmp_path):
    layout = ReleaseLayout(tmp_path)
    _small_video(layout)
    savemat(layout.fixmap_path("DB", "vid", 1), {"fixations": np.zeros((2, 2))})
    with pytest.raises(LayoutError, match=r"fixMap_00001\.mat.*no 'eyeMap'"):
        layout.read_fixations("DB", "vid", 1)


def test_fold_list_naming_a_missing_video(tmp_path):
    layout = ReleaseLayout(tmp_path)
    _small_video(layout)
    layout.write_fold_list("DB", "test", 1, [VideoEntry("vid", 4, 25.0), VideoEntry("ghost", 9, 25.0)])
    with pytest.raises(LayoutError, match=r"DB_list_test_1_fps\.txt.*'ghost' is missing"):
        layout.read_fold_list("DB", "test", 1)


def test_frame_count_mismatch(tmp_path):
    layout = ReleaseLayout(tmp_path)
    _small_video(layout)
    layout.write_fold_list("DB", "train", 2, [VideoEntry("vid", 5, 25.0)])
    with pytest.raises(LayoutError, match=r"DB_list_train_2_fps\.txt.*mismatch.*says 5.*has 4"):
        layout.read_fold_list("DB", "train", 2)


@pytest.mark.parametrize("line,problem", [
    ("clip1 100", "expected 'name nframes fps'"),
    ("clip1 1x0 25.0", "integer"),
    ("clip1 100 fast", "integer"),
    ("clip1 0 25.0", "positive"),
    ("clip1 10 -25", "positive"),
])
def test_malformed_fold_list_line(tmp_path, line, problem):
    path = tmp_path / "X_list_test_1_fps.txt"
    path.write_text(f"good 10 25.0\n\n{line}\n")
    with pytest.raises(LayoutError, match=rf"X_list_test_1_fps\.txt line 3: .*{problem}"):
        read_fold_list_file(path)


def test_duplicate_and_missing_fold_list(tmp_path):
    path = tmp_path / "dup.txt"
    path.write_text("a 10 25\na 11 25\n")
    with pytest.raises(LayoutError, match=r"dup\.txt line 2.*twice"):
        read_fold_list_file(path)
    with pytest.raises(LayoutError, match=r"nothere\.txt: fold list not found"):
        read_fold_list_file(tmp_path / "nothere.txt")
    with pytest.raises(LayoutError, match="whitespace"):
        write_fold_list_file(tmp_path / "bad.txt", [VideoEntry("a b", 1, 25.0)])
