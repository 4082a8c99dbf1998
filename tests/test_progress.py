"""Progress bars: one place (stavis_lib.progress) picks text, widgets or nothing, and a widget
bar leaves plain text behind when it closes (what a saved notebook shows)."""
from __future__ import annotations

import io
import sys

import pytest

from stavis_lib import progress
from stavis_lib.errors import UserError


class ZMQInteractiveShell:  # named like ipykernel's shell: what "auto" looks for
    pass


@pytest.fixture
def in_kernel(monkeypatch):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: ZMQInteractiveShell())


def test_auto_is_text_outside_a_kernel(monkeypatch):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    assert progress.progress_style() == "text"


def test_auto_is_widgets_in_a_kernel_with_ipywidgets_and_text_without(monkeypatch, in_kernel):
    pytest.importorskip("ipywidgets", reason="the widget style needs ipywidgets installed")
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    assert progress.progress_style() == "widgets"
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets now raises ImportError
    assert progress.progress_style() == "text"


def test_the_environment_variable_and_the_argument_decide(monkeypatch, in_kernel):
    monkeypatch.setenv(progress.PROGRESS_ENV, "text")
    assert progress.progress_style() == "text"  # even in a kernel
    monkeypatch.setenv(progress.PROGRESS_ENV, " OFF ")
    assert progress.progress_style() == "off"
    assert progress.progress_style("text") == "text"  # the argument wins over the variable


def test_an_unknown_style_is_a_one_line_user_error(monkeypatch):
    monkeypatch.setenv(progress.PROGRESS_ENV, "fancy")
    with pytest.raises(UserError, match=r"\$STAVIS_PROGRESS: unknown progress style 'fancy'"):
        progress.progress_style()
    with pytest.raises(UserError, match="style argument"):
        progress.progress_bar([1], style="bars")


def test_text_bar_writes_a_meter_and_off_writes_nothing():
    out = io.StringIO()
    items = list(progress.progress_bar(range(5), style="text", file=out, desc="frames", mininterval=0))
    assert items == [0, 1, 2, 3, 4]
    assert "frames" in out.getvalue() and "5/5" in out.getvalue() and "HBox" not in out.getvalue()
    silent = io.StringIO()
    assert list(progress.progress_bar(range(3), style="off", file=silent)) == [0, 1, 2]
    assert list(progress.progress_bar(range(3), enabled=False, style="text", file=silent)) == [0, 1, 2]
    assert silent.getvalue() == ""
    manual = progress.progress_bar(enabled=False, total=4)  # a manual bar that is off still accepts calls
    manual.update(2)
    manual.close()


class _Handle:
    def __init__(self) -> None:
        self.updates: list[tuple[dict, dict]] = []

    def update(self, obj, **kwargs) -> None:
        self.updates.append((obj, kwargs))


def test_a_closed_widget_bar_is_replaced_by_its_final_text_line(monkeypatch):
    pytest.importorskip("ipywidgets", reason="the widget style needs ipywidgets installed")
    import IPython.display

    shown, handle = [], _Handle()

    def fake_display(obj, display_id=None):
        shown.append((obj, display_id))
        return handle

    monkeypatch.setattr(IPython.display, "display", fake_display)
    assert list(progress.progress_bar(range(3), style="widgets", desc="videos", leave=True)) == [0, 1, 2]
    assert len(shown) == 1 and shown[0][1] is True  # the widget, under a display id
    assert type(shown[0][0]).__name__ == "TqdmHBox"
    (bundle, kwargs), = handle.updates
    assert kwargs == {"raw": True} and set(bundle) == {"text/plain"}
    assert bundle["text/plain"].startswith("videos: 100%") and "3/3" in bundle["text/plain"]
    # a bar that does not stay (leave=False) leaves an empty line, not a widget
    handle.updates.clear()
    list(progress.progress_bar(range(2), style="widgets", leave=False))
    assert handle.updates == [({"text/plain": ""}, {"raw": True})]
