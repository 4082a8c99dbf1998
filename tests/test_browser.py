"""Notebook 05's overlay browser in a real JupyterLab, driven by headless Chromium.

``tools/browser_check.py`` starts JupyterLab on 127.0.0.1 (free port, random token), opens the
notebook in Debian's Chromium through Playwright, runs every cell in SMOKE mode, moves the
frame slider with the keyboard and reads back what the page shows. Skips (with the reason)
when Chromium or Playwright is missing.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import browser_check  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _skip_reason() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "playwright (python) is not installed"
    if not browser_check.chromium_available():
        return f"Chromium not installed at {browser_check.CHROMIUM} (apt-get install chromium, or set STAVIS_CHROMIUM)"
    if not browser_check.NOTEBOOK.is_file():
        return f"{browser_check.NOTEBOOK} is missing (run tools/make_notebooks.py)"
    return None


@pytest.mark.timeout(420)
def test_browser_slider_moves_picture_and_nss_cursor(tmp_path: Path) -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    shot = tmp_path / "browser.png"
    messages: list[str] = []
    result = browser_check.run_check(
        shot,
        parameters={"SMOKE": True, "WORK_DIR": str(tmp_path / "work")},
        run_timeout=300,
        log=messages.append,
    )
    log = "\n".join(messages)
    # the status line the page shows moved with the slider (five ArrowRight presses)
    assert result.frame_before == 0, log
    assert result.frame_after == 5, log
    # the NSS cursor is drawn at frame/fps seconds: it moved right
    assert result.cursor_before == pytest.approx(0.0), log
    assert result.cursor_after > result.cursor_before, log
    # the pictures the browser shows changed (bytes fetched from the <img> elements)
    assert result.image_changed, log
    assert result.nss_changed, log
    # the screenshot is a real PNG of a sensible size
    from PIL import Image

    with Image.open(shot) as im:
        assert im.format == "PNG"
        assert im.width >= 400 and im.height >= 300
