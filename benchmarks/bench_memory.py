"""Memory and time of ``predict_video`` on a long 720p video and a 4K video with sound.

Generates once (into the cache folder) a 10-minute 1280×720, 25 fps H.264 video with an AAC
sine tone (ffmpeg from imageio-ffmpeg, lavfi ``testsrc`` + ``sine``), cuts prefixes of the
requested lengths from it (stream copy), and runs ``predict_video`` on each prefix in a fresh
process, reporting wall time, frames/s and peak resident memory (``ru_maxrss``) of that
process. Maps are computed at the video's resolution and dropped (``keep_maps=False``), as a
user writing an overlay or a maps file would run it. Time should grow linearly with the
number of frames and peak memory should not grow at all; the target is < 1.5 GB.

The model is a flag: ``--model small`` (default: the CPU demo network, ResNet-10, width 16,
64×64, 16 frames, L3mul_S3) keeps the 10-minute prefix at ~20-30 minutes on 2 cores;
``--model full`` (ResNet-50, 112×112) measures the real network (expect 15000 frames at a
few frames/s on 2 cores: about an hour for the 10-minute prefix alone). Peak RSS includes
~670 MB that ``import torch`` (CUDA-enabled wheel) maps before any work; the script also
prints the RSS after building the model.

    python benchmarks/bench_memory.py                         # 1, 2, 10 min, small model (~30 min on 2 cores)
    python benchmarks/bench_memory.py --minutes 0.5,1 --model full
    python benchmarks/bench_memory.py --quick                 # 0.25, 0.5, 1 min
    python benchmarks/bench_memory.py --4k 20,30              # 20 s and 30 s of 3840x2160 (target: 2 min)

The 4K case (``--4k SECONDS,...``) generates a 3840×2160, 25 fps clip of the longest length
asked for (cached) and runs each length, with maps at the video's resolution and, with
``--overlay``, the overlay video written as well. Full-resolution frames are held only as
uint8 and only while the overlay writer waits for them, and maps are upsampled one frame at a
time, so peak memory should not depend on the length; the target is < 1.5 GB for 2 minutes.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import _common as C

FPS = 25
LONG_MINUTES = 10.0


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def make_video(path: Path, width: int, height: int, seconds: float) -> Path:
    """A ``width``x``height``, 25 fps testsrc clip of ``seconds`` with a 440 Hz tone (generated once)."""
    if path.is_file():
        return path
    tmp = path.with_suffix(".tmp.mp4")
    cmd = [ffmpeg(), "-hide_banner", "-v", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate={FPS}:duration={seconds:g}",
           "-f", "lavfi", "-i", f"sine=frequency=440:beep_factor=4:sample_rate=44100:duration={seconds:g}",
           "-c:v", "libx264", "-preset", "ultrafast", "-crf", "30", "-g", str(10 * FPS), "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-b:a", "64k", "-shortest", str(tmp)]
    print(f"generating {path.name} ({seconds:g} s {width}x{height} @ {FPS} fps + 440 Hz tone), once ...", flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    tmp.rename(path)
    print(f"  done in {time.perf_counter() - t0:.0f} s, {path.stat().st_size / 1e6:.0f} MB", flush=True)
    return path


def make_long_video(cache_dir: Path) -> Path:
    """The 10-minute 720p test video with sound."""
    return make_video(cache_dir / "long_720p_10min.mp4", 1280, 720, int(LONG_MINUTES * 60))


def make_4k_video(cache_dir: Path, seconds: float) -> Path:
    """A 3840x2160 clip of ``seconds`` with sound (one file per length)."""
    return make_video(cache_dir / f"uhd_{seconds:g}s.mp4", 3840, 2160, seconds)


def prefix(long_video: Path, minutes: float) -> Path:
    """The first ``minutes`` of the long video (stream copy; cut at a key frame every 10 s)."""
    if minutes >= LONG_MINUTES:
        return long_video
    path = long_video.with_name(f"long_720p_{minutes:g}min.mp4")
    if not path.is_file():
        tmp = path.with_suffix(".tmp.mp4")
        subprocess.run([ffmpeg(), "-hide_banner", "-v", "error", "-y", "-i", str(long_video), "-t", f"{minutes * 60:g}",
                        "-c", "copy", str(tmp)], check=True)
        tmp.rename(path)
    return path


def model_kwargs(name: str) -> dict:
    if name == "small":
        from stavis_lib.demo import DemoConfig

        return DemoConfig().model_kwargs()
    if name == "full":
        return {}
    raise SystemExit(f"--model must be small or full, got {name!r}")


def worker(args: argparse.Namespace) -> int:
    """One measurement in this (fresh) process: prints a JSON line."""
    import torch

    from stavis_lib.model import build_model
    from stavis_lib.inference import predict_video

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model("L3mul_S3", **model_kwargs(args.model)).eval()
    rss_model = C.peak_rss_mb()
    t0 = time.perf_counter()
    overlay = Path(args.video).with_suffix(".overlay.mp4") if args.overlay else None
    pred = predict_video(args.video, model, batch_size=args.batch, dtype=args.dtype, threads=args.threads,
                         progress=False, keep_maps=False, tune_allocator=not args.no_allocator_tuning,
                         overlay_path=overlay)
    if overlay is not None:
        overlay.unlink(missing_ok=True)
    seconds = time.perf_counter() - t0
    print(json.dumps({"frames": pred.n_frames, "seconds": seconds, "peak_rss_mb": C.peak_rss_mb(),
                      "rss_after_model_mb": rss_model, "dtype": pred.dtype, "video_size": pred.video_size,
                      "has_audio": pred.has_audio}))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", default="1,2,10", help="prefix lengths in minutes (default 1,2,10; at most 10)")
    p.add_argument("--model", default="small", help="small (CPU demo network, default) or full (ResNet-50, 112x112)")
    p.add_argument("--batch", type=int, default=16, help="windows per forward pass (default 16)")
    p.add_argument("--dtype", default="auto", help="predict_video dtype (default auto)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--no-allocator-tuning", action="store_true",
                   help="predict_video(tune_allocator=False): glibc malloc at its defaults (slower, less peak RSS)")
    p.add_argument("--cache-dir", type=Path, default=C.DEFAULT_CACHE)
    p.add_argument("--quick", action="store_true", help="prefixes of 0.25, 0.5 and 1 minute")
    p.add_argument("--4k", dest="uhd", default=None,
                   help="instead of the 720p prefixes: these lengths in seconds of a 3840x2160 video (e.g. 20,30)")
    p.add_argument("--overlay", action="store_true", help="also write the overlay video (the frames are held for it)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--video", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.uhd:
        return run_4k(args)
    if args.quick:
        args.minutes = "0.25,0.5,1"
    minutes = sorted({min(float(m), LONG_MINUTES) for m in args.minutes.split(",") if m.strip()})
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    print("== bench_memory: predict_video on a long 720p video with sound ==")
    print(C.machine_summary(args.threads))
    size_note = ("small model = CPU demo network (ResNet-10, width 16, 64x64x16, L3mul_S3)" if args.model == "small"
                 else "full-size model (ResNet-50, 112x112x16, L3mul_S3)")
    print(f"model   : {size_note}; batch {args.batch}, dtype {args.dtype}, maps at 1280x720, keep_maps=False")
    long_video = make_long_video(args.cache_dir)
    rows, results = [], []
    for m in minutes:
        video = prefix(long_video, m)
        r = run_worker(args, video)
        results.append(r)
        print(f"  {m:g} min: {r['frames']} frames in {r['seconds']:.1f} s = {r['frames'] / r['seconds']:.1f} frames/s, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB (after building the model: {r['rss_after_model_mb']:.0f} MB)", flush=True)
        rows.append([f"{m:g}", str(r["frames"]), f"{r['seconds']:.1f}", f"{1e3 * r['seconds'] / r['frames']:.1f}",
                     f"{r['peak_rss_mb']:.0f}"])
    print()
    print(C.markdown_table(["minutes", "frames", "seconds", "ms/frame", "peak RSS MB"], rows))
    if len(results) >= 3:  # a line through two points says nothing about linearity
        import numpy as np

        f = np.array([r["frames"] for r in results], dtype=float)
        s = np.array([r["seconds"] for r in results], dtype=float)
        slope, intercept = np.polyfit(f, s, 1)
        resid = float(np.max(np.abs(s - (slope * f + intercept)) / s))
        print(f"\ntime    : {1e3 * slope:.2f} ms/frame + {intercept:.1f} s start-up (linear fit; max deviation {resid:.1%})")
    peaks = [r["peak_rss_mb"] for r in results]
    print(f"memory  : peak RSS {min(peaks):.0f}-{max(peaks):.0f} MB over {results[0]['frames']}-{results[-1]['frames']} "
          f"frames (target < 1536 MB: {'met' if max(peaks) < 1536 else 'NOT met'})")
    print(f"load at end: {C.load_average()}")
    return 0


def run_worker(args: argparse.Namespace, video: Path) -> dict:
    """One measurement in a fresh process (so each peak RSS is its own)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--video", str(video), "--model", args.model,
           "--batch", str(args.batch), "--dtype", args.dtype, "--threads", str(args.threads)]
    if args.no_allocator_tuning:
        cmd.append("--no-allocator-tuning")
    if args.overlay:
        cmd.append("--overlay")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_4k(args: argparse.Namespace) -> int:
    """Peak memory on 3840x2160 clips of the requested lengths (maps at 4K, optional overlay)."""
    lengths = sorted({float(x) for x in args.uhd.split(",") if x.strip()})
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    print("== bench_memory: predict_video on a 3840x2160 video with sound ==")
    print(C.machine_summary(args.threads))
    print(f"model   : {args.model}; batch {args.batch}, dtype {args.dtype}, maps at 3840x2160, keep_maps=False, "
          f"overlay {'written' if args.overlay else 'not written'}")
    rows, peaks = [], []
    for seconds in lengths:
        r = run_worker(args, make_4k_video(args.cache_dir, seconds))
        peaks.append(r["peak_rss_mb"])
        print(f"  {seconds:g} s: {r['frames']} frames in {r['seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB "
              f"(after building the model: {r['rss_after_model_mb']:.0f} MB)", flush=True)
        rows.append([f"{seconds:g}", str(r["frames"]), f"{r['seconds']:.1f}", f"{r['peak_rss_mb']:.0f}"])
    print()
    print(C.markdown_table(["seconds", "frames", "wall s", "peak RSS MB"], rows))
    print(f"memory  : peak RSS {min(peaks):.0f}-{max(peaks):.0f} MB (target < 1536 MB for 2 minutes: "
          f"{'met on these lengths' if max(peaks) < 1536 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
