"""Read any video file with its soundtrack (streaming) and write videos with sound.

Frames and audio are decoded by the ffmpeg binary that ships with ``imageio-ffmpeg``
(the one moviepy 2.x uses); container facts (fps, size, duration, audio present) come
from moviepy's ``ffmpeg_parse_infos``. Nothing here holds a whole video in memory:

* :func:`iter_frames` is a generator over one ffmpeg pipe (``rawvideo``, ``rgb24``);
  an optional resize is done by ffmpeg (bilinear) before the bytes reach Python.
* :func:`load_audio` decodes the soundtrack in chunks, downmixes each chunk to mono
  (equal-weight mean of the channels) and resamples it block by block with
  ``torchaudio.functional.resample`` (blocks overlap by the filter support, so the
  result equals resampling the whole signal at once).

Audio is returned on the SoundNet scale used by STAViS §3.2 (and the official loader):
22.05 kHz mono float32 where full scale is
±256, i.e. ``int16 / 128`` (float PCM in [-1, 1] times 256).

Frame timing: frames are emitted one per decoded frame (ffmpeg ``-fps_mode passthrough``:
no frame is duplicated or dropped to force a constant rate), each with its presentation
time read from the stream (ffmpeg's ``showinfo`` filter), so variable-frame-rate videos keep
their real timing (:func:`iter_timed_frames`). Times are on the container's clock (0 = the
earliest stream start); :func:`load_audio` puts its sample 0 at that same instant (silence
before an audio stream that starts late), so a frame at ``t`` seconds hears the samples
around ``t * rate``. The decoded size is read from the decoder, after the rotation that a
phone video's display matrix asks for (ffmpeg auto-rotates). Files are handed to ffmpeg as
``file:NAME`` so that no name is read as a protocol (``clip:1.mp4``).

The number of decoded frames can differ from
``container duration × fps`` by one or two: the container duration is usually the
longer of the audio and video streams, and an MP4 edit list may hide the first
decoded frame (``park.mp4`` has 18 packets, 17 shown frames, 0.55 s × 29.97 = 16.5).
"""
from __future__ import annotations

import math
import os
import re
import queue
import struct
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from stavis_lib.errors import UserError

__all__ = [
    "MediaError",
    "NoAudioWarning",
    "VideoInfo",
    "ffmpeg_exe",
    "probe_video",
    "iter_frames",
    "iter_timed_frames",
    "TimedFrame",
    "read_frames",
    "load_audio",
    "resample_stream",
    "write_video",
    "SOUNDNET_SCALE",
]

SOUNDNET_SCALE = 256.0
"""Float PCM in [-1, 1] times 256 = int16 / 128 (the SoundNet input scale)."""

_CHUNK_BYTES = 1 << 20


class MediaError(UserError, RuntimeError):
    """A video or audio file could not be read or written; the message names the file."""


class NoAudioWarning(UserWarning):
    """A video has no audio track; silence of the video's length is used instead."""


@dataclass
class VideoInfo:
    """Facts about a video file (from the container and a packet count)."""

    path: str
    n_frames: int
    fps: float
    width: int
    height: int
    duration: float
    has_audio: bool
    audio_rate: int | None
    audio_channels: int | None = None


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg (honours ``IMAGEIO_FFMPEG_EXE``)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


# ---------------------------------------------------------------------------- probing

_LAYOUT_CHANNELS = {
    "mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "3.0(back)": 3, "4.0": 4, "quad": 4,
    "quad(side)": 4, "3.1": 4, "5.0": 5, "5.0(side)": 5, "4.1": 5, "5.1": 6, "5.1(side)": 6,
    "6.0": 6, "6.0(front)": 6, "hexagonal": 6, "6.1": 7, "6.1(back)": 7, "6.1(front)": 7,
    "7.0": 7, "7.0(front)": 7, "7.1": 8, "7.1(wide)": 8, "7.1(wide-side)": 8, "octagonal": 8,
    "downmix": 2,
}


def _audio_channels(header: str) -> int | None:
    """Channel count of the first audio stream in ffmpeg's ``-i`` header text."""
    for line in header.splitlines():
        if "Audio:" not in line:
            continue
        fields = [f.strip() for f in line.split("Audio:", 1)[1].split(",")]
        for field in fields:
            m = re.fullmatch(r"(\d+) channels", field)
            if m:
                return int(m.group(1))
            if field in _LAYOUT_CHANNELS:
                return _LAYOUT_CHANNELS[field]
        return None
    return None


def ffmpeg_input(path: str | os.PathLike) -> str:
    """``path`` as an ffmpeg input/output name that is never read as a protocol (``clip:1.mp4``)."""
    return "file:" + os.fspath(path)


def _check_media_file(p: Path, what: str = "video") -> None:
    """Raise :class:`MediaError` naming ``p`` when it is not a readable regular file."""
    if p.is_dir():
        raise MediaError(f"{p}: is a directory, not a {what} file")
    if not p.exists():
        raise MediaError(f"{p}: no such {what} file")
    if not p.is_file():
        raise MediaError(f"{p}: not a regular file")


_ROTATION = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees", re.IGNORECASE)


def _display_rotation(header: str) -> int:
    """The display-matrix rotation (degrees) of the first stream that has one in an ffmpeg header."""
    m = _ROTATION.search(header)
    return int(round(float(m.group(1)))) if m else 0


def _count_packets(path: Path) -> tuple[int | None, str]:
    """Count video packets without decoding (stream copy to the null muxer); also return the header."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", ffmpeg_input(path), "-map", "0:v:0",
           "-c", "copy", "-f", "null", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    found = re.findall(r"frame=\s*(\d+)", proc.stderr)
    return (int(found[-1]) if found and proc.returncode == 0 else None), proc.stderr


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read the container facts of a video: frame count, fps, size, duration, audio.

    ``n_frames`` counts the video packets (no decoding, fast even for long files); it
    can exceed the number of frames :func:`iter_frames` yields by one when an MP4 edit
    list hides a frame. Raises :class:`MediaError` naming the file when it is missing,
    unreadable or has no video stream. ``width``/``height`` are the displayed size (after
    a 90°/270° display-matrix rotation); :func:`iter_frames` reads the size from the decoder.
    """
    from moviepy.video.io.ffmpeg_reader import ffmpeg_parse_infos

    p = Path(path)
    _check_media_file(p)
    try:
        info = ffmpeg_parse_infos(ffmpeg_input(p))
    except Exception as exc:  # moviepy raises IOError/OSError/IndexError on bad files
        raise MediaError(f"{p}: not a readable video file ({_first_line(str(exc))})") from exc
    if not info.get("video_found"):
        raise MediaError(f"{p}: the file has no video stream")
    fps = float(info.get("video_fps") or 0.0)
    width, height = (int(v) for v in info["video_size"])
    duration = float(info.get("video_duration") or info.get("duration") or 0.0)
    if fps <= 0 or width <= 0 or height <= 0:
        raise MediaError(f"{p}: cannot determine frame rate or size (fps={fps}, size={width}x{height})")
    packets, header = _count_packets(p)
    rotation = _display_rotation(header) or int(info.get("video_rotation", 0) or 0)
    if rotation % 180 == 90 or rotation % 180 == -90:
        width, height = height, width  # ffmpeg auto-rotates when decoding
    n_frames = packets if packets is not None else int(round(duration * fps))
    has_audio = bool(info.get("audio_found"))
    rate = int(info["audio_fps"]) if has_audio and info.get("audio_fps") else None
    channels = _audio_channels(header) if has_audio else None
    return VideoInfo(str(p), int(n_frames), fps, width, height, duration, has_audio, rate, channels)


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "unknown error"


# ---------------------------------------------------------------------------- frames

def _check_shortfall(path: Path, got: float, expected: float, stderr: str, unit: str) -> None:
    """Raise when decoding reported errors and produced clearly less than the container announces."""
    tolerance = max(2.0, 0.02 * expected)
    if stderr.strip() and got < expected - tolerance:
        raise MediaError(
            f"{path}: truncated or corrupt file: decoded {got:g} {unit} of about {expected:.0f} "
            f"announced by the container ({_first_line(stderr)})"
        )


@dataclass
class TimedFrame:
    """One decoded frame with its presentation time and duration (seconds, container clock)."""

    image: np.ndarray
    time: float
    duration: float


_SHOWINFO = re.compile(r"\bn:\s*(\d+)\s+pts:\s*(\S+)\s+pts_time:(\S+)\s+duration:\s*(\S+)\s+"
                       r"duration_time:(\S+)\s.*?\bs:(\d+)x(\d+)")
_ERROR_LEVEL = re.compile(r"\[(panic|fatal|error)\]\s*")


class _DecoderLog(threading.Thread):
    """Reads an ffmpeg ``-loglevel level+info`` stderr: ``showinfo`` records (in a queue) and errors."""

    def __init__(self, stream: Any) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.records: queue.Queue = queue.Queue()
        self.errors: list[str] = []

    def run(self) -> None:
        try:
            for raw in self.stream:
                line = raw.decode("utf-8", "replace").rstrip()
                m = _SHOWINFO.search(line)
                if m and "[info]" in line:
                    self.records.put((_seconds(m.group(3)), _seconds(m.group(5)), int(m.group(6)), int(m.group(7))))
                elif _ERROR_LEVEL.search(line):
                    self.errors.append(_ERROR_LEVEL.sub("", line, count=1))
        finally:
            self.records.put(None)

    def text(self) -> str:
        return "\n".join(self.errors)


def _seconds(value: str) -> float | None:
    try:
        x = float(value)
    except ValueError:  # NOPTS
        return None
    return x if math.isfinite(x) else None


def iter_timed_frames(path: str | os.PathLike, size: tuple[int, int] | None = None) -> Iterator[TimedFrame]:
    """Yield the frames of a video one by one, each with its presentation time (:class:`TimedFrame`).

    Streaming: one ffmpeg process writes raw ``rgb24`` frames into a pipe and a ``showinfo``
    line per frame (time, duration, decoded size) into its log; only one frame is in Python
    memory at a time. The frame size is the decoder's (rotation applied), or ``size=(W, H)``
    resized by ffmpeg's bilinear scaler (no aspect kept, like the official ``Scale``). Frames
    come one per decoded frame at their own times (variable frame rate kept); a frame without
    a timestamp follows the previous one by one frame period. A truncated/corrupt file raises
    :class:`MediaError` naming the file. Stopping the iteration early kills the decoder.
    """
    p = Path(path)
    info = probe_video(p)
    if size is not None and (int(size[0]) <= 0 or int(size[1]) <= 0):
        raise MediaError(f"{p}: invalid output size {size}")
    chain = ("" if size is None else f"scale={int(size[0])}:{int(size[1])}:flags=bilinear,") + "showinfo"
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info", "-i", ffmpeg_input(p),
           "-map", "0:v:0", "-an", "-sn", "-dn", "-fps_mode", "passthrough", "-enc_time_base:v", "demux", "-vf", chain,
           "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    log = _DecoderLog(proc.stderr)
    log.start()
    count = 0
    previous_end = 0.0
    try:
        assert proc.stdout is not None
        while True:
            record = log.records.get()
            if record is None:
                break
            time, duration, width, height = record
            frame = _read_exact(proc.stdout, width * height * 3)
            if frame is None:
                break
            duration = duration if duration else 1.0 / info.fps
            time = previous_end if time is None else time
            previous_end = time + duration
            count += 1
            yield TimedFrame(frame.reshape(height, width, 3), time, duration)
        rc = proc.wait()
        log.join()
        if rc != 0:
            raise MediaError(f"{p}: ffmpeg failed to decode the video ({_first_line(log.text())})")
        if count == 0:
            raise MediaError(f"{p}: no frame could be decoded ({_first_line(log.text())})")
        _check_shortfall(p, count, info.duration * info.fps, log.text(), "frames")
    finally:
        _close_process(proc)
        log.join(timeout=5)


def _read_exact(stream: Any, nbytes: int) -> np.ndarray | None:
    """``nbytes`` from a pipe as a flat uint8 array, or None when the stream ends first."""
    buf = bytearray(nbytes)
    view = memoryview(buf)
    filled = 0
    while filled < nbytes:
        n = stream.readinto(view[filled:])
        if not n:
            return None
        filled += n
    return np.frombuffer(buf, dtype=np.uint8)


def iter_frames(path: str | os.PathLike, size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """Yield the frames of a video one by one as uint8 ``(H, W, 3)`` RGB arrays.

    The images of :func:`iter_timed_frames` (same decoding, same errors).
    """
    for frame in iter_timed_frames(path, size):
        yield frame.image


def read_frames(path: str | os.PathLike, size: tuple[int, int] | None = None,
                max_frames: int | None = None) -> np.ndarray:
    """Read frames into one ``(T, H, W, 3)`` uint8 array (use :func:`iter_frames` for long videos)."""
    frames: list[np.ndarray] = []
    gen = iter_frames(path, size)
    try:
        for frame in gen:
            frames.append(frame)
            if max_frames is not None and len(frames) >= max_frames:
                break
    finally:
        gen.close()
    if not frames:
        raise MediaError(f"{path}: no frame could be decoded")
    return np.stack(frames)


# ---------------------------------------------------------------------------- audio

def resample_stream(chunks: Iterable[np.ndarray], orig: int, new: int, block_size: int = 1 << 18) -> np.ndarray:
    """Resample a mono signal given as consecutive chunks (``torchaudio`` sinc resampling).

    Blocks of input whose start is a multiple of ``orig / gcd(orig, new)`` are resampled
    with ``pad`` extra input samples on each side and trimmed, so the output equals
    ``resample(concatenate(chunks))`` (up to float rounding) while holding only a block
    of input in memory.
    """
    import torch
    import torchaudio.transforms as AT

    if orig == new:
        parts = [np.asarray(c, dtype=np.float32) for c in chunks]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)
    g = math.gcd(orig, new)
    o, n = orig // g, new // g
    resampler = AT.Resample(o, n)  # the sinc kernel of torchaudio.functional.resample, built once
    pad = o * max(1, math.ceil(1024 / o))          # > filter support (6 zero crossings) for any rates
    block = o * max(1, math.ceil(block_size / o))  # input samples per emitted block
    out: list[np.ndarray] = []
    buf = np.zeros(0, np.float32)
    buf_start = 0  # global index of buf[0]
    a = 0          # global index of the next input sample to emit output for

    def run(seg_start: int, seg: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            res = resampler(torch.from_numpy(np.ascontiguousarray(seg)))
        return res.numpy()[((a - seg_start) // o) * n:]

    for chunk in chunks:
        buf = np.concatenate([buf, np.asarray(chunk, dtype=np.float32)])
        while buf_start + len(buf) >= a + block + pad:
            seg_start = max(0, a - pad)
            seg = buf[seg_start - buf_start: a + block + pad - buf_start]
            out.append(run(seg_start, seg)[: block // o * n])
            a += block
            keep = max(0, a - pad)
            buf = buf[keep - buf_start:]
            buf_start = keep
    total = buf_start + len(buf)
    if total > a:
        seg_start = max(0, a - pad)
        out.append(run(seg_start, buf[seg_start - buf_start:]))
    return np.concatenate(out).astype(np.float32, copy=False) if out else np.zeros(0, np.float32)


def resample(wave: np.ndarray, orig: int, new: int) -> np.ndarray:
    """A whole mono signal from ``orig`` Hz to ``new`` Hz (float32; the sinc resampler of
    :func:`resample_stream`, the one resampler of the library)."""
    return resample_stream([np.asarray(wave, dtype=np.float32).reshape(-1)], int(orig), int(new))


def load_audio(path: str | os.PathLike, sr: int = 22050) -> np.ndarray:
    """The soundtrack of a video (or audio file) as float32 mono at ``sr`` Hz on the SoundNet scale.

    §3.2: SoundNet takes the raw waveform at 22.05 kHz; the official loader feeds int16/128
    values, so full scale is ±256. Channels are averaged
    with equal weights, then resampled with ``torchaudio.functional.resample``. A file
    without an audio track gives zeros of the video's duration and exactly one
    :class:`NoAudioWarning`. Decoding streams in chunks. Sample 0 is the container's time 0
    (the frames' clock, :func:`iter_timed_frames`): an audio stream that starts later than
    the video is preceded by silence, samples before time 0 are dropped.
    """
    p = Path(path)
    _check_media_file(p, "media")
    try:
        info = probe_video(p)
    except MediaError as exc:
        if "no video stream" not in str(exc):
            raise
        info = _probe_audio_only(p)
    if not info.has_audio:
        warnings.warn(f"{p}: no audio track; using {info.duration:.2f} s of silence", NoAudioWarning,
                      stacklevel=2)
        return np.zeros(int(round(info.duration * sr)), dtype=np.float32)
    channels = info.audio_channels or 1
    rate = int(info.audio_rate or sr)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", ffmpeg_input(p), "-map", "0:a:0",
           "-vn", "-sn", "-af", "aresample=first_pts=0", "-f", "f32le", "-acodec", "pcm_f32le",
           "-ar", str(rate), "-ac", str(channels),
           "pipe:1"]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, bufsize=0)
        decoded = [0]

        def chunks() -> Iterator[np.ndarray]:
            assert proc.stdout is not None
            frame_bytes = 4 * channels
            rest = b""
            while True:
                data = proc.stdout.read(_CHUNK_BYTES)
                if not data:
                    break
                data = rest + data
                usable = len(data) - len(data) % frame_bytes
                rest = data[usable:]
                x = np.frombuffer(data[:usable], dtype="<f4").reshape(-1, channels)
                decoded[0] += len(x)
                yield x.mean(axis=1, dtype=np.float32) * np.float32(SOUNDNET_SCALE)

        try:
            wave = resample_stream(chunks(), rate, sr)
            rc = proc.wait()
        finally:
            _close_process(proc)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if rc != 0:
        raise MediaError(f"{p}: ffmpeg failed to decode the audio ({_first_line(stderr)})")
    _check_shortfall(p, decoded[0] / rate, info.duration, stderr, "seconds of audio")
    return wave


def _probe_audio_only(p: Path) -> VideoInfo:
    """Probe an audio-only file (wav, mp3 …) so :func:`load_audio` also reads plain audio files."""
    from moviepy.video.io.ffmpeg_reader import ffmpeg_parse_infos

    try:
        info = ffmpeg_parse_infos(ffmpeg_input(p))
    except Exception as exc:
        raise MediaError(f"{p}: not a readable media file ({_first_line(str(exc))})") from exc
    if not info.get("audio_found"):
        raise MediaError(f"{p}: the file has neither video nor audio")
    header = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", ffmpeg_input(p)],
                            capture_output=True, text=True, errors="replace").stderr
    return VideoInfo(str(p), 0, 0.0, 0, 0, float(info.get("duration") or 0.0), True,
                     int(info["audio_fps"]), _audio_channels(header))


# ---------------------------------------------------------------------------- writing

def _write_wav(path: Path, wave: np.ndarray, rate: int) -> None:
    """Write a SoundNet-scale waveform as a 16-bit PCM wav (int16 = wave * 128, clipped)."""
    from scipy.io import wavfile

    w = np.asarray(wave, dtype=np.float64)
    if w.ndim == 2:  # (channels, N) or (N, channels): downmix
        w = w.mean(axis=0 if w.shape[0] < w.shape[1] else 1)
    pcm = np.clip(np.round(w * 128.0), -32768, 32767).astype(np.int16)
    wavfile.write(str(path), int(rate), pcm)


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray | TimedFrame], fps: float,
                audio: str | os.PathLike | tuple[np.ndarray, int] | None = None,
                crf: int = 18, preset: str = "veryfast") -> None:
    """Write frames as an H.264 (yuv420p) mp4, optionally with a soundtrack (AAC).

    ``frames``: iterable of uint8 ``(H, W, 3)`` RGB (or ``(H, W)`` gray) arrays, streamed
    to ffmpeg and shown at the constant rate ``fps``; or of :class:`TimedFrame` (as
    :func:`iter_timed_frames` yields), each shown at its own time for its own duration
    (variable frame rate kept; with a soundtrack the file lasts until the last frame's end,
    without one the last frame's duration is the muxer's guess). Odd sizes are
    padded by one black row/column (yuv420p needs even sizes). ``audio``: a media file whose
    first audio track is copied in (e.g. the source video of an overlay), or ``(wave, rate)``
    on the SoundNet scale, or None. The soundtrack is cut or padded with silence to the
    video's length. The file is written atomically.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fps <= 0:
        raise MediaError(f"{out}: fps must be positive, got {fps}")
    it = iter(frames)
    try:
        first = next(it)
    except StopIteration:
        raise MediaError(f"{out}: no frames to write") from None
    timed = isinstance(first, TimedFrame)
    height, width = _as_rgb(first.image if timed else first, out).shape[:2]
    rate = Fraction(float(fps)).limit_denominator(100000)
    tmp = out.with_name(f".{out.stem}.tmp{os.getpid()}{out.suffix or '.mp4'}")
    if timed:  # IVF carries a timestamp per frame (rawvideo, fourcc RGB24)
        source = ["-f", "ivf", "-c:v", "rawvideo", "-i", "pipe:0", "-fps_mode", "passthrough",
                  "-enc_time_base:v", f"1/{_IVF_CLOCK}", "-video_track_timescale", str(_IVF_CLOCK), "-bf", "0"]
    else:
        source = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                  "-framerate", f"{rate.numerator}/{rate.denominator}", "-i", "pipe:0"]
    # Two passes keep the output byte-reproducible: the video is encoded first (its length is
    # only known once the iterator is exhausted), then the soundtrack is padded/cut to exactly
    # the video's duration and muxed. (`-af apad -shortest` on a piped video made the audio length
    # depend on pipe timing.)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}.") as td:
        video_only = Path(td) / "video.mp4"
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-v", "error", *source,
               "-map", "0:v:0", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264",
               "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p", "-threads", "1",
               "-fflags", "+bitexact", "-flags:v", "+bitexact", "-f", "mp4",
               ffmpeg_input(video_only if audio is not None else tmp)]
        packer = _IvfPacker(width, height) if timed else None
        duration = _encode_frames(cmd, first, it, out, tmp, packer)
        if not timed:
            duration = duration * rate.denominator / rate.numerator
        if audio is not None:
            _mux_audio(video_only, audio, duration, Path(td), out, tmp)
    os.replace(tmp, out)


_IVF_CLOCK = 90000  # ticks per second of the timestamps written for timed frames


class _IvfPacker:
    """Frames as an IVF stream (32-byte header, then per frame a 12-byte size + timestamp header)."""

    def __init__(self, width: int, height: int) -> None:
        self.header = b"DKIF" + struct.pack("<HH4sHHIIII", 0, 32, b"RGB\x18", width, height,
                                            _IVF_CLOCK, 1, 0, 0)
        self.last_tick = -1
        self.end = 0.0

    def pack(self, frame: TimedFrame, data: bytes) -> bytes:
        tick = max(int(round(frame.time * _IVF_CLOCK)), self.last_tick + 1)  # strictly increasing
        self.last_tick = tick
        self.end = max(self.end, frame.time + frame.duration)
        return struct.pack("<IQ", len(data), tick) + data


def _encode_frames(cmd: list[str], first: np.ndarray | TimedFrame, it: Iterator, out: Path, tmp: Path,
                   packer: _IvfPacker | None = None) -> float:
    """Stream frames into an ffmpeg encoder; returns the frames written (the end time for timed frames)."""
    n = 0
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=err)
        assert proc.stdin is not None
        try:
            item = first
            if packer is not None:
                proc.stdin.write(packer.header)
            shape = None
            while True:
                frame = _as_rgb(item.image if packer is not None else item, out)
                if shape is None:
                    shape = frame.shape
                if frame.shape != shape:
                    raise MediaError(f"{out}: frame of shape {frame.shape} differs from the first {shape}")
                data = np.ascontiguousarray(frame).tobytes()
                proc.stdin.write(packer.pack(item, data) if packer is not None else data)
                n += 1
                try:
                    item = next(it)
                except StopIteration:
                    break
            proc.stdin.close()
            rc = proc.wait()
        except BrokenPipeError:
            rc = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            tmp.unlink(missing_ok=True)
            raise
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if rc != 0:
        tmp.unlink(missing_ok=True)
        raise MediaError(f"{out}: ffmpeg could not write the video ({_first_line(stderr)})")
    return packer.end if packer is not None else float(n)


def _mux_audio(video_only: Path, audio: str | os.PathLike | tuple[np.ndarray, int], duration: float,
               td: Path, out: Path, tmp: Path) -> None:
    """Add a soundtrack padded with silence / cut to exactly ``duration`` seconds (AAC)."""
    if isinstance(audio, tuple):
        wave, rate = np.asarray(audio[0]), int(audio[1])
        if wave.ndim == 2:
            wave = wave.mean(axis=0 if wave.shape[0] < wave.shape[1] else 1)
        n = int(round(duration * rate))
        wave = np.pad(wave[:n], (0, max(0, n - len(wave))))
        audio_src = td / "audio.wav"
        _write_wav(audio_src, wave, rate)
    else:
        if not Path(audio).is_file():
            raise MediaError(f"{audio}: audio source file not found (writing {out})")
        audio_src = Path(audio)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-v", "error",
           "-i", ffmpeg_input(video_only), "-i", ffmpeg_input(audio_src), "-map", "0:v:0", "-map", "1:a:0?",
           "-c:v", "copy", "-c:a", "aac", "-b:a", "128k", "-af", f"aresample=first_pts=0,apad=whole_dur={duration:.6f}",
           "-t", f"{duration:.6f}", "-threads", "1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
           "-movflags", "+faststart", "-f", "mp4", ffmpeg_input(tmp)]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        stderr = proc.stderr.decode("utf-8", "replace")
        raise MediaError(f"{out}: ffmpeg could not add the soundtrack from {audio_src} ({_first_line(stderr)})")


def _close_process(proc: subprocess.Popen) -> None:
    """Stop a decoder that is still running (an abandoned generator) and close its pipe."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _as_rgb(frame: np.ndarray, out: Path) -> np.ndarray:
    a = np.asarray(frame)
    if a.dtype != np.uint8:
        raise MediaError(f"{out}: frames must be uint8, got {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3:
        raise MediaError(f"{out}: frames must be (H, W, 3) RGB, got shape {a.shape}")
    return a
