"""Saliency maps for a whole corpus of videos: :func:`predict_corpus`, on one process or sharded
over the N processes of ``torchrun --nproc_per_node N -m stavis_lib predict ...``.

* The videos: files, folders, glob patterns and text lists (``corpus_inputs.expand_inputs``);
  each video's results go to its own folder ``OUT/<name>`` (``corpus_inputs.output_names``):
  the single-video set ``maps.npz``, ``overlay.mp4`` (unless ``overlay=False``) and
  ``summary.json``, replaced as a unit (``writers.OutputSet``).
* The manifest ``OUT/manifest.csv``, one row per video: ``video`` (absolute path), ``output``
  (its folder in ``OUT``), ``frames``, ``fps``, ``seconds`` (wall time of its prediction),
  ``status`` (``ok`` or ``failed``) and ``error`` (one line, for a failed video). Rows of videos
  that an earlier run wrote into ``OUT`` and this run does not name are kept.
* Resuming: a video is skipped (its earlier row kept) when the manifest says ``ok`` for it, its
  folder holds the whole output set, and its ``summary.json`` names the video and the same
  settings (the model's weights digest and every option that changes the maps; speed-only
  options such as the batch size, device or thread count may differ). Anything else is
  predicted again. While a run goes, each process appends its rows to
  ``OUT/manifest.part-<rank>.csv``, so an interrupted run's finished videos count as done.
* Failures: a video that cannot be predicted (unreadable, not a video, ...) gets ``status``
  ``failed`` and its error; the others carry on.
* Sharding: process ``rank`` of ``world_size`` (``RANK``/``WORLD_SIZE`` from ``torchrun``,
  ``ranks.join_ranks``) takes videos ``rank, rank + world_size, ...`` of the expanded list (every
  process expands the same list; they check that they agree). At the end the processes gather
  their rows and rank 0 writes the merged manifest, then removes the part files.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from stavis_lib.errors import UserError
from stavis_lib.inference.corpus_inputs import CorpusInputError, expand_inputs, output_names
from stavis_lib.inference.predict import Prediction, predict_video
from stavis_lib.inference.ranks import Ranks, join_ranks
from stavis_lib.inference.writers import OutputSet
from stavis_lib.progress import progress_bar

MANIFEST = "manifest.csv"
PART_GLOB = "manifest.part-*.csv"
MANIFEST_FIELDS = ("video", "output", "frames", "fps", "seconds", "status", "error")
#: the files of one video's output set
VIDEO_OUTPUTS = ("maps.npz", "overlay.mp4", "summary.json")
#: ``predict_video`` options that change only the speed, not the maps: a video done with other
#: values of these is not predicted again
SPEED_OPTIONS = frozenset({"batch_size", "device", "threads", "compile", "reuse_conv1", "tune_allocator",
                           "channels_last", "fold_bn"})
#: longest error text kept in the manifest
MAX_ERROR_CHARS = 500


@dataclass
class ManifestRow:
    """One video's line of the manifest (``frames``, ``fps`` and ``seconds`` are None when it failed)."""

    video: str
    output: str
    frames: int | None = None
    fps: float | None = None
    seconds: float | None = None
    status: str = "ok"
    error: str = ""

    def to_csv(self) -> dict[str, str]:
        return {k: "" if v is None else str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_csv(cls, values: dict[str, str | None]) -> ManifestRow | None:
        """The row, or None for a line that is not a complete row (e.g. cut short by a crash)."""
        try:
            if not values.get("video") or values.get("status") not in ("ok", "failed"):
                return None
            number = {k: values.get(k) or "" for k in ("frames", "fps", "seconds")}
            return cls(video=str(values["video"]), output=str(values.get("output") or ""),
                       frames=int(number["frames"]) if number["frames"] else None,
                       fps=float(number["fps"]) if number["fps"] else None,
                       seconds=float(number["seconds"]) if number["seconds"] else None,
                       status=str(values["status"]), error=str(values.get("error") or ""))
        except (TypeError, ValueError):
            return None


@dataclass
class CorpusResult:
    """What :func:`predict_corpus` returns (the same on every process)."""

    rows: list[ManifestRow]          # this run's videos, in the order given
    manifest: Path
    skipped: list[str] = field(default_factory=list)  # videos done by an earlier run

    @property
    def failed(self) -> list[ManifestRow]:
        return [row for row in self.rows if row.status != "ok"]


def predict_corpus(inputs: Sequence[str | os.PathLike], out: str | os.PathLike, model: torch.nn.Module, *,
                   checkpoint: str | os.PathLike | None = None, overlay: bool = True, resume: bool = True,
                   progress: bool = True, **options: Any) -> CorpusResult:
    """Predict every video that ``inputs`` name into ``OUT/<name>/`` and write ``OUT/manifest.csv``
    (see the module doc); under ``torchrun`` this process takes its share.

    Args:
        inputs: video files, folders, glob patterns and text lists (``corpus_inputs``).
        out: the corpus output folder.
        model: a ``Stavis`` network, loaded once and used for every video.
        checkpoint: the file ``model`` came from (recorded in each ``summary.json``).
        overlay: write each video's ``overlay.mp4``.
        resume: skip the videos an earlier run completed (False: predict every video again).
        progress: a tqdm bar over the videos (on rank 0; each video's own bar is off).
        **options: ``predict_video`` keyword arguments (``batch_size``, ``device``, ``dtype``,
            ``map_size``, ...); ``device`` without an index becomes ``cuda:LOCAL_RANK`` under torchrun.

    Raises ``CorpusInputError`` when ``inputs`` name nothing usable or ``out`` cannot hold a corpus;
    the failure of one video is recorded in its row instead.
    """
    videos = expand_inputs(inputs)
    names = output_names(videos)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CorpusInputError(f"--out {out}: is a file, not a folder")
    ranks = join_ranks(options.pop("device", None))
    try:
        _check_same_videos(ranks, videos)
        out.mkdir(parents=True, exist_ok=True)
        earlier = read_manifests(out)
        settings = corpus_settings(model, overlay, options)
        share = [(video, out / name) for i, (video, name) in enumerate(zip(videos, names))
                 if i % ranks.world_size == ranks.rank]
        job = _Job(model, checkpoint, overlay, settings, {**options, "device": ranks.device},
                   out / f"manifest.part-{ranks.rank}.csv", {"rank": ranks.rank, "world_size": ranks.world_size})
        rows, skipped = _run_share(job, share, earlier if resume else {}, progress and ranks.rank == 0)
        gathered = ranks.all_gather((rows, skipped))
        this_run = {row.video: row for part_rows, _ in gathered for row in part_rows}
        if ranks.rank == 0:
            write_manifest(out, [this_run[str(v)] for v in videos], earlier)
        ranks.barrier()  # the manifest exists on return, on every process
    finally:
        ranks.leave()
    return CorpusResult(rows=[this_run[str(v)] for v in videos], manifest=out / MANIFEST,
                        skipped=sorted(v for _, part_skipped in gathered for v in part_skipped))


def _check_same_videos(ranks: Ranks, videos: list[Path]) -> None:
    """Every process expanded the same list (else their shares would overlap or miss videos)."""
    digest = hashlib.sha1("\n".join(map(str, videos)).encode("utf-8")).hexdigest()
    seen = ranks.all_gather((len(videos), digest))
    if len(set(seen)) > 1:
        raise CorpusInputError(f"predict: the {ranks.world_size} processes found different video lists "
                               f"({', '.join(str(n) for n, _ in seen)} videos); run them on the same files")


@dataclass
class _Job:
    """What every video of a share is predicted with."""

    model: torch.nn.Module
    checkpoint: str | os.PathLike | None
    overlay: bool
    settings: dict[str, Any]
    options: dict[str, Any]
    part: Path
    process: dict[str, int]     # rank and world size, recorded in each summary.json


def _run_share(job: _Job, share: list[tuple[Path, Path]], earlier: dict[str, ManifestRow],
               progress: bool) -> tuple[list[ManifestRow], list[str]]:
    """Predict (or skip, when done before) each ``(video, folder)`` of this process's share,
    appending each row to the part manifest as it is known; returns the rows and the skipped videos."""
    rows: list[ManifestRow] = []
    skipped: list[str] = []
    with progress_bar(share, enabled=progress, desc="videos", unit="video") as bar:
        for video, folder in bar:
            row = done_before(video, folder, earlier.get(str(video)), job.settings, job.overlay)
            if row is not None:
                skipped.append(str(video))
            else:
                row = _predict_one(job, video, folder)
                if row.status != "ok":
                    tqdm.write(f"failed: {video}: {row.error}", file=sys.stderr)  # keeps an open bar intact
                _append_row(job.part, row)
            rows.append(row)
            bar.set_postfix(failed=sum(r.status != "ok" for r in rows), refresh=False)
    return rows, skipped


def _predict_one(job: _Job, video: Path, folder: Path) -> ManifestRow:
    """One video's output set in ``folder`` and its manifest row (status ``failed`` and the error,
    the folder's earlier set left as it was, when anything goes wrong)."""
    inputs = [video] + ([Path(job.checkpoint)] if job.checkpoint is not None else [])
    try:
        with OutputSet(folder, VIDEO_OUTPUTS, option="--out", inputs=inputs) as outputs:
            prediction = predict_video(video, job.model, progress=False, keep_maps=False,
                                       overlay_path=outputs.path("overlay.mp4") if job.overlay else None,
                                       maps_path=outputs.path("maps.npz"), **job.options)
            summary = video_summary(prediction, job.model, video, job.checkpoint, folder, job.overlay)
            summary.update(corpus_settings=job.settings, corpus_process=job.process)
            outputs.path("summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            outputs.commit()
    except Exception as exc:  # any failure of one video is recorded; the others carry on
        return ManifestRow(str(video), folder.name, status="failed", error=error_line(exc))
    return ManifestRow(str(video), folder.name, frames=prediction.n_frames, fps=prediction.fps,
                       seconds=round(prediction.seconds, 3))


def video_summary(prediction: Prediction, model: torch.nn.Module, video: str | os.PathLike,
                  checkpoint: str | os.PathLike | None, folder: Path, overlay: bool) -> dict[str, Any]:
    """The ``summary.json`` of one video's output set in ``folder``: the prediction's facts, the
    checkpoint, the model's variant and configuration, and where the maps and overlay are."""
    summary = prediction.summary()
    summary.update(checkpoint=None if checkpoint is None else str(checkpoint), variant=model.config.variant,
                   video=str(video), model_config=model.config.to_dict(), maps_path=str(folder / "maps.npz"),
                   overlay_path=str(folder / "overlay.mp4") if overlay else None)
    return summary


def error_line(exc: BaseException) -> str:
    """``exc`` as one line (a ``UserError``'s own message; others prefixed by their type), at most
    ``MAX_ERROR_CHARS`` characters."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    if not isinstance(exc, UserError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 3] + "..."


def corpus_settings(model: torch.nn.Module, overlay: bool, options: dict[str, Any]) -> dict[str, Any]:
    """What a video's outputs depend on: the weights (sha256 over the state dict), the variant,
    the overlay and every ``predict_video`` option not in ``SPEED_OPTIONS`` (JSON-ready)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode("utf-8"))
        digest.update(tensor.detach().reshape(-1).cpu().contiguous().view(torch.uint8).numpy().tobytes())
    settings = {"weights_sha256": digest.hexdigest(), "variant": getattr(model.config, "variant", None),
                "overlay": overlay, **{k: v for k, v in options.items() if k not in SPEED_OPTIONS}}
    return json.loads(json.dumps(settings, default=str, sort_keys=True))


def done_before(video: Path, folder: Path, row: ManifestRow | None, settings: dict[str, Any],
                overlay: bool) -> ManifestRow | None:
    """``row`` when it records ``video`` as done into ``folder`` and the folder still holds that
    run's whole output set, made with ``settings``; else None (the video is predicted again)."""
    if row is None or row.status != "ok" or row.output != folder.name:
        return None
    needed = [name for name in VIDEO_OUTPUTS if overlay or name != "overlay.mp4"]
    if not all((folder / name).is_file() for name in needed):
        return None
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict) or summary.get("video") != str(video):
        return None
    return row if summary.get("corpus_settings") == settings else None


def read_manifests(out: Path) -> dict[str, ManifestRow]:
    """Video -> row from ``OUT/manifest.csv`` and then the part files of unfinished runs (a later
    row of a video replaces an earlier one). A ``manifest.csv`` that is not a corpus manifest is an error."""
    rows: dict[str, ManifestRow] = {}
    for path in [out / MANIFEST] + sorted(out.glob(PART_GLOB)):
        if not path.is_file():
            continue
        with open(path, newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.DictReader(handle)
            if not {"video", "output", "status"} <= set(reader.fieldnames or ()):
                raise CorpusInputError(f"--out {out}: {path.name} is not a corpus manifest (no columns video, "
                                       "output, status); choose another output folder")
            for values in reader:
                row = ManifestRow.from_csv(values)
                if row is not None:
                    rows.pop(row.video, None)  # the latest row goes last
                    rows[row.video] = row
    return rows


def _append_row(part: Path, row: ManifestRow) -> None:
    """Append ``row`` to a part manifest (header first in a new file), flushed to disk."""
    size = part.stat().st_size if part.is_file() else 0
    cut_short = False
    if size:
        with open(part, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            cut_short = handle.read(1) != b"\n"  # a crash ended the file inside a line
    with open(part, "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_FIELDS)
        if not size:
            writer.writeheader()
        if cut_short:
            handle.write("\r\n")
        writer.writerow(row.to_csv())
        handle.flush()
        os.fsync(handle.fileno())


def write_manifest(out: Path, rows: Iterable[ManifestRow], earlier: dict[str, ManifestRow]) -> Path:
    """Write ``OUT/manifest.csv`` atomically: ``rows``, then the ``earlier`` rows of other videos;
    then remove the part files."""
    rows = list(rows)
    named = {row.video for row in rows}
    rows += [row for video, row in earlier.items() if video not in named]
    fd, name = tempfile.mkstemp(prefix=f".{MANIFEST}.", suffix=".tmp", dir=out)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=MANIFEST_FIELDS)
            writer.writeheader()
            writer.writerows(row.to_csv() for row in rows)
        os.replace(name, out / MANIFEST)
    finally:
        Path(name).unlink(missing_ok=True)
    for part in out.glob(PART_GLOB):
        part.unlink(missing_ok=True)
    return out / MANIFEST
