"""Gaze figures (stavis_lib.viz.gaze): the onset-response plot and maps with fixations only."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from stavis_lib import viz  # noqa: E402
from stavis_lib.data.onsets import onset_response  # noqa: E402
from test_onsets import _hand_made  # noqa: E402


def test_the_plot_shows_the_curve_in_ms_and_marks_the_half_rise():
    r = onset_response([_hand_made()], before=0.2, after=0.5)
    fig = viz.plot_onset_response(r)
    ax = fig.axes[0]
    curve = ax.lines[0]
    np.testing.assert_allclose(curve.get_xdata(), [-200, -100, 0, 100, 200, 300, 400, 500])
    verticals = [float(np.asarray(line.get_xdata())[0]) for line in ax.lines[1:] if len(set(line.get_xdata())) == 1]
    assert 0.0 in verticals and 300.0 in verticals  # the onset and the half rise
    assert "300 ms" in " ".join(t.get_text() for t in ax.get_legend().get_texts())
    plt.close(fig)


def test_gaze_maps_show_the_maps_on_one_scale_and_every_fixation():
    dense = np.zeros((2, 6, 8), np.float32)
    dense[0, 2, 3] = 1.0
    dense[1] = 0.5
    fix = np.zeros((2, 6, 8), bool)
    fix[0, 2, 3] = True
    fix[1, [1, 4], [2, 6]] = True
    fig = viz.plot_gaze_maps(dense, fix, ["frame 0", "frame 9"], title="DIEM x: maps and fixations only")
    panels = fig.axes[:2]
    assert [a.get_title() for a in panels] == ["frame 0: 1 fixated px", "frame 9: 2 fixated px"]
    assert all(a.images[0].get_clim() == (0.0, 1.0) for a in panels)  # one colour scale
    np.testing.assert_allclose(panels[1].lines[0].get_xdata(), [2, 6])
    np.testing.assert_allclose(panels[1].lines[0].get_ydata(), [1, 4])
    assert fig._suptitle.get_text() == "DIEM x: maps and fixations only"
    with pytest.raises(ValueError, match="must agree"):
        viz.plot_gaze_maps(dense, fix[:1], ["a", "b"])
    plt.close(fig)
