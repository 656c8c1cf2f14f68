"""Logging set-up shared by the workflow scripts and the command line, and progress bars.

Progress bars (:func:`progress`) are drawn only on a terminal: in a rule's log file, where
:func:`log_to_file` sends ``sys.stderr``, a tqdm bar would be thousands of carriage-return
frames; the log gets the stage's own one-line summaries instead (one line per training epoch:
loss, validation loss, learning rate, seconds).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def log_to_file(path: str | Path, level: int = logging.INFO):
    """Send ``logging`` records and ``sys.stderr`` (warnings, tracebacks) to ``path``.

    Used by every workflow script so that each rule has one log file (``log:`` in the rule).

    Parameters
    ----------
    path : str or Path
        The rule's log file; its directory is created if needed.

    Returns
    -------
    file object
        The open log file (kept open for the life of the process).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "w", buffering=1)  # noqa: SIM115 - lives as long as the job
    sys.stderr = stream
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=stream,
        force=True,
    )
    logging.captureWarnings(True)
    return stream


def on_terminal(stream=None) -> bool:
    """Whether ``stream`` (default: the current ``sys.stderr``) is an open terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed file
        return False


def progress(iterable=None, *, disable: bool = False, **kwargs):
    """A ``tqdm`` progress bar that is drawn only when its stream is a terminal.

    Takes ``tqdm``'s arguments; ``file`` defaults to ``sys.stderr`` as it is at the call (a
    rule's log file after :func:`log_to_file`, where the bar is then silent). A disabled bar
    still iterates, counts (``update``) and closes, so callers need no second code path.

    Parameters
    ----------
    iterable : iterable, optional
    disable : bool
        Disable the bar even on a terminal.

    Returns
    -------
    tqdm.tqdm
    """
    from tqdm import tqdm

    file = kwargs.pop("file", None) or sys.stderr
    return tqdm(iterable, disable=disable or not on_terminal(file), file=file, **kwargs)
