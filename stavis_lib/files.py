"""Small file utilities shared by every layer: content digests and atomic writes.

``sha256_file`` reads in 1 MiB chunks, so multi-gigabyte archives and weight files are
hashed without loading them into memory. ``atomic_write`` lets any writer produce a file
that appears whole or not at all.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks of ``chunk`` bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` to a temporary file beside ``path``, then ``os.replace(tmp, path)``.

    A reader never sees a half-written file, and an interrupted or failing write leaves the
    old one in place (the temporary is removed). The parent folders are created; the
    temporary is created before ``write`` runs, so an unwritable destination fails at once
    (an ``OSError`` naming the folder) rather than after a long computation.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # "NAME.<random>.tmp<suffix>": writers that check the suffix (torch.export.save) accept it
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
