"""Galaxy input catalogues -> the truth table (docs/data_products.md §1).

Reproduces the input stage of Zhou et al. 2022 (MNRAS 512, 4593, Sect. 2; PAPER_SPEC §1-2): real
galaxies with a true redshift, an SED fitted at that redshift, the CSST fluxes it predicts
(paper eqs. 1-2) and a morphology. Three sources:

``dc2`` (default)
    The LSST DESC DC2 training + validation catalogues shipped in pz-rail-base (true redshift, LSST
    ugrizy magnitudes and errors; 10,225 + 20,449 galaxies). The SED is fitted to the LSST
    photometry through GalSim's LSST bandpasses; shapes come from :mod:`photoz.morphology`.
``flow``
    ``n_galaxies`` galaxies sampled (seeded) from a normalizing flow fitted to DC2's redshifts and
    magnitudes (:mod:`photoz.flow`), then treated as DC2: it resamples the DC2 population, it does
    not add new galaxies.
``cosmos``
    GalSim's COSMOS real-galaxy catalogue (:mod:`photoz.cosmos`), ``zphot`` as the true redshift,
    Sersic fits or real HST stamps for the morphology. The SED is fitted to the catalogue's HSC
    grizy photometry where it has some (the BlendingToolKit sample; speclite's ``hsc2017``
    curves). Otherwise the template follows GalSim's own rule for chromatic COSMOS galaxies
    (``COSMOSCatalog._buildParametric``: Sersic n < 1.5 disc, 1.5-3 intermediate, >= 3 bulge; here
    Sd_A_0 / Sb_A_0 / Ell3_A_0 of the COSMOS library or Scd/Sbc/El of CWW) with E(B-V) = 0, scaled to
    the F814W magnitude.

With ``template_mixing`` a galaxy's SED may be a non-negative mixture of two neighbouring templates
(:func:`photoz.sed.fit_templates` with ``pairs``); its CSST and F814W fluxes and rest-frame r
magnitude are then the sums of the two templates' (fluxes are linear in the SED), and
``sed_template`` names the one giving more of the CSST i flux (it sets the early/late type of the
morphology).

Split (seeded, a column of the table): with ratio a:b, n_test = test_size or round(n b/(a+b));
n_train = min(n - n_test, round(n_test a/b)); the first round(validation_fraction n_train) of the
train draw are ``validation``; galaxies left over are ``unused``.
"""

from __future__ import annotations

import logging

import galsim
import numpy as np
import pandas as pd

from photoz import BANDS
from photoz.catalog_sources import (  # noqa: F401 - re-exported: the catalogue readers
    HSC_DEPTH_5SIG,
    LSST_BANDS,
    NONDETECTION_MAG,
    SYS_ERR_MAG,
    _hsc_bandpasses,
    _mags_to_maggies,
    dc2_files,
    read_dc2,
)
from photoz.cosmos import resolve_cosmos_dir
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.instrument import Instrument
from photoz.morphology import COSMOLOGY, assign_morphology, is_early_type
from photoz.products import write_fit_quality, write_truth
from photoz.sed import build_flux_grid, fit_templates, template_names

log = logging.getLogger("photoz.catalog")

#: Minimum number of usable bands for an SED fit.
MIN_FIT_BANDS = 3
#: Templates of GalSim's COSMOS colour rule (bulge, intermediate, disc) per library.
GALSIM_RULE_TEMPLATES = {"cosmos": ("Ell3_A_0", "Sb_A_0", "Sd_A_0"),
                         "cww": ("El_B2004a", "Sbc_B2004a", "Scd_B2004a")}
#: Sources of LSST ugrizy photometry with errors (DC2 and the flow resampling it, photoz.flow).
LSST_SOURCES = ("dc2", "flow")
#: E(B-V) grid of the fit when fit_ebv is true, mag.
EBV_GRID = np.round(np.arange(0.0, 0.501, 0.05), 3)

# ---------------------------------------------------------------------------------------------
# configuration and split


def parse_ratio(ratio: str) -> tuple[float, float]:
    """Parse ``"a:b"`` (train:test) into two positive numbers.

    Raises
    ------
    PhotozConfigError
        If it is not two positive numbers separated by a colon.
    """
    try:
        a, b = (float(x) for x in str(ratio).split(":"))
    except ValueError:
        raise PhotozConfigError(
            f"catalog.train_test_ratio: {ratio!r} is not of the form 'a:b', e.g. '3:1'"
        ) from None
    if not (a > 0 and b > 0):
        raise PhotozConfigError(f"catalog.train_test_ratio: {ratio!r} needs two positive numbers")
    return a, b


def split_sizes(n: int, test_size: int, ratio: str, validation_fraction: float) -> dict[str, int]:
    """Numbers of train, validation, test and unused galaxies (rule in the module notes).

    Paper: 40,000 galaxies, 10,000 test, 30,000 train (3:1), 20,000 (1:1), 10,000 (1:3); 10% of
    train held out for validation (PAPER_SPEC §1).

    Raises
    ------
    PhotozConfigError
        If ``test_size`` exceeds ``n`` or ``validation_fraction`` is outside (0, 1) (the
        schema's range: training needs a validation set, ``photometry.TRAINING_NEEDS``).
    """
    a, b = parse_ratio(ratio)
    if not 0.0 < validation_fraction < 1.0:
        raise PhotozConfigError(
            f"catalog.validation_fraction: {validation_fraction} is not in (0, 1)"
        )
    n_test = int(test_size) if test_size else int(round(n * b / (a + b)))
    if n_test < 0 or n_test > n:
        raise PhotozConfigError(f"catalog.test_size: {test_size} is not in [0, {n}] (galaxies)")
    n_pool = min(n - n_test, int(round(n_test * a / b)))
    n_val = int(round(validation_fraction * n_pool))
    return {"train": n_pool - n_val, "validation": n_val, "test": n_test,
            "unused": n - n_test - n_pool}


def assign_split(n: int, test_size: int, ratio: str, validation_fraction: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Seeded train/validation/test/unused labels.

    Parameters
    ----------
    n : int
    test_size, ratio, validation_fraction
        As in :func:`split_sizes`.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of str, shape (n,)
        ``"train"``, ``"validation"``, ``"test"`` or ``"unused"``; a random permutation assigns
        the first n_test to test, the next n_validation to validation, then train.
    """
    sizes = split_sizes(n, test_size, ratio, validation_fraction)
    labels = np.empty(n, dtype=object)
    order = rng.permutation(n)
    edges = np.cumsum([0, sizes["test"], sizes["validation"], sizes["train"]])
    for name, lo, hi in zip(("test", "validation", "train"), edges[:-1], edges[1:], strict=True):
        labels[order[lo:hi]] = name
    labels[order[edges[-1]:]] = "unused"
    return labels.astype(str)


# ---------------------------------------------------------------------------------------------
# sources


# ---------------------------------------------------------------------------------------------
# the truth table




def _mixture(values: np.ndarray, t_idx: np.ndarray, e_idx: np.ndarray, amp: np.ndarray,
             t2_idx: np.ndarray, amp2: np.ndarray) -> np.ndarray:
    """Per-galaxy model A1 g[t1, e] + A2 g[t2, e] from grid values g of shape (N, T, E, B).

    ``t2_idx`` -1 (one template) contributes nothing; fluxes are linear in the SED, so the
    mixture's band flux is the sum of its two templates' (``photoz.sed.observed_sed``).

    Returns
    -------
    ndarray, shape (N, B)
    """
    rows = np.arange(len(t_idx))
    out = values[rows, t_idx, e_idx] * amp[:, None]
    pair = t2_idx >= 0
    if pair.any():
        out[pair] += values[rows[pair], t2_idx[pair], e_idx[pair]] * amp2[pair, None]
    return out


def _load_source(cfg: dict, data_dir, seed: int = 0) -> tuple[pd.DataFrame, dict, dict]:
    """Read the configured source; return (table, input bands {name: (mag col, err col)}, info)."""
    if cfg["source"] == "flow":  # DC2 resampled by a normalizing flow (photoz.flow)
        from photoz.flow import sample_catalog, sample_seed

        df, _ = sample_catalog(cfg["flow"]["model"], cfg["n_galaxies"], sample_seed(seed))
        bands = {f"lsst_{b}": (f"mag_lsst_{b}", f"mag_err_lsst_{b}") for b in LSST_BANDS}
        return df, bands, {"files": [str(cfg["flow"]["model"])]}
    if cfg["source"] == "dc2":
        df = read_dc2(dc2_files())
        bands = {f"lsst_{b}": (f"mag_lsst_{b}", f"mag_err_lsst_{b}") for b in LSST_BANDS}
        return df, bands, {"files": [str(p) for p in dc2_files()]}
    from photoz.cosmos import read_cosmos_catalog

    c = cfg["cosmos"]
    directory = resolve_cosmos_dir(c["dir"], data_dir)
    df, info = read_cosmos_catalog(directory, str(c["file_name"]), bool(c["use_real_images"]))
    df["file"] = info["file"]
    bands = {f"hsc_{b}": (f"mag_hsc_{b}", None) for b in HSC_DEPTH_5SIG if f"mag_hsc_{b}" in df}
    return df, bands, {"files": [info["file"]], "morphology": info["morphology"],
                       "bad_fit": info["bad_fit"]}


def _prepare(catalog_cfg: dict, instrument: Instrument, seed: int, data_dir=None
             ) -> tuple[pd.DataFrame, dict, dict]:
    """Everything of :func:`build_truth_table` except writing; also returns extra per-galaxy columns.

    Returns
    -------
    table : pandas.DataFrame
        The truth table (docs/data_products.md §1).
    extra : dict of ndarray
        ``mag_F814W`` (model ACS F814W AB mag) and ``abs_mag_r`` per row of ``table``.
    report : dict
        What the JSON report holds.
    """
    cfg = catalog_cfg
    lib = cfg["sed_library"]
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(3)]
    rng_subset, rng_morph, rng_split = streams

    df, in_bands, info = _load_source(cfg, data_dir, seed)
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

    dropped: dict[str, int] = {}

    def drop(mask: np.ndarray, reason: str) -> None:
        nonlocal df
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            dropped[reason] = dropped.get(reason, 0) + int(mask.sum())
            log.warning("dropping %d galaxies: %s (first: file %s row %d)", int(mask.sum()),
                        reason, df["file"].iloc[int(np.flatnonzero(mask)[0])],
                        df["row"].iloc[int(np.flatnonzero(mask)[0])])
            df = df.loc[~mask].reset_index(drop=True)

    drop(df["redshift"].to_numpy() <= 0, "redshift <= 0")
    if "bad_fit" in info:
        bad = info["bad_fit"][df["row"].to_numpy()]
        if not cfg["cosmos"]["use_real_images"]:
            drop(bad, "no usable COSMOS parametric fit")

    # photometry for the SED fit: per-galaxy columns of df, so that each drop filters them all
    names = list(in_bands)

    def block(prefix: str) -> np.ndarray:
        """The (n, len(names)) array of per-band columns ``<prefix><name>`` of df."""
        if not names:
            return np.zeros((len(df), 0))
        return np.column_stack([df[f"{prefix}{nm}"].to_numpy(float) for nm in names])

    def put(prefix: str, values: np.ndarray) -> None:
        nonlocal df
        df = df.assign(**{f"{prefix}{nm}": values[:, j] for j, nm in enumerate(names)})

    if names:
        mag = np.column_stack([df[m].to_numpy(float) for m, _ in in_bands.values()])
        if lsst:
            err = np.column_stack([df[e].to_numpy(float) for _, e in in_bands.values()])
            maggies, sig = _mags_to_maggies(mag, err)
        else:
            depth = np.array([HSC_DEPTH_5SIG[n.split("_")[1]] for n in names])
            maggies, sig = _mags_to_maggies(mag, None, depth)
        put("_maggies_", maggies)
        put("_sig_", sig)
        n_good = np.sum(np.isfinite(maggies), axis=1)
        df["_use_fit"] = n_good >= MIN_FIT_BANDS
        if lsst:
            drop(~df["_use_fit"].to_numpy(), f"fewer than {MIN_FIT_BANDS} usable LSST bands")
    else:
        df["_use_fit"] = False
    if cfg["source"] == "cosmos":
        drop(~np.isfinite(df["mag_F814W"].to_numpy()) & ~df["_use_fit"].to_numpy(),
             "no usable photometry (no HSC fit and no finite F814W magnitude)")

    # seeded subset
    n_avail = len(df)
    if cfg["n_galaxies"] and cfg["n_galaxies"] < n_avail:
        pick = np.sort(rng_subset.choice(n_avail, size=cfg["n_galaxies"], replace=False))
        df = df.iloc[pick].reset_index(drop=True)
        log.info("kept a seeded random subset of %d of %d galaxies", len(df), n_avail)
    elif cfg["n_galaxies"] > n_avail:
        log.warning("catalog.n_galaxies = %d but only %d usable galaxies: using all",
                    cfg["n_galaxies"], n_avail)
    n = len(df)
    if n == 0:
        raise PhotozDataError(f"no usable galaxies left in {', '.join(info['files'])}")
    z = df["redshift"].to_numpy(float)
    maggies, sig, use_fit = block("_maggies_"), block("_sig_"), df["_use_fit"].to_numpy(bool)

    # template flux grid: input bands + CSST + F814W
    bandpasses = dict(instrument.bandpasses)
    bandpasses["F814W"] = galsim.Bandpass("ACS_wfc_F814W.dat", "nm").withZeropoint("AB")
    if lsst:
        for b in LSST_BANDS:
            bandpasses[f"lsst_{b}"] = galsim.Bandpass(f"LSST_{b}.dat", "nm").withZeropoint("AB")
    else:
        bandpasses.update({k: v for k, v in _hsc_bandpasses().items() if k in names})
    ebv_grid = EBV_GRID if cfg["fit_ebv"] else np.array([0.0])
    z_max = max(0.1, float(np.ceil((z.max() + 0.02) * 10) / 10))
    # LePhare's emission lines (photoz.emission_lines); absent = off (the workflow drops it when off)
    lines = bool(cfg.get("emission_lines", False))
    grid = build_flux_grid(bandpasses, library=lib, z_max=z_max, ebv=ebv_grid,
                           emission_lines=lines)

    mixing = bool(cfg.get("template_mixing", False))  # absent = off (the workflow drops it)
    t_idx = np.zeros(n, dtype=int)
    e_idx = np.zeros(n, dtype=int)
    amp = np.zeros(n)
    t2_idx = np.full(n, -1, dtype=int)
    amp2 = np.zeros(n)
    model = np.full(maggies.shape, np.nan)
    if use_fit.any():
        fit = fit_templates(grid, z[use_fit], maggies[use_fit], sig[use_fit], names, pairs=mixing)
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
    df = df.assign(_t_idx=t_idx, _e_idx=e_idx, _amp=amp, _t2_idx=t2_idx, _amp2=amp2)
    put("_model_", model)
    drop(~(amp > 0) | ~np.isfinite(amp), "no template with a positive amplitude")
    n = len(df)
    z = df["redshift"].to_numpy(float)
    t_idx, e_idx = df["_t_idx"].to_numpy(int, copy=True), df["_e_idx"].to_numpy(int)
    amp, use_fit = df["_amp"].to_numpy(float, copy=True), df["_use_fit"].to_numpy(bool)
    t2_idx = df["_t2_idx"].to_numpy(int, copy=True)
    amp2 = df["_amp2"].to_numpy(float, copy=True)
    maggies, sig, model = block("_maggies_"), block("_sig_"), block("_model_")

    # CSST fluxes (paper eqs. 1-2) and model F814W
    csst_grid = grid.at(z, list(instrument.bands))  # (n, T, E, 7) photons/s/cm2 at amplitude 1
    if mixing:  # the mixture's first template is the one giving more of the CSST i flux
        rows, i_band = np.arange(n), list(instrument.bands).index("i")
        share_1 = csst_grid[rows, t_idx, e_idx, i_band] * amp
        share_2 = csst_grid[rows, np.maximum(t2_idx, 0), e_idx, i_band] * amp2
        swap = (t2_idx >= 0) & (share_2 > share_1)
        t_idx[swap], t2_idx[swap] = t2_idx[swap], t_idx[swap]
        amp[swap], amp2[swap] = amp2[swap], amp[swap]
    csst = _mixture(csst_grid, t_idx, e_idx, amp, t2_idx, amp2)  # photons/s/cm2
    flux_e = csst * instrument.area * instrument.total_exposure_time
    mag_csst = instrument.electrons_to_mag(flux_e)
    f814 = _mixture(grid.to_maggies(grid.at(z, ["F814W"]), ["F814W"]), t_idx, e_idx, amp,
                    t2_idx, amp2)[:, 0]
    mag814 = -2.5 * np.log10(f814)

    # fit quality
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

    # rest-frame r absolute magnitude (for sizes): M = m_rest[A F] - DM - 2.5 log10(1+z)
    rest = build_flux_grid({"lsst_r": galsim.Bandpass("LSST_r.dat", "nm").withZeropoint("AB")},
                           library=lib, z_max=0.01, dz=0.01, ebv=ebv_grid,
                           emission_lines=lines)
    rest_maggies = rest.to_maggies(rest.flux[:, :, 0, :])  # (T, E, 1)
    rest_r = _mixture(np.broadcast_to(rest_maggies, (n, *rest_maggies.shape)),
                      t_idx, e_idx, amp, t2_idx, amp2)[:, 0]
    abs_r = -2.5 * np.log10(rest_r) - COSMOLOGY.distmod(z).value - 2.5 * np.log10(1.0 + z)

    templates = np.asarray(grid.templates)[t_idx]
    if lsst:
        morph = assign_morphology(z, abs_r, is_early_type(templates), rng_morph)
        real_index = np.full(n, -1, dtype=np.int64)
    else:
        morph = df[["sersic_n", "half_light_radius", "axis_ratio", "position_angle"]]
        morph = morph.reset_index(drop=True)
        real_index = df["real_image_index"].to_numpy(np.int64)

    split = assign_split(n, cfg["test_size"], cfg["train_test_ratio"],
                         cfg["validation_fraction"], rng_split)
    table = pd.DataFrame({
        "object_id": df["object_id"].to_numpy(np.int64), "redshift": z, "split": split,
        "sed_template": templates, "sed_amplitude": amp, "ebv": grid.ebv[e_idx],
    })
    for j, b in enumerate(instrument.bands):
        table[f"mag_{b}"] = mag_csst[:, j]
    for j, b in enumerate(instrument.bands):
        table[f"flux_{b}"] = flux_e[:, j]
    for col in morph.columns:
        table[col] = morph[col].to_numpy(float)
    table["real_image_index"] = real_index
    if mixing:  # products.TRUTH_MIXING_COLUMNS
        table["sed_template_2"] = np.where(t2_idx >= 0, np.asarray(grid.templates)[t2_idx], "")
        table["sed_amplitude_2"] = amp2  # 0 where one template (fit_templates, the rule)

    counts = {k: int(np.sum(split == k)) for k in ("train", "validation", "test", "unused")}
    report = {
        "source": cfg["source"], "seed": int(seed), "sed_library": lib,
        "fit_ebv": bool(cfg["fit_ebv"]), "files": info["files"], "n_read": n_read,
        "n_dropped": dropped, "n_usable": n_avail, "n_galaxies": n,
        "n_sed_fitted": int(use_fit.sum()), "n_sed_rule": int((~use_fit).sum()),
        "sed_fit": quality, "split": counts, "morphology": info.get("morphology", "shen03"),
    }
    if mixing:
        report["n_sed_pairs"] = int(np.sum(t2_idx >= 0))
        log.info("template mixing: %d of %d galaxies take a pair of neighbouring templates",
                 report["n_sed_pairs"], n)
    log.info("split: %s", counts)
    extra = {"mag_F814W": mag814, "abs_mag_r": abs_r}
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
        neighbouring templates, :func:`photoz.sed.fit_templates`), ``test_size`` (0 = from the
        ratio),
        ``train_test_ratio``, ``validation_fraction``, and for source cosmos ``cosmos``
        ({dir, file_name, use_real_images}; a relative ``dir`` that does not exist is looked up
        under ``data_dir``).
    instrument : photoz.instrument.Instrument
        CSST bands, area and exposures (:func:`photoz.instrument.load_instrument`).
    out_path : path
        Parquet file to write (docs/data_products.md §1), atomically.
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
        :data:`photoz.products.TRUTH_MIXING_COLUMNS`).

    Raises
    ------
    PhotozConfigError
        Bad config value (key named).
    PhotozDataError
        Unreadable file, missing column, NaN redshift, repeated id (file, column, row named).
    """
    table, _, report = _prepare(catalog_cfg, instrument, seed, data_dir)
    write_truth(table, out_path, {"source": report["source"], "seed": int(seed),
                                  "sed_library": report["sed_library"]})
    log.info("wrote %d galaxies to %s", len(table), out_path)
    if report_path is not None:
        write_fit_quality(report, report_path)
    return table


__all__ = ["BANDS", "assign_split", "build_truth_table", "parse_ratio", "read_dc2",
           "split_sizes", "template_names"]
