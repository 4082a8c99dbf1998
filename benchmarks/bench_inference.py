"""Inference speed: the official test path versus ``predict_video``, in one run, on one video.

(a) **baseline** — the official approach (../shared/reference/README.md, "Input conventions
    of the official test path"): frames stored as JPEGs in the release layout; for every
    window, 16 JPEG decodes, a PIL resize to 320×240 (default resample) and a BILINEAR resize
    to 112×112, 0-255 RGB minus the ActivityNet means; windows j = 1 … n-1 with frames
    j … min(n, j+15) and LoopPadding; a DataLoader with workers; fp32, batch 8, no_grad;
    sigmoid, min-max to uint8 and a JPEG per map, as test_sal.py saves them.
(b) **fast** — ``stavis_lib.inference.predict_video`` on the same video's mp4 with its
    fastest settings here: each frame decoded once, many windows per batch, channels-last,
    ``inference_mode``, bf16 autocast where the CPU has native bf16, the exact conv1 reuse
    (``stem_cache``) when ``predict_video`` offers it, glibc malloc tuned.

Same network for both: the full-size model (depth 50, 112×112, 16 frames, L3mul_S3) with
random weights, heads scaled and BatchNorm calibrated on the video so that maps have spatial
structure (see ``_common.normalise_heads``). Prints frames/s of both, GFLOP per clip (counted
by FlopCounterMode), achieved GFLOP/s and its fraction of the fp32/bf16 ``torch.mm`` peak
measured in the same run, the maximum difference and the per-frame CC between the fp32 and
the fast maps, and — last — the speed-up.

    python benchmarks/bench_inference.py            # ~2-4 min on 2 cores
    python benchmarks/bench_inference.py --quick    # sanity run, ~1 min
"""
from __future__ import annotations

import argparse
import copy
import inspect
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import _common as C

from stavis_lib.config import build_model
from stavis_lib.data.audio import OFFICIAL_WINDOW, clip_audio
from stavis_lib.data.clips import ACTIVITYNET_MEAN, normalize_clip, window_indices
from stavis_lib.data.layout import ReleaseLayout
from stavis_lib.inference import predict_video
from stavis_lib.model.stem_cache import StemCache, forward_with_stem, stem_flops_per_clip

DB = "Synthetic"


# ------------------------------------------------------------------ data
def synthetic_video(cache_dir: Path, n_frames: int) -> tuple[ReleaseLayout, str, int, float]:
    """A synthetic video (H3's generator) of ``n_frames`` 320×240 frames with sound, in the release layout."""
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
def predict_kwargs(args, dtype: str) -> dict:
    kw = dict(batch_size=args.batch, dtype=dtype, threads=args.threads, progress=False, map_size="model",
              normalize="sigmoid", keep_maps=True, channels_last=True, compile=args.compile)
    params = inspect.signature(predict_video).parameters
    for name in ("reuse_conv1", "reuse_stem"):
        if name in params:
            kw[name] = not args.no_stem and dtype != "float32"
            break
    return kw


def timed_predict(model, path: Path, kw: dict, warm_frames: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(wall seconds, CPU seconds, maps) of predict_video on ``path`` after a short warm-up call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predict_video(warm_frames, model, fps=25.0, **kw)  # oneDNN primitive creation, page-in
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
    from stavis_lib.inference import channels_last_input, make_autocast_safe, to_channels_last

    net = to_channels_last(make_autocast_safe(model))
    n = frames.shape[0]
    first = 8
    count = max(1, min(batch, n - 16 - first))
    rows = np.stack([np.arange(s, s + 16) for s in range(first, first + count)])
    clips = channels_last_input(frames[torch.as_tensor(rows)].permute(0, 2, 1, 3, 4))
    sound = audio[:count] if audio.shape[0] >= count else audio[:1].expand(count, -1)

    def forward(dtype, stem: bool, fp32_names: list[str]):
        ac = torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None)
        with torch.inference_mode(), ac, C.fp32_modules(net, [m for m in fp32_names if not (stem and m == "trunk.conv1")]):
            if not stem:
                return net(clips, sound).saliency
            cache = StemCache(net.trunk.conv1)
            stem_fp32 = "trunk.conv1" in fp32_names or dtype is None
            with torch.autocast("cpu", enabled=not stem_fp32):
                for i in range(int(rows.min()), int(rows.max()) + 1):
                    cache.add(i, frames[i])
                out = cache.windows(rows)
            return forward_with_stem(net, out, sound).saliency

    policies = [
        ("fp32", None, False, []),
        ("fp32 + conv1 reuse", None, True, []),
        ("bf16 autocast", torch.bfloat16, False, []),
        ("bf16 autocast + conv1 reuse", torch.bfloat16, True, []),
        ("bf16 autocast + conv1 reuse, stem in fp32", torch.bfloat16, True, ["trunk.conv1"]),
        ("mixed: conv1, layer1, DSAM, heads fp32; layer2-3 bf16", torch.bfloat16, False, MIXED_FP32),
        ("mixed + conv1 reuse (fp32 stem)", torch.bfloat16, True, MIXED_FP32),
    ]
    ref = None
    table = []
    for name, dtype, stem, names in policies:
        forward(dtype, stem, names)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = forward(dtype, stem, names)
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
    p.add_argument("--frames", type=int, default=96, help="frames of the synthetic video (default 96)")
    p.add_argument("--batch", type=int, default=32, help="windows per forward pass of predict_video (default 32)")
    p.add_argument("--baseline-batch", type=int, default=8, help="official batch size (default 8)")
    p.add_argument("--baseline-workers", type=int, default=2, help="DataLoader workers of the baseline (default 2)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all logical CPUs)")
    p.add_argument("--dtype", default="auto", help="predict_video dtype for the fast run (default auto = bf16 where native)")
    p.add_argument("--compile", action="store_true", help="torch.compile in the fast run (slow start on CPU)")
    p.add_argument("--no-stem", action="store_true", help="disable the conv1 reuse in the fast run")
    p.add_argument("--no-malloc-tuning", action="store_true", help="leave glibc malloc at its defaults")
    p.add_argument("--checkpoint", type=Path, help="a project checkpoint (trained weights, any size) instead of the "
                   "random full-size network")
    p.add_argument("--depth", type=int, default=50)
    p.add_argument("--variant", default="L3mul_S3")
    p.add_argument("--cache-dir", type=Path, default=C.DEFAULT_CACHE)
    p.add_argument("--quick", action="store_true", help="short video (40 frames), fewer repeats")
    args = p.parse_args(argv)
    if args.quick:
        args.frames = min(args.frames, 40)
    torch.set_num_threads(args.threads)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    print("== bench_inference: official test path vs predict_video ==")
    print(C.machine_summary(args.threads))

    layout, video, n_frames, fps = synthetic_video(args.cache_dir, args.frames)
    mp4 = layout.root / "videos" / DB / f"{video}.mp4"
    print(f"video   : {video}, {n_frames} frames 320x240 @ {fps:g} fps with sound (JPEGs + wav in the release layout, and {mp4.name})")

    # the network: full size, random weights made informative, BN calibrated on the video
    torch.manual_seed(0)
    if args.checkpoint:
        from stavis_lib.model.checkpoints import load_checkpoint

        model = load_checkpoint(args.checkpoint)[0].eval()
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
    if args.checkpoint:
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
    peak32 = C.matmul_peak_gflops(torch.float32, seconds=0.5 if args.quick else 1.5)
    peak16 = C.matmul_peak_gflops(torch.bfloat16, seconds=0.5 if args.quick else 1.5)
    print(f"FLOPs   : {gflop:.2f} GFLOP per clip (FlopCounterMode; conv1 {direct / 1e9:.2f}); "
          f"{gflop_stem:.2f} with conv1 reuse")
    print(f"peak    : torch.mm 2048^3  fp32 {peak32:.0f} GFLOP/s, bf16 {peak16:.0f} GFLOP/s")

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

    # (b) predict_video: fp32 reference maps, then the fast settings
    malloc = False if args.no_malloc_tuning else C.tune_malloc()
    warm = frames_u8[:24]
    kw32 = predict_kwargs(args, "float32")
    t32, _, maps32 = timed_predict(copy.deepcopy(model), mp4, kw32, warm)
    print(f"    predict_video fp32 : {n_frames} maps in {t32:.1f} s = {n_frames / t32:.2f} frames/s (reference maps)")
    kwf = predict_kwargs(args, args.dtype)
    tf, cpu_fast, mapsf = timed_predict(copy.deepcopy(model), mp4, kwf, warm)
    cpu_fast /= n_frames
    fps_fast = n_frames / tf
    from stavis_lib.inference import resolve_autocast_dtype

    fast_dtype = resolve_autocast_dtype(args.dtype, torch.device("cpu"))
    stem_in = kwf.get("reuse_conv1", kwf.get("reuse_stem", False))
    settings = (f"{'bf16 autocast' if fast_dtype == torch.bfloat16 else 'fp32'}, batch {args.batch}, channels-last, "
                f"inference_mode, threads {args.threads}, conv1 reuse {'on' if stem_in else 'off'}, "
                f"malloc tuned {'yes' if malloc else 'no'}, compile {'on' if args.compile else 'off'}")
    print(f"(b) predict_video fast: {n_frames} maps in {tf:.1f} s = {fps_fast:.2f} frames/s ({settings}); "
          f"{cpu_fast:.2f} CPU-s per map")

    cc = C.per_frame_cc(maps32, mapsf)
    diff = float(np.abs(maps32 - mapsf).max())
    spread = float(maps32.reshape(n_frames, -1).std(1).mean())

    # precision policies and the conv1 reuse at model level (one batch of windows)
    policies = precision_policies(copy.deepcopy(model), frames, audio, args.batch, 1 if args.quick else 2)

    work_fast = gflop_stem if stem_in else gflop
    peak_fast = peak16 if fast_dtype == torch.bfloat16 else peak32
    table = C.markdown_table(
        ["path", "frames/s", "GFLOP/clip", "achieved GFLOP/s", "of mm peak"],
        [
            ["(a) official (fp32, batch 8, JPEG per window)", f"{fps_base:.2f}", f"{gflop:.2f}",
             f"{gflop * fps_base:.0f}", f"{gflop * fps_base / peak32:.0%} of fp32 {peak32:.0f}"],
            ["predict_video fp32", f"{n_frames / t32:.2f}", f"{gflop:.2f}", f"{gflop * n_frames / t32:.0f}",
             f"{gflop * n_frames / t32 / peak32:.0%} of fp32 {peak32:.0f}"],
            [f"(b) predict_video fast", f"{fps_fast:.2f}", f"{work_fast:.2f}", f"{work_fast * fps_fast:.0f}",
             f"{work_fast * fps_fast / peak_fast:.0%} of {'bf16' if peak_fast == peak16 else 'fp32'} {peak_fast:.0f}"],
        ],
    )
    print()
    print(table)
    print()
    print(f"model forward on one batch of windows, by precision policy (CC and diff vs the plain fp32 forward):")
    print(C.markdown_table(["policy", "ms/window", "CC min", "CC mean", "max |diff|"], policies))
    print()
    print(f"fast vs fp32 maps : max |diff| {diff:.2e} (sigmoid probabilities; mean per-frame spatial std of the fp32 "
          f"maps {spread:.2e}); per-frame CC min {np.nanmin(cc):.5f}, median {np.nanmedian(cc):.5f}, "
          f"mean {np.nanmean(cc):.5f}, {np.mean(cc >= 0.999):.0%} of frames >= 0.999 (target: all >= 0.999)")
    if not args.checkpoint:
        print("                    (random weights: a random 50-layer trunk amplifies rounding far more than a trained "
              "one; rerun with --checkpoint for trained weights)")
    print(f"load at end       : {C.load_average()}")
    print(f"CPU-time ratio    : {cpu_base / cpu_fast:.2f}x fewer CPU-seconds per map (less sensitive to other load)")
    print(f"speed-up (b)/(a)  : {fps_fast / fps_base:.2f}x  (target >= 3x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
