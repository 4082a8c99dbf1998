"""predict_video(stride=K) / predict --stride K: the network on frames 0, K, 2K, … and the last
frame only (computed maps equal the stride-1 maps there), the frames between linearly
interpolated in time (real timestamps), one map per frame, ~1/K of the windows."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch

from stavis_lib.cli import main
from stavis_lib.data import media
from stavis_lib.errors import UserError
from stavis_lib.inference import predict_video
from stavis_lib.inference.stride import check_stride, computed_frames, interpolation_weight, parse_stride
from stavis_lib.model import build_model
from stavis_lib.model.checkpoints import save_checkpoint

SIZE, LENGTH = 32, 16
#: (frames, stride) -> the frames whose windows run, written out by hand (the last frame always)
COMPUTED = {
    (23, 4): [0, 4, 8, 12, 16, 20, 22],
    (17, 3): [0, 3, 6, 9, 12, 15, 16],
    (10, 2): [0, 2, 4, 6, 8, 9],
    (12, 4): [0, 4, 8, 11],
    (5, 4): [0, 4],
    (2, 5): [0, 1],
    (1, 3): [0],
    (40, 20): [0, 20, 39],
}


@pytest.fixture(scope="module")
def model(calibrated):
    """A tiny audio-visual network whose maps have structure and change from frame to frame
    (``calibrated``: BatchNorm statistics set, heads from N(0, 0.03))."""
    torch.manual_seed(0)
    net = build_model("L3mul_S3", depth=10, width=8, sample_size=SIZE, sample_duration=LENGTH).eval()
    return calibrated(net, head_std=0.03)


def _frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 40, 52, 3), dtype=np.uint8)


def _probs(frames: np.ndarray, model, **kw):
    """The network's probabilities at model size (no min-max stretch), so interpolation is visible as is;
    silent audio, given explicitly (frame arrays have no soundtrack)."""
    if isinstance(frames, np.ndarray):
        kw = {"audio": (np.zeros(len(frames) * 882, np.float32), 22050), **kw}
    kw = {"fps": 25.0, "progress": False, "dtype": "float32", "normalize": "sigmoid", "map_size": "model", **kw}
    return predict_video(frames, model, **kw)


@pytest.mark.parametrize("n,k", sorted(COMPUTED))
def test_computed_frames_follow_the_edge_rule(n, k):
    assert computed_frames(n, k).tolist() == COMPUTED[(n, k)]


def test_stride_one_is_every_window(model):
    frames = _frames(21)
    default, one = _probs(frames, model, batch_size=4), _probs(frames, model, batch_size=4, stride=1)
    np.testing.assert_array_equal(one.maps, default.maps)
    assert one.windows == default.windows == 21 and one.stride == 1


@pytest.mark.parametrize("n,k,reuse_conv1", [(23, 4, True), (17, 3, True), (10, 2, True), (5, 4, True), (2, 5, True),
                                              (1, 3, True), (40, 20, True), (23, 4, False), (40, 20, False)])
def test_computed_frames_equal_stride_one_and_every_frame_has_a_map(model, n, k, reuse_conv1):
    frames = _frames(n, seed=n)
    full = _probs(frames, model, batch_size=3, reuse_conv1=reuse_conv1)
    strided = _probs(frames, model, batch_size=3, reuse_conv1=reuse_conv1, stride=k)
    assert strided.maps.shape == full.maps.shape == (n, SIZE, SIZE) and strided.n_frames == n
    computed = COMPUTED[(n, k)]
    assert strided.windows == len(computed) and strided.stride == k
    np.testing.assert_allclose(strided.maps[computed], full.maps[computed], rtol=0, atol=1e-5)  # fp32 summation order


def test_frames_between_are_the_linear_interpolation(model):
    maps = _probs(_frames(23), model, batch_size=4, stride=4).maps  # computed: 0, 4, …, 20, 22
    m = maps.astype(np.float64)
    expected = {1: 0.75 * m[0] + 0.25 * m[4], 2: 0.5 * m[0] + 0.5 * m[4], 3: 0.25 * m[0] + 0.75 * m[4],
                13: 0.75 * m[12] + 0.25 * m[16], 21: 0.5 * m[20] + 0.5 * m[22]}  # 21: the short last gap
    for t, value in expected.items():
        np.testing.assert_allclose(m[t], value, rtol=0, atol=1e-6, err_msg=f"frame {t}")
    assert np.abs(m[4] - m[0]).max() > 0.1  # the maps move, so the check above means something


def test_minmax_maps_between_are_the_stretched_interpolation(model):
    frames = _frames(9)
    probs = _probs(frames, model, batch_size=4, stride=2).maps
    stretched = _probs(frames, model, batch_size=4, stride=2, normalize="minmax").maps
    between = 0.5 * probs[2].astype(np.float64) + 0.5 * probs[4]
    expected = (between - between.min()) / (between.max() - between.min())
    np.testing.assert_allclose(stretched[3], expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("reuse_conv1", [True, False])
def test_forward_calls_drop_by_about_k(model, reuse_conv1):
    seen: list[int] = []
    hook = model.trunk.layer1.register_forward_pre_hook(lambda _m, args: seen.append(int(args[0].shape[0])))
    try:
        counts = {}
        for k in (1, 4):
            seen.clear()
            pred = _probs(_frames(40), model, batch_size=4, stride=k, fold_bn=False, reuse_conv1=reuse_conv1)
            counts[k] = (len(seen), sum(seen), pred.windows)
    finally:
        hook.remove()
    assert counts[1] == (10, 40, 40)
    assert counts[4] == (3, 11, 11)  # frames 0, 4, …, 36 and 39, in batches of 4, 4, 3


def _vfr_clip(path, n: int = 12) -> np.ndarray:
    """n frames shown at t_k = k^2/100 + k/20 s (lossless H.264, millisecond time base)."""
    frames = _frames(n, seed=3)
    cmd = [media.ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "52x40", "-framerate", "10", "-i", "pipe:0",
           "-vf", "settb=1/1000,setpts=(N*N/100+N/20)/TB", "-fps_mode", "passthrough",
           "-enc_time_base:v", "1/1000", "-c:v", "libx264", "-qp", "0", str(path)]
    subprocess.run(cmd, input=frames.tobytes(), check=True)
    return np.array([k * k / 100 + k / 20 for k in range(n)])


def test_variable_frame_rate_interpolates_on_the_real_times(model, tmp_path):
    video = tmp_path / "vfr.mkv"
    times = _vfr_clip(video)
    with pytest.warns(UserWarning, match="no sound"):
        pred = _probs(video, model, batch_size=4, stride=4)  # computed: 0, 4, 8, 11
    np.testing.assert_allclose(pred.times, times, atol=1e-3)
    m = pred.maps.astype(np.float64)
    # frame 1 at 0.06 s between frame 0 (0 s) and frame 4 (0.36 s): w = 1/6, not 1/4
    np.testing.assert_allclose(m[1], (5 / 6) * m[0] + (1 / 6) * m[4], rtol=0, atol=1e-5)
    assert np.abs(m[1] - (0.75 * m[0] + 0.25 * m[4])).max() > 1e-2  # not the frame-position weight
    # frame 9 (1.26 s) between frame 8 (1.04 s) and frame 11 (1.76 s): w = 0.22 / 0.72
    np.testing.assert_allclose(m[9], (1 - 0.22 / 0.72) * m[8] + (0.22 / 0.72) * m[11], rtol=0, atol=1e-5)


def test_interpolation_weight_by_time_and_by_position_when_times_stand_still():
    times = [0.0, 0.1, 0.4, 1.0]
    assert interpolation_weight(times, 0, 1, 3) == pytest.approx(0.1)
    assert interpolation_weight(times, 0, 2, 3) == pytest.approx(0.4)
    assert interpolation_weight([0.5, 0.5, 0.5, 0.5], 0, 1, 3) == pytest.approx(1 / 3)


def test_stride_with_overlay_and_maps_file(model, media_dir, tmp_path):
    video = media_dir / "park.mp4"  # 17 frames decode: computed 0, 5, 10, 15, 16
    pred = predict_video(video, model, batch_size=2, progress=False, stride=5, overlay_path=tmp_path / "o.mp4",
                         maps_path=tmp_path / "m.npz")
    full = predict_video(video, model, batch_size=2, progress=False, maps_path=tmp_path / "full.npz")
    assert full.n_frames == pred.n_frames == 17 and pred.windows == 5 and pred.maps.shape == full.maps.shape
    with np.load(tmp_path / "m.npz") as z, np.load(tmp_path / "full.npz") as f:
        assert z["maps"].shape == f["maps"].shape and len(z["times"]) == 17
        diff = np.abs(z["maps"][[0, 5, 10, 15, 16]].astype(int) - f["maps"][[0, 5, 10, 15, 16]])
        assert diff.max() <= 1  # uint8 rounding
    assert media.probe_video(tmp_path / "o.mp4").n_frames == 17


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, None, "3"])
def test_bad_strides_are_refused_in_one_line(model, bad):
    with pytest.raises(UserError, match=r"^predict_video: stride .*: must be a whole number >= 1"):
        predict_video(_frames(3), model, fps=25.0, progress=False, stride=bad)
    assert check_stride(np.int64(3)) == 3 and parse_stride("4") == 4


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, model):
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, model, epoch=1)
    return path


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_cli_bad_stride_is_one_line_naming_the_option(checkpoint, media_dir, tmp_path, capsys, bad):
    status = main(["predict", str(media_dir / "park.mp4"), "--out", str(tmp_path / "o"),
                   "--checkpoint", str(checkpoint), f"--stride={bad}"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and err == f"error: --stride {bad}: must be a whole number >= 1 (1 runs the network on every frame)"
    assert not (tmp_path / "o").exists()


def test_cli_stride_writes_one_map_per_frame(checkpoint, media_dir, tmp_path):
    out = tmp_path / "pred"
    status = main(["predict", str(media_dir / "park.mp4"), "--out", str(out), "--checkpoint", str(checkpoint),
                   "--quiet", "--no-overlay", "--stride", "3"])
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["frames"], summary["stride"], summary["windows"]) == (17, 3, 7)  # 0, 3, …, 15 and 16
    with np.load(out / "maps.npz") as z:
        assert z["maps"].shape[0] == 17


def test_buffered_frames_stay_bounded_by_the_frames_a_batch_spans(model):
    pred = _probs(np.zeros((80, 40, 52, 3), np.uint8), model, batch_size=2, stride=4, keep_maps=False)
    assert pred.maps is None and pred.windows == 21  # 0, 4, …, 76 and 79
    assert pred.peak_buffered_frames <= 2 * 4 + 2 * LENGTH + 1  # batch_size * stride + two windows
