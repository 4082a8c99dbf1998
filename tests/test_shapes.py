"""``viz.shape_table``: the forward-hook table of the tensors flowing through a network."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from stavis_lib.model import build_model
from stavis_lib.viz.shapes import shape_table

TINY = dict(depth=10, width=8, sample_size=32, sample_duration=8, dsam_channels=4)


def _row(table, module: str, tensor: str):
    rows = table[(table.module == module) & (table.tensor == tensor)]
    assert len(rows) == 1, f"{module} {tensor}: {len(rows)} rows"
    return rows.iloc[0]


def test_visual_network_shapes_follow_the_paper() -> None:
    model = build_model("visual", **TINY).eval()
    table = shape_table(model, torch.zeros(2, 3, 8, 32, 32))
    assert _row(table, "trunk.conv1", "input 0")["shape"] == (2, 3, 8, 32, 32)
    assert _row(table, "trunk.conv1", "input 0").symbol.startswith("frames")
    # conv1 has stride (1, 2, 2): half the frame; each later block halves again (layer1 after the max-pool)
    for level, grid in enumerate((16, 8, 4, 2)):
        m = _row(table, f"dsam.{level}", "output 3")
        assert m["shape"] == (2, 1, grid, grid) and m.symbol.startswith(f"M^{level + 1}")
        assert _row(table, f"dsam.{level}", "output 1")["shape"] == (2, 4, 32, 32)  # S^m at the frame size
        assert _row(table, f"dsam.{level}", "output 2")["shape"] == (2, 1, 32, 32)  # A^m at the frame size
    v = _row(table, "visual_head", "input 0")
    assert v["shape"] == (2, 16, 32, 32) and v.symbol.startswith("V")  # 4 levels x 4 channels
    assert v.parameters == 16 + 1  # the 1x1 conv: 16 weights and a bias
    assert _row(table, "visual_head", "output 0")["shape"] == (2, 1, 32, 32)
    # X^2..X^4 are listed once, as layer outputs, not again as DSAM inputs
    assert not ((table.module == "dsam.1") & (table.tensor == "input 0")).any()
    # V enters the fusion head too, but is listed only once
    assert (table.symbol.str.startswith("V")).sum() == 1
    # forward order
    assert list(table.module.drop_duplicates())[:4] == ["trunk.conv1", "dsam.0", "trunk.maxpool", "trunk.layer1"]


def test_audio_path_rows_and_custom_modules() -> None:
    model = build_model("L3mul_S3", **TINY, hidden_dim=16, n_loc_maps=16).eval()
    table = shape_table(model, torch.zeros(1, 3, 8, 32, 32), torch.zeros(1, 35280))
    assert _row(table, "audio", "input 0")["shape"] == (1, 35280)
    assert _row(table, "audio", "output 0")["shape"] == (1, 1024)
    assert _row(table, "localization", "output 0")["shape"] == (1, 16, 32, 32)
    custom = shape_table(model, torch.zeros(1, 3, 8, 32, 32), torch.zeros(1, 35280),
                         modules=["localization.affine_audio"], symbols={("localization.affine_audio", "output", 0): "h_a"})
    assert list(custom.tensor) == ["input 0", "output 0"]
    assert custom.symbol.tolist() == ["", "h_a"] and custom["shape"].tolist() == [(1, 1024), (1, 16)]


def test_hooks_are_removed_even_when_the_forward_fails() -> None:
    model = build_model("visual", **TINY).eval()
    with pytest.raises(ValueError, match="divisible by 16"):
        shape_table(model, torch.zeros(1, 3, 8, 24, 24))
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    with pytest.raises(KeyError, match="layer4"):
        shape_table(model, torch.zeros(1, 3, 8, 32, 32), modules=["trunk.layer4"])


def test_tuple_outputs_give_one_row_each() -> None:
    class Split(nn.Module):
        def forward(self, x):
            return x[:, :1], (x[:, 1:], x.sum())

    net = nn.Sequential(Split())
    table = shape_table(net, torch.zeros(3, 5), modules=["0"], symbols={})
    assert table.tensor.tolist() == ["input 0", "output 0", "output 1", "output 2"]
    assert table["shape"].tolist() == [(3, 5), (3, 1), (3, 4), ()]
    assert table.parameters.isna().tolist() == [False, True, True, True]
