"""Exception hierarchy of photoz, modelled on ``galsim/errors.py``, and the checks that raise them.

Messages say what was wrong, where (file, row, key) and what to do about it.
"""

import numpy as np


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


class PhotozValueError(PhotozError, ValueError):
    """An argument of a public function has the wrong shape or a value out of its range.

    Modelled on ``galsim.GalSimValueError`` / ``GalSimRangeError``: the message starts with the
    argument's name, then says what it must be and what it was, e.g.
    ``detection_threshold: must be a finite number > 0, got nan``.

    Parameters
    ----------
    argument : str
        The argument's name as the function's signature spells it.
    requirement : str
        What a valid value is (``"must be a finite number > 0"``).
    value : object, optional
        The value given; shown with ``repr`` (arrays by their shape where ``shape`` is given).
    """

    def __init__(self, argument: str, requirement: str, value: object = None):
        self.argument, self.requirement, self.value = argument, requirement, value
        got = "" if value is None else f", got {value!r}"
        super().__init__(f"{argument}: {requirement}{got}")

    def __reduce__(self):
        return type(self), (self.argument, self.requirement, self.value)


def float_array(name: str, value) -> np.ndarray:
    """``np.asarray(value, dtype=float)``, raising :class:`PhotozValueError` naming ``name``.

    Raises
    ------
    PhotozValueError
        If ``value`` is not numeric (strings, ragged lists, objects).
    """
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise PhotozValueError(name, f"must be an array of numbers ({exc})") from None
