"""Progress bars: the one place that decides how every bar of the package is drawn.

Three styles:

* ``"text"``: tqdm's plain text bar on stderr (terminals, scripts, and anything that is
  saved and shown later);
* ``"widgets"``: tqdm's ipywidgets bar, for a live Jupyter kernel. When the bar closes, its
  output is replaced by the final text line (an ``update_display`` of the same display id), so
  a saved notebook (papermill, GitHub, nbviewer) shows that line instead of ``HBox(...)``;
* ``"off"``: no bar.

The style comes from the ``style`` argument, else the ``STAVIS_PROGRESS`` environment variable,
else ``"auto"``: ``"widgets"`` inside an IPython kernel where ipywidgets imports, ``"text"``
everywhere else. Every bar of the package is made by :func:`progress_bar`.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from stavis_lib.errors import UserError

__all__ = ["PROGRESS_ENV", "STYLES", "progress_style", "progress_bar", "progress_write"]

#: The environment variable that chooses the style when no argument does.
PROGRESS_ENV = "STAVIS_PROGRESS"
STYLES = ("auto", "text", "widgets", "off")


def _in_widget_kernel() -> bool:
    """True inside an IPython kernel (not a terminal IPython) where ipywidgets imports."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def progress_style(style: str | None = None) -> str:
    """The resolved style, ``"text"``, ``"widgets"`` or ``"off"``: ``style`` if given, else
    ``$STAVIS_PROGRESS``, else ``"auto"`` (widgets in a Jupyter kernel with ipywidgets)."""
    origin = "style argument" if style is not None else f"${PROGRESS_ENV}"
    value = (style if style is not None else os.environ.get(PROGRESS_ENV, "auto")).strip().lower() or "auto"
    if value not in STYLES:
        raise UserError(f"{origin}: unknown progress style {value!r}; expected one of {', '.join(STYLES)}")
    if value == "auto":
        return "widgets" if _in_widget_kernel() else "text"
    return value


def _widget_bar_class() -> type:
    """tqdm's notebook bar, whose output turns into its final text line when it closes."""
    from IPython.display import display
    from tqdm.notebook import tqdm as notebook_tqdm

    class WidgetBar(notebook_tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, display=False, **kwargs)
            self._handle = None
            if not self.disable:
                self._handle = display(self.container, display_id=True)
                self.displayed = True

        def close(self) -> None:
            if self.disable:
                return
            super().close()
            if self._handle is not None:
                # the static fallback: text instead of a widget view that needs a live kernel
                text = self.format_meter(**{**self.format_dict, "ascii": True}) if self.leave else ""
                self._handle.update({"text/plain": text}, raw=True)
                self._handle = None

    return WidgetBar


def progress_bar(iterable: Iterable | None = None, *, enabled: bool = True, style: str | None = None,
                 **kwargs: Any) -> Any:
    """A tqdm bar over ``iterable`` (or a manual one: ``total=``) in the style of
    :func:`progress_style`; ``enabled=False`` or style ``"off"`` gives a disabled bar that
    still iterates and accepts ``update``/``close``. ``kwargs`` go to tqdm."""
    from tqdm import tqdm as text_tqdm

    chosen = progress_style(style) if enabled else "off"
    if chosen == "off":
        return text_tqdm(iterable, disable=True, **kwargs)
    cls = _widget_bar_class() if chosen == "widgets" else text_tqdm
    return cls(iterable, **kwargs)


def progress_write(message: str) -> None:
    """Print a line without breaking an open bar (``tqdm.write``; the same for both styles)."""
    from tqdm import tqdm as text_tqdm

    text_tqdm.write(message)
