"""The command line: ``python -m stavis_lib SUBCOMMAND ...`` (one sub-command per notebook step).

Every argument parser of the project lives in this package; each sub-command's module parses its
options and calls the library (the plain functions named below).

=============  ==============================================================  ======================
sub-command    what it does                                                    implemented in
=============  ==============================================================  ======================
demo           the whole pipeline on the synthetic benchmark (CPU, ~10 min)     cli.demo -> demo
synth          generate the synthetic audio-visual eye-tracking benchmark      cli.data -> data.synthetic
import-diem    raw DIEM gaze files -> maps in the release layout               cli.data -> data.diem
train          one training stage (visual / audio-visual), 1 or N processes    cli.train -> train
evaluate       a checkpoint, or any model's saved maps, scored on a split      cli.evaluate -> evaluate
predict        saliency maps + overlay video for any video (or a corpus)       cli.predict -> inference
export         a checkpoint's network as ONNX or a torch.export program        cli.export -> export
download       fetch and unpack the official data release (needs internet)     cli.data -> data.download
=============  ==============================================================  ======================

This module is the dispatcher (:func:`main`): bad input (a ``UserError``, or an ``OSError`` naming
a file) is reported as ``error: <message>`` on one line with exit status 2; ``--debug`` keeps the
traceback. ``stavis_lib/__main__.py`` runs it, so multi-GPU training is
``torchrun --nproc_per_node N -m stavis_lib train ...`` and sharded corpus prediction
``torchrun --nproc_per_node N -m stavis_lib predict ...``.
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

from stavis_lib.errors import UserError, os_error_message

#: sub-command -> (module, function taking argv, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("stavis_lib.cli.demo", "main", "synthetic data -> visual and audio-visual training -> report (CPU)"),
    "synth": ("stavis_lib.cli.data", "synth_main", "generate the synthetic audio-visual eye-tracking benchmark"),
    "import-diem": ("stavis_lib.cli.data", "import_diem_main", "convert raw DIEM gaze files to the release layout"),
    "train": ("stavis_lib.cli.train", "main", "train one stage (visual-only or audio-visual); torchrun for N GPUs"),
    "evaluate": ("stavis_lib.cli.evaluate", "main", "score a checkpoint or saved maps on a split (CC, NSS, AUC-J, sAUC, SIM)"),
    "predict": ("stavis_lib.cli.predict", "main", "saliency maps + overlay video (with sound) for a video or a corpus"),
    "export": ("stavis_lib.cli.export", "main", "export a checkpoint's network to ONNX or a torch.export .pt2 (dynamic batch)"),
    "download": ("stavis_lib.cli.data", "download_main", "download and unpack the official STAViS release (online)"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: python -m stavis_lib SUBCOMMAND [options]", "", "sub-commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "python -m stavis_lib SUBCOMMAND --help shows the options of one sub-command.",
              "Bad input is reported in one line (exit status 2); --debug shows the traceback."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``python -m stavis_lib SUBCOMMAND ...``; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if args else 2
    if args[0] in ("-V", "--version"):
        from stavis_lib import __version__

        print(f"stavis {__version__}")
        return 0
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    if not args:
        print(_usage())
        return 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"error: unknown sub-command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, function, _ = COMMANDS[name]
    entry: Callable[[list[str]], int | None] = getattr(importlib.import_module(module_name), function)
    try:
        status = entry(rest)
    except SystemExit as exc:  # argparse errors / --help inside a sub-command
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except UserError as exc:
        if debug:
            raise
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:
        # A file the user named could not be read or written (read-only folder, full disk, ...).
        if debug or exc.filename is None:
            raise
        print(f"error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


def _one_line(message: str) -> str:
    """The message on one line (a ``UserError`` may carry a hint on following lines)."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())

