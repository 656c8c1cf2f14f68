"""Reading the source catalogues of :mod:`photoz.catalog`: DC2 photometry, HSC bandpasses, maggies.

DC2 (the LSST DESC DC2 training + validation catalogues shipped in pz-rail-base) is read here;
COSMOS by :mod:`photoz.catalog.cosmos`. Magnitudes become maggies with errors for the SED fit
(:func:`mags_to_maggies`), with a systematic floor :data:`SYS_ERR_MAG`.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import galsim
import h5py
import numpy as np
import pandas as pd

from photoz.errors import PhotozDataError

LSST_BANDS = ("u", "g", "r", "i", "z", "y")
#: Systematic error added in quadrature to every input magnitude error in the SED fit, mag
#: (template mismatch; LePhare-style fits of COSMOS use a few per cent, Ilbert et al. 2006).
SYS_ERR_MAG = 0.03
#: HSC Wide 5-sigma point-source depths g r i z y, AB (Aihara et al. 2018, PASJ 70, S4, Table 2):
#: the BlendingToolKit catalogue gives magnitudes without errors, so sigma_F = F(depth)/5.
HSC_DEPTH_5SIG = {"g": 26.5, "r": 26.1, "i": 25.9, "z": 25.1, "y": 24.4}
#: Magnitudes at or above this are non-detections (DC2 and COSMOS use 99).
NONDETECTION_MAG = 90.0

def dc2_files() -> list[Path]:
    """The DC2 training and validation catalogues shipped in pz-rail-base."""
    root = importlib.resources.files("rail") / "examples_data" / "testdata"
    return [Path(str(root / f"test_dc2_{part}_9816.hdf5")) for part in ("training", "validation")]


def read_dc2(paths: list[Path] | None = None) -> pd.DataFrame:
    """Read DC2 catalogues (group ``photometry``: id, redshift, mag[_err]_<b>_lsst).

    Parameters
    ----------
    paths : list of path, optional
        Default :func:`dc2_files`.

    Returns
    -------
    pandas.DataFrame
        ``object_id``, ``redshift``, ``mag_lsst_<b>``, ``mag_err_lsst_<b>`` for u g r i z y, and
        ``file`` / ``row`` (where each galaxy came from).

    Raises
    ------
    PhotozDataError
        Unreadable file, missing column, or NaN redshift (file, column and row named).
    """
    frames = []
    for path in paths or dc2_files():
        try:
            with h5py.File(path, "r") as f:
                if "photometry" not in f:
                    raise PhotozDataError(f"{path}: no group 'photometry'")
                grp = f["photometry"]
                cols = {}
                for name, key in [("object_id", "id"), ("redshift", "redshift")] + [
                    (f"{p}lsst_{b}", f"{p}{b}_lsst") for b in LSST_BANDS
                    for p in ("mag_", "mag_err_")
                ]:
                    if key not in grp:
                        raise PhotozDataError(f"{path}: missing column 'photometry/{key}'")
                    cols[name] = np.asarray(grp[key][:])
        except OSError as exc:
            raise PhotozDataError(f"cannot read DC2 catalogue {path}: {exc}") from exc
        df = pd.DataFrame(cols)
        df["object_id"] = df["object_id"].astype(np.int64)
        df["redshift"] = df["redshift"].astype(float)
        bad = np.flatnonzero(~np.isfinite(df["redshift"].to_numpy()))
        if bad.size:
            raise PhotozDataError(
                f"{path}: column 'photometry/redshift' is not finite in row {bad[0]} "
                f"({bad.size} rows in all)"
            )
        df["file"] = str(path)
        df["row"] = np.arange(len(df))
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _hsc_bandpasses() -> dict[str, galsim.Bandpass]:
    """HSC g r i z y total throughputs (speclite ``hsc2017``, Kawanomoto et al. 2018)."""
    import speclite.filters

    out = {}
    for b in HSC_DEPTH_5SIG:
        filt = speclite.filters.load_filter(f"hsc2017-{b}")
        wave = np.asarray(filt.wavelength, dtype=float)
        thr = np.clip(np.asarray(filt.response, dtype=float), 0.0, None)
        table = galsim.LookupTable(wave, thr, interpolant="linear")
        out[f"hsc_{b}"] = galsim.Bandpass(table, wave_type="Angstrom").withZeropoint("AB")
    return out


def _mags_to_maggies(mag: np.ndarray, err: np.ndarray | None, depth: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """AB magnitudes (N, B) -> maggies and errors, SYS_ERR_MAG added; NaN for non-detections."""
    mag = np.asarray(mag, dtype=float)
    ok = np.isfinite(mag) & (mag < NONDETECTION_MAG)
    f = np.where(ok, 10.0 ** (-0.4 * np.where(ok, mag, 0.0)), np.nan)
    if err is not None:
        err = np.asarray(err, dtype=float)
        ok &= np.isfinite(err) & (err > 0) & (err < NONDETECTION_MAG)
        stat = 0.4 * np.log(10.0) * np.where(ok, err, 0.0) * f
    else:
        stat = 10.0 ** (-0.4 * np.asarray(depth, dtype=float)) / 5.0 * np.ones_like(f)
    sig = np.sqrt(stat**2 + (0.4 * np.log(10.0) * SYS_ERR_MAG * f) ** 2)
    return np.where(ok, f, np.nan), np.where(ok, sig, np.nan)
