"""Galaxy input catalogues -> the truth table (docs/outputs.md §1).

Reproduces the input stage of Zhou et al. 2022 (MNRAS 512, 4593, Sect. 2; PAPER_SPEC §1-2): real
galaxies with a true redshift, an SED fitted at that redshift, the CSST fluxes it predicts
(paper eqs. 1-2) and a morphology. Three sources:

``dc2`` (default)
    The LSST DESC DC2 training + validation catalogues shipped in pz-rail-base (true redshift, LSST
    ugrizy magnitudes and errors; 10,225 + 20,449 galaxies). The SED is fitted to the LSST
    photometry through GalSim's LSST bandpasses; shapes come from :mod:`photoz.catalog.morphology`.
``flow``
    ``n_galaxies`` galaxies sampled (seeded) from a normalizing flow fitted to DC2's redshifts and
    magnitudes (:mod:`photoz.catalog.flow`), then treated as DC2: it resamples the DC2 population, it does
    not add new galaxies.
``cosmos``
    GalSim's COSMOS real-galaxy catalogue (:mod:`photoz.catalog.cosmos`), ``zphot`` as the true redshift,
    Sersic fits or real HST stamps for the morphology. The SED is fitted to the catalogue's HSC
    grizy photometry where it has some (the BlendingToolKit sample; speclite's ``hsc2017``
    curves). Otherwise the template follows GalSim's own rule for chromatic COSMOS galaxies
    (``COSMOSCatalog._buildParametric``: Sersic n < 1.5 disc, 1.5-3 intermediate, >= 3 bulge; here
    Sd_A_0 / Sb_A_0 / Ell3_A_0 of the COSMOS library or Scd/Sbc/El of CWW) with E(B-V) = 0, scaled to
    the F814W magnitude.

With ``template_mixing`` a galaxy's SED may be a non-negative mixture of two neighbouring templates
(:func:`photoz.catalog.sedfit.fit_templates` with ``pairs``); its CSST and F814W fluxes and rest-frame r
magnitude are then the sums of the two templates' (fluxes are linear in the SED), and
``sed_template`` names the one giving more of the CSST i flux (it sets the early/late type of the
morphology).

The split is a seeded column of the table (:mod:`photoz.catalog.splits`).
"""

from __future__ import annotations

import logging

import galsim
import numpy as np
import pandas as pd

from photoz.catalog.components import assign_components
from photoz.catalog.cosmos import read_cosmos_catalog, resolve_cosmos_dir
from photoz.catalog.flow import sample_catalog, sample_seed
from photoz.catalog.morphology import COSMOLOGY, assign_morphology, is_early_type
from photoz.catalog.sedfit import fit_templates, template_mixture
from photoz.catalog.sources import (
    HSC_DEPTH_5SIG,
    LSST_BANDS,
    _hsc_bandpasses,
    _mags_to_maggies,
    dc2_files,
    read_dc2,
)
from photoz.catalog.splits import assign_split, catalog_streams
from photoz.errors import PhotozDataError
from photoz.instrument import Instrument
from photoz.products.catalog import write_fit_quality, write_truth
from photoz.sed import FluxGrid, build_flux_grid

log = logging.getLogger(__name__)

#: Minimum number of usable bands for an SED fit.
MIN_FIT_BANDS = 3
#: Templates of GalSim's COSMOS colour rule (bulge, intermediate, disc) per library.
GALSIM_RULE_TEMPLATES = {"cosmos": ("Ell3_A_0", "Sb_A_0", "Sd_A_0"),
                         "cww": ("El_B2004a", "Sbc_B2004a", "Scd_B2004a")}
#: Sources of LSST ugrizy photometry with errors (DC2 and the flow resampling it, photoz.catalog.flow).
LSST_SOURCES = ("dc2", "flow")
#: E(B-V) grid of the fit when fit_ebv is true, mag.
EBV_GRID = np.round(np.arange(0.0, 0.501, 0.05), 3)

# ---------------------------------------------------------------------------------------------
# the source catalogue


def load_source(cfg: dict, data_dir, seed: int = 0) -> tuple[pd.DataFrame, dict, dict]:
    """Read the configured source catalogue.

    Parameters
    ----------
    cfg : dict
        The schema-filled ``catalog`` section (``source``, ``n_galaxies``, ``flow``, ``cosmos``).
    data_dir : path or None
        Base directory of a relative ``cosmos.dir``.
    seed : int
        The run seed (the flow's sampling seed derives from it, :func:`photoz.catalog.flow.sample_seed`).

    Returns
    -------
    table : pandas.DataFrame
        One row per galaxy: ``object_id``, ``redshift``, input magnitudes, ``file``, ``row``.
    bands : dict
        Input band name -> (magnitude column, error column or None).
    info : dict
        ``files`` read; for COSMOS also ``morphology`` and the ``bad_fit`` mask.
    """
    if cfg["source"] == "flow":  # DC2 resampled by a normalizing flow (photoz.catalog.flow)
        df, _ = sample_catalog(cfg["flow"]["model"], cfg["n_galaxies"], sample_seed(seed))
        bands = {f"lsst_{b}": (f"mag_lsst_{b}", f"mag_err_lsst_{b}") for b in LSST_BANDS}
        return df, bands, {"files": [str(cfg["flow"]["model"])]}
    if cfg["source"] == "dc2":
        df = read_dc2(dc2_files())
        bands = {f"lsst_{b}": (f"mag_lsst_{b}", f"mag_err_lsst_{b}") for b in LSST_BANDS}
        return df, bands, {"files": [str(p) for p in dc2_files()]}
    c = cfg["cosmos"]
    directory = resolve_cosmos_dir(c["dir"], data_dir)
    df, info = read_cosmos_catalog(directory, str(c["file_name"]), bool(c["use_real_images"]))
    df["file"] = info["file"]
    bands = {f"hsc_{b}": (f"mag_hsc_{b}", None) for b in HSC_DEPTH_5SIG if f"mag_hsc_{b}" in df}
    return df, bands, {"files": [info["file"]], "morphology": info["morphology"],
                       "bad_fit": info["bad_fit"]}


class _Catalogue:
    """The galaxies still in the catalogue, their input photometry, and why the others were dropped.

    Per-galaxy arrays live as columns of ``df`` (the input bands' maggies, errors and model under
    the prefixes ``_maggies_``, ``_sig_``, ``_model_``), so that every :meth:`drop` filters them
    all at once.
    """

    def __init__(self, df: pd.DataFrame, names: list[str]) -> None:
        self.df, self.names = df, names
        self.dropped: dict[str, int] = {}

    def drop(self, mask: np.ndarray, reason: str) -> None:
        """Drop the rows where ``mask`` is true, counting and logging them under ``reason``."""
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            first = int(np.flatnonzero(mask)[0])
            self.dropped[reason] = self.dropped.get(reason, 0) + int(mask.sum())
            log.warning("dropping %d galaxies: %s (first: file %s row %d)", int(mask.sum()),
                        reason, self.df["file"].iloc[first], self.df["row"].iloc[first])
            self.df = self.df.loc[~mask].reset_index(drop=True)

    def block(self, prefix: str) -> np.ndarray:
        """The (n, len(names)) array of per-band columns ``<prefix><name>``."""
        if not self.names:
            return np.zeros((len(self.df), 0))
        return np.column_stack([self.df[f"{prefix}{nm}"].to_numpy(float) for nm in self.names])

    def put(self, prefix: str, values: np.ndarray) -> None:
        """Store the (n, len(names)) array ``values`` as per-band columns ``<prefix><name>``."""
        self.df = self.df.assign(**{f"{prefix}{nm}": values[:, j]
                                    for j, nm in enumerate(self.names)})


def _usable_galaxies(cfg: dict, data_dir, seed: int, rng_subset: np.random.Generator
                     ) -> tuple[_Catalogue, dict, int, int]:
    """Read the source, drop the galaxies that cannot be used, keep the seeded subset.

    Returns the catalogue, the source's info, the number read and the number usable.
    """
    df, in_bands, info = load_source(cfg, data_dir, seed)
    lsst = cfg["source"] in LSST_SOURCES
    n_read = len(df)
    log.info("read %d galaxies from %s", n_read, ", ".join(info["files"]))
    dup = df["object_id"].duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise PhotozDataError(
            f"{df['file'].iloc[i]}: column object_id/IDENT value {df['object_id'].iloc[i]} is "
            f"repeated (row {df['row'].iloc[i]})"
        )
    cat = _Catalogue(df, list(in_bands))
    cat.drop(cat.df["redshift"].to_numpy() <= 0, "redshift <= 0")
    if "bad_fit" in info and not cfg["cosmos"]["use_real_images"]:
        cat.drop(info["bad_fit"][cat.df["row"].to_numpy()], "no usable COSMOS parametric fit")
    _input_photometry(cat, in_bands, lsst)
    if cfg["source"] == "cosmos":
        cat.drop(~np.isfinite(cat.df["mag_F814W"].to_numpy()) & ~cat.df["_use_fit"].to_numpy(),
                 "no usable photometry (no HSC fit and no finite F814W magnitude)")
    n_avail = len(cat.df)
    if cfg["n_galaxies"] and cfg["n_galaxies"] < n_avail:
        pick = np.sort(rng_subset.choice(n_avail, size=cfg["n_galaxies"], replace=False))
        cat.df = cat.df.iloc[pick].reset_index(drop=True)
        log.info("kept a seeded random subset of %d of %d galaxies", len(cat.df), n_avail)
    elif cfg["n_galaxies"] > n_avail:
        log.warning("catalog.n_galaxies = %d but only %d usable galaxies: using all",
                    cfg["n_galaxies"], n_avail)
    if len(cat.df) == 0:
        raise PhotozDataError(f"no usable galaxies left in {', '.join(info['files'])}")
    return cat, info, n_read, n_avail


def _input_photometry(cat: _Catalogue, in_bands: dict, lsst: bool) -> None:
    """The SED fit's input maggies and errors as per-band columns; ``_use_fit`` where enough bands."""
    if not cat.names:
        cat.df["_use_fit"] = False
        return
    mag = np.column_stack([cat.df[m].to_numpy(float) for m, _ in in_bands.values()])
    if lsst:
        err = np.column_stack([cat.df[e].to_numpy(float) for _, e in in_bands.values()])
        maggies, sig = _mags_to_maggies(mag, err)
    else:
        depth = np.array([HSC_DEPTH_5SIG[n.split("_")[1]] for n in cat.names])
        maggies, sig = _mags_to_maggies(mag, None, depth)
    cat.put("_maggies_", maggies)
    cat.put("_sig_", sig)
    cat.df["_use_fit"] = np.sum(np.isfinite(maggies), axis=1) >= MIN_FIT_BANDS
    if lsst:
        cat.drop(~cat.df["_use_fit"].to_numpy(), f"fewer than {MIN_FIT_BANDS} usable LSST bands")


def _flux_grid(cfg: dict, instrument: Instrument, names: list[str], lsst: bool, z: np.ndarray,
               ebv_grid: np.ndarray, lines: bool) -> FluxGrid:
    """Every template x E(B-V) through the input bands, the CSST bands and ACS F814W."""
    bandpasses = dict(instrument.bandpasses)
    bandpasses["F814W"] = galsim.Bandpass("ACS_wfc_F814W.dat", "nm").withZeropoint("AB")
    if lsst:
        for b in LSST_BANDS:
            bandpasses[f"lsst_{b}"] = galsim.Bandpass(f"LSST_{b}.dat", "nm").withZeropoint("AB")
    else:
        bandpasses.update({k: v for k, v in _hsc_bandpasses().items() if k in names})
    z_max = max(0.1, float(np.ceil((z.max() + 0.02) * 10) / 10))
    return build_flux_grid(bandpasses, library=cfg["sed_library"], z_max=z_max, ebv=ebv_grid,
                           emission_lines=lines)


def _fit_seds(cat: _Catalogue, grid: FluxGrid, lib: str, mixing: bool) -> None:
    """The SED of every galaxy as columns ``_t_idx, _e_idx, _amp, _t2_idx, _amp2`` and ``_model_``.

    A fit to the input photometry (:func:`photoz.catalog.sedfit.fit_templates`) where it has at
    least :data:`MIN_FIT_BANDS` bands, else GalSim's COSMOS colour rule scaled to F814W.
    Galaxies without a positive amplitude are dropped.
    """
    df = cat.df
    n = len(df)
    z = df["redshift"].to_numpy(float)
    maggies, sig = cat.block("_maggies_"), cat.block("_sig_")
    use_fit = df["_use_fit"].to_numpy(bool)
    t_idx, e_idx, amp = np.zeros(n, dtype=int), np.zeros(n, dtype=int), np.zeros(n)
    t2_idx, amp2 = np.full(n, -1, dtype=int), np.zeros(n)
    model = np.full(maggies.shape, np.nan)
    if use_fit.any():
        fit = fit_templates(grid, z[use_fit], maggies[use_fit], sig[use_fit], cat.names,
                            pairs=mixing)
        t_idx[use_fit], e_idx[use_fit], amp[use_fit] = fit.template_index, fit.ebv_index, fit.amplitude
        t2_idx[use_fit], amp2[use_fit] = fit.template_index_2, fit.amplitude_2
        model[use_fit] = fit.model_maggies
    rule = ~use_fit
    if rule.any():  # GalSim's COSMOS colour rule, scaled to F814W
        tmpl = GALSIM_RULE_TEMPLATES[lib]
        nser = df["sersic_n"].to_numpy(float)[rule]
        choice = np.where(nser >= 3.0, 0, np.where(nser >= 1.5, 1, 2))
        t_idx[rule] = [grid.templates.index(tmpl[c]) for c in choice]
        e_idx[rule] = 0
        g814 = grid.to_maggies(grid.at(z[rule], ["F814W"]), ["F814W"])[:, :, 0, 0]
        g814 = g814[np.arange(rule.sum()), t_idx[rule]]
        amp[rule] = 10.0 ** (-0.4 * df["mag_F814W"].to_numpy(float)[rule]) / g814
    cat.df = df.assign(_t_idx=t_idx, _e_idx=e_idx, _amp=amp, _t2_idx=t2_idx, _amp2=amp2)
    cat.put("_model_", model)
    cat.drop(~(amp > 0) | ~np.isfinite(amp), "no template with a positive amplitude")


def _sed_arrays(df: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """Copies of the SED columns: template, E(B-V) index, amplitude, second template, amplitude."""
    return (df["_t_idx"].to_numpy(int, copy=True), df["_e_idx"].to_numpy(int),
            df["_amp"].to_numpy(float, copy=True), df["_t2_idx"].to_numpy(int, copy=True),
            df["_amp2"].to_numpy(float, copy=True))


def _first_template_brighter_in_i(csst_grid: np.ndarray, bands: list[str], t_idx, e_idx, amp,
                                  t2_idx, amp2) -> None:
    """Swap a mixture's two templates in place where the second gives more of the CSST i flux."""
    rows, i_band = np.arange(len(t_idx)), bands.index("i")
    share_1 = csst_grid[rows, t_idx, e_idx, i_band] * amp
    share_2 = csst_grid[rows, np.maximum(t2_idx, 0), e_idx, i_band] * amp2
    swap = (t2_idx >= 0) & (share_2 > share_1)
    t_idx[swap], t2_idx[swap] = t2_idx[swap], t_idx[swap]
    amp[swap], amp2[swap] = amp2[swap], amp[swap]


def _fit_quality(names: list[str], maggies: np.ndarray, sig: np.ndarray, model: np.ndarray
                 ) -> dict:
    """Median |model - input| magnitude and median input error per fitted band."""
    with np.errstate(divide="ignore", invalid="ignore"):
        dmag = -2.5 * np.log10(model / maggies)
    quality = {}
    for j, b in enumerate(names):
        d = np.abs(dmag[:, j])
        d = d[np.isfinite(d)]
        with np.errstate(divide="ignore", invalid="ignore"):
            e = 2.5 / np.log(10.0) * sig[:, j] / maggies[:, j]
        e = e[np.isfinite(e) & np.isfinite(dmag[:, j])]
        quality[b] = {"median_abs_dmag": float(np.median(d)) if d.size else None,
                      "median_mag_err": float(np.median(e)) if e.size else None,
                      "n": int(d.size)}
        log.info("SED fit %s: median |dmag| = %s over %d galaxies", b,
                 quality[b]["median_abs_dmag"], d.size)
    return quality


def _abs_mag_r(lib: str, ebv_grid: np.ndarray, lines: bool, z: np.ndarray, sed: tuple
               ) -> np.ndarray:
    """Rest-frame LSST r absolute magnitude of each fitted SED (for the sizes):
    M = m_rest[A F] - DM - 2.5 log10(1 + z), with the cosmology of :mod:`photoz.catalog.morphology`."""
    rest = build_flux_grid({"lsst_r": galsim.Bandpass("LSST_r.dat", "nm").withZeropoint("AB")},
                           library=lib, z_max=0.01, dz=0.01, ebv=ebv_grid,
                           emission_lines=lines)
    rest_maggies = rest.to_maggies(rest.flux[:, :, 0, :])  # (T, E, 1)
    rest_r = template_mixture(np.broadcast_to(rest_maggies, (len(z), *rest_maggies.shape)), *sed)[:, 0]
    return -2.5 * np.log10(rest_r) - COSMOLOGY.distmod(z).value - 2.5 * np.log10(1.0 + z)


def _truth_frame(df: pd.DataFrame, split: np.ndarray, templates: np.ndarray, sed: tuple,
                 ebv: np.ndarray, flux_e: np.ndarray, mag_csst: np.ndarray,
                 morph: pd.DataFrame, real_index: np.ndarray, bands, mixing: bool,
                 template_names: list[str]) -> pd.DataFrame:
    """The truth table's columns in the contract's order (:data:`photoz.products.catalog.TRUTH_COLUMNS`)."""
    t_idx, e_idx, amp, t2_idx, amp2 = sed
    table = pd.DataFrame({
        "object_id": df["object_id"].to_numpy(np.int64), "redshift": df["redshift"].to_numpy(float),
        "split": split, "sed_template": templates, "sed_amplitude": amp, "ebv": ebv[e_idx],
    })
    for j, b in enumerate(bands):
        table[f"mag_{b}"] = mag_csst[:, j]
    for j, b in enumerate(bands):
        table[f"flux_{b}"] = flux_e[:, j]
    for col in morph.columns:
        table[col] = morph[col].to_numpy(float)
    table["real_image_index"] = real_index
    if mixing:  # products.TRUTH_MIXING_COLUMNS
        table["sed_template_2"] = np.where(t2_idx >= 0, np.asarray(template_names)[t2_idx], "")
        table["sed_amplitude_2"] = amp2  # 0 where one template (fit_templates, the rule)
    return table


def _with_components(table: pd.DataFrame, grid: FluxGrid, csst_grid: np.ndarray, sed: tuple,
                     f814: np.ndarray, instrument: Instrument, rng: np.random.Generator,
                     params: dict) -> tuple[pd.DataFrame, np.ndarray]:
    """The truth table with the bulge + disk + knots columns, and each bulge's share of F814W.

    Parametric galaxies only: a galaxy with a real COSMOS image (``real_image_index`` >= 0)
    keeps its own pixels and gets no components (B/T 0, the whole light in the old disk, no young
    disk, no knots).
    """
    t_idx, e_idx, amp, _, amp2 = sed
    rows = np.arange(len(table))
    unit_e = csst_grid[rows, :, e_idx] * (instrument.area * instrument.total_exposure_time)
    early = is_early_type(table["sed_template"].to_numpy())
    comp, drawn = assign_components(table, grid.templates, unit_e, amp + amp2, early, rng,
                                    params)
    real = table["real_image_index"].to_numpy() >= 0
    if real.any():  # drawn from their own image: all light in the (old) disk, nothing else
        comp.loc[real, ["bulge_fraction", "young_fraction", "knot_fraction", "n_knots"]] = 0
        for b in instrument.bands:
            comp.loc[real, f"flux_disk_old_{b}"] = table.loc[real, f"flux_{b}"]
            comp.loc[real, [f"flux_{c}_{b}" for c in ("bulge", "disk_young", "knots")]] = 0.0
    b_idx = np.array([grid.templates.index(s) for s in comp["bulge_template"]])
    g814 = grid.to_maggies(grid.at(table["redshift"].to_numpy(float), ["F814W"]), ["F814W"])
    bulge814 = comp["bulge_fraction"].to_numpy() * (amp + amp2) * g814[rows, b_idx, e_idx, 0]
    log.info("bulge + disk + knots: median B/T %.3f (drawn %.3f), %d of %d galaxies carry knots",
             np.median(comp["bulge_fraction"]), np.median(drawn), int((comp["n_knots"] > 0).sum()),
             len(table))
    return pd.concat([table, comp], axis=1), np.clip(bulge814 / f814, 0.0, 1.0)


def prepare_truth(catalog_cfg: dict, instrument: Instrument, seed: int, data_dir=None
                  ) -> tuple[pd.DataFrame, dict, dict]:
    """Everything of :func:`build_truth_table` except writing; also returns extra per-galaxy columns.

    Parameters
    ----------
    catalog_cfg, instrument, seed, data_dir
        As :func:`build_truth_table`.

    Returns
    -------
    table : pandas.DataFrame
        The truth table (docs/outputs.md §1).
    extra : dict of ndarray
        ``mag_F814W`` (model ACS F814W AB mag), ``abs_mag_r`` and, with ``galaxy_model``
        ``bulge_disk_knots``, ``bulge_fraction_F814W`` per row of ``table``.
    report : dict
        What the JSON report holds (:data:`photoz.products.catalog.FIT_QUALITY_KEYS`).
    """
    cfg = catalog_cfg
    lib = cfg["sed_library"]
    streams = catalog_streams(seed)
    cat, info, n_read, n_avail = _usable_galaxies(cfg, data_dir, seed, streams["subset"])
    lsst = cfg["source"] in LSST_SOURCES
    ebv_grid = EBV_GRID if cfg["fit_ebv"] else np.array([0.0])
    # LePhare's emission lines (photoz.emission_lines); absent = off (the workflow drops it when off)
    lines = bool(cfg.get("emission_lines", False))
    mixing = bool(cfg.get("template_mixing", False))  # absent = off (the workflow drops it)
    grid = _flux_grid(cfg, instrument, cat.names, lsst, cat.df["redshift"].to_numpy(float),
                      ebv_grid, lines)
    _fit_seds(cat, grid, lib, mixing)
    df, n = cat.df, len(cat.df)
    z = df["redshift"].to_numpy(float)
    sed = _sed_arrays(df)
    use_fit = df["_use_fit"].to_numpy(bool)

    # CSST fluxes (paper eqs. 1-2) and model F814W
    csst_grid = grid.at(z, list(instrument.bands))  # (n, T, E, 7) photons/s/cm2 at amplitude 1
    if mixing:  # the mixture's first template is the one giving more of the CSST i flux
        _first_template_brighter_in_i(csst_grid, list(instrument.bands), *sed)
    flux_e = template_mixture(csst_grid, *sed) * instrument.area * instrument.total_exposure_time
    mag_csst = instrument.electrons_to_mag(flux_e)
    f814 = template_mixture(grid.to_maggies(grid.at(z, ["F814W"]), ["F814W"]), *sed)[:, 0]
    quality = _fit_quality(cat.names, cat.block("_maggies_"), cat.block("_sig_"),
                           cat.block("_model_"))
    abs_r = _abs_mag_r(lib, ebv_grid, lines, z, sed)

    templates = np.asarray(grid.templates)[sed[0]]
    if lsst:
        morph = assign_morphology(z, abs_r, is_early_type(templates), streams["morphology"])
        real_index = np.full(n, -1, dtype=np.int64)
    else:
        morph = df[["sersic_n", "half_light_radius", "axis_ratio", "position_angle"]]
        morph = morph.reset_index(drop=True)
        real_index = df["real_image_index"].to_numpy(np.int64)
    split = assign_split(n, cfg["test_size"], cfg["train_test_ratio"],
                         cfg["validation_fraction"], streams["split"])
    table = _truth_frame(df, split, templates, sed, grid.ebv, flux_e, mag_csst, morph,
                         real_index, instrument.bands, mixing, grid.templates)
    extra = {"mag_F814W": -2.5 * np.log10(f814), "abs_mag_r": abs_r}
    if cfg.get("galaxy_model", "sersic") == "bulge_disk_knots":  # absent = sersic (the workflow)
        table, extra["bulge_fraction_F814W"] = _with_components(
            table, grid, csst_grid, sed, f814, instrument, streams["components"],
            cfg["components"])
    counts = {k: int(np.sum(split == k)) for k in ("train", "validation", "test", "unused")}
    report = {
        "source": cfg["source"], "seed": int(seed), "sed_library": lib,
        "fit_ebv": bool(cfg["fit_ebv"]), "files": info["files"], "n_read": n_read,
        "n_dropped": cat.dropped, "n_usable": n_avail, "n_galaxies": n,
        "n_sed_fitted": int(use_fit.sum()), "n_sed_rule": int((~use_fit).sum()),
        "sed_fit": quality, "split": counts, "morphology": info.get("morphology", "shen03"),
    }
    if mixing:
        report["n_sed_pairs"] = int(np.sum(sed[3] >= 0))
        log.info("template mixing: %d of %d galaxies take a pair of neighbouring templates",
                 report["n_sed_pairs"], n)
    log.info("split: %s", counts)
    return table, extra, report


def build_truth_table(catalog_cfg: dict, instrument: Instrument, out_path, seed: int,
                      data_dir=None, report_path=None) -> pd.DataFrame:
    """Turn a source catalogue into the truth table the simulation reads.

    Parameters
    ----------
    catalog_cfg : dict
        The ``catalog`` config section, schema-filled (``photoz.config.default_config()``):
        ``source`` ("dc2" | "flow" | "cosmos"), ``n_galaxies`` (0 = all, else a seeded random
        subset; for flow the number sampled, >= 1, with ``flow`` {model: the flow file}),
        ``sed_library`` ("cosmos" | "cww"), ``fit_ebv``, ``emission_lines`` (LePhare's lines in the
        templates, fitted and predicted), ``template_mixing`` (also fit non-negative mixtures of
        neighbouring templates, :func:`photoz.catalog.sedfit.fit_templates`), ``test_size`` (0 = from the
        ratio),
        ``train_test_ratio``, ``validation_fraction``, and for source cosmos ``cosmos``
        ({dir, file_name, use_real_images}; a relative ``dir`` that does not exist is looked up
        under ``data_dir``).
    instrument : photoz.instrument.Instrument
        CSST bands, area and exposures (:func:`photoz.instrument.load_instrument`).
    out_path : path
        Parquet file to write (docs/outputs.md §1), atomically.
    seed : int
        Seeds the subset, the morphology draws and the split (independent streams).
    data_dir : path, optional
        Base directory for a relative ``cosmos.dir``.
    report_path : path, optional
        JSON with the SED-fit quality (median |dmag| per input band), counts read / dropped (with
        reasons) and the split sizes.

    Returns
    -------
    pandas.DataFrame
        The table written: ``object_id, redshift, split, sed_template, sed_amplitude, ebv,
        mag_<band>, flux_<band>`` (electrons, F = C t_exp N_exp, paper eqs. 1-2), ``sersic_n,
        half_light_radius, axis_ratio, position_angle, real_image_index`` (with
        ``template_mixing`` also ``sed_template_2, sed_amplitude_2``,
        :data:`photoz.products.catalog.TRUTH_MIXING_COLUMNS`).

    Raises
    ------
    PhotozConfigError
        Bad config value (key named).
    PhotozDataError
        Unreadable file, missing column, NaN redshift, repeated id (file, column, row named).
    """
    table, _, report = prepare_truth(catalog_cfg, instrument, seed, data_dir)
    write_truth(table, out_path, {"source": report["source"], "seed": int(seed),
                                  "sed_library": report["sed_library"]})
    log.info("wrote %d galaxies to %s", len(table), out_path)
    if report_path is not None:
        write_fit_quality(report, report_path)
    return table
