"""predict_video: one map per frame (any length), streaming equals the direct sliding window,
real clips with and without sound, overlay/maps files, bounded buffers, bf16 close to fp32."""
from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stavis_lib.model import build_model
from stavis_lib.data.clips import normalize_clip, window_indices
from stavis_lib.data.media import probe_video, read_frames, write_video
from stavis_lib.inference import Prediction, predict_video
from stavis_lib.inference.windows import WindowPlan
from stavis_lib.inference.writers import MapsWriter, jet_colormap, overlay_frame
from stavis_lib.runtime import resolve_autocast_dtype

SIZE, LENGTH = 32, 16


@pytest.fixture(scope="module")
def av_model():
    torch.manual_seed(0)
    return build_model("L3mul_S3", depth=10, width=8, sample_size=SIZE, sample_duration=LENGTH).eval()


@pytest.fixture(scope="module")
def visual_model():
    torch.manual_seed(1)
    model = build_model("visual", depth=10, width=8, sample_size=SIZE, sample_duration=LENGTH).eval()
    # the official head init (N(0, 0.001)) gives near-flat maps whose min-max stretch (x6e4)
    # turns float summation order into visible differences; give the maps real structure
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d) and module.weight.abs().max() < 0.01:
            torch.nn.init.normal_(module.weight, 0.0, 0.3)
    return model


@pytest.fixture(scope="module")
def structured_av_model(av_model, calibrated):
    """``av_model`` with maps that have structure but do not saturate: sigmoid probabilities
    spread over (0, 1) and follow the picture (heads from N(0, 0.03), BatchNorm statistics set)."""
    return calibrated(copy.deepcopy(av_model), head_std=0.03)


def _moving_blob(n: int, h: int = 40, w: int = 52, seed: int = 0) -> np.ndarray:
    """A bright blob crossing a colour gradient (with mild noise): every window sees a different clip."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    frames = []
    for t in range(n):
        blob = 200 * np.exp(-((y - (8 + 1.3 * t) % h) ** 2 + (x - (6 + 2.1 * t) % w) ** 2) / 30.0)
        picture = np.stack([40 + 2 * x, 60 + 3 * y, 90 + x + y], axis=-1) + blob[..., None] * [1.0, 0.8, 0.3]
        frames.append(np.clip(picture + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8))
    return np.stack(frames)


def _frame_cc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each frame's map in ``a`` with the same frame's map in ``b``."""
    a = a.reshape(len(a), -1) - a.reshape(len(a), -1).mean(axis=1, keepdims=True)
    b = b.reshape(len(b), -1) - b.reshape(len(b), -1).mean(axis=1, keepdims=True)
    return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


def _assert_structured(maps: np.ndarray, tolerance: float) -> None:
    """The reference maps vary within a frame and from one frame to the next by several times
    ``tolerance`` (mean absolute difference), so maps one frame off, or flat ones, fail it."""
    assert maps.std(axis=(1, 2)).min() > 4 * tolerance
    assert np.abs(np.diff(maps, axis=0)).mean(axis=(1, 2)).mean() > 4 * tolerance


def _frames(n: int, h: int = 40, w: int = 52, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _direct_maps(model, frames: np.ndarray) -> np.ndarray:
    """Reference: every window built from the whole array at once, fp32, one forward per window;
    frames resized as the official loader does (320x240 bicubic, then S x S bilinear)."""
    from PIL import Image

    small = np.stack([np.array(Image.fromarray(f).resize((320, 240), Image.BICUBIC).resize((SIZE, SIZE), Image.BILINEAR))
                      for f in frames])
    rows = window_indices(len(frames), LENGTH)
    out = []
    with torch.no_grad():
        for row in rows:
            clip = normalize_clip(small[row])[None]
            logits = model(clip).saliency
            prob = F.interpolate(torch.sigmoid(logits), size=frames.shape[1:3], mode="bilinear", align_corners=False)[0, 0]
            prob = (prob - prob.min()) / (prob.max() - prob.min()).clamp_min(1e-12)
            out.append(prob.numpy())
    return np.stack(out)


@pytest.mark.parametrize("n", [1, 5, 16, 17])
def test_one_map_per_frame_any_length(visual_model, n):
    pred = predict_video(_frames(n), visual_model, fps=25.0, batch_size=3, dtype="float32", progress=False)
    assert isinstance(pred, Prediction)
    assert pred.maps.shape == (n, 40, 52) and pred.maps.dtype == np.float32
    assert pred.n_frames == n
    assert pred.maps.min() >= 0.0 and pred.maps.max() <= 1.0


def test_streaming_equals_direct_sliding_window(visual_model):
    frames = _frames(21, seed=3)
    # the plain network path: the fast paths (conv1 reuse, BN folding) have their own tests
    pred = predict_video(frames, visual_model, fps=25.0, batch_size=4, dtype="float32", progress=False,
                         channels_last=False, reuse_conv1=False, fold_bn=False)
    np.testing.assert_allclose(pred.maps, _direct_maps(visual_model, frames), atol=2e-4)


@pytest.mark.parametrize("n_true,n_hint", [(40, 10), (40, 90), (7, 30), (33, 33)])
def test_window_plan_rows_match_final_length_whatever_the_hint(n_true, n_hint):
    """Rows used before the stream ends must equal window_indices(n_true) (wrong probe counts)."""
    plan = WindowPlan(n_hint, LENGTH)
    expected = window_indices(n_true, LENGTH)
    used = {}
    for decoded in range(1, n_true + 1):
        t = len(used)
        while t < decoded and plan.ready(t, decoded):
            used[t] = plan.rows[t].copy()
            assert used[t].max() < decoded, "a window used a frame not decoded yet"
            t += 1
    plan.finish(n_true)
    for t in range(len(used), n_true):
        assert plan.ready(t, n_true)
        used[t] = plan.rows[t].copy()
    assert sorted(used) == list(range(n_true))
    for t in range(n_true):
        np.testing.assert_array_equal(used[t], expected[t])


def test_buffers_stay_bounded_on_longer_videos():
    length = 8
    model = build_model("visual", depth=10, width=8, sample_size=SIZE, sample_duration=length).eval()
    kw = dict(fps=25.0, batch_size=2, dtype="float32", progress=False, keep_maps=False)
    short = predict_video(_frames(30, 32, 32), model, **kw)
    long = predict_video(_frames(75, 32, 32), model, **kw)
    assert (short.n_frames, long.n_frames) == (30, 75)
    assert long.peak_buffered_frames == short.peak_buffered_frames
    assert long.peak_buffered_frames <= 2 + 2 * length + 1


def test_bf16_autocast_close_to_fp32(structured_av_model):
    """bf16 autocast (incl. the L3 bilinear op, which autocast does not cover) with the default fast
    paths stays close to the plain fp32 path, on maps that change from frame to frame by far more
    than the tolerance (a window off by one frame, or a lost part of the network, fails)."""
    frames = _moving_blob(19)
    wave = np.random.default_rng(2).normal(0, 40, 22050).astype(np.float32)
    kw = dict(audio=wave, fps=25.0, batch_size=4, progress=False, normalize="sigmoid", map_size="model")
    fp32 = predict_video(frames, structured_av_model, dtype="float32", reuse_conv1=False, fold_bn=False, **kw)
    bf16 = predict_video(frames, structured_av_model, dtype="bfloat16", **kw)
    assert bf16.dtype == "bfloat16" and fp32.dtype == "float32" and bf16.reuse_conv1
    _assert_structured(fp32.maps, tolerance=0.005)
    diff = np.abs(fp32.maps - bf16.maps)
    assert diff.mean() < 0.005 and diff.max() < 0.15
    assert _frame_cc(bf16.maps, fp32.maps).min() > 0.99


def test_audio_changes_the_audiovisual_maps(av_model):
    frames = _frames(6, seed=2)
    rng = np.random.default_rng(4)
    a = predict_video(frames, av_model, audio=rng.normal(0, 50, 30000).astype(np.float32), fps=25.0,
                      dtype="float32", progress=False, normalize="sigmoid")
    b = predict_video(frames, av_model, audio=np.zeros(30000, np.float32), fps=25.0, dtype="float32",
                      progress=False, normalize="sigmoid")
    assert not np.allclose(a.maps, b.maps)


def test_real_clip_with_sound_overlay_and_maps_file(media_dir, av_model, tmp_path):
    video = media_dir / "park.mp4"
    decoded = read_frames(video)
    pred = predict_video(video, av_model, batch_size=8, progress=False, overlay_path=tmp_path / "o.mp4",
                         maps_path=tmp_path / "m.npz")
    assert pred.has_audio
    assert pred.maps.shape == decoded.shape[:3]  # one map per decoded frame, at the video's size
    info = probe_video(tmp_path / "o.mp4")
    assert info.has_audio and (info.width, info.height) == (decoded.shape[2], decoded.shape[1])
    assert len(read_frames(tmp_path / "o.mp4")) == len(decoded)
    with np.load(tmp_path / "m.npz") as z:
        assert z["maps"].dtype == np.uint8 and z["maps"].shape == pred.maps.shape
        np.testing.assert_array_equal(z["maps"], np.round(pred.maps * 255).astype(np.uint8))
        assert float(z["fps"]) == pytest.approx(pred.fps)


def test_video_without_sound_gets_silence_and_a_warning(av_model, tmp_path):
    path = tmp_path / "mute.mp4"
    write_video(path, list(_frames(9, 48, 64)), fps=12.0)
    assert not probe_video(path).has_audio
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = predict_video(path, av_model, progress=False, overlay_path=tmp_path / "o.mp4")
    assert any("no sound" in str(w.message) for w in caught)
    assert not pred.has_audio
    assert pred.maps.shape == (9, 48, 64)
    assert probe_video(tmp_path / "o.mp4").n_frames == 9


def test_map_size_model_keeps_model_resolution(visual_model):
    pred = predict_video(_frames(4), visual_model, fps=25.0, map_size="model", progress=False)
    assert pred.maps.shape == (4, SIZE, SIZE)


def test_overlay_frame_blends_jet_by_saliency():
    frame = np.full((2, 2, 3), 100, np.uint8)
    sal = np.array([[0.0, 1.0], [0.5, 0.0]], np.float32)
    out = overlay_frame(frame, sal, alpha=0.5)
    np.testing.assert_array_equal(out[0, 0], frame[0, 0])            # no saliency: the frame itself
    hot = jet_colormap()[255].astype(float)                          # dark red at saliency 1
    np.testing.assert_allclose(out[0, 1], np.round(0.5 * 100 + 0.5 * hot), atol=1)
    assert tuple(jet_colormap()[0]) == (0, 0, 128) and tuple(jet_colormap()[255]) == (128, 0, 0)


def test_maps_writer_roundtrip(tmp_path):
    writer = MapsWriter(tmp_path / "x.npz", fps=12.5)
    maps = [np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4) * k for k in (1.0, 0.5)]
    for m in maps:
        writer.add(m)
    writer.close()
    with np.load(tmp_path / "x.npz") as z:
        assert z["maps"].shape == (2, 3, 4)
        assert z["maps"][0, -1, -1] == 255 and z["maps"][1, -1, -1] == 128
        assert float(z["fps"]) == 12.5
    assert [p.name for p in tmp_path.iterdir()] == ["x.npz"]  # no temporary left behind


def test_bad_inputs_raise_clear_errors(visual_model, tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        predict_video(np.zeros((3, 8, 8, 3), np.float32), visual_model, progress=False)
    with pytest.raises(Exception, match="no such video"):
        predict_video(tmp_path / "missing.mp4", visual_model, progress=False)
    with pytest.raises(ValueError, match="float16"):
        resolve_autocast_dtype("float16", torch.device("cpu"))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_conv1_reuse_gives_the_same_maps(structured_av_model, dtype):
    """conv1 computed once per frame (temporal taps) == conv1 per window, for every frame."""
    frames = _moving_blob(19, seed=7)
    wave = np.random.default_rng(2).normal(0, 40, 22050).astype(np.float32)
    kw = dict(audio=wave, fps=25.0, batch_size=4, dtype=dtype, progress=False, normalize="sigmoid",
              map_size="model")
    plain = predict_video(frames, structured_av_model, reuse_conv1=False, fold_bn=False, **kw)
    reused = predict_video(frames, structured_av_model, reuse_conv1=True, fold_bn=False, **kw)
    assert reused.reuse_conv1 and not plain.reuse_conv1
    _assert_structured(plain.maps, tolerance=0.005)
    diff = np.abs(reused.maps - plain.maps)
    if dtype == "float32":  # float summation order only
        assert diff.max() < 3e-5
    else:                   # two bf16 paths, each rounding its own way
        assert diff.mean() < 0.005 and diff.max() < 0.15
        assert _frame_cc(reused.maps, plain.maps).min() > 0.99
    assert reused.peak_buffered_frames <= 4 + 2 * LENGTH + 1


def test_folded_batchnorm_gives_the_same_maps_and_leaves_the_model_alone(av_model, calibrated):
    model = calibrated(copy.deepcopy(av_model))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frames = _frames(19, seed=8)
    wave = np.random.default_rng(3).normal(0, 40, 22050).astype(np.float32)
    kw = dict(audio=wave, fps=25.0, batch_size=4, dtype="float32", progress=False, normalize="sigmoid",
              map_size="model", reuse_conv1=True)
    plain = predict_video(frames, model, fold_bn=False, **kw)
    folded = predict_video(frames, model, fold_bn=True, **kw)
    assert float(plain.maps.std()) > 1e-2  # the maps have structure
    # float32 rounding in a different order (the fold itself is exact in float64: test_fold.py)
    np.testing.assert_allclose(folded.maps, plain.maps, atol=2e-3)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_compiled_predict_equals_eager(visual_model):
    frames = _frames(21, seed=4)
    kw = dict(fps=25.0, batch_size=8, dtype="float32", progress=False, normalize="sigmoid", map_size="model")
    eager = predict_video(frames, visual_model, **kw)
    compiled = predict_video(frames, visual_model, compile=True, **kw)  # 21 windows: last batch padded
    assert compiled.compiled and not eager.compiled
    np.testing.assert_allclose(compiled.maps, eager.maps, atol=1e-5)


def test_compile_failure_falls_back_to_eager_with_a_warning(visual_model, monkeypatch):
    import stavis_lib.inference.fast as fast

    def broken_compile(module, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler found\nmore details")
        return run

    monkeypatch.setattr(fast.torch, "compile", broken_compile)
    frames = _frames(10, seed=6)
    kw = dict(fps=25.0, batch_size=4, dtype="float32", progress=False, normalize="sigmoid")
    want = predict_video(frames, visual_model, **kw)
    with pytest.warns(UserWarning, match="torch.compile failed .*no C\\+\\+ compiler found"):
        got = predict_video(frames, visual_model, compile=True, **kw)
    assert not got.compiled
    np.testing.assert_array_equal(got.maps, want.maps)


def test_auto_dtype_on_cpu_is_bf16_only_with_amx(monkeypatch):
    import stavis_lib.runtime as runtime

    cpu = torch.device("cpu")
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    assert resolve_autocast_dtype("auto", cpu) is None
    assert resolve_autocast_dtype("bfloat16", cpu) == torch.bfloat16
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx512_bf16", "amx_bf16", "amx_tile"})
    assert resolve_autocast_dtype("auto", cpu) == torch.bfloat16
    assert resolve_autocast_dtype("float32", cpu) is None
