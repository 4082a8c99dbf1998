"""Training throughput: clips/s of the data path versus clips/s of the training step.

For each configuration — the CPU demo model (``stavis_lib.demo.DemoConfig``: ResNet-10,
width 16, 64×64, 16 frames) and the full-size model (ResNet-50, width 64, 112×112) — this
measures, separately and on the same synthetic benchmark (its generator, 160×120 videos
with sound, as the demo uses):

* **data**: ``TrainClips`` (frames decoded once into a memory-mapped cache, a random
  16-frame clip per item, its Hann-windowed audio excerpt, dense and fixation maps, flips)
  through a ``DataLoader`` with ``--workers`` worker processes, batch ``--batch``;
* **step**: one optimiser step of the audio-visual stage on a batch already in memory:
  forward, loss (eq. 7), backward and SGD with the official parameter groups
  (``train.build_optimizer``), on the CPU in fp32.

Training is starved by data when data clips/s < step clips/s; the target is data >= 2x step.
On 2 cores both halves share the same cores during a real run, which this measurement
deliberately leaves out (it reports what each side could deliver on its own).

    python benchmarks/bench_train.py           # both configurations, ~2-3 min on 2 cores
    python benchmarks/bench_train.py --quick   # demo configuration only, fewer batches
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import _common as C

from stavis_lib.model import build_model
from stavis_lib.data.clips import DataConfig, TrainClips
from stavis_lib.losses import audiovisual_loss
from stavis_lib.train import build_optimizer, preset


@dataclass
class Setting:
    name: str
    depth: int
    width: int
    size: int
    batch: int


def benchmark_data(root: Path, cache_dir: Path, size: int, batch: int, workers: int, batches: int) -> tuple[float, float]:
    """(clips/s of the DataLoader over ``batches`` batches after the first, seconds to build the frame cache)."""
    cfg = DataConfig(root=str(root), datasets=("Synthetic",), split=1, sample_size=size,
                     cache_dir=str(cache_dir), progress=False)
    t0 = time.perf_counter()
    data = TrainClips(cfg, "train", seed=0)  # decodes every video once into the memmap cache
    t_cache = time.perf_counter() - t0
    sampler = torch.utils.data.RandomSampler(data, replacement=True, num_samples=batch * (batches + 1),
                                             generator=torch.Generator().manual_seed(0))
    loader = torch.utils.data.DataLoader(data, batch_size=batch, sampler=sampler, num_workers=workers,
                                         persistent_workers=workers > 0, drop_last=True)
    it = iter(loader)
    next(it)  # worker start-up and first touch of the memmaps
    t0 = time.perf_counter()
    n = 0
    for item in it:
        n += item["frames"].shape[0]
    return n / (time.perf_counter() - t0), t_cache


def benchmark_step(setting: Setting, steps: int, threads: int) -> tuple[float, float]:
    """(clips/s, GFLOP per clip forward) of forward + loss + backward + SGD step, fp32, batch in memory."""
    torch.manual_seed(0)
    model = build_model("L3mul_S3", depth=setting.depth, width=setting.width, sample_size=setting.size).train()
    opt = build_optimizer(model, "audiovisual", preset("official", "audiovisual"))
    b, s = setting.batch, setting.size
    g = torch.Generator().manual_seed(1)
    frames = torch.randn(b, 3, 16, s, s, generator=g) * 50
    audio = torch.randn(b, 35280, generator=g) * 30
    dense = torch.rand(b, 1, s, s, generator=g)
    fix = (torch.rand(b, 1, s, s, generator=g) > 0.995).float()
    with torch.no_grad():
        gflop = C.count_flops(lambda: model(frames[:1], audio[:1])) / 1e9

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss, _ = audiovisual_loss(model(frames, audio), dense, fix)
        loss.backward()
        opt.step()

    step()  # warm-up: oneDNN primitives, optimiser state
    best = float("inf")
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
    return b / best, gflop


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers (default 2)")
    p.add_argument("--batch", type=int, default=8, help="clips per batch (default 8, the demo's micro batch)")
    p.add_argument("--batches", type=int, default=20, help="timed data batches per configuration (default 20)")
    p.add_argument("--steps", type=int, default=3, help="timed training steps per configuration, best taken (default 3)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads of the step (default: all)")
    p.add_argument("--configs", default="demo,full", help="comma list of: demo, full (default both)")
    p.add_argument("--cache-dir", type=Path, default=C.DEFAULT_CACHE)
    p.add_argument("--quick", action="store_true", help="demo configuration only, 6 data batches, 2 steps")
    args = p.parse_args(argv)
    if args.quick:
        args.configs, args.batches, args.steps = "demo", 6, 2
    torch.set_num_threads(args.threads)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    print("== bench_train: data path vs training step ==")
    print(C.machine_summary(args.threads))

    from stavis_lib.data.synthetic import SyntheticConfig, generate_benchmark
    from stavis_lib.demo import DemoConfig

    demo = DemoConfig()
    root = args.cache_dir / "synthetic-train-160x120"
    if not (root / "synthetic_config.json").is_file():
        generate_benchmark(root, n_videos=12, seed=0, config=SyntheticConfig(n_viewers=8), progress=False)
    print(f"data    : {root} (12 synthetic 160x120 videos with sound, split 1)")
    settings = {
        "demo": Setting("CPU demo (ResNet-10, width 16, 64x64x16)", demo.depth, demo.width, demo.sample_size, args.batch),
        "full": Setting("full size (ResNet-50, width 64, 112x112x16)", 50, 64, 112, args.batch),
    }
    rows = []
    for key in [k.strip() for k in args.configs.split(",") if k.strip()]:
        st = settings[key]
        data_cps, t_cache = benchmark_data(root, args.cache_dir / f"frames-{st.size}", st.size, st.batch,
                                           args.workers, args.batches)
        step_cps, gflop = benchmark_step(st, args.steps, args.threads)
        ratio = data_cps / step_cps
        print(f"{st.name}: data {data_cps:.1f} clips/s ({args.workers} workers; frame cache built in {t_cache:.1f} s), "
              f"step {step_cps:.2f} clips/s (fp32, batch {st.batch}, {gflop:.2f} GFLOP/clip forward) -> {ratio:.1f}x")
        rows.append([st.name, f"{data_cps:.1f}", f"{step_cps:.2f}", f"{ratio:.1f}x",
                     "yes" if ratio >= 2 else "NO"])
    print()
    print(C.markdown_table(["configuration", "data clips/s", "step clips/s", "data/step", ">= 2x"], rows))
    print(f"\nload at end: {C.load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
