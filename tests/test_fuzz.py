"""Fuzzing the public measurement functions (issue 15), 1,000 generated cases per function.

The contract: every input gives either a typed :class:`photoz.errors.PhotozValueError` naming
an argument that the specification below calls invalid, or a result that is finite where it
must be (for :func:`measure_stamps`, every row it did not flag). An untyped exception fails the
test (hypothesis shows the input); so does an invalid argument that is accepted, and a valid one
that is rejected. The specification of "invalid" is written here, independently of the
functions' own checks:

- ``flux_features``: ``flux`` not of shape (n, 7) or holding +-inf; ``flux_err`` not of that
  shape, negative or +-inf; ``limiting_flux`` not of shape (7,), or not finite and > 0. NaN
  fluxes and errors (not measured) are valid.
- ``aperture_fluxes``: ``images`` not 4-D with H, W >= 1, or a pixel not finite in float32; an
  ellipse parameter not a number or of shape (n,), or not finite; |x|, |y| > 1e8; b <= 0;
  a < b; |theta| > pi/2 (+1e-6); r <= 0 or r a > 1e8.
- ``measure_stamps``: ``images`` not of shape (n, 7, H, W) with H, W >= 1; ``noise_sigma`` not
  of shape (n, 7) or (7,); ``kron_factor`` not a finite number in (0, 1e6];
  ``detection_bands`` not a non-empty list of CSST band names; ``detection_threshold`` not a
  finite number > 0; ``fallback_sigma`` given but not of shape (7,), finite and > 0. Bad stamps
  (non-finite pixels, bad noise_sigma, nothing detected) are valid input and must be flagged.

Settings are fixed (``derandomize=True``, no example database) so CI sees the same cases.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from photoz import BANDS
from photoz.errors import PhotozValueError
from photoz.photometry.kron import aperture_fluxes, measure_stamps
from photoz.train.features import N_FEATURES, flux_features

FUZZ = settings(max_examples=1000, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck), print_blob=False)

NB = len(BANDS)
#: Values that break numerical code: zeros, signs, NaN, infinities, beyond float32, tiny, huge.
SPECIAL = [0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-300, 3.4e38, 1e39,
           -1e39, 1e8, 1e15]
NOT_ARRAYS = ["abc", None, [[1.0, 2.0], [3.0]], {"a": 1}]



@st.composite
def float_arrays(draw, shape, low: float, high: float):
    """A float64 array of ``shape``: values uniform in [low, high) from a drawn seed (fast to
    generate, unlike element-wise strategies), then up to three drawn :data:`SPECIAL` values."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    arr = rng.uniform(low, high, shape)
    if draw(st.booleans()):
        arr = np.round(arr)  # exact zeros and small integers
    for _ in range(draw(st.integers(0, 3))):
        if arr.size:
            arr.flat[draw(st.integers(0, arr.size - 1))] = draw(st.sampled_from(SPECIAL))
    return arr


def _as_float(value):
    """``np.asarray(value, float)``, or None where that is impossible (not numeric)."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None


def _outcome(call, invalid: set[str]):
    """Run ``call``; check a PhotozValueError names an invalid argument, or that none was invalid.

    Returns the result, or None when the call (rightly) raised.
    """
    try:
        result = call()
    except PhotozValueError as exc:
        assert invalid, f"valid arguments rejected: {exc}"
        assert exc.argument in invalid, f"error names {exc.argument!r}, invalid were {invalid}: {exc}"
        assert str(exc).startswith(exc.argument)
        return None
    assert not invalid, f"invalid argument(s) {sorted(invalid)} silently accepted"
    return result


def _maybe_not_array(draw, value):
    """Now and then replace an argument by something that is not an array of numbers."""
    return draw(st.sampled_from(NOT_ARRAYS)) if draw(st.integers(0, 30)) == 0 else value


# --------------------------------------------------------------------------------------------
# flux_features
# --------------------------------------------------------------------------------------------
def _flux_shape(draw, n):
    return draw(st.sampled_from([(n, NB)] * 6 + [(NB,), (n, NB - 1), (n, NB, 1), (), (n, NB + 1)]))


@st.composite
def feature_args(draw):
    n = draw(st.integers(0, 4))
    flux = draw(float_arrays(_flux_shape(draw, n), -1e4, 1e5))
    err_shape = (n, NB) if draw(st.integers(0, 5)) else _flux_shape(draw, n)
    flux_err = draw(float_arrays(err_shape, 0.0, 1e3))
    lim_shape = draw(st.sampled_from([(NB,)] * 6 + [(), (1,), (NB - 1,), (1, NB)]))
    lim = draw(float_arrays(lim_shape, 1e-3, 1e6))
    return (_maybe_not_array(draw, flux), _maybe_not_array(draw, flux_err),
            _maybe_not_array(draw, lim))


def _invalid_feature_args(flux, flux_err, lim) -> set[str]:
    bad = set()
    f, e, ell = _as_float(flux), _as_float(flux_err), _as_float(lim)
    if f is None or f.ndim != 2 or f.shape[1] != NB or np.isinf(f).any():
        bad.add("flux")
    if e is None or f is None or e.shape != f.shape or e.ndim != 2 or e.shape[1] != NB \
            or np.isinf(e).any() or (e < 0).any():
        bad.add("flux_err")
    if ell is None or ell.shape != (NB,) or not (np.isfinite(ell) & (ell > 0)).all():
        bad.add("limiting_flux")
    return bad


@FUZZ
@given(feature_args())
def test_fuzz_flux_features(args):
    flux, flux_err, lim = args
    out = _outcome(lambda: flux_features(flux, flux_err, lim), _invalid_feature_args(*args))
    if out is not None:
        assert out.shape == (np.asarray(flux).shape[0], N_FEATURES) and out.dtype == np.float32
        assert np.isfinite(out).all()


# --------------------------------------------------------------------------------------------
# Stamps shared by aperture_fluxes and measure_stamps
# --------------------------------------------------------------------------------------------
@st.composite
def stamp_stack(draw, n, bands, h, w):
    """Stamps (n, bands, h, w): a Gaussian galaxy plus noise from a drawn seed, then a few
    pixels replaced by :data:`SPECIAL` values, in float32 or float64."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    amp = draw(st.one_of(st.sampled_from([0.0, 50.0, 1e3, 1e5, 1e35, 1e300, -1e3]),
                         st.floats(0, 1e4)))
    sigma = draw(st.sampled_from([0.0, 1.0, 10.0]))
    radius = draw(st.floats(0.5, 6.0))
    yy, xx = np.mgrid[:h, :w]
    blob = np.exp(-((xx - (w - 1) / 2) ** 2 + (yy - (h - 1) / 2) ** 2) / (2 * radius**2))
    with np.errstate(over="ignore", invalid="ignore"):
        img = (amp * blob[None, None] * rng.uniform(0.2, 1.0, (n, bands, 1, 1))
               + sigma * rng.standard_normal((n, bands, h, w)))
        for _ in range(draw(st.integers(0, 3))):
            if img.size:
                img.flat[draw(st.integers(0, img.size - 1))] = draw(st.sampled_from(SPECIAL))
        return img.astype(draw(st.sampled_from([np.float32, np.float64])))


def _float32_finite(images) -> bool:
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.asarray(images, dtype=np.float32)).all())


# --------------------------------------------------------------------------------------------
# aperture_fluxes
# --------------------------------------------------------------------------------------------
SIDES = [1, 2, 5, 8, 16, 24]


@st.composite
def aperture_args(draw):
    n = draw(st.integers(0, 3))
    nb = draw(st.sampled_from([NB, NB, 1, 3]))
    h, w = draw(st.sampled_from(SIDES)), draw(st.sampled_from(SIDES))
    images = draw(stamp_stack(n, nb, h, w))
    if draw(st.integers(0, 15)) == 0:
        images = draw(st.sampled_from([images[0] if n else np.zeros((7, 4, 4)),
                                       np.zeros((n, nb, 0, w)), "stamps"]))
    ranges = {"x": (-3, w + 3), "y": (-3, h + 3), "a": (0.5, 8), "b": (0.1, 0.5),
              "theta": (-np.pi / 2 - 0.5, np.pi / 2 + 0.5), "r": (0.05, 6)}
    params = {}
    for name, (low, high) in ranges.items():
        shape = draw(st.sampled_from([(n,), (n,), (n,), (), (1,), (n + 1,), (n, 1)]))
        params[name] = _maybe_not_array(draw, draw(float_arrays(shape, low, high)))
    return images, params


def _invalid_aperture_args(images, p) -> set[str]:
    bad = set()
    arr = np.asarray(images) if not isinstance(images, str) else None
    if arr is None or arr.ndim != 4 or 0 in arr.shape[1:] or not _float32_finite(arr):
        bad.add("images")
        n = arr.shape[0] if arr is not None and arr.ndim else 0
    else:
        n = arr.shape[0]
    v = {}
    for name, value in p.items():
        a = _as_float(value)
        if a is None or a.shape not in ((), (1,), (n,)) or not np.isfinite(a).all():
            bad.add(name)
        else:
            v[name] = np.broadcast_to(a.reshape(-1) if a.ndim else a, (n,))
    for name in ("x", "y"):
        if name in v and (np.abs(v[name]) > 1e8).any():
            bad.add(name)
    if "b" in v and (v["b"] <= 0).any():
        bad.add("b")
    if "a" in v and "b" in v and (v["a"] < v["b"]).any():
        bad.add("a")
    if "theta" in v and (np.abs(v["theta"]) > np.pi / 2 + 1e-6).any():
        bad.add("theta")
    with np.errstate(over="ignore"):
        if "r" in v and ((v["r"] <= 0).any() or ("a" in v and (v["r"] * v["a"] > 1e8).any())):
            bad.add("r")
    return bad


@FUZZ
@given(aperture_args())
def test_fuzz_aperture_fluxes(args):
    images, p = args
    invalid = _invalid_aperture_args(images, p)
    out = _outcome(lambda: aperture_fluxes(images, **p), invalid)
    if out is not None:
        flux, npix = out
        n, nb, h, w = np.shape(images)
        assert flux.shape == (n, nb) and npix.shape == (n,)
        assert np.isfinite(flux).all() and np.isfinite(npix).all()
        # An aperture holds at most the whole stamp: its area and its absolute sum are bounded.
        assert ((npix >= 0) & (npix <= h * w * (1 + 1e-9))).all()
        total = np.abs(np.asarray(images, dtype=np.float32).astype(float)).sum(axis=(2, 3))
        assert (np.abs(flux) <= total * (1 + 1e-5) + 1e-6).all()


# --------------------------------------------------------------------------------------------
# measure_stamps
# --------------------------------------------------------------------------------------------
@st.composite
def stamp_args(draw):
    n = draw(st.integers(0, 3))
    h = w = draw(st.sampled_from([2, 8, 16, 24, 32, 33]))
    nb = NB if draw(st.integers(0, 15)) else draw(st.sampled_from([NB - 1, 1]))
    images = draw(stamp_stack(n, nb, h, w))
    if draw(st.integers(0, 20)) == 0:
        images = draw(st.sampled_from([np.zeros((NB, 8, 8)), np.zeros((n, NB, 0, 8)), "stamps"]))
    sig_shape = draw(st.sampled_from([(n, NB)] * 5 + [(NB,), (n, NB - 1), (n,), ()]))
    noise_sigma = _maybe_not_array(draw, draw(float_arrays(sig_shape, 0.5, 20)))
    scalar = st.one_of(st.floats(0.3, 5), st.floats(0.3, 5), st.floats(0.3, 5),
                       st.sampled_from(SPECIAL + [1e6, 1e7, "1.5", None]))
    kron_factor, threshold = draw(scalar), draw(scalar)
    bands = draw(st.sampled_from([("g", "r", "i", "z"), ["i"], ("NUV", "y"), list(BANDS),
                                  ("g", "r", "i", "z"), (), ["x"], "gri", ("g", "G"), None]))
    fallback = None
    if draw(st.booleans()):
        fallback = draw(float_arrays(draw(st.sampled_from([(NB,), (NB,), (NB - 1,), ()])), 0.5, 20))
    return images, noise_sigma, kron_factor, bands, threshold, fallback


def _finite_number(value, upper=np.inf) -> bool:
    if isinstance(value, (str, type(None))):
        return False
    return bool(np.isfinite(value) and 0 < value <= upper)


def _invalid_stamp_args(images, noise_sigma, kron_factor, bands, threshold, fallback) -> set[str]:
    bad = set()
    arr = None if isinstance(images, str) else np.asarray(images)
    if arr is None or arr.ndim != 4 or arr.shape[1] != NB or 0 in arr.shape[1:]:
        bad.add("images")
    n = arr.shape[0] if arr is not None and arr.ndim else 0
    sig = _as_float(noise_sigma)
    if sig is None or sig.shape not in ((n, NB), (NB,)):
        bad.add("noise_sigma")
    if not _finite_number(kron_factor, 1e6):
        bad.add("kron_factor")
    if not isinstance(bands, (list, tuple)) or not bands or any(b not in BANDS for b in bands):
        bad.add("detection_bands")
    if not _finite_number(threshold):
        bad.add("detection_threshold")
    if fallback is not None:
        fb = np.asarray(fallback)
        if fb.shape != (NB,) or not (np.isfinite(fb) & (fb > 0)).all():
            bad.add("fallback_sigma")
    return bad


@FUZZ
@given(stamp_args())
def test_fuzz_measure_stamps(args):
    images, noise_sigma, kron_factor, bands, threshold, fallback = args
    out = _outcome(lambda: measure_stamps(images, noise_sigma, kron_factor, bands, threshold,
                                          fallback_sigma=fallback),
                   _invalid_stamp_args(*args))
    if out is None:
        return
    n = np.shape(images)[0]
    measured = out["flag"] == ""
    assert out["flux"].shape == (n, NB) and out["flag"].shape == (n,)
    for key in ("npix", "kron_radius", "a", "b", "theta", "x", "y"):
        assert np.isfinite(out[key][measured]).all(), key
    assert np.isfinite(out["flux"][measured]).all()
    assert (out["npix"][measured] > 0).all() and (out["kron_radius"][measured] > 0).all()
    assert np.isnan(out["flux"][~measured]).all()
    # A stamp with a pixel that is not finite in float32 is never measured.
    for i in range(n):
        if not _float32_finite(images[i]):
            assert not measured[i]
