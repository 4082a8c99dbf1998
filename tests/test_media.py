"""Media I/O on every real clip in assets/media (see assets/LICENSES.md) plus generated files.

Frame counts are compared with container duration x fps within 2 frames: the container
duration is the longer of the two streams (rounded to 10 ms) and MP4 edit lists can hide a
decoded frame (park.mp4: 0.55 s x 29.97 = 16.5, 17 frames shown of 18 packets).
"""
from __future__ import annotations

import inspect
import shutil
import subprocess
import warnings

import numpy as np
import pytest
import torch
import torchaudio.functional as AF

from stavis_lib.data import media
from stavis_lib.data.media import MediaError, NoAudioWarning

# name -> (width, height, fps, duration s (LICENSES.md), audio rate, channels)
CLIPS = {
    "big_buck_bunny_0_30.webm": (1280, 720, 24.0, 30.0, 44100, 2),
    "sintel_2s_example3.mp4": (854, 480, 24.0, 2.0, 44100, 2),
    "obama_speech.mp4": (320, 240, 11.94, 8.7, 24000, 1),
    "park.mp4": (640, 480, 29.97, 0.55, 44100, 2),
}


@pytest.fixture(scope="module")
def clip_path(media_dir):
    def get(name):
        path = media_dir / name
        if not path.is_file():
            pytest.skip(f"{path} not available")
        return path

    return get


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_real_clip_frames_and_audio(clip_path, name):
    width, height, fps, duration, rate, channels = CLIPS[name]
    path = clip_path(name)
    info = media.probe_video(path)
    assert (info.width, info.height) == (width, height)
    assert info.fps == pytest.approx(fps, rel=1e-3)
    assert info.duration == pytest.approx(duration, abs=0.02)
    assert info.has_audio and info.audio_rate == rate and info.audio_channels == channels

    frames = list(media.iter_frames(path, size=(32, 24)))
    assert abs(len(frames) - info.duration * info.fps) <= 2
    assert abs(len(frames) - info.n_frames) <= 1  # packets vs shown frames
    assert all(f.shape == (24, 32, 3) and f.dtype == np.uint8 for f in frames)
    assert np.std(np.stack(frames).astype(np.float32)) > 5  # real picture content

    wave = media.load_audio(path)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert len(wave) / 22050 == pytest.approx(info.duration, abs=0.05)
    rms = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))
    assert rms > 1.0, "soundtrack must not be silent (SoundNet scale, full scale 256)"
    assert np.abs(wave).max() < 300  # +-256 full scale (resampling may overshoot slightly)


def test_full_size_decode_and_early_stop(clip_path):
    path = clip_path("sintel_2s_example3.mp4")
    gen = media.iter_frames(path)
    assert inspect.isgenerator(gen)
    first = next(gen)
    assert first.shape == (480, 854, 3) and first.flags.writeable
    gen.close()  # kills the decoder; must not hang
    part = media.read_frames(path, size=(64, 36), max_frames=5)
    assert part.shape == (5, 36, 64, 3)


def test_downmix_is_channel_mean_and_resampling_matches(clip_path):
    """Independent path: ffmpeg decodes both channels at 44.1 kHz, we average and resample at once."""
    path = clip_path("sintel_2s_example3.mp4")
    raw = subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "f32le",
                          "-ac", "2", "pipe:1"], capture_output=True, check=True).stdout
    stereo = np.frombuffer(raw, "<f4").reshape(-1, 2)
    expected = AF.resample(torch.from_numpy(stereo.mean(axis=1) * 256.0), 44100, 22050).numpy()
    got = media.load_audio(path)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-3)


@pytest.mark.parametrize("orig,new", [(44100, 22050), (24000, 22050), (48000, 22050), (8000, 22050)])
def test_chunked_resampling_equals_whole_signal(orig, new):
    x = np.random.default_rng(0).standard_normal(60_001).astype(np.float32)
    whole = AF.resample(torch.from_numpy(x), orig, new).numpy()
    chunks = (x[i:i + 7_777] for i in range(0, len(x), 7_777))
    # small blocks: many block boundaries, each resampled with overlap and trimmed
    np.testing.assert_allclose(media.resample_stream(chunks, orig, new, block_size=5_000), whole, atol=1e-4)


def _moving_frames(n, h=48, w=64):
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[:, (i * 3) % w] = 255
        f[..., 2] = 80
        yield f


def test_video_without_audio_gives_silence_and_one_warning(tmp_path):
    path = tmp_path / "silent.mp4"
    media.write_video(path, _moving_frames(25), fps=10)
    info = media.probe_video(path)
    assert not info.has_audio and info.n_frames == 25
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wave = media.load_audio(path)
    relevant = [w for w in caught if issubclass(w.category, NoAudioWarning)]
    assert len(relevant) == 1 and "silent.mp4" in str(relevant[0].message)
    assert len(caught) == 1
    assert not wave.any()
    assert len(wave) == pytest.approx(2.5 * 22050, abs=0.05 * 22050)


def test_truncated_mp4_raises_naming_file(clip_path, tmp_path):
    src = clip_path("sintel_2s_example3.mp4")
    bad = tmp_path / "truncated_sintel.mp4"
    bad.write_bytes(src.read_bytes()[:100_000])  # the index (moov) sits at the end: cut off
    for call in (media.probe_video, media.load_audio, lambda p: media.read_frames(p, size=(32, 18))):
        with pytest.raises(MediaError, match="truncated_sintel.mp4"):
            call(bad)


def test_truncated_webm_raises_naming_file(clip_path, tmp_path):
    src = clip_path("big_buck_bunny_0_30.webm")
    bad = tmp_path / "truncated_bunny.webm"
    bad.write_bytes(src.read_bytes()[:400_000])  # header intact, stream stops after ~9 of 30 s
    with pytest.raises(MediaError, match="truncated_bunny.webm.*truncated or corrupt"):
        media.read_frames(bad, size=(32, 18))
    with pytest.raises(MediaError, match="truncated_bunny.webm"):
        media.load_audio(bad)


def test_unreadable_and_missing_files(tmp_path):
    junk = tmp_path / "notes.mp4"
    junk.write_text("this is not a video\n" * 20)
    with pytest.raises(MediaError, match="notes.mp4"):
        media.probe_video(junk)
    with pytest.raises(MediaError, match="nothere.mp4"):
        list(media.iter_frames(tmp_path / "nothere.mp4"))


def test_write_video_keeps_the_source_soundtrack(clip_path, tmp_path):
    src = clip_path("obama_speech.mp4")
    frames = media.read_frames(src, size=(63, 47), max_frames=30)  # odd size on purpose
    out = tmp_path / "overlay.mp4"
    media.write_video(out, iter(frames), fps=11.94, audio=src)
    info = media.probe_video(out)
    assert (info.width, info.height) == (64, 48)  # padded to even for yuv420p
    assert info.n_frames == 30 and info.fps == pytest.approx(11.94, rel=1e-3)
    assert info.has_audio
    back = media.read_frames(out)
    assert np.abs(back[:, :47, :63].astype(int) - frames.astype(int)).mean() < 8  # H.264 at crf 18
    wave = media.load_audio(out)
    original = media.load_audio(src)[: len(wave)]
    assert len(wave) / 22050 == pytest.approx(30 / 11.94, abs=0.1)  # audio cut to the video length
    assert np.sqrt(np.mean(wave ** 2)) == pytest.approx(np.sqrt(np.mean(original ** 2)), rel=0.25)
    codecs = subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-i", str(out)], capture_output=True,
                            text=True).stderr
    assert "h264" in codecs and "yuv420p" in codecs and "aac" in codecs


def test_write_video_with_waveform(tmp_path):
    rate, seconds = 22050, 2.0
    t = np.arange(int(rate * seconds)) / rate
    tone = (100.0 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)  # SoundNet scale
    out = tmp_path / "tone.mp4"
    media.write_video(out, _moving_frames(20), fps=10, audio=(tone, rate))
    wave = media.load_audio(out)
    spectrum = np.abs(np.fft.rfft(wave))
    peak_hz = np.argmax(spectrum) * 22050 / len(wave)
    assert peak_hz == pytest.approx(440, abs=5)
    assert np.sqrt(np.mean(wave[2000:-2000] ** 2)) == pytest.approx(100 / np.sqrt(2), rel=0.1)


def test_write_video_errors(tmp_path):
    with pytest.raises(MediaError, match="no frames"):
        media.write_video(tmp_path / "empty.mp4", [], fps=10)
    frames = [np.zeros((8, 8, 3), np.uint8), np.zeros((10, 8, 3), np.uint8)]
    with pytest.raises(MediaError, match="differs"):
        media.write_video(tmp_path / "mixed.mp4", frames, fps=10)
    with pytest.raises(MediaError, match="uint8"):
        media.write_video(tmp_path / "float.mp4", [np.zeros((8, 8, 3))], fps=10)
    assert not any(p.name.endswith(".mp4") for p in tmp_path.iterdir())


def test_ffmpeg_is_bundled():
    assert shutil.which(media.ffmpeg_exe()) or media.ffmpeg_exe()
