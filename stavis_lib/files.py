"""Small file utilities shared by every layer: content digests.

``sha256_file`` reads in 1 MiB chunks, so multi-gigabyte archives and weight files are
hashed without loading them into memory.
"""
from __future__ import annotations

import hashlib
import os


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks of ``chunk`` bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
