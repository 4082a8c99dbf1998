"""The synthetic audio-visual eye-tracking benchmark: the package's embedded default data.

No public eye-tracking video data can be downloaded where this package is built and tested, so the
default data is generated, deterministically from a seed, in the official STAViS release layout
(so the readers that serve the real release serve it too). It is built so that **audio matters**,
in the spirit of Coutrot2 (STAViS §4, where audio-visual models beat visual-only ones by far):

* **Scenes** — ``width x height`` (default 160x120) at 25 fps, 3.5-4 s, with 3-4 moving objects of
  distinct *classes*; a class is a shape and a colour (red disc, green square, ...). Objects drift
  with smoothly turning headings, bounce off the borders and off each other.
* **Sound** — every class has its own sound (a pitch and a timbre: harmonic amplitudes and
  tremolo). Objects sound in bursts of 0.5-1.2 s separated by 0.25-0.7 s of near-silence (faint
  white noise); **at most one object sounds at a time**, each burst's source is drawn at random
  among the objects on screen (never the previous burst's source), and **an object looks exactly the
  same whether or not it sounds** — vision alone cannot tell which object to look at.
* **Viewers** (default 16) — a frame-by-frame gaze model: fixations last a gamma-distributed
  ~300 ms, separated by one-frame saccades (NaN gaze); a fixation on an object follows it (smooth
  pursuit) with a per-fixation offset and per-frame jitter. After a sound onset most viewers
  (``p_react``) saccade to the sounding object with a latency of ~220 ± 50 ms; while a sound
  plays (as heard one mean latency earlier), a new fixation goes to the sounding object with
  probability ``p_follow_sound``; otherwise gaze goes to a random object or the centre of the
  screen. Every video starts with all viewers near the centre.
* **Ground truth** — per-frame fixation maps from the viewers' gaze and dense maps with a Gaussian
  of ``sigma_fraction x width`` (8 px at 160 px; a wider blur keeps the maps from capping scores).

Pitfalls the design avoids (measured with a prototype, see design/ARCHITECTURE.md): a visual-only
model memorising which object sounds (3-4 objects of distinct classes per video and each burst's
source drawn at random, so no class or position is tied to sounding); sharp maps capping scores
(dense-map sigma of 5% of the width); gaze lagging sound onsets (the audio excerpt of a 16-frame
clip spans 0.64 s at 25 fps around the clip's centre, which covers the ~220 ms latency).

Output (``root`` = ``out_dir``)::

    video_frames/Synthetic/<video>/img_%05d.jpg              (layout.ReleaseLayout)
    video_audio/Synthetic/<video>/<video>.wav                22050 Hz, 16 bit
    annotations/Synthetic/<video>/maps/eyeMap_%05d.jpg       dense maps
    annotations/Synthetic/<video>/fixMap_%05d.mat            fixation maps (key eyeMap)
    fold_lists/Synthetic_list_{train,test}_{1,2,3}_fps.txt   three-fold cross-validation splits
    videos/Synthetic/<video>.mp4                             H.264 + AAC, for players and predict_video
    gaze/Synthetic/<video>.npz                               per-viewer gaze + scene facts (see below)
    synthetic_config.json                                    seed, video count and configuration

The gaze file holds ``x, y`` ``(viewers, frames)`` float32 pixels (NaN during saccades), ``target``
``(viewers, frames)`` (object index, -1 centre, -2 saccade), ``sounding`` ``(frames,)`` (index of
the sounding object or -1), ``sounding_class`` ``(frames,)``, ``object_class`` ``(objects,)``,
``centres`` ``(objects, frames, 2)`` and ``boxes`` ``(objects, frames, 4)`` as x0, y0, x1, y1,
``bursts`` ``(B, 3)`` (start s, end s, object), ``class_names``, ``fps``, ``size`` (W, H).
Frame ``f`` (0-based) shows time ``f / fps``, the instant the official audio excerpt centres on
(the official loader: frame f's samples start at ``(f-1)/fps*Fs - n/2`` for 1-based f).

Determinism: every video draws from its own ``numpy`` generator seeded with ``(seed, index)``, so a
video does not depend on how many others are generated; JPEG, wav, .mat, npz and mp4 writers are
byte-deterministic for equal input on the same software stack (the mp4 depends on the bundled
ffmpeg build, so compare its decoded frames across machines).
"""
from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from stavis_lib.data.maps import dense_map, fixation_map, gaze_path, sigma_from_width_fraction, write_gaze_npz
from stavis_lib.progress import progress_bar

__all__ = [
    "DB_NAME",
    "SoundClass",
    "DEFAULT_CLASSES",
    "SyntheticConfig",
    "SyntheticVideo",
    "simulate_video",
    "video_name",
    "split_folds",
    "generate_benchmark",
    "write_video_files",
    "read_benchmark_config",
    "main",
]

DB_NAME = "Synthetic"
SOUNDNET_FULL_SCALE = 256.0  # SoundNet scale: int16 / 128, so full scale is +-256


@dataclass(frozen=True)
class SoundClass:
    """One object class: how it looks (shape, RGB colour) and how it sounds (pitch, timbre)."""

    name: str
    shape: str  # disc | square | triangle | diamond | ring | hexagon
    color: tuple[int, int, int]
    pitch: float  # fundamental frequency in Hz
    harmonics: tuple[float, ...]  # amplitude of harmonic k+1 (timbre)
    tremolo_rate: float = 0.0  # amplitude-modulation rate in Hz (0: none)
    tremolo_depth: float = 0.0  # 0..1


DEFAULT_CLASSES: tuple[SoundClass, ...] = (
    SoundClass("red_disc", "disc", (225, 45, 40), 220.0, (1.0, 0.5, 0.25)),
    SoundClass("green_square", "square", (40, 200, 70), 330.0, (1.0, 0.0, 0.33, 0.0, 0.2, 0.0, 0.14)),
    SoundClass("blue_triangle", "triangle", (55, 95, 235), 494.0, (1.0, 0.5, 0.33, 0.25, 0.2)),
    SoundClass("yellow_diamond", "diamond", (235, 205, 40), 660.0, (1.0,), 8.0, 0.7),
    SoundClass("magenta_ring", "ring", (215, 60, 210), 277.0, (1.0, 0.8, 0.6, 0.4), 5.0, 0.5),
    SoundClass("cyan_hexagon", "hexagon", (40, 210, 215), 415.0, (1.0, 0.0, 0.0, 0.6)),
)


@dataclass
class SyntheticConfig:
    """Every knob of the generator (defaults: the benchmark the notebooks and the demo use)."""

    width: int = 160
    height: int = 120
    fps: float = 25.0
    frames: tuple[int, int] = (88, 100)  # inclusive range of frames per video
    n_classes: int = 4  # the first n of DEFAULT_CLASSES
    objects: tuple[int, int] = (3, 4)  # inclusive range of objects per video (distinct classes)
    object_radius: float = 0.075  # fraction of min(width, height)
    speed: tuple[float, float] = (0.12, 0.35)  # object speed range, fraction of the width per second
    turn_rate: float = 1.5  # std of the heading change, radians per sqrt(second)
    audio_rate: int = 22050
    burst: tuple[float, float] = (0.5, 1.2)  # seconds a burst lasts
    gap: tuple[float, float] = (0.25, 0.7)  # seconds between bursts
    first_onset: tuple[float, float] = (0.15, 0.6)
    sound_level: float = 0.3  # peak amplitude of a burst, fraction of full scale
    noise_level: float = 0.01  # std of the background white noise, fraction of full scale
    n_viewers: int = 16
    p_react: float = 0.9  # probability that a viewer saccades to a sound onset
    latency: tuple[float, float] = (0.22, 0.05)  # mean, std (s) of the onset-to-saccade latency
    latency_range: tuple[float, float] = (0.12, 0.40)
    p_follow_sound: float = 0.85  # a new fixation during a sound goes to the sounding object
    p_centre: float = 0.15  # otherwise: the centre of the screen (else a random object)
    fixation: tuple[float, float] = (0.30, 0.10)  # mean, std (s) of a fixation (gamma distributed)
    min_fixation: float = 0.12
    saccade_frames: int = 1
    gaze_offset: float = 0.35  # per-fixation offset on an object, fraction of its radius (std)
    gaze_noise: float = 0.6  # per-frame gaze jitter in pixels (std)
    centre_spread: float = 0.08  # std of centre fixations, fraction of the width
    sigma_fraction: float = 0.05  # Gaussian of the dense maps, fraction of the width
    n_splits: int = 3
    jpeg_quality: int = 90
    write_mp4: bool = True

    def __post_init__(self) -> None:
        self.frames = tuple(int(v) for v in self.frames)  # type: ignore[assignment]
        self.objects = tuple(int(v) for v in self.objects)  # type: ignore[assignment]
        if self.width < 16 or self.height < 16:
            raise ValueError(f"frame size must be at least 16x16; got {self.width}x{self.height}")
        if not 1 <= self.n_classes <= len(DEFAULT_CLASSES):
            raise ValueError(f"n_classes must be in 1..{len(DEFAULT_CLASSES)}; got {self.n_classes}")
        lo, hi = self.objects
        if not 1 <= lo <= hi <= self.n_classes:
            raise ValueError(f"objects range {self.objects} must lie in 1..n_classes={self.n_classes} (distinct classes)")
        if not 1 <= self.frames[0] <= self.frames[1]:
            raise ValueError(f"frames range must be 1 <= lo <= hi; got {self.frames}")
        if self.n_viewers < 1 or self.fps <= 0 or self.n_splits < 2:
            raise ValueError("need n_viewers >= 1, fps > 0 and n_splits >= 2")

    @property
    def classes(self) -> tuple[SoundClass, ...]:
        return DEFAULT_CLASSES[: self.n_classes]

    @property
    def radius(self) -> float:
        return self.object_radius * min(self.width, self.height)

    @property
    def sigma(self) -> float:
        """Dense-map Gaussian sigma in pixels."""
        return sigma_from_width_fraction(self.sigma_fraction, self.width)

    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "SyntheticConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown SyntheticConfig fields: {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclass
class SyntheticVideo:
    """One generated video, in memory."""

    name: str
    frames: np.ndarray  # (T, H, W, 3) uint8
    audio: np.ndarray  # (N,) float32, SoundNet scale
    gaze_x: np.ndarray  # (V, T) float32, NaN when not fixating
    gaze_y: np.ndarray
    target: np.ndarray  # (V, T) int16: object index, -1 centre, -2 saccade
    sounding: np.ndarray  # (T,) int16 object index or -1
    object_class: np.ndarray  # (K,) int16
    centres: np.ndarray  # (K, T, 2) float32 x, y
    bursts: np.ndarray  # (B, 3) float64 start s, end s, object
    config: SyntheticConfig = field(repr=False)

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def sounding_class(self) -> np.ndarray:
        return np.where(self.sounding >= 0, self.object_class[np.maximum(self.sounding, 0)], -1).astype(np.int16)

    @property
    def boxes(self) -> np.ndarray:
        r = self.config.radius * _SHAPE_EXTENT
        c = self.centres
        return np.concatenate([c - r, c + r], axis=-1).astype(np.float32)

    def fixations(self, index: int) -> np.ndarray:
        """Fixation map ``Y_fix`` of frame ``index`` (0-based)."""
        pts = np.stack([self.gaze_x[:, index], self.gaze_y[:, index]], axis=1)
        return fixation_map(pts, self.config.height, self.config.width)

    def dense(self, index: int) -> np.ndarray:
        """Dense map ``Y_den`` of frame ``index`` (0-based)."""
        return dense_map(self.fixations(index), self.config.sigma)


def video_name(index: int) -> str:
    """Name of the ``index``-th synthetic video (0-based): ``synth_0000`` ..."""
    return f"synth_{index:04d}"


def _video_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


# --------------------------------------------------------------------------------- scene motion

def _simulate_motion(rng: np.random.Generator, cfg: SyntheticConfig, n_obj: int, n_frames: int) -> np.ndarray:
    """Object centres ``(K, T, 2)``: smoothly turning headings, elastic bounces on borders and objects."""
    r = cfg.radius * _SHAPE_EXTENT
    lo = np.array([r, r])
    hi = np.array([cfg.width - r, cfg.height - r])
    pos = np.zeros((n_obj, 2))
    for k in range(n_obj):  # spread the start positions (rejection sampling, bounded)
        for _ in range(200):
            cand = rng.uniform(lo, hi)
            if k == 0 or np.min(np.linalg.norm(pos[:k] - cand, axis=1)) > 2.6 * r:
                break
        pos[k] = cand
    heading = rng.uniform(0, 2 * np.pi, n_obj)
    speed = rng.uniform(*cfg.speed, n_obj) * cfg.width
    vel = np.stack([np.cos(heading), np.sin(heading)], axis=1) * speed[:, None]
    dt = 1.0 / cfg.fps
    out = np.zeros((n_obj, n_frames, 2))
    for t in range(n_frames):
        out[:, t] = pos
        turn = rng.normal(0.0, cfg.turn_rate * math.sqrt(dt), n_obj)
        c, s = np.cos(turn), np.sin(turn)
        vel = np.stack([c * vel[:, 0] - s * vel[:, 1], s * vel[:, 0] + c * vel[:, 1]], axis=1)
        for i in range(n_obj):  # elastic collisions between equal masses
            for j in range(i + 1, n_obj):
                d = pos[j] - pos[i]
                dist = float(np.hypot(*d))
                if 0 < dist < 2.0 * r:
                    n = d / dist
                    rel = float(np.dot(vel[i] - vel[j], n))
                    if rel > 0:
                        vel[i] -= rel * n
                        vel[j] += rel * n
        pos = pos + vel * dt
        for axis in range(2):  # bounce on the borders
            below, above = pos[:, axis] < lo[axis], pos[:, axis] > hi[axis]
            pos[below, axis] = 2 * lo[axis] - pos[below, axis]
            pos[above, axis] = 2 * hi[axis] - pos[above, axis]
            vel[below | above, axis] *= -1
            pos[:, axis] = np.clip(pos[:, axis], lo[axis], hi[axis])
    return out


# ------------------------------------------------------------------------------------ rendering

_SHAPE_EXTENT = 1.1  # half-size of every shape's bounding box, in radii


def _polygon_sdf(dx: np.ndarray, dy: np.ndarray, angles_deg: Sequence[float], inradius: float) -> np.ndarray:
    """Signed distance (exact on the edges) to a convex regular polygon given by its edge normals."""
    d = np.full(dx.shape, -np.inf)
    for a in np.deg2rad(np.asarray(angles_deg, dtype=np.float64)):
        d = np.maximum(d, dx * math.cos(a) + dy * math.sin(a) - inradius)
    return d


def _shape_sdf(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    if shape == "disc":
        return np.hypot(dx, dy) - r
    if shape == "square":
        return _polygon_sdf(dx, dy, (0, 90, 180, 270), 0.86 * r)
    if shape == "triangle":  # apex up (image y points down)
        return _polygon_sdf(dx, dy, (90, 210, 330), 0.55 * r)
    if shape == "diamond":
        return _polygon_sdf(dx, dy, (45, 135, 225, 315), 0.78 * r)
    if shape == "ring":
        return np.abs(np.hypot(dx, dy) - 0.72 * r) - 0.32 * r
    if shape == "hexagon":
        return _polygon_sdf(dx, dy, (0, 60, 120, 180, 240, 300), 0.9 * r)
    raise ValueError(f"unknown shape {shape!r}")


def _background(rng: np.random.Generator, cfg: SyntheticConfig) -> np.ndarray:
    """A static, low-saturation, smoothly textured background ``(H, W, 3)`` float."""
    base = rng.uniform(70, 130) + rng.uniform(-12, 12, 3)
    coarse = rng.normal(0.0, 14.0, (4, 5, 3)).astype(np.float32)
    layers = [
        np.asarray(Image.fromarray(coarse[:, :, c]).resize((cfg.width, cfg.height), Image.BICUBIC))
        for c in range(3)
    ]
    luminance = np.mean(layers, axis=0)
    return np.clip(base[None, None, :] + 0.7 * luminance[:, :, None] + 0.3 * np.stack(layers, -1), 0, 255)


def _render(background: np.ndarray, centres: np.ndarray, classes: Sequence[SoundClass], radius: float) -> np.ndarray:
    """Frames ``(T, H, W, 3)`` uint8: objects drawn with 1-pixel antialiasing over the background."""
    n_obj, n_frames, _ = centres.shape
    height, width, _ = background.shape
    half = int(math.ceil(radius * _SHAPE_EXTENT)) + 2
    frames = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    for t in range(n_frames):
        img = background.copy()
        for k in range(n_obj):
            cx, cy = centres[k, t]
            x0, x1 = max(int(cx) - half, 0), min(int(cx) + half + 1, width)
            y0, y1 = max(int(cy) - half, 0), min(int(cy) + half + 1, height)
            dx = np.arange(x0, x1)[None, :] + 0.5 - cx
            dy = np.arange(y0, y1)[:, None] + 0.5 - cy
            dx, dy = np.broadcast_arrays(dx, dy)
            alpha = np.clip(0.5 - _shape_sdf(classes[k].shape, dx, dy, radius), 0.0, 1.0)[:, :, None]
            colour = np.asarray(classes[k].color, dtype=np.float64)
            patch = img[y0:y1, x0:x1]
            img[y0:y1, x0:x1] = patch * (1.0 - alpha) + colour * alpha
        frames[t] = np.round(img).astype(np.uint8)
    return frames


# ---------------------------------------------------------------------------------------- sound

def _schedule_bursts(rng: np.random.Generator, cfg: SyntheticConfig, n_obj: int, duration: float) -> np.ndarray:
    """Non-overlapping bursts ``(B, 3)``: start, end (s), sounding object (never twice in a row)."""
    bursts: list[tuple[float, float, int]] = []
    t = rng.uniform(*cfg.first_onset)
    previous = -1
    while t < duration - 0.2:
        length = rng.uniform(*cfg.burst)
        choices = [k for k in range(n_obj) if k != previous] or [0]
        obj = int(choices[int(rng.integers(len(choices)))])
        bursts.append((t, min(t + length, duration), obj))
        previous = obj
        t += length + rng.uniform(*cfg.gap)
    return np.asarray(bursts, dtype=np.float64).reshape(-1, 3)


def _tone(cls: SoundClass, t: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """A class's sound at times ``t`` (s): harmonic sum with tremolo, peak-normalised to 1."""
    wave = np.zeros_like(t)
    for k, amp in enumerate(cls.harmonics):
        if amp:
            wave += amp * np.sin(2 * np.pi * cls.pitch * (k + 1) * t + phases[k])
    if cls.tremolo_depth:
        wave *= 1.0 - cls.tremolo_depth * 0.5 * (1.0 + np.sin(2 * np.pi * cls.tremolo_rate * t))
    return wave / sum(abs(a) for a in cls.harmonics)


def _synthesize_audio(rng: np.random.Generator, cfg: SyntheticConfig, bursts: np.ndarray,
                      object_class: np.ndarray, n_samples: int) -> np.ndarray:
    """The soundtrack ``(N,)`` float32 on the SoundNet scale: class sounds in bursts over faint noise."""
    rate = cfg.audio_rate
    wave = rng.normal(0.0, cfg.noise_level, n_samples)
    attack, release = int(0.015 * rate), int(0.04 * rate)
    for start, end, obj in bursts:
        a, b = int(round(start * rate)), min(int(round(end * rate)), n_samples)
        if b <= a:
            continue
        cls = DEFAULT_CLASSES[int(object_class[int(obj)])]
        t = np.arange(a, b) / rate
        phases = rng.uniform(0, 2 * np.pi, len(cls.harmonics))
        gain = cfg.sound_level * 10 ** (rng.uniform(-4, 4) / 20)
        env = np.ones(b - a)
        n_att, n_rel = min(attack, (b - a) // 2), min(release, (b - a) // 2)
        env[:n_att] = np.linspace(0, 1, n_att, endpoint=False)
        if n_rel:
            env[-n_rel:] = np.linspace(1, 0, n_rel)
        wave[a:b] += gain * env * _tone(cls, t, phases)
    return (np.clip(wave, -1.0, 1.0) * SOUNDNET_FULL_SCALE).astype(np.float32)


def _sounding_per_frame(bursts: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
    """Object sounding at each frame's instant ``f / fps`` (-1: none)."""
    times = np.arange(n_frames) / fps
    out = np.full(n_frames, -1, dtype=np.int16)
    for start, end, obj in bursts:
        out[(times >= start) & (times < end)] = int(obj)
    return out


# ---------------------------------------------------------------------------------------- gaze

def _fixation_frames(rng: np.random.Generator, cfg: SyntheticConfig) -> int:
    """A fixation duration in frames, gamma distributed with the configured mean and std."""
    mean, std = cfg.fixation
    shape = (mean / std) ** 2
    seconds = max(rng.gamma(shape, mean / shape), cfg.min_fixation)
    return max(1, int(round(seconds * cfg.fps)))


def _simulate_viewer(rng: np.random.Generator, cfg: SyntheticConfig, centres: np.ndarray,
                     sounding: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One viewer's gaze ``x, y`` (T,) and target (T,) (object, -1 centre, -2 saccade)."""
    n_obj, n_frames, _ = centres.shape
    radius = cfg.radius
    centre_xy = np.array([cfg.width / 2.0, cfg.height / 2.0])
    x = np.full(n_frames, np.nan, dtype=np.float32)
    y = np.full(n_frames, np.nan, dtype=np.float32)
    target_out = np.full(n_frames, -2, dtype=np.int16)

    # reactions to sound onsets: frame at which this viewer's gaze leaves for the sounding object
    reactions: dict[int, int] = {}
    onsets = [f for f in range(n_frames) if sounding[f] >= 0 and (f == 0 or sounding[f - 1] != sounding[f])]
    for f in onsets:
        if rng.random() < cfg.p_react:
            lat = np.clip(rng.normal(*cfg.latency), *cfg.latency_range)
            reactions[f + max(1, int(round(lat * cfg.fps)))] = int(sounding[f])

    def new_offset(tgt: int) -> np.ndarray:
        if tgt < 0:
            return rng.normal(0.0, cfg.centre_spread * cfg.width, 2)
        return np.clip(rng.normal(0.0, cfg.gaze_offset * radius, 2), -radius, radius)

    lag = max(1, int(round(cfg.latency[0] * cfg.fps)))  # sound reaches the gaze plan after the latency

    def choose(f: int, current: int) -> int:
        heard = int(sounding[f - lag]) if f >= lag else -1
        if heard >= 0 and rng.random() < cfg.p_follow_sound:
            return heard
        if rng.random() < cfg.p_centre:
            return -1
        return int(rng.integers(n_obj))

    target, offset = -1, new_offset(-1)
    remaining = int(rng.integers(1, _fixation_frames(rng, cfg) + 1))  # desynchronise the start
    saccade_left, next_target = 0, -1
    for f in range(n_frames):
        if f in reactions and reactions[f] != target and reactions[f] != next_target:
            saccade_left, next_target = cfg.saccade_frames, reactions[f]
        elif f in reactions and saccade_left == 0:
            remaining = max(remaining, _fixation_frames(rng, cfg))  # already there: keep following
        if saccade_left > 0:
            saccade_left -= 1
            if saccade_left == 0:
                target, offset, remaining = next_target, new_offset(next_target), _fixation_frames(rng, cfg)
            continue
        anchor = centre_xy if target < 0 else centres[target, f]
        gx, gy = anchor + offset + rng.normal(0.0, cfg.gaze_noise, 2)
        x[f] = min(max(gx, 0.0), np.nextafter(cfg.width, 0))
        y[f] = min(max(gy, 0.0), np.nextafter(cfg.height, 0))
        target_out[f] = target
        remaining -= 1
        if remaining <= 0:
            nxt = choose(f, target)
            if nxt == target:
                remaining = _fixation_frames(rng, cfg)
            else:
                saccade_left, next_target = cfg.saccade_frames, nxt
    return x, y, target_out


# ------------------------------------------------------------------------------------ one video

def simulate_video(seed: int, index: int, config: SyntheticConfig | None = None) -> SyntheticVideo:
    """Generate video ``index`` of the benchmark with ``seed`` (pure: no files are written)."""
    cfg = config or SyntheticConfig()
    rng = _video_rng(seed, index)
    n_frames = int(rng.integers(cfg.frames[0], cfg.frames[1] + 1))
    n_obj = int(rng.integers(cfg.objects[0], cfg.objects[1] + 1))
    object_class = rng.permutation(cfg.n_classes)[:n_obj].astype(np.int16)
    centres = _simulate_motion(rng, cfg, n_obj, n_frames)
    frames = _render(_background(rng, cfg), centres, [DEFAULT_CLASSES[c] for c in object_class], cfg.radius)
    duration = n_frames / cfg.fps
    bursts = _schedule_bursts(rng, cfg, n_obj, duration)
    n_samples = int(round(duration * cfg.audio_rate))
    audio = _synthesize_audio(rng, cfg, bursts, object_class, n_samples)
    sounding = _sounding_per_frame(bursts, n_frames, cfg.fps)
    gaze = [_simulate_viewer(rng, cfg, centres, sounding) for _ in range(cfg.n_viewers)]
    return SyntheticVideo(
        name=video_name(index),
        frames=frames,
        audio=audio,
        gaze_x=np.stack([g[0] for g in gaze]),
        gaze_y=np.stack([g[1] for g in gaze]),
        target=np.stack([g[2] for g in gaze]),
        sounding=sounding,
        object_class=object_class,
        centres=centres.astype(np.float32),
        bursts=bursts,
        config=cfg,
    )


# --------------------------------------------------------------------------------------- writing

def split_folds(names: Sequence[str], n_splits: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """K-fold cross-validation splits (STAViS §4: every video is in exactly one test set).

    Videos are shuffled with ``seed`` and dealt round-robin into ``n_splits`` folds; split ``k`` tests
    on fold ``k`` and trains on the others. Returns ``[(train, test), ...]``, names in input order.
    """
    if len(names) < n_splits:
        raise ValueError(f"{n_splits}-fold splits need at least {n_splits} videos; got {len(names)}")
    order = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED])).permutation(len(names))
    fold = np.empty(len(names), dtype=np.int64)
    fold[order] = np.arange(len(names)) % n_splits
    return [
        ([n for n, f in zip(names, fold) if f != k], [n for n, f in zip(names, fold) if f == k])
        for k in range(n_splits)
    ]


def write_video_files(root: str | os.PathLike, video: SyntheticVideo) -> None:
    """Write one video in the release layout, plus its mp4 and gaze file."""
    from stavis_lib.data.layout import ReleaseLayout

    cfg = video.config
    layout = ReleaseLayout(root)
    for folder in (layout.frames_dir(DB_NAME, video.name), layout.annotation_dir(DB_NAME, video.name)):
        if folder.is_dir():  # a previous run may have left more frames of this video
            shutil.rmtree(folder)
    layout.write_frames(DB_NAME, video.name, video.frames, quality=cfg.jpeg_quality)
    layout.write_audio(DB_NAME, video.name, video.audio, cfg.audio_rate)
    fixations = [video.fixations(t) for t in range(video.n_frames)]
    layout.write_maps(DB_NAME, video.name, (dense_map(f, cfg.sigma) for f in fixations), fixations,
                      quality=cfg.jpeg_quality)
    write_gaze_npz(
        gaze_path(root, DB_NAME, video.name),
        video.gaze_x,
        video.gaze_y,
        target=video.target,
        sounding=video.sounding,
        sounding_class=video.sounding_class,
        object_class=video.object_class,
        centres=video.centres,
        boxes=video.boxes,
        bursts=video.bursts,
        class_names=np.array([c.name for c in cfg.classes]),
        fps=np.float64(cfg.fps),
        size=np.array([cfg.width, cfg.height], dtype=np.int64),
    )
    if cfg.write_mp4:
        from stavis_lib.data.media import write_video

        write_video(Path(root) / "videos" / DB_NAME / f"{video.name}.mp4", iter(video.frames), cfg.fps,
                    audio=(video.audio, cfg.audio_rate))


def generate_benchmark(out_dir: str | os.PathLike, n_videos: int = 48, seed: int = 0,
                       config: SyntheticConfig | None = None, progress: bool = True) -> Path:
    """Generate the synthetic benchmark under ``out_dir`` (see the module docstring for the layout).

    Video ``i`` depends only on ``(seed, i)`` and ``config``; the three fold lists shuffle the videos
    with ``seed``. Returns ``out_dir`` as a Path.
    """
    from stavis_lib.data.layout import ReleaseLayout, VideoEntry

    cfg = config or SyntheticConfig()
    if n_videos < cfg.n_splits:
        raise ValueError(f"need at least {cfg.n_splits} videos for {cfg.n_splits}-fold splits; got {n_videos}")
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    entries: dict[str, VideoEntry] = {}
    for i in progress_bar(range(n_videos), enabled=progress, desc="synthetic videos", unit="video"):
        video = simulate_video(seed, i, cfg)
        write_video_files(root, video)
        entries[video.name] = VideoEntry(video.name, video.n_frames, cfg.fps)
    layout = ReleaseLayout(root)
    for k, (train, test) in enumerate(split_folds(list(entries), cfg.n_splits, seed), start=1):
        layout.write_fold_list(DB_NAME, "train", k, [entries[n] for n in train])
        layout.write_fold_list(DB_NAME, "test", k, [entries[n] for n in test])
    meta = {"db": DB_NAME, "seed": int(seed), "n_videos": int(n_videos), "config": cfg.to_dict(),
            "classes": [asdict(c) for c in cfg.classes]}
    (root / "synthetic_config.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return root


def read_benchmark_config(root: str | os.PathLike) -> tuple[SyntheticConfig, int, int]:
    """``(config, seed, n_videos)`` of a benchmark written by :func:`generate_benchmark` under ``root``."""
    path = Path(root) / "synthetic_config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (is {root} a synthetic benchmark folder?)")
    try:
        meta = json.loads(path.read_text())
        return SyntheticConfig.from_dict(meta["config"]), int(meta["seed"]), int(meta["n_videos"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: malformed synthetic benchmark description ({exc})") from exc


#: Sanity bounds of ``synth``: more videos, or a larger estimate on disk, needs ``--force``.
MAX_VIDEOS = 5000
MAX_BYTES = 20e9


@dataclass(frozen=True)
class BenchmarkEstimate:
    """Rough size on disk (bytes) and generation time (seconds, one CPU core) of a benchmark."""

    bytes: float
    seconds: float

    def __str__(self) -> str:
        return f"about {self.bytes / 1e6:,.0f} MB on disk and {self.seconds / 60:,.1f} min to generate"


def estimate_benchmark(n_videos: int, config: SyntheticConfig | None = None) -> BenchmarkEstimate:
    """Estimate of what :func:`generate_benchmark` writes, from per-pixel and per-frame costs measured
    on the default benchmark (JPEG frames and dense maps, compressed ``.mat`` fixations, 16-bit WAV,
    gaze arrays, optional mp4); within a factor of about two for other sizes."""
    cfg = config or SyntheticConfig()
    frames = n_videos * (cfg.frames[0] + cfg.frames[1]) / 2
    pixels = cfg.width * cfg.height
    per_frame = pixels * (0.19 + (0.045 if cfg.write_mp4 else 0.0)) + 300 + 16 * cfg.n_viewers
    per_frame += 2 * cfg.audio_rate / cfg.fps
    seconds = frames * (4e-7 * pixels + 1e-3)
    return BenchmarkEstimate(frames * per_frame, seconds)
