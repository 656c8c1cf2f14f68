"""Figs. 1 and 2 of the paper: the CSST throughputs and the selected sample's redshifts."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from photoz.errors import PhotozDataError
from photoz.plots.style import BAND_COLORS, _new_figure
from photoz.products.photometry import read_photometry

# --------------------------------------------------------------------------------------------
# Fig. 1: throughputs
# --------------------------------------------------------------------------------------------
#: Fig. 1's legend label of the curves' parts beyond the silicon cutoff.
_FIG1_REMOVED = "tabulated beyond the cutoff (set to 0)"


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
    removed_label = _FIG1_REMOVED
    for band, pivot in zip(inst.bands, pivots, strict=True):
        band_hi, tail = _fig1_band(ax, inst.bandpasses[band], raw[band], band, pivot,
                                   removed_label)
        x_hi = max(x_hi, band_hi)
        if tail:
            removed_label = "_" + _FIG1_REMOVED  # one legend entry
    ax.axvline(SILICON_CUTOFF_NM, color="k", lw=0.9, ls="--")
    ax.text(SILICON_CUTOFF_NM - 8, 0.6, f"silicon cutoff\n{SILICON_CUTOFF_NM:.0f} nm",
            transform=ax.get_xaxis_transform(), fontsize=8, va="center", ha="right")
    ax.set_xlabel("Wavelength [nm]")
    ax.set_ylabel("Total throughput\n(filter × detector QE × mirrors)")
    ax.set_xlim(200, max(1150.0, 50.0 * np.ceil(x_hi / 50.0)))
    ax.set_ylim(0, None)
    top = ax.get_ylim()[1]
    ax.set_ylim(0, top * 1.12)
    handles = [ln for ln in ax.lines if ln.get_label() == _FIG1_REMOVED]
    if handles:
        ax.legend(handles=handles, loc="upper right", frameon=False)
        _fig1_tails_inset(ax, inst, raw)
    ax.set_title("CSST survey-camera bands (dotted verticals: pivot wavelengths)")
    fig.tight_layout()
    return fig


def _fig1_band(ax, bp, raw_curve, band: str, pivot: float,
               removed_label: str) -> tuple[float, bool]:
    """Draw one band of Fig. 1: its filled throughput curve, the tabulated part beyond the
    silicon cutoff (dotted, labelled ``removed_label``), its name at the peak and its pivot.

    Returns the reddest wavelength (nm) where the tabulated curve is positive (0 if nowhere) and
    whether a part beyond the cutoff was drawn.
    """
    from photoz.instrument import SILICON_CUTOFF_NM

    wave = np.asarray(bp.wave_list, dtype=float)
    thr = np.asarray(bp(wave), dtype=float)
    color = BAND_COLORS.get(band, "k")
    ax.fill_between(wave, thr, color=color, alpha=0.18, lw=0)
    ax.plot(wave, thr, color=color, lw=1.4, label=band)
    raw_nm, raw_thr = raw_curve[0] / 10.0, raw_curve[1]
    x_hi = float(raw_nm[raw_thr > 0].max()) if (raw_thr > 0).any() else 0.0
    beyond = raw_nm >= SILICON_CUTOFF_NM
    tail = bool(np.any(raw_thr[beyond] > 0))
    if tail:
        ax.plot(raw_nm[beyond], raw_thr[beyond], ls=":", color=color, lw=1.2,
                label=removed_label)
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
    return x_hi, tail


def _fig1_tails_inset(ax, inst, raw: Mapping) -> None:
    """Draw Fig. 1's inset: on a log scale, the bands with a tail beyond the silicon cutoff (the
    removed tails are ~1% high), each curve solid and its tail dotted, and the cutoff."""
    from photoz.instrument import SILICON_CUTOFF_NM

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


