"""Tests of photoz.catalog.morphology: Shen et al. 2003 sizes, and a check against real COSMOS fits."""

import numpy as np
import pandas as pd
import pytest

from photoz.catalog.morphology import assign_morphology, is_early_type, mean_size_kpc


def test_shen03_hand_values():
    # Shen et al. 2003 eq. 14 (early, a=0.65, b=-5.06) and eq. 15 (late) at z = 0, M_r = -21.
    early = mean_size_kpc(np.array([-21.0]), np.array([0.0]), np.array([True]))[0]
    assert early == pytest.approx(10 ** (0.4 * 0.65 * 21 - 5.06), rel=1e-10)
    late = mean_size_kpc(np.array([-21.0]), np.array([0.0]), np.array([False]))[0]
    hand = 10 ** (0.4 * 0.21 * 21 + 0.32 * np.log10(1 + 10 ** (0.4 * (21 - 20.52))) - 1.31)
    assert late == pytest.approx(hand, rel=1e-10)
    assert 2.0 < early < 3.0 and 3.0 < late < 4.5  # kpc, Shen+03 Fig. 6/11 at M = -21
    # van der Wel et al. 2014 evolution: (1+z)^-0.75 for late types
    late1 = mean_size_kpc(np.array([-21.0]), np.array([1.0]), np.array([False]))[0]
    assert late1 / late == pytest.approx(2**-0.75)


def test_assign_morphology_ranges_and_seed():
    z = np.linspace(0.1, 3.0, 2000)
    m = np.full(2000, -21.0)
    early = np.arange(2000) % 3 == 0
    a = assign_morphology(z, m, early, np.random.default_rng(5))
    b = assign_morphology(z, m, early, np.random.default_rng(5))
    pd.testing.assert_frame_equal(a, b)
    assert ((a.axis_ratio > 0) & (a.axis_ratio <= 1)).all()
    assert ((a.position_angle >= 0) & (a.position_angle < 180)).all()
    assert (a.sersic_n[early] >= 2.5).all() and (a.sersic_n[~early] <= 2.5).all()
    # random-inclination discs of thickness 0.2: mean q = int_0^1 sqrt(c^2 + 0.04 (1-c^2)) dc
    c = np.linspace(0, 1, 100001)
    assert a.axis_ratio[~early].mean() == pytest.approx(np.trapezoid(np.sqrt(c**2 + 0.04 * (1 - c**2)), c), abs=0.02)


def test_early_types():
    np.testing.assert_array_equal(is_early_type(["Ell1_A_0", "S0_A_0", "Sa_A_0", "El_B2004a", "SB3_A_0"]),
                                  [True, True, False, True, False])


def test_sizes_match_cosmos_f814w(shared_data):
    """DC2 sizes from the relation vs real COSMOS Sersic fits: median hlr per F814W bin within 30%."""
    from photoz.catalog.cosmos import read_cosmos_catalog
    from photoz.catalog.truth import prepare_truth
    from photoz.config import default_config
    from photoz.instrument import load_instrument

    cat = shared_data / "catalogs"
    cosmos = pd.concat([
        read_cosmos_catalog(cat / "galsim_cosmos_500fits", "real_galaxy_23.5_500_fits.fits")[0],
        read_cosmos_catalog(cat / "galsim_cosmos_example", "real_galaxy_catalog_23.5_example.fits")[0],
    ])
    table, extra, _ = prepare_truth(default_config({"catalog": {"n_galaxies": 6000}})["catalog"],
                                load_instrument({}), 11)
    mag, hlr = extra["mag_F814W"], table["half_light_radius"].to_numpy()
    checked = 0
    for lo in (19.0, 20.0, 21.0, 22.0, 23.0):
        sel_c = (cosmos.mag_F814W >= lo) & (cosmos.mag_F814W < lo + 1)
        sel_d = (mag >= lo) & (mag < lo + 1)
        if sel_c.sum() < 15 or sel_d.sum() < 30:
            continue
        ref = np.median(cosmos.half_light_radius[sel_c])
        ours = np.median(hlr[sel_d])
        assert ours == pytest.approx(ref, rel=0.30), f"F814W {lo}-{lo + 1}: {ours:.3f} vs {ref:.3f}"
        checked += 1
    assert checked >= 4
