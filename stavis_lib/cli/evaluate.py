"""``python -m stavis_lib evaluate``: the command line of :func:`evaluate_split` (a checkpoint, or
with ``--predictions`` maps saved by any model) and :func:`audio_dependence`."""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Sequence

import torch

from stavis_lib.errors import UserError
from stavis_lib.evaluate.audio_test import audio_dependence
from stavis_lib.evaluate.predictions import (MISSING_MODES, PRED_FORMATS, MissingPredictionsWarning,
                                             SavedPredictions, missing_summary)
from stavis_lib.evaluate.reports import AVERAGING
from stavis_lib.evaluate.runner import evaluate_split
from stavis_lib.evaluate.scoring import AUDIO_MODES
from stavis_lib.metrics import markdown_table

__all__ = ["main", "build_parser", "check_inputs"]


def _load_model(path_template: str | None, splits: Sequence[int | None]):
    """``split -> network`` from a checkpoint path (``{split}`` replaced), every file checked now."""
    if path_template is None:
        return None
    from stavis_lib.model.checkpoints import load_checkpoint

    paths: dict[int | None, Path] = {}
    for k in splits:
        try:
            paths[k] = Path(path_template.format(split=k if k is not None else ""))
        except (KeyError, IndexError, ValueError) as exc:
            raise UserError(f"--checkpoint {path_template!r}: only '{{split}}' may appear in braces ({exc})") from None
        if not paths[k].is_file():
            raise UserError(f"--checkpoint {paths[k]}: checkpoint file not found")
    cache: dict[Path, torch.nn.Module] = {}

    def get(split: int | None) -> torch.nn.Module:
        path = paths[split]
        if path not in cache:
            try:
                cache[path] = load_checkpoint(path, map_location="cpu")[0].eval()
            except ValueError as exc:        # unreadable file, not a stavis checkpoint, weights that do not fit
                raise UserError(f"--checkpoint: {exc}") from exc
        return cache[path]

    return get


def _parse_split(text: str) -> int | None:
    """1, 2, 3 -> the split; none/std/standard/0 -> None (the dataset's single standard split)."""
    if text.lower() in ("none", "std", "standard", "0"):
        return None
    if text.isdigit() and int(text) in (1, 2, 3):
        return int(text)
    raise UserError(f"--splits: a split is 1, 2, 3 or 'std', got {text!r}")


def check_inputs(root: str | Path, datasets: Sequence[str], splits: Sequence[int | None]) -> None:
    """Raise :class:`UserError` naming the option for a missing root, or a dataset or split
    without a test fold list (checked before any work starts)."""
    from stavis_lib.data.layout import ReleaseLayout

    root = Path(root)
    if not root.is_dir():
        raise UserError(f"ROOT {root}: folder not found (expected a release layout with fold_lists/)")
    layout = ReleaseLayout(root)
    lists = sorted((root / "fold_lists").glob("*_list_test*_fps.txt"))
    known = sorted({f.name.split("_list_test")[0] for f in lists})
    for db in datasets:
        if db not in known:
            raise UserError(f"--datasets {db}: no test fold list {root / 'fold_lists'}/{db}_list_test_*_fps.txt "
                            f"(datasets with one: {', '.join(known) or 'none'})")
        for k in splits:
            if not layout.resolve_fold_list(db, "test", k).is_file():
                raise UserError(f"--splits {k if k is not None else 'std'}: {layout.fold_list_path(db, 'test', k)} "
                                f"not found (no such split of {db})")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m stavis_lib evaluate",
        description="Score a STAViS checkpoint, or the saved maps of any model (--predictions), and centre-bias, "
                    "mean-GT and human reference lines on the test videos of dataset splits in the release "
                    "layout; write CSV/markdown tables and NSS plots.")
    p.add_argument("root", help="release layout root (video_frames/, video_audio/, annotations/, fold_lists/)")
    p.add_argument("--datasets", nargs="+", default=["Synthetic"], help="dataset names (default: Synthetic)")
    p.add_argument("--splits", nargs="+", default=["1", "2", "3"],
                   help="splits to score: 1 2 3, or 'std' for a single standard split (default: 1 2 3)")
    p.add_argument("--averaging", choices=list(AVERAGING), default="official",
                   help="how a dataset's video means are averaged over the splits: official (DIEM: mean of split "
                        "means; other datasets: pooled over the test videos of all splits), pooled or split_means")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint path; '{split}' in it is replaced by the split number (one model per split). "
                        "Without it only the reference lines are scored.")
    p.add_argument("--predictions", default=None, metavar="DIR",
                   help="score maps saved by any model instead of a checkpoint: DIR/<db>/<video>/pred_sal_%%06d.jpg "
                        "(numbered by the frame they predict, from 1), DIR/<db>/<video>.npz or DIR/<db>/<video>.mp4")
    p.add_argument("--pred-format", choices=list(PRED_FORMATS), default="auto",
                   help="form of the saved maps (default auto: per video the first of npz, jpg, mp4 found)")
    p.add_argument("--missing", choices=list(MISSING_MODES), default="skip",
                   help="scored frames without a saved map: skip (default: left out of the means, counted), "
                        "centre (scored with the centre-bias map) or error")
    p.add_argument("--name", default=None,
                   help="the model's row name (default: the checkpoint's variant, or the predictions folder's name)")
    p.add_argument("--out", default="results/evaluate", help="output folder (default: results/evaluate)")
    p.add_argument("--audio-test", action="store_true",
                   help="also run the audio-dependence test (true sound vs silence vs another video's sound)")
    p.add_argument("--audio", choices=list(AUDIO_MODES), default="true", help="soundtrack fed to the model")
    p.add_argument("--save-jpg", action="store_true",
                   help="save maps as <pred-dir>/<db>/<video>/pred_sal_%%06d.jpg (numbered by the frame they "
                        "predict, from 1; --predictions reads them back)")
    p.add_argument("--save-npz", action="store_true", help="save maps as <pred-dir>/<db>/<video>.npz (uint8)")
    p.add_argument("--pred-dir", default=None, help="where to save predictions (default: <out>/predictions)")
    p.add_argument("--no-baselines", action="store_true", help="skip the centre-bias and mean-GT lines")
    p.add_argument("--no-human", action="store_true", help="skip the human leave-one-viewer-out line")
    p.add_argument("--no-postprocess", action="store_true", help="score raw maps (no sigma-2 blur)")
    p.add_argument("--no-plots", action="store_true", help="skip the NSS-over-time plots")
    p.add_argument("--sauc", choices=["exact", "mit", "none"], default="exact",
                   help="shuffled AUC: exact (all negatives), mit (100 random splits) or none")
    p.add_argument("--max-videos", type=int, default=None, help="only the first N test videos per split")
    p.add_argument("--max-frames", type=int, default=None, help="only the first N frames per video")
    p.add_argument("--batch-size", type=int, default=8, help="windows per forward pass (default 8)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when available)")
    p.add_argument("--dtype", default="float32", help="float32 (default), bfloat16, float16 or auto")
    p.add_argument("--seed", type=int, default=0, help="AUC-J jitter / MIT sAUC seed (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def _model_and_name(args: argparse.Namespace, splits: Sequence[int | None]):
    """The network getter (``--checkpoint``) or the saved maps (``--predictions``), and the row name."""
    if args.predictions is not None:
        clash = [o for o, on in (("--checkpoint", args.checkpoint), ("--audio-test", args.audio_test),
                                 ("--save-jpg", args.save_jpg), ("--save-npz", args.save_npz),
                                 ("--audio", args.audio != "true")) if on]
        if clash:
            raise UserError(f"--predictions: saved maps are scored as they are; {clash[0]} needs a checkpoint")
        if not Path(args.predictions).is_dir():
            raise UserError(f"--predictions {args.predictions}: folder not found")
        saved = SavedPredictions(args.predictions, args.pred_format, args.missing)
        return saved, args.name or saved.root.resolve().name
    model = _load_model(args.checkpoint, splits)
    if args.audio_test and (model is None or not model(splits[0]).config.uses_audio):
        raise UserError("--audio-test needs --checkpoint with an audio-visual model")
    name = args.name
    if name is None:
        name = model(splits[0]).config.variant if model is not None else "model"
    return model, name


def main(argv: list[str] | None = None) -> int:
    """``python -m stavis_lib evaluate ROOT [--checkpoint CKPT | --predictions DIR] ...``; returns an exit status.

    Configuration errors (root, datasets, splits, checkpoint, predictions, counts) raise
    :class:`UserError` naming the option, before any work; the dispatcher prints them on one line
    (exit status 2). Saved predictions without a map for some frames give one ``warning:`` line.
    """
    args = build_parser().parse_args(argv)
    splits = list(dict.fromkeys(_parse_split(t) for t in args.splits))
    for opt in ("max_videos", "max_frames", "batch_size"):
        if getattr(args, opt) is not None and getattr(args, opt) < 1:
            raise UserError(f"--{opt.replace('_', '-')} must be at least 1, got {getattr(args, opt)}")
    check_inputs(args.root, args.datasets, splits)
    model, name = _model_and_name(args, splits)
    kw = dict(max_videos=args.max_videos, max_frames=args.max_frames, batch_size=args.batch_size,
              device=args.device, dtype=args.dtype, seed=args.seed, progress=not args.quiet,
              sauc=None if args.sauc == "none" else args.sauc, postprocess=not args.no_postprocess,
              averaging=args.averaging)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingPredictionsWarning)     # one "warning:" line below instead
        result = evaluate_split(args.root, args.datasets, splits, model, name=name, audio=args.audio,
                                baselines=not args.no_baselines, human=not args.no_human, out_dir=args.out,
                                plots=not args.no_plots, save_jpg=args.save_jpg, save_npz=args.save_npz,
                                pred_dir=args.pred_dir, **kw)
    print(markdown_table(result.datasets))
    print(f"tables and plots written to {args.out}")
    if isinstance(model, SavedPredictions) and (line := missing_summary(result.frames, args.missing)):
        print(f"warning: {line}", file=sys.stderr)
    if args.audio_test:
        table = audio_dependence(args.root, args.datasets, splits, model, name=name, out_dir=args.out, **kw)
        print(markdown_table(table))
    return 0
