"""Deployment export: the whole STAViS network (Fig. 2) as one graph, ONNX or a torch.export program.

One graph from the network's inputs to its final saliency logits, for any Table-1 variant:

=========  ===================  ===============================================================
name       shape                what
=========  ===================  ===============================================================
frames     (batch, 3, T, H, W)  float32 RGB clip on 0-255 minus the ActivityNet means
                                (``stavis_lib.data.clips.normalize_clip``), T = 16, H = W = 112
                                for the paper's network (the checkpoint's ``sample_duration``,
                                ``sample_size``)
audio      (batch, N)           float32 22.05 kHz mono on the SoundNet scale (int16 / 128),
                                the Hann-weighted window of ``stavis_lib.data.audio.clip_audio``,
                                N = 35280 (the official window); absent for the "visual" variant
saliency   (batch, 1, H, W)     logits of the final map (S^av, or S^v for "visual"); a sigmoid
                                gives the saliency map of the window's central frame
=========  ===================  ===============================================================

``batch`` is dynamic; T, H, W and N are fixed at export time (``ExportConfig``; the PyTorch
module itself accepts other sizes). The network is exported in eval mode (running BatchNorm
statistics) in fp32, with each BatchNorm folded into the convolution before it by default
(:func:`stavis_lib.model.fold.fold_batchnorm`: a smaller, faster graph, the same function up
to float rounding); ``fold_batchnorm=False`` keeps them as BatchNorm nodes.

Both formats come from one ``torch.export.export`` of the network. "exported-program" saves it
with ``torch.export.save`` (a ``.pt2`` archive that ``torch.export.load`` reads back);
"onnx" translates it with ``torch.onnx.export(..., dynamo=True)`` (torch's current exporter,
which needs the ``onnx`` and ``onnxscript`` packages) into a single self-contained ``.onnx`` file.
The older TorchScript-tracing exporter (``dynamo=False``) is not used: torch deprecates it, and
it would trace the network a second, different way. Every operation of the network exports
(3D convolutions and max-pooling, transposed 2D convolutions, softmax, einsum, bilinear
resizing), so nothing is split into separate graphs.
"""
from __future__ import annotations

import copy
import importlib.util
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from stavis_lib.data.audio import OFFICIAL_WINDOW
from stavis_lib.data.clips import ACTIVITYNET_MEAN
from stavis_lib.errors import UserError
from stavis_lib.files import atomic_write
from stavis_lib.model.audio import min_audio_length
from stavis_lib.model.checkpoints import load_checkpoint
from stavis_lib.model.fold import fold_batchnorm
from stavis_lib.model.stavis import Stavis

#: format name -> file suffix
FORMATS: dict[str, str] = {"onnx": ".onnx", "exported-program": ".pt2"}
#: the packages the ONNX format needs beyond torch
ONNX_PACKAGES = ("onnx", "onnxscript")
INPUT_NAMES = ("frames", "audio")
OUTPUT_NAME = "saliency"
#: standard deviation of random audio (SoundNet scale, int16 / 128): speech in the bundled clips
#: has about 3
AUDIO_STD = 4.0
#: batch size of the example inputs that are traced (not 1, which torch.export would specialise)
TRACE_BATCH = 2


class ExportError(UserError, ValueError):
    """An export request that cannot be carried out (format, output path, missing package)."""


@dataclass
class ExportConfig:
    """What to export. ``frames``/``size`` default to the checkpoint's ``sample_duration`` /
    ``sample_size`` (16 and 112 for the paper's network); ``audio_samples`` to the official
    35280-sample window. ``fold_batchnorm`` folds every BatchNorm into its convolution.
    ``opset`` is the ONNX opset (None: torch's default)."""

    format: str = "onnx"
    frames: int | None = None
    size: int | None = None
    audio_samples: int = OFFICIAL_WINDOW
    fold_batchnorm: bool = True
    opset: int | None = None

    def validate(self) -> None:
        if self.format not in FORMATS:
            raise ExportError(f"--format {self.format!r}: expected one of {', '.join(FORMATS)}")
        for name in ("frames", "size", "audio_samples"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ExportError(f"--{name.replace('_', '-')} {value!r}: expected a positive int")
        if self.size is not None and self.size % 16:
            raise ExportError(f"--size {self.size}: frame height and width must be divisible by 16")
        if self.audio_samples < min_audio_length():
            raise ExportError(f"--audio-samples {self.audio_samples}: SoundNet-8 needs at least "
                              f"{min_audio_length()} samples (the official window is {OFFICIAL_WINDOW})")


@dataclass
class ExportResult:
    """What ``export_model`` wrote: the file, its format and the graph's signature."""

    path: Path
    format: str
    variant: str
    inputs: dict[str, tuple[str | int, ...]]
    output: tuple[str | int, ...]
    batchnorm_folded: int
    seconds: float
    bytes: int = 0

    def summary(self) -> str:
        """A few lines for the command line."""
        ins = ", ".join(f"{k} {_shape_text(v)}" for k, v in self.inputs.items())
        batchnorm = f"{self.batchnorm_folded} folded into the convolutions" if self.batchnorm_folded else "kept"
        return "\n".join([
            f"wrote {self.path} ({self.format}, {self.bytes / 2**20:.1f} MiB) in {self.seconds:.1f} s",
            f"variant {self.variant}: inputs {ins} -> {OUTPUT_NAME} {_shape_text(self.output)} (logits)",
            f"eval mode, fp32, BatchNorm: {batchnorm}",
        ])


def _shape_text(shape: tuple[str | int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


# --------------------------------------------------------------------------- the exported module
class SaliencyGraph(nn.Module):
    """The audio-visual network as ``(frames, audio) -> saliency logits`` (no other outputs)."""

    def __init__(self, net: Stavis) -> None:
        super().__init__()
        self.net = net

    def forward(self, frames: Tensor, audio: Tensor) -> Tensor:
        return self.net(frames, audio).saliency


class VisualSaliencyGraph(nn.Module):
    """The visual-only network as ``frames -> saliency logits`` (S^v)."""

    def __init__(self, net: Stavis) -> None:
        super().__init__()
        self.net = net

    def forward(self, frames: Tensor) -> Tensor:
        return self.net(frames).saliency


def saliency_graph(net: Stavis) -> nn.Module:
    """The module that is exported: ``net`` reduced to its inputs and its final logits."""
    return SaliencyGraph(net) if net.config.uses_audio else VisualSaliencyGraph(net)


def input_names(net: Stavis) -> tuple[str, ...]:
    """("frames", "audio") for the audio variants, ("frames",) for "visual"."""
    return INPUT_NAMES if net.config.uses_audio else INPUT_NAMES[:1]


def example_inputs(net: Stavis, batch: int, config: ExportConfig | None = None,
                   seed: int = 0) -> tuple[Tensor, ...]:
    """Random inputs on the scale the network sees: pixels uniform on 0-255 minus the
    ActivityNet means; audio ~ N(0, AUDIO_STD^2) on the SoundNet scale, about as loud as speech
    (louder white noise drives a trained network's audio features far beyond their range)."""
    config = config or ExportConfig()
    frames_n = config.frames or net.config.sample_duration
    size = config.size or net.config.sample_size
    gen = torch.Generator().manual_seed(seed)
    mean = torch.tensor(ACTIVITYNET_MEAN).view(1, 3, 1, 1, 1)
    frames = torch.rand(batch, 3, frames_n, size, size, generator=gen) * 255.0 - mean
    if not net.config.uses_audio:
        return (frames,)
    return frames, torch.randn(batch, config.audio_samples, generator=gen) * AUDIO_STD


# --------------------------------------------------------------------------- export
def inference_copy(net: Stavis, fold: bool = True) -> Stavis:
    """A copy of ``net`` in eval mode and fp32 on the CPU, BatchNorms folded when ``fold``
    (its ``folded_batchnorms`` says how many); ``net`` itself is left as it was."""
    net = copy.deepcopy(net).float().cpu().eval()
    if fold:
        return fold_batchnorm(net, inplace=True)
    net.folded_batchnorms = 0  # type: ignore[assignment]
    return net


def export_program(net: Stavis, config: ExportConfig | None = None) -> torch.export.ExportedProgram:
    """``torch.export.export`` of ``net`` (eval mode, fp32, BatchNorm folded unless the config
    says not) with a dynamic batch dimension shared by every input."""
    config = config or ExportConfig()
    config.validate()
    net = inference_copy(net, config.fold_batchnorm)
    graph = saliency_graph(net).eval()
    batch = torch.export.Dim("batch", min=1)
    dynamic = {name: {0: batch} for name in input_names(net)}
    with torch.no_grad():
        return torch.export.export(graph, example_inputs(net, TRACE_BATCH, config), dynamic_shapes=dynamic)


def export_model(net: Stavis, out: str | Path, config: ExportConfig | None = None) -> ExportResult:
    """Export ``net`` to ``out`` in ``config.format`` (written atomically: the file appears whole
    or not at all). Returns what was written."""
    config = config or ExportConfig()
    config.validate()
    out = check_output_path(out, config.format)
    if config.format == "onnx":
        require_onnx_packages()
    start = time.perf_counter()
    net = inference_copy(net, config.fold_batchnorm)
    program = export_program(net, replace(config, fold_batchnorm=False))  # folded once, just above
    if config.format == "exported-program":
        atomic_write(out, lambda tmp: torch.export.save(program, tmp))
    else:
        names = input_names(net)
        # string axis names only rename the program's batch symbol in the ONNX file ("batch");
        # one input suffices, since every input shares that symbol
        axes = {names[0]: {0: "batch"}, **{name: None for name in names[1:]}}
        onnx_program = torch.onnx.export(program, input_names=list(names), output_names=[OUTPUT_NAME],
                                         dynamic_shapes=axes, opset_version=config.opset, dynamo=True,
                                         verbose=False)
        atomic_write(out, lambda tmp: onnx_program.save(tmp, external_data=False))
    seconds = time.perf_counter() - start
    shapes = {name: ("batch",) + tuple(x.shape[1:]) for name, x in zip(input_names(net), example_inputs(net, 1, config))}
    frames = shapes["frames"]
    return ExportResult(out, config.format, net.config.variant, shapes, ("batch", 1) + tuple(frames[-2:]),
                        int(net.folded_batchnorms), seconds, out.stat().st_size)


def export_checkpoint(checkpoint: str | Path, out: str | Path, config: ExportConfig | None = None,
                      weights_only: bool = True) -> ExportResult:
    """Load a project checkpoint (``load_checkpoint``: ``weights_only``, one-line errors for a
    missing or foreign file) and export its network with :func:`export_model`."""
    config = config or ExportConfig()
    config.validate()
    check_output_path(out, config.format)  # before the load: a bad --out fails at once
    net, _ = load_checkpoint(checkpoint, weights_only=weights_only)
    return export_model(net, out, config)


def check_output_path(out: str | Path, fmt: str) -> Path:
    """``out`` as a Path, its folder created and shown writable (a file is created there and
    removed), so that a bad ``--out`` fails before the export runs. ``ExportError`` when ``out``
    is a folder or its suffix names the other format; an ``OSError`` naming the path when the
    folder cannot be created or written."""
    out = Path(out)
    if out.is_dir():
        raise ExportError(f"--out {out}: is a folder; give a file name ending in {FORMATS[fmt]}")
    other = {suffix: name for name, suffix in FORMATS.items() if name != fmt}
    if out.suffix.lower() in other:
        raise ExportError(f"--out {out}: the suffix {out.suffix} is for --format {other[out.suffix.lower()]}, "
                          f"not {fmt} (use {out.with_suffix(FORMATS[fmt]).name})")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=out.parent):  # removed on close
        pass
    return out


def require_onnx_packages() -> None:
    """``ExportError`` naming the missing packages when ONNX export cannot run."""
    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(f"--format onnx needs the packages {', '.join(missing)}: "
                          f"pip install {' '.join(missing)} (both are in requirements.txt)")


def format_for_path(out: str | Path) -> str:
    """The format a file name implies (``.onnx`` / ``.pt2``); ``ExportError`` for another suffix."""
    suffix = Path(out).suffix.lower()
    for name, ext in FORMATS.items():
        if suffix == ext:
            return name
    raise ExportError(f"--out {out}: cannot tell the format from the suffix {suffix or '(none)'}; "
                      f"give --format ({', '.join(FORMATS)}) or end the name in .onnx or .pt2")


# --------------------------------------------------------------------------- running an exported file
def load_exported(path: str | Path) -> Callable[[tuple[Tensor, ...]], np.ndarray]:
    """An exported file as a function of the inputs (CPU): ``.onnx`` through onnxruntime,
    ``.pt2`` through ``torch.export.load``. It returns the saliency logits as a NumPy array."""
    path = Path(path)
    if format_for_path(path) == "onnx":
        if importlib.util.find_spec("onnxruntime") is None:
            raise ExportError("running an .onnx file needs onnxruntime: pip install onnxruntime")
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        return lambda inputs: session.run([OUTPUT_NAME], {n: x.numpy() for n, x in zip(names, inputs)})[0]
    with warnings.catch_warnings():  # torch reads the archive's weights from a read-only buffer
        warnings.filterwarnings("ignore", message="The given buffer is not writable")
        module = torch.export.load(str(path)).module()

    def run(inputs: tuple[Tensor, ...]) -> np.ndarray:
        with torch.no_grad():
            return module(*inputs).numpy()

    return run


@dataclass
class Agreement:
    """How far an exported file's logits are from the PyTorch network's on one batch.

    ``max_diff``: max |exported - PyTorch fp32|; ``fp32_error``: max |PyTorch fp32 - PyTorch fp64|,
    the rounding error of fp32 itself at these inputs (the scale ``max_diff`` is to be read on);
    ``max_logit``: max |logit|.
    """

    batch: int
    max_diff: float
    fp32_error: float
    max_logit: float


def compare_with_pytorch(path: str | Path, net: Stavis, batches: tuple[int, ...] = (1, 3),
                         config: ExportConfig | None = None, seed: int = 0) -> list[Agreement]:
    """Run the exported file and ``net`` (eval mode, BatchNorm not folded, fp32 and fp64) on random
    inputs (:func:`example_inputs`) at each batch size; the folding's rounding is part of the
    difference. Random inputs can drive a trained network far outside its range (logits in the
    thousands), hence the fp64 yardstick."""
    run = load_exported(path)
    net32 = inference_copy(net, fold=False)
    net64 = copy.deepcopy(net32).double()
    found = []
    for batch in batches:
        inputs = example_inputs(net32, batch, config, seed + batch)
        with torch.no_grad():
            ref = saliency_graph(net32)(*inputs)
            ref64 = saliency_graph(net64)(*(x.double() for x in inputs))
        got = run(inputs)
        if got.shape != tuple(ref.shape):
            raise ValueError(f"{path}: output shape {got.shape} differs from the network's {tuple(ref.shape)}")
        found.append(Agreement(batch, float(np.abs(got - ref.numpy()).max()),
                               float((ref.double() - ref64).abs().max()), float(ref.abs().max())))
    return found
