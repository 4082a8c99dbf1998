"""``python -m stavis_lib predict VIDEO --out DIR``: saliency maps, an overlay video with sound and a
summary for any video, from a checkpoint (the given one, or the newest one trained by ``demo``);
``predict VIDEO... | FOLDER | GLOB | LIST --out DIR``: the same for a corpus, one folder per video
and a manifest, resumable, sharded over the processes of ``torchrun``."""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from stavis_lib.errors import UserError, os_error_message


class CheckpointNotFound(UserError, RuntimeError):
    """No checkpoint given and none trained by ``demo`` exists."""


def resolve_checkpoint(checkpoint: str | None, variant: str | None) -> Path:
    """The checkpoint to predict with: the given one, or the newest one trained by ``demo``."""
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_file():
            raise CheckpointNotFound(f"checkpoint {path} does not exist")
        return path
    from stavis_lib.demo import find_demo_checkpoint, stavis_home

    stage = "visual" if variant == "visual" else "audiovisual"
    found = find_demo_checkpoint(stage)
    if found is None:
        raise CheckpointNotFound(
            f"no checkpoint given and no {stage} checkpoint trained by the demo under {stavis_home()}.\n"
            "Train one with `python -m stavis_lib demo` (or `make demo`, 7–8 minutes on 2 idle CPU cores), "
            "or pass --checkpoint PATH (a checkpoint from `python -m stavis_lib train`, or an official "
            "STAViS .pth with --variant). Set STAVIS_HOME if the demo wrote elsewhere."
        )
    return found


def load_model(path: Path, variant: str | None = None):
    """A model from one of our checkpoints, or from an official STAViS ``.pth`` (``--variant``,
    default L3mul_S3).

    Nothing runs on partly random weights: a file from which a part of the variant was not
    loaded (e.g. a visual-only official file as ``L3mul_S3``, or a dict of unrelated tensors),
    and a missing, empty or truncated file, raise a one-line ``UserError`` naming the file (and,
    for official files, the ``--variant`` that fits).
    """
    from stavis_lib.model import checkpoints, official

    state = checkpoints.read_checkpoint_file(path)
    if isinstance(state, dict) and "config" in state:
        model, _ = checkpoints.load_checkpoint(path)
        if variant is not None and variant != model.config.variant:
            print(f"note: {path} holds variant {model.config.variant!r}; --variant {variant!r} ignored",
                  file=sys.stderr)
        return model
    if not isinstance(state, dict):
        raise checkpoints.CheckpointError(f"{path}: expected a dict of tensors, found {type(state).__name__}")
    from stavis_lib.model import build_model

    arch = str(state.get("arch", ""))  # official files say "resnet-50"; build that depth
    depth = {"depth": int(arch[len("resnet-"):])} if arch.startswith("resnet-") and arch[7:].isdigit() else {}
    try:
        model = build_model(variant or "L3mul_S3", **depth)
    except (KeyError, ValueError) as exc:
        raise UserError(f"--variant {variant!r}: {exc}") from exc
    weights = state.get("state_dict", state)
    try:
        report = official.import_official_stavis(model, state)
    except ValueError as exc:  # a shape mismatch, naming the key
        message = " ".join(str(exc).split()).replace("<state dict>: ", "")
        raise checkpoints.CheckpointError(f"{path}: {message}") from exc
    official.check_official_import(report, model, weights if isinstance(weights, dict) else {}, str(path))
    return model


PREDICT_OUTPUTS = ("maps.npz", "overlay.mp4", "summary.json")


def _check_predict_options(args: argparse.Namespace) -> None:
    """One ``UserError`` naming the option for each value ``predict`` cannot use."""
    import torch

    from stavis_lib.runtime import resolve_autocast_dtype, resolve_device

    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size}: must be at least 1")
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads {args.threads}: must be at least 1")
    try:
        device = resolve_device(args.device)
    except RuntimeError as exc:
        raise UserError(f"--device {args.device}: not a device name ({exc})") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {args.device}: CUDA is not available on this machine (use --device cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"--device {args.device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    try:
        resolve_autocast_dtype(args.dtype, device)
    except ValueError as exc:
        raise UserError(f"--dtype {args.dtype}: {exc}") from None



def _parser() -> argparse.ArgumentParser:
    """The options of ``predict`` (one video, or a corpus)."""
    parser = argparse.ArgumentParser(
        prog="python -m stavis_lib predict",
        description="Predict one saliency map per frame of VIDEO and write DIR/maps.npz (uint8, key 'maps', "
                    "plus 'fps' and 'times'), DIR/overlay.mp4 (heat map over the frames, original sound) and "
                    "DIR/summary.json. The three files replace an earlier set together. "
                    "Several videos, a folder, a glob or a list: the same set in DIR/<video name>/ for each video and "
                    "DIR/manifest.csv (video, output, frames, fps, seconds, status, error); videos done by an earlier "
                    "run are skipped, a failing video is recorded and the others carry on (exit status 1 at the end). "
                    "Under `torchrun --nproc_per_node N -m stavis_lib predict ...` each process takes its share.",
    )
    parser.add_argument("video", nargs="+",
                        help="any video file ffmpeg reads (with or without sound); for a corpus: several videos, "
                             "folders, glob patterns (quoted) or text lists (.txt, .lst, .list: one per line)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--checkpoint", default=None,
                        help="model checkpoint (default: the newest one trained by `python -m stavis_lib demo`)")
    parser.add_argument("--variant", default=None,
                        help="Table-1 variant for an official .pth; 'visual' picks the demo's visual-only model")
    parser.add_argument("--batch-size", type=int, default=16, help="windows per forward pass (default 16)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    parser.add_argument("--dtype", default="auto",
                        help="auto (bf16 on GPUs and AMX CPUs, else fp32), float32, bfloat16, float16 (CUDA only)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network (pays off on GPUs)")
    parser.add_argument("--no-conv1-reuse", action="store_true",
                        help="convolve conv1 per window instead of sharing its output between overlapping windows")
    parser.add_argument("--no-allocator-tuning", action="store_true",
                        help="leave glibc malloc at its defaults (slower on the CPU; see tune_cpu_allocator)")
    parser.add_argument("--map-size", choices=("video", "model"), default="video",
                        help="resolution of the saved maps (default: the video's)")
    parser.add_argument("--no-overlay", action="store_true", help="skip overlay.mp4 (an earlier one is removed)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--no-resume", action="store_true",
                        help="corpus: predict every video again, also those an earlier run completed")
    parser.add_argument("--stride", default="1",
                        help="temporal stride K: run the network on every K-th frame (and the last) and "
                             "interpolate the maps in time between them (default 1: every frame)")
    return parser

def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stavis_lib predict VIDEO --out DIR``: maps.npz, overlay.mp4, summary.json.

    The three files are replaced as a unit (``stavis_lib.inference.writers.OutputSet``): a failed or
    interrupted run leaves the previous set as it was, a second run into the same folder is
    refused while the first runs, and no output may be the input file. Bad input raises
    ``UserError`` (one line naming the file or option; the dispatcher exits with status 2).
    """
    args = _parser().parse_args(list(argv) if argv is not None else None)

    from stavis_lib.data.media import probe_video
    from stavis_lib.inference import OutputSet, predict_video
    from stavis_lib.inference.corpus import video_summary
    from stavis_lib.inference.corpus_inputs import is_corpus
    from stavis_lib.inference.stride import parse_stride

    _check_predict_options(args)
    stride = parse_stride(args.stride)
    checkpoint = resolve_checkpoint(args.checkpoint, args.variant)
    if is_corpus(args.video) or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return _predict_corpus(args, checkpoint, stride)
    video = Path(args.video[0])
    probe_video(video)  # a missing file, a folder or a non-video fails here, before any work
    with OutputSet(args.out, PREDICT_OUTPUTS, option="--out", inputs=[video, checkpoint]) as outputs:
        model = load_model(checkpoint, args.variant)
        try:
            prediction = predict_video(
                video, model, batch_size=args.batch_size, device=args.device, dtype=args.dtype,
                progress=not args.quiet, overlay_path=None if args.no_overlay else outputs.path("overlay.mp4"),
                maps_path=outputs.path("maps.npz"), map_size=args.map_size, keep_maps=False, threads=args.threads,
                compile=args.compile, reuse_conv1=not args.no_conv1_reuse,
                tune_allocator=not args.no_allocator_tuning, stride=stride,
            )
            summary = video_summary(prediction, model, video, checkpoint, Path(args.out), not args.no_overlay)
            outputs.path("summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        except OSError as exc:
            raise UserError(f"--out {args.out}: cannot write the results ({os_error_message(exc)}); "
                            "the previous results are kept") from exc
        written = outputs.commit()
    print(f"{prediction.n_frames} frames at {prediction.fps:.3f} fps in {prediction.seconds:.1f} s "
          f"({prediction.frames_per_second:.1f} frames/s on {prediction.device}, {prediction.dtype})")
    for path in written:
        print(f"  {path}")
    return 0


def _predict_corpus(args: argparse.Namespace, checkpoint: Path, stride: int) -> int:
    """``predict`` over a corpus (``inference.corpus.predict_corpus``), also as one of the processes
    of ``torchrun``: the model is loaded once; rank 0 reports. Exit status 1 when a video failed."""
    from stavis_lib.inference.corpus import predict_corpus

    model = load_model(checkpoint, args.variant)
    result = predict_corpus(
        args.video, args.out, model, checkpoint=checkpoint, overlay=not args.no_overlay, resume=not args.no_resume,
        progress=not args.quiet, batch_size=args.batch_size, device=args.device, dtype=args.dtype,
        map_size=args.map_size, threads=args.threads, compile=args.compile, reuse_conv1=not args.no_conv1_reuse,
        tune_allocator=not args.no_allocator_tuning, stride=stride,
    )
    if int(os.environ.get("RANK", "0")) == 0:
        failed = result.failed
        print(f"{len(result.rows)} videos: {len(result.rows) - len(failed) - len(result.skipped)} predicted, "
              f"{len(result.skipped)} done before (skipped), {len(failed)} failed")
        print(f"  {result.manifest}" + ("  (the failed videos' errors are in its error column)" if failed else ""))
    return 1 if result.failed else 0
