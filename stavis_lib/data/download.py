"""Fetch the official STAViS release when online: resumable downloads, sha256, safe extraction.

The official ``fetch_data.sh`` (github.com/atsiami/STAViS) downloads, from
``http://cvsp.cs.ntua.gr/research/stavis/data``:

* ``video_frames/<DB>.tar.gz``, ``video_audio/<DB>.tar.gz``, ``annotations/<DB>.tar.gz``
  for DB in AVAD, Coutrot_db1, Coutrot_db2, DIEM, ETMD_av, SumMe, each unpacked into the
  folder of the same name;
* ``fold_lists.tar.gz`` (the official train/test lists of every split) and
  ``pretrained_models.tar.gz``, unpacked into the data root; the latter gives
  ``pretrained_models/stavis_visual_only/visual_split{1,2,3}_save_60.pth``,
  ``pretrained_models/stavis_audiovisual/audiovisual_split{1,2,3}_save_60.pth``,
  ``resnet-50-kinetics.pth`` and ``soundnet8.pth``.

The lab publishes no checksums: :func:`download` records the sha256 of what it fetched in a
``<file>.sha256`` sidecar and checks any expected digest it is given. Archives are unpacked
with :func:`extract_archive`, which refuses members that would land outside the target
(``..``, absolute paths, links pointing out, device files) using ``tarfile``'s
``filter="data"`` plus an explicit path check (also for zip files).
"""
from __future__ import annotations

import os
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from stavis_lib.errors import UserError
from stavis_lib.files import sha256_file

__all__ = [
    "RELEASE_BASE_URL",
    "RELEASE_DATABASES",
    "ReleaseArchive",
    "release_archives",
    "DownloadError",
    "UnsafeArchiveError",
    "download",
    "extract_archive",
    "fetch_release",
    "main",
]

RELEASE_BASE_URL = "http://cvsp.cs.ntua.gr/research/stavis/data"
"""The official data server (project page http://cvsp.cs.ntua.gr/research/stavis/)."""

RELEASE_DATABASES = ("AVAD", "Coutrot_db1", "Coutrot_db2", "DIEM", "ETMD_av", "SumMe")


@dataclass(frozen=True)
class ReleaseArchive:
    """One archive of the release: its URL and the folder (relative to the data root) it unpacks into."""

    name: str
    url: str
    extract_to: str
    sha256: str | None = None


def release_archives(databases: Iterable[str] = RELEASE_DATABASES, frames: bool = True, audio: bool = True,
                     annotations: bool = True, fold_lists: bool = True,
                     pretrained: bool = True) -> list[ReleaseArchive]:
    """The archives of ``fetch_data.sh`` (no network access)."""
    out: list[ReleaseArchive] = []
    for folder, wanted in (("video_frames", frames), ("video_audio", audio), ("annotations", annotations)):
        if wanted:
            for db in databases:
                if db not in RELEASE_DATABASES:
                    raise ValueError(f"unknown database {db!r}; expected one of {RELEASE_DATABASES}")
                out.append(ReleaseArchive(f"{folder}/{db}", f"{RELEASE_BASE_URL}/{folder}/{db}.tar.gz", folder))
    if fold_lists:
        out.append(ReleaseArchive("fold_lists", f"{RELEASE_BASE_URL}/fold_lists.tar.gz", "."))
    if pretrained:
        out.append(ReleaseArchive("pretrained_models", f"{RELEASE_BASE_URL}/pretrained_models.tar.gz", "."))
    return out


class DownloadError(UserError, RuntimeError):
    """A download failed or its checksum does not match; the message names the URL/file."""


class UnsafeArchiveError(UserError, RuntimeError):
    """An archive member would be written outside the target folder (or is a device/odd file)."""


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, progress: bool = True,
             timeout: float = 60.0, chunk: int = 1 << 16) -> Path:
    """Download ``url`` to ``dest``, resuming a partial ``dest.part`` with an HTTP Range request.

    * A complete ``dest`` whose sidecar ``dest.sha256`` matches (and matches ``sha256`` if
      given) is not fetched again.
    * The server may ignore the Range header (status 200): the download restarts cleanly.
    * On success the file's sha256 is written to ``dest.sha256``; if ``sha256`` is given and
      differs, the data is deleted and :class:`DownloadError` is raised.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    side = _sidecar(dest)
    expected = sha256.lower() if sha256 else None
    if dest.is_file():
        recorded = side.read_text().split()[0] if side.is_file() else None
        actual = recorded if recorded is not None else sha256_file(dest)
        if expected is None or actual == expected:
            if recorded is None:
                side.write_text(f"{actual}  {dest.name}\n")
            return dest
        dest.unlink()  # stale or corrupt: fetch again
    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "stavis-downloader"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # range not satisfiable: the part file is already complete
            response = None
        else:
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"{url}: cannot connect ({exc})") from exc
    if response is not None:
        with response:
            status = getattr(response, "status", 200)
            if offset and status != 206:
                offset = 0  # the server sent the whole file
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length is not None else None
            bar = None
            if progress:
                from stavis_lib.progress import progress_bar

                bar = progress_bar(total=total, initial=offset, unit="B", unit_scale=True, desc=dest.name)
            try:
                with open(part, "ab" if offset else "wb") as fh:
                    while True:
                        try:
                            block = response.read(chunk)
                        except OSError as exc:
                            raise DownloadError(f"{url}: connection lost after {fh.tell()} bytes "
                                                f"(run again to resume from {part})") from exc
                        if not block:
                            break
                        fh.write(block)
                        if bar is not None:
                            bar.update(len(block))
            finally:
                if bar is not None:
                    bar.close()
            if total is not None and part.stat().st_size < total:
                raise DownloadError(f"{url}: incomplete download ({part.stat().st_size} of {total} bytes; "
                                    f"run again to resume from {part})")
    actual = sha256_file(part)
    if expected is not None and actual != expected:
        part.unlink()
        raise DownloadError(f"{url}: sha256 mismatch for {dest}: expected {expected}, got {actual}")
    os.replace(part, dest)
    side.write_text(f"{actual}  {dest.name}\n")
    return dest


def _inside(target: Path, name: str) -> bool:
    resolved = (target / name).resolve()
    return resolved == target or target in resolved.parents


def extract_archive(path: str | os.PathLike, target: str | os.PathLike) -> list[str]:
    """Unpack a tar (any compression) or zip archive into ``target``; returns the member names.

    Every member is checked before anything is written: names must stay inside
    ``target`` (no absolute paths, no ``..``), links must point inside it, and only
    regular files, folders and such links are allowed. Tar extraction additionally uses
    ``filter="data"`` (Python's safe extraction filter). Violations raise
    :class:`UnsafeArchiveError` naming the archive and the member.
    """
    archive = Path(path)
    dest = Path(target)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            for name in names:
                if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or not _inside(root, name):
                    raise UnsafeArchiveError(f"{archive}: member {name!r} would be written outside {dest}")
            zf.extractall(root)
        return names
    try:
        tf = tarfile.open(archive)
    except tarfile.TarError as exc:
        raise UnsafeArchiveError(f"{archive}: not a tar or zip archive ({exc})") from exc
    with tf:
        members = tf.getmembers()
        for m in members:
            if m.name.startswith("/") or not _inside(root, m.name):
                raise UnsafeArchiveError(f"{archive}: member {m.name!r} would be written outside {dest}")
            if m.issym():
                link_target = os.path.join(os.path.dirname(m.name), m.linkname)
                if os.path.isabs(m.linkname) or not _inside(root, link_target):
                    raise UnsafeArchiveError(f"{archive}: symlink {m.name!r} -> {m.linkname!r} points outside {dest}")
            elif m.islnk():
                if os.path.isabs(m.linkname) or not _inside(root, m.linkname):
                    raise UnsafeArchiveError(f"{archive}: hard link {m.name!r} -> {m.linkname!r} points outside {dest}")
            elif not (m.isfile() or m.isdir()):
                raise UnsafeArchiveError(f"{archive}: member {m.name!r} is not a regular file, folder or link")
        try:
            tf.extractall(root, filter="data")
        except tarfile.FilterError as exc:
            raise UnsafeArchiveError(f"{archive}: refused by the tar data filter ({exc})") from exc
        return [m.name for m in members]


def fetch_release(root: str | os.PathLike, archives: Iterable[ReleaseArchive] | None = None,
                  keep_archives: bool = False, progress: bool = True) -> Path:
    """Download and unpack release archives into ``root`` (the layout of :mod:`stavis_lib.data.layout`).

    Archives are saved under ``root/.downloads`` (resumable), unpacked, then deleted unless
    ``keep_archives``. An archive already unpacked (marker file) is skipped.
    """
    root = Path(root)
    downloads = root / ".downloads"
    for arch in archives if archives is not None else release_archives():
        marker = downloads / (arch.name.replace("/", "__") + ".done")
        if marker.is_file():
            continue
        file = downloads / (arch.name.replace("/", "__") + ".tar.gz")
        download(arch.url, file, arch.sha256, progress=progress)
        extract_archive(file, root / arch.extract_to)
        marker.write_text(file.with_name(file.name + ".sha256").read_text())
        if not keep_archives:
            file.unlink()
    if downloads.is_dir() and not any(downloads.glob("*.part")) and not keep_archives:
        for p in downloads.glob("*.sha256"):
            p.unlink()
    return root
