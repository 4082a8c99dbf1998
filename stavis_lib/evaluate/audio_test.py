"""The audio-dependence test: an audio-visual model scored with its true soundtrack, with
silence, and with the soundtrack of another video of the split (a fixed derangement: each video
gets the next one's sound in name order), and the differences."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from stavis_lib.evaluate.reports import averaging_rule, metric_cols, summarize
from stavis_lib.evaluate.runner import RunSpec, run_splits
from stavis_lib.evaluate.scoring import AUDIO_MODES, Options
from stavis_lib.metrics import markdown_table
from stavis_lib.runtime import resolve_device

__all__ = ["audio_dependence"]


def audio_dependence(root: str | Path, datasets: str | Sequence[str] = "Synthetic",
                     split: int | Sequence[int | None] | None = 1, model: Any = None, *,
                     name: str = "model", out_dir: str | Path | None = None, postprocess: bool = True,
                     sauc: str | None = "exact", max_videos: int | None = None, max_frames: int | None = None,
                     batch_size: int = 8, device: str | None = None, dtype: str = "float32", seed: int = 0,
                     progress: bool = True, averaging: str = "official") -> pd.DataFrame:
    """Does the model use the sound? Scores with (a) the true soundtrack, (b) silence, (c) the
    soundtrack of another video of the split (:func:`other_audio_assignment`).

    Returns a DataFrame with one row per dataset (and ``ALL``) and condition — "true",
    "silence", "other", "silence - true", "other - true" — and the metric columns (per-video
    means averaged over the splits by ``averaging``, :func:`averaging_rule`). A model that ignores
    the sound has deltas of ~0. Writes ``audio_dependence.csv`` / ``.md`` (and the per-frame
    scores) to ``out_dir`` when given.
    """
    if model is None:
        raise ValueError("audio_dependence needs an audio-visual model")
    averaging_rule("", averaging)
    opts = Options(postprocess=postprocess, sauc=sauc, seed=seed, device=resolve_device(device))
    spec = RunSpec(name, list(AUDIO_MODES), False, False, opts, max_videos, max_frames,
                    dict(batch_size=batch_size, device=device, dtype=dtype), progress=progress)
    frames = run_splits(root, datasets, split, model, spec)
    if frames["method"].nunique() < len(AUDIO_MODES):
        raise ValueError(f"model {name!r} does not use audio (config.uses_audio is False): nothing to compare")
    _, _, dsets = summarize(frames, averaging)
    mcols = metric_cols(dsets)
    table = []
    for db, d in dsets.groupby("dataset", sort=False):
        by = {mode: d.loc[d["method"] == name + suffix, mcols].iloc[0] for mode, suffix in AUDIO_MODES.items()}
        for label, values in (("true", by["true"]), ("silence", by["silence"]), ("other", by["other"]),
                              ("silence - true", by["silence"] - by["true"]),
                              ("other - true", by["other"] - by["true"])):
            table.append({"dataset": db, "condition": label, **values.to_dict()})
    result = pd.DataFrame(table)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        result.to_csv(out / "audio_dependence.csv", index=False)
        frames.to_csv(out / "audio_dependence_frames.csv", index=False)
        (out / "audio_dependence.md").write_text(
            f"# Audio dependence of {name}\n\nTrue soundtrack vs silence vs another video's soundtrack "
            "(cyclic derangement in name order). Negative deltas of CC/NSS/AUC/SIM (positive for KLD) "
            "mean the model uses the sound.\n\n" + markdown_table(result))
    return result
