"""stavis_lib.tutorial: the notebooks' sizes, working folder and protocol (validation on videos
generated apart, ablation rows from the same stage-1 weights with the same budget)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from stavis_lib import tutorial as T


def test_smoke_sizes_build_every_table1_variant(tmp_path) -> None:
    import stavis_lib.config as config
    tut = T.Tutorial(True, tmp_path / "work", device="cpu")
    assert tut.sizes.mode == "smoke" and tut.work == tmp_path / "work"
    for variant in config.VARIANTS:
        net = tut.build(variant)
        assert net.config.variant == variant
        assert net.config.sample_size == tut.sizes.model["sample_size"]
        # "mul" rows get the mode's N_out, the single-map rows keep one map
        expected = tut.sizes.model["n_loc_maps"] if config.VARIANTS[variant]["n_loc_maps"] > 1 else 1
        assert net.config.n_loc_maps == expected
    assert set(tut.sizes.ablation_variants) <= set(config.VARIANTS)


def test_sizes_per_mode_and_work_dirs() -> None:
    assert T.notebook_sizes(False, "cuda:0").mode == "gpu"
    assert T.notebook_sizes(False, "cuda:0").model == {}  # the paper's network
    cpu = T.notebook_sizes(False, "cpu")
    assert cpu.mode == "cpu" and cpu.model["sample_size"] == 64
    assert T.default_work_dir(True) != T.default_work_dir(False)
    assert T.default_work_dir(True).name == "smoke"


def test_checkpoint_prefers_best_then_last(tmp_path) -> None:
    tut = T.Tutorial(True, tmp_path, device="cpu")
    run = tmp_path / "runs" / "visual"
    run.mkdir(parents=True)
    assert tut.checkpoint("visual").name == "best.pt"  # neither exists: the path training will write
    (run / "last.pt").write_bytes(b"x")
    assert tut.checkpoint("visual").name == "last.pt"
    (run / "best.pt").write_bytes(b"x")
    assert tut.checkpoint("visual").name == "best.pt"


def test_asset_clips_are_the_shipped_media() -> None:
    clips = T.asset_clips()
    if not clips:
        pytest.skip("assets/media is empty")
    assert {"park.mp4", "obama_speech.mp4"} <= set(clips)
    assert all(p.is_file() for p in clips.values())


@pytest.fixture(scope="module")
def smoke_tutorial(tmp_path_factory):
    """A SMOKE tutorial whose stage 1 and two Table-1 rows are trained once for the module, with
    every ``train`` call recorded (its ``val_data`` and config)."""
    import stavis_lib.train as train_module

    calls = []
    real = train_module.train

    def recording_train(model, data_config, cfg, out_dir, **kw):
        calls.append({"out_dir": out_dir, "cfg": cfg, **kw})
        return real(model, data_config, cfg, out_dir, **kw)

    mp = pytest.MonkeyPatch()
    mp.setattr(train_module, "train", recording_train)
    tut = T.Tutorial(True, tmp_path_factory.mktemp("tutorial"), device="cpu", progress=False)
    results = tut.ablation(["visual", "L3mul_S3"])
    mp.undo()
    return tut, calls, results


def test_every_run_validates_on_the_separate_validation_videos(smoke_tutorial):
    from stavis_lib.data.clips import split_windows

    tut, calls, _ = smoke_tutorial
    assert [c["out_dir"].name for c in calls] == ["visual", "ablation_visual", "ablation_L3mul_S3"]
    meta = json.loads((tut.val_root / "synthetic_config.json").read_text())
    assert meta["seed"] == tut.seed + tut.VAL_SEED_OFFSET and meta["n_videos"] == tut.sizes.n_val_videos
    test_first_frames = [w.frames[0] for k in (1, 2, 3) for w in split_windows(tut.data_config(k), "test")]
    for call in calls:
        val = call["val_data"]
        videos = [part.dataset for part in val.datasets]          # ConcatDataset of Subsets of VideoWindows
        assert len(videos) == tut.sizes.n_val_videos
        assert len(val) == tut.sizes.n_val_videos * call["cfg"].val_frames
        for v in videos:      # generated apart: no validation video is one of the benchmark's test videos
            assert not any(np.array_equal(v.frames[0], f) for f in test_first_frames)


def test_ablation_rows_share_init_and_budget(smoke_tutorial):
    tut, _, results = smoke_tutorial
    assert set(results) == {"visual", "L3mul_S3"} and all(np.isfinite(r["nss"]) for r in results.values())
    saved = {v: json.loads((tut.runs / f"ablation_{v}" / "train_config.json").read_text()) for v in results}
    stage1 = str(tut.checkpoint("visual"))
    for v, run in saved.items():
        assert run["train_config"]["init_checkpoint"] == stage1, v
        assert run["train_config"]["resume"] is not True
    vis, av = saved["visual"], saved["L3mul_S3"]
    assert (vis["stage"], av["stage"]) == ("visual", "audiovisual")
    assert vis["init"]["init_checkpoint"]["copied"] > 0       # the visual row really loaded stage-1 weights
    budget = ("epochs", "steps_per_epoch", "batch_size", "micro_batch", "milestones", "gamma", "lr", "part_lr",
              "module_lr", "momentum", "dampening", "weight_decay", "grad_clip", "max_steps", "val_every")
    for key in budget:
        assert vis["train_config"][key] == av["train_config"][key], key
    for key in ("steps_per_epoch", "effective_batch", "accumulation"):
        assert vis[key] == av[key], key
    # the rows' recipe is the mode's stage-2 preset with the ablation budget
    assert av["train_config"]["epochs"] == tut.sizes.ablation_train["epochs"]
    assert av["train_config"]["preset"] == tut.sizes.train_preset
    # and the whole config differs only in the stage (and the model)
    diff = {k for k in av["train_config"] if av["train_config"][k] != vis["train_config"][k]}
    assert diff == {"stage"}


def test_a_finished_row_from_other_weights_is_trained_again(smoke_tutorial, monkeypatch):
    tut, _, _ = smoke_tutorial
    run = tut.runs / "ablation_visual"
    saved = json.loads((run / "train_config.json").read_text())
    assert tut._run_init("ablation_visual") == str(tut.checkpoint("visual"))
    saved["train_config"]["init_checkpoint"] = None            # as a row trained from scratch
    (run / "train_config.json").write_text(json.dumps(saved))
    import stavis_lib.train as train_module

    trained = []

    def record_and_stop(model, data_config, cfg, out_dir, **kw):
        trained.append(cfg)
        raise RuntimeError("stop")

    monkeypatch.setattr(train_module, "train", record_and_stop)
    with pytest.raises(RuntimeError, match="stop"):
        tut.ablation(["visual"])
    assert trained and trained[0].init_checkpoint == str(tut.checkpoint("visual")) and trained[0].resume is False
