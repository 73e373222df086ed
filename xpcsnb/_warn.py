"""Warnings that point at the user's code: :func:`warn` sets the stack level to the first
frame outside the xpcsnb package, so a warning names the user's line (a notebook cell or
a script), never a line inside xpcsnb, however deep in the package it is raised.

Bottom floor: imports nothing from xpcsnb; every module may use it.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

__all__ = ["warn"]

#: Folder of the package; frames whose file lies below it are skipped.
_PACKAGE = str(Path(__file__).resolve().parent)


def _inside(filename: str) -> bool:
    try:
        return str(Path(filename).resolve()).startswith(_PACKAGE)
    except (OSError, ValueError):  # pragma: no cover - odd pseudo-files such as "<stdin>"
        return False


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """Issue ``warnings.warn(message, category)`` attributed to the first caller outside xpcsnb.

    Parameters
    ----------
    message : str
        What is wrong and what to do (how to fix or silence it).
    category : type of Warning
        The warning class (``UserWarning``, ``DeprecationWarning``, ``UnitsWarning``, ...).
    """
    level = 2  # 1 is this function, 2 its caller
    frame = sys._getframe(1)
    while frame is not None and _inside(frame.f_code.co_filename):
        frame = frame.f_back
        level += 1
    if frame is None:  # called from inside xpcsnb only (e.g. a worker thread): blame the caller
        level = 2
    warnings.warn(message, category, stacklevel=level)
