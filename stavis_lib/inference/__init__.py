"""Saliency maps for any video: :func:`predict_video` (STAViS test path, §4 of the paper).

``predict_video`` (``predict.py``) runs four steps, one module each:

1. ``source.py``: open the source: a video file or a frame array becomes a stream of timed
   frames (a file's frames keep their own timestamps), the soundtrack the model hears
   (silence, with a warning, when there is none; non-finite audio is refused) and what the
   overlay plays.
2. ``fast.py``: prepare the network with the fast paths of ``FastPaths`` (BatchNorm folded
   into the convolutions, the stem convolution shared between overlapping windows,
   channels-last, ``torch.compile`` with an eager fallback), each giving the same maps up to
   float rounding.
3. ``windows.py``: run the step-1 sliding windows in batches: each frame is decoded once,
   brought to the model's size by ``data.frames.model_frame`` (the official 320x240 bicubic,
   then bilinear resize), normalised once and held only while a window still needs it; each
   window hears the audio around its frames' real times (``window_audio``); its map leaves at
   the output size, min-max stretched or as probabilities. With a temporal stride K
   (``stride.py``) only the windows of frames 0, K, 2K, … and of the last frame run; the maps
   between are interpolated linearly in time.
4. ``writers.py``: write the outputs as the maps arrive: a ``maps.npz`` (``MapsWriter``), an
   overlay video (heat map over the frames, each at its own time, with the original sound),
   the returned (T,H,W) array; and ``OutputSet``, the lock, staging folder and swap that make
   the command line's result files appear together.

Many videos at once: :func:`predict_corpus` (``corpus.py``; its inputs in ``corpus_inputs.py``)
predicts folders, globs and lists of videos into one output folder per video with a resumable
manifest, sharded over the processes of ``torchrun`` (``ranks.py``).

Device, autocast dtype (``auto``: bf16 on CUDA where supported, else fp16; on the CPU bf16
only with AMX-BF16, else fp32), channels-last and CPU threads come from ``stavis_lib.runtime``.
"""
from stavis_lib.inference.corpus import CorpusResult, ManifestRow, predict_corpus
from stavis_lib.inference.predict import Prediction, predict_video
from stavis_lib.inference.source import InputError
from stavis_lib.inference.writers import OutputSet

__all__ = ["predict_video", "Prediction", "InputError", "OutputSet", "predict_corpus", "CorpusResult", "ManifestRow"]
