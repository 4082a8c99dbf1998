"""``python -m stavis_lib train``: one training stage from the command line (also under
``torchrun --nproc_per_node N -m stavis_lib train ...``)."""
from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from stavis_lib.model import STAGES
from stavis_lib.train.config import PRESETS, TrainConfig, TrainConfigError, preset
from stavis_lib.train.init import first_line
from stavis_lib.train.loop import train

#: First line of the ``--help`` text.
DESCRIPTION = "Two-stage STAViS training (§3.6 of the paper, §6.2.2 of its supplement)."


PRESET_HELP = (
    "official: the official code's schedule (60 epochs, LR /10 at epochs 30 and 45, no early stopping, last "
    "epoch kept); this is what produced the released weights (save_60) and so the paper's reported numbers. "
    "paper: the paper's text (up to 100 epochs, early stopping with patience 10 on validation videos held out "
    "of the training list). cpu_demo: the small CPU demo (from scratch, CE averaged over pixels). smoke: a few "
    "steps for tests. Default: official."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", required=True, help="dataset root in the release layout")
    parser.add_argument("--datasets", default="Synthetic", help="comma-separated database names")
    parser.add_argument("--split", type=int, default=1, help="fold (1-3); 0 = no split (DIEM standard)")
    parser.add_argument("--stage", choices=STAGES, default=None, help="default: from --variant")
    parser.add_argument("--variant", default=None, help="Table-1 variant (default: visual / L3mul_S3 by stage)")
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--sample-size", type=int, default=112)
    parser.add_argument("--sample-duration", type=int, default=16)
    parser.add_argument("--hidden-dim", type=int, default=128, help="D_h of eq. (3)")
    parser.add_argument("--cache-dir", default=None, help="decoded-frame cache (default ~/.cache/stavis/...)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="official", help=PRESET_HELP)
    parser.add_argument("--out", required=True, help="output folder (checkpoints, logs, figures)")
    parser.add_argument("--init", dest="init_checkpoint", default=None,
                        help="checkpoint to start from (stage 2: the stage-1 checkpoint; an official .pth works too)")
    parser.add_argument("--kinetics", dest="kinetics_weights", default=None, help="Hara Kinetics ResNet .pth")
    parser.add_argument("--soundnet", dest="soundnet_weights", default=None,
                        help="sound8.npy / soundnet8.pth / auto (fetch sound8.npy)")
    parser.add_argument("--allow-random-init", action="store_true", default=None,
                        help="let parts without pretrained weights start at random (recorded in the log and config)")
    parser.add_argument("--val-list", default=None,
                        help="fold-list file of the validation videos (held out of training); default: the preset's "
                             "val_fraction of each training list (every k-th video by name)")
    parser.add_argument("--val-fraction", type=float, default=None,
                        help="fraction of the training-list videos held out for validation (0 = none)")
    parser.add_argument("--validate-on-test-list", dest="validate_on_test", action="store_true", default=None,
                        help="allow validation videos that are on the test list (they then select checkpoints)")
    parser.add_argument("--sync-bn", action="store_true", default=None,
                        help="SyncBatchNorm across DDP processes (CUDA); default: each process's micro-batch")
    parser.add_argument("--ce-reduction", choices=("sum", "mean"), default=None,
                        help="D_CE of eq. 8 summed (paper, official) or averaged over pixels")
    parser.add_argument("--milestones", type=_int_list, default=None,
                        help="comma-separated 0-based epochs where the LR drops by gamma (official: 29,44)")
    for name, kind in (("epochs", int), ("patience", int), ("lr", float), ("batch-size", int),
                       ("micro-batch", int), ("steps-per-epoch", int), ("val-every", int),
                       ("val-frames", int), ("checkpoint-every", int), ("keep-every", int), ("num-workers", int),
                       ("threads", int), ("seed", int), ("max-steps", int), ("dampening", float),
                       ("weight-decay", float), ("momentum", float)):
        parser.add_argument(f"--{name}", type=kind, default=None)
    parser.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"), default=None)
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--compile", action="store_true", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--no-resume", action="store_true", help="start afresh even if OUT/last.pt exists")
    parser.add_argument("--deterministic", action="store_true", default=None)
    parser.add_argument("--no-progress", action="store_true")


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc


def _check_paths(args: argparse.Namespace) -> None:
    """Files named on the command line exist (one-line ``TrainConfigError`` naming the option)."""
    if not Path(args.data_root).is_dir():
        raise TrainConfigError(f"--data-root {args.data_root}: no such folder")
    for option, value in (("--init", args.init_checkpoint), ("--kinetics", args.kinetics_weights),
                          ("--val-list", args.val_list)):
        if value is not None and not Path(value).is_file():
            raise TrainConfigError(f"{option} {value}: no such file")
    if args.soundnet_weights not in (None, "auto") and not Path(args.soundnet_weights).is_file():
        raise TrainConfigError(f"--soundnet {args.soundnet_weights}: no such file")


def run(args: argparse.Namespace) -> int:
    from stavis_lib.config import make_config
    from stavis_lib.data.clips import DataConfig

    _check_paths(args)
    stage = args.stage or ("visual" if args.variant in (None, "visual") and args.init_checkpoint is None else "audiovisual")
    variant = args.variant or ("visual" if stage == "visual" else "L3mul_S3")
    try:
        model_config = make_config(variant, depth=args.depth, width=args.width, sample_size=args.sample_size,
                                   sample_duration=args.sample_duration, hidden_dim=args.hidden_dim)
    except (KeyError, ValueError) as exc:
        raise TrainConfigError(f"--variant {variant}: {first_line(exc)}") from exc
    overrides: dict[str, Any] = {}
    for f in fields(TrainConfig):
        value = getattr(args, f.name, None)
        if value is not None and f.name != "stage":  # the stage is preset()'s own argument
            overrides[f.name] = value
    if args.no_resume:
        overrides["resume"] = False
    if args.no_progress:
        overrides["progress"] = False
    cfg = preset(args.preset, stage, **overrides)
    split = None if args.split == 0 else args.split
    data_config = DataConfig(root=args.data_root, datasets=tuple(args.datasets.split(",")), split=split,
                             sample_size=args.sample_size, sample_duration=args.sample_duration,
                             cache_dir=args.cache_dir, progress=not args.no_progress)
    result = train(model_config, data_config, cfg, args.out)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({"out_dir": str(result.out_dir), "best_checkpoint": str(result.best_checkpoint),
                          "last_checkpoint": str(result.last_checkpoint), "best_epoch": result.best_epoch,
                          "best_score": result.best_score, "stopped_early": result.stopped_early,
                          "seconds": round(result.seconds, 1)}, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stavis_lib train`` (also under ``torchrun --nproc_per_node N -m stavis_lib train``)."""
    parser = argparse.ArgumentParser(prog="python -m stavis_lib train", description=DESCRIPTION,
                                     epilog=PRESET_HELP)
    add_arguments(parser)
    return run(parser.parse_args(list(argv) if argv is not None else None))

