"""Tests of the audio-visual figures: which object sounds, the localization maps at their native
grid, the effect of the sound (AV(true) - AV(silence)) and the sound bursts on NSS-over-time."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from stavis_lib import viz  # noqa: E402
from stavis_lib.model import build_model  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _gaze() -> dict:
    """Four frames; object 1 (a green square) sounds at frames 1-2, then silence."""
    boxes = np.zeros((2, 4, 4), np.float32)
    boxes[1, 2] = (10.0, 20.0, 30.0, 40.0)
    return {"sounding": np.array([-1, 1, 1, -1]), "object_class": np.array([2, 0]),
            "class_names": np.array(["red_disc", "green_square", "blue_triangle"]), "boxes": boxes,
            "bursts": np.array([[0.04, 0.12, 1.0]]), "fps": np.float64(25.0)}


def test_sounding_object_names_the_source_and_its_box() -> None:
    gaze = _gaze()
    assert viz.sounding_object(gaze, 0) is None
    src = viz.sounding_object(gaze, 2)
    assert src == viz.SoundingObject("red_disc", 1, (10.0, 20.0, 30.0, 40.0))  # object 1 is of class 0
    with pytest.raises(ValueError, match="frame 4"):
        viz.sounding_object(gaze, 4)
    assert viz.sound_bursts(gaze) == [(0.04, 0.12, "red_disc")]


def test_burst_shading_covers_exactly_the_burst_intervals() -> None:
    bursts = [(0.5, 1.25, "red_disc"), (2.0, 2.75, "green_square")]
    fig = viz.plot_nss_over_time({"audio-visual": np.ones(100)}, fps=25.0, bursts=bursts)
    ax = fig.axes[0]
    spans = [p for p in ax.patches if isinstance(p, Rectangle)]  # axvspan: x in data, y over the whole axes
    extents = sorted((p.get_x(), p.get_x() + p.get_width()) for p in spans)
    np.testing.assert_allclose(extents, [(0.5, 1.25), (2.0, 2.75)])
    assert all((p.get_y(), p.get_height()) == (0.0, 1.0) for p in spans)
    assert {t.get_text() for t in ax.texts} == {"red_disc", "green_square"}
    assert "sound burst" in [t.get_text() for t in ax.get_legend().get_texts()]
    plain = viz.plot_nss_over_time({"audio-visual": np.ones(100)}, fps=25.0)
    assert not plain.axes[0].patches  # no bursts: nothing shaded
    with pytest.raises(ValueError, match="fps"):
        viz.plot_nss_over_time({"audio-visual": np.ones(10)}, bursts=bursts)


def test_localization_maps_drawn_at_their_native_grid_most_contrasted_first() -> None:
    frame = np.zeros((48, 64, 3), np.uint8)
    loc = np.zeros((5, 4, 4), np.float32)
    loc[3, 0, 0] = 9.0  # the largest spatial spread
    loc[1, 1, 1] = 2.0  # the second largest
    fig = viz.plot_localization_maps(frame, loc, n_maps=2, box=(8, 8, 24, 24), box_label="red_disc", title="t")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:4] == ["frame", "mean of the 5 maps (4x4)", "L^4", "L^2"]
    grids = [im.get_array().shape for ax in fig.axes[1:4] for im in ax.get_images()[1:]]
    assert grids == [(4, 4)] * 3  # one block per cell, not the upsampled map
    mean_map = fig.axes[1].get_images()[1].get_array()
    np.testing.assert_allclose(mean_map, loc.mean(axis=0))
    assert any(isinstance(p, Rectangle) for p in fig.axes[0].patches)  # the sounding object's box
    assert fig.get_suptitle() == "t"


def test_mean_in_box_averages_the_cells_the_box_touches() -> None:
    m = np.arange(16, dtype=np.float64).reshape(4, 4)  # a 4x4 map over a 40x80 frame: cells of 10x20 px
    assert viz.mean_in_box(m, (0, 0, 20, 10), (40, 80)) == 0.0  # exactly the top-left cell
    assert viz.mean_in_box(m, (25, 15, 45, 25), (40, 80)) == np.mean([5, 6, 9, 10])  # straddles 4 cells
    with pytest.raises(ValueError, match="covers no cell"):
        viz.mean_in_box(m, (90, 50, 95, 55), (40, 80))


def _tiny_av_model():
    torch.manual_seed(0)
    model = build_model("L3mul_S3", depth=10, width=8, sample_size=32, sample_duration=4, dsam_channels=4,
                        hidden_dim=8, n_loc_maps=16).eval()
    with torch.no_grad():  # make the sound's term visible: the fusion starts at N(0, 0.001) weights
        model.fusion.cat_conv.weight.normal_(0.0, 0.5)
    return model


def test_sound_effect_is_zero_when_both_inputs_are_silence() -> None:
    model = _tiny_av_model()
    frames = torch.randn(2, 3, 4, 32, 32)
    silent = viz.sound_effect(model, frames, torch.zeros(2, 6000))
    assert silent.with_sound.shape == (2, 32, 32)
    assert np.array_equal(silent.difference, np.zeros((2, 32, 32), np.float32))
    audio = 50.0 * torch.randn(2, 6000)
    effect = viz.sound_effect(model, frames, audio)
    with torch.no_grad():
        expected = torch.sigmoid(model(frames, audio).saliency[:, 0]).numpy()
    np.testing.assert_allclose(effect.with_sound, expected, rtol=1e-6)
    np.testing.assert_allclose(effect.silent, silent.with_sound, rtol=1e-6)
    assert np.abs(effect.difference).max() > 1e-4  # a real sound changes the map
    fig = viz.plot_sound_effect(np.zeros((24, 32, 3), np.uint8), effect, index=1, box=(4, 4, 12, 12))
    lo, hi = fig.axes[2].get_images()[1].get_clim()  # the third panel: the difference
    assert lo == -hi and hi == pytest.approx(np.abs(effect.difference[1]).max())
    with pytest.raises(ValueError, match="does not use audio"):
        viz.sound_effect(build_model("visual", depth=10, width=8, sample_size=32), frames, audio)


def test_localization_grid_is_the_map_before_upsampling() -> None:
    model = _tiny_av_model()
    frames, audio = torch.randn(1, 3, 4, 32, 32), 50.0 * torch.randn(1, 6000)
    grid = viz.localization_grid(model, frames, audio)
    assert grid.shape == (1, 16, 4, 4)  # 32 px / 8: the conv3 grid
    with torch.no_grad():
        full = model(frames, audio).localization
    up = torch.nn.functional.interpolate(grid, size=(32, 32), mode="bilinear", align_corners=False)
    torch.testing.assert_close(up, full)
    assert not model.localization._forward_hooks  # the capture hook is removed
