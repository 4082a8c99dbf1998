"""``python -m stavis_lib export``: a checkpoint's network as an ONNX file or a torch.export program
(:func:`stavis_lib.export.export_checkpoint`)."""
from __future__ import annotations

import argparse
from collections.abc import Sequence

from stavis_lib.export import FORMATS, ExportConfig, compare_with_pytorch, export_checkpoint, format_for_path
from stavis_lib.model.checkpoints import load_checkpoint

DESCRIPTION = (
    "Export the whole network of a project checkpoint (any Table-1 variant) for deployment: inputs frames "
    "(batch,3,T,H,W) and, for the audio variants, audio (batch,N); output the saliency logits (batch,1,H,W). "
    "The batch size is dynamic; eval mode, fp32, BatchNorm folded into the convolutions (unless --keep-batchnorm).")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stavis_lib export", description=DESCRIPTION)
    parser.add_argument("checkpoint", help="a project checkpoint (.pt from train or the demo; read with "
                                           "torch.load(weights_only=True))")
    # no argparse `choices`: a bad format is a one-line UserError like every other bad option
    parser.add_argument("--format", default=None, metavar="{" + ",".join(FORMATS) + "}",
                        help="onnx (onnxruntime and other ONNX runtimes) or exported-program (a torch.export .pt2 "
                             "archive, loaded with torch.export.load); default: from the --out suffix")
    parser.add_argument("--out", required=True, help="output file (.onnx or .pt2)")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip T (default: the checkpoint's, 16)")
    parser.add_argument("--size", type=int, default=None,
                        help="frame height = width, divisible by 16 (default: the checkpoint's, 112)")
    parser.add_argument("--audio-samples", type=int, default=ExportConfig.audio_samples,
                        help="audio window N in samples at 22.05 kHz (default: the official 35280)")
    parser.add_argument("--keep-batchnorm", action="store_true",
                        help="keep BatchNorm layers as they are (default: folded into the convolutions)")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: torch's)")
    parser.add_argument("--check", action="store_true",
                        help="run the exported file on random inputs at batch sizes 1 and 3 and print its max "
                             "difference from the PyTorch network, beside fp32's own rounding error (PyTorch "
                             "fp32 vs fp64); .onnx files run in onnxruntime")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stavis_lib export CKPT --format {onnx,exported-program} --out FILE``."""
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    config = ExportConfig(format=args.format or format_for_path(args.out), frames=args.frames, size=args.size,
                          audio_samples=args.audio_samples, fold_batchnorm=not args.keep_batchnorm, opset=args.opset)
    result = export_checkpoint(args.checkpoint, args.out, config)
    print(result.summary())
    if args.check:
        net, _ = load_checkpoint(args.checkpoint)
        for row in compare_with_pytorch(result.path, net, config=config):
            print(f"check, batch {row.batch}, random inputs: max |exported - PyTorch| = {row.max_diff:.2e} "
                  f"(PyTorch fp32 vs fp64: {row.fp32_error:.2e}; max |logit| {row.max_logit:.3g})")
    return 0
