"""Tests of stavis_lib.viz: overlays, fixation dots, NSS-over-time, tables and the browser."""
from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib import colormaps  # noqa: E402

from stavis_lib import viz  # noqa: E402
from stavis_lib.metrics import PAPER_METRICS  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------- array helpers


def test_normalize_map_min_max_constant_and_nan() -> None:
    np.testing.assert_allclose(viz.normalize_map(np.array([[2.0, 4.0, 6.0]])), [[0.0, 0.5, 1.0]])
    assert not viz.normalize_map(np.full((3, 3), 7.0)).any()
    out = viz.normalize_map(np.array([[np.nan, 1.0, 3.0]]))
    np.testing.assert_allclose(out, [[0.0, 0.0, 1.0]])


def test_map_shapes_are_squeezed_and_checked() -> None:
    assert viz.normalize_map(np.ones((1, 1, 4, 5))).shape == (4, 5)
    with pytest.raises(ValueError, match="single 2-D"):
        viz.normalize_map(np.ones((2, 4, 5)))


def test_resize_map_is_pixel_centre_bilinear() -> None:
    # 2 -> 4 samples at source coordinates -0.25, 0.25, 0.75, 1.25 (clamped at the edges)
    out = viz.resize_map(np.array([[0.0, 1.0], [0.0, 1.0]]), (2, 4))
    np.testing.assert_allclose(out[0], [0.0, 0.25, 0.75, 1.0], atol=1e-6)
    np.testing.assert_allclose(viz.resize_map(np.full((3, 5), 2.5), (7, 9)), 2.5, atol=1e-6)


def test_overlay_keeps_frame_where_not_salient_and_colours_the_peak() -> None:
    frame = np.full((8, 8, 3), 100, np.uint8)
    sal = np.zeros((8, 8), np.float32)
    sal[3, 4] = 5.0
    out = viz.overlay_heatmap(frame, sal, alpha=0.5, cmap="jet")
    mask = np.ones((8, 8), bool)
    mask[3, 4] = False
    assert (out[mask] == 100).all()
    peak = np.array(colormaps["jet"](1.0)[:3]) * 255
    np.testing.assert_allclose(out[3, 4], 0.5 * 100 + 0.5 * peak, atol=1.0)
    # alpha = 0 returns the frame unchanged; float frames in [0,1] are accepted
    assert (viz.overlay_heatmap(frame, sal, alpha=0.0) == frame).all()
    assert (viz.overlay_heatmap(frame / 255.0, sal, alpha=0.0) == frame).all()
    with pytest.raises(ValueError, match="alpha"):
        viz.overlay_heatmap(frame, sal, alpha=1.5)


def test_overlay_resizes_a_small_map_to_the_frame() -> None:
    frame = np.zeros((40, 60, 3), np.uint8)
    sal = np.zeros((4, 6))
    sal[0, 0] = 1.0  # top-left corner salient
    out = viz.overlay_heatmap(frame, sal, alpha=1.0)
    assert out.shape == (40, 60, 3)
    assert out[:5, :5].sum() > 0
    # the far corner maps to s = 0: jet(0) blended with zero weight keeps the black frame
    assert out[-1, -1].sum() == 0


def test_fixation_points_scale_pixel_centres() -> None:
    fix = np.zeros((15, 20), bool)
    fix[2, 3] = True
    np.testing.assert_allclose(viz.fixation_points(fix), [[3.0, 2.0]])
    np.testing.assert_allclose(viz.fixation_points(fix, (60, 80)), [[13.5, 9.5]])


def test_draw_fixations_marks_only_around_the_fixation() -> None:
    frame = np.full((60, 80, 3), 50, np.uint8)
    fix = np.zeros((15, 20), bool)
    fix[2, 3] = True
    out = viz.draw_fixations(frame, fix, color=(255, 0, 0), radius=2, outline=None)
    changed = np.argwhere((out != 50).any(axis=2))
    assert len(changed) > 0
    np.testing.assert_allclose(changed.mean(axis=0), [9.5, 13.5], atol=1.0)  # (row, col)
    assert np.abs(changed - [9.5, 13.5]).max() <= 3
    assert (frame == 50).all()  # input untouched
    pts = viz.draw_fixations(frame, points=np.array([[10.0, 20.0], [np.nan, np.nan]]), radius=1, outline=None)
    assert (pts[20, 10] != 50).any() and (pts[40, 40] == 50).all()
    with pytest.raises(ValueError, match="exactly one"):
        viz.draw_fixations(frame)


def test_label_and_hstack_sizes() -> None:
    a = np.zeros((10, 7, 3), np.uint8)
    b = np.zeros((12, 5, 3), np.uint8)
    assert viz.label_image(a, "x", height=16).shape == (26, 7, 3)
    assert viz.hstack_images([a, b], gap=4).shape == (12, 7 + 4 + 5, 3)
    with pytest.raises(ValueError):
        viz.hstack_images([])


def test_png_bytes_round_trip() -> None:
    import io

    from PIL import Image

    img = (np.arange(4 * 6 * 3) % 256).astype(np.uint8).reshape(4, 6, 3)
    with Image.open(io.BytesIO(viz.png_bytes(img))) as im:
        assert (np.asarray(im) == img).all()


def test_torch_tensors_are_accepted() -> None:
    import torch
    m = torch.tensor([[[[0.0, 2.0], [4.0, 8.0]]]], dtype=torch.bfloat16, requires_grad=True)
    np.testing.assert_allclose(viz.normalize_map(m), [[0.0, 0.25], [0.5, 1.0]])


# ---------------------------------------------------------------- NSS over time


def test_nss_curve_hand_value_and_nan_for_frames_without_fixations() -> None:
    maps = np.zeros((2, 2, 2), np.float32)
    maps[0] = [[0.0, 0.0], [0.0, 4.0]]  # mean 1, sample std 2 -> NSS at (1,1) = (4-1)/2
    fix = np.zeros((2, 2, 2), bool)
    fix[0, 1, 1] = True
    out = viz.nss_curve(maps, fix)
    assert out[0] == pytest.approx(1.5)
    assert np.isnan(out[1])
    with pytest.raises(ValueError, match="frames"):
        viz.nss_curve(maps, fix[:1])


def test_nss_cursor_plot_moves_to_frame_over_fps() -> None:
    plot = viz.NssCursorPlot({"audio-visual": np.linspace(0, 2, 50), "visual-only": np.ones(50)}, fps=25.0)
    first = plot.png()
    plot.set_frame(10)
    assert plot.cursor_x == pytest.approx(0.4)
    assert plot.png() != first
    assert first[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_nss_over_time_draws_curves_and_cursor() -> None:
    fig = viz.plot_nss_over_time({"visual-only": [1.0, np.nan, 2.0], "audio-visual": [2.0, 3.0, 4.0]}, fps=2.0, cursor=1)
    ax = fig.axes[0]
    xs = [line.get_xdata() for line in ax.get_lines()]
    assert any(np.allclose(x, [0.0, 0.5, 1.0]) for x in xs if len(x) == 3)
    assert any(np.allclose(x, [0.5, 0.5]) for x in xs if len(x) == 2)  # the cursor at 1/2 s
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "visual-only (mean 1.50)" in labels and "audio-visual (mean 3.00)" in labels


# ---------------------------------------------------------------- figures


def test_dsam_attention_shares_one_scale_in_units_of_the_uniform_level() -> None:
    frame = np.full((32, 32, 3), 100, np.uint8)
    peaked = np.full((8, 8), 1.0)
    peaked[2, 3] = 9.0  # 9 x the other cells
    peaked /= peaked.sum()
    att = [np.full((16, 16), 1.0 / 256), peaked, np.full((4, 4), 1.0 / 16), np.full((2, 2), 0.25)]
    fig = viz.plot_dsam_attention(frame, att, saliency=np.random.default_rng(0).random((32, 32)))
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 10  # 2 rows x (4 levels + final map)
    top = [ax.get_images()[0] for ax in panels if ax.get_images()[0].get_array().ndim == 2][:4]
    # M^m x h_m w_m: a uniform map is 1 everywhere, whatever its grid
    assert top[0].get_array().shape == (16, 16) and np.allclose(top[0].get_array(), 1.0)
    assert np.isclose(top[1].get_array().max(), 9.0 * 64 / (63 + 9))  # = 8 x uniform
    assert len({(im.norm.vmin, im.norm.vmax) for im in top}) == 1  # one colour scale for every level
    assert np.isclose(top[0].norm.vmax, 8.0) and np.isclose(top[0].norm.vmin, 1 / 8.0)
    # a uniform level leaves the frame unchanged in the bottom row (overlay fully transparent)
    overlays = [ax.get_images()[1].get_array() for ax in panels if len(ax.get_images()) == 2]
    assert len(overlays) == 4 and np.allclose(overlays[0][..., 3], 0.0) and overlays[1][..., 3].max() > 0.5
    assert "uniform" in fig.axes[-1].get_ylabel()  # the colour bar is labelled with the uniform level


def test_localization_grid_accepts_batched_maps() -> None:
    frame = np.zeros((32, 32, 3), np.uint8)
    loc = np.random.default_rng(0).random((1, 12, 8, 8))
    fig = viz.plot_localization_maps(frame, loc, n_maps=4)
    assert len([ax for ax in fig.axes if ax.get_images()]) == 6  # frame + mean + 4 maps
    with pytest.raises(ValueError, match="localization"):
        viz.plot_localization_maps(frame, np.zeros((2, 3, 4, 5)))


def test_saliency_rows_like_paper_fig4() -> None:
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (6, 24, 32, 3), dtype=np.uint8)
    rows = {"ground truth": rng.random((6, 12, 16)), "audio-visual": rng.random((6, 12, 16))}
    fig = viz.plot_saliency_rows(frames, rows, fixations=rng.random((6, 12, 16)) > 0.9, frame_indices=[0, 5])
    assert len(fig.axes) == 3 * 2


def test_training_curves_group_loss_cc_nss() -> None:
    log = pd.DataFrame(
        {"step": [1, 2, 3], "loss": [3.0, 2.0, 1.0], "val_loss": [3.5, np.nan, 1.5], "val_cc": [0.1, 0.2, 0.3],
         "train_nss": [0.5, 1.0, 1.5], "lr": [0.1, 0.1, 0.1]}
    )
    fig = viz.plot_training_curves(log)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "CC (score: higher is better)", "NSS (score: higher is better)"]
    assert len(fig.axes[0].get_lines()) == 2  # loss and val_loss share a panel
    with pytest.raises(ValueError, match="no loss"):
        viz.plot_training_curves(pd.DataFrame({"step": [1], "lr": [0.1]}))


def test_training_curves_of_stage_one_split_the_loss_and_show_the_side_weight() -> None:
    n = 60
    step = np.arange(1, n + 1)
    weight = np.where(step <= 30, 0.5, 0.0)
    side, main = np.full(n, -8.0), np.full(n, -3.0)
    steps = pd.DataFrame({"epoch": 1 + (step > 30), "step": step, "loss": main + weight * side, "loss_ce": 0.1,
                          "loss_cc": 0.5, "train_nss": 2.0, "loss_side": side, "side_weight": weight})
    epochs = pd.DataFrame({"epoch": [1, 2], "step": [30, 60], "train_loss": [-7.0, -3.0], "val_cc": [0.4, 0.5]})
    fig = viz.plot_training_curves(steps, validation=epochs, smooth=5)
    loss_ax, cc_ax = fig.axes[0], fig.axes[1]
    assert cc_ax.get_title().startswith("CC")  # loss_cc is a score: the CC panel, not the loss panel
    labels = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert labels == ["loss (total)", "side losses \u03a3 D(\u03c3(A^m))", "final-map term D(\u03c3(S))"]
    main_line = [ln for ln in loss_ax.get_lines() if ln.get_label() == labels[2]][0]
    assert np.allclose(main_line.get_ydata(), -3.0)  # loss - side_weight * loss_side, running mean of 5
    twin = [ax for ax in fig.axes if ax.get_ylabel() == "side weight (eq. 6)"]
    assert len(twin) == 1 and np.allclose(twin[0].get_lines()[0].get_ydata(), weight)
    val = [ln for ln in cc_ax.get_lines() if ln.get_label() == "validation"][0]
    assert list(val.get_xdata()) == [30, 60] and list(val.get_ydata()) == [0.4, 0.5]
    with pytest.raises(ValueError, match="no column 'step'"):
        viz.plot_training_curves(steps, validation=epochs.drop(columns="step"))


def test_audio_window_figure() -> None:
    window = np.zeros(35280, np.float32)
    t = np.arange(8820) / 22050
    window[13230:22050] = 100 * np.sin(2 * np.pi * 440 * t) * np.hanning(8820)
    fig = viz.plot_audio_window(window, 22050)
    assert len(fig.axes) >= 2


def test_browser_still_view_and_static_text(tmp_path) -> None:
    import ipywidgets  # noqa: F401  (a requirement: missing is a failure)
    from PIL import Image

    b = viz.SaliencyBrowser({"clip": _video}, work_dir=tmp_path)
    b.set_layers(["ground truth", "audio-visual"])
    b.set_frame(5)
    path = b.save_view()
    assert path.parent == tmp_path and path.name == "view_clip_00005.png"
    view = np.asarray(Image.open(path).convert("RGB"))
    picture = viz.render_panels(b.video, 5, ["ground truth", "audio-visual"])
    curve = np.asarray(Image.open(io.BytesIO(b.plot.png())).convert("RGB"))
    # the picture on top, a 4-px white gap, then the NSS plot (each padded white to the wider)
    assert view.shape == (picture.shape[0] + 4 + curve.shape[0], max(picture.shape[1], curve.shape[1]), 3)
    np.testing.assert_array_equal(view[: picture.shape[0], : picture.shape[1]], picture)
    np.testing.assert_array_equal(view[picture.shape[0]: picture.shape[0] + 4], 255)
    np.testing.assert_array_equal(view[picture.shape[0] + 4:, : curve.shape[1]], curve)
    # another frame's view leaves the browser where it is
    other = b.save_view(tmp_path / "other.png", frame=9)
    assert b.frame_index == 5 and b.plot.cursor_x == pytest.approx(0.5) and 'data-frame="5"' in b.status.value
    top = np.asarray(Image.open(other).convert("RGB"))[: picture.shape[0], : picture.shape[1]]
    np.testing.assert_array_equal(top, viz.render_panels(b.video, 9, ["ground truth", "audio-visual"]))
    bundle = b._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # the live widget
    assert bundle["text/plain"].startswith("SaliencyBrowser (showing clip, frame 5)")  # not "VBox(...)"
    assert "VBox" not in bundle["text/plain"]


def test_vstack_pads_to_the_widest_with_white() -> None:
    a = np.zeros((2, 3, 3), np.uint8)
    b = np.zeros((1, 5, 3), np.uint8)
    out = viz.vstack_images([a, b], gap=1)
    assert out.shape == (2 + 1 + 1, 5, 3)
    assert (out[:2, 3:] == 255).all() and (out[2] == 255).all() and (out[:2, :3] == 0).all()


# ---------------------------------------------------------------- tables


def _paper_table1_from_text(text: str) -> list[list[float]]:
    start = text.index("Method\tCC")
    end = text.index("Table 1.", start)
    rows = []
    for line in text[start:end].splitlines()[1:]:
        nums = re.findall(r"\d+\.\d+", line)
        if len(nums) >= 5:
            rows.append([float(x) for x in nums[-5:]])
    return rows


def test_paper_table1_matches_the_paper_text(shared_dir) -> None:
    paper = shared_dir / "paper" / "STAViS_CVPR2020.txt"
    if not paper.is_file():
        pytest.skip(f"paper text not found at {paper}")
    rows = _paper_table1_from_text(paper.read_text(encoding="utf-8"))
    assert len(rows) == 13
    ours = [[viz.PAPER_TABLE1[v][m] for m in PAPER_METRICS] for v in viz.TABLE1_LABELS]
    np.testing.assert_allclose(ours, rows)


def test_table1_variants_match_the_model_registry() -> None:
    import stavis_lib.config as config
    assert set(viz.TABLE1_LABELS) == set(config.VARIANTS)


def test_ablation_table_paper_order_and_side_by_side() -> None:
    results = {"L3mul_S3": {"cc": 0.6, "nss": 3.0, "auc_shuffled": 0.7, "video": "x"}, "visual": {"cc": 0.4, "nss": 2.0},
               "centre bias": {"nss": 0.5}}
    df = viz.ablation_table(results)
    assert list(df.index) == ["Visual", "L3mul - S3av (proposed)", "centre bias"]
    assert df.loc["L3mul - S3av (proposed)", "sAUC ↑"] == pytest.approx(0.7)
    assert df.loc["Visual", "CC ↑"] == pytest.approx(0.4)
    assert np.isnan(df.loc["Visual", "SIM ↑"])
    both = viz.table1_side_by_side(results)
    assert both.shape[0] == 14  # 13 paper rows + our extra baseline
    assert list(both.index[:2]) == ["Visual", "L1 AudioOnly"]
    paper_cols = [c for c in both.columns if c[0].startswith("paper")]
    assert both.loc["Visual", paper_cols[1]] == pytest.approx(2.54)


def test_plot_ablation_puts_ours_and_the_paper_on_separate_axes() -> None:
    results = {"visual": {"cc": 0.4, "nss": 2.0, "sim": 0.3}, "L3mul_S3": {"cc": 0.5, "nss": 6.0, "sim": 0.4}}
    fig = viz.plot_ablation(results, metrics=("cc", "nss"))
    assert len(fig.axes) == 4  # (CC, NSS) x (ours, paper)
    ours_nss, paper_nss = fig.axes[2], fig.axes[3]
    np.testing.assert_allclose(ours_nss.lines[0].get_xdata(), [2.0, 6.0])  # rows in the paper's order
    np.testing.assert_allclose(paper_nss.lines[0].get_xdata(), [2.54, 2.73])  # the paper's rows of the same variants
    assert "ours" in ours_nss.get_title() and "paper" in paper_nss.get_title()
    # each panel has its own scale: the paper's NSS (2.4-2.7) is not drawn on our 2-6 axis
    assert ours_nss.get_xlim()[1] > 6.0 and paper_nss.get_xlim()[1] < 3.0
    plt.close(fig)


def test_ablation_ranks_rank_both_sides_among_the_same_variants() -> None:
    # NSS: ours visual 3.5 > L3mul 3.0 > L1_S1 2.5; the paper: L3mul 2.73 > L1_S1 2.62 > visual 2.54
    results = {"visual": {"nss": 3.5}, "L1_S1": {"nss": 2.5}, "L3mul_S3": {"nss": 3.0}, "centre bias": {"nss": 9.0}}
    ranks = viz.ablation_ranks(results, ("nss",))
    assert list(ranks.index) == ["Visual", "L1 - S1av", "L3mul - S3av (proposed)"]  # no paper row: left out
    label = [c for c in ranks.columns][0][0]
    assert list(ranks[(label, "ours")]) == [1, 3, 2]
    assert list(ranks[(label, "paper")]) == [3, 2, 1]
    fig = viz.plot_ablation_ranks(results, "nss")
    # Spearman of (1, 3, 2) against (3, 2, 1): 1 - 6 * (4 + 1 + 1) / (3 * 8) = -0.5
    assert "rank correlation -0.50" in fig.axes[0].get_title()
    plt.close(fig)


# ---------------------------------------------------------------- the browser (no browser needed)


def _video(t: int = 12, name: str = "clip", fixations: bool = True) -> viz.BrowserVideo:
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 255, (t, 24, 32, 3), dtype=np.uint8)
    maps = {k: rng.random((t, 12, 16)).astype(np.float32) for k in ("ground truth", "visual-only", "audio-visual")}
    fix = rng.random((t, 12, 16)) > 0.9 if fixations else None
    nss = {"visual-only": rng.random(t), "audio-visual": rng.random(t) + 1}
    return viz.BrowserVideo(name, frames, 10.0, maps=maps, fixations=fix, nss=nss)


def test_browser_video_validates_shapes() -> None:
    v = _video()
    with pytest.raises(ValueError, match="uint8"):
        viz.BrowserVideo("a", v.frames.astype(np.float32), 10.0)
    with pytest.raises(ValueError, match="map 'x'"):
        viz.BrowserVideo("a", v.frames, 10.0, maps={"x": np.zeros((3, 4, 4))})
    with pytest.raises(ValueError, match="NSS curve"):
        viz.BrowserVideo("a", v.frames, 10.0, nss={"x": np.zeros(3)})


def test_render_panels_one_panel_per_layer() -> None:
    v = _video()
    img = viz.render_panels(v, 2, ["ground truth", "audio-visual", "nope"], labels=False, height=None)
    assert img.shape == (24, 3 * 32 + 2 * 4, 3)
    assert (img[:, :32] == v.frames[2]).all()  # first panel is the frame (GT panel carries the dots)
    dotted = viz.render_panels(v, 2, ["audio-visual"], labels=False, height=None)
    assert (dotted[:, :32] != v.frames[2]).any()  # without a GT panel the dots go on the frame
    tall = viz.render_panels(v, 2, ["ground truth"], labels=True, height=48)
    assert tall.shape[0] == 48 + 16
    with pytest.raises(IndexError):
        viz.render_panels(v, 12, [])


def test_browser_frame_layers_and_status(tmp_path) -> None:
    import ipywidgets  # noqa: F401  (a requirement: missing is a failure)
    calls = []

    def source():
        calls.append(1)
        return _video()

    b = viz.SaliencyBrowser({"clip": source}, work_dir=tmp_path)
    assert b.video is not None and b.slider.max == 11 and len(calls) == 1
    first_image, first_nss = b.image.value, b.nss_image.value
    b.slider.value = 4  # as the browser's slider does
    assert b.frame_index == 4
    assert b.image.value != first_image and b.nss_image.value != first_nss
    assert b.plot.cursor_x == pytest.approx(0.4)
    assert 'data-frame="4"' in b.status.value and 'data-cursor="0.4000"' in b.status.value
    assert "frame 4 of 0–11" in b.status.value
    assert b.toggles["localization"].disabled  # this video has no localization maps
    b.set_layers(["audio-visual"])
    assert b.layers == ["audio-visual"]
    narrow = b.image.value
    b.toggles["visual-only"].value = True
    assert b.layers == ["visual-only", "audio-visual"] and b.image.value != narrow
    b.select("clip")
    assert len(calls) == 1 and b.frame_index == 0  # cached


def test_browser_own_path_and_overlay_video(tmp_path) -> None:
    import ipywidgets  # noqa: F401  (a requirement: missing is a failure)
    import stavis_lib.data.media as media
    b = viz.SaliencyBrowser({"clip": _video}, loader=lambda p: _video(8, name=p), work_dir=tmp_path)
    assert b.load_path(str(tmp_path / "missing.mp4")) is None
    assert "no such file" in b.message.value
    own = tmp_path / "own.mp4"
    own.write_bytes(b"not decoded by the fake loader")
    v = b.load_path(str(own))
    assert v is not None and v.n_frames == 8 and b.chooser.value == "own: own.mp4"
    b.set_layers(["ground truth", "audio-visual"])
    out = b.render_video()
    assert out is not None and out.is_file() and "audio-visual" in out.name
    info = media.probe_video(out)
    assert info.n_frames == 8 and info.width == 32 and info.height == 24
    assert b.video_player.value == out.read_bytes()
    chosen = b.render_video("ground truth")  # a named layer, whatever the toggles say
    assert chosen is not None and "ground_truth" in chosen.name and b.layers == ["ground truth", "audio-visual"]
    with pytest.raises(KeyError, match="no layer 'localization'"):
        b.render_video("localization")


# ---------------------------------------------------------------- tables


def test_overall_metrics_and_metrics_table() -> None:
    datasets = pd.DataFrame(
        [
            {"method": "m", "dataset": "Synthetic", "cc": 0.1, "nss": 1.0, "auc_judd": 0.7, "auc_shuffled": 0.6, "sim": 0.3, "kld": 2.0},
            {"method": "m", "dataset": "ALL", "cc": 0.2, "nss": 2.0, "auc_judd": 0.8, "auc_shuffled": 0.65, "sim": 0.4, "kld": 1.0},
            {"method": "centre bias", "dataset": "Synthetic", "cc": 0.3, "nss": 0.5, "auc_judd": 0.6, "auc_shuffled": 0.5, "sim": 0.2, "kld": 3.0},
        ]
    )
    assert viz.overall_metrics(datasets, "m")["nss"] == pytest.approx(2.0)  # the ALL row wins
    assert viz.overall_metrics(datasets, "centre bias")["cc"] == pytest.approx(0.3)
    with pytest.raises(KeyError, match="nope"):
        viz.overall_metrics(datasets, "nope")
    table = viz.metrics_table(datasets)
    assert list(table.index) == ["m", "centre bias"]
    assert list(table.columns) == ["CC ↑", "NSS ↑", "AUC-J ↑", "sAUC ↑", "SIM ↑", "KLD ↓"]
    assert table.loc["m", "sAUC ↑"] == pytest.approx(0.65)
