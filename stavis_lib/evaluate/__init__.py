"""Evaluation over dataset splits: metric tables like the paper's, reference lines and the audio test,
for a STAViS network or for the saved maps of any model (:func:`evaluate_predictions`).

STAViS (CVPR 2020, §4.2, Tables 1-4) scores every test frame of every video of each split with
CC, NSS, AUC-J, sAUC and SIM (MIT benchmark conventions, :mod:`stavis_lib.metrics`; table
columns ``cc``, ``nss``, ``auc_judd``, ``auc_shuffled``, ``sim``, plus ``kld``) and averages per
video, then per dataset (:func:`averaging_rule`). This package does the same for the release
layout (any dataset, including the synthetic benchmark) and writes:

* ``frames.csv`` (one row per method, video and frame), ``videos.csv``, ``splits.csv``
  (per dataset and split), ``datasets.csv`` (per dataset, averaged by the chosen rule, plus an
  ``ALL`` row that averages the datasets) and ``tables.md`` with the same tables in markdown;
* ``plots/<db>/<video>_split<k>.png``: NSS over time per video, one line per method;
* optionally the model's predictions: ``<pred_dir>/<db>/<video>/pred_sal_%06d.jpg`` and
  ``<pred_dir>/<db>/<video>.npz`` (uint8 maps), numbered by the frame they predict from 1; the
  same files (and an mp4 of maps) are what :func:`evaluate_predictions` reads back.

Modules: :mod:`~stavis_lib.evaluate.truth` (ground truth per video),
:mod:`~stavis_lib.evaluate.baselines` (centre bias, mean training map, human leave-one-out),
:mod:`~stavis_lib.evaluate.scoring` (the model's maps and per-frame scores),
:mod:`~stavis_lib.evaluate.predictions` (maps saved by any model, read in place of the model's),
:mod:`~stavis_lib.evaluate.runner` (the loop over datasets, splits and videos),
:mod:`~stavis_lib.evaluate.reports` (averaging, tables, plots, saved predictions) and
:mod:`~stavis_lib.evaluate.audio_test` (the audio-dependence test). The command line
``python -m stavis_lib evaluate`` is :mod:`stavis_lib.cli.evaluate`.
"""
from stavis_lib.evaluate.audio_test import audio_dependence
from stavis_lib.evaluate.baselines import (CENTRE, HUMAN, MEAN_GT, centre_bias_map, human_loo_scores,
                                           mean_gt_map)
from stavis_lib.evaluate.predictions import (MISSING_MODES, PRED_FORMATS, MissingPredictionsWarning,
                                             SavedPredictions, evaluate_predictions)
from stavis_lib.evaluate.reports import (AVERAGING, EvaluationResult, averaging_rule, draw_nss_curves,
                                         save_predictions, summarize, write_nss_plots, write_tables)
from stavis_lib.evaluate.runner import evaluate_split
from stavis_lib.evaluate.scoring import AUDIO_MODES, other_audio_assignment, predict_maps, read_frames_resized
from stavis_lib.evaluate.truth import VideoTruth, load_truth

__all__ = [
    "EvaluationResult", "VideoTruth", "evaluate_split", "evaluate_predictions", "SavedPredictions",
    "MissingPredictionsWarning", "PRED_FORMATS", "MISSING_MODES", "audio_dependence", "predict_maps",
    "read_frames_resized",
    "load_truth", "centre_bias_map", "mean_gt_map", "human_loo_scores", "other_audio_assignment", "summarize",
    "averaging_rule", "write_tables", "draw_nss_curves", "write_nss_plots", "save_predictions",
    "CENTRE", "MEAN_GT", "HUMAN", "AUDIO_MODES", "AVERAGING",
]
