"""Logging set-up shared by the workflow scripts and the command line.

Progress bars are ``tqdm(..., disable=None)``: drawn only when their stream is a terminal. In a
rule's log file, where :func:`log_to_file` sends ``sys.stderr``, a bar would be thousands of
carriage-return frames; the log gets the stage's own one-line summaries instead (one line per
training epoch: loss, validation loss, learning rate, seconds).
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
