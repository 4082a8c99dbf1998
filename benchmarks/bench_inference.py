"""Inference speed: the official test path versus ``predict_video``, in one run, on one video.

(a) **baseline** — the official approach (its test path, as the README's deviation table
    describes it): frames stored as JPEGs in the release layout; for every
    window, 16 JPEG decodes, a PIL resize to 320×240 (default resample) and a BILINEAR resize
    to 112×112, 0-255 RGB minus the ActivityNet means; windows j = 1 … n-1 with frames
    j … min(n, j+15) and LoopPadding; a DataLoader with workers; fp32, batch 8, no_grad;
    sigmoid, min-max to uint8 and a JPEG per map, as test_sal.py saves them. Then, for
    information, (a') the same with predict_video's process-wide allocator setting.
(b) **fast** — ``stavis_lib.inference.predict_video`` on the same video's mp4: each frame
    decoded once, many windows per batch, channels-last, ``inference_mode``, BatchNorm folded
    into the convolutions, the exact conv1 reuse (``stem_cache``), glibc malloc tuned
    (``tune_allocator``, on by default) — in fp32
    (maps equal to fp32 maps up to float rounding) and, on CPUs with native bf16, also with
    bf16 autocast (faster, maps measurably different).

Same network for both: the full-size model (depth 50, 112×112, 16 frames, L3mul_S3) with
random weights, heads scaled and BatchNorm calibrated on the video so that maps have spatial
structure (see ``_common.normalise_heads``). Prints frames/s of both, GFLOP per clip (counted
by FlopCounterMode), achieved GFLOP/s and its fraction of the fp32/bf16 ``torch.mm`` peak
measured in the same run (torch.mm and a oneDNN 3×3×3 convolution), the maximum difference
and the per-frame CC between the plain fp32 maps and each fast run's maps, and — last — the
speed-up of the fastest run whose maps all reach CC ≥ 0.999.

Then the **stride table** (``_stride_table.py``): ``predict_video(stride=K)`` for K = 1, 2, 4
on a trained network (``--checkpoint``, default the demo's newest audio-visual checkpoint, as
``predict`` picks it) and real videos (held-out test videos of that demo run, and the clips in
``assets/media``): frames/s and per-frame CC against K = 1.

    python benchmarks/bench_inference.py                 # ~2-4 min on 2 cores, plus the stride table
    python benchmarks/bench_inference.py --quick         # sanity run, ~1 min
    python benchmarks/bench_inference.py --stride-only   # the stride table alone
"""
from __future__ import annotations

import argparse
import copy
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import _common as C
from _stride_table import stride_table

from stavis_lib.model import build_model
from stavis_lib.data.audio import OFFICIAL_WINDOW, clip_audio
from stavis_lib.data.clips import ACTIVITYNET_MEAN, normalize_clip, window_indices
from stavis_lib.data.layout import ReleaseLayout
from stavis_lib.inference import predict_video
from stavis_lib.runtime import cpu_supports_bf16
from stavis_lib.model.stem_cache import StemCache, forward_with_stem, stem_flops_per_clip

DB = "Synthetic"


# ------------------------------------------------------------------ data
def synthetic_video(cache_dir: Path, n_frames: int) -> tuple[ReleaseLayout, str, int, float]:
    """A synthetic video (the synthetic benchmark's generator) of ``n_frames`` 320×240 frames with sound, in the release layout."""
    from stavis_lib.data.synthetic import SyntheticConfig, generate_benchmark

    root = cache_dir / f"synthetic-320x240-{n_frames}f"
    if not (root / "synthetic_config.json").is_file():
        cfg = SyntheticConfig(width=320, height=240, frames=(n_frames, n_frames), n_viewers=4)
        tmp = Path(tempfile.mkdtemp(prefix=".gen-", dir=cache_dir))
        generate_benchmark(tmp, n_videos=3, seed=0, config=cfg, progress=False)
        if root.exists():
            shutil.rmtree(root)
        tmp.rename(root)
    layout = ReleaseLayout(root)
    video = sorted(p.name for p in (root / "video_frames" / DB).iterdir())[0]
    n = len(list(layout.frames_dir(DB, video).glob("img_*.jpg")))
    return layout, video, n, 25.0


# ------------------------------------------------------------------ (a) the official test path
def official_rows(n_frames: int, length: int = 16) -> list[list[int]]:
    """1-based frame lists of the official test windows: j = 1 … n-1, frames j … min(n, j+15), LoopPadding."""
    rows = []
    for j in range(1, max(n_frames, 2)):
        idx = list(range(j, min(n_frames, j + length - 1) + 1))
        out = list(idx)
        while len(out) < length:  # LoopPadding: cycle through the list
            out.extend(idx[: length - len(out)])
        rows.append(out)
    return rows


class OfficialWindows(torch.utils.data.Dataset):
    """One item per official test window, built the official way: 16 JPEG decodes + 2 PIL resizes."""

    def __init__(self, layout: ReleaseLayout, video: str, n_frames: int, fps: float, size: int = 112):
        self.layout, self.video, self.fps, self.size = layout, video, fps, size
        self.rows = official_rows(n_frames)
        self.wave, self.rate = layout.read_audio(DB, video)
        self.mean = torch.tensor(ACTIVITYNET_MEAN, dtype=torch.float32).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.rows)

    def _frame(self, index: int) -> torch.Tensor:
        from PIL import Image

        with Image.open(self.layout.frame_path(DB, self.video, index)) as im:
            img = im.convert("RGB")
        img = img.resize((320, 240))                                    # saliency_db.py: PIL default resample
        img = img.resize((self.size, self.size), Image.BILINEAR)       # Scale([112, 112])
        t = torch.from_numpy(np.array(img)).permute(2, 0, 1).float()  # ToTensor(norm_value=1): 0-255
        return t - self.mean                                          # Normalize(mean, [1, 1, 1])

    def __getitem__(self, i: int) -> dict:
        row = self.rows[i]
        clip = torch.stack([self._frame(k) for k in row], dim=1)  # (3, 16, 112, 112)
        audio = clip_audio(self.wave, self.rate, self.fps, min(row) - 1, max(row) - 1, OFFICIAL_WINDOW)
        return {"clip": clip, "audio": torch.from_numpy(audio), "index": i}


def run_baseline(model, layout, video, n_frames, fps, batch: int, workers: int, out_dir: Path) -> tuple[float, int]:
    """Run the official test path over the video; returns (seconds, maps written)."""
    from PIL import Image

    data = OfficialWindows(layout, video, n_frames, fps)
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=False, num_workers=workers)
    written = 0
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with torch.no_grad():
        for item in loader:
            logits = model(item["clip"], item["audio"]).saliency
            maps = torch.sigmoid(logits)[:, 0].numpy()
            for k, m in zip(item["index"].tolist(), maps):
                m = (m - m.min()) / max(float(m.max() - m.min()), 1e-12)
                Image.fromarray((m * 255).astype(np.uint8)).save(out_dir / f"pred_sal_{k + 9:06d}.jpg")
                written += 1
    return time.perf_counter() - start, written


# ------------------------------------------------------------------ (b) predict_video
def predict_kwargs(args, dtype: str, fast: bool) -> dict:
    """predict_video settings: ``fast`` = BN folding + conv1 reuse (+ compile); else the plain forward."""
    kw = dict(batch_size=args.batch, dtype=dtype, threads=args.threads, progress=False, map_size="model",
              normalize="sigmoid", keep_maps=True, channels_last=True)
    if fast:
        kw.update(reuse_conv1=not args.no_stem, fold_bn=not args.no_fold, compile=args.compile)
    else:
        kw.update(reuse_conv1=False, fold_bn=False, compile=False)
    kw["tune_allocator"] = not args.no_allocator_tuning
    return kw


def timed_predict(model, path: Path, kw: dict, warm_frames: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(wall seconds, CPU seconds, maps) of predict_video on ``path`` after a warm-up call.

    The warm-up runs on ``warm_frames`` (one full batch of windows and more), so that oneDNN's
    kernels for the timed shapes exist and memory is paged in: the steady state of a long video.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predict_video(warm_frames, model, fps=25.0, **kw)
    c0 = C.cpu_seconds()
    start = time.perf_counter()
    pred = predict_video(path, model, **kw)
    return time.perf_counter() - start, C.cpu_seconds() - c0, pred.maps


# ------------------------------------------------------------------ precision policies, model level
#: run in fp32 by the "mixed" policy: the stem and layer1 (their bf16 rounding is what the rest
#: of a random network amplifies most), the four DSAM modules and the audio/localization/fusion heads
MIXED_FP32 = ["trunk.conv1", "trunk.layer1", "dsam.0", "dsam.1", "dsam.2", "dsam.3",
              "audio", "localization", "fusion", "visual_head"]


def precision_policies(model, frames: torch.Tensor, audio: torch.Tensor, batch: int, repeats: int) -> list[list[str]]:
    """Model forward on one batch of consecutive windows under several precision policies.

    For each: ms per window (best of ``repeats``; with the conv1 reuse, adding the frames and
    assembling the stem is included) and the per-window CC / max |diff| of the sigmoid maps
    against the plain fp32 forward.
    """
    from stavis_lib.runtime import channels_last_input, make_autocast_safe, to_channels_last
    from stavis_lib.model.fold import fold_batchnorm

    plain = to_channels_last(make_autocast_safe(model))
    folded = to_channels_last(make_autocast_safe(fold_batchnorm(model)))
    n = frames.shape[0]
    first = 8
    count = max(1, min(batch, n - 16 - first))
    rows = np.stack([np.arange(s, s + 16) for s in range(first, first + count)])
    clips = channels_last_input(frames[torch.as_tensor(rows)].permute(0, 2, 1, 3, 4))
    sound = audio[:count] if audio.shape[0] >= count else audio[:1].expand(count, -1)

    def forward(dtype, fold_and_reuse: bool, fp32_names: list[str]):
        net = folded if fold_and_reuse else plain
        ac = torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None)
        names = [m for m in fp32_names if not (fold_and_reuse and m == "trunk.conv1")]
        with torch.inference_mode(), ac, C.fp32_modules(net, names):
            if not fold_and_reuse:
                return net(clips, sound).saliency
            cache = StemCache(net.trunk.conv1)
            with torch.autocast("cpu", enabled=not ("trunk.conv1" in fp32_names or dtype is None)):
                for i in range(int(rows.min()), int(rows.max()) + 1):
                    cache.add(i, frames[i])
                out = cache.windows(rows)
            return forward_with_stem(net, out, sound).saliency

    bf16 = torch.bfloat16
    policies = [
        ("fp32 (plain forward: the reference)", None, False, []),
        ("fp32, BN folded, conv1 reuse", None, True, []),
        ("bf16 autocast, BN folded, conv1 reuse", bf16, True, []),
        ("bf16, stem in fp32, BN folded, conv1 reuse", bf16, True, ["trunk.conv1"]),
        ("mixed: conv1, layer1, DSAM, heads fp32; layer2-3 bf16; folded, reuse", bf16, True, MIXED_FP32),
    ]
    ref = None
    table = []
    for name, dtype, fold_and_reuse, names in policies:
        forward(dtype, fold_and_reuse, names)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = forward(dtype, fold_and_reuse, names)
            best = min(best, time.perf_counter() - t0)
        prob = torch.sigmoid(out.float())[:, 0].numpy()
        if ref is None:
            ref = prob
        cc = C.per_frame_cc(ref, prob)
        table.append([name, f"{1e3 * best / count:.1f}", f"{np.nanmin(cc):.5f}", f"{np.nanmean(cc):.5f}",
                      f"{np.abs(ref - prob).max():.2e}"])
    return table


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=128, help="frames of the synthetic video (default 128)")
    p.add_argument("--batch", type=int, default=32, help="windows per forward pass of predict_video (default 32)")
    p.add_argument("--baseline-batch", type=int, default=8, help="official batch size (default 8)")
    p.add_argument("--baseline-workers", type=int, default=2, help="DataLoader workers of the baseline (default 2)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all logical CPUs)")
    p.add_argument("--no-bf16", action="store_true", help="skip the bf16 fast run (default: run it where the CPU "
                   "has native bf16)")
    p.add_argument("--compile", action="store_true", help="torch.compile in the fast runs (slow start on CPU)")
    p.add_argument("--no-stem", action="store_true", help="disable the conv1 reuse in the fast runs")
    p.add_argument("--no-fold", action="store_true", help="disable the BatchNorm folding in the fast runs")
    p.add_argument("--no-allocator-tuning", action="store_true",
                   help="predict_video(tune_allocator=False): glibc malloc at its defaults throughout")
    p.add_argument("--checkpoint", type=Path, help="a project checkpoint (trained weights, any size) instead of the "
                   "random full-size network; the stride table's network (default there: the demo's newest "
                   "audio-visual checkpoint, as `predict` finds it)")
    p.add_argument("--reinit", action="store_true", help="with --checkpoint: its architecture with random weights "
                   "(BN calibrated, heads scaled, as for the default network)")
    p.add_argument("--depth", type=int, default=50)
    p.add_argument("--variant", default="L3mul_S3")
    p.add_argument("--cache-dir", type=Path, default=C.DEFAULT_CACHE)
    p.add_argument("--quick", action="store_true", help="short video (40 frames), fewer repeats")
    p.add_argument("--strides", default="1,2,4", help="strides K of the stride table (default 1,2,4; 1 is always "
                   "run, as the reference; empty: no stride table)")
    p.add_argument("--stride-only", action="store_true", help="run only the stride table")
    p.add_argument("--stride-videos", type=Path, nargs="+", help="videos of the stride table (default: up to "
                   "--stride-synthetic held-out videos of the demo run, and assets/media)")
    p.add_argument("--stride-synthetic", type=int, default=2, help="held-out demo videos in the stride table (default 2)")
    args = p.parse_args(argv)
    if args.quick:
        args.frames = min(args.frames, 40)
    torch.set_num_threads(args.threads)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    print("== bench_inference: official test path vs predict_video ==")
    print(C.machine_summary(args.threads))
    if args.stride_only:
        stride_table(args)
        return 0

    layout, video, n_frames, fps = synthetic_video(args.cache_dir, args.frames)
    mp4 = layout.root / "videos" / DB / f"{video}.mp4"
    print(f"video   : {video}, {n_frames} frames 320x240 @ {fps:g} fps with sound (JPEGs + wav in the release layout, and {mp4.name})")

    # the network: full size, random weights made informative, BN calibrated on the video
    torch.manual_seed(0)
    if args.checkpoint:
        from stavis_lib.model.checkpoints import load_checkpoint

        model = load_checkpoint(args.checkpoint)[0].eval()
        if args.reinit:  # same architecture, fresh random weights (for random-vs-trained sensitivity)
            from stavis_lib.model.stavis import Stavis

            model = Stavis(model.config).eval()
    else:
        model = build_model(args.variant, depth=args.depth).eval()
    size, length = model.config.sample_size, model.config.sample_duration
    from stavis_lib.data.media import read_frames

    frames_u8 = read_frames(mp4, size=(size, size))
    frames = normalize_clip(frames_u8).permute(1, 0, 2, 3).contiguous()  # (T,3,S,S)
    wave, rate = layout.read_audio(DB, video)
    rows = window_indices(n_frames, length)
    audio = torch.from_numpy(np.stack([clip_audio(wave, rate, fps, int(r.min()), int(r.max())) for r in rows[: args.batch]]))
    calib = frames[torch.as_tensor(rows[[n_frames // 3, 2 * n_frames // 3]])].permute(0, 2, 1, 3, 4)
    calib_audio = audio[:2] if model.config.uses_audio else None
    cfg = model.config
    if args.checkpoint and not args.reinit:
        origin = f"trained weights from {args.checkpoint}"
    else:
        C.calibrate_batchnorm(model, calib, calib_audio)
        C.normalise_heads(model, calib, calib_audio)
        origin = "random weights; BN statistics and head scales set on 2 clips of the video, see _common.py"
    print(f"model   : {cfg.variant}, depth {cfg.depth}, width {cfg.width}, {size}x{size}, {length} frames, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters ({origin})")

    # FLOPs per clip and matrix-product peaks
    one = frames[torch.as_tensor(rows[n_frames // 2: n_frames // 2 + 1])].permute(0, 2, 1, 3, 4)
    with torch.no_grad():
        gflop = C.count_flops(lambda: model(one, audio[:1]) if model.config.uses_audio else model(one)) / 1e9
    direct, reused = stem_flops_per_clip(model.trunk.conv1, (size, size), length)
    gflop_stem = gflop - (direct - reused) / 1e9
    seconds = 0.5 if args.quick else 1.5
    peak32 = C.matmul_peak_gflops(torch.float32, seconds=seconds)
    with_bf16 = cpu_supports_bf16() and not args.no_bf16
    peak16 = C.matmul_peak_gflops(torch.bfloat16, seconds=seconds) if with_bf16 else None
    print(f"FLOPs   : {gflop:.2f} GFLOP per clip (FlopCounterMode; conv1 {direct / 1e9:.2f}); "
          f"{gflop_stem:.2f} with conv1 reuse")
    print(f"peak    : fp32 torch.mm 2048^3 {peak32['mm']:.0f} GFLOP/s, oneDNN 3x3x3 conv {peak32['conv']:.0f}"
          + (f"; bf16 torch.mm {peak16['mm']:.0f}, conv {peak16['conv']:.0f}" if peak16 else "; (no native bf16)"))

    # (a) baseline
    with tempfile.TemporaryDirectory(prefix="bench-official-") as tmp:
        base_model = copy.deepcopy(model)
        run_baseline(base_model, layout, video, min(n_frames, 18), fps, args.baseline_batch, 0, Path(tmp) / "warm")
        c0 = C.cpu_seconds()
        t_base, n_base = run_baseline(base_model, layout, video, n_frames, fps, args.baseline_batch,
                                      args.baseline_workers, Path(tmp) / "maps")
        cpu_base = (C.cpu_seconds() - c0) / n_base
        fps_base = n_base / t_base
        print(f"(a) official path : {n_base} maps in {t_base:.1f} s = {fps_base:.2f} frames/s "
              f"(fp32, batch {args.baseline_batch}, {args.baseline_workers} loader workers); {cpu_base:.2f} CPU-s per map")
        # predict_video tunes glibc malloc (process-wide, lasting); for a fair view, the official
        # path once more with the same allocator setting (informational: (a) stays the reference)
        tuned = False if args.no_allocator_tuning else C.tune_cpu_allocator()
        fps_base_tuned = None
        if tuned:
            t_tuned, n_tuned = run_baseline(base_model, layout, video, n_frames, fps, args.baseline_batch,
                                            args.baseline_workers, Path(tmp) / "maps-tuned")
            fps_base_tuned = n_tuned / t_tuned
            print(f"(a') official path with predict_video's allocator setting: {fps_base_tuned:.2f} frames/s")

    # predict_video: the plain fp32 forward gives the reference maps; then the fast runs
    warm = frames_u8[: args.batch + length + 1]
    t32, _, maps32 = timed_predict(copy.deepcopy(model), mp4, predict_kwargs(args, "float32", fast=False), warm)
    print(f"    predict_video, plain fp32 forward: {n_frames} maps in {t32:.1f} s = {n_frames / t32:.2f} frames/s "
          "(the reference maps)")
    common = (f"batch {args.batch}, channels-last, inference_mode, threads {args.threads}, "
              f"BN folded {'no' if args.no_fold else 'yes'}, conv1 reuse {'off' if args.no_stem else 'on'}, "
              f"allocator tuned {'yes' if tuned else 'no'}, compile {'on' if args.compile else 'off'}")
    runs = []  # (label, dtype, frames/s, CPU-s per map, per-frame CC, max |diff|)
    for label, dtype in [("fp32", "float32")] + ([("bf16 autocast", "bfloat16")] if with_bf16 else []):
        tf, cpu_fast, maps = timed_predict(copy.deepcopy(model), mp4, predict_kwargs(args, dtype, fast=True), warm)
        cc = C.per_frame_cc(maps32, maps)
        runs.append((label, dtype, n_frames / tf, cpu_fast / n_frames, cc, float(np.abs(maps32 - maps).max())))
        print(f"(b) predict_video fast, {label}: {n_frames} maps in {tf:.1f} s = {n_frames / tf:.2f} frames/s "
              f"({cpu_fast / n_frames:.2f} CPU-s per map); per-frame CC vs the reference min {np.nanmin(cc):.5f}")
    print(f"    fast settings: {common}")
    spread = float(maps32.reshape(n_frames, -1).std(1).mean())

    # precision policies at model level (one batch of windows)
    policies = precision_policies(copy.deepcopy(model), frames, audio, args.batch, 1 if args.quick else 2)

    def of_peak(gflops: float, peak: dict) -> str:
        return f"{gflops / peak['peak']:.0%} of {peak['peak']:.0f}"

    work_fast = gflop if args.no_stem else gflop_stem
    rows_table = [
        ["(a) official (fp32, batch 8, JPEGs per window)", f"{fps_base:.2f}", "1.00x", f"{gflop:.2f}",
         f"{gflop * fps_base:.0f}", of_peak(gflop * fps_base, peak32), "-"],
    ] + ([["(a') official, with predict_video's allocator setting", f"{fps_base_tuned:.2f}",
           f"{fps_base_tuned / fps_base:.2f}x", f"{gflop:.2f}", f"{gflop * fps_base_tuned:.0f}",
           of_peak(gflop * fps_base_tuned, peak32), "-"]] if fps_base_tuned else []) + [
        ["predict_video, plain fp32 forward (reference maps)", f"{n_frames / t32:.2f}",
         f"{n_frames / t32 / fps_base:.2f}x", f"{gflop:.2f}", f"{gflop * n_frames / t32:.0f}",
         of_peak(gflop * n_frames / t32, peak32), "1 (itself)"],
    ]
    for label, dtype, fps_fast, _, cc, _ in runs:
        peak = peak16 if dtype == "bfloat16" else peak32
        rows_table.append([f"(b) predict_video fast, {label}", f"{fps_fast:.2f}", f"{fps_fast / fps_base:.2f}x",
                           f"{work_fast:.2f}", f"{work_fast * fps_fast:.0f}", of_peak(work_fast * fps_fast, peak),
                           f"{np.nanmin(cc):.5f} / {np.nanmean(cc):.5f}"])
    print()
    print(C.markdown_table(["path", "frames/s", "vs (a)", "GFLOP/window", "achieved GFLOP/s",
                            "of peak (fp32 or bf16)", "per-frame CC vs fp32: min / mean"], rows_table))
    print()
    print("model forward on one isolated batch of windows, by precision policy (CC and diff vs the plain fp32 "
          "forward;\n ms/window indicative only: the stem cache starts empty and the full conv1 output is built, "
          "as forward_with_stem takes it; the frames/s above measure predict_video's own path):")
    print(C.markdown_table(["policy", "ms/window", "CC min", "CC mean", "max |diff|"], policies))
    print()
    for label, _, _, _, cc, diff in runs:
        print(f"fast {label:13s}: max |diff| {diff:.2e} (sigmoid probabilities; mean per-frame spatial std of the "
              f"reference maps {spread:.2e}); per-frame CC min {np.nanmin(cc):.6f}, median {np.nanmedian(cc):.6f}, "
              f"{np.mean(cc >= 0.999):.0%} of frames >= 0.999")
    if not args.checkpoint or args.reinit:
        print("                    (random weights: a random 50-layer trunk amplifies bf16 rounding ~3x per stage; "
              "rerun with --checkpoint for trained weights)")
    print(f"load at end       : {C.load_average()}")
    for label, _, fps_fast, cpu_fast, _, _ in runs:
        print(f"speed-up {label:13s}: {fps_fast / fps_base:.2f}x frames/s, {cpu_base / cpu_fast:.2f}x fewer CPU-seconds "
              "per map")
    accurate = [r for r in runs if np.nanmin(r[4]) >= 0.999]
    if accurate:
        best = max(accurate, key=lambda r: r[2])
        if fps_base_tuned:
            print(f"speed-up (b)/(a') at per-frame CC >= 0.999 ({best[0]}), both with the tuned allocator: "
                  f"{best[2] / fps_base_tuned:.2f}x")
        print(f"speed-up (b)/(a) at per-frame CC >= 0.999 ({best[0]}): {best[2] / fps_base:.2f}x  (target >= 3x)")
    else:
        print("speed-up (b)/(a) at per-frame CC >= 0.999: none of the fast runs kept every frame's CC >= 0.999")
    if args.strides.strip():
        stride_table(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
