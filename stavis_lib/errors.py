"""The one exception type for bad input, shared by every layer.

``UserError`` means "the user gave something we cannot use" (a file, an option, a
checkpoint, a data folder) as opposed to a bug. Its message is one line that names the
file or option and says what is wrong. The command line (``python -m stavis_lib``)
prints such an error as ``error: <message>`` and exits with status 2; any other
exception is a bug and keeps its traceback. ``--debug`` shows the traceback of a
``UserError`` too.

Module-specific errors (``MediaError``, ``LayoutError``, ...) subclass it, so library
callers can catch either the specific type or ``UserError``.
"""
from __future__ import annotations

import os


class UserError(Exception):
    """Bad input (file, option, checkpoint, data): one line naming what is wrong."""


def os_error_message(exc: OSError) -> str:
    """One line for an ``OSError`` about a file: ``cannot <what> PATH: <reason>``."""
    reason = exc.strerror or str(exc)
    name = exc.filename
    if name is None:
        return reason
    other = f" -> {exc.filename2}" if exc.filename2 else ""
    return f"{os.fspath(name)}{other}: {reason}"
