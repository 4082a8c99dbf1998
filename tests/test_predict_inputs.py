"""predict_video on hostile input: variable frame rate (maps, audio windows and overlay on the
frames' real times), non-finite audio refused, the audio window rule on real timestamps."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch

import stavis_lib.inference.predict as predict
import stavis_lib.inference.windows as windows
from stavis_lib.model import build_model
from stavis_lib.data import media
from stavis_lib.data.audio import clip_audio
from stavis_lib.errors import UserError
from stavis_lib.inference import predict_video
from stavis_lib.inference.windows import window_audio

SIZE, LENGTH = 32, 16
W, H = 64, 48


@pytest.fixture(scope="module")
def av_model():
    torch.manual_seed(0)
    return build_model("L3mul_S3", depth=10, width=8, sample_size=SIZE, sample_duration=LENGTH).eval()


def _vfr_clip(path) -> np.ndarray:
    """12 frames at t_k = k^2/100 + k/20 s with a 440 Hz tone (PCM, so the audio is exact)."""
    frames = np.random.default_rng(0).integers(0, 256, (12, H, W, 3), dtype=np.uint8)
    cmd = [media.ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-framerate", "10", "-i", "pipe:0",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=2",
           "-map", "0:v", "-map", "1:a", "-vf", "settb=1/1000,setpts=(N*N/100+N/20)/TB", "-fps_mode", "passthrough",
           "-enc_time_base:v", "1/1000", "-c:v", "libx264", "-qp", "0", "-c:a", "pcm_s16le", str(path)]
    subprocess.run(cmd, input=frames.tobytes(), check=True)
    return np.array([k * k / 100 + k / 20 for k in range(12)])


def test_window_audio_is_clip_audio_at_a_constant_rate():
    wave = np.random.default_rng(1).normal(0, 50, 3 * 22050).astype(np.float32)
    fps = 25.0
    for first, last in [(0, 0), (0, 15), (20, 35), (60, 74)]:
        np.testing.assert_array_equal(window_audio(wave, 22050, fps, first / fps, last / fps, 35280),
                                      clip_audio(wave, 22050, fps, first, last, 35280))


def test_window_audio_centres_on_the_real_times():
    wave = np.arange(3 * 22050, dtype=np.float32)  # sample value = sample index
    out = window_audio(wave, 22050, 10.0, 1.26, 1.26, 35280)  # one frame shown at 1.26 s
    # half a frame period (1102.5 samples) on each side of 1.26 s = sample 27783
    start, end = int(27783 - 1102.5), int(27783 + 1102.5)
    taken = out[np.nonzero(out)]
    hann = np.hanning(end - start + 1)
    np.testing.assert_allclose(taken / hann[1:-1], np.arange(start + 1, end), rtol=1e-5)


def test_variable_frame_rate_video_maps_audio_and_overlay_on_real_times(av_model, tmp_path, monkeypatch):
    video = tmp_path / "vfr.mkv"
    times = _vfr_clip(video)
    calls = []
    real = windows.window_audio

    def spy(wave, rate, fps, t_first, t_last, window):
        calls.append((t_first, t_last))
        return real(wave, rate, fps, t_first, t_last, window)

    monkeypatch.setattr(windows, "window_audio", spy)
    pred = predict_video(video, av_model, batch_size=4, dtype="float32", progress=False,
                         overlay_path=tmp_path / "o.mp4", maps_path=tmp_path / "m.npz")
    assert pred.n_frames == 12 and pred.maps.shape == (12, H, W)  # one map per decoded frame
    np.testing.assert_allclose(pred.times, times, atol=1e-3)
    # every window's excerpt is cut around its first and last frames' real times
    from stavis_lib.data.clips import window_indices

    rows = window_indices(12, LENGTH)
    np.testing.assert_allclose(sorted(calls), sorted((times[r.min()], times[r.max()]) for r in rows), atol=1e-3)
    overlay = list(media.iter_timed_frames(tmp_path / "o.mp4"))
    np.testing.assert_allclose([f.time for f in overlay], times, atol=1e-3)
    with np.load(tmp_path / "m.npz") as z:
        np.testing.assert_allclose(z["times"], times, atol=1e-3)
        assert z["maps"].shape == (12, H, W)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_audio_is_refused(av_model, bad):
    frames = np.zeros((3, H, W, 3), np.uint8)
    wave = np.zeros(22050, np.float32)
    wave[100] = bad
    for audio in (wave, (wave, 22050)):
        with pytest.raises(UserError, match="NaN or infinite"):
            predict_video(frames, av_model, audio=audio, fps=10.0, progress=False)


def test_a_video_whose_audio_holds_nan_is_refused_naming_the_file(av_model, tmp_path):
    raw = np.zeros(22050, np.float32)
    raw[5000:5100] = np.nan
    path = tmp_path / "nan_audio.mkv"
    subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc=size={W}x{H}:rate=10:duration=1",
                    "-f", "f32le", "-ar", "22050", "-ac", "1", "-i", "pipe:0",
                    "-c:v", "libx264", "-c:a", "pcm_f32le", str(path)], input=raw.tobytes(), check=True)
    with pytest.raises(UserError, match="nan_audio.mkv.*NaN or infinite"):
        predict_video(path, av_model, progress=False)


def test_float_frames_are_refused_saying_why(av_model):
    frames = np.full((3, H, W, 3), np.nan, np.float32)
    with pytest.raises(UserError, match="uint8.*NaN"):
        predict_video(frames, av_model, fps=10.0, progress=False)


def test_large_frames_are_decoded_again_for_the_overlay_instead_of_held(av_model, tmp_path, monkeypatch):
    """Above HELD_FRAMES_BUDGET the overlay re-decodes the file: the same overlay, fewer frames held."""
    video = tmp_path / "vfr.mkv"
    _vfr_clip(video)
    kw = dict(batch_size=4, dtype="float32", progress=False)
    held = predict_video(video, av_model, overlay_path=tmp_path / "held.mp4", **kw)
    monkeypatch.setattr(predict, "HELD_FRAMES_BUDGET", 0)
    replayed = predict_video(video, av_model, overlay_path=tmp_path / "replayed.mp4", **kw)
    np.testing.assert_array_equal(replayed.maps, held.maps)
    np.testing.assert_array_equal(media.read_frames(tmp_path / "replayed.mp4"), media.read_frames(tmp_path / "held.mp4"))
    assert replayed.peak_full_frames == 0 and held.peak_full_frames > 0


def test_overlay_frame_in_row_blocks_equals_the_formula():
    from stavis_lib.inference.writers import jet_colormap, overlay_frame

    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (700, 530, 3), dtype=np.uint8)   # more rows than one block
    sal = rng.random((700, 530)).astype(np.float32)
    heat = jet_colormap()[np.round(sal * 255).astype(np.uint8)].astype(np.float64)
    w = 0.6 * sal[..., None].astype(np.float64)
    want = np.clip(np.round(frame * (1 - w) + heat * w), 0, 255)
    assert np.abs(overlay_frame(frame, sal, 0.6).astype(np.int16) - want).max() <= 1
