"""Tests of photoz.evaluate.metrics: hand-computed values, qp agreement, bootstrap errors."""

from __future__ import annotations

import numpy as np
import pytest

from photoz.errors import PhotozDataError, PhotozValueError
from photoz.evaluate import metrics

# A five-galaxy example worked by hand (see the comments of test_hand_computed_values).
Z_TRUE = np.array([0.0, 1.0, 0.5, 2.0, 1.0])
Z_PRED = np.array([0.1, 1.2, 0.5, 1.0, 1.02])


def test_hand_computed_values():
    # dz = [0.1, 0.2, 0, -1, 0.02]; 1 + z = [1, 2, 1.5, 3, 2]
    # ez = dz / (1 + z) = [0.1, 0.1, 0, -1/3, 0.01]
    assert metrics.ez(Z_PRED, Z_TRUE) == pytest.approx([0.1, 0.1, 0.0, -1 / 3, 0.01], abs=1e-15)
    # median(dz) = 0.02; |dz - 0.02| / (1 + z) = [0.08, 0.09, 0.01333, 0.34, 0] -> median 0.08
    assert metrics.sigma_nmad(Z_PRED, Z_TRUE) == pytest.approx(1.48 * 0.08, abs=1e-14)
    # only the -1/3 galaxy has |ez| > 0.15
    assert metrics.outlier_fraction(Z_PRED, Z_TRUE) == pytest.approx(0.2, abs=1e-15)
    # mean |ez| = (0.1 + 0.1 + 0 + 1/3 + 0.01) / 5
    assert metrics.mae(Z_PRED, Z_TRUE) == pytest.approx((0.21 + 1 / 3) / 5, abs=1e-14)
    # median ez = 0.01
    assert metrics.bias(Z_PRED, Z_TRUE) == pytest.approx(0.01, abs=1e-15)
    # |ez - 0.01| = [0.09, 0.09, 0.01, 0.34333, 0] -> median 0.09
    assert metrics.sigma_mad(Z_PRED, Z_TRUE) == pytest.approx(1.4826 * 0.09, abs=1e-14)
    # sorted ez = [-1/3, 0, 0.01, 0.1, 0.1]: P25 = 0 (index 1), P75 = 0.1 (index 3)
    assert metrics.sigma_iqr(Z_PRED, Z_TRUE) == pytest.approx(0.1 / 1.349, abs=1e-14)
    # cut = max(0.06, 3 * 0.0741) = 0.2224: again only the -1/3 galaxy
    assert metrics.outlier_rate_rail(Z_PRED, Z_TRUE) == pytest.approx(0.2, abs=1e-15)


def test_rail_outlier_floor_applies_when_scatter_is_small():
    # sigma_IQR ~ 0 (four exact predictions), so the cut is the 0.06 floor: 0.07 is an outlier
    z_true = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    z_pred = np.array([1.0, 1.0, 1.0, 1.0, 1.0 + 0.07 * 2])
    assert metrics.sigma_iqr(z_pred, z_true) == 0.0
    assert metrics.outlier_rate_rail(z_pred, z_true) == pytest.approx(0.2)
    assert metrics.outlier_fraction(z_pred, z_true) == 0.0  # the paper's 0.15 cut keeps it


def test_sigma_nmad_of_gaussian_scatter():
    # dz = s (1 + z) N(0, 1): median |N| = 0.67449, so sigma_NMAD -> 1.48 * 0.67449 s = 0.99825 s
    rng = np.random.default_rng(1)
    z_true = rng.uniform(0.0, 3.0, 200_000)
    s = 0.03
    z_pred = z_true + s * (1 + z_true) * rng.standard_normal(z_true.size)
    assert metrics.sigma_nmad(z_pred, z_true) == pytest.approx(1.48 * 0.6744898 * s, rel=0.01)
    assert metrics.sigma_mad(z_pred, z_true) == pytest.approx(s, rel=0.01)
    assert metrics.sigma_iqr(z_pred, z_true) == pytest.approx(s, rel=0.01)
    # two-sided Gaussian tail beyond 5 sigma is 5.7e-7: no paper outliers
    assert metrics.outlier_fraction(z_pred, z_true) < 1e-4


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rail_forms_agree_with_qp(seed):
    pm = pytest.importorskip(
        "qp.metrics.point_estimate_metric_classes", reason="qp-prob (test extra) not installed"
    )
    rng = np.random.default_rng(seed)
    z_true = rng.gamma(2.0, 0.45, 5000)
    z_pred = z_true + 0.04 * (1 + z_true) * rng.standard_normal(z_true.size)
    z_pred[:100] = rng.uniform(0.0, 4.0, 100)  # catastrophic outliers
    assert metrics.sigma_mad(z_pred, z_true) == pytest.approx(
        pm.PointSigmaMAD().evaluate(z_pred, z_true), abs=1e-12
    )
    assert metrics.sigma_iqr(z_pred, z_true) == pytest.approx(
        pm.PointSigmaIQR().evaluate(z_pred, z_true), abs=1e-12
    )
    assert metrics.bias(z_pred, z_true) == pytest.approx(
        pm.PointBias().evaluate(z_pred, z_true), abs=1e-12
    )
    assert metrics.outlier_rate_rail(z_pred, z_true) == pytest.approx(
        pm.PointOutlierRate().evaluate(z_pred, z_true), abs=1e-12
    )
    assert metrics.ez(z_pred, z_true) == pytest.approx(
        pm.PointStatsEz().evaluate(z_pred, z_true), abs=1e-12
    )


def test_bad_arrays_raise():
    with pytest.raises(PhotozDataError, match="differ in length"):
        metrics.sigma_nmad([1.0, 2.0], [1.0])
    with pytest.raises(PhotozDataError, match="index 1"):
        metrics.mae([1.0, np.nan], [1.0, 1.0])
    with pytest.raises(PhotozDataError, match="empty"):
        metrics.bias([], [])


def test_bootstrap_error_of_outlier_fraction_is_binomial():
    # eta = 0.1 on n = 2000: the bootstrap error should be sqrt(eta (1 - eta) / n) = 0.00671
    rng = np.random.default_rng(3)
    n = 2000
    z_true = rng.uniform(0.0, 2.0, n)
    z_pred = z_true.copy()
    z_pred[: n // 10] += 0.5 * (1 + z_true[: n // 10])
    errs = metrics.bootstrap_metrics(z_pred, z_true, n_bootstrap=400, seed=0)
    assert errs["outlier_fraction_err"] == pytest.approx(np.sqrt(0.1 * 0.9 / n), rel=0.15)
    # same seed, same answer
    assert metrics.bootstrap_metrics(z_pred, z_true, n_bootstrap=50, seed=7) == (
        metrics.bootstrap_metrics(z_pred, z_true, n_bootstrap=50, seed=7)
    )


def test_binned_metrics_by_hand():
    # bins of 0.5 by z_true: [0, 0.5) holds z_true 0.0 (and nothing else); [0.5, 1) holds 0.5;
    # [1, 1.5) holds the two z_true = 1 galaxies; [2, 2.5) holds z_true = 2 (the outlier)
    table = metrics.binned_metrics(Z_PRED, Z_TRUE, by="z_true", n_bootstrap=0)
    assert list(table["z_lo"][:5]) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert list(table["z_hi"])[-1] == 4.0  # always covers the paper's 0-4
    assert list(table["n"][:5]) == [1, 1, 2, 0, 1]
    assert list(table["outlier_fraction"][:5].fillna(-1)) == [0.0, 0.0, 0.0, -1, 1.0]
    # bin [1, 1.5): ez = 0.1 and 0.01 -> MAE 0.055
    assert table["mae"][2] == pytest.approx(0.055)
    # by photo-z: z_pred = 1.0 (the outlier) falls in [1, 1.5) with 1.2 and 1.02
    by_pred = metrics.binned_metrics(Z_PRED, Z_TRUE, by="z_pred", n_bootstrap=0)
    assert by_pred["n"][2] == 3
    assert by_pred["outlier_fraction"][2] == pytest.approx(1 / 3)
    with pytest.raises(PhotozValueError, match="^by: must be one of"):
        metrics.binned_metrics(Z_PRED, Z_TRUE, by="redshift")


def test_binned_bootstrap_errors():
    rng = np.random.default_rng(5)
    z_true = np.repeat([0.25, 1.25], 1000)
    z_pred = z_true.copy()
    z_pred[:100] += 1.0  # 10% outliers in the first bin, none in the second
    table = metrics.binned_metrics(z_pred, z_true, by="z_true", n_bootstrap=300, seed=rng)
    assert table["outlier_fraction"][0] == pytest.approx(0.1)
    assert table["outlier_fraction_err"][0] == pytest.approx(np.sqrt(0.09 / 1000), rel=0.2)
    assert table["outlier_fraction_err"][2] == 0.0
    assert np.isnan(table["outlier_fraction_err"][1])  # empty bin
