"""clip_audio against hand computations of the official audio-window formula.

Official, 1-based frame f, n = Fs/fps:
  start[f] = int(max(0, (f-1)/fps*Fs - n/2)),  end[f] = int(min(len, (f-1)/fps*Fs + n/2))
  excerpt = wav[start[first] : end[last]+1] * np.hanning(L), centred in the window.
Our frame indices are 0-based (i = f-1). Every expected array below was worked out by hand.
"""
from __future__ import annotations

import numpy as np
import pytest

from stavis_lib.data.audio import OFFICIAL_WINDOW, clip_audio, frame_sample_bounds, official_window


def test_official_window_constant():
    # int(22050 / 10 * 16): 16 frames at 10 fps at 22.05 kHz
    assert OFFICIAL_WINDOW == 35280
    assert official_window() == 35280


def test_single_frame_odd_length():
    # rate 100, fps 25 -> n = 4; frame i=1: centre 4 -> start int(2) = 2, end int(6) = 6
    # excerpt wav[2:7] = [2,3,4,5,6], L = 5, hann(5) = [0, .5, 1, .5, 0] -> [0, 1.5, 4, 2.5, 0]
    # window 8: half 4, L odd -> slots [4-2, 4+2+1) = [2, 7)
    wave = np.arange(20, dtype=np.float32)
    out = clip_audio(wave, 100, 25, 1, 1, window=8)
    np.testing.assert_allclose(out, [0, 0, 0, 1.5, 4.0, 2.5, 0, 0], atol=1e-6)
    assert out.dtype == np.float32 and out.shape == (8,)


def test_first_frame_clamps_start_at_zero():
    # frame 0: start = int(max(0, -2)) = 0, end = int(2) = 2 -> wav[0:3] = [0,1,2], hann(3) = [0,1,0]
    # window 8: slots [4-1, 4+1+1) = [3, 6) -> [0, 1, 0]
    out = clip_audio(np.arange(20, dtype=np.float32), 100, 25, 0, 0, window=8)
    np.testing.assert_allclose(out, [0, 0, 0, 0, 1, 0, 0, 0], atol=1e-6)


def test_two_frames_truncation_and_even_length():
    # rate 100, fps 20 -> n = 5; frame 1: centre 5 -> start int(2.5) = 2; end int(7.5) = 7
    # excerpt wav[2:8] = [2..7], L = 6 (even); hann(6)[k] = .5 - .5 cos(2 pi k / 5)
    #   = [0, .3454915, .9045085, .9045085, .3454915, 0]
    # product = [0, 1.0364745, 3.6180340, 4.5225425, 2.0729490, 0]
    # window 10: half 5, even -> slots [5-3, 5+3) = [2, 8)
    out = clip_audio(np.arange(20, dtype=np.float32), 100, 20, 1, 1, window=10)
    expected = [0, 0, 0, 1.0364745, 3.6180340, 4.5225425, 2.0729490, 0, 0, 0]
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_multi_frame_clip():
    # rate 100, fps 25, frames 1..2: start[1] = 2, end[2] = int(8 + 2) = 10 -> wav[2:11] = [2..10], L = 9
    # hann(9)[k] = .5 - .5 cos(pi k / 4) = [0, .1464466, .5, .8535534, 1, .8535534, .5, .1464466, 0]
    # product = [0, .4393398, 2, 4.2677670, 6, 5.9748737, 4, 1.3180195, 0]
    # window 12: half 6, odd -> slots [6-4, 6+4+1) = [2, 11)
    out = clip_audio(np.arange(20, dtype=np.float32), 100, 25, 1, 2, window=12)
    expected = [0, 0, 0, .4393398, 2, 4.2677670, 6, 5.9748737, 4, 1.3180195, 0, 0]
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_end_of_audio_clamps_and_past_end_is_silent():
    # len 12, rate 100, fps 20: frame 2 -> start int(10-2.5) = 7, end int(min(12, 12.5)) = 12
    # wav[7:13] = [7..11] (the slice stops at the end), L = 5 -> [0, 8*.5, 9, 10*.5, 0] = [0, 4, 9, 5, 0]
    # window 10: half 5, odd -> slots [3, 8)
    wave = np.arange(12, dtype=np.float32)
    out = clip_audio(wave, 100, 20, 2, 2, window=10)
    np.testing.assert_allclose(out, [0, 0, 0, 0, 4, 9, 5, 0, 0, 0], atol=1e-6)
    # frame 5 starts at sample 22 > len: empty excerpt -> all zeros
    np.testing.assert_array_equal(clip_audio(wave, 100, 20, 5, 5, window=10), np.zeros(10, np.float32))


def test_excerpt_longer_than_window_is_centre_cropped():
    # rate 100, fps 25, frame 1: excerpt [2,3,4,5,6] (L = 5) > window 4 -> central 4 from offset (5-4)//2 = 0
    # -> [2,3,4,5] * hann(4) = [0, .75, .75, 0] -> [0, 2.25, 3, 0]
    out = clip_audio(np.arange(20, dtype=np.float32), 100, 25, 1, 1, window=4)
    np.testing.assert_allclose(out, [0, 2.25, 3.0, 0], atol=1e-6)


def test_official_window_geometry_at_22050():
    # 25 fps, 0-based frames 8..23 (official 9..24), n = 882:
    # start = int(8/25*22050 - 441) = 6615; end = int(23/25*22050 + 441) = 20727; L = 14113 (odd)
    # slots [17640 - 7056, 17640 + 7056 + 1) = [10584, 24697); hann is 0 at both ends
    wave = np.ones(50000, dtype=np.float32)
    assert frame_sample_bounds(8, len(wave), 22050, 25) == (6615, 7497)
    assert frame_sample_bounds(23, len(wave), 22050, 25) == (19845, 20727)
    out = clip_audio(wave, 22050, 25, 8, 23)
    nz = np.nonzero(out)[0]
    assert out.shape == (35280,)
    assert nz[0] == 10585 and nz[-1] == 24695
    assert out[10584] == 0 and out[24696] == 0
    assert out[17640] == pytest.approx(1.0)  # the Hann peak sits at the window centre
    assert out.sum() == pytest.approx((14113 - 1) / 2, rel=1e-4)  # sum of hann(L) = (L-1)/2


def test_scale_is_preserved():
    wave = np.full(1000, 256.0, dtype=np.float32)  # SoundNet full scale
    out = clip_audio(wave, 100, 10, 3, 3, window=40)
    assert out.max() == pytest.approx(256.0)


@pytest.mark.parametrize("first,last", [(-1, 2), (3, 2)])
def test_bad_frame_range(first, last):
    with pytest.raises(ValueError, match="first"):
        clip_audio(np.zeros(100, np.float32), 100, 10, first, last)


def test_rejects_multichannel():
    with pytest.raises(ValueError, match="mono"):
        clip_audio(np.zeros((2, 100), np.float32), 100, 10, 0, 1)
