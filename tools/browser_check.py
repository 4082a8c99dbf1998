"""Drive notebook 05 (the overlay browser) in a real JupyterLab in headless Chromium.

What it does:
1. copies the notebook into a fresh temporary root folder, with the papermill parameters
   injected (SMOKE mode by default), and isolates JupyterLab's settings and workspaces there;
2. starts JupyterLab on 127.0.0.1 (a free port, a random token, no browser);
3. opens the notebook in headless Chromium with Playwright (Debian's /usr/bin/chromium;
   Playwright never downloads a browser here), runs all cells and waits for the browser widget;
4. reads the frame picture, the NSS plot and the status line, moves the frame slider with the
   keyboard, and checks that the picture, the NSS cursor and the status changed;
5. saves a screenshot of the widget (``assets/browser.png`` by default).

Run it from the repository root:

    .venv/bin/python tools/browser_check.py                 # writes assets/browser.png
    .venv/bin/python tools/browser_check.py --full          # the notebook's full mode

``tests/test_browser.py`` calls :func:`run_check` with a temporary screenshot path.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "05_interactive_overlays.ipynb"
CHROMIUM = os.environ.get("STAVIS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


class BrowserCheckError(RuntimeError):
    """The notebook did not run, or the widget did not react as expected."""


@dataclass
class CheckResult:
    """What the check saw: status-line frame and cursor before/after moving the slider,
    whether the two images changed, where the screenshot went, and timings (s)."""

    frame_before: int
    frame_after: int
    cursor_before: float
    cursor_after: float
    image_changed: bool
    nss_changed: bool
    screenshot: Path
    timings: dict[str, float] = field(default_factory=dict)


def chromium_available(path: str = CHROMIUM) -> bool:
    return Path(path).is_file() and os.access(path, os.X_OK)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_root(root: Path, notebook: Path, parameters: dict) -> Path:
    """Copy ``notebook`` into ``root`` with ``parameters`` injected in a cell after its
    "parameters"-tagged cell (papermill's convention) and write JupyterLab user settings that
    keep it quiet (no news, no update check)."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    if parameters:
        tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
        if not tagged:
            raise BrowserCheckError(f"{notebook}: no cell tagged 'parameters' to override")
        source = "# Injected parameters (tools/browser_check.py)\n" + "\n".join(
            f"{k} = {v!r}" for k, v in parameters.items()
        )
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = ["injected-parameters"]
        nb.cells.insert(tagged[0] + 1, cell)
    dest = root / notebook.name
    nbformat.write(nb, dest)
    settings = root / ".jupyter" / "lab" / "user-settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True, exist_ok=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    return dest


def start_lab(root: Path, port: int, token: str, log_path: Path) -> subprocess.Popen:
    """Start JupyterLab on 127.0.0.1:``port`` serving ``root``; its own process group."""
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(root / ".jupyter"),
        JUPYTERLAB_SETTINGS_DIR=str(root / ".jupyter" / "lab" / "user-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(root / ".jupyter" / "lab" / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(root / ".jupyter" / "runtime"),
        MPLBACKEND="module://matplotlib_inline.backend_inline",
        PYTHONUNBUFFERED="1",
    )
    cmd = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
        f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.open_browser=False", "--LabApp.extension_manager=readonly",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI often run as root
        cmd.append("--allow-root")
    log = open(log_path, "w")
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_server(url: str, token: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise BrowserCheckError(f"JupyterLab exited with code {proc.returncode} before it answered")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise BrowserCheckError(f"JupyterLab did not answer at {url} within {timeout:.0f} s")


def stop_lab(proc: subprocess.Popen) -> None:
    """Stop the JupyterLab we started (its process group: the server and its kernels)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=15)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


STATUS_JS = """() => {
  const s = document.querySelector('.stavis-status-line');
  const f = document.querySelector('.stavis-frame img, img.stavis-frame');
  const n = document.querySelector('.stavis-nss img, img.stavis-nss');
  return s && f && n && f.src && n.src ? {
    frame: parseInt(s.dataset.frame), cursor: parseFloat(s.dataset.cursor),
    text: s.textContent, frameSrc: f.src, nssSrc: n.src,
    frameW: f.naturalWidth, nssW: n.naturalWidth} : null;
}"""

ERRORS_JS = """() => Array.from(document.querySelectorAll('.jp-OutputArea-output'))
  .map(e => e.textContent).filter(t => /Traceback|Error:/.test(t)).map(t => t.slice(-1500))"""


def _image_bytes(page, selector: str) -> bytes:
    """The PNG shown by an <img> (JupyterLab serves widget images as blob: URLs)."""
    data = page.evaluate(
        """async (sel) => {
            const img = document.querySelector(sel);
            const r = await fetch(img.src); const b = new Uint8Array(await r.arrayBuffer());
            let s = ''; for (const x of b) s += String.fromCharCode(x); return btoa(s);
        }""",
        selector,
    )
    import base64

    return base64.b64decode(data)


def run_check(
    screenshot: Path,
    notebook: Path = NOTEBOOK,
    parameters: dict | None = None,
    run_timeout: float = 300.0,
    keep_root: bool = False,
    chromium: str = CHROMIUM,
    log=print,
    screenshot_frame: int = 0,
) -> CheckResult:
    """Run the whole check; raise :class:`BrowserCheckError` with the reason when it fails.

    ``screenshot_frame``: after the check, move the slider on to this frame for the screenshot."""
    from playwright.sync_api import sync_playwright

    if not chromium_available(chromium):
        raise BrowserCheckError(f"Chromium not found at {chromium}")
    if not notebook.is_file():
        raise BrowserCheckError(f"notebook not found: {notebook}")
    params = {"SMOKE": True} if parameters is None else parameters
    root = Path(tempfile.mkdtemp(prefix="stavis-lab-"))
    timings: dict[str, float] = {}
    t0 = time.time()
    proc = None
    try:
        nb_path = prepare_root(root, notebook, params)
        port, token = free_port(), secrets.token_hex(16)
        url = f"http://127.0.0.1:{port}"
        proc = start_lab(root, port, token, root / "jupyterlab.log")
        wait_for_server(url, token, proc)
        timings["server"] = time.time() - t0
        log(f"JupyterLab up at {url} ({timings['server']:.1f} s)")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                page.goto(f"{url}/lab/tree/{nb_path.name}?token={token}", wait_until="domcontentloaded")
                page.wait_for_function(
                    "() => window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')", timeout=90_000
                )
                # wait until the kernel is ready, then run every cell
                page.wait_for_function(
                    """() => { const w = window.jupyterapp.shell.currentWidget;
                               return w && w.sessionContext && w.sessionContext.session &&
                                      w.sessionContext.session.kernel &&
                                      w.sessionContext.session.kernel.connectionStatus === 'connected' &&
                                      w.sessionContext.session.kernel.status === 'idle'; }""",
                    timeout=90_000,
                )
                timings["open"] = time.time() - t0
                log(f"notebook open, kernel idle ({timings['open']:.1f} s); running all cells")
                page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
                deadline = time.time() + run_timeout
                before = None
                while time.time() < deadline:
                    errors = page.evaluate(ERRORS_JS)
                    if errors:
                        raise BrowserCheckError("a notebook cell failed in JupyterLab:\n" + "\n---\n".join(errors))
                    before = page.evaluate(STATUS_JS)
                    if before and before["frameW"] > 0 and before["nssW"] > 0:
                        break
                    time.sleep(1.0)
                if not before:
                    raise BrowserCheckError(f"the browser widget did not appear within {run_timeout:.0f} s")
                timings["run"] = time.time() - t0
                log(f"widget shown ({timings['run']:.1f} s): {before['text']}")
                frame_png = _image_bytes(page, ".stavis-frame img, img.stavis-frame")
                nss_png = _image_bytes(page, ".stavis-nss img, img.stavis-nss")

                handle = page.locator(".stavis-slider .noUi-handle").first
                handle.scroll_into_view_if_needed()
                handle.focus()
                for _ in range(5):
                    page.keyboard.press("ArrowRight")
                try:
                    page.wait_for_function(
                        f"() => {{ const s = document.querySelector('.stavis-status-line'); "
                        f"return s && parseInt(s.dataset.frame) !== {before['frame']}; }}",
                        timeout=30_000,
                    )
                except Exception as exc:  # playwright's TimeoutError
                    raise BrowserCheckError(f"moving the slider did not change the frame: {exc}") from exc
                try:  # the kernel redraws once per key press: on a busy machine that takes seconds
                    page.wait_for_function(
                        f"() => {{ const s = document.querySelector('.stavis-status-line'); "
                        f"return s && parseInt(s.dataset.frame) >= {before['frame'] + 5}; }}",
                        timeout=60_000,
                    )
                except Exception:  # playwright's TimeoutError: the result below says where it stopped
                    pass
                page.wait_for_timeout(800)  # let the last image updates arrive
                after = page.evaluate(STATUS_JS)
                frame_png2 = _image_bytes(page, ".stavis-frame img, img.stavis-frame")
                nss_png2 = _image_bytes(page, ".stavis-nss img, img.stavis-nss")
                result = CheckResult(
                    frame_before=before["frame"],
                    frame_after=after["frame"],
                    cursor_before=before["cursor"],
                    cursor_after=after["cursor"],
                    image_changed=frame_png != frame_png2,
                    nss_changed=nss_png != nss_png2,
                    screenshot=Path(screenshot),
                )
                log(f"slider moved: {after['text']}")
                for _ in range(max(0, screenshot_frame - after["frame"])):
                    page.keyboard.press("ArrowRight")
                if screenshot_frame > after["frame"]:
                    page.wait_for_function(
                        f"() => {{ const s = document.querySelector('.stavis-status-line'); "
                        f"return s && parseInt(s.dataset.frame) >= {screenshot_frame}; }}",
                        timeout=60_000,
                    )
                    page.wait_for_timeout(1500)
                box = page.locator(".stavis-browser").first
                box.scroll_into_view_if_needed()
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                page.locator(".jp-Cell", has=page.locator(".stavis-browser")).first.screenshot(path=str(screenshot))
                timings["total"] = time.time() - t0
                result.timings = timings
                log(f"screenshot: {screenshot} ({timings['total']:.1f} s in all)")
                return result
            finally:
                browser.close()
    except BrowserCheckError:
        if proc is not None and (root / "jupyterlab.log").is_file():
            log("--- JupyterLab log (tail) ---\n" + (root / "jupyterlab.log").read_text()[-3000:])
        raise
    finally:
        if proc is not None:
            stop_lab(proc)
        if keep_root:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--notebook", type=Path, default=NOTEBOOK)
    p.add_argument("--screenshot", type=Path, default=REPO / "assets" / "browser.png")
    p.add_argument("--full", action="store_true", help="run the notebook with its own parameters (not SMOKE)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=JSON", help="extra papermill parameter")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds allowed for running the notebook")
    p.add_argument("--keep", action="store_true", help="keep the temporary JupyterLab root")
    p.add_argument("--frame", type=int, default=0, help="frame shown in the screenshot (after the check)")
    a = p.parse_args(argv)
    params: dict = {} if a.full else {"SMOKE": True}
    for item in a.param:
        k, _, v = item.partition("=")
        params[k] = json.loads(v)
    try:
        r = run_check(a.screenshot, a.notebook, params, a.timeout, a.keep, screenshot_frame=a.frame)
    except BrowserCheckError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    ok = r.frame_after != r.frame_before and r.cursor_after != r.cursor_before and r.image_changed and r.nss_changed
    print(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in r.__dict__.items()}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
