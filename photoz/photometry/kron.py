"""Kron-aperture measurement of in-memory stamps (see :mod:`photoz.photometry` for the method).

Detection on the g+r+i+z image with ``sep.extract``, the Kron radius and one elliptical
aperture in all seven bands; the sep calls of a chunk are batched (:func:`_batched`).
"""

from __future__ import annotations

import numpy as np
import sep

from photoz import BANDS
from photoz.errors import PhotozValueError, float_array

#: Radius, in isophotal radii (units of a and b), within which the Kron radius is computed
#: (SExtractor's fixed value; Bertin & Arnouts 1996; the sep documentation).
KRON_INTEGRATION_RADIUS = 6.0
#: sep.extract minimum object area, pixels (SExtractor's DETECT_MINAREA default).
DETECTION_MINAREA = 5
#: Largest zero gap (pixels) put between stamps in the chunk mosaics; bigger ellipses are
#: measured stamp by stamp.
_MAX_GAP = 256
#: Largest |x|, |y| of an aperture centre and largest scaled semi-axis r a, pixels. sep computes
#: an aperture's pixel bounds in C ``int`` and its exact overlap in double precision; beyond
#: about 1e15 pixels it silently returns 0 for an ellipse covering the stamp (checked here), so
#: apertures are held far inside both limits.
MAX_APERTURE_PIXELS = 1e8
#: Largest kron_factor :func:`measure_stamps` accepts (the Kron radius is at most about 6 and the
#: detection ellipse at most the stamp, so this keeps r a within :data:`MAX_APERTURE_PIXELS`
#: for stamps up to ~16 pixels x 1e6; any aperture larger than the stamp sums the whole stamp).
MAX_KRON_FACTOR = 1e6

# --------------------------------------------------------------------------------------------
# Measurement of in-memory stamps
# --------------------------------------------------------------------------------------------

def _ellipse_y_extent(a: np.ndarray, b: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Half height of an ellipse of semi-axes a, b at angle theta from +x (pixels)."""
    return np.sqrt((a * np.sin(theta)) ** 2 + (b * np.cos(theta)) ** 2)


def _mosaic(stamps: np.ndarray, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack stamps vertically, each preceded by ``gap`` zero rows, plus a trailing gap.

    Parameters
    ----------
    stamps : ndarray, shape (m, H, W)
    gap : int, pixels

    Returns
    -------
    mosaic : ndarray, shape (m (H + gap) + gap, W), float32, C-contiguous
    y0 : ndarray, shape (m,)
        Row of each stamp's first pixel in the mosaic.
    """
    m, h, w = stamps.shape
    tile = h + gap
    mosaic = np.zeros((m * tile + gap, w), dtype=np.float32)
    view = mosaic[: m * tile].reshape(m, tile, w)
    view[:, gap:, :] = stamps
    return mosaic, gap + tile * np.arange(m, dtype=float)


def _gap_needed(y: np.ndarray, ext: np.ndarray, height: int) -> np.ndarray:
    """Zero rows needed so that an ellipse of half height ``ext`` at row ``y`` of a stamp of
    ``height`` rows touches no pixel of the stamps above or below it (2 px margin).

    Capped at ``_MAX_GAP + 1`` (such ellipses are measured stamp by stamp), so that a huge
    ``ext`` never overflows the integer conversion.
    """
    inside = np.minimum(y, height - 1 - y)
    need = np.ceil(np.maximum(ext - inside, 0.0)) + 2
    return np.minimum(need, _MAX_GAP + 1).astype(int)


def _batched(func, stamps: np.ndarray, index: np.ndarray, x, y, a, b, theta, ext, **kw):
    """Call a sep aperture function for apertures ``k`` on ``stamps[index[k]]`` in few calls.

    sep's per-call overhead (about 10 us) is larger than the work for one small aperture, so
    apertures are grouped: those whose ellipse stays within their stamp's rows are measured in
    one call on the stamps stacked into one tall image (a zero-copy view; the stamp width is the
    image width, so sep truncates at the left and right edges as for a single stamp); the others
    on a mosaic of their stamps separated by zero rows wide enough that no ellipse reaches a
    neighbour (zero pixels add nothing, exactly as sep's truncation at a stamp edge); ellipses
    needing more than :data:`_MAX_GAP` rows, stamp by stamp.

    Parameters
    ----------
    func : callable
        ``sep.sum_ellipse`` or ``sep.kron_radius`` (``r`` and other options in ``kw``; an
        array ``r`` must have one value per aperture).
    stamps : ndarray, shape (m, H, W), float32
    index : ndarray of int, shape (k,)
        Stamp of each aperture.
    x, y, a, b, theta, ext : ndarray, shape (k,)
        Ellipse centre and shape in stamp pixels; ``ext`` its half height (with ``r`` applied).

    Returns
    -------
    ndarray, shape (k,), float64
        The first element of ``func``'s result.
    """
    k = len(index)
    out = np.zeros(k, dtype=float)
    if k == 0:
        return out
    stamps = np.ascontiguousarray(stamps, dtype=np.float32)
    m, h, w = stamps.shape
    r = kw.pop("r", None)
    r_arr = None if r is None else np.broadcast_to(np.asarray(r, dtype=float), (k,))

    def call(data, sel, yoff):
        args = [data, x[sel], y[sel] + yoff, a[sel], b[sel], theta[sel]]
        if r_arr is not None:
            args.append(r_arr[sel])
        return func(*args, **kw)[0]

    # Pixel rows of a stamp span y in [-0.5, H - 0.5].
    direct = ext <= np.minimum(y, h - 1 - y)
    if np.any(direct):
        sel = np.flatnonzero(direct)
        out[sel] = call(stamps.reshape(m * h, w), sel, h * index[sel].astype(float))
    need = _gap_needed(y, ext, h)
    gapped = ~direct & (need <= _MAX_GAP)
    if np.any(gapped):
        sel = np.flatnonzero(gapped)
        used = np.unique(index[sel])
        mosaic, y0 = _mosaic(stamps[used], int(need[sel].max()))
        out[sel] = call(mosaic, sel, y0[np.searchsorted(used, index[sel])])
    for j in np.flatnonzero(~direct & ~gapped):
        out[j] = call(stamps[index[j]], np.array([j]), 0.0)[0]
    return out


def _detect(image: np.ndarray, threshold: float, err: float) -> np.ndarray | str:
    """``sep.extract`` without deblending; the reason as a string if sep fails.

    ``deblend_cont=1`` switches deblending off; ``deblend_nthresh=1`` then skips building the
    (unused) 32-level deblending tree, which halves the time per stamp.
    """
    try:
        return sep.extract(image, threshold, err=err, minarea=DETECTION_MINAREA,
                           deblend_cont=1.0, deblend_nthresh=1)
    except Exception as exc:  # sep raises plain Exception for its internal errors
        return f"detection failed: {exc}"


def _central_source(objects: np.ndarray, cx: float, cy: float) -> int | None:
    """Index of the detection whose bounding box holds (cx, cy), nearest centroid first."""
    if len(objects) == 0:
        return None
    inside = ((objects["xmin"] - 0.5 <= cx) & (cx <= objects["xmax"] + 0.5)
              & (objects["ymin"] - 0.5 <= cy) & (cy <= objects["ymax"] + 0.5))
    if not np.any(inside):
        return None
    d2 = (objects["x"] - cx) ** 2 + (objects["y"] - cy) ** 2
    d2 = np.where(inside, d2, np.inf)
    return int(np.argmin(d2))


def _valid_theta(theta):
    """Clip position angles to sep's accepted range [-pi/2, pi/2].

    sep returns theta in float32, and float32(pi/2) = 1.5707964 exceeds pi/2 in float64, which
    sep's own aperture functions then reject ("invalid aperture parameters"). An ellipse at
    +-pi/2 is the same ellipse, so the clip changes no aperture.
    """
    return np.clip(np.asarray(theta, dtype=float), -np.pi / 2, np.pi / 2)


def _float32_stamps(images, bands: int | None = None) -> np.ndarray:
    """``images`` as a C-contiguous float32 array of shape (n_gal, bands, H, W).

    Values beyond the float32 range become +-inf (the callers check or flag them).

    Raises
    ------
    PhotozValueError
        If ``images`` is not numeric, not 4-D, has an empty stamp axis, or ``bands`` bands
        (if given) on axis 1.
    """
    arr = np.asarray(images)
    if arr.dtype.kind not in "biuf":
        raise PhotozValueError("images", "must be an array of numbers", str(arr.dtype))
    want = f"(n_gal, {bands}, H, W)" if bands else "(n_gal, n_band, H, W)"
    if arr.ndim != 4 or (bands and arr.shape[1] != bands) or 0 in arr.shape[1:]:
        raise PhotozValueError("images", f"must have shape {want} with H, W >= 1", arr.shape)
    with np.errstate(over="ignore"):
        return np.ascontiguousarray(arr, dtype=np.float32)


def _per_galaxy(name: str, value, n: int) -> np.ndarray:
    """``value`` (a number or shape (n,)) as a finite float64 array of shape (n,).

    Raises
    ------
    PhotozValueError
        Naming ``name``, if it is not numeric, of another shape, or not finite.
    """
    arr = float_array(name, value)
    if arr.shape not in ((), (1,), (n,)):
        raise PhotozValueError(name, f"must be a number or have shape (n_gal,) = ({n},)",
                               arr.shape)
    if not np.all(np.isfinite(arr)):
        raise PhotozValueError(name, "must be finite")
    return np.array(np.broadcast_to(arr.reshape(-1) if arr.ndim else arr, (n,)), dtype=float)


def _positive_number(name: str, value, upper: float = np.inf) -> float:
    """``value`` as a float, finite, > 0 and <= ``upper``; :class:`PhotozValueError` otherwise.

    A string is not a number here, even one that reads as one (``"1.5"``): it is a config or
    caller mistake (YAML reads ``1.0e9`` as a string).
    """
    if isinstance(value, (str, bytes, bool)):
        raise PhotozValueError(name, "must be a number", value)
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise PhotozValueError(name, "must be a number", value) from None
    if not (np.isfinite(out) and 0 < out <= upper):
        bound = "" if upper == np.inf else f" and <= {upper:g}"
        raise PhotozValueError(name, f"must be a finite number > 0{bound}", out)
    return out


def aperture_fluxes(images: np.ndarray, x: np.ndarray, y: np.ndarray, a: np.ndarray,
                    b: np.ndarray, theta: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum each stamp's seven bands in one given ellipse, with exact pixel overlap.

    ``sep.sum_ellipse(..., subpix=0)`` in all bands; the ellipse is truncated at the stamp edges.

    Parameters
    ----------
    images : ndarray, shape (n_gal, 7, H, W), electrons
    x, y : ndarray, shape (n_gal,), pixels
        Ellipse centre (0 = centre of the first pixel; x along the second axis).
    a, b : ndarray, shape (n_gal,), pixels
        Semi-major and semi-minor axes before scaling, a >= b > 0.
    theta : ndarray, shape (n_gal,), radians
        Angle of the major axis from +x, in [-pi/2, pi/2].
    r : ndarray, shape (n_gal,)
        Scale of the axes (kron_factor x kron_radius).

    Returns
    -------
    flux : ndarray, shape (n_gal, 7), electrons
        Aperture sums; negative values kept.
    npix : ndarray, shape (n_gal,), pixels
        Exact aperture area inside the stamp (N_pix of paper eq. 6).

    Raises
    ------
    PhotozValueError
        Naming the argument: ``images`` not numeric, not 4-D, or with a pixel that is not finite
        in float32; an ellipse parameter not a number or of shape (n_gal,), or not finite;
        ``x`` or ``y`` beyond +-:data:`MAX_APERTURE_PIXELS`; ``a`` or ``b`` not > 0, ``b`` > ``a``;
        ``theta`` outside [-pi/2, pi/2] (float32 rounding allowed); ``r`` not > 0 or ``r a``
        beyond :data:`MAX_APERTURE_PIXELS`. (sep itself raises a plain ``Exception`` for an
        invalid ellipse and silently returns 0 for one of ~1e20 pixels.)
    """
    images = _float32_stamps(images)
    if not np.all(np.isfinite(images)):
        raise PhotozValueError("images", "pixels must be finite (within the float32 range)")
    n, nb, h, w = images.shape
    x, y, a, b, theta, r = (_per_galaxy(name, v, n) for name, v in
                            (("x", x), ("y", y), ("a", a), ("b", b), ("theta", theta), ("r", r)))
    for name, v in (("x", x), ("y", y)):
        if np.any(np.abs(v) > MAX_APERTURE_PIXELS):
            raise PhotozValueError(name, f"must be within +-{MAX_APERTURE_PIXELS:g} pixels",
                                   float(v[np.argmax(np.abs(v))]))
    if np.any(b <= 0):
        raise PhotozValueError("b", "semi-minor axes must be > 0", float(b.min()))
    if np.any(a < b):
        raise PhotozValueError("a", "semi-major axes must be >= b")
    if np.any(np.abs(theta) > np.pi / 2 + 1e-6):
        raise PhotozValueError("theta", "must be in [-pi/2, pi/2] radians",
                               float(theta[np.argmax(np.abs(theta))]))
    if np.any(r <= 0) or np.any(r * a > MAX_APERTURE_PIXELS):
        raise PhotozValueError("r", f"must be > 0 with r a <= {MAX_APERTURE_PIXELS:g} pixels")
    theta = _valid_theta(theta)
    ext = r * _ellipse_y_extent(a, b, theta)
    ones = np.ones((1, h, w), dtype=np.float32)
    npix = _batched(sep.sum_ellipse, ones, np.zeros(n, dtype=int), x, y, a, b, theta, ext,
                    r=r, subpix=0)
    idx = (np.arange(n)[:, None] * nb + np.arange(nb)[None, :]).ravel()
    rep = [np.repeat(v, nb) for v in (x, y, a, b, theta, ext, r)]
    flux = _batched(sep.sum_ellipse, images.reshape(n * nb, h, w), idx, *rep[:6], r=rep[6],
                    subpix=0)
    return flux.reshape(n, nb), npix


def _stamp_arguments(images, noise_sigma, kron_factor, detection_bands, detection_threshold,
                     fallback_sigma):
    """The checked arguments of :func:`measure_stamps`, in the order it checks them.

    Returns
    -------
    images : ndarray, shape (n_gal, 7, H, W), float32
    noise_sigma : ndarray, shape (n_gal, 7)
        Broadcast from (7,) where given so.
    kron_factor, detection_threshold : float
    det_idx : list of int
        Band index of each of ``detection_bands``.
    fallback_sigma : ndarray, shape (7,), or None

    Raises
    ------
    PhotozValueError
        As :func:`measure_stamps`.
    """
    nb = len(BANDS)
    images = _float32_stamps(images, nb)
    n = images.shape[0]
    noise_sigma = float_array("noise_sigma", noise_sigma)
    if noise_sigma.shape not in ((n, nb), (nb,)):
        raise PhotozValueError("noise_sigma", f"must have shape (n_gal, {nb}) = ({n}, {nb}) or "
                               f"({nb},)", noise_sigma.shape)
    noise_sigma = np.broadcast_to(noise_sigma, (n, nb))
    kron_factor = _positive_number("kron_factor", kron_factor, MAX_KRON_FACTOR)
    detection_threshold = _positive_number("detection_threshold", detection_threshold)
    if isinstance(detection_bands, str) or not isinstance(detection_bands, (list, tuple)) \
            or not detection_bands:
        raise PhotozValueError("detection_bands", "must be a non-empty list of band names",
                               detection_bands)
    bad = [bd for bd in detection_bands if bd not in BANDS]
    if bad:
        raise PhotozValueError("detection_bands", f"bands are {' '.join(BANDS)}; unknown", bad)
    det_idx = [BANDS.index(bd) for bd in detection_bands]
    if fallback_sigma is not None:
        fallback_sigma = float_array("fallback_sigma", fallback_sigma)
        if fallback_sigma.shape != (nb,) or not np.all(np.isfinite(fallback_sigma)
                                                      & (fallback_sigma > 0)):
            raise PhotozValueError("fallback_sigma", f"must have shape ({nb},), finite and > 0",
                                   fallback_sigma.tolist())
    return images, noise_sigma, kron_factor, detection_threshold, det_idx, fallback_sigma


def _unmeasured(n: int, nb: int) -> dict[str, np.ndarray]:
    """:func:`measure_stamps`'s result for ``n`` stamps of ``nb`` bands, none measured yet."""
    return {
        "flux": np.full((n, nb), np.nan),
        "npix": np.full(n, np.nan),
        "kron_radius": np.full(n, np.nan),
        "a": np.full(n, np.nan),
        "b": np.full(n, np.nan),
        "theta": np.full(n, np.nan),
        "x": np.full(n, np.nan),
        "y": np.full(n, np.nan),
        "flag": np.full(n, "", dtype=object),
    }


def _flag_bad_stamps(images: np.ndarray, noise_sigma: np.ndarray, fallback_sigma, det_idx,
                     flag: np.ndarray) -> np.ndarray:
    """Flag the stamps that cannot be measured (in ``flag``, in place, first reason kept).

    Returns
    -------
    ndarray, shape (n_gal,)
        The detection image's background sigma sqrt(sum sigma_b^2) over ``det_idx``, with
        ``fallback_sigma`` (default: the largest positive ``noise_sigma`` per band, else 1)
        where ``noise_sigma`` is 0.
    """
    n, nb = noise_sigma.shape
    finite = np.isfinite(images).reshape(n, nb, -1).all(axis=2)  # (n, 7)
    for i in np.flatnonzero(~finite.all(axis=1)):
        bad = [BANDS[j] for j in np.flatnonzero(~finite[i])]
        flag[i] = f"non-finite pixels (or beyond float32) in band(s) {' '.join(bad)}"
    allzero = ~np.any(images.reshape(n, -1) != 0, axis=1)
    flag[allzero & (flag == "")] = "all-zero stamp"
    sig_ok = np.all(np.isfinite(noise_sigma) & (noise_sigma >= 0), axis=1)
    flag[~sig_ok & (flag == "")] = "noise_sigma not finite and >= 0"

    if fallback_sigma is None:
        pos = np.where(np.isfinite(noise_sigma) & (noise_sigma > 0), noise_sigma, 0.0)
        fallback_sigma = pos.max(axis=0)
        fallback_sigma = np.where(fallback_sigma > 0, fallback_sigma, 1.0)
    fallback_sigma = np.asarray(fallback_sigma, dtype=float)
    sig = np.where(noise_sigma > 0, noise_sigma, fallback_sigma[None, :])
    with np.errstate(over="ignore", invalid="ignore"):
        det_err = np.sqrt(np.sum(sig[:, det_idx] ** 2, axis=1))
    flag[~np.isfinite(det_err) & (flag == "")] = "noise_sigma too large (detection sigma overflows)"
    return det_err


def _detect_central(images: np.ndarray, det_idx, det_err: np.ndarray, detection_threshold: float,
                    out: dict[str, np.ndarray]) -> np.ndarray:
    """Detect the central source of each stamp not yet flagged; fill ``out``'s ellipse.

    Sets ``x``, ``y``, ``a``, ``b``, ``theta`` of the detected stamps and ``flag`` of the
    others, in place.

    Returns
    -------
    ndarray, shape (n_gal, H, W), float32
        The detection image (sum of the ``det_idx`` bands).
    """
    n, _, h, w = images.shape
    flag = out["flag"]
    # One sep.extract per stamp. sep allocates its pixel stack (default 300,000 pixels) on every
    # call, which dominated the run time (240 us vs 60 us per 64x64 stamp); a stamp never holds
    # more than H x W detected pixels.
    with np.errstate(over="ignore", invalid="ignore"):
        det = np.ascontiguousarray(images[:, det_idx].sum(axis=1, dtype=np.float32))
    det_ok = np.isfinite(det).reshape(n, -1).all(axis=1)
    flag[~det_ok & (flag == "")] = "detection image overflows float32 (pixel values too large)"
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    old_pixstack = sep.get_extract_pixstack()
    sep.set_extract_pixstack(max(h * w + 64, 1024))
    try:
        detections = [_detect(det[i], detection_threshold, float(det_err[i]))
                      for i in np.flatnonzero(flag == "")]
    finally:
        sep.set_extract_pixstack(old_pixstack)
    for i, objects in zip(np.flatnonzero(flag == ""), detections, strict=True):
        if isinstance(objects, str):
            flag[i] = objects
            continue
        k = _central_source(objects, cx, cy)
        if k is None:
            flag[i] = "no source detected at the stamp centre"
            continue
        obj = objects[k]
        ellipse = np.array([obj["x"], obj["y"], obj["a"], obj["b"], obj["theta"]], dtype=float)
        if not (np.all(np.isfinite(ellipse)) and obj["a"] >= obj["b"] > 0):
            flag[i] = "degenerate detection ellipse (a, b not finite with a >= b > 0)"
            continue
        out["x"][i], out["y"][i] = obj["x"], obj["y"]
        out["a"][i], out["b"][i], out["theta"][i] = obj["a"], obj["b"], _valid_theta(obj["theta"])
    return det


def _kron_radii(det: np.ndarray, out: dict[str, np.ndarray]) -> None:
    """Kron radii of the detected stamps on the detection image (one sep call for the chunk).

    Sets ``kron_radius`` in ``out``, and ``flag`` where it is not positive, in place.
    """
    flag = out["flag"]
    ok = np.flatnonzero(flag == "")
    x, y, a, b, th = (out[key][ok] for key in ("x", "y", "a", "b", "theta"))
    ext = KRON_INTEGRATION_RADIUS * _ellipse_y_extent(a, b, th)
    kron = _batched(sep.kron_radius, det, ok, x, y, a, b, th, ext, r=KRON_INTEGRATION_RADIUS)
    out["kron_radius"][ok] = kron
    bad_kron = ~(np.isfinite(kron) & (kron > 0))
    flag[ok[bad_kron]] = "Kron radius not positive (no positive flux within 6 isophotal radii)"


def measure_stamps(images: np.ndarray, noise_sigma: np.ndarray, kron_factor: float = 1.0,
                   detection_bands: tuple[str, ...] = ("g", "r", "i", "z"),
                   detection_threshold: float = 1.5,
                   fallback_sigma: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Kron-aperture fluxes of the central source of each seven-band stamp.

    Parameters
    ----------
    images : ndarray, shape (n_gal, 7, H, W), electrons
        Background-subtracted stamps, bands NUV u g r i z y (docs/outputs.md §2).
    noise_sigma : ndarray, shape (n_gal, 7), electrons
        Background pixel sigma per band (paper eq. 4); sets the detection threshold.
    kron_factor : float
        Aperture semi-axes in Kron radii (paper Sect. 3: 1).
    detection_bands : tuple of str
        Bands summed into the detection image (paper: g, r, i, z).
    detection_threshold : float
        In units of the detection image's background sigma sqrt(sum sigma_b^2).
    fallback_sigma : ndarray, shape (7,), electrons, optional
        Pixel sigma used for the detection threshold where ``noise_sigma`` is 0 (noiseless
        stamps); default the largest positive value in ``noise_sigma`` per band, else 1.

    Returns
    -------
    dict of ndarray
        ``flux`` (n_gal, 7) electrons (NaN where not measured); ``npix`` (n_gal,) exact aperture
        area inside the stamp, pixels; ``kron_radius`` (n_gal,) in units of a and b; ``a``,
        ``b`` (n_gal,) pixels; ``theta`` (n_gal,) radians; ``x``, ``y`` (n_gal,) centroid,
        pixels (0 = centre of the first pixel); ``flag`` (n_gal,) object array of str, empty
        when measured, else the reason.

    Raises
    ------
    PhotozValueError
        Naming the argument: ``images`` not numeric or not of shape (n_gal, 7, H, W);
        ``noise_sigma`` not numeric or not of shape (n_gal, 7) or (7,); ``kron_factor`` not a
        finite number in (0, :data:`MAX_KRON_FACTOR`]; ``detection_bands`` not a non-empty list
        of band names; ``detection_threshold`` not a finite number > 0; ``fallback_sigma`` not
        of shape (7,) or not finite and > 0.

    Notes
    -----
    Bad stamps are flagged, not raised: a pixel that is not finite in float32, an all-zero
    stamp, a non-finite or negative ``noise_sigma``, a detection image that overflows float32,
    no detection at the stamp centre, a degenerate detection ellipse, or a non-positive Kron
    radius.
    """
    images, noise_sigma, kron_factor, detection_threshold, det_idx, fallback_sigma = \
        _stamp_arguments(images, noise_sigma, kron_factor, detection_bands, detection_threshold,
                         fallback_sigma)
    n, nb = images.shape[:2]
    out = _unmeasured(n, nb)
    if n == 0:
        return out
    # 1. Stamps that cannot be measured; 2. detection on the g+r+i+z image; 3. Kron radii.
    det_err = _flag_bad_stamps(images, noise_sigma, fallback_sigma, det_idx, out["flag"])
    det = _detect_central(images, det_idx, det_err, detection_threshold, out)
    _kron_radii(det, out)

    # 4. One aperture, same ellipse in all seven bands (one sep call for the chunk).
    ok = np.flatnonzero(out["flag"] == "")
    out["flux"][ok], out["npix"][ok] = aperture_fluxes(
        images if len(ok) == n else images[ok],
        *(out[key][ok] for key in ("x", "y", "a", "b", "theta")),
        kron_factor * out["kron_radius"][ok])
    return out
