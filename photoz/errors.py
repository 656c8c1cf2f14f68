"""Exception hierarchy of photoz, modelled on ``galsim/errors.py``.

Messages say what was wrong, where (file, row, key) and what to do about it.
"""


class PhotozError(RuntimeError):
    """Base class of every error photoz raises on purpose."""


class PhotozConfigError(PhotozError, ValueError):
    """A configuration value is missing, of the wrong type or out of range.

    The message names the key (e.g. ``simulate.stamp_size``).
    """


class PhotozDataError(PhotozError, ValueError):
    """An input file is missing, unreadable, truncated or holds unusable values.

    The message names the file and, where known, the column and row.
    """
