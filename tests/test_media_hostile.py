"""Hostile-but-realistic media: rotated phone video, variable frame rate, late audio, names with
a colon, a folder given as the video. Every file is generated here with the bundled ffmpeg
(independently of ``media.write_video``) and is tiny (64x48, about 1-2 s)."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from stavis_lib.data import media
from stavis_lib.data.media import MediaError

W, H = 64, 48


def _ffmpeg(*args: str) -> None:
    subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", *args], check=True)


def _pattern() -> np.ndarray:
    """An asymmetric picture: red left half, green top-right quadrant, blue bottom-right."""
    img = np.zeros((H, W, 3), np.uint8)
    img[:, : W // 2, 0] = 230
    img[: H // 2, W // 2:, 1] = 230
    img[H // 2:, W // 2:, 2] = 230
    return img


def _encode_frames(path, frames: np.ndarray, rate: int = 10, extra: tuple[str, ...] = ()) -> None:
    """Raw RGB frames -> near-lossless H.264 (yuv444p, qp 0) through ffmpeg's stdin."""
    cmd = [media.ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-s", f"{frames.shape[2]}x{frames.shape[1]}", "-framerate", str(rate),
           "-i", "pipe:0", *extra, "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", str(path)]
    subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), check=True)


@pytest.mark.parametrize("degrees,turns", [(90, 1), (270, 3), (-90, 3)])
def test_rotated_phone_video_decodes_upright(tmp_path, degrees, turns):
    """display matrix rotation (counter-clockwise degrees) -> frames rotated, decoder's size."""
    plain, rotated = tmp_path / "plain.mp4", tmp_path / "rotated.mp4"
    _encode_frames(plain, np.stack([_pattern()] * 5))
    _ffmpeg("-display_rotation:v", str(degrees), "-i", str(plain), "-c", "copy", str(rotated))
    info = media.probe_video(rotated)
    assert (info.width, info.height) == (H, W)
    frames = media.read_frames(rotated)
    assert frames.shape == (5, W, H, 3)
    want = np.rot90(_pattern(), turns).astype(np.int16)
    error = np.abs(frames[0].astype(np.int16) - want).mean()
    wrong = np.abs(frames[0].astype(np.int16) - np.rot90(_pattern(), (turns + 2) % 4).astype(np.int16)).mean()
    assert error < 3 and wrong > 50


def _vfr_video(path, n: int = 12):
    """A variable-frame-rate clip: frame k shown at t_k = k^2/100 + k/20 s (ms time scale)."""
    times = np.array([k * k / 100 + k / 20 for k in range(n)])
    frames = np.stack([np.full((H, W, 3), 20 * k, np.uint8) for k in range(n)])
    _encode_frames(path, frames, extra=("-vf", "settb=1/1000,setpts=(N*N/100+N/20)/TB", "-fps_mode", "passthrough",
                                        "-enc_time_base", "1/1000", "-video_track_timescale", "1000"))
    return times, frames


def test_variable_frame_rate_keeps_each_frames_own_timestamp(tmp_path):
    path = tmp_path / "vfr.mp4"
    times, frames = _vfr_video(path)
    decoded = list(media.iter_timed_frames(path))
    assert len(decoded) == len(times)  # one frame per decoded frame: none duplicated or dropped
    np.testing.assert_allclose([f.time for f in decoded], times, atol=1e-3)
    np.testing.assert_allclose([f.image.mean() for f in decoded], frames.reshape(len(frames), -1).mean(1), atol=2)


def test_timed_frames_written_keep_their_times(tmp_path):
    path = tmp_path / "vfr.mp4"
    times, _ = _vfr_video(path)
    out = tmp_path / "copy.mp4"
    source = list(media.iter_timed_frames(path))
    media.write_video(out, iter(source), fps=10, audio=(np.zeros(3 * 22050, np.float32), 22050))
    back = list(media.iter_timed_frames(out))
    np.testing.assert_allclose([f.time for f in back], times, atol=1e-3)
    # the soundtrack is cut at the end of the last frame (its own duration, from the source)
    end = source[-1].time + source[-1].duration
    assert end == pytest.approx(times[-1] + 0.1, abs=1e-3)
    assert media.probe_video(out).duration == pytest.approx(end, abs=0.025)


def test_audio_that_starts_late_is_preceded_by_silence(tmp_path):
    path = tmp_path / "late.mp4"
    _ffmpeg("-f", "lavfi", "-i", f"testsrc=size={W}x{H}:rate=10:duration=2", "-itsoffset", "0.5",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=1",
            "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-c:a", "pcm_s16le", str(path.with_suffix(".mov")))
    wave = media.load_audio(path.with_suffix(".mov"))
    rate = 22050
    assert np.abs(wave[: int(0.49 * rate)]).max() < 1e-3       # nothing before the audio stream starts
    tone = wave[int(0.55 * rate): int(1.45 * rate)]
    assert np.sqrt(np.mean(tone ** 2)) > 10                     # the tone, at its real time
    assert np.abs(wave[int(1.55 * rate):]).max() < 1e-3 if len(wave) > int(1.55 * rate) else True


def test_a_name_with_a_colon_is_a_file_not_a_protocol(tmp_path):
    path = tmp_path / "clip:1.mp4"
    _ffmpeg("-f", "lavfi", "-i", f"testsrc=size={W}x{H}:rate=10:duration=1",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=1",
            "-c:v", "libx264", "-c:a", "aac", "-shortest", str(tmp_path / "plain.mp4"))
    shutil.copy(tmp_path / "plain.mp4", path)
    assert media.probe_video(path).n_frames == 10
    assert media.read_frames(path).shape == (10, H, W, 3)
    assert len(media.load_audio(path)) == pytest.approx(22050, abs=1200)
    out = tmp_path / "out:1.mp4"
    media.write_video(out, media.read_frames(path), fps=10, audio=path)
    assert media.probe_video(out).has_audio


def test_a_folder_given_as_the_video_says_so(tmp_path):
    for call in (media.probe_video, media.read_frames, media.load_audio):
        with pytest.raises(MediaError, match="is a directory"):
            call(tmp_path)
