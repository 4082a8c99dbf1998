"""``python -m stavis_lib demo``: the options of :func:`stavis_lib.demo.run_demo` (exit status 3
when the full demo's claim does not hold)."""
from __future__ import annotations

import argparse
from collections.abc import Sequence

from stavis_lib.demo import DemoConfig, demo_dir, run_demo


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stavis_lib demo [--out DIR] [--smoke]``."""
    parser = argparse.ArgumentParser(
        prog="python -m stavis_lib demo",
        description="Generate the synthetic benchmark, train visual-only then audio-visual STAViS on the CPU, "
                    "evaluate both (with the audio-dependence test) and write a report (7–8 minutes on 2 idle CPU cores).")
    parser.add_argument("--out", default=None, help=f"output folder (default: $STAVIS_HOME/demo = {demo_dir()})")
    parser.add_argument("--smoke", action="store_true", help="tiny version (a couple of minutes; the claim is not expected to hold)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1)")
    parser.add_argument("--seed", type=int, default=None, help="data and training seed (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--fresh", action="store_true",
                        help="retrain both stages even if OUT holds checkpoints of an earlier (or interrupted) run")
    args = parser.parse_args(list(argv) if argv is not None else None)
    cfg = DemoConfig.smoke() if args.smoke else DemoConfig()
    if args.threads:
        cfg.threads = args.threads
    if args.seed is not None:
        cfg.seed = args.seed
        for overrides in (cfg.visual_overrides, cfg.audiovisual_overrides):
            overrides["seed"] = args.seed
    result = run_demo(args.out, cfg, progress=not args.quiet, fresh=args.fresh)
    if args.smoke:
        return 0
    return 0 if result.passed else 3

