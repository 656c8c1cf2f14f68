"""The bulge + disk + knots galaxy model (``catalog.galaxy_model: bulge_disk_knots``) against
its sources: the cosmoDC2 galaxies shipped in the skycatalogs 2.5.0 wheel (DC2's bulge - disk
colours and knots), the HST COSMOS bulge+disk fits in ../shared/data (bulge fractions and sizes)
and GAMA (Kelvin et al. 2012: late types smaller in red bands).

Every number is computed from the pipeline's own truth table of the default run (all 30,674 DC2
galaxies, config/config.yaml's catalogue settings, seed 2022) or from its noiseless stamps.
"""

from pathlib import Path

import galsim
import numpy as np
import pandas as pd
import pytest

from photoz import BANDS
from photoz.catalog.components import (
    BULGE_SERSIC_N,
    DISK_SERSIC_N,
    combined_half_light_radius,
    template_class,
)
from photoz.catalog.truth import prepare_truth
from photoz.config import load_merged_config
from photoz.errors import PhotozConfigError
from photoz.instrument import load_instrument
from photoz.simulate.stamps import StampSimulator, component_profiles

REPO = Path(__file__).resolve().parents[1]
#: Test 2's reference: median observed bulge - disk g - i (mag) of the cosmoDC2 galaxies with
#: 0.05 < B/T < 0.95 in the skycatalogs 2.5.0 wheel (skycatalogs/data/ci_sample/, BSD-3), by redshift.
DC2_BULGE_DISK_GI = {(0.0, 0.5): 0.26, (0.5, 1.0): 0.58, (1.0, 1.5): 0.72, (1.5, 2.0): 0.52,
                     (2.0, 3.0): 0.68}
#: Test 5's reference: median knots' share of the disk light of the cosmoDC2 galaxies that carry
#: knots, by the disk's major-axis half-light radius (arcsec), same sample.
DC2_KNOT_SHARE = {(0.0, 0.2): 0.87, (0.2, 0.5): 0.36, (0.5, 1.0): 0.04, (1.0, np.inf): 0.013}
#: Test 3's reference: HST COSMOS galaxies with F814W < 23.5 (GalSim's 500 bulgefit fits,
#: ../shared/data/catalogs/galsim_cosmos_500fits): median half-light radius (arcsec) by photo-z.
COSMOS_HLR = {(0.0, 0.4): 0.41, (0.4, 0.7): 0.31, (0.7, 1.0): 0.35, (1.0, np.inf): 0.33}
#: The components of the disk: everything but the bulge.
DISK = ("disk_old", "disk_young", "knots")


@pytest.fixture(scope="module")
def default_catalog():
    """The default run's catalogue settings (config/config.yaml: bulge_disk_knots)."""
    cfg = load_merged_config()
    assert cfg["catalog"]["galaxy_model"] == "bulge_disk_knots"
    return cfg


def _truth(cfg, **components):
    cat = {**cfg["catalog"], "components": {**cfg["catalog"]["components"], **components}}
    return prepare_truth(cat, load_instrument(cfg["instrument"]), cfg["seed"])


@pytest.fixture(scope="module")
def truth(default_catalog):
    """(truth table, extra columns) of the default run's catalogue."""
    table, extra, _ = _truth(default_catalog)
    return table, extra


def _flux(table, component, band):
    return table[f"flux_{component}_{band}"].to_numpy(float)


def bulge_disk_gi(table) -> dict:
    """Median observed bulge - disk g - i (mag) for 0.05 < B/T < 0.95, by redshift bin.

    The zero points cancel in a difference of colours; the disk is everything but the bulge (its
    old and young parts and the knots), as DC2's disk holds its knots' light.
    """
    bt = table["bulge_fraction"].to_numpy()
    z = table["redshift"].to_numpy()
    disk_g, disk_i = (sum(_flux(table, c, b) for c in DISK) for b in ("g", "i"))
    with np.errstate(divide="ignore", invalid="ignore"):
        dgi = -2.5 * np.log10((_flux(table, "bulge", "g") / _flux(table, "bulge", "i"))
                              / (disk_g / disk_i))
    ok = (bt > 0.05) & (bt < 0.95) & np.isfinite(dgi)
    return {rng: float(np.median(dgi[ok & (z >= rng[0]) & (z < rng[1])]))
            for rng in DC2_BULGE_DISK_GI}


def band_half_light_radius(table, band, circularised: bool = True) -> np.ndarray:
    """Half-light radius (arcsec, no PSF) of each galaxy's noiseless profile in ``band``: the
    bulge and the two disks with their band fluxes, the knots (which trace the young disk) as the
    young disk's light. Circularised (the components made round with their area kept), as the
    COSMOS fits and the truth table's ``half_light_radius`` are; else the circle enclosing half
    the light of the profile as drawn."""
    q_disk = table["disk_axis_ratio"].to_numpy()
    return combined_half_light_radius(
        [_flux(table, "bulge", band), _flux(table, "disk_old", band),
         _flux(table, "disk_young", band) + _flux(table, "knots", band)],
        [table[f"{c}_half_light_radius"].to_numpy() for c in ("bulge", "disk_old", "disk_young")],
        [BULGE_SERSIC_N, DISK_SERSIC_N, DISK_SERSIC_N],
        None if circularised else [table["bulge_axis_ratio"].to_numpy(), q_disk, q_disk])


def test_1_the_components_add_up_to_the_band_fluxes(truth):
    table, _ = truth
    for b in BANDS:
        total = table[f"flux_{b}"].to_numpy()
        parts = sum(_flux(table, c, b) for c in ("bulge", *DISK))
        np.testing.assert_allclose(parts, total, rtol=1e-6, atol=0, err_msg=b)
        for c in ("bulge", *DISK):
            assert (_flux(table, c, b) >= 0).all(), (c, b)


def test_2_bulges_are_redder_than_disks_as_in_cosmodc2(truth):
    medians = bulge_disk_gi(truth[0])
    for rng, ref in DC2_BULGE_DISK_GI.items():
        assert abs(medians[rng] - ref) < 0.2, (rng, medians[rng], ref)


def test_2_and_4_fail_without_a_colour_gradient(default_catalog):
    """The bulge and the young disk given the galaxy's own template (steps 0) have the disk's
    colour: tests 2 and 4 fail."""
    table, _, _ = _truth(default_catalog, bulge_step=0.0, bulge_step_z2=0.0, young_step=0)
    medians = bulge_disk_gi(table)
    assert all(abs(m) < 1e-6 for m in medians.values()), medians
    assert any(abs(medians[r] - ref) >= 0.2 for r, ref in DC2_BULGE_DISK_GI.items())
    assert late_type_z_over_g(table) == pytest.approx(1.0, abs=1e-6)


def test_3_bright_galaxies_match_the_hst_cosmos_bulge_disk_fits(truth):
    table, extra = truth
    bright = extra["mag_F814W"] < 23.5
    bt = extra["bulge_fraction_F814W"][bright]
    assert 0.05 <= np.median(bt) <= 0.2  # COSMOS bulgefit: 0.11
    assert 0.35 <= np.mean(bt < 0.1) <= 0.65  # COSMOS: 49%
    mid = bright & (table["bulge_fraction"].to_numpy() > 0.1) & (
        table["bulge_fraction"].to_numpy() < 0.9)
    ratio = (table["bulge_half_light_radius"] / table["disk_half_light_radius"]).to_numpy()[mid]
    assert 0.3 <= np.median(ratio) <= 0.6  # COSMOS: 0.41
    hlr = band_half_light_radius(table, "i")
    z = table["redshift"].to_numpy()
    for (lo, hi), ref in COSMOS_HLR.items():
        sel = bright & (z >= lo) & (z < hi)
        assert abs(np.median(hlr[sel]) / ref - 1) < 0.25, ((lo, hi), np.median(hlr[sel]), ref)


def late_type_z_over_g(table) -> float:
    """Median half-light radius in z over g of the late types (fitted template not E or S0)."""
    late = ~np.isin(template_class(table["sed_template"]), ("E", "S0"))
    return float(np.median(band_half_light_radius(table, "z")[late]
                           / band_half_light_radius(table, "g")[late]))


def test_4_late_types_are_smaller_in_red_bands(truth):
    """Kelvin et al. 2012 (GAMA): late types' half-light radius falls by 25% from g to K; from
    g to z, about half that log-wavelength range, by 5-25%."""
    assert 0.75 <= late_type_z_over_g(truth[0]) <= 0.95


def test_5_knots_take_the_disk_light_as_in_cosmodc2(truth):
    table, _ = truth
    knots = table["n_knots"].to_numpy() > 0
    a = (table["disk_half_light_radius"] / np.sqrt(table["disk_axis_ratio"])).to_numpy()
    share = table["knot_fraction"].to_numpy()
    for (lo, hi), ref in DC2_KNOT_SHARE.items():
        sel = knots & (a >= lo) & (a < hi)
        assert 0.5 <= np.median(share[sel]) / ref <= 2.0, ((lo, hi), np.median(share[sel]), ref)
    # cosmoDC2: 41% of galaxies carry knots, 90% at z < 0.5, 14% at z = 2-3
    z = table["redshift"].to_numpy()
    assert 0.3 < knots.mean() < 0.6
    assert knots[z < 0.5].mean() > 0.7 and knots[(z > 2) & (z < 3)].mean() < 0.3


def test_the_drawn_profile_has_the_truth_tables_half_light_radius(truth):
    """The GalSim profiles the simulation draws (no PSF, no knots, a fine grid) have the
    half-light radius computed from the truth table's columns, to 2%."""
    table, _ = truth
    rows = table[(table["n_knots"] == 0) & (table["half_light_radius"].between(0.2, 1.0))].sample(
        8, random_state=1)
    for row in rows.itertuples(index=False):
        parts = component_profiles(row, None, galsim.BaseDeviate(1))
        prof = galsim.Add([parts[c] * float(getattr(row, f"flux_{c}_i"))
                           for c in ("bulge", "disk_old", "disk_young")])
        img = prof.drawImage(nx=800, ny=800, scale=0.01, method="no_pixel")
        drawn = img.calculateHLR(flux=prof.flux, center=img.true_center)
        expected = band_half_light_radius(pd.DataFrame([row._asdict()]), "i", circularised=False)[0]
        assert drawn == pytest.approx(expected, rel=0.02)


def test_noiseless_stamps_carry_the_band_fluxes_and_a_colour_gradient(truth, default_catalog):
    """Each band's noiseless stamp holds its flux_<band> (less what falls outside); a galaxy with
    a red bulge is redder (g/i smaller) in its centre than in its outskirts."""
    table, _ = truth
    cfg = {**default_catalog["simulate"], "add_noise": False}
    sim = StampSimulator(load_instrument(default_catalog["instrument"]), cfg)
    sel = table[(table["bulge_fraction"].between(0.3, 0.7)) & (table["redshift"] < 1)
                & (table["half_light_radius"].between(0.15, 0.4))].iloc[:5]
    g, i = BANDS.index("g"), BANDS.index("i")
    yy, xx = np.mgrid[:sim.size, :sim.size] - (sim.size - 1) / 2
    r = np.hypot(xx, yy)
    for row in sel.itertuples(index=False):
        stamp, _ = sim.draw_galaxy(row, 2022)
        for j, b in enumerate(BANDS):
            assert stamp[j].sum() == pytest.approx(getattr(row, f"flux_{b}"), rel=0.05)
        core, outer = r < 2, (r > 4) & (r < 10)
        gi_core = stamp[g][core].sum() / stamp[i][core].sum()
        gi_outer = stamp[g][outer].sum() / stamp[i][outer].sum()
        assert gi_core < gi_outer, (row.object_id, gi_core, gi_outer)


def test_a_bad_model_is_refused_before_any_work_naming_the_key(repo_root):
    from photoz.config import load_config

    with pytest.raises(PhotozConfigError, match="catalog.galaxy_model"):
        load_config(overrides={"catalog": {"galaxy_model": "sersic_plus"}})
    with pytest.raises(PhotozConfigError, match="catalog.components.bulge_q0"):
        load_config(overrides={"catalog": {"galaxy_model": "bulge_disk_knots",
                                           "components": {"bulge_q0": 1.5}}})
    with pytest.raises(PhotozConfigError, match="catalog.components.knot_f_min"):
        load_config(overrides={"catalog": {"galaxy_model": "bulge_disk_knots",
                                           "components": {"knot_f_min": 0.5, "knot_f_max": 0.4}}})
    with pytest.raises(PhotozConfigError, match="catalog.sed_library"):
        load_config(overrides={"catalog": {"galaxy_model": "bulge_disk_knots",
                                           "sed_library": "cww"}})
    with pytest.raises(PhotozConfigError, match="catalog.components.bulge_oldest"):
        load_config(overrides={"catalog": {"galaxy_model": "bulge_disk_knots",
                                           "components": {"bulge_oldest": "Sx"}}})


def test_the_sersic_model_writes_the_table_it_always_wrote(default_catalog):
    """galaxy_model sersic adds no column and shifts no random stream: the components' stream is
    spawned after the others."""
    from photoz.products.catalog import TRUTH_COLUMNS

    cat = {**default_catalog["catalog"], "galaxy_model": "sersic", "n_galaxies": 500}
    plain, _, _ = prepare_truth(cat, load_instrument(default_catalog["instrument"]), 2022)
    comp, _, _ = prepare_truth({**cat, "galaxy_model": "bulge_disk_knots"},
                               load_instrument(default_catalog["instrument"]), 2022)
    assert list(plain.columns) == list(TRUTH_COLUMNS)
    pd.testing.assert_frame_equal(comp[list(TRUTH_COLUMNS)], plain)
