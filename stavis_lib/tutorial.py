"""The state the tutorial notebooks share (:class:`Tutorial`): run-mode sizes, the working
folder, "load the checkpoint if it exists, else train", evaluation on held-out videos, the
Table-1 ablation, and the overlay browser's video sources.

Protocol (the same as ``python -m stavis_lib demo``): the synthetic benchmark's 3-fold splits
give the training and test videos; a second benchmark generated apart (another seed, another
folder) gives the validation videos that every training run selects its model on, so the test
videos of a split are held out from training and from model selection. Every Table-1 row of
notebook 04, ``visual`` included, starts from the same stage-1 weights with the same budget.

The notebooks call these so that each one runs standalone (it creates what it needs when it is
absent) and the tests reach every line a notebook runs. Figures live in :mod:`stavis_lib.viz`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from stavis_lib.viz import (
    BrowserVideo,
    SaliencyBrowser,
    VideoSource,
    normalize_map,
    nss_curve,
    overall_metrics,
)

__all__ = ["NotebookSizes", "notebook_sizes", "default_work_dir", "asset_clips", "Tutorial"]


@dataclass
class NotebookSizes:
    """Data, model and training sizes of one run mode of the notebooks.

    mode:        "smoke" (CI: seconds on 2 CPU cores), "cpu" (minutes on a laptop CPU) or
                 "gpu" (the paper's network: 3D ResNet-50, 112 px, 16 frames).
    n_videos:    synthetic videos to generate (3-fold splits).
    n_val_videos: separately generated validation videos (another seed, another folder):
                 model selection never sees the test videos of a split.
    synthetic:   ``SyntheticConfig`` fields.
    model:       ``build_model`` overrides (``ModelConfig`` fields) for every variant.
    train_preset: ``train.PRESETS`` key; ``train``: ``TrainConfig`` overrides of both stages.
    ablation_train: ``TrainConfig`` overrides of every Table-1 run of notebook 04.
    eval_videos / eval_frames: evaluate the first N test videos / frames (None: all).
    browser_videos: synthetic test videos offered by the browser; clip_seconds: how much of a
    real clip the browser predicts.
    ablation_variants: the Table-1 rows notebook 04 trains by default (None: all 13; SMOKE
    takes six that cover every localization and fusion kind).
    """

    mode: str
    n_videos: int
    synthetic: dict
    model: dict
    train_preset: str
    train: dict
    ablation_train: dict
    eval_videos: int | None
    eval_frames: int | None
    browser_videos: int
    clip_seconds: float
    ablation_variants: tuple[str, ...] | None = None
    n_val_videos: int = 10


def notebook_sizes(smoke: bool, device: str) -> NotebookSizes:
    """The sizes used by the notebooks for ``SMOKE`` and the device ("cuda..." or "cpu")."""
    if smoke:
        # n_loc_maps must equal 4 * dsam_channels for the S~2 variant (multiplies V^j by L^j)
        return NotebookSizes(
            mode="smoke", n_videos=6, n_val_videos=2,
            synthetic=dict(width=64, height=48, frames=(32, 36), n_viewers=8),
            model=dict(depth=10, width=8, sample_size=32, sample_duration=8, dsam_channels=4, hidden_dim=16, n_loc_maps=16),
            train_preset="smoke", train=dict(epochs=2, steps_per_epoch=3, val_frames=4),
            ablation_train=dict(epochs=1, steps_per_epoch=2, val_every=0),
            eval_videos=2, eval_frames=10, browser_videos=1, clip_seconds=1.0,
            ablation_variants=("visual", "L1_audio_only", "L2_S1", "L3_S2", "L3mul_S2tilde", "L3mul_S3"),
        )  # fmt: skip
    if str(device).startswith("cuda"):
        return NotebookSizes(
            mode="gpu", n_videos=48, synthetic={},
            model=dict(),  # the official network: depth 50, width 64, 112 px, 16 frames, 64 maps
            train_preset="cpu_demo", train=dict(batch_size=32, micro_batch=32, epochs=6, steps_per_epoch=60, milestones=(5,)),
            ablation_train=dict(batch_size=32, micro_batch=32, epochs=2, steps_per_epoch=60, val_every=0),
            eval_videos=None, eval_frames=None, browser_videos=4, clip_seconds=10.0,
        )  # fmt: skip
    return NotebookSizes(
        mode="cpu", n_videos=48, synthetic={},
        model=dict(depth=10, width=16, sample_size=64, sample_duration=16),  # as `python -m stavis_lib demo`
        train_preset="cpu_demo", train={},  # the demo's training budget and learning rates
        ablation_train=dict(epochs=2, steps_per_epoch=75, val_every=0),
        eval_videos=None, eval_frames=None, browser_videos=4, clip_seconds=6.0,
    )  # fmt: skip


def default_work_dir(smoke: bool) -> Path:
    """``<repository>/notebooks/_work/{smoke,full}`` when the package sits in a checkout, else
    ``./stavis_work/{smoke,full}``. Smoke and full runs never share checkpoints."""
    repo = Path(__file__).resolve().parents[1]
    base = repo / "notebooks" / "_work" if (repo / "notebooks").is_dir() else Path.cwd() / "stavis_work"
    return base / ("smoke" if smoke else "full")


def asset_clips(assets: str | Path | None = None) -> dict[str, Path]:
    """The real clips shipped in ``assets/media`` (name -> path), sorted by name."""
    folder = Path(assets) if assets is not None else Path(__file__).resolve().parents[1] / "assets" / "media"
    exts = {".mp4", ".webm", ".mkv", ".mov", ".avi"}
    return {p.name: p for p in sorted(folder.glob("*")) if p.suffix.lower() in exts} if folder.is_dir() else {}


class Tutorial:
    """The state the notebooks share: sizes, device, the working folder and its contents.

    Layout of ``work``::

        synthetic/            the synthetic benchmark (release layout), made by notebook 01
        validation/           validation videos generated apart (seed + VAL_SEED_OFFSET, 2 folds
                              whose test lists hold every video): early stopping / best.pt
        cache/, cache_val/    decoded-frame caches (clips.FrameCache)
        runs/<name>/          one training run: best.pt, last.pt, steps.csv, epochs.csv
        eval/<name>/          evaluation tables and NSS plots
        browser/              overlay videos written by the browser
    """

    DB = "Synthetic"
    #: The validation videos use seed + this (as ``python -m stavis_lib demo``), so no video of
    #: the benchmark's test lists is generated again as a validation video.
    VAL_SEED_OFFSET = 1000

    def __init__(self, smoke: bool, work_dir: str | Path | None = None, device: str = "auto", seed: int = 0,
                 soundnet_weights: str | None = None, threads: int | None = None, progress: bool = True) -> None:
        from stavis_lib.runtime import resolve_device

        self.device = str(resolve_device(device))
        self.smoke = bool(smoke)
        self.sizes = notebook_sizes(self.smoke, self.device)
        self.work = Path(work_dir) if work_dir else default_work_dir(self.smoke)
        self.work.mkdir(parents=True, exist_ok=True)
        self.seed = int(seed)
        self.soundnet_weights = soundnet_weights
        self.threads = threads
        self.progress = progress
        self.data_root = self.work / "synthetic"
        self.val_root = self.work / "validation"
        self.cache_dir = self.work / "cache"
        self.runs = self.work / "runs"

    def __repr__(self) -> str:
        return f"Tutorial(mode={self.sizes.mode!r}, device={self.device!r}, work={str(self.work)!r})"

    # -- data ---------------------------------------------------------------------------
    def _ensure_benchmark(self, root: Path, n_videos: int, seed: int, n_splits: int) -> Path:
        """Generate a synthetic benchmark at this mode's size into ``root`` unless it is there."""
        from stavis_lib.data import synthetic

        if (root / "synthetic_config.json").is_file():
            return root
        cfg = synthetic.SyntheticConfig(**{**self.sizes.synthetic, "n_splits": n_splits})
        synthetic.generate_benchmark(root, n_videos=n_videos, seed=seed, config=cfg, progress=self.progress)
        return root

    def ensure_synthetic(self) -> Path:
        """Generate the synthetic benchmark (3-fold splits) into ``work/synthetic`` unless it is there."""
        return self._ensure_benchmark(self.data_root, self.sizes.n_videos, self.seed, 3)

    def ensure_validation(self) -> Path:
        """Generate the validation videos into ``work/validation`` unless they are there: another
        seed and another folder, two folds whose test lists together hold every video."""
        return self._ensure_benchmark(self.val_root, self.sizes.n_val_videos, self.seed + self.VAL_SEED_OFFSET, 2)

    def data_config(self, split: int = 1, sample_size: int | None = None, sample_duration: int | None = None,
                    validation: bool = False):
        """``clips.DataConfig`` of the synthetic benchmark (or of the validation videos) at the
        model's clip size."""
        from stavis_lib.config import ModelConfig
        from stavis_lib.data.clips import DataConfig

        defaults = ModelConfig()
        root = self.ensure_validation() if validation else self.ensure_synthetic()
        return DataConfig(root=str(root), datasets=(self.DB,), split=split,
                          sample_size=sample_size or self.sizes.model.get("sample_size", defaults.sample_size),
                          sample_duration=sample_duration or self.sizes.model.get("sample_duration", defaults.sample_duration),
                          cache_dir=str(self.work / "cache_val" if validation else self.cache_dir))

    def validation_data(self, frames_per_video: int | None):
        """The validation ``Dataset`` every training run of the notebooks selects its model on:
        ``frames_per_video`` evenly spaced windows of each validation video (both test lists of
        ``work/validation``), as ``python -m stavis_lib demo`` does. The benchmark's test videos
        stay held out from training and from model selection."""
        from stavis_lib.data.clips import split_windows
        from stavis_lib.train import validation_set

        windows = []
        for k in (1, 2):
            windows += split_windows(self.data_config(k, validation=True), "test")
        return validation_set(windows, frames_per_video)

    def test_videos(self, split: int = 1) -> list:
        """The fold-list entries of the test videos of ``split``."""
        from stavis_lib.data.layout import ReleaseLayout

        self.ensure_synthetic()
        return ReleaseLayout(self.data_root).read_fold_list(self.DB, "test", split)

    # -- models --------------------------------------------------------------------------
    def build(self, variant: str):
        """A fresh network of a Table-1 variant at this mode's size (``n_loc_maps`` applies to
        the "mul" variants only: the others have exactly one localization map)."""
        from stavis_lib.config import VARIANTS
        from stavis_lib.model import build_model

        sizes = dict(self.sizes.model)
        if VARIANTS.get(variant, {}).get("n_loc_maps", 1) == 1:
            sizes.pop("n_loc_maps", None)
        return build_model(variant, **sizes)

    def checkpoint(self, name: str) -> Path:
        """``runs/<name>/best.pt`` (the best validation epoch), or ``last.pt`` when no epoch was
        validated as best (e.g. validation off or NaN scores)."""
        best = self.runs / name / "best.pt"
        last = self.runs / name / "last.pt"
        return best if best.is_file() or not last.is_file() else last

    def train_or_load(self, name: str, variant: str, stage: str, init: str | Path | None = None,
                      retrain: bool = False, **overrides: Any):
        """Load ``runs/<name>/best.pt`` if it exists, else train ``variant`` for ``stage`` there.

        Returns ``(model, result)``; ``result`` is the ``train.TrainResult`` when it trained,
        else None. ``init`` is the checkpoint the run starts from (stage 2 and the ablation rows:
        the stage-1 network). Validation (early stopping, ``best.pt``) runs on the separately
        generated validation videos (:meth:`validation_data`), never on the split's test list.
        A run interrupted before its end resumes from its ``last.pt`` (``train``'s resume="auto")."""
        from stavis_lib.model.checkpoints import load_checkpoint
        from stavis_lib.train import train

        ckpt = self.checkpoint(name)
        finished = (self.runs / name / "train_done.json").is_file() or (self.runs / name / "best.pt").is_file()
        if ckpt.is_file() and finished and not retrain:
            model, _extra = load_checkpoint(ckpt)
            print(f"loaded {ckpt} (delete it, or pass retrain=True, to train again)")
            return model.eval(), None
        cfg = self.train_config(stage, init=init, retrain=retrain, **{**self.sizes.train, **overrides})
        result = train(self.build(variant), self.data_config(), cfg, out_dir=self.runs / name,
                       val_data=self.validation_data(cfg.val_frames))
        self._mark_done(name, result)
        path = result.best_checkpoint or result.last_checkpoint
        model, _extra = load_checkpoint(path)
        return model.eval(), result

    def train_config(self, stage: str, init: str | Path | None = None, retrain: bool = False,
                     recipe: str | None = None, **overrides: Any):
        """``TrainConfig`` of a notebook run: the mode's preset for ``recipe`` (default: ``stage``)
        with ``overrides``, trained as ``stage`` from ``init`` (a checkpoint, or None)."""
        from stavis_lib.train import preset

        values = {**overrides, "device": self.device, "seed": self.seed, "progress": self.progress,
                  "threads": self.threads, "resume": False if retrain else "auto"}
        if (recipe or stage) == "audiovisual":
            values.setdefault("soundnet_weights", self.soundnet_weights)
        if init is not None:
            values["init_checkpoint"] = str(init)
        return replace(preset(self.sizes.train_preset, recipe or stage, **values), stage=stage)

    def _run_init(self, name: str) -> str | None:
        """The ``init_checkpoint`` recorded in ``runs/<name>/train_config.json`` (None if absent)."""
        import json

        path = self.runs / name / "train_config.json"
        if not path.is_file():
            return None
        return json.loads(path.read_text()).get("train_config", {}).get("init_checkpoint")

    def _mark_done(self, name: str, result: Any) -> None:
        (self.runs / name / "train_done.json").write_text(
            '{"steps": %d, "seconds": %.1f}\n' % (len(result.steps), result.seconds))

    def visual_model(self):
        """Stage 1 (notebook 02): the visual-only network, trained with eq. (6)."""
        return self.train_or_load("visual", "visual", "visual")[0]

    def audiovisual_model(self, variant: str = "L3mul_S3"):
        """Stage 2 (notebook 03): the audio-visual network from the stage-1 weights, eq. (7)."""
        if not self.checkpoint("visual").is_file():
            self.visual_model()
        name = "audiovisual" if variant == "L3mul_S3" else f"av_{variant}"
        return self.train_or_load(name, variant, "audiovisual", init=self.checkpoint("visual"))[0]

    def training_log(self, name: str):
        """The per-epoch log of ``runs/<name>`` joined with the mean training loss per epoch."""
        import pandas as pd

        run = self.runs / name
        epochs = pd.read_csv(run / "epochs.csv") if (run / "epochs.csv").is_file() else pd.DataFrame()
        steps = pd.read_csv(run / "steps.csv") if (run / "steps.csv").is_file() else pd.DataFrame()
        return epochs, steps

    # -- evaluation ----------------------------------------------------------------------
    def evaluate(self, model: Any, name: str, split: int = 1, **kwargs: Any):
        """``evaluate.evaluate_split`` on the held-out synthetic videos of ``split``."""
        from stavis_lib.evaluate import evaluate_split

        self.ensure_synthetic()
        args = dict(max_videos=self.sizes.eval_videos, max_frames=self.sizes.eval_frames, device=self.device,
                    progress=self.progress, out_dir=self.work / "eval" / name.replace(" ", "_"))
        args.update(kwargs)
        return evaluate_split(self.data_root, self.DB, split, model, name=name, **args)

    def audio_dependence(self, model: Any, name: str = "audio-visual", split: int = 1, **kwargs: Any):
        """``evaluate.audio_dependence``: true vs silent vs another video's soundtrack."""
        from stavis_lib.evaluate import audio_dependence

        self.ensure_synthetic()
        args = dict(max_videos=self.sizes.eval_videos, max_frames=self.sizes.eval_frames, device=self.device,
                    progress=self.progress, out_dir=self.work / "eval" / "audio_dependence")
        args.update(kwargs)
        return audio_dependence(self.data_root, self.DB, split, model, name=name, **args)

    # -- one clip through the network ------------------------------------------------------
    def clip(self, video: str | None = None, frame: int | None = None, split: int = 1) -> dict:
        """One test window (dict of ``clips.VideoWindows``) of a synthetic test video: by default
        the first test video at the frame where a sound has played longest."""
        from stavis_lib.data.clips import VideoWindows

        cfg = self.data_config(split)
        entries = {e.name: e for e in self.test_videos(split)}
        name = video or next(iter(entries))
        windows = VideoWindows.from_layout(cfg, self.DB, entries[name])
        if frame is None:
            frame = self.sounding_frame(name, len(windows))
        item = windows[int(frame)]
        item["display"] = self.frames(name, [int(frame)])[0]
        return item

    def sounding_frame(self, video: str, n_frames: int) -> int:
        """A frame in the middle of the longest sound burst of a synthetic video."""
        from stavis_lib.data.maps import gaze_path, read_gaze_npz

        path = gaze_path(self.data_root, self.DB, video)
        if not path.is_file():
            return n_frames // 2
        gaze = read_gaze_npz(path)
        bursts = np.asarray(gaze.get("bursts", np.zeros((0, 3))), dtype=np.float64).reshape(-1, 3)
        fps = float(np.asarray(gaze.get("fps", 25.0)))
        if not len(bursts):
            return n_frames // 2
        k = int(np.argmax(bursts[:, 1] - bursts[:, 0]))
        # gaze follows a sound onset with a latency: look late in the burst
        return int(min(n_frames - 1, max(0, round((bursts[k, 0] + 0.7 * (bursts[k, 1] - bursts[k, 0])) * fps))))

    def gaze(self, video: str) -> dict[str, np.ndarray]:
        """The gaze file of a synthetic video: viewers' gaze and the scene facts (which object
        sounds at each frame, the bursts, the objects' boxes; see ``data.synthetic``)."""
        from stavis_lib.data.maps import gaze_path, read_gaze_npz

        return read_gaze_npz(gaze_path(self.data_root, self.DB, video))

    def frames(self, video: str, indices: Sequence[int] | None = None) -> np.ndarray:
        """Original-size frames (T,H,W,3) uint8 of a synthetic video (0-based indices)."""
        from stavis_lib.data.layout import ReleaseLayout

        layout = ReleaseLayout(self.data_root)
        if indices is None:
            indices = range(layout.count_frames(self.DB, video))
        return np.stack([layout.read_frame(self.DB, video, int(i) + 1) for i in indices])

    def ground_truth(self, video: str, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Dense maps (T,H,W) float32 and fixation maps (T,H,W) bool of a synthetic video."""
        from stavis_lib.data.layout import ReleaseLayout

        layout = ReleaseLayout(self.data_root)
        n = n or layout.count_frames(self.DB, video)
        dense = np.stack([layout.read_dense(self.DB, video, t + 1) for t in range(n)]).astype(np.float32)
        fix = np.stack([layout.read_fixations(self.DB, video, t + 1) for t in range(n)]) > 0
        return dense, fix

    def forward(self, model: Any, item: dict) -> Any:
        """Run the network on one window dict (adds the batch axis); returns ``StavisOutput``."""
        import torch

        model = model.eval().to(self.device)
        with torch.no_grad():
            frames = item["frames"][None].to(self.device)
            audio = item["audio"][None].to(self.device) if model.config.uses_audio else None
            return model(frames, audio)

    # -- the browser ------------------------------------------------------------------------
    def video_maps(self, models: Mapping[str, Any], frames: np.ndarray, wave: np.ndarray | None, rate: int,
                   fps: float, localization_from: str | None = "audio-visual", batch_size: int = 8) -> dict[str, np.ndarray]:
        """Per-frame maps of every model on a video, at the model's resolution.

        ``frames`` (T,S,S,3) uint8 already at the models' ``sample_size``; ``wave`` on the
        SoundNet scale at ``rate``. Saliency maps come from ``evaluate.predict_maps`` (the
        test path: step-1 sliding window, sigmoid, per-frame min-max); the "localization"
        layer is the mean of the K localization maps L^j of ``models[localization_from]``
        (eqs. 3-5), min-max normalised per frame."""
        import torch

        from stavis_lib.data.clips import VideoWindows
        from stavis_lib.evaluate import predict_maps

        out: dict[str, np.ndarray] = {}
        for label, model in models.items():
            out[label] = predict_maps(model, frames, wave, rate, fps, batch_size=batch_size, device=self.device)
        model = models.get(localization_from) if localization_from else None
        if model is not None and model.config.uses_audio:
            windows = VideoWindows(frames, fps, wave if wave is not None else np.zeros(1, np.float32), rate,
                                   model.config.sample_duration)
            loader = torch.utils.data.DataLoader(windows, batch_size=batch_size, shuffle=False)
            maps = []
            model = model.eval().to(self.device)
            with torch.no_grad():
                for batch in loader:
                    o = model(batch["frames"].to(self.device), batch["audio"].to(self.device))
                    maps.append(o.localization.float().mean(dim=1).cpu().numpy())
            loc = np.concatenate(maps).astype(np.float32)
            out["localization"] = np.stack([normalize_map(m) for m in loc])
        return out

    def synthetic_browser_video(self, video: str, models: Mapping[str, Any]) -> BrowserVideo:
        """A synthetic test video with its ground truth, both models' maps, the localization
        maps and the NSS of each model per frame."""
        from stavis_lib.data.layout import ReleaseLayout
        from stavis_lib.evaluate import read_frames_resized

        layout = ReleaseLayout(self.data_root)
        n = layout.count_frames(self.DB, video)
        fps = next((e.fps for e in layout.read_fold_list(self.DB, "test", 1) if e.name == video), 25.0)
        size = next(iter(models.values())).config.sample_size
        small = read_frames_resized(layout, self.DB, video, n, size)
        wave, rate = layout.read_audio(self.DB, video)
        maps = self.video_maps(models, small, wave, rate, fps)
        dense, fix = self.ground_truth(video, n)
        nss = {label: nss_curve(maps[label], fix) for label in models}
        layers = {"ground truth": dense, **maps}
        mp4 = self.data_root / "videos" / self.DB / f"{video}.mp4"
        return BrowserVideo(f"{self.DB}/{video}", self.frames(video), fps, maps=layers, fixations=fix, nss=nss,
                            media=str(mp4) if mp4.is_file() else None,
                            note=f"synthetic test video: {self._viewers(video)} simulated viewers; one object sounds at a time")

    def silent_nss(self, video: str, model: Any, fps: float) -> np.ndarray:
        """NSS per frame of an audio-visual ``model`` on a synthetic video fed silence (an
        all-zero soundtrack, as the audio-dependence test), by the test path of
        :meth:`video_maps`: the curve to set beside the true-sound one."""
        from stavis_lib.data.audio import SOUNDNET_RATE
        from stavis_lib.data.layout import ReleaseLayout
        from stavis_lib.evaluate import predict_maps, read_frames_resized

        layout = ReleaseLayout(self.data_root)
        n = layout.count_frames(self.DB, video)
        small = read_frames_resized(layout, self.DB, video, n, model.config.sample_size)
        maps = predict_maps(model, small, None, SOUNDNET_RATE, fps, batch_size=8, device=self.device)
        return nss_curve(maps, self.ground_truth(video, n)[1])

    def _viewers(self, video: str) -> int:
        from stavis_lib.data.maps import gaze_path, read_gaze_npz

        path = gaze_path(self.data_root, self.DB, video)
        return int(np.shape(read_gaze_npz(path)["x"])[0]) if path.is_file() else 0

    def file_browser_video(self, path: str | Path, models: Mapping[str, Any], max_seconds: float | None = None,
                           display_height: int = 180) -> BrowserVideo:
        """Any video file with its soundtrack (no eye-tracking data: no ground truth, no NSS)."""
        from stavis_lib.data import media
        from stavis_lib.data.audio import SOUNDNET_RATE

        path = Path(path)
        info = media.probe_video(path)
        max_seconds = self.sizes.clip_seconds if max_seconds is None else max_seconds
        n = max(1, min(info.n_frames, int(round(max_seconds * info.fps)))) if max_seconds else info.n_frames
        width = max(2, int(round(info.width * display_height / info.height)) // 2 * 2)
        frames = media.read_frames(path, size=(width, display_height), max_frames=n)
        size = next(iter(models.values())).config.sample_size
        small = np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.BILINEAR)) for f in frames])
        wave = media.load_audio(path, sr=SOUNDNET_RATE) if info.has_audio else None
        maps = self.video_maps(models, small, wave, SOUNDNET_RATE, info.fps)
        note = f"{path.name}: {info.width}x{info.height}, {info.fps:.2f} fps, " + (
            "with sound" if info.has_audio else "no sound track (the model hears silence)")
        if n < info.n_frames:
            note += f"; first {n / info.fps:.1f} s of {info.duration:.1f} s"
        return BrowserVideo(path.name, frames, info.fps, maps=maps, media=str(path) if info.has_audio else None,
                            note=note + "; no eye-tracking data for this clip")

    def browser(self, models: Mapping[str, Any], clips: Mapping[str, Path] | None = None,
                n_synthetic: int | None = None) -> SaliencyBrowser:
        """The overlay browser over synthetic test videos, the real clips and own files."""
        sources: dict[str, VideoSource] = {}
        n = self.sizes.browser_videos if n_synthetic is None else n_synthetic
        for entry in self.test_videos(1)[:n]:
            sources[f"synthetic: {entry.name}"] = (lambda v=entry.name: self.synthetic_browser_video(v, models))
        for name, path in (asset_clips() if clips is None else clips).items():
            sources[f"clip: {name}"] = (lambda p=path: self.file_browser_video(p, models))
        return SaliencyBrowser(sources, loader=lambda p: self.file_browser_video(p, models),
                               work_dir=self.work / "browser")

    # -- Table 1 ---------------------------------------------------------------------------
    def ablation(self, variants: Sequence[str] | None = None, split: int = 1, retrain: bool = False) -> dict[str, dict[str, float]]:
        """Notebook 04: every Table-1 row, ``visual`` included, trained from the same stage-1
        weights (``init_checkpoint`` = ``runs/visual``'s checkpoint) with the same recipe and
        budget: the stage-2 preset with ``sizes.ablation_train`` (steps, batch, learning rates,
        schedule), scored on the same held-out test videos. ``ablation_train`` turns validation
        off (``val_every=0``), so each row is scored with its weights at the end of the budget;
        any validation would use the separately generated validation videos.

        The ``visual`` row is trained with the visual loss (eq. 6) but the stage-2 recipe, so it
        differs from the audio-visual rows only in its network and loss. Each run's
        ``train_config.json`` records what it used. Returns variant -> overall metrics."""
        from stavis_lib.config import VARIANTS

        if not self.checkpoint("visual").is_file():
            self.visual_model()
        init = self.checkpoint("visual")
        results: dict[str, dict[str, float]] = {}
        default = self.sizes.ablation_variants or tuple(VARIANTS)
        for v in list(variants) if variants is not None else list(default):
            model = self._ablation_run(v, init, retrain)
            res = self.evaluate(model, v, split, baselines=False, human=False, plots=False,
                                out_dir=self.work / "eval" / f"ablation_{v}")
            results[v] = overall_metrics(res.datasets, v)
        return results

    def _ablation_run(self, variant: str, init: Path, retrain: bool):
        """Train (or load) one Table-1 row from ``init`` with the shared stage-2 recipe and budget."""
        from stavis_lib.model.checkpoints import load_checkpoint
        from stavis_lib.train import train

        name = f"ablation_{variant}"
        ckpt = self.checkpoint(name)
        if ckpt.is_file() and (self.runs / name / "train_done.json").is_file() and not retrain:
            if self._run_init(name) == str(init):
                print(f"loaded {ckpt} (delete it, or pass retrain=True, to train again)")
                return load_checkpoint(ckpt)[0].eval()
            print(f"{ckpt} did not start from {init}: training it again")
            retrain = True
        stage = "visual" if variant == "visual" else "audiovisual"
        cfg = self.train_config(stage, init=init, retrain=retrain, recipe="audiovisual", **self.sizes.ablation_train)
        result = train(self.build(variant), self.data_config(), cfg, out_dir=self.runs / name,
                       val_data=self.validation_data(cfg.val_frames))
        self._mark_done(name, result)
        return load_checkpoint(result.best_checkpoint or result.last_checkpoint)[0].eval()
