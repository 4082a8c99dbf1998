"""The videos of a corpus run and the folder each one's results go to.

``python -m stavis_lib predict`` and :func:`~stavis_lib.inference.corpus.predict_corpus` take
any mix of

* video files (any format ffmpeg reads; they are not opened here),
* folders: the files directly inside whose suffix is in :data:`VIDEO_SUFFIXES`, sorted by name,
* glob patterns (``"clips/*.mp4"``, ``"data/**/*.avi"``; ``**`` crosses folders), sorted,
* text lists (suffix in :data:`LIST_SUFFIXES`): one video, folder or glob per line; blank lines and
  lines starting with ``#`` are ignored; relative paths are relative to the list's folder.

:func:`expand_inputs` turns them into one list of absolute paths, in the order given, each video
once. :func:`output_names` names each video's output folder after the video's file name (its
stem); videos whose stems collide (``a/clip.mp4`` and ``b/clip.mp4``, or ``clip.mp4`` and
``Clip.avi`` on a case-insensitive file system) get ``<stem>-<8 hex digits of sha1(absolute
path)>`` instead, which depends on nothing but the path, so every process and every later run
gives a video the same folder as long as its stem stays ambiguous in the list.
"""
from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from stavis_lib.errors import UserError

#: suffixes (lower case) of the files a folder contributes
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".flv",
                            ".wmv", ".ogv", ".3gp", ".ts", ".mts"})
#: suffixes (lower case) of a text list of videos
LIST_SUFFIXES = frozenset({".txt", ".lst", ".list"})
_GLOB_MAGIC = frozenset("*?[")


class CorpusInputError(UserError, ValueError):
    """A video, folder, glob or list of a corpus run names nothing usable."""


def is_corpus(items: Sequence[str | os.PathLike]) -> bool:
    """Whether ``items`` ask for a corpus run (one output folder per video) rather than the
    single-video run (the results straight into ``--out``): several items, a folder, a list, or
    a glob pattern that is not itself the name of a file."""
    if len(items) != 1:
        return True
    path = Path(items[0])
    if path.is_dir() or (path.is_file() and path.suffix.lower() in LIST_SUFFIXES):
        return True
    return not path.exists() and _is_glob(str(items[0]))


def expand_inputs(items: Iterable[str | os.PathLike]) -> list[Path]:
    """The videos that ``items`` name, as absolute paths, in order, each once (see the module doc).

    Raises ``CorpusInputError`` (one line naming the item) for a path that does not exist, a glob
    that matches nothing, a folder without videos, or when nothing is left.
    """
    videos: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            videos += _read_list(path)
        else:
            videos += _expand_one(str(item), where=str(item))
    unique = list(dict.fromkeys(videos))
    if not unique:
        raise CorpusInputError("predict: no videos given")
    return unique


def _expand_one(item: str, where: str, base: Path | None = None) -> list[Path]:
    """The videos of one item that is not a list: a file, a folder or a glob."""
    path = Path(item).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    if path.is_file():
        return [path.resolve()]
    if path.is_dir():
        found = sorted(p.resolve() for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        if not found:
            raise CorpusInputError(f"{where}: no video files in this folder (suffixes "
                                   f"{', '.join(sorted(VIDEO_SUFFIXES))})")
        return found
    if _is_glob(item):
        matched = sorted(Path(p).resolve() for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        if not matched:
            raise CorpusInputError(f"{where}: no file matches this pattern")
        return matched
    raise CorpusInputError(f"{where}: no such file or folder")


def _read_list(path: Path) -> list[Path]:
    """The videos of a text list, one video, folder or glob per line (lists do not nest)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise CorpusInputError(f"{path}: not a UTF-8 text list of videos ({exc.reason})") from None
    videos: list[Path] = []
    for number, line in enumerate(lines, start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        where = f"{path} line {number}: {entry}"
        if Path(entry).suffix.lower() in LIST_SUFFIXES:
            raise CorpusInputError(f"{where}: a list inside a list (lists do not nest)")
        videos += _expand_one(entry, where=where, base=path.parent)
    if not videos:
        raise CorpusInputError(f"{path}: the list names no videos")
    return videos


def _is_glob(text: str) -> bool:
    return any(c in _GLOB_MAGIC for c in text)


def output_names(videos: Sequence[Path]) -> list[str]:
    """One output folder name per video (see the module doc): the stem, or ``stem-<hash>`` when
    stems collide (case-insensitively) or the stem could be taken for a manifest file."""
    counts: dict[str, int] = {}
    for video in videos:
        counts[video.stem.casefold()] = counts.get(video.stem.casefold(), 0) + 1
    names = []
    for video in videos:
        key = video.stem.casefold()
        reserved = key.startswith("manifest") and key.endswith(".csv")
        if counts[key] > 1 or reserved or not video.stem.strip("."):
            digest = hashlib.sha1(str(video).encode("utf-8")).hexdigest()[:8]
            names.append(f"{video.stem}-{digest}")
        else:
            names.append(video.stem)
    return names
