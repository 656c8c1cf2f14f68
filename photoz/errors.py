"""Exception hierarchy of photoz, modelled on ``galsim/errors.py``, and the checks that raise them.

Messages say what was wrong, where (file, row, key) and what to do about it.

The argument checks of the public numerical functions (:mod:`photoz.mixture`,
:mod:`photoz.evaluate.metrics`, :mod:`photoz.evaluate.pdfscores`, :mod:`photoz.train.features`,
:mod:`photoz.train.heads`, the photometry) are the few helpers below, each raising
:class:`PhotozValueError` naming the argument, as GalSim's ``GalSimValueError`` and
``GalSimRangeError`` do: :func:`float_array`, :func:`check_array`, :func:`check_number`,
:func:`check_choice`, :func:`check_seed`. They only look at the values: an array a check accepts
is returned as ``np.asarray`` gives it (no copy, no change of dtype), so the arithmetic of a valid
call is exactly what it was without the check.
"""

import math
from collections.abc import Sequence

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


def _bound(value: float, low, high, low_open: bool, high_open: bool) -> bool:
    """Whether ``value`` (float or array) lies within the bounds (None: unbounded)."""
    ok = np.ones(np.shape(value), dtype=bool)
    if low is not None:
        ok &= (value > low) if low_open else (value >= low)
    if high is not None:
        ok &= (value < high) if high_open else (value <= high)
    return ok


def _range_text(low, high, low_open: bool, high_open: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return " and ".join(parts)


def check_array(name: str, value, shape: Sequence[int | None] | None = None,
                finite: bool = True, allow_nan: bool = False, low: float | None = None,
                high: float | None = None, low_open: bool = False,
                high_open: bool = False) -> np.ndarray:
    """``np.asarray(value)``, checked: numbers, a shape, finite, within bounds.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : array-like
    shape : sequence of int or None, optional
        The required shape; ``None`` entries match any length (``(None, 7)``: any rows, 7
        columns). Default: any shape.
    finite : bool
        Refuse +-inf and NaN (NaN allowed with ``allow_nan``: "not measured").
    allow_nan : bool
        Accept NaN (bounds then apply to the other values).
    low, high : float, optional
        Bounds on every (non-NaN) value; ``low_open`` / ``high_open`` make them strict.

    Returns
    -------
    ndarray
        ``np.asarray(value)``: the same object for an ndarray, so a valid call computes exactly
        what it computed without the check.

    Raises
    ------
    PhotozValueError
        Naming ``name``: not numbers (strings, None, ragged lists, complex), another shape, a
        value that is not finite or out of the bounds.
    """
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise PhotozValueError(name, f"must be an array of numbers ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise PhotozValueError(name, "must be an array of numbers", str(arr.dtype))
    if shape is not None:
        want = tuple(shape)
        if arr.ndim != len(want) or any(w is not None and w != s
                                        for w, s in zip(want, arr.shape, strict=True)):
            text = "(" + ", ".join("n" if w is None else str(w) for w in want) + \
                ("," if len(want) == 1 else "") + ")"
            raise PhotozValueError(name, f"must have shape {text}", arr.shape)
    if arr.dtype.kind == "f":
        nan = np.isnan(arr)
        if finite and np.any(np.isinf(arr)):
            raise PhotozValueError(name, "must be finite; holds +-inf")
        if finite and not allow_nan and np.any(nan):
            raise PhotozValueError(name, "must be finite; holds NaN")
        values = arr[~nan] if np.any(nan) else arr
    else:
        values = arr
    if (low is not None or high is not None) and values.size:
        with np.errstate(invalid="ignore"):
            ok = _bound(values, low, high, low_open, high_open)
        if not np.all(ok):
            bad = values.ravel()[int(np.flatnonzero(~ok.ravel())[0])]
            raise PhotozValueError(name, "values must be "
                                   + _range_text(low, high, low_open, high_open), bad.item())
    return arr


def check_number(name: str, value, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, integer: bool = False):
    """A finite real number (or an integer) within bounds, as ``float`` (or ``int``).

    Strings are not numbers here, even ``"1.5"`` (YAML reads ``1.0e9`` as a string), nor are
    booleans.

    Raises
    ------
    PhotozValueError
        Naming ``name``: not a number, not finite, not an integer (``integer``), out of bounds.
    """
    kind = "an integer" if integer else "a number"
    if isinstance(value, (str, bytes, bool, np.bool_)) or value is None:
        raise PhotozValueError(name, f"must be {kind}", value)
    if integer:
        if not isinstance(value, (int, np.integer)):
            raise PhotozValueError(name, "must be an integer", value)
        out = int(value)
    else:
        try:
            out = float(value)
        except (TypeError, ValueError):
            raise PhotozValueError(name, "must be a number", value) from None
        if not math.isfinite(out):
            raise PhotozValueError(name, "must be a finite number", out)
    if not _bound(out, low, high, low_open, high_open):
        raise PhotozValueError(name, f"must be {kind} "
                               + _range_text(low, high, low_open, high_open), out)
    return out


def check_choice(name: str, value, choices: Sequence):
    """``value`` if it is one of ``choices`` (compared exactly: ``"PDF"`` is not ``"pdf"``).

    Raises
    ------
    PhotozValueError
        Naming ``name`` and the choices.
    """
    if isinstance(value, str) or np.isscalar(value) or value is None:
        if any(isinstance(value, type(c)) and value == c for c in choices):
            return value
    raise PhotozValueError(name, f"must be one of {list(choices)}", value)


def check_seed(name: str, value):
    """A seed for ``numpy.random.default_rng``: an integer >= 0 or a ``numpy.random.Generator``.

    Raises
    ------
    PhotozValueError
        Naming ``name``.
    """
    if isinstance(value, np.random.Generator):
        return value
    return check_number(name, value, low=0, integer=True)
