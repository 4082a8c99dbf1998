"""One frame preprocessing for training, evaluation and prediction (data.frames.model_frame):
the official 320x240 bicubic step, then sample_size^2 bilinear, on every path."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from stavis_lib.model import build_model
from stavis_lib.data import media
from stavis_lib.data.clips import FrameCache, normalize_clip
from stavis_lib.data.frames import model_frame
from stavis_lib.data.layout import ReleaseLayout
from stavis_lib.evaluate import read_frames_resized
from stavis_lib.inference import predict_video

S = 32


def _pictures(n: int = 17, h: int = 90, w: int = 120) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        f = np.stack([(x * 2 + i * 7) % 256, (y * 3) % 256, (x * y // 17 + i) % 256], axis=-1).astype(np.uint8)
        f[rng.integers(0, h, 50), rng.integers(0, w, 50)] = 255  # fine detail that the filters treat differently
        out.append(f)
    return out


def test_model_frame_is_the_official_two_step_resize():
    frame = _pictures(1)[0]
    want = np.asarray(Image.fromarray(frame).resize((320, 240), Image.BICUBIC).resize((S, S), Image.BILINEAR))
    np.testing.assert_array_equal(model_frame(frame, S), want)
    one_step = np.asarray(Image.fromarray(frame).resize((S, S), Image.BILINEAR))
    assert not np.array_equal(model_frame(frame, S), one_step)  # the first step matters
    np.testing.assert_array_equal(model_frame(frame, S, intermediate=None), one_step)


def test_training_evaluation_and_prediction_see_the_same_tensors(tmp_path):
    layout = ReleaseLayout(tmp_path / "release")
    layout.write_frames("Toy", "v", _pictures())
    n = len(_pictures())
    train = np.asarray(FrameCache(tmp_path / "cache", sample_size=S).frames_from_layout(layout, "Toy", "v", n))
    evaluation = read_frames_resized(layout, "Toy", "v", n, S)
    np.testing.assert_array_equal(train, evaluation)
    torch.testing.assert_close(normalize_clip(train), normalize_clip(evaluation), rtol=0, atol=0)

    # prediction: the decoded JPEGs at full size give the same maps as the evaluation frames
    decoded = np.stack([np.asarray(Image.open(layout.frame_path("Toy", "v", i + 1)).convert("RGB"))
                        for i in range(n)])
    torch.manual_seed(0)
    model = build_model("visual", depth=10, width=8, sample_size=S, sample_duration=16).eval()
    kw = dict(fps=10.0, dtype="float32", progress=False, normalize="sigmoid", map_size="model", batch_size=4)
    full = predict_video(decoded, model, **kw)
    small = predict_video(evaluation, model, preprocessed=True, **kw)  # already model_frame's output
    np.testing.assert_array_equal(full.maps, small.maps)
    resized_once = np.stack([np.asarray(Image.fromarray(f).resize((S, S), Image.BILINEAR)) for f in decoded])
    assert not np.array_equal(predict_video(resized_once, model, preprocessed=True, **kw).maps, full.maps)
    with pytest.raises(ValueError, match="preprocessed=True"):
        predict_video(decoded, model, preprocessed=True, **kw)  # full-size frames are not preprocessed


def test_frame_cache_of_a_video_file_uses_model_frame(tmp_path):
    path = tmp_path / "clip.mp4"
    media.write_video(path, _pictures(6), fps=10)
    cached = FrameCache(tmp_path / "cache", sample_size=S).frames_from_video(path)
    want = np.stack([model_frame(f, S) for f in media.read_frames(path)])
    np.testing.assert_array_equal(np.asarray(cached), want)


def test_model_frame_rejects_what_is_not_an_rgb_uint8_frame():
    with pytest.raises(ValueError, match="uint8"):
        model_frame(np.zeros((4, 4, 3), np.float32), S)
