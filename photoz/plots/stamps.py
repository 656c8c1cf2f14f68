"""Figs. 3 and 4 of the paper: six example galaxies, their stamps and their aperture fluxes."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from astropy import constants
from astropy.visualization import make_lupton_rgb
from matplotlib.colors import AsinhNorm
from matplotlib.figure import Figure

from photoz import BANDS
from photoz.errors import PhotozDataError, PhotozError
from photoz.plots.style import BAND_COLORS, _new_figure
from photoz.products.catalog import read_truth
from photoz.products.photometry import read_photometry
from photoz.products.simulate import read_shard_ids, read_shard_rows
from photoz.sed import observed_sed

#: Planck constant, erg s (CODATA 2018, ``astropy.constants``), for photon flux -> f_nu.
_H_ERG_S = constants.h.cgs.value
#: AB magnitude of 1 microjansky: m_AB = 23.9 - 2.5 log10(f / uJy) (Oke & Gunn 1983).
_AB_UJY = 23.9


# --------------------------------------------------------------------------------------------
# Figs. 3 and 4: six example galaxies
# --------------------------------------------------------------------------------------------
def _shard_ids(shards: Sequence) -> np.ndarray:
    ids = [read_shard_ids(path) for path in shards]
    return np.concatenate(ids) if ids else np.empty(0, dtype=np.int64)


def select_examples(
    photometry: pd.DataFrame,
    available_ids: np.ndarray | None = None,
    n: int = 6,
    z_min: float = 0.25,
    n_candidates: int = 5,
) -> pd.DataFrame:
    """Pick ``n`` example galaxies spanning z_min to the highest available redshift (Figs. 3-4).

    Targets are ``n`` redshifts evenly spaced from ``z_min`` to the largest selected redshift
    (the paper shows z = 0.25 to 3.95). For each target the ``n_candidates`` nearest unused
    selected galaxies are taken and the one with the highest i-band SNR (else g, else any) is
    kept, so the stamps show clear galaxies. Deterministic: no randomness.

    Parameters
    ----------
    photometry : pandas.DataFrame
        The photometry table (``object_id``, ``redshift``, ``selected``; ``snr_i`` optional).
    available_ids : ndarray of int, optional
        Only these object ids are eligible (those with stamps).
    n : int
    z_min : float
    n_candidates : int

    Returns
    -------
    pandas.DataFrame
        ``n`` rows (fewer if fewer galaxies qualify) of ``photometry``, sorted by redshift.

    Raises
    ------
    PhotozDataError
        If no galaxy qualifies.
    """
    df = photometry
    if "selected" in df.columns:
        df = df[df["selected"].astype(bool)]
    if available_ids is not None:
        df = df[df["object_id"].isin(available_ids)]
    df = df[np.isfinite(df["redshift"].to_numpy(dtype=float))]
    if df.empty:
        raise PhotozDataError(
            "no selected galaxy with stamps to show: check photometry 'selected' and the shards"
        )
    z = df["redshift"].to_numpy(dtype=float)
    snr_col = next((c for c in ("snr_i", "snr_g", "snr_r") if c in df.columns), None)
    snr = df[snr_col].to_numpy(dtype=float) if snr_col else np.zeros(z.size)
    snr = np.where(np.isfinite(snr), snr, -np.inf)
    lo = min(z_min, float(z.max()))
    targets = np.linspace(lo, float(z.max()), n)
    used: set[int] = set()
    picks = []
    for target in targets:
        order = [i for i in np.argsort(np.abs(z - target), kind="stable") if i not in used]
        if not order:
            break
        cand = order[:n_candidates]
        best = max(cand, key=lambda i: (snr[i], -abs(z[i] - target)))
        used.add(best)
        picks.append(best)
    return df.iloc[picks].sort_values("redshift", kind="stable")


def _read_stamps(
    shards: Sequence, ids: np.ndarray
) -> dict[int, tuple[np.ndarray, np.ndarray, float]]:
    """object_id -> (images (7, H, W) e-, noise_sigma (7,) e-, pixel scale arcsec)."""
    out = {}
    wanted = set(int(i) for i in ids)
    for path in shards:
        sid, _, images, noise, scale = read_shard_rows(path, list(wanted))
        for k in range(len(sid)):
            out[int(sid[k])] = (np.asarray(images[k], float), np.asarray(noise[k]), scale)
    return out


def _examples(photometry, shards) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The photometry table and its six example rows (shared by Figs. 3 and 4)."""
    phot = read_photometry(photometry, selected_only=False).drop(columns="_row")
    ids = _shard_ids(shards)
    return phot, select_examples(phot, ids)


def _truth_rows(truth, ids) -> pd.DataFrame:
    df = read_truth(truth, ("object_id",), read_all=True)
    return df.set_index("object_id").reindex(ids)


def fig3_example_stamps(photometry, shards: Sequence, truth) -> Figure:
    """Fig. 3: the 7-band stamps of six galaxies from z ~ 0.25 to the highest available.

    Parameters
    ----------
    photometry : path
        Photometry parquet (chooses the galaxies, :func:`select_examples`).
    shards : list of path
        Stamp HDF5 shards (``images`` (N, 7, H, W) in electrons).
    truth : path
        Truth parquet (``mag_i`` for the row labels, when present).

    Returns
    -------
    matplotlib.figure.Figure
        One row per galaxy, one column per band; each row on a common asinh stretch (linear
        within the row's background sigma), so colours compare across bands. A last column is
        the i, r, g colour composite (:func:`colour_composite`): a bulge redder than its disk, or
        blue knots, show as colour changing across the galaxy. The title gives the rows'
        redshift span beside the selected sample's.
    """
    phot, ex = _examples(photometry, shards)
    ids = ex["object_id"].to_numpy(dtype=np.int64)
    stamps = _read_stamps(shards, ids)
    sample = phot[phot["selected"].astype(bool)] if "selected" in phot.columns else phot
    z_sample = sample["redshift"].to_numpy(dtype=float)
    tr = _truth_rows(truth, ids)
    n_rows, n_bands = len(ids), len(BANDS)
    fig = _new_figure(1.25 * (n_bands + 1) + 0.9, 1.3 * n_rows + 0.5)
    grid = fig.add_gridspec(
        n_rows, n_bands + 1, wspace=0.04, hspace=0.06, left=0.12, right=0.99, top=0.94,
        bottom=0.02
    )
    for r, oid in enumerate(ids):
        img, noise, scale = stamps[int(oid)]
        sigma = float(np.nanmedian(noise)) if np.isfinite(noise).any() else float(np.std(img))
        sigma = sigma if sigma > 0 else 1.0
        vmax = max(float(np.nanmax(img)), 5 * sigma)
        norm = AsinhNorm(linear_width=sigma, vmin=-3 * sigma, vmax=vmax)
        ax = fig.add_subplot(grid[r, n_bands])
        ax.imshow(colour_composite(img, sigma), origin="lower", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if r == 0:
            ax.set_title("i, r, g", fontweight="bold")
        for b in range(n_bands):
            ax = fig.add_subplot(grid[r, b])
            ax.imshow(img[b], origin="lower", cmap="gray", norm=norm, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(BANDS[b], color=BAND_COLORS[BANDS[b]], fontweight="bold")
            if b == 0:
                label = f"z = {ex['redshift'].iloc[r]:.2f}"
                if "mag_i" in tr.columns and np.isfinite(tr["mag_i"].iloc[r]):
                    label += f"\ni = {tr['mag_i'].iloc[r]:.1f}"
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
            if r == n_rows - 1 and b == 0 and np.isfinite(scale) and scale > 0:
                npx = 1.0 / scale  # 1 arcsec
                h, w = img.shape[1:]
                ax.plot([0.08 * w, 0.08 * w + npx], [0.1 * h, 0.1 * h], color="w", lw=2)
                ax.text(
                    0.08 * w + npx / 2,
                    0.14 * h,
                    '1"',
                    color="w",
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    fig.suptitle(
        f"Example stamps, z = {ex['redshift'].min():.2f} to {ex['redshift'].max():.2f} "
        f"(selected sample: {np.nanmin(z_sample):.2f} to {np.nanmax(z_sample):.2f}); "
        "electrons, background-subtracted, asinh stretch per row",
        fontsize=9,
    )
    return fig


def colour_composite(stamp: np.ndarray, sigma: float, q: float = 8.0) -> np.ndarray:
    """The i, r, g colour composite of one seven-band stamp (Lupton et al. 2004, PASP 116, 133).

    :func:`astropy.visualization.make_lupton_rgb` with red = i, green = r, blue = g, an asinh
    softening ``q`` and a stretch of 5 background sigmas, so that the galaxy's colour (not its
    brightness) sets the hue and a colour gradient shows as a hue changing across it.

    Parameters
    ----------
    stamp : ndarray, shape (7, H, W), electrons
        Bands in the order of :data:`photoz.BANDS`.
    sigma : float, electrons
        Background sigma (the stretch's unit).
    q : float
        ``Q`` of the asinh stretch.

    Returns
    -------
    ndarray, shape (H, W, 3), uint8
    """
    i, r, g = (stamp[BANDS.index(b)] for b in ("i", "r", "g"))
    return make_lupton_rgb(i, r, g, minimum=0.0, stretch=5.0 * sigma, Q=q)


def electrons_to_ujy(
    flux: np.ndarray, zero_point: np.ndarray, total_time: np.ndarray
) -> np.ndarray:
    """Convert band fluxes in electrons to flux density in microjansky at the pivot wavelength.

    f_nu [uJy] = F / (t_exp N_exp) x 10^(-0.4 (ZP - 23.9)), ZP the AB magnitude giving 1 e-/s
    (paper eqs. 1-2; :meth:`photoz.instrument.Instrument.zero_point`). Linear, so negative fluxes
    and errors convert the same way.

    Parameters
    ----------
    flux : ndarray, shape (..., 7), electrons
    zero_point : ndarray, shape (7,), AB mag
    total_time : ndarray, shape (7,), s

    Returns
    -------
    ndarray, shape (..., 7), microjansky
    """
    return np.asarray(flux, float) / total_time * 10.0 ** (-0.4 * (zero_point - _AB_UJY))


def sed_to_ujy(sed, wave_nm: np.ndarray) -> np.ndarray:
    """f_nu in microjansky of a galsim.SED in photon units (photons/s/cm^2/nm) at ``wave_nm``.

    f_nu = N_lambda h lambda (N_lambda in photons/s/cm^2/nm, lambda in nm gives erg/s/cm^2/Hz,
    since f_nu = f_lambda lambda^2 / c and f_lambda = N_lambda h c / lambda); 1 uJy = 1e-29 cgs.
    """
    wave_nm = np.asarray(wave_nm, float)
    return np.asarray(sed(wave_nm), float) * _H_ERG_S * wave_nm / 1e-29


def ujy_to_ab(f_ujy: np.ndarray) -> np.ndarray:
    """AB magnitude of a flux density in microjansky, m = 23.9 - 2.5 log10(f) (Oke & Gunn 1983).

    NaN where ``f_ujy <= 0``.
    """
    f = np.asarray(f_ujy, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f > 0, _AB_UJY - 2.5 * np.log10(f), np.nan)


def fig4_aperture_fluxes(
    photometry,
    truth,
    shards: Sequence,
    instrument_cfg: Mapping | None = None,
    sed_library: str = "cosmos",
    emission_lines: bool = False,
) -> Figure:
    """Fig. 4: aperture magnitudes of the Fig. 3 galaxies with their scaled best-fit SEDs.

    Parameters
    ----------
    photometry : path
        Photometry parquet (``flux_<band>``, ``flux_err_<band>`` in electrons).
    truth : path
        Truth parquet (``sed_template``, ``sed_amplitude``, ``ebv``, ``redshift``,
        ``flux_<band>``; ``sed_template_2``, ``sed_amplitude_2`` of a template mixture when
        present).
    shards : list of path
        Stamp shards (only to pick the same galaxies as Fig. 3).
    instrument_cfg : dict, optional
        ``instrument`` config section (zero points, exposure times, bandpasses).
    sed_library : str
        Template library for ``photoz.sed.observed_sed``.
    emission_lines : bool
        ``catalog.emission_lines`` of the run, so the curve is the SED the fluxes were made from.

    Returns
    -------
    matplotlib.figure.Figure
        One panel, as the paper's: AB magnitude (brighter up) vs wavelength (nm), one colour
        per galaxy. Points: the aperture fluxes at the band pivot wavelengths with 1-sigma
        errors (a flux below its 1-sigma error is drawn as a 1-sigma upper limit,
        m(max(F, 0) + sigma), a downward triangle). Curve: the galaxy's best-fit SED (truth table)
        (a two-template mixture where the table has one)
        multiplied by s = sum(F m / sigma^2) / sum(m^2 / sigma^2), the inverse-variance
        weighted least-squares factor that matches the model band fluxes m to the aperture
        fluxes F; s is the share of the galaxy's light inside the 1-Kron-radius aperture, and
        is given in the legend. Where ``photoz.sed`` is not importable the scaled model band
        fluxes are drawn instead of the curve.
    """
    from photoz.instrument import load_instrument

    inst = load_instrument(dict(instrument_cfg or {}))
    zp, ttot = inst.zero_point(), inst.total_exposure_time
    pivots = inst.pivot_wavelength() / 10.0
    flux_cols = [f"flux_{b}" for b in BANDS]
    err_cols = [f"flux_err_{b}" for b in BANDS]
    phot, ex = _examples(photometry, shards)
    missing = [c for c in flux_cols + err_cols if c not in phot.columns]
    if missing:
        raise PhotozDataError(f"photometry {photometry}: missing column(s) {missing}")
    ids = ex["object_id"].to_numpy(dtype=np.int64)
    tr = _truth_rows(truth, ids)
    fig = _new_figure(8.0, 5.6)
    ax = fig.add_subplot()
    colors = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.9, max(len(ids), 1)))
    all_mags = []
    for k in range(len(ids)):
        row = ex.iloc[k]
        flux = row[flux_cols].to_numpy(dtype=float)
        err = row[err_cols].to_numpy(dtype=float)
        sed, model = _fig4_model(tr.iloc[k], row, ids[k], inst, sed_library, emission_lines)
        scale = _fig4_scale(flux, err, model)
        label = f"z = {row['redshift']:.2f}, ID {ids[k]}"
        if np.isfinite(scale):
            label += f"; SED × {scale:.2f}"
        _fig4_curve(ax, sed, model, scale, colors[k], label, pivots, zp, ttot)
        all_mags.extend(_fig4_points(ax, pivots, electrons_to_ujy(flux, zp, ttot),
                                     electrons_to_ujy(err, zp, ttot), colors[k]))
    _fig4_dress(ax, all_mags, pivots)
    fig.tight_layout()
    return fig


def _fig4_model(t: pd.Series, row: pd.Series, oid, inst, sed_library: str,
                emission_lines: bool) -> tuple[object | None, np.ndarray | None]:
    """The best-fit SED of one Fig. 4 galaxy (a galsim.SED, or None) and its model band fluxes
    in electrons (or None).

    The SED is the truth row's template (mixture); the model fluxes are the SED's through the
    bandpasses, else the truth table's ``flux_<band>`` where it has them. A failing SED warns.
    """
    flux_cols = [f"flux_{b}" for b in BANDS]
    sed = None
    model = None
    if {"sed_template", "sed_amplitude"} <= set(t.index):
        try:
            sed = observed_sed(
                t["sed_template"],
                float(t["sed_amplitude"]),
                float(t.get("ebv", 0.0) if np.isfinite(t.get("ebv", 0.0)) else 0.0),
                float(t.get("redshift", row["redshift"])),
                sed_library,
                emission_lines=emission_lines,
                # a template mixture (catalog.template_mixing) when the table has one
                template_2=t.get("sed_template_2") or None,
                amplitude_2=float(t.get("sed_amplitude_2", 0.0)),
            )
            model = np.array([sed.calculateFlux(inst.bandpasses[b]) for b in BANDS])
            model = model * inst.area * inst.total_exposure_time
        except (PhotozError, ValueError, KeyError) as exc:
            # stacklevel 3: the caller of fig4_aperture_fluxes
            warnings.warn(f"no SED for object {oid}: {exc}", stacklevel=3)
            sed = None
    if model is None and all(c in t.index for c in flux_cols):
        model = t[flux_cols].to_numpy(dtype=float)
    return sed, model


def _fig4_scale(flux: np.ndarray, err: np.ndarray, model: np.ndarray | None) -> float:
    """Fig. 4's aperture factor s = sum(F m / sigma^2) / sum(m^2 / sigma^2); NaN without a
    finite model."""
    if model is None or not np.all(np.isfinite(model)):
        return np.nan
    w = np.where((err > 0) & np.isfinite(flux), 1.0 / np.maximum(err, 1e-30) ** 2, 0.0)
    denom = np.sum(w * model**2)
    return float(np.sum(w * flux * model) / denom) if denom > 0 else np.nan


def _fig4_curve(ax, sed, model, scale: float, color, label: str, pivots: np.ndarray,
                zp: np.ndarray, ttot: np.ndarray) -> None:
    """Draw one Fig. 4 galaxy's scaled SED curve (else its scaled model band fluxes as open
    squares, else only a legend entry), labelled ``label``."""
    wave = np.linspace(200.0, 1100.0, 451)
    if sed is not None and np.isfinite(scale) and scale > 0:
        ax.plot(wave, ujy_to_ab(scale * sed_to_ujy(sed, wave)), color=color, lw=1.0,
                alpha=0.8, label=label)
    elif model is not None and np.isfinite(scale) and scale > 0:
        ax.plot(pivots, ujy_to_ab(scale * electrons_to_ujy(model, zp, ttot)), "s",
                mfc="none", color=color, ms=6, label=label)
    else:
        ax.plot([], [], color=color, label=label)


def _fig4_points(ax, pivots: np.ndarray, f_uj: np.ndarray, e_uj: np.ndarray, color) -> list:
    """Draw one Fig. 4 galaxy's aperture magnitudes with 1-sigma errors, and 1-sigma upper
    limits (downward triangles) for fluxes below their error; return the magnitudes drawn."""
    detected = f_uj > e_uj
    mag = ujy_to_ab(f_uj)
    # 1-sigma magnitude errors, asymmetric: m(F - sigma) - m(F) down, m(F) - m(F + sigma) up
    lo_err = mag - ujy_to_ab(f_uj + e_uj)
    hi_err = ujy_to_ab(np.where(detected, f_uj - e_uj, np.nan)) - mag
    ax.errorbar(pivots[detected], mag[detected],
                yerr=[np.nan_to_num(hi_err[detected], nan=0.0), lo_err[detected]],
                fmt="o", color=color, mec="k", mew=0.4, ms=5, capsize=2, lw=1.0, zorder=3)
    limit = ujy_to_ab(np.maximum(f_uj, 0.0) + e_uj)
    nd = ~detected & np.isfinite(limit)
    if nd.any():
        ax.plot(pivots[nd], limit[nd], "v", color=color, mec="k", mew=0.4, ms=7, zorder=3)
    return list(mag[detected & np.isfinite(mag)]) + list(limit[nd])


def _fig4_dress(ax, all_mags: list, pivots: np.ndarray) -> None:
    """Fig. 4's axes: the magnitude range (brighter up), labels, the legend with the point and
    limit symbols, the band names at their pivots and the title."""
    if all_mags:
        ax.set_ylim(max(all_mags) + 0.8, min(all_mags) - 0.8)  # brighter up
    else:
        ax.invert_yaxis()
    ax.set_xlim(200, 1100)
    ax.set_xlabel("Wavelength [nm]")
    ax.set_ylabel("AB magnitude")
    ax.errorbar([], [], yerr=[], fmt="o", color="0.5", mec="k", mew=0.4, ms=5,
                label="aperture flux ± 1σ")
    ax.plot([], [], "v", color="0.5", mec="k", mew=0.4, ms=7,
            label="1σ upper limit (flux < error)")
    ax.legend(loc="lower right", fontsize=7, frameon=True, framealpha=0.85, edgecolor="none")
    for j, b in enumerate(BANDS):
        ax.text(pivots[j], 1.01, b, transform=ax.get_xaxis_transform(), ha="center",
                va="bottom", color=BAND_COLORS[b], fontsize=8, fontweight="bold")
    ax.set_title("Aperture magnitudes of the Fig. 3 galaxies and their best-fit SEDs, "
                 "scaled to the aperture", fontsize=9, pad=14)


