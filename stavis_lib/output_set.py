"""A set of result files that appears as a unit (``python -m stavis_lib predict --out DIR``).

:class:`OutputSet` takes a lock next to ``DIR``, lets the caller write every new file into a
private staging folder inside ``DIR``'s parent, and only then replaces the previous set in
``DIR``: the old files of the set are removed and the new ones moved in (``os.replace``, the
same file system), with Ctrl-C held back for those few renames. A run that fails or is
interrupted before that removes its staging folder and leaves the previous set as it was;
a second run on the same ``DIR`` while the first holds the lock is refused (the lock and
staging folder of a run that was killed are cleaned up by the next run). Files in ``DIR``
that are not part of the set are never touched, and an output that is the same file as an
input is refused.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from stavis_lib.errors import UserError, os_error_message

__all__ = ["OutputSet", "OutputError"]


class OutputError(UserError, RuntimeError):
    """The output folder cannot take the results (a file, read-only, full, locked, the input)."""


class OutputSet:
    """Files ``names`` in folder ``out``, replaced together.

    Use as a context manager: ``with OutputSet(out, names, option="--out") as outputs:`` write
    into ``outputs.stage / name``, then call ``outputs.commit()``. Leaving the block without
    a commit (an error, Ctrl-C) discards the staged files.
    """

    def __init__(self, out: str | os.PathLike, names: Iterable[str], option: str = "--out",
                 inputs: Iterable[str | os.PathLike] = ()) -> None:
        self.out = Path(out)
        self.names = tuple(names)
        self.option = option
        self.parent = self.out.resolve().parent
        self.lock = self.parent / f".{self.out.resolve().name}.lock"
        self.stage: Path | None = None
        self._check(inputs)

    def _check(self, inputs: Iterable[str | os.PathLike]) -> None:
        if self.out.exists() and not self.out.is_dir():
            raise OutputError(f"{self.option} {self.out}: is a file, not a folder")
        for given in inputs:
            source = Path(given)
            for name in self.names:
                target = self.out / name
                if _same_file(source, target):
                    raise OutputError(f"{self.option} {self.out}: would overwrite the input {source} with "
                                      f"{name}; choose another output folder")

    def __enter__(self) -> OutputSet:
        try:
            self.parent.mkdir(parents=True, exist_ok=True)
            self._take_lock()
        except OSError as exc:
            raise OutputError(f"{self.option} {self.out}: cannot write there ({os_error_message(exc)})") from exc
        try:
            self.stage = Path(tempfile.mkdtemp(prefix=f".{self.out.resolve().name}.", suffix=".partial",
                                               dir=self.parent))
        except OSError as exc:
            self.lock.unlink(missing_ok=True)
            raise OutputError(f"{self.option} {self.out}: cannot write there ({os_error_message(exc)})") from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.stage is not None:
            shutil.rmtree(self.stage, ignore_errors=True)
            self.stage = None
        self.lock.unlink(missing_ok=True)

    def _take_lock(self) -> None:
        """Create the lock file (exclusively); a lock left by a process that no longer runs is taken over."""
        for _ in range(2):
            try:
                fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = _lock_owner(self.lock)
                if owner is not None and _running(owner):
                    raise OutputError(f"{self.option} {self.out}: another run (process {owner}) is writing there; "
                                      f"wait for it to finish or choose another output folder") from None
                self.lock.unlink(missing_ok=True)  # stale: its process is gone, and so is its staging folder
                for stale in self.parent.glob(f".{self.out.resolve().name}.*.partial"):
                    shutil.rmtree(stale, ignore_errors=True)
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(f"{os.getpid()}\n")
            return
        raise OutputError(f"{self.option} {self.out}: cannot take the lock {self.lock}")

    def path(self, name: str) -> Path:
        """Where to write ``name`` before :meth:`commit`."""
        assert self.stage is not None, "OutputSet used outside its with-block"
        return self.stage / name

    def commit(self) -> list[Path]:
        """Replace the previous set by the staged files; returns the files now in ``out``."""
        assert self.stage is not None, "OutputSet used outside its with-block"
        written = [name for name in self.names if (self.stage / name).is_file()]
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            with _sigint_held():
                for name in self.names:  # the old set goes first: no stale file outlives the swap
                    (self.out / name).unlink(missing_ok=True)
                for name in written:
                    os.replace(self.stage / name, self.out / name)
        except OSError as exc:
            raise OutputError(f"{self.option} {self.out}: cannot write there ({os_error_message(exc)})") from exc
        return [self.out / name for name in written]


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _lock_owner(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip() or "0") or None
    except (OSError, ValueError):
        return None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Defer Ctrl-C (SIGINT) until the block is done (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
