"""The one progress protocol: ``progress(stage, done, total)``.

Library functions that take long accept ``progress`` (a :data:`Progress` or ``None``) and call it
as work advances; they never draw anything. The CLI renders the calls with rich progress bars
(one bar per ``stage``). ``total`` is ``None`` while unknown.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress", "report"]

#: ``progress(stage, done, total)``: ``stage`` names the step (``"fit"``, ``"score"``, ...).
Progress = Callable[[str, int, "int | None"], None]


def report(progress: Progress | None, stage: str, done: int, total: int | None) -> None:
    """Call ``progress(stage, done, total)`` when a callback was given.

    Parameters
    ----------
    progress : callable or None
        The caller's callback.
    stage : str
        The step that advanced.
    done : int
        Units done so far.
    total : int or None
        Units in all (``None`` while unknown).
    """
    if progress is not None:
        progress(stage, done, total)
