"""The eight figures of Zhou et al. 2022 (MNRAS 512, 4593), drawn from this pipeline's files.

``plot_figure(name, out_png, out_pdf, **inputs)`` draws one figure of :data:`FIGURES` (PAPER_SPEC
§7) and writes it atomically as PNG and PDF. ``make_figure(name, **inputs)`` returns the
``matplotlib.figure.Figure`` itself (the tests inspect it). Figures are built with the
object-oriented matplotlib API on the Agg canvas, never through pyplot's global state.

Colours: one per network (:data:`NET_COLORS`: MLP blue, CNN orange, Hybrid green,
Hybrid-transfer red) and one per band (:data:`BAND_COLORS`, violet to dark red), used in every
figure.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import AsinhNorm, LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from photoz import BANDS
from photoz import metrics as pzm
from photoz.errors import PhotozConfigError, PhotozDataError, PhotozError
from photoz.io import atomic_path
from photoz.logs import progress as tqdm
from photoz.products import (  # noqa: F401 - HISTORY_COLUMNS: the names, defined once
    HISTORY_COLUMNS,
    read_history,
    read_photometry,
    read_shard_ids,
    read_shard_rows,
    read_truth,
)

matplotlib.use("Agg", force=False)

#: The figures, in the paper's order (PAPER_SPEC §7).
FIGURES: tuple[str, ...] = (
    "fig1_throughputs",
    "fig2_redshift_distribution",
    "fig3_example_stamps",
    "fig4_aperture_fluxes",
    "fig5_architectures",
    "fig6_training_history",
    "fig7_zphot_vs_zspec",
    "fig8_outlier_fraction",
)

#: One colour per network, used in every figure.
NET_COLORS: dict[str, str] = {
    "mlp": "#1f77b4",  # blue
    "cnn": "#ff7f0e",  # orange
    "hybrid": "#2ca02c",  # green
    "hybrid_transfer": "#d62728",  # red
}
NET_LABELS = pzm.NETWORK_LABELS
#: One colour per band, blue to red.
BAND_COLORS: dict[str, str] = {
    "NUV": "#6a3d9a",
    "u": "#1f4e9c",
    "g": "#1b9e77",
    "r": "#b8a000",
    "i": "#ff7f00",
    "z": "#e31a1c",
    "y": "#7f0000",
}

#: Planck constant, erg s (CODATA 2018), for photon flux -> f_nu.
_H_ERG_S = 6.62607015e-27
#: AB magnitude of 1 microjansky: m_AB = 23.9 - 2.5 log10(f / uJy) (Oke & Gunn 1983).
_AB_UJY = 23.9

_RC = {
    "font.size": 9,
    "axes.labelsize": 9,
    "axes.titlesize": 10,
    "legend.fontsize": 8,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "savefig.dpi": 150,
}


# --------------------------------------------------------------------------------------------
# Input helpers
# --------------------------------------------------------------------------------------------
def _need(inputs: Mapping, name: str, key: str):
    if key not in inputs or inputs[key] is None:
        raise PhotozConfigError(f"plot_figure({name!r}): missing input {key!r}")
    return inputs[key]


def _ordered_nets(mapping: Mapping[str, object]) -> list[str]:
    unknown = sorted(set(mapping) - set(pzm.NETWORKS))
    if unknown:
        raise PhotozConfigError(f"unknown network(s) {unknown}; known {list(pzm.NETWORKS)}")
    return [n for n in pzm.NETWORKS if n in mapping]


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path, fmt: str) -> None:
    """Save ``fig`` to ``path`` atomically (temporary file in the same directory + os.replace)."""
    meta = {"Creator": "photoz"} if fmt == "png" else {"Creator": "photoz", "CreationDate": None}
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, metadata=meta)


# --------------------------------------------------------------------------------------------
# Fig. 1: throughputs
# --------------------------------------------------------------------------------------------
def fig1_throughputs(instrument_cfg: Mapping | None = None) -> Figure:
    """Fig. 1: total throughput of the seven CSST bands versus wavelength.

    Parameters
    ----------
    instrument_cfg : dict, optional
        The ``instrument`` config section for :func:`photoz.instrument.load_instrument`.

    Returns
    -------
    matplotlib.figure.Figure
        One axis: throughput (filter x detector QE x mirrors, dimensionless) vs wavelength (nm),
        each band labelled at its peak, pivot wavelengths marked. The x-axis spans every curve's
        full tabulated extent: the part redward of the silicon cutoff
        (:data:`photoz.instrument.SILICON_CUTOFF_NM`), which the pipeline sets to zero, is drawn
        dotted and labelled, and the cutoff is marked. The paper also shows the filter-only
        curves; the public curves we use are total-system only.
    """
    from photoz.instrument import SILICON_CUTOFF_NM, load_curves, load_instrument

    cfg = dict(instrument_cfg or {})
    inst = load_instrument(cfg)
    raw = load_curves(str(cfg.get("throughput", "beamingfactor")))
    pivots = inst.pivot_wavelength() / 10.0  # Angstrom -> nm
    fig = _new_figure(7.5, 3.8)
    ax = fig.add_subplot()
    x_hi = SILICON_CUTOFF_NM
    removed_label = "tabulated beyond the cutoff (set to 0)"
    for band, pivot in zip(inst.bands, pivots, strict=True):
        bp = inst.bandpasses[band]
        wave = np.asarray(bp.wave_list, dtype=float)
        thr = np.asarray(bp(wave), dtype=float)
        color = BAND_COLORS.get(band, "k")
        ax.fill_between(wave, thr, color=color, alpha=0.18, lw=0)
        ax.plot(wave, thr, color=color, lw=1.4, label=band)
        raw_nm, raw_thr = raw[band][0] / 10.0, raw[band][1]
        x_hi = max(x_hi, float(raw_nm[raw_thr > 0].max()) if (raw_thr > 0).any() else 0.0)
        beyond = raw_nm >= SILICON_CUTOFF_NM
        if np.any(raw_thr[beyond] > 0):
            ax.plot(raw_nm[beyond], raw_thr[beyond], ls=":", color=color, lw=1.2,
                    label=removed_label)
            removed_label = "_" + removed_label  # one legend entry
        peak = int(np.argmax(thr))
        ax.text(
            wave[peak],
            thr[peak] + 0.02,
            band,
            color=color,
            ha="center",
            va="bottom",
            fontsize=10,
            fontweight="bold",
        )
        ax.axvline(pivot, color=color, lw=0.6, ls=":")
    ax.axvline(SILICON_CUTOFF_NM, color="k", lw=0.9, ls="--")
    ax.text(SILICON_CUTOFF_NM - 8, 0.6, f"silicon cutoff\n{SILICON_CUTOFF_NM:.0f} nm",
            transform=ax.get_xaxis_transform(), fontsize=8, va="center", ha="right")
    ax.set_xlabel("Wavelength [nm]")
    ax.set_ylabel("Total throughput\n(filter × detector QE × mirrors)")
    ax.set_xlim(200, max(1150.0, 50.0 * np.ceil(x_hi / 50.0)))
    ax.set_ylim(0, None)
    top = ax.get_ylim()[1]
    ax.set_ylim(0, top * 1.12)
    handles = [ln for ln in ax.lines if ln.get_label() == "tabulated beyond the cutoff (set to 0)"]
    if handles:
        ax.legend(handles=handles, loc="upper right", frameon=False)
        # the removed tails are ~1% high: show them on a log scale
        ins = ax.inset_axes([0.66, 0.36, 0.32, 0.44])
        for band in inst.bands:
            raw_nm, raw_thr = raw[band][0] / 10.0, raw[band][1]
            if not np.any(raw_thr[raw_nm >= SILICON_CUTOFF_NM] > 0):
                continue
            color = BAND_COLORS.get(band, "k")
            bp = inst.bandpasses[band]
            wave = np.asarray(bp.wave_list, dtype=float)
            ins.plot(wave, np.asarray(bp(wave), dtype=float), color=color, lw=1.2)
            beyond = raw_nm >= SILICON_CUTOFF_NM
            ins.plot(raw_nm[beyond], raw_thr[beyond], ":", color=color, lw=1.2)
        ins.axvline(SILICON_CUTOFF_NM, color="k", lw=0.8, ls="--")
        ins.set_yscale("log")
        ins.set_ylim(1e-4, 1.0)
        ins.set_xlim(850, ax.get_xlim()[1])
        ins.tick_params(labelsize=7)
        ins.set_title("z and y tails (log scale)", fontsize=7)
    ax.set_title("CSST survey-camera bands (dotted verticals: pivot wavelengths)")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Fig. 2: redshift distribution
# --------------------------------------------------------------------------------------------
def fig2_redshift_distribution(photometry) -> Figure:
    """Fig. 2: histogram of the true redshift of the selected galaxies.

    Parameters
    ----------
    photometry : path
        ``results/photometry/photometry.parquet``; rows with ``selected`` True are counted.

    Returns
    -------
    matplotlib.figure.Figure
        Counts per 0.1 in redshift, with the median and mean marked and the test split outlined;
        an inset shows the g- and i-band magnitude distributions of the same galaxies (measured
        ``mag_g``, ``mag_i`` of the photometry; galaxies with a non-positive flux, whose
        magnitude is NaN, are counted in the inset's legend), as the paper's Fig. 2 does.

    Raises
    ------
    PhotozDataError
        If the file lacks ``redshift`` or ``selected`` or no galaxy is selected.
    """
    df = read_photometry(photometry, selected_only=False, columns=("selected",))
    sel = df[df["selected"].astype(bool)]
    if sel.empty:
        raise PhotozDataError(f"photometry {photometry}: no row has selected == True")
    z = sel["redshift"].to_numpy(dtype=float)
    top = max(4.0, float(np.ceil(np.nanmax(z))))
    bins = np.arange(0.0, top + 0.05, 0.1)
    fig = _new_figure(7.0, 4.0)
    ax = fig.add_subplot()
    ax.hist(z, bins=bins, color="0.55", edgecolor="0.3", lw=0.5, label=f"selected (N = {z.size:,})")
    if "split" in sel.columns and (sel["split"] == "test").any():
        zt = sel.loc[sel["split"] == "test", "redshift"].to_numpy(dtype=float)
        ax.hist(zt, bins=bins, histtype="step", color="k", lw=1.2, label=f"test (N = {zt.size:,})")
    med, mean = float(np.median(z)), float(np.mean(z))
    ax.axvline(med, color="C3", ls="--", lw=1.2, label=f"median z = {med:.2f}")
    ax.axvline(mean, color="C0", ls=":", lw=1.4, label=f"mean z = {mean:.2f}")
    ax.set_xlabel("True redshift $z$")
    ax.set_ylabel("Galaxies per $\\Delta z = 0.1$")
    ax.set_xlim(0, top)
    ax.legend(frameon=True, framealpha=0.9, edgecolor="none", loc="upper left",
              bbox_to_anchor=(0.3, 1.0))
    _fig2_magnitude_inset(ax, sel)
    ax.set_title("Redshift distribution of the selected sample (paper: median ~0.8, mean ~0.9)")
    fig.tight_layout()
    return fig


def _fig2_magnitude_inset(ax, sel: pd.DataFrame) -> None:
    """The g and i magnitude histograms of the selected galaxies, inset in Fig. 2's axis."""
    cols = [b for b in ("g", "i") if f"mag_{b}" in sel.columns]
    mags = {b: sel[f"mag_{b}"].to_numpy(dtype=float) for b in cols}
    finite = np.concatenate([m[np.isfinite(m)] for m in mags.values()]) if mags else []
    if len(finite) == 0:
        return
    lo, hi = np.floor(np.min(finite)), np.ceil(np.max(finite))
    bins = np.arange(lo, hi + 0.25, 0.25)
    ins = ax.inset_axes([0.68, 0.42, 0.3, 0.44])
    for band in cols:
        m = mags[band]
        ok = np.isfinite(m)
        label = f"{band} (N = {ok.sum():,})"
        if (~ok).any():
            label += f"\n+{(~ok).sum():,} with flux ≤ 0"
        ins.hist(m[ok], bins=bins, histtype="step", lw=1.3, color=BAND_COLORS[band], label=label)
    ins.set_ylim(0, 1.6 * ins.get_ylim()[1])  # room for the legend above the histograms
    ins.set_xlabel("Aperture AB magnitude", fontsize=7)
    ins.set_ylabel("Galaxies / 0.25 mag", fontsize=7)
    ins.tick_params(labelsize=6)
    ins.legend(fontsize=6, frameon=False, loc="upper left")


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
        within the row's background sigma), so colours compare across bands. The title gives
        the rows' redshift span beside the selected sample's.
    """
    phot, ex = _examples(photometry, shards)
    ids = ex["object_id"].to_numpy(dtype=np.int64)
    stamps = _read_stamps(shards, ids)
    sample = phot[phot["selected"].astype(bool)] if "selected" in phot.columns else phot
    z_sample = sample["redshift"].to_numpy(dtype=float)
    tr = _truth_rows(truth, ids)
    n_rows, n_bands = len(ids), len(BANDS)
    fig = _new_figure(1.25 * n_bands + 0.9, 1.3 * n_rows + 0.5)
    grid = fig.add_gridspec(
        n_rows, n_bands, wspace=0.04, hspace=0.06, left=0.13, right=0.99, top=0.94, bottom=0.02
    )
    for r, oid in enumerate(ids):
        img, noise, scale = stamps[int(oid)]
        sigma = float(np.nanmedian(noise)) if np.isfinite(noise).any() else float(np.std(img))
        sigma = sigma if sigma > 0 else 1.0
        vmax = max(float(np.nanmax(img)), 5 * sigma)
        norm = AsinhNorm(linear_width=sigma, vmin=-3 * sigma, vmax=vmax)
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


def _load_observed_sed() -> Callable | None:
    """``photoz.sed.observed_sed`` if that module is importable, else None."""
    try:
        from photoz.sed import observed_sed
    except ImportError:
        return None
    return observed_sed


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
) -> Figure:
    """Fig. 4: aperture magnitudes of the Fig. 3 galaxies with their scaled best-fit SEDs.

    Parameters
    ----------
    photometry : path
        Photometry parquet (``flux_<band>``, ``flux_err_<band>`` in electrons).
    truth : path
        Truth parquet (``sed_template``, ``sed_amplitude``, ``ebv``, ``redshift``,
        ``flux_<band>``).
    shards : list of path
        Stamp shards (only to pick the same galaxies as Fig. 3).
    instrument_cfg : dict, optional
        ``instrument`` config section (zero points, exposure times, bandpasses).
    sed_library : str
        Template library for ``photoz.sed.observed_sed``.

    Returns
    -------
    matplotlib.figure.Figure
        One panel, as the paper's: AB magnitude (brighter up) vs wavelength (nm), one colour
        per galaxy. Points: the aperture fluxes at the band pivot wavelengths with 1-sigma
        errors (a flux below its 1-sigma error is drawn as a 1-sigma upper limit,
        m(max(F, 0) + sigma), a downward triangle). Curve: the galaxy's best-fit SED (truth table)
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
    observed_sed = _load_observed_sed()
    if observed_sed is None:
        warnings.warn("photoz.sed is not importable: Fig. 4 shows no SED curves", stacklevel=2)
    wave = np.linspace(200.0, 1100.0, 451)
    fig = _new_figure(8.0, 5.6)
    ax = fig.add_subplot()
    colors = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.9, max(len(ids), 1)))
    all_mags = []
    for k in range(len(ids)):
        row = ex.iloc[k]
        color = colors[k]
        flux = row[flux_cols].to_numpy(dtype=float)
        err = row[err_cols].to_numpy(dtype=float)
        f_uj = electrons_to_ujy(flux, zp, ttot)
        e_uj = electrons_to_ujy(err, zp, ttot)
        sed = None
        model = None
        t = tr.iloc[k]
        if observed_sed is not None and {"sed_template", "sed_amplitude"} <= set(tr.columns):
            try:
                sed = observed_sed(
                    t["sed_template"],
                    float(t["sed_amplitude"]),
                    float(t.get("ebv", 0.0) if np.isfinite(t.get("ebv", 0.0)) else 0.0),
                    float(t.get("redshift", row["redshift"])),
                    sed_library,
                )
                model = np.array([sed.calculateFlux(inst.bandpasses[b]) for b in BANDS])
                model = model * inst.area * ttot
            except (PhotozError, ValueError, KeyError) as exc:
                warnings.warn(f"no SED for object {ids[k]}: {exc}", stacklevel=2)
                sed = None
        if model is None and all(c in tr.columns for c in flux_cols):
            model = t[flux_cols].to_numpy(dtype=float)
        scale = np.nan
        if model is not None and np.all(np.isfinite(model)):
            w = np.where((err > 0) & np.isfinite(flux), 1.0 / np.maximum(err, 1e-30) ** 2, 0.0)
            denom = np.sum(w * model**2)
            scale = float(np.sum(w * flux * model) / denom) if denom > 0 else np.nan
        label = f"z = {row['redshift']:.2f}, ID {ids[k]}"
        if np.isfinite(scale):
            label += f"; SED × {scale:.2f}"
        if sed is not None and np.isfinite(scale) and scale > 0:
            ax.plot(wave, ujy_to_ab(scale * sed_to_ujy(sed, wave)), color=color, lw=1.0,
                    alpha=0.8, label=label)
        elif model is not None and np.isfinite(scale) and scale > 0:
            ax.plot(pivots, ujy_to_ab(scale * electrons_to_ujy(model, zp, ttot)), "s",
                    mfc="none", color=color, ms=6, label=label)
        else:
            ax.plot([], [], color=color, label=label)
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
        all_mags.extend(mag[detected & np.isfinite(mag)])
        all_mags.extend(limit[nd])
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
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Fig. 5: architectures, drawn from the models themselves
# --------------------------------------------------------------------------------------------
_STARTS_GROUP = (
    "Linear",
    "Conv1d",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d",
)
_SHORT = {
    "BatchNorm1d": "BN",
    "BatchNorm2d": "BN",
    "ReLU": "ReLU",
    "LeakyReLU": "LeakyReLU",
    "Flatten": None,
    "Dropout": "Dropout",
    "Identity": None,
    "Sigmoid": "Sigmoid",
    "Tanh": "Tanh",
}
#: Dummy inputs for the forward pass that records shapes, by ``model.inputs`` entry.
_DUMMY_SHAPES = {"flux": (2, 20), "image": (2, 7, 32, 32)}


def _is_parallel(module) -> bool:
    """A block whose children run side by side (an inception block).

    Our own heuristic, since PyTorch modules do not declare their graph: the class name contains
    "Inception", or at least two children are named ``branch*``.
    """
    names = [n for n, _ in module.named_children()]
    return "inception" in type(module).__name__.lower() or (
        sum(n.startswith("branch") for n in names) >= 2
    )


def _leaves(module, prefix: str = ""):
    """Yield (qualified name, module) for leaf layers and parallel blocks, in registration order."""
    for name, child in module.named_children():
        full = f"{prefix}{name}"
        if _is_parallel(child) or not list(child.children()):
            yield full, child
        else:
            yield from _leaves(child, full + ".")


def _describe(layer) -> str | None:
    kind = type(layer).__name__
    if _is_parallel(layer):
        return "Inception block" if "inception" in kind.lower() else f"{kind} (parallel)"
    if kind == "Linear":
        return f"Dense {layer.out_features}"
    if kind.startswith("Conv"):
        k = layer.kernel_size[0] if isinstance(layer.kernel_size, tuple) else layer.kernel_size
        s = layer.stride[0] if isinstance(layer.stride, tuple) else layer.stride
        return f"Conv {k}×{k}/{layer.out_channels}" + (f", stride {s}" if s != 1 else "")
    if kind in ("AdaptiveAvgPool2d", "AdaptiveAvgPool1d"):
        return "Global average pool"
    if kind in ("MaxPool2d", "AvgPool2d"):
        k = layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
        s = layer.stride if isinstance(layer.stride, int) else layer.stride[0]
        return f"{'Max' if kind.startswith('Max') else 'Avg'} pool {k}×{k}" + (
            f", stride {s}" if s != 1 else ""
        )
    return _SHORT.get(kind, kind)


def _shape_text(shape) -> str:
    if shape is None:
        return ""
    dims = list(shape[1:])
    if len(dims) == 3:  # (C, H, W) -> Keras's H x W x C
        return f"{dims[1]}×{dims[2]}×{dims[0]}"
    return "×".join(str(d) for d in dims)


def _record_shapes(model) -> dict[int, tuple]:
    """Output shape of every leaf/parallel module from one forward pass on zeros (id -> shape)."""
    import torch

    shapes: dict[int, tuple] = {}
    hooks = [
        m.register_forward_hook(lambda mod, _i, out: shapes.__setitem__(id(mod), tuple(out.shape)))
        for m in model.modules()
        if m is not model
    ]
    inputs = getattr(model, "inputs", None)
    was_training = model.training
    try:
        model.eval()
        if inputs:
            args = [torch.zeros(_DUMMY_SHAPES[i]) for i in inputs]
        else:
            args = [torch.zeros(_DUMMY_SHAPES["flux"])]
        with torch.no_grad():
            model(*args)
    except Exception as exc:  # noqa: BLE001 - a diagram without shapes beats no diagram
        warnings.warn(
            f"fig5: forward pass of {type(model).__name__} failed ({exc}); drawing without shapes",
            stacklevel=2,
        )
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return shapes


def layer_groups(module, shapes: Mapping[int, tuple] | None = None) -> list[dict]:
    """Group a module's layers the way the paper's Fig. 5 draws them.

    A new group starts at every Dense/Conv/pooling layer and every parallel (inception) block;
    BatchNorm and activations join the group before them. Consecutive identical groups are
    merged into one with a repeat count.

    Parameters
    ----------
    module : torch.nn.Module
    shapes : mapping, optional
        ``id(layer) -> output shape`` from a forward pass (:func:`_record_shapes`).

    Returns
    -------
    list of dict
        Each ``{"label": str, "shape": str, "repeat": int, "modules": list, "parallel": bool}``.
    """
    shapes = shapes or {}
    groups: list[dict] = []
    for _, layer in _leaves(module):
        desc = _describe(layer)
        kind = type(layer).__name__
        starts = _is_parallel(layer) or kind in _STARTS_GROUP or not groups
        if starts:
            groups.append(
                {
                    "parts": [desc] if desc else [],
                    "modules": [layer],
                    "parallel": _is_parallel(layer),
                }
            )
        else:
            if desc:
                groups[-1]["parts"].append(desc)
            groups[-1]["modules"].append(layer)
    out: list[dict] = []
    for g in groups:
        label = " + ".join(g["parts"]) if g["parts"] else "(reshape)"
        shape = ""
        for m in reversed(g["modules"]):
            if id(m) in shapes:
                shape = _shape_text(shapes[id(m)])
                break
        if out and out[-1]["label"] == label and out[-1]["shape_key"] == (label, g["parallel"]):
            out[-1]["repeat"] += 1
            out[-1]["shape"] = shape or out[-1]["shape"]
            out[-1]["modules"] += g["modules"]
            continue
        out.append(
            {
                "label": label,
                "shape": shape,
                "repeat": 1,
                "modules": list(g["modules"]),
                "parallel": g["parallel"],
                "shape_key": (label, g["parallel"]),
            }
        )
    for g in out:
        g.pop("shape_key")
    return out


def _group_text(g: dict, compact: bool = False) -> str:
    """Box text of a layer group: label, then the output shape on its own line.

    ``compact`` (narrow boxes) puts the main layer, its BatchNorm/activation and the shape on
    three lines and abbreviates (stride -> s, LeakyReLU -> LReLU).
    """
    label = g["label"]
    if compact:
        parts = label.split(" + ")
        label = parts[0].replace(", stride ", ", s")
        if len(parts) > 1:
            label += "\n" + " + ".join(parts[1:]).replace("LeakyReLU", "LReLU")
    text = label if g["repeat"] == 1 else f"{g['repeat']} × [{label}]"
    return text + (f"\n→ {g['shape']}" if g["shape"] else "")


def _count_parameters(model) -> int:
    """Parameters plus BatchNorm running mean and variance, as the paper's Keras counted."""
    try:
        from photoz.models import count_parameters

        return int(count_parameters(model))
    except ImportError:
        n = sum(p.numel() for p in model.parameters())
        return n + sum(
            b.numel()
            for name, b in model.named_buffers()
            if name.endswith(("running_mean", "running_var"))
        )


def _box(ax, x, y, w, h, text, color, fontsize=7.5, alpha=0.18, bold=False):
    patch = FancyBboxPatch(
        (x - w / 2, y - h / 2),
        w,
        h,
        boxstyle="round,pad=0.004,rounding_size=0.012",
        fc=matplotlib.colors.to_rgba(color, alpha),
        ec=color,
        lw=1.0,
    )
    ax.add_patch(patch)
    ax.text(
        x,
        y,
        text,
        ha="center",
        va="center",
        fontsize=fontsize,
        fontweight="bold" if bold else "normal",
    )
    return patch


def _arrow(ax, x0, y0, x1, y1):
    ax.annotate(
        "",
        xy=(x1, y1),
        xytext=(x0, y0),
        arrowprops={"arrowstyle": "-|>", "color": "0.3", "lw": 0.8, "shrinkA": 0, "shrinkB": 0},
    )


def _draw_stack(
    ax,
    items: list[tuple[str, str]],
    x: float,
    y_top: float,
    y_bottom: float,
    width: float,
    max_step: float = 0.11,
) -> list[float]:
    """Draw boxes (text, colour) top to bottom with arrows between; return their centres."""
    n = len(items)
    step = min(max_step, (y_top - y_bottom) / max(n, 1))
    h = step * 0.68
    ys = [y_top - step * (k + 0.5) for k in range(n)]
    for k, (text, color) in enumerate(items):
        _box(ax, x, ys[k], width, h, text, color)
        if k:
            _arrow(ax, x, ys[k - 1] - h / 2, x, ys[k] + h / 2)
    return ys


def _input_text(model, which: str) -> str:
    return {"flux": "Input: 20 flux features", "image": "Input: 7×32×32 stamp"}.get(which, which)


def _draw_sequential(ax, model, name: str, color: str) -> None:
    shapes = _record_shapes(model)
    groups = layer_groups(model, shapes)
    inputs = getattr(model, "inputs", ("flux",))
    items = [(_input_text(model, inputs[0]), "0.5")]
    items += [(_group_text(g), color) for g in groups]
    items[-1] = (items[-1][0].replace("\n", " (photo-z)\n", 1), color)
    _draw_stack(ax, items, 0.5, 0.93, 0.0, 0.92)
    ax.set_title(f"{name}: {_count_parameters(model):,} parameters", color=color, fontweight="bold")


def _draw_inception(ax, block, shapes: Mapping[int, tuple], color: str) -> None:
    """The parallel branches of one inception block side by side, then the concatenation."""
    branches = list(block.named_children())
    n = len(branches)
    _box(ax, 0.5, 0.9, 0.6, 0.07, "Previous layer", "0.5")
    width = 0.96 / n
    step = 0.2
    tops = []
    for k, (bname, branch) in enumerate(branches):
        x = 0.02 + width * (k + 0.5)
        groups = (
            layer_groups(branch, shapes)
            if list(branch.children())
            else layer_groups(_Wrap(branch), shapes)
        )
        items = [(_group_text(g, compact=True), color) for g in groups]
        ys = _draw_stack(ax, items, x, 0.8, 0.3, width * 0.94, max_step=step)
        ax.text(x, 0.81, bname, ha="center", va="bottom", fontsize=7, color="0.3")
        _arrow(ax, 0.5, 0.9 - 0.035, x, 0.8)
        tops.append((x, ys[-1] - step * 0.68 / 2 if ys else 0.8))
    out_shape = _shape_text(shapes.get(id(block)))
    _box(ax, 0.5, 0.12, 0.6, 0.08, "Concatenate" + (f" → {out_shape}" if out_shape else ""), color)
    for x, yb in tops:
        _arrow(ax, x, yb, 0.5, 0.16)
    ax.set_title("Inception block (CNN)", color=color, fontweight="bold")


class _Wrap:
    """Make a single layer look like a module with one child, for :func:`layer_groups`."""

    def __init__(self, layer):
        self.layer = layer

    def named_children(self):
        yield "layer", self.layer


def _draw_hybrid(ax, model, name: str, color: str) -> None:
    """Hybrid: its input branches side by side (collapsed), concatenated, then the head."""
    shapes = _record_shapes(model)
    inputs = list(getattr(model, "inputs", ()))
    children = list(model.named_children())
    branch_kids = [(n, c) for n, c in children if list(c.children())][: max(len(inputs), 2)]
    rest = [(n, c) for n, c in children if all(c is not b for _, b in branch_kids)]
    xs = np.linspace(0.255, 0.745, len(branch_kids)) if len(branch_kids) > 1 else [0.5]
    bottoms = []
    for k, (bname, branch) in enumerate(branch_kids):
        groups = layer_groups(branch, shapes)
        text = f"{bname.upper()} branch\n" + "\n".join(
            _group_text(g, compact=True).replace("\n→", " →").replace("\n", " + ") for g in groups
        )
        which = inputs[k] if k < len(inputs) else ""
        branch_color = (
            NET_COLORS["mlp"]
            if "mlp" in bname.lower()
            else (NET_COLORS["cnn"] if "cnn" in bname.lower() else color)
        )
        _box(ax, xs[k], 0.9, 0.46, 0.06, _input_text(model, which), "0.5")
        nlines = text.count("\n") + 1
        h = 0.034 * nlines + 0.02
        yc = 0.85 - 0.02 - h / 2
        _box(ax, xs[k], yc, 0.48, h, text, branch_color, fontsize=6.0)
        _arrow(ax, xs[k], 0.87, xs[k], yc + h / 2)
        bottoms.append((xs[k], yc - h / 2))
    y_low = min(b for _, b in bottoms) if bottoms else 0.85
    widths = [
        shapes.get(id(g["modules"][-1]))
        for _, c in branch_kids
        for g in layer_groups(c, shapes)[-1:]
    ]
    concat = sum(s[-1] for s in widths if s) if widths and all(widths) else None
    items = [("Concatenate" + (f"  → {concat}" if concat else ""), color)]

    class _Rest:
        def named_children(self_inner):
            yield from rest

    items += [(_group_text(g), color) for g in layer_groups(_Rest(), shapes)]
    items[-1] = (items[-1][0].replace("\n", " (photo-z)\n", 1), color)
    y_top = y_low - 0.03
    step = min(0.1, y_top / len(items))
    ys = _draw_stack(ax, items, 0.5, y_top, 0.0, 0.8, max_step=step)
    for x, yb in bottoms:
        _arrow(ax, x, yb, 0.5, ys[0] + step * 0.68 / 2)
    ax.set_title(f"{name}: {_count_parameters(model):,} parameters", color=color, fontweight="bold")


def fig5_architectures(build_model: Callable | None = None) -> Figure:
    """Fig. 5: the MLP, the CNN with its inception block, and the hybrid, drawn from the models.

    Parameters
    ----------
    build_model : callable, optional
        ``build_model(name) -> torch.nn.Module`` for ``"mlp"``, ``"cnn"``, ``"hybrid"``; default
        :func:`photoz.models.build_model`. The diagram walks each model's named children, groups
        Dense/Conv layers with the BatchNorm and activations that follow them, and labels each
        group with its output shape from one forward pass on zeros; so it always shows the
        networks that are actually trained.

    Returns
    -------
    matplotlib.figure.Figure
        Four panels: MLP, CNN, inception block, hybrid (each titled with its parameter count,
        BatchNorm running statistics included as in the paper).
    """
    if build_model is None:
        from photoz.models import build_model
    models = {n: build_model(n) for n in ("mlp", "cnn", "hybrid")}
    fig = _new_figure(16.0, 6.4)
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [0.9, 1.0, 1.45, 1.65], "wspace": 0.04})
    for ax in axes:
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.axis("off")
    _draw_sequential(axes[0], models["mlp"], "MLP", NET_COLORS["mlp"])
    _draw_sequential(axes[1], models["cnn"], "CNN", NET_COLORS["cnn"])
    cnn_shapes = _record_shapes(models["cnn"])
    block = next((m for _, m in _leaves(models["cnn"]) if _is_parallel(m)), None)
    if block is not None:
        _draw_inception(axes[2], block, cnn_shapes, NET_COLORS["cnn"])
    else:
        axes[2].text(0.5, 0.5, "(no parallel block found in the CNN)", ha="center")
    _draw_hybrid(axes[3], models["hybrid"], "Hybrid", NET_COLORS["hybrid"])
    fig.subplots_adjust(left=0.01, right=0.99, top=0.92, bottom=0.02)
    return fig


# --------------------------------------------------------------------------------------------
# Fig. 6: training history
# --------------------------------------------------------------------------------------------
def stop_reason(history: pd.DataFrame, max_epochs: int | None) -> str:
    """Why training ended: ``"max_epochs"`` (cut at the limit) or ``"early_stopping"``.

    Parameters
    ----------
    history : pandas.DataFrame
        A training history (:func:`read_history`).
    max_epochs : int or None
        The network's ``train.max_epochs``; None when unknown.

    Returns
    -------
    str
        ``"max_epochs"`` when the last epoch reached ``max_epochs``, ``"early_stopping"`` when
        it ended before, ``"unknown"`` when ``max_epochs`` is None. (The loop in
        :mod:`photoz.training` only ends early through early stopping.)
    """
    if max_epochs is None:
        return "unknown"
    return "max_epochs" if int(history["epoch"].max()) >= int(max_epochs) else "early_stopping"


def fig6_training_history(histories: Mapping[str, str],
                          max_epochs: Mapping[str, int] | None = None) -> Figure:
    """Fig. 6: accuracy (|dz|/(1+z) < 0.15) and MAE loss versus epoch for each network.

    Parameters
    ----------
    histories : dict of str to path
        Network -> ``results/models/<net>_history.csv``.
    max_epochs : dict of str to int, optional
        Network -> ``train.max_epochs``, to say how each training ended (:func:`stop_reason`).

    Returns
    -------
    matplotlib.figure.Figure
        Left: accuracy (training solid, validation dashed, as the paper); right: the MAE loss on
        a log scale. A star marks each network's best epoch (lowest validation loss, the kept
        model). The last epoch of each validation curve carries a marker for how training
        ended: a filled square where it was cut at ``max_epochs``, a cross where early stopping
        ended it; the legend states the same with the last learning rate.
    """
    nets = _ordered_nets(histories)
    if not nets:
        raise PhotozConfigError("fig6_training_history: no histories given")
    max_epochs = dict(max_epochs or {})
    fig = _new_figure(10.0, 4.4)
    ax_acc, ax_loss = fig.subplots(1, 2)
    end_marker = {"max_epochs": "s", "early_stopping": "X", "unknown": "o"}
    for net in nets:
        h = read_history(histories[net])
        c = NET_COLORS[net]
        ep = h["epoch"].to_numpy()
        mk = {"marker": "o", "ms": 3} if len(ep) <= 30 else {}  # short runs: show each epoch
        reason = stop_reason(h, max_epochs.get(net))
        lr = float(h["learning_rate"].iloc[-1])
        how = {"max_epochs": f"cut at max_epochs = {max_epochs.get(net)}",
               "early_stopping": f"early stop at epoch {int(ep[-1])}",
               "unknown": f"ended at epoch {int(ep[-1])}"}[reason]
        ax_acc.plot(
            ep, h["train_accuracy"], "-", color=c, lw=1.3, label=f"{NET_LABELS[net]} train", **mk
        )
        ax_acc.plot(
            ep, h["val_accuracy"], "--", color=c, lw=1.3, label=f"{NET_LABELS[net]} val.", **mk
        )
        ax_loss.plot(ep, h["train_loss"], "-", color=c, lw=1.3, **mk)
        ax_loss.plot(ep, h["val_loss"], "--", color=c, lw=1.3, **mk)
        val = h["val_loss"].to_numpy(dtype=float)
        if np.isfinite(val).any():
            best = int(np.nanargmin(val))
            ax_loss.plot(ep[best], val[best], "*", color=c, ms=10, mec="k", mew=0.5)
            ax_acc.plot(
                ep[best], h["val_accuracy"].iloc[best], "*", color=c, ms=10, mec="k", mew=0.5
            )
        ax_loss.plot(ep[-1], val[-1], end_marker[reason], color=c, ms=8, mec="k", mew=0.6,
                     label=f"{NET_LABELS[net]}: {how} (lr {lr:.0e})", zorder=4)
        ax_acc.plot(ep[-1], h["val_accuracy"].iloc[-1], end_marker[reason], color=c, ms=8,
                    mec="k", mew=0.6, zorder=4)
    ax_acc.set_xlabel("Epoch")
    ax_acc.set_ylabel(r"Accuracy: fraction with $|\Delta z|/(1+z) < 0.15$")
    ax_acc.legend(ncol=2, fontsize=7, loc="best", framealpha=0.9, edgecolor="none")
    ax_loss.legend(fontsize=7, loc="upper right", framealpha=0.9, edgecolor="none",
                   title="how training ended (■ max_epochs, ✕ early stopping)",
                   title_fontsize=7)
    for ax in (ax_acc, ax_loss):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.set_xlabel("Epoch")
    ax_loss.set_ylabel("Loss: mean absolute error")
    ax_loss.set_yscale("log")
    ax_acc.set_title("Accuracy")
    ax_loss.set_title("Loss")
    fig.suptitle(
        "Training history (solid: training; dashed: validation; "
        "★: best epoch = lowest validation loss; ■ / ✕: last epoch)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Fig. 7: photo-z vs true z
# --------------------------------------------------------------------------------------------
#: Fig. 7 panel titles: each network named by its input, as the paper titles its panels.
INPUT_TITLES: dict[str, str] = {
    "mlp": "Fluxes only (MLP)",
    "cnn": "Images only (CNN)",
    "hybrid": "Fluxes + images (Hybrid)",
    "hybrid_transfer": "Fluxes + images, transfer (Hybrid-transfer)",
}


def point_density(x: np.ndarray, y: np.ndarray, x_edges: np.ndarray, y_edges: np.ndarray
                  ) -> np.ndarray:
    """Number of points in the 2-d histogram cell of each point; shape (n,).

    Parameters
    ----------
    x, y : ndarray, shape (n,)
        Points inside the edges (points outside get 0).
    x_edges, y_edges : ndarray
        Cell edges (increasing).

    Returns
    -------
    ndarray of int, shape (n,)
        The colour of Fig. 7's density-coloured points.
    """
    counts, _, _ = np.histogram2d(x, y, bins=[x_edges, y_edges])
    ix = np.searchsorted(x_edges, x, side="right") - 1
    iy = np.searchsorted(y_edges, y, side="right") - 1
    ok = (ix >= 0) & (ix < counts.shape[0]) & (iy >= 0) & (iy < counts.shape[1])
    out = np.zeros(x.size, dtype=int)
    out[ok] = counts[ix[ok], iy[ok]].astype(int)
    return out


def _density_scatter(fig, ax, x, y, x_edges, y_edges, label: str):
    """Draw points coloured by cell density (viridis, log), densest on top; add a colour bar."""
    dens = point_density(x, y, x_edges, y_edges)
    order = np.argsort(dens, kind="stable")
    vmax = max(int(dens.max()) if dens.size else 1, 2)
    sc = ax.scatter(x[order], y[order], c=dens[order], s=4, lw=0, cmap="viridis",
                    norm=LogNorm(vmin=1, vmax=vmax), rasterized=True)
    cax = ax.inset_axes([1.015, 0.0, 0.035, 1.0])
    cb = fig.colorbar(sc, cax=cax)
    cb.set_label(label, fontsize=7)
    cb.ax.tick_params(labelsize=6)
    cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    cb.ax.yaxis.set_minor_formatter(NullFormatter())
    return sc


def _edge_arrows(ax, x: np.ndarray, above: np.ndarray, below: np.ndarray,
                 above_text: str, below_text: str) -> None:
    """Mark points beyond the y-range: grey triangles just inside the edge at their x, and a count.

    ``above`` and ``below`` are boolean masks over ``x``; the counts read "▲ n above_text".
    """
    trans = ax.get_xaxis_transform()
    for mask, y_frac, marker, va, yt, arrow, text in (
        (above, 0.965, "^", "top", 0.93, "▲", above_text),
        (below, 0.035, "v", "bottom", 0.07, "▼", below_text),
    ):
        n = int(mask.sum())
        if n == 0:
            continue
        ax.plot(x[mask], np.full(n, y_frac), marker, color="0.4", ms=3.5, ls="none",
                transform=trans, zorder=5)
        ax.text(0.985, yt, f"{arrow} {n:,} {text}", transform=ax.transAxes, ha="right", va=va,
                fontsize=7, color="0.15",
                bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1.0})


def fig7_zphot_vs_zspec(predictions: Mapping[str, str], z_max: float | None = None) -> Figure:
    """Fig. 7: photo-z versus true redshift on the test set, one 2 x 1 panel pair per network.

    Parameters
    ----------
    predictions : dict of str to path
        Network -> predictions parquet; rows with split == "test" are drawn.
    z_max : float, optional
        Axis range 0 to ``z_max``; default 4 (the paper's), or the next integer above the
        largest true redshift when more than 0.5% of the test set lies above 4.

    Returns
    -------
    matplotlib.figure.Figure
        2 x 2 networks, each titled by its input (:data:`INPUT_TITLES`); each a panel of
        z_pred vs z_true with points coloured by density (viridis: galaxies in the point's
        cell of a 100 x 100 grid, log scale, with a colour bar), the 1:1 line and dashed
        z_true +- 0.15 (1 + z_true), annotated with eta, sigma_NMAD and MAE (PAPER_SPEC §6);
        under it dz/(1+z) vs z_true in +-0.25, coloured the same way with its own colour bar.
        Galaxies outside an axis range are not drawn as data: grey triangles just inside the
        edge at their z_true and a count mark them ("▲ n above +0.25"); the counts and the
        drawn points add up to the test set.
    """
    nets = _ordered_nets(predictions)
    if not nets:
        raise PhotozConfigError("fig7_zphot_vs_zspec: no predictions given")
    data = {n: pzm.read_predictions(predictions[n], split="test") for n in nets}
    if z_max is None:
        # the paper's 0-4, widened only when more than 0.5% of the test set lies beyond
        zt_all = np.concatenate([d["z_true"].to_numpy() for d in data.values()])
        beyond = np.mean(zt_all > 4.0)
        z_max = 4.0 if beyond <= 0.005 else float(np.ceil(zt_all.max()))
    fig = _new_figure(10.0, 10.5)
    outer = fig.add_gridspec(
        2, 2, hspace=0.25, wspace=0.42, left=0.07, right=0.93, top=0.95, bottom=0.06
    )
    edges = np.linspace(0.0, z_max, 101)
    e_edges = np.linspace(-0.25, 0.25, 51)
    line = np.linspace(0.0, z_max, 50)
    for k, net in enumerate(nets[:4]):
        inner = outer[k // 2, k % 2].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.0)
        ax = fig.add_subplot(inner[0])
        axr = fig.add_subplot(inner[1], sharex=ax)
        zt = data[net]["z_true"].to_numpy()
        zp = data[net]["z_pred"].to_numpy()
        x_in = (zt >= 0.0) & (zt <= z_max)
        inside = x_in & (zp >= 0.0) & (zp <= z_max)
        _density_scatter(fig, ax, zt[inside], zp[inside], edges, edges,
                         f"galaxies per ({z_max / 100:g})² cell")
        _edge_arrows(ax, zt, x_in & (zp > z_max), x_in & (zp < 0.0),
                     f"with z_pred > {z_max:g}", "with z_pred < 0")
        n_x_out = int((~x_in).sum())
        if n_x_out:
            ax.text(0.985, 0.15, f"▶ {n_x_out:,} with z_true > {z_max:g} (not drawn)",
                    transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.15")
        ax.plot(line, line, color="k", lw=0.8)
        for sgn in (1, -1):
            ax.plot(line, line + sgn * 0.15 * (1 + line), "--", color="k", lw=0.8)
        ax.set_xlim(0, z_max)
        ax.set_ylim(0, z_max)
        ax.set_ylabel(r"Photo-z $z_{\rm pred}$")
        ax.tick_params(labelbottom=False)
        ax.set_title(INPUT_TITLES[net], color=NET_COLORS[net], fontweight="bold")
        m = pzm.point_metrics(zp, zt)
        ax.text(
            0.04,
            0.96,
            f"{NET_LABELS[net]}\n$\\eta$ = {100 * m['outlier_fraction']:.2f}%\n"
            f"$\\sigma_{{\\rm NMAD}}$ = {m['sigma_nmad']:.3f}\nMAE = {m['mae']:.3f}\n"
            f"N = {m['n']:,}",
            transform=ax.transAxes,
            va="top",
            fontsize=8.5,
            color="k",
            bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1.5},
        )
        e = pzm.ez(zp, zt)
        e_in = x_in & (e >= -0.25) & (e <= 0.25)
        _density_scatter(fig, axr, zt[e_in], e[e_in], edges, e_edges, "galaxies\nper cell")
        _edge_arrows(axr, zt, x_in & (e > 0.25), x_in & (e < -0.25), "above +0.25",
                     "below −0.25")
        if n_x_out:
            axr.text(0.015, 0.07, f"▶ {n_x_out:,} with z_true > {z_max:g}", fontsize=7,
                     transform=axr.transAxes, va="bottom", color="0.15",
                     bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1.0})
        axr.axhline(0, color="k", lw=0.8)
        for sgn in (1, -1):
            axr.axhline(sgn * 0.15, ls="--", color="k", lw=0.8)
        axr.set_ylim(-0.25, 0.25)
        axr.set_xlabel(r"True redshift $z_{\rm true}$")
        axr.set_ylabel(r"$\Delta z/(1+z)$")
    return fig


# --------------------------------------------------------------------------------------------
# Fig. 8: outlier fraction vs redshift
# --------------------------------------------------------------------------------------------
#: Fig. 8: bins with fewer test galaxies than this are drawn with open markers and do not set
#: the y-range (their outlier fraction has a binomial error of >~ 5 percentage points).
FIG8_SMALL_BIN = 20
#: One-sided confidence of the upper limit drawn for a bin without outliers (1 sigma).
FIG8_LIMIT_CL = 0.8413


def zero_outlier_upper_limit(n: np.ndarray, cl: float = FIG8_LIMIT_CL) -> np.ndarray:
    """Upper limit on the outlier fraction of a bin of ``n`` galaxies with none.

    The one-sided binomial (Clopper & Pearson 1934) limit p with (1 - p)^n = 1 - cl, i.e.
    p = 1 - (1 - cl)^(1/n); for cl = 0.8413 (1 sigma) and n = 10, p = 0.168.

    Parameters
    ----------
    n : ndarray of int, shape (k,)
        Galaxies per bin (> 0).
    cl : float
        Confidence level.

    Returns
    -------
    ndarray, shape (k,)
        Fraction (0-1).
    """
    n = np.asarray(n, dtype=float)
    return 1.0 - (1.0 - cl) ** (1.0 / n)


def fig8_outlier_fraction(
    predictions: Mapping[str, str], n_bootstrap: int = 200, seed: int = 0
) -> Figure:
    """Fig. 8: outlier percentage in bins of 0.5 of photo-z (top) and of true redshift (bottom).

    Parameters
    ----------
    predictions : dict of str to path
        Network -> predictions parquet (split == "test" rows).
    n_bootstrap : int
        Bootstrap resamplings of the test set for the error bars (:func:`photoz.metrics.binned_metrics`).
    seed : int

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, each with a strip under it giving the galaxies per bin (log scale). Per
        network the outlier percentage (|dz|/(1+z) > 0.15) per bin with bootstrap 1-sigma
        errors, markers slightly offset per network. A bin without outliers is drawn as a
        1-sigma upper limit (:func:`zero_outlier_upper_limit`, a downward arrow); a bin with
        fewer than :data:`FIG8_SMALL_BIN` galaxies has an open marker and does not set the
        y-range (if its value lies above, a triangle at the top edge gives it). Photo-z bins
        start below 0 when any prediction does, so negative predictions stay on the axis.
        Empty bins are not drawn.
    """
    nets = _ordered_nets(predictions)
    if not nets:
        raise PhotozConfigError("fig8_outlier_fraction: no predictions given")
    data = {n: pzm.read_predictions(predictions[n], split="test") for n in nets}
    top = max(max(float(d["z_true"].max()), float(d["z_pred"].max())) for d in data.values())
    edges = pzm.redshift_bin_edges(top, 0.5)
    z_pred_min = min(float(d["z_pred"].min()) for d in data.values())
    pred_edges = edges
    if z_pred_min < 0:
        lo = 0.5 * np.floor(z_pred_min / 0.5)
        pred_edges = np.round(np.concatenate([np.arange(lo, 0.0, 0.5), edges]), 10)
    fig = _new_figure(7.5, 8.0)
    grid = fig.add_gridspec(4, 1, height_ratios=[3, 1, 3, 1], hspace=0.08)
    ax_top = fig.add_subplot(grid[0])
    cnt_top = fig.add_subplot(grid[1], sharex=ax_top)
    ax_bot = fig.add_subplot(grid[2], sharex=ax_top)
    cnt_bot = fig.add_subplot(grid[3], sharex=ax_top)
    seeds = np.random.SeedSequence(seed).spawn(len(nets))
    offsets = np.linspace(-0.09, 0.09, len(nets)) if len(nets) > 1 else [0.0]
    x_top, x_lo = 0.0, 0.0
    panels = ((ax_top, cnt_top, "z_pred", "photo-z", pred_edges),
              (ax_bot, cnt_bot, "z_true", "true redshift", edges))
    for ax, cnt, by, title, bin_edges in panels:
        tables = {}
        y_hi = 0.0
        for k, net in enumerate(nets):
            d = data[net]
            t = pzm.binned_metrics(
                d["z_pred"].to_numpy(),
                d["z_true"].to_numpy(),
                by=by,
                edges=bin_edges,
                n_bootstrap=n_bootstrap,
                seed=np.random.default_rng(seeds[k]),
            )
            n = t["n"].to_numpy()
            frac = 100 * t["outlier_fraction"].to_numpy(dtype=float)
            err = 100 * t["outlier_fraction_err"].fillna(0).to_numpy(dtype=float)
            has = n > 0
            # what a point shows: the fraction, or for a bin without outliers its upper limit
            value = np.where(has & (frac == 0), 100 * zero_outlier_upper_limit(np.maximum(n, 1)),
                             frac)
            tables[net] = (t, n, frac, err, has, value)
            big = has & (n >= FIG8_SMALL_BIN)
            if big.any():
                y_hi = max(y_hi, float(np.nanmax(np.where(big, value + np.where(frac > 0, err, 0),
                                                          0.0))))
            if has.any():
                x_top = max(x_top, float(t["z_hi"][has].max()))
                x_lo = min(x_lo, float(t["z_lo"][has].min()))
        y_max = max(5.0, 1.15 * y_hi)
        over_by_bin: dict[float, list] = {}
        for k, net in enumerate(nets):
            t, n, frac, err, has, value = tables[net]
            x = t["z_mid"].to_numpy(dtype=float) + offsets[k]
            c = NET_COLORS[net]
            big, small = has & (n >= FIG8_SMALL_BIN), has & (n < FIG8_SMALL_BIN)
            zero = has & (frac == 0)
            over = has & (value > y_max)
            # the line joins the well-populated bins with outliers
            ax.plot(x[big & ~zero], frac[big & ~zero], "-", color=c, lw=1.0, alpha=0.7,
                    label=NET_LABELS[net])
            for mask, mfc in ((big & ~zero, c), (small & ~zero & ~over, "white")):
                if mask.any():
                    ax.errorbar(x[mask], frac[mask], yerr=err[mask], fmt="o", color=c, mfc=mfc,
                                ms=4.5, capsize=2, lw=1.0)
            lim = zero & ~over
            if lim.any():
                ax.errorbar(x[lim], value[lim], yerr=0.06 * y_max, uplims=True, fmt="_", color=c,
                            ms=7, lw=1.0, capsize=0, mfc="white" if small[lim].any() else c)
            for j in np.flatnonzero(over):
                over_by_bin.setdefault(round(float(t["z_mid"].iloc[j]), 6), []).append(
                    (x[j], value[j], c, bool(zero[j])))
            cnt.step(t["z_mid"], np.where(has, n, np.nan), where="mid", color=c, lw=1.0)
        ax.set_ylim(0, y_max)
        for entries in over_by_bin.values():  # small bins above the range: edge marks + values
            for row, (xv, yv, c, is_limit) in enumerate(entries):
                ax.plot(xv, 0.975 * y_max, "^", color=c, mfc="white", ms=6)
                ax.text(float(np.mean([e[0] for e in entries])), (0.92 - 0.065 * row) * y_max,
                        f"{'<' if is_limit else ''}{yv:.0f}%", color=c, fontsize=6.5,
                        ha="center", va="top")
        ax.set_ylabel(f"Outliers [%]\n(bins of {title})")
        cnt.set_yscale("log")
        cnt.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        cnt.yaxis.set_minor_formatter(NullFormatter())
        cnt.set_ylabel("N", fontsize=8)
        cnt.tick_params(labelsize=7)
        cnt.axhline(FIG8_SMALL_BIN, color="0.5", lw=0.6, ls=":")
        for e in bin_edges:
            ax.axvline(e, color="0.9", lw=0.5, zorder=0)
        ax.tick_params(labelbottom=False)
    ax_top.legend(frameon=False, ncol=4, fontsize=7.5, loc="lower center",
                  bbox_to_anchor=(0.5, 1.0))
    cnt_top.set_xlabel(r"Photo-z $z_{\rm pred}$")
    cnt_bot.set_xlabel(r"True redshift $z_{\rm true}$")
    cnt_bot.set_xlim(min(edges[0], x_lo), max(4.0, x_top))
    fig.suptitle(
        r"Outlier fraction ($|\Delta z|/(1+z) > 0.15$), bootstrap 1σ errors; open: "
        f"N < {FIG8_SMALL_BIN}; arrows: upper limits (no outlier)",
        fontsize=8.5,
    )
    fig.subplots_adjust(left=0.12, right=0.97, top=0.92, bottom=0.07)
    return fig


# --------------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------------
_BUILDERS: dict[str, Callable[..., Figure]] = {
    "fig1_throughputs": fig1_throughputs,
    "fig2_redshift_distribution": fig2_redshift_distribution,
    "fig3_example_stamps": fig3_example_stamps,
    "fig4_aperture_fluxes": fig4_aperture_fluxes,
    "fig5_architectures": fig5_architectures,
    "fig6_training_history": fig6_training_history,
    "fig7_zphot_vs_zspec": fig7_zphot_vs_zspec,
    "fig8_outlier_fraction": fig8_outlier_fraction,
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "fig1_throughputs": (),
    "fig2_redshift_distribution": ("photometry",),
    "fig3_example_stamps": ("photometry", "shards", "truth"),
    "fig4_aperture_fluxes": ("photometry", "truth", "shards"),
    "fig5_architectures": (),
    "fig6_training_history": ("histories",),
    "fig7_zphot_vs_zspec": ("predictions",),
    "fig8_outlier_fraction": ("predictions",),
}


def make_figure(name: str, **inputs) -> Figure:
    """Build one figure of :data:`FIGURES` and return it (see :func:`plot_figure` for inputs).

    Raises
    ------
    PhotozConfigError
        For an unknown figure name or a missing required input.
    """
    if name not in _BUILDERS:
        raise PhotozConfigError(f"unknown figure {name!r}; choose one of {list(FIGURES)}")
    for key in _REQUIRED[name]:
        _need(inputs, name, key)
    with matplotlib.rc_context(_RC):
        return _BUILDERS[name](**inputs)


def plot_figure(name: str, out_png, out_pdf, **inputs) -> None:
    """Draw one of the paper's figures and write it as PNG and PDF (atomically).

    Parameters
    ----------
    name : str
        One of :data:`FIGURES`.
    out_png, out_pdf : path
        Outputs; directories are created.
    **inputs
        By figure: ``fig1_throughputs``: ``instrument_cfg`` (dict);
        ``fig2_redshift_distribution``: ``photometry`` (path);
        ``fig3_example_stamps``: ``photometry``, ``shards`` (list of paths), ``truth``;
        ``fig4_aperture_fluxes``: ``photometry``, ``truth``, ``shards``, ``instrument_cfg``,
        ``sed_library`` (default "cosmos"); ``fig5_architectures``: none (optionally
        ``build_model``); ``fig6_training_history``: ``histories`` (dict net -> csv), optionally ``max_epochs``
        (dict net -> int);
        ``fig7_zphot_vs_zspec`` and ``fig8_outlier_fraction``: ``predictions`` (dict net ->
        parquet; Fig. 8 also ``n_bootstrap``, ``seed``).

    Raises
    ------
    PhotozConfigError
        Unknown figure or missing input.
    PhotozDataError
        Unreadable or malformed input file (the message names file and column).
    """
    with tqdm(total=3, desc=name, unit="step") as bar:
        with matplotlib.rc_context(_RC):
            fig = make_figure(name, **inputs)
            bar.update()
            _save(fig, out_png, "png")
            bar.update()
            _save(fig, out_pdf, "pdf")
            bar.update()
