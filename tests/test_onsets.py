"""The onset response (fraction of viewers on the sounding object against time since a sound
onset), on hand-made gaze whose answer is counted by hand, and on a generated synthetic video."""
from __future__ import annotations

import numpy as np
import pytest

from stavis_lib.data.onsets import on_object, onset_response, sound_onsets

NAN = np.nan


def _hand_made(n_frames: int = 10) -> dict:
    """fps 10; object 0 in the box x 0..10, object 1 in x 20..30 (y 0..10 for both); object 1
    sounds from frame 3. Viewer 0 stays on object 1 (on its right edge), viewer 1 is on object 0
    until frame 4, in a saccade (NaN) at frame 5 and on object 1 from frame 6, viewer 2 moves
    from object 0 to object 1 at frame 6 without a NaN, viewer 3 never leaves object 0."""
    x = np.array([
        [30.0] * 10,
        [5, 5, 5, 5, 5, NAN, 25, 25, 25, 25],
        [5, 5, 5, 5, 5, 5, 22, 22, 22, 22],
        [5.0] * 10,
    ])[:, :n_frames]
    y = np.where(np.isnan(x), NAN, 5.0)
    boxes = np.zeros((2, n_frames, 4))
    boxes[0] = [0, 0, 10, 10]
    boxes[1] = [20, 0, 30, 10]
    sounding = np.array([-1, -1, -1, 1, 1, 1, 1, 1, 1, 1])[:n_frames]
    return {"x": x, "y": y, "boxes": boxes, "sounding": sounding, "fps": np.float64(10.0)}


def test_sound_onsets_are_changes_to_a_sounding_object():
    assert sound_onsets(np.array([-1, 1, 1, -1, 0, 0, 2])) == [(1, 1), (4, 0), (6, 2)]
    assert sound_onsets(np.array([0, 0, -1])) == [(0, 0)]
    assert sound_onsets(np.array([-1, -1])) == []


def test_on_object_uses_the_box_edges_and_treats_a_saccade_as_nowhere():
    g = _hand_made()
    inside = on_object(g["x"], g["y"], g["boxes"])
    assert inside.shape == (4, 2, 10)
    assert inside[0, 1].all() and not inside[0, 0].any()  # x = 30 is on the edge of box 1
    assert not inside[1, :, 5].any()  # NaN: in a saccade
    with pytest.raises(ValueError, match="boxes must be"):
        on_object(g["x"], g["y"], g["boxes"][:, :5])


def test_fraction_on_the_sounding_object_against_time_since_onset():
    r = onset_response([_hand_made()], before=0.2, after=0.5)
    np.testing.assert_allclose(r.times, [-0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    # frames 1..8: only viewer 0 until frame 5, viewers 0-2 from frame 6 (lag 3)
    np.testing.assert_allclose(r.fraction, [0.25, 0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75])
    assert r.baseline == pytest.approx(0.25) and r.peak == pytest.approx(0.75)
    assert r.half_rise == pytest.approx(0.3)  # first lag at 0.25 + (0.75 - 0.25) / 2 = 0.5
    assert list(r.n_onsets) == [1] * 8


def test_onsets_pool_only_the_lags_inside_each_video():
    short = _hand_made(7)  # frames 0..6: lags up to +3 only
    r = onset_response([_hand_made(), short], before=0.2, after=0.5)
    assert list(r.n_onsets) == [2, 2, 2, 2, 2, 2, 1, 1]
    np.testing.assert_allclose(r.fraction, [0.25, 0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75])
    other = dict(_hand_made(), fps=np.float64(25.0))
    with pytest.raises(ValueError, match="one frame rate"):
        onset_response([_hand_made(), other])


def test_no_rise_gives_nan_half_rise():
    g = _hand_made()
    g["x"] = np.full_like(g["x"], 5.0)  # nobody ever looks at object 1
    g["y"] = np.full_like(g["y"], 5.0)
    r = onset_response([g], before=0.2, after=0.5)
    assert np.all(r.fraction == 0) and np.isnan(r.half_rise)


def test_generated_viewers_reach_the_sounding_object_after_the_configured_latency():
    """On simulated videos the rise comes after the generator's latency (0.22 s mean) plus one
    saccade frame, not before: gaze leaves at the onset + latency and lands a frame later."""
    from stavis_lib.data.synthetic import SyntheticConfig, simulate_video

    cfg = SyntheticConfig(width=64, height=48, n_viewers=16, write_mp4=False)
    gazes = []
    for i in range(4):
        v = simulate_video(0, i, cfg)
        gazes.append({"x": v.gaze_x, "y": v.gaze_y, "boxes": v.boxes, "sounding": v.sounding, "fps": cfg.fps})
    r = onset_response(gazes, before=0.2, after=1.0)
    assert 0.12 <= r.half_rise <= 0.40, r.half_rise  # inside the configured latency range
    assert r.peak > r.baseline + 0.3
    early = r.fraction[(r.times >= 0) & (r.times < 0.1)]
    assert np.all(early < r.baseline + 0.5 * (r.peak - r.baseline))  # nobody reacts before hearing

