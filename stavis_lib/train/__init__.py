"""Two-stage STAViS training (§3.6 of the paper, §6.2.2 of its supplement).

Stage 1, ``"visual"``: the visual-only network (variant ``visual``) with DSAM deep
supervision, loss eq. (6) (``losses.visual_loss``), starting from Hara et al.'s Kinetics-400
3D ResNet (``official.import_kinetics_resnet``). Stage 2, ``"audiovisual"``: the whole
audio-visual network (e.g. ``L3mul_S3``) end to end, loss eq. (7) (``losses.audiovisual_loss``),
starting from the stage-1 weights for the visual path and SoundNet (``sound8.npy`` /
``soundnet8.pth``) for the audio path. A part without such weights starts at random only with
``TrainConfig.allow_random_init`` (recorded in the log and ``train_config.json``).

The official code's training loop (main.py, train.py, models/sal_losses.py of the authors'
repository), which produced the released weights and so the paper's reported numbers, is the
``official`` preset and the ``TrainConfig`` defaults:

* loss per sample: BCE with logits **summed over the pixels** (eq. 8), CC and NSS with a minus
  sign, weights (0.1, 2, 1) (eq. 11); stage 1 adds the four DSAM side losses with weight
  1 - epoch/n_epochs, ``epoch`` 1-based (59/60 in the first of 60 epochs, 0 in the last);
* batch 128 on 4 GPUs under ``nn.DataParallel``: 32 clips per GPU, so each BatchNorm sees 32
  clips (here ``micro_batch=32``, gradient accumulation up to ``batch_size``; ``sync_bn``
  under DDP makes BatchNorm see micro_batch x processes);
* 60 epochs; one MultiStepLR per optimiser, milestones ``int(0.5 n) - 1, int(0.75 n) - 1`` =
  (29, 44), gamma 0.1, stepped after every epoch: the base rate in 1-based epochs 1-29, /10 in
  30-44, /100 in 45-60;
* validation on the split's test list, only logged (it selects nothing); no early stopping;
  a checkpoint every 20 epochs; the released file is the last one, ``save_60.pth``. Here the
  official preset validates on nothing by default and keeps ``epoch_020/040/060.pt``; validating
  on the test list needs ``validate_on_test`` (``--validate-on-test-list``).

The ``paper`` preset follows the text instead: at most 100 epochs, early stopping after 10
without improvement of the validation loss, on videos held out of the training list
(``val_fraction``), the best epoch kept.

Optimiser (paper: "stochastic gradient descent with momentum 0.9 ... weight decay of 1e-5 ...
effective batch sizes of 128 samples, and multistep learning rate"; per-part rates as the
official main.py:41-50 and get_fine_tuning_parameters):

=============  ===================================  ==============  ==================
part           our parameters                       visual stage    audio-visual stage
=============  ===================================  ==============  ==================
global         ``trunk``                            lr / 10         lr / 100
sal            ``dsam``, ``visual_head``, ``fusion`` lr / 100        lr / 100
sound          ``audio`` (SoundNet)                 0               lr / 10
fusion         ``localization`` (official fusion3)  0               lr
=============  ===================================  ==============  ==================

Inside "sal" the official code scales single parameters (``SAL_SCALES``): DSAM ``side_prep``
bias x2, ``score_dsn`` weight x0.1 / bias x0.2, the deconvolutions x0.1, ``fuse``/``fuseav``
weight x0.1 / bias x0.2. SGD uses ``dampening=0.9`` like the official options (so the momentum
buffer averages rather than sums gradients); set ``dampening=0`` for textbook SGD.

Validation never uses the test list unless asked: by default (``plan_validation``) it uses
``val_data`` when given (e.g. separately generated videos), else a ``val_list`` fold-list file,
else every k-th video of each training list (``val_fraction``), held out of training; a set
overlapping the test list (same root, database and video) is a ``TrainConfigError``.

Engineering: CUDA mixed precision (bf16 where supported, else fp16 with a GradScaler);
channels-last-3d; optional ``torch.compile``; ``torchrun`` + DistributedDataParallel with a
distributed sampler (the same entry point on 1 or N processes; CPU uses gloo); atomic
checkpoints (last, best, every N epochs) carrying model config, optimiser, scheduler, RNG states
and history, so a resumed run repeats the uninterrupted one exactly (deterministic CPU
settings); progress bars (``stavis_lib.progress``), CSV logs (``steps.csv``: ``loss``, the loss terms
``loss_ce``/``loss_side``, the batch scores ``train_cc``/``train_nss``) and a loss-curve figure.

Library first: ``train(model_or_config, data_config, train_config, out_dir) -> TrainResult``.

Modules: ``config`` (``TrainConfig``, ``PRESETS``, the official rate tables), ``optim``
(parameter groups, SGD, schedule, per-stage loss), ``distributed`` (process group, sampler),
``rng``, ``data`` (training clips, validation plan), ``init`` (starting weights), ``epoch``
(steps, validation, checkpoints of one epoch), ``outputs`` (files), ``loop`` (``train``).
The command line ``python -m stavis_lib train`` is :mod:`stavis_lib.cli.train`.
"""
from __future__ import annotations

from stavis_lib.model import STAGES
from stavis_lib.train.config import (
    OFFICIAL_PART_LR,
    PART_GROUP,
    PRESETS,
    SAL_SCALES,
    TrainConfig,
    TrainConfigError,
    preset,
)
from stavis_lib.train.data import (
    EpochView,
    ValidationPlan,
    VideoKey,
    build_datasets,
    held_out_videos,
    plan_validation,
    validation_set,
)
from stavis_lib.train.distributed import DistContext, EpochSampler, setup_distributed
from stavis_lib.train.epoch import validate
from stavis_lib.train.init import init_from_checkpoint, warm_start_fusion
from stavis_lib.train.loop import TrainResult, train
from stavis_lib.train.optim import (
    build_optimizer,
    build_scheduler,
    default_milestones,
    lr_schedule,
    parameter_groups,
    stage_loss,
)
from stavis_lib.train.outputs import plot_loss_curves, save_training_checkpoint
from stavis_lib.train.rng import rng_state, seed_everything, set_rng_state

__all__ = [
    "OFFICIAL_PART_LR", "PART_GROUP", "PRESETS", "SAL_SCALES", "STAGES", "DistContext", "EpochSampler", "EpochView",
    "TrainConfig", "TrainConfigError", "TrainResult", "ValidationPlan", "VideoKey",
    "build_datasets", "build_optimizer", "build_scheduler", "default_milestones", "held_out_videos",
    "init_from_checkpoint", "lr_schedule", "parameter_groups", "plan_validation",
    "plot_loss_curves", "preset", "rng_state", "save_training_checkpoint", "seed_everything", "set_rng_state",
    "setup_distributed", "stage_loss", "train", "validate", "validation_set", "warm_start_fusion",
]
