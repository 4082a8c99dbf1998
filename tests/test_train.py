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
    """A tiny synthetic benchmark (H3's generator) read through H2's TrainClips."""
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
    result = train(tiny(), data, quick(lr=0.001, part_lr=None), tmp_path)  # official per-part rates
    assert len(result.losses) == 2
    batch = torch.utils.data.default_collate([data[0]] * 4)
    result.model.train()
    with torch.no_grad():
        after, _ = visual_loss(result.model(batch["frames"]), batch["dense"], batch["fix"], 1, 1)  # 1-based epoch
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
    from stavis_lib.model.checkpoints import local_to_official
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
