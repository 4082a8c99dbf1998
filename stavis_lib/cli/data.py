"""The data sub-commands: ``synth`` (:func:`stavis_lib.data.synthetic.generate_benchmark`),
``import-diem`` (:func:`stavis_lib.data.diem.import_diem`) and ``download``
(:func:`stavis_lib.data.download.fetch_release`)."""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np

from stavis_lib.data.diem import DEFAULT_SIGMA_FRACTION, MAX_FRAMES, MAX_SIDE, import_diem
from stavis_lib.data.diem import DB_NAME as DIEM_DB
from stavis_lib.data.download import RELEASE_DATABASES, fetch_release, release_archives
from stavis_lib.data.synthetic import (DB_NAME, MAX_BYTES, MAX_VIDEOS, SyntheticConfig, estimate_benchmark,
                                       generate_benchmark)
from stavis_lib.errors import UserError


def _size_type(example: str, positive: bool) -> Callable[[str], tuple[int, int]]:
    """An argparse type for ``WxH`` (e.g. ``example``); ``positive``: zero or negative sides are refused too."""

    def parse(text: str) -> tuple[int, int]:
        try:
            w, h = (int(v) for v in text.lower().split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"size must look like {example}, got {text!r}") from None
        if positive and (w <= 0 or h <= 0):
            raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
        return w, h

    return parse


def _config_from_args(args: argparse.Namespace) -> SyntheticConfig:
    overrides: dict = {}
    if args.size:
        overrides.update(width=args.size[0], height=args.size[1])
    if args.viewers is not None:
        if args.viewers < 1:
            raise UserError(f"--viewers {args.viewers}: a video needs at least one simulated viewer")
        overrides["n_viewers"] = args.viewers
    if args.no_mp4:
        overrides["write_mp4"] = False
    try:
        return SyntheticConfig(**overrides)
    except ValueError as exc:
        raise UserError(f"--size/--viewers: {exc}") from None


def synth_main(argv: list[str] | None = None) -> int:
    """``python -m stavis_lib synth OUT_DIR --videos N --seed S``: write the synthetic benchmark.

    Prints an estimate of the disk space and time first; refuses (:class:`UserError`) zero viewers,
    fewer videos than splits, and more than :data:`~stavis_lib.data.synthetic.MAX_VIDEOS` videos or
    :data:`~stavis_lib.data.synthetic.MAX_BYTES` on disk unless ``--force``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m stavis_lib synth",
        description="Generate the synthetic audio-visual eye-tracking benchmark in the STAViS release layout.",
    )
    parser.add_argument("out_dir", help="output folder (created; existing files of the same videos are overwritten)")
    parser.add_argument("--videos", type=int, default=48, help="number of videos (default 48)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--size", type=_size_type("160x120", positive=False), default=None,
                        help="frame size WxH (default 160x120)")
    parser.add_argument("--viewers", type=int, default=None, help="simulated viewers per video (default 16)")
    parser.add_argument("--no-mp4", action="store_true", help="skip the mp4 files (faster)")
    parser.add_argument("--force", action="store_true",
                        help=f"generate even beyond the sanity bounds ({MAX_VIDEOS} videos, {MAX_BYTES / 1e9:.0f} GB)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    cfg = _config_from_args(args)
    if args.videos < cfg.n_splits:
        raise UserError(f"--videos {args.videos}: at least {cfg.n_splits} are needed ({cfg.n_splits}-fold splits)")
    estimate = estimate_benchmark(args.videos, cfg)
    if (args.videos > MAX_VIDEOS or estimate.bytes > MAX_BYTES) and not args.force:
        raise UserError(f"--videos {args.videos}: {estimate.bytes / 1e9:,.1f} GB estimated, beyond the sanity bounds "
                        f"({MAX_VIDEOS} videos, {MAX_BYTES / 1e9:.0f} GB); pass --force to generate them anyway")
    print(f"estimate: {args.videos} videos at {cfg.width}x{cfg.height}, {estimate}", flush=True)
    start = time.perf_counter()
    root = generate_benchmark(args.out_dir, n_videos=args.videos, seed=args.seed, config=cfg, progress=not args.quiet)
    print(f"wrote {args.videos} synthetic videos ({DB_NAME}) to {root} in {time.perf_counter() - start:.1f} s",
          file=sys.stdout)
    return 0


def import_diem_main(argv: list[str] | None = None) -> int:
    """``python -m stavis_lib import-diem GAZE_DIR --out OUT_DIR``: maps + leave-one-out human NSS."""
    parser = argparse.ArgumentParser(
        prog="python -m stavis_lib import-diem",
        description="Turn a folder of raw DIEM gaze files (one per viewer) into per-frame fixation and "
                    "dense maps in the STAViS release layout, and report the leave-one-out human NSS.",
    )
    parser.add_argument("gaze_dir", help="folder of one video's gaze files, named like arctic_bears_1066x710")
    parser.add_argument("--out", required=True, help="release-layout root to write into")
    parser.add_argument("--size", type=_size_type("1066x710", positive=True), default=None,
                        help="video size WxH (default: from the name)")
    parser.add_argument("--frames", type=int, default=None, help="frame count (default: from the gaze rows)")
    parser.add_argument("--sigma", type=float, default=None,
                        help=f"dense-map Gaussian sigma in pixels (default {DEFAULT_SIGMA_FRACTION} x width)")
    parser.add_argument("--eyes", choices=("both", "left", "right"), default="both",
                        help="which eye's fixations to use (default both: averaged when both fixate)")
    parser.add_argument("--db", default=DIEM_DB, help=f"database name in the layout (default {DIEM_DB})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.frames is not None and not 1 <= args.frames <= MAX_FRAMES:
        raise UserError(f"--frames {args.frames}: expected 1..{MAX_FRAMES}")
    if args.sigma is not None and not 0 < args.sigma <= MAX_SIDE:
        raise UserError(f"--sigma {args.sigma}: expected a positive number of pixels (at most {MAX_SIDE})")
    start = time.perf_counter()
    res = import_diem(args.gaze_dir, args.out, size=args.size, n_frames=args.frames, sigma=args.sigma,
                      eyes=args.eyes, db=args.db, progress=not args.quiet)
    print(f"{res.video}: {res.n_frames} frames at {res.width}x{res.height}, {res.n_viewers} viewers, "
          f"sigma {res.sigma:.1f} px -> {res.root} ({time.perf_counter() - start:.1f} s)")
    print(f"leave-one-out human NSS: {res.mean_loo_nss:.3f} (mean over {int(np.isfinite(res.loo_nss).sum())} frames)")
    return 0


def download_main(argv: list[str] | None = None) -> int:
    """``python -m stavis_lib download ROOT`` — fetch the official release (needs internet)."""
    parser = argparse.ArgumentParser(prog="python -m stavis_lib download",
                                     description="Download and unpack the official STAViS data release.")
    parser.add_argument("root", help="data root to create (video_frames/, video_audio/, annotations/, fold_lists/)")
    parser.add_argument("--databases", nargs="+", default=list(RELEASE_DATABASES), choices=RELEASE_DATABASES)
    parser.add_argument("--no-frames", action="store_true")
    parser.add_argument("--no-audio", action="store_true")
    parser.add_argument("--no-annotations", action="store_true")
    parser.add_argument("--no-pretrained", action="store_true")
    parser.add_argument("--keep-archives", action="store_true")
    args = parser.parse_args(argv)
    archives = release_archives(args.databases, not args.no_frames, not args.no_audio, not args.no_annotations,
                                True, not args.no_pretrained)
    fetch_release(args.root, archives, keep_archives=args.keep_archives)  # errors: one line, status 2
    print(f"release unpacked into {args.root}")
    return 0
