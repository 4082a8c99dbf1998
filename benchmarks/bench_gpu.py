"""GPU throughput (H100 / H200 class): inference frames/s and training clips/s, as a markdown table.

* **inference**: ``predict_video`` on a synthetic video (frames decoded once, in memory, so
  the model is measured rather than the CPU decoder) with bf16 autocast, channels-last and
  ``torch.compile``, at batch sizes 64-256 (the first call of each batch size compiles and
  is excluded); also once from the mp4 file at the largest batch, decoder included.
* **training**: forward + loss (eq. 7) + backward + SGD step of the full-size audio-visual
  model with AMP (bf16 autocast), channels-last, optionally compiled, on batches in GPU
  memory; clips/s.

Prints the card, torch/CUDA versions, settings and numbers as a markdown table for the
README's performance table. ``--smoke`` runs the same code on the CPU with a tiny model
(for checking the script without a GPU).

    python benchmarks/bench_gpu.py                       # on a machine with a CUDA GPU
    python benchmarks/bench_gpu.py --batches 64,128 --no-compile
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

import _common as C

from stavis_lib.model import build_model
from stavis_lib.inference import predict_video


def synthetic_frames(cache_dir: Path, n_frames: int, size: tuple[int, int]) -> tuple[np.ndarray, Path]:
    """(frames (T,H,W,3) uint8, mp4 path) of a synthetic video with sound (the synthetic benchmark's generator)."""
    from stavis_lib.data.media import read_frames
    from stavis_lib.data.synthetic import SyntheticConfig, generate_benchmark

    root = cache_dir / f"synthetic-gpu-{size[0]}x{size[1]}-{n_frames}f"
    if not (root / "synthetic_config.json").is_file():
        generate_benchmark(root, n_videos=3, seed=0, progress=False,
                           config=SyntheticConfig(width=size[0], height=size[1], frames=(n_frames, n_frames), n_viewers=4))
    mp4 = sorted((root / "videos" / "Synthetic").glob("*.mp4"))[0]
    return read_frames(mp4), mp4


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_inference(model, frames: np.ndarray, mp4: Path, batches: list[int], device, dtype: str, compile_: bool,
                    repeats: int) -> list[list[str]]:
    rows = []
    kw = dict(fps=25.0, audio=str(mp4), device=device, dtype=dtype, progress=False, map_size="model", normalize="sigmoid",
              keep_maps=False, channels_last=True, compile=compile_)
    for b in batches:
        predict_video(frames[: min(len(frames), 2 * b + 16)], model, batch_size=b, **kw)  # compile / autotune
        best = float("inf")
        for _ in range(repeats):
            sync(device)
            t0 = time.perf_counter()
            pred = predict_video(frames, model, batch_size=b, **kw)
            sync(device)
            best = min(best, time.perf_counter() - t0)
        rows.append([f"predict_video, frames in memory", str(b), pred.dtype, "on" if compile_ else "off",
                     f"{pred.n_frames / best:.1f} frames/s"])
    b = batches[-1]
    kw.pop("fps")
    kw.pop("audio")
    sync(device)
    t0 = time.perf_counter()
    pred = predict_video(mp4, model, batch_size=b, **kw)
    sync(device)
    rows.append([f"predict_video, mp4 decoded by ffmpeg ({pred.video_size[1]}x{pred.video_size[0]})", str(b), pred.dtype,
                 "on" if compile_ else "off", f"{pred.n_frames / (time.perf_counter() - t0):.1f} frames/s"])
    return rows


def bench_training(model_kwargs: dict, batch: int, steps: int, device, amp: torch.dtype | None, compile_: bool) -> list[str]:
    from stavis_lib.runtime import channels_last_input, make_autocast_safe, to_channels_last
    from stavis_lib.losses import audiovisual_loss
    from stavis_lib.train import build_optimizer, preset

    torch.manual_seed(0)
    model = build_model("L3mul_S3", **model_kwargs).to(device).train()
    to_channels_last(model)
    if amp is not None:
        make_autocast_safe(model)
    opt = build_optimizer(model, "audiovisual", preset("official", "audiovisual"))
    net = torch.compile(model) if compile_ else model
    s = model.config.sample_size
    g = torch.Generator(device="cpu").manual_seed(1)
    frames = channels_last_input((torch.randn(batch, 3, 16, s, s, generator=g) * 50).to(device))
    audio = (torch.randn(batch, 35280, generator=g) * 30).to(device)
    dense = torch.rand(batch, 1, s, s, generator=g).to(device)
    fix = (torch.rand(batch, 1, s, s, generator=g) > 0.995).float().to(device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            out = net(frames, audio)
        out = dataclasses.replace(out, saliency=out.saliency.float())  # the loss in fp32
        loss, _ = audiovisual_loss(out, dense, fix)
        loss.backward()
        opt.step()

    for _ in range(3):  # compile, autotune, optimiser state
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    rate = batch * steps / (time.perf_counter() - t0)
    name = "AMP " + str(amp).replace("torch.", "") if amp is not None else "fp32"
    return ["training step (fwd+loss+bwd+SGD)", str(batch), name, "on" if compile_ else "off",
            f"{rate:.1f} clips/s"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", default="64,128,256", help="inference batch sizes (default 64,128,256)")
    p.add_argument("--frames", type=int, default=600, help="frames of the synthetic video (default 600)")
    p.add_argument("--train-batch", type=int, default=64, help="training clips per step (default 64)")
    p.add_argument("--train-steps", type=int, default=20, help="timed training steps (default 20)")
    p.add_argument("--repeats", type=int, default=2, help="timed predict_video runs per batch size, best taken")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--cache-dir", type=Path, default=C.DEFAULT_CACHE)
    p.add_argument("--smoke", action="store_true", help="CPU, tiny model, small batches: checks the script only")
    args = p.parse_args(argv)
    compile_ = not args.no_compile
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    if args.smoke:
        device = torch.device("cpu")
        model_kwargs = dict(depth=10, width=8, sample_size=32)
        batches, args.frames, args.train_batch, args.train_steps, args.repeats = [4, 8], 40, 4, 2, 1
        compile_, dtype, amp = False, "float32", None
    else:
        if not torch.cuda.is_available():
            raise SystemExit("bench_gpu.py needs a CUDA GPU (use --smoke to check the script on a CPU)")
        device = torch.device("cuda")
        model_kwargs = {}
        batches = [int(b) for b in args.batches.split(",")]
        dtype, amp = "bfloat16", torch.bfloat16
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    card = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU: {C.cpu_model()}"
    cuda = torch.version.cuda if device.type == "cuda" else "-"
    print("== bench_gpu ==")
    print(f"device  : {card}; torch {torch.__version__}, CUDA {cuda}, cuDNN "
          f"{torch.backends.cudnn.version() if device.type == 'cuda' else '-'}")
    print(f"model   : L3mul_S3 {model_kwargs or 'full size (ResNet-50, 112x112x16)'}, random weights")
    frames, mp4 = synthetic_frames(args.cache_dir, args.frames, (320, 240))
    torch.manual_seed(0)
    model = build_model("L3mul_S3", **model_kwargs).eval()
    rows = bench_inference(model, frames, mp4, batches, device, dtype, compile_, args.repeats)
    rows.append(bench_training(model_kwargs, args.train_batch, args.train_steps, device, amp, compile_))
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB")
    print()
    print(f"Card: {card} | torch {torch.__version__} | CUDA {cuda} | channels-last | video {args.frames} frames 320x240")
    print()
    print(C.markdown_table(["what", "batch", "precision", "torch.compile", "throughput"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
