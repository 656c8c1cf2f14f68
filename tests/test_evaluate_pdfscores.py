"""The one p(z) scoring function (photoz.evaluate.pdfscores, issue 29): the numerical CRPS against
closed forms, and the same scores for the same p(z) in every qp representation the methods write."""

import numpy as np
import pytest
import qp

from photoz.errors import PhotozValueError
from photoz.evaluate.pdfscores import crps_ensemble, crps_from_cdf, score_ensemble, score_pdfs
from photoz.mixture import crps_mixture


def test_numerical_crps_is_the_closed_form_of_gaussian_mixtures():
    """The CRPS every method gets (from the ensemble's CDF on a 0.002 grid) against the closed form
    of a Gaussian mixture (Grimit et al. 2006, eq. A1) for widths 0.01-0.3."""
    rng = np.random.default_rng(1)
    n = 400
    w = rng.dirichlet([1.0, 1.0, 1.0], n)
    mu = rng.uniform(0.2, 3.0, (n, 3))  # no mass below z = -1, the CRPS grid's floor
    sig = rng.uniform(0.01, 0.3, (n, 3))
    z = rng.uniform(0.0, 3.0, n)
    ens = qp.Ensemble(qp.mixmod, data={"weights": w, "means": mu, "stds": sig})
    numerical = crps_ensemble(ens, z)
    exact = crps_mixture(z, w, mu, sig)
    np.testing.assert_allclose(numerical, exact, atol=5e-6, rtol=0)
    assert np.abs(numerical - exact).mean() < 5e-7
    # a truth outside the p(z): the distance is added exactly
    far = crps_ensemble(ens[:3], np.array([12.0, 12.0, 12.0]))
    np.testing.assert_allclose(far, crps_mixture(np.full(3, 12.0), w[:3], mu[:3], sig[:3]),
                               atol=5e-6)
    # one p(z) alone (qp cannot slice an ensemble of one; issue 30's fuzz found it)
    one = qp.Ensemble(qp.mixmod, data={"weights": w[:1], "means": mu[:1], "stds": sig[:1]})
    np.testing.assert_allclose(crps_ensemble(one, z[:1]), exact[:1], atol=5e-6, rtol=0)


def test_crps_of_a_uniform_p_z_by_hand():
    """U(0, 1): z_true = 0.3 gives int_0^0.3 x^2 + int_0.3^1 (1 - x)^2 = (0.3^3 + 0.7^3) / 3 (0.5:
    1/12); z_true = 2 or -1 gives E|X - y| - E|X - X'| / 2 = 1.5 - 1/6 = 4/3."""
    exact = np.array([(0.3**3 + 0.7**3) / 3, 4 / 3, 4 / 3, 1 / 12, 1 / 12])
    z = np.array([0.3, 2.0, -1.0, 0.5, 0.5])  # 0.5 is a grid point: no half cell lost there
    for n in (11, 100001):  # the trapezoid rule's error on x^2 over [0, 1]: h^2 / 6
        grid = np.linspace(0.0, 1.0, n)
        out = crps_from_cdf(np.broadcast_to(grid, (5, n)), grid, z, np.clip(z, 0, 1))
        np.testing.assert_allclose(out, exact, atol=(grid[1] ** 2) / 6 + 1e-12, rtol=0)


def test_the_same_p_z_scores_the_same_in_every_representation():
    """A Gaussian mixture as qp.mixmod (KNearNeigh's representation) and gridded as qp.interp
    (FlexZBoost's, BPZ's and the networks'): the one scorer gives the same numbers."""
    rng = np.random.default_rng(3)
    n = 800
    mu = rng.uniform(0.3, 2.5, (n, 2))
    sig = rng.uniform(0.05, 0.2, (n, 2))
    w = np.full((n, 2), 0.5)
    z = mu[:, 0] + rng.normal(0, sig[:, 0])
    mix = qp.Ensemble(qp.mixmod, data={"weights": w, "means": mu, "stds": sig})
    grid = np.linspace(-0.5, 4.0, 1801)  # the whole of every p(z)
    gridded = qp.Ensemble(qp.interp, data={"xvals": grid, "yvals": mix.pdf(grid)})
    a, b = score_pdfs(mix, z), score_pdfs(gridded, z)
    assert set(a) == {"crps", "pit_ks", "pit_cvm", "pit_ad", "pit_outlier_rate", "coverage_68",
                      "coverage_95", "nll"}
    assert b["crps"] == pytest.approx(a["crps"], rel=1e-4)
    for key in ("coverage_68", "coverage_95"):
        assert b[key] == pytest.approx(a[key], abs=3e-3)
    assert b["pit_ks"] == pytest.approx(a["pit_ks"], abs=3e-3)
    assert b["nll"] == pytest.approx(a["nll"], abs=1e-2)
    # A peer's file holds no z_true: the scores take it from the caller.
    assert score_ensemble(gridded, z) == b
    # Argument errors are typed and name the argument (issue 30).
    with pytest.raises(PhotozValueError, match="^z_true: must be given"):
        score_ensemble(gridded)
    with pytest.raises(PhotozValueError, match="^z_true: must have shape"):
        score_pdfs(gridded, z[:-1])
