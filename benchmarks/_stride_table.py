"""The stride table of ``bench_inference.py``: frames/s and per-frame CC against stride 1 of
``predict_video(stride=K)`` on a trained network and real videos.

For each video and each K: one ``predict_video`` call (maps at the model's size, min-max
stretched as ``predict`` saves them; decode, resize, network and interpolation timed; no
files written), after one warm-up call per K on the first video. CC is per frame against the
same video's stride-1 maps (min-max stretching does not change CC); "CC between" takes only
the interpolated frames.
"""
from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np

import _common as C

from stavis_lib.inference import predict_video
from stavis_lib.inference.stride import computed_frames

#: the videos shipped with the repository (real clips with sound)
MEDIA = C.REPO / "assets" / "media"


def resolve_checkpoint(checkpoint: Path | None) -> tuple[Path | None, str]:
    """The network of the table: ``checkpoint``, else the newest audio-visual one trained by the
    demo (as ``predict`` picks it: ``find_demo_checkpoint``, under ``$STAVIS_HOME``)."""
    if checkpoint is not None:
        return checkpoint, "given with --checkpoint"
    from stavis_lib.demo import find_demo_checkpoint, stavis_home

    found = find_demo_checkpoint("audiovisual")
    return found, f"the demo's newest audio-visual checkpoint under {stavis_home()}"


def demo_test_videos(checkpoint: Path, count: int) -> list[Path]:
    """Up to ``count`` held-out test videos (mp4) of the demo run that wrote ``checkpoint``
    (its ``demo.json`` names the split), or none when the checkpoint is not a demo's."""
    run = checkpoint.resolve().parent.parent
    try:
        split = json.loads((run / "demo.json").read_text())["config"]["split"]
    except (OSError, ValueError, KeyError):
        return []
    videos = []
    for listing in sorted((run / "data" / "fold_lists").glob(f"*_list_test_{split}_fps.txt")):
        database = listing.name.split("_list_")[0]
        for line in listing.read_text().splitlines():
            path = run / "data" / "videos" / database / f"{line.split()[0]}.mp4"
            if line.strip() and path.is_file():
                videos.append(path)
    return videos[:count]


def _run(model, video: Path | np.ndarray, stride: int, batch: int, threads: int) -> tuple[float, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        pred = predict_video(video, model, fps=25.0 if isinstance(video, np.ndarray) else None, batch_size=batch,
                             threads=threads, progress=False, map_size="model", dtype="float32", stride=stride)
    return time.perf_counter() - start, pred


def measure(model, videos: list[Path], strides: list[int], batch: int, threads: int) -> list[dict]:
    """One record per (video, K): frames, windows, seconds, per-frame CC against K = 1 (``strides``
    sorted, starting with 1)."""
    length = model.config.sample_duration
    warm = np.random.default_rng(0).integers(0, 256, (batch * max(strides) + 2 * length, 120, 160, 3), np.uint8)
    for k in strides:  # warm-up: oneDNN kernels for every batch shape, memory paged in
        _run(model, warm, k, batch, threads)
    records = []
    for video in videos:
        reference = None
        for k in strides:
            seconds, pred = _run(model, video, k, batch, threads)
            reference = pred.maps if reference is None else reference
            cc = C.per_frame_cc(reference, pred.maps)
            between = np.setdiff1d(np.arange(pred.n_frames), computed_frames(pred.n_frames, k))
            records.append(dict(video=video.name, size=f"{pred.video_size[1]}x{pred.video_size[0]}", k=k,
                                frames=pred.n_frames, windows=pred.windows, seconds=seconds, cc=cc,
                                cc_between=cc[between] if between.size else np.array([])))
            print(f"  {video.name}, K={k}: {pred.n_frames} frames, {pred.windows} windows, {seconds:.1f} s, "
                  f"per-frame CC vs K=1 mean {np.nanmean(cc):.4f}", flush=True)
    return records


def _row(label: str, size: str, k: int, recs: list[dict], base_fps: float | None) -> list[str]:
    frames = sum(r["frames"] for r in recs)
    seconds = sum(r["seconds"] for r in recs)
    cc = np.concatenate([r["cc"] for r in recs])
    between = np.concatenate([r["cc_between"] for r in recs])
    fps = frames / seconds
    return [label, size, str(k), f"{frames}", f"{sum(r['windows'] for r in recs)}", f"{fps:.1f}",
            f"{fps / base_fps:.2f}x" if base_fps else "-", f"{np.nanmean(cc):.4f}", f"{np.nanmin(cc):.4f}",
            f"{np.nanmean(between):.4f}" if between.size else "-"]


def table(records: list[dict], strides: list[int]) -> str:
    """Markdown: one row per video and K, then all videos together per K."""
    rows = []
    groups = [(v, [r for r in records if r["video"] == v]) for v in dict.fromkeys(r["video"] for r in records)]
    groups.append(("all videos", records))
    for label, recs in groups:
        base = [r for r in recs if r["k"] == 1]
        base_fps = sum(r["frames"] for r in base) / sum(r["seconds"] for r in base) if base else None
        size = recs[0]["size"] if label != "all videos" else "-"
        for k in sorted(strides):
            rows.append(_row(label, size, k, [r for r in recs if r["k"] == k], base_fps))
    return C.markdown_table(["video", "size", "K", "frames", "windows", "frames/s", "vs K=1",
                             "CC mean", "CC min", "CC mean, interpolated frames"], rows)


def stride_table(args) -> None:
    """Print the stride table (or why it was skipped)."""
    from stavis_lib.model.checkpoints import load_checkpoint

    strides = sorted({int(k) for k in args.strides.split(",") if k.strip()} | {1})
    checkpoint, how = resolve_checkpoint(args.checkpoint)
    print(f"\n== stride table: predict_video(stride=K), K = {', '.join(map(str, strides))} ==")
    if checkpoint is None:
        print(f"skipped: no checkpoint ({how}: none; train one with `python -m stavis_lib demo` or pass --checkpoint)")
        return
    model = load_checkpoint(checkpoint)[0].eval()
    cfg = model.config
    print(f"network : {checkpoint} ({how}); {cfg.variant}, depth {cfg.depth}, width {cfg.width}, "
          f"{cfg.sample_size}x{cfg.sample_size}, {cfg.sample_duration} frames")
    videos = list(args.stride_videos or []) or (demo_test_videos(checkpoint, args.stride_synthetic)
                                                + sorted(p for p in MEDIA.iterdir() if p.is_file()))
    print(f"videos  : {', '.join(str(v) for v in videos)}")
    print(f"settings: batch {args.batch}, fp32, threads {args.threads}, maps at model size (min-max), "
          "conv1 reuse and BN folding on (defaults), no files written; wall time of each call")
    records = measure(model, videos, strides, args.batch, args.threads)
    print(table(records, strides))
    print(f"load at end: {C.load_average()}")
