"""Training clips, the validation set and where it comes from (``plan_validation``: never the
test list unless asked), and the per-epoch view that draws fresh clips."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from stavis_lib.train.config import TrainConfig, TrainConfigError


def check_batch(batch: dict[str, Any], needs_audio: bool) -> None:
    for key in ("frames", "dense", "fix") + (("audio",) if needs_audio else ()):
        if key not in batch:
            raise KeyError(f"training batch has no {key!r} (keys: {sorted(batch)})")


def validation_set(windows: Sequence[Dataset], frames_per_video: int | None) -> Dataset:
    """Evenly spaced frames (``frames_per_video``; None = all) of each video's sliding windows."""
    parts: list[Dataset] = []
    for video in windows:
        n = len(video)
        if frames_per_video is None or frames_per_video >= n:
            parts.append(video)
        else:
            picks = np.unique(np.linspace(0, n - 1, frames_per_video).round().astype(int)).tolist()
            parts.append(torch.utils.data.Subset(video, picks))
    if not parts:
        raise ValueError("validation set is empty")
    return torch.utils.data.ConcatDataset(parts)


@dataclass(frozen=True)
class VideoKey:
    """A video's identity: resolved dataset root, database and name (equal names in different
    roots are different videos, e.g. the demo's separately generated validation videos)."""

    root: str
    db: str
    name: str

    def __str__(self) -> str:
        return f"{self.db}/{self.name} in {self.root}"


def _video_key(config: Any, db: str, name: str) -> VideoKey:
    return VideoKey(str(Path(config.root).expanduser().resolve()), db, name)


def held_out_videos(entries: Sequence[Any], fraction: float) -> list[Any]:
    """The validation videos held out of one training list: sorted by name, the 1st, (k+1)-th,
    (2k+1)-th ... with k = round(1 / fraction) (so at least one); none for ``fraction`` 0."""
    if fraction <= 0 or not entries:
        return []
    k = max(1, round(1.0 / fraction))
    return sorted(entries, key=lambda e: e.name)[::k]


@dataclass
class ValidationPlan:
    """Where validation comes from: release-layout ``videos`` ((DataConfig, db, VideoEntry)),
    or a ready ``dataset``; ``exclude`` = training-list videos held out of training;
    ``source`` says which rule chose them (logged and saved in ``train_config.json``)."""

    source: str
    videos: list[tuple[Any, str, Any]] = field(default_factory=list)
    dataset: Dataset | None = None
    exclude: set[VideoKey] = field(default_factory=set)

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "videos": [str(_video_key(c, db, e.name)) for c, db, e in self.videos],
                "held_out_of_training": sorted(str(k) for k in self.exclude)}


def _fold_list(config: Any, db: str, kind: str) -> list[Any]:
    """Entries of a fold list of ``config`` ([] when the file does not exist)."""
    layout = config.layout()
    if not layout.resolve_fold_list(db, kind, config.split).is_file():
        return []
    return layout.read_fold_list(db, kind, config.split, check=False)


def _val_list_videos(data_config: Any, path: str) -> list[tuple[Any, str, Any]]:
    """The videos of a fold-list file; its database is the ``<db>_list_...`` prefix of the
    file name when that is one of ``data_config.datasets``, else the only database."""
    from stavis_lib.data.layout import read_fold_list_file

    file = Path(path)
    if not file.is_file():
        raise TrainConfigError(f"--val-list {file}: no such file")
    dbs = [db for db in data_config.datasets if file.name.startswith(f"{db}_list_")]
    if not dbs and len(data_config.datasets) == 1:
        dbs = list(data_config.datasets)
    if len(dbs) != 1:
        raise TrainConfigError(f"--val-list {file}: cannot tell its database; name it <db>_list_... with <db> "
                               f"one of {list(data_config.datasets)}")
    return [(data_config, dbs[0], entry) for entry in read_fold_list_file(file)]


def plan_validation(data_config: Any, cfg: TrainConfig, val_data: Any = None) -> ValidationPlan:
    """Choose the validation videos (``TrainConfig`` val_* fields) and check that none is on
    the test list of ``data_config`` (compared by ``VideoKey``) unless ``cfg.validate_on_test``.

    Precedence: ``val_data`` (a ready ``Dataset``, used as given, or a ``DataConfig`` whose
    ``test`` lists validate), then ``cfg.val_list``, then ``cfg.val_fraction`` of the training
    lists. Raises ``TrainConfigError`` for an overlap or a training list that would be emptied.
    """
    if not cfg.val_every:
        return ValidationPlan("none (val_every=0)")
    if isinstance(val_data, Dataset):
        return ValidationPlan("the given validation dataset", dataset=val_data)
    plan = ValidationPlan("none")
    if val_data is not None:
        plan = ValidationPlan(f"the test lists of {val_data.root} (val_data)",
                              [(val_data, db, e) for db in val_data.datasets for e in _fold_list(val_data, db, "test")])
    elif isinstance(data_config, Dataset):
        return plan
    elif cfg.val_list:
        plan = ValidationPlan(f"val_list {cfg.val_list}", _val_list_videos(data_config, cfg.val_list))
        plan.exclude = {_video_key(c, db, e.name) for c, db, e in plan.videos}
    elif cfg.val_fraction > 0:
        plan = ValidationPlan(f"val_fraction {cfg.val_fraction}: every {max(1, round(1 / cfg.val_fraction))}-th "
                              "training-list video (sorted by name), held out of training")
        for db in data_config.datasets:
            train_list = _fold_list(data_config, db, "train")
            picks = held_out_videos(train_list, cfg.val_fraction)
            if picks and len(picks) >= len(train_list):
                raise TrainConfigError(
                    f"val_fraction {cfg.val_fraction}: the {db} training list of {data_config.root} has only "
                    f"{len(train_list)} video(s), none would be left to train on; pass a val_list or val_fraction=0")
            plan.videos += [(data_config, db, e) for e in picks]
        plan.exclude = {_video_key(c, db, e.name) for c, db, e in plan.videos}
    if not isinstance(data_config, Dataset):
        _check_not_test(data_config, plan, cfg)
    return plan


def _check_not_test(data_config: Any, plan: ValidationPlan, cfg: TrainConfig) -> None:
    test = {_video_key(data_config, db, e.name) for db in data_config.datasets
            for e in _fold_list(data_config, db, "test")}
    overlap = sorted(str(k) for c, db, e in plan.videos if (k := _video_key(c, db, e.name)) in test)
    if overlap and not cfg.validate_on_test:
        shown = ", ".join(overlap[:3]) + (" ..." if len(overlap) > 3 else "")
        raise TrainConfigError(
            f"validation set ({plan.source}) overlaps the test list of split {data_config.split}: {len(overlap)} "
            f"video(s) ({shown}); validate on other videos, or pass --validate-on-test-list "
            "(TrainConfig.validate_on_test=True) to allow it")


class HeldOutClips(Dataset):
    """The items of a ``TrainClips`` whose video is not in ``exclude`` (``VideoKey`` set);
    ``set_epoch`` passes through, item ``i`` keeps its original segment index and so its draws."""

    def __init__(self, clips: Any, exclude: set[VideoKey]) -> None:
        self.clips = clips
        self.indices = [i for i, (src, _, _) in enumerate(clips.segments)
                        if _video_key(clips.config, clips.sources[src].db, clips.sources[src].entry.name) not in exclude]
        if not self.indices:
            raise TrainConfigError(f"{clips.config.root}: every training video is held out for validation")

    def set_epoch(self, epoch: int) -> None:
        self.clips.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.clips[self.indices[index]]


def build_datasets(data_config: Any, cfg: TrainConfig, model_config: Any, val_data: Any = None,
                   plan: ValidationPlan | None = None) -> tuple[Dataset, Dataset | None, ValidationPlan]:
    """Training clips (``data.clips.TrainClips`` of the ``train`` lists, minus the held-out
    videos), the validation windows and the ``ValidationPlan`` (see ``plan_validation``).

    ``data_config``: a ``DataConfig`` or a ready ``Dataset`` (items: dicts with frames,
    audio, dense, fix). ``val_data``: a ``Dataset``, a ``DataConfig`` or None. ``plan``: an
    already made ``plan_validation(data_config, cfg, val_data)``.
    """
    from stavis_lib.data import clips

    if not isinstance(data_config, Dataset) and int(data_config.sample_size) != int(model_config.sample_size):
        raise TrainConfigError(f"DataConfig.sample_size={data_config.sample_size} differs from the model's "
                               f"sample_size={model_config.sample_size}")
    plan = plan if plan is not None else plan_validation(data_config, cfg, val_data)
    if isinstance(data_config, Dataset):
        train_set: Dataset = data_config
    else:
        train_set = clips.TrainClips(data_config, kind="train", seed=cfg.seed)
        if plan.exclude:
            train_set = HeldOutClips(train_set, plan.exclude)
    if plan.dataset is not None or not plan.videos:
        return train_set, plan.dataset, plan
    windows = [clips.VideoWindows.from_layout(c, db, e, True) for c, db, e in plan.videos]
    return train_set, validation_set(windows, cfg.val_frames), plan


class EpochView(Dataset):
    """``passes`` fresh passes over a dataset whose random clips depend on ``set_epoch``.

    ``data.clips.TrainClips`` draws one clip per segment per epoch (§3.6). When an epoch of
    ``steps_per_epoch`` steps needs more samples than segments, item ``i`` of the view is
    segment ``i % n`` drawn at virtual epoch ``epoch * passes + i // n``, so no draw repeats.
    """

    def __init__(self, dataset: Dataset, passes: int) -> None:
        self.dataset = dataset
        self.passes = max(1, int(passes))
        self.n = len(dataset)  # type: ignore[arg-type]
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n * self.passes

    def __getitem__(self, index: int) -> Any:
        setter = getattr(self.dataset, "set_epoch", None)
        if setter is not None:
            setter(self.epoch * self.passes + index // self.n)
        return self.dataset[index % self.n]

