"""splits.py agrees with the real release fold lists, and with Table 6 where the two agree."""
from __future__ import annotations

import pytest

from stavis_lib.data import splits
from stavis_lib.data.layout import ReleaseLayout, read_fold_list_file

CV = ("AVAD", "Coutrot_db1", "Coutrot_db2", "ETMD_av", "SumMe")


def _names(layout, db, kind, split):
    return [e.name for e in layout.read_fold_list(db, kind, split, check=False)]


@pytest.mark.parametrize("db", CV)
@pytest.mark.parametrize("split", (1, 2, 3))
def test_release_source_equals_the_fold_lists(data_dir, db, split):
    layout = ReleaseLayout(data_dir)
    assert splits.get_test_videos(db, split) == _names(layout, db, "test", split)
    assert set(splits.get_train_videos(db, split)) == set(_names(layout, db, "train", split))
    for kind in ("train", "test"):
        for entry in layout.read_fold_list(db, kind, split, check=False):
            assert splits.VIDEOS[db][entry.name] == (entry.n_frames, pytest.approx(entry.fps, abs=1e-6))


def test_release_diem(data_dir):
    layout = ReleaseLayout(data_dir)
    assert splits.get_test_videos("DIEM", None) == _names(layout, "DIEM", "test", None)
    assert set(splits.get_train_videos("DIEM", 2)) == set(_names(layout, "DIEM", "train", None))
    assert len(splits.VIDEOS["DIEM"]) == 81


def test_inventory_covers_every_listed_video(data_dir):
    for path in (data_dir / "fold_lists").glob("*_fps.txt"):
        db = path.name.split("_list_")[0]
        for entry in read_fold_list_file(path):
            assert entry.name in splits.VIDEOS[db], (path.name, entry.name)
    assert {db: len(v) for db, v in splits.VIDEOS.items()} == {
        "AVAD": 45, "Coutrot_db1": 60, "Coutrot_db2": 15, "ETMD_av": 12, "SumMe": 25, "DIEM": 81}


@pytest.mark.parametrize("db", CV)
def test_table6_is_a_partition(db):
    """Paper: every video of the five databases is in the test set of exactly one split."""
    tests = [set(splits.get_test_videos(db, k, source="paper")) for k in (1, 2, 3)]
    assert sum(len(t) for t in tests) == len(set().union(*tests)) == len(splits.VIDEOS[db])
    assert set().union(*tests) == set(splits.VIDEOS[db])


def test_table6_agrees_with_the_lists_where_documented(data_dir):
    layout = ReleaseLayout(data_dir)

    def both(db, k):
        return set(splits.get_test_videos(db, k, "paper")), set(_names(layout, db, "test", k))

    for db in ("Coutrot_db1", "Coutrot_db2"):
        for k in (1, 2, 3):
            paper, release = both(db, k)
            assert paper == release
    # SumMe: equal up to the held-out St_Maarten_Landing (split 2) and Scuba (split 3)
    assert both("SumMe", 1)[0] == both("SumMe", 1)[1]
    for k, held in ((2, "St_Maarten_Landing"), (3, "Scuba")):
        paper, release = both("SumMe", k)
        assert paper - release == {held} and release <= paper
        assert held not in _names(layout, "SumMe", "train", k)
    # AVAD: the documented swaps only
    diffs = {k: (both("AVAD", k)[0] - both("AVAD", k)[1], both("AVAD", k)[1] - both("AVAD", k)[0]) for k in (1, 2, 3)}
    assert diffs[1] == ({"V33_Harp", "V31_Bird"}, {"V3_Speech3", "V39_Guitar4"})
    assert diffs[2] == ({"V34_Beat"}, {"V26_Piano2"})
    assert diffs[3] == ({"V42_Violin2", "V28_Dog1"}, {"V31_Bird", "V34_Beat"})
    # ETMD: 6 of 12 videos are tested in the same split
    agree = sum(len(both("ETMD_av", k)[0] & both("ETMD_av", k)[1]) for k in (1, 2, 3))
    assert agree == 6
    # DIEM: the release's 17 test videos are Table 6's minus three that the release lacks
    paper = set(splits.get_test_videos("DIEM", None, "paper"))
    release = set(_names(layout, "DIEM", "test", None))
    assert release <= paper
    assert paper - release == {"ami_ib4010_closeup", "ami_ib4010_left", "news_tony_blair_resignation"}


def test_write_fold_lists_reproduces_the_release(tmp_path, data_dir):
    written = splits.write_fold_lists(tmp_path)
    assert len(written) == 32
    real = ReleaseLayout(data_dir)
    mine = ReleaseLayout(tmp_path)
    for db in splits.DATASETS:
        for k in ((None,) if db == "DIEM" else (1, 2, 3)):
            for kind in ("train", "test"):
                a = sorted(real.read_fold_list(db, kind, k, check=False), key=lambda e: e.name)
                b = sorted(mine.read_fold_list(db, kind, k, check=False), key=lambda e: e.name)
                assert [(e.name, e.n_frames) for e in a] == [(e.name, e.n_frames) for e in b]
                assert all(abs(x.fps - y.fps) < 1e-6 for x, y in zip(a, b))


def test_train_and_test_are_disjoint_and_paper_lists_usable(tmp_path):
    for source in splits.SOURCES:
        for db in splits.DATASETS:
            for k in (1, 2, 3):
                assert not set(splits.get_train_videos(db, k, source)) & set(splits.get_test_videos(db, k, source))
    written = splits.write_fold_lists(tmp_path, ("AVAD",), source="paper")
    assert len(written) == 6
    names = [e.name for e in read_fold_list_file(tmp_path / "fold_lists" / "AVAD_list_test_1_fps.txt")]
    assert "V33_Harp" in names and len(names) == 15


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown database"):
        splits.get_test_videos("NotADB", 1)
    with pytest.raises(ValueError, match="split"):
        splits.get_test_videos("AVAD", 4)
    with pytest.raises(ValueError, match="source"):
        splits.get_test_videos("AVAD", 1, source="web")
