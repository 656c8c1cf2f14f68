"""Photo-z point-estimate metrics, binned metrics with bootstrap errors, and the summary table.

Two families of metrics are provided, both on ``dz = z_pred - z_true``:

- the paper's (Zhou et al. 2022, MNRAS 512, 4593, Sect. 5; PAPER_SPEC §6): sigma_NMAD with the
  factor 1.48 and ``|dz - median(dz)| / (1 + z_true)``, the outlier fraction
  ``|dz| / (1 + z_true) > 0.15`` and the MAE ``mean(|dz| / (1 + z_true))``;
- RAIL's / qp's (``qp.metrics.point_estimate_metric_classes``, after the LSST DESC Science Book):
  ``ez = dz / (1 + z_true)``, bias = median(ez), sigma_MAD = 1.4826 median(|ez - median(ez)|),
  sigma_IQR = IQR(ez) / 1.349 and the outlier rate ``|ez| > max(0.06, 3 sigma_IQR)``.

Why our own code: each metric is one line of numpy, and the paper's sigma_NMAD is not the same
formula as RAIL's sigma_MAD (factor 1.48 vs 1.4826, and the median is taken of dz, not of ez), so
neither library function gives the paper's number. ``qp`` is a test-only dependency; the tests
check our RAIL forms against it to 1e-12.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.io import read_table, write_text
from photoz.logs import progress as tqdm
from photoz.pdf import pdf_summary

#: The four networks of the paper, in the order of its tables and figures.
NETWORKS: tuple[str, ...] = ("mlp", "cnn", "hybrid", "hybrid_transfer")
#: Display names of the networks.
NETWORK_LABELS: dict[str, str] = {
    "mlp": "MLP",
    "cnn": "CNN",
    "hybrid": "Hybrid",
    "hybrid_transfer": "Hybrid-transfer",
}
#: The classical peer estimators (:mod:`photoz.peers`), scored after the networks (no paper row).
PEERS: tuple[str, ...] = ("random_forest", "gradient_boosting", "flexzboost", "knn", "bpz")
#: Every method the summary can hold: the networks, then the peers.
METHODS: tuple[str, ...] = NETWORKS + PEERS
#: Display names of the peers (as :data:`photoz.peers.PEER_LABELS`).
PEER_LABELS: dict[str, str] = {
    "random_forest": "Random forest (sklearn)",
    "gradient_boosting": "XGBoost",
    "flexzboost": "FlexZBoost (RAIL)",
    "knn": "KNearNeigh (RAIL)",
    "bpz": "BPZ templates (RAIL)",
}
#: The paper's outlier threshold on |dz| / (1 + z_true) (Zhou et al. 2022, Sect. 5).
OUTLIER_THRESHOLD = 0.15
#: The paper's sigma_NMAD scale factor (Zhou et al. 2022, eq. 9; PAPER_SPEC §6).
NMAD_FACTOR = 1.48
#: RAIL/qp's sigma_MAD scale factor, 1/Phi^-1(3/4) (qp ``PointSigmaMAD``).
RAIL_MAD_FACTOR = 1.4826
#: RAIL/qp's IQR-to-sigma divisor, 2 Phi^-1(3/4) (qp ``PointSigmaIQR``).
RAIL_IQR_DIVISOR = 1.349
#: RAIL/qp's floor on the outlier cut (qp ``PointOutlierRate``).
RAIL_OUTLIER_FLOOR = 0.06

#: The paper's results (Zhou et al. 2022, Table 2; PAPER_SPEC §6), keyed by training-set size.
#: Outlier fractions are fractions (1.43% -> 0.0143). The paper gives MAE only for 30k.
PAPER_RESULTS: dict[str, dict[str, dict[str, float]]] = {
    "30k": {
        "mlp": {"sigma_nmad": 0.023, "outlier_fraction": 0.0143, "mae": 0.029},
        "cnn": {"sigma_nmad": 0.025, "outlier_fraction": 0.0121, "mae": 0.029},
        "hybrid": {"sigma_nmad": 0.020, "outlier_fraction": 0.0103, "mae": 0.027},
        "hybrid_transfer": {"sigma_nmad": 0.020, "outlier_fraction": 0.0090, "mae": 0.025},
    },
    "20k": {
        "mlp": {"sigma_nmad": 0.026, "outlier_fraction": 0.0167},
        "cnn": {"sigma_nmad": 0.027, "outlier_fraction": 0.0151},
        "hybrid": {"sigma_nmad": 0.022, "outlier_fraction": 0.0125},
        "hybrid_transfer": {"sigma_nmad": 0.021, "outlier_fraction": 0.0106},
    },
    "10k": {
        "mlp": {"sigma_nmad": 0.028, "outlier_fraction": 0.0239},
        "cnn": {"sigma_nmad": 0.030, "outlier_fraction": 0.0198},
        "hybrid": {"sigma_nmad": 0.023, "outlier_fraction": 0.0129},
        "hybrid_transfer": {"sigma_nmad": 0.023, "outlier_fraction": 0.0129},
    },
}
#: train:test ratio of a run -> the paper's training-set size with that ratio (PAPER_SPEC §1).
RATIO_TO_PAPER_ROW: dict[str, str] = {"3:1": "30k", "1:1": "20k", "1:3": "10k"}

#: Columns every predictions parquet must hold (docs/data_products.md §4).
PREDICTION_COLUMNS: tuple[str, ...] = ("object_id", "z_true", "z_pred", "split")


# --------------------------------------------------------------------------------------------
# Point metrics on arrays
# --------------------------------------------------------------------------------------------
def _pairs(z_pred, z_true) -> tuple[np.ndarray, np.ndarray]:
    """Validate and return ``(z_pred, z_true)`` as 1-d float arrays of equal length."""
    z_pred = np.asarray(z_pred, dtype=float).ravel()
    z_true = np.asarray(z_true, dtype=float).ravel()
    if z_pred.shape != z_true.shape:
        raise PhotozDataError(
            f"z_pred and z_true differ in length ({z_pred.size} vs {z_true.size})"
        )
    if z_pred.size == 0:
        raise PhotozDataError("no redshifts given: z_pred and z_true are empty")
    bad = ~(np.isfinite(z_pred) & np.isfinite(z_true))
    if bad.any():
        raise PhotozDataError(
            f"non-finite redshift at index {int(np.flatnonzero(bad)[0])} "
            f"({int(bad.sum())} in all); drop or fix those rows first"
        )
    if np.any(z_true <= -1.0):
        raise PhotozDataError(
            f"z_true <= -1 at index {int(np.flatnonzero(z_true <= -1.0)[0])}; 1 + z must be > 0"
        )
    return z_pred, z_true


def ez(z_pred, z_true) -> np.ndarray:
    """Scaled residual ez = (z_pred - z_true) / (1 + z_true) (RAIL/qp ``PointStatsEz``).

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)
        Photo-z and true (spec-z) redshifts.

    Returns
    -------
    ndarray, shape (n,)

    Raises
    ------
    PhotozDataError
        If the lengths differ, the arrays are empty or hold non-finite values, or z_true <= -1.
    """
    z_pred, z_true = _pairs(z_pred, z_true)
    return (z_pred - z_true) / (1.0 + z_true)


def sigma_nmad(z_pred, z_true) -> float:
    """The paper's normalised median absolute deviation.

    sigma_NMAD = 1.48 x median(|dz - median(dz)| / (1 + z_true)), dz = z_pred - z_true
    (Zhou et al. 2022, eq. 9; PAPER_SPEC §6). Note the median is subtracted from dz, not from
    dz / (1 + z): this differs from RAIL's :func:`sigma_mad`.

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)

    Returns
    -------
    float, dimensionless

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    """
    z_pred, z_true = _pairs(z_pred, z_true)
    dz = z_pred - z_true
    return float(NMAD_FACTOR * np.median(np.abs(dz - np.median(dz)) / (1.0 + z_true)))


def outlier_fraction(z_pred, z_true, threshold: float = OUTLIER_THRESHOLD) -> float:
    """The paper's outlier fraction eta: fraction with |dz| / (1 + z_true) > ``threshold``.

    Zhou et al. 2022, eq. 10; PAPER_SPEC §6 (threshold 0.15).

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)
    threshold : float
        Outlier cut on |dz| / (1 + z_true); default 0.15.

    Returns
    -------
    float, fraction in [0, 1] (not per cent)

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    """
    return float(np.mean(np.abs(ez(z_pred, z_true)) > threshold))


def mae(z_pred, z_true) -> float:
    """The paper's mean absolute error, mean(|dz| / (1 + z_true)) (PAPER_SPEC §6).

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)

    Returns
    -------
    float, dimensionless

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    """
    return float(np.mean(np.abs(ez(z_pred, z_true))))


def bias(z_pred, z_true) -> float:
    """Bias, median(ez) with ez = dz / (1 + z_true) (RAIL/qp ``PointBias``; PAPER_SPEC §6).

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)

    Returns
    -------
    float, dimensionless (positive: photo-z too high)

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    """
    return float(np.median(ez(z_pred, z_true)))


def sigma_mad(z_pred, z_true) -> float:
    """RAIL/qp's sigma_MAD = 1.4826 median(|ez - median(ez)|) (qp ``PointSigmaMAD``).

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)

    Returns
    -------
    float, dimensionless

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    """
    e = ez(z_pred, z_true)
    return float(RAIL_MAD_FACTOR * np.median(np.abs(e - np.median(e))))


def sigma_iqr(z_pred, z_true) -> float:
    """RAIL/qp's sigma_IQR = (P75(ez) - P25(ez)) / 1.349 (qp ``PointSigmaIQR``).

    Percentiles use numpy's default linear interpolation, as qp does.

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)

    Returns
    -------
    float, dimensionless

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    """
    x75, x25 = np.percentile(ez(z_pred, z_true), [75.0, 25.0])
    return float((x75 - x25) / RAIL_IQR_DIVISOR)


def outlier_rate_rail(z_pred, z_true) -> float:
    """RAIL/qp's catastrophic outlier rate: fraction with |ez| > max(0.06, 3 sigma_IQR).

    qp ``PointOutlierRate`` (LSST Science Book definition).

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)

    Returns
    -------
    float, fraction in [0, 1]

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    """
    e = ez(z_pred, z_true)
    cut = max(RAIL_OUTLIER_FLOOR, 3.0 * sigma_iqr(z_pred, z_true))
    return float(np.mean(np.abs(e) > cut))


#: The metrics of summary.json, in order: name -> function(z_pred, z_true).
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "sigma_nmad": sigma_nmad,
    "outlier_fraction": outlier_fraction,
    "mae": mae,
    "bias": bias,
    "sigma_mad": sigma_mad,
    "sigma_iqr": sigma_iqr,
    "outlier_rate_rail": outlier_rate_rail,
}
#: The metrics computed per bin (the paper's three plus the bias).
BINNED_METRICS: tuple[str, ...] = ("outlier_fraction", "sigma_nmad", "mae", "bias")


def point_metrics(z_pred, z_true) -> dict[str, float]:
    """All metrics of :data:`METRICS` plus ``n`` for one set of predictions.

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)

    Returns
    -------
    dict
        ``sigma_nmad, outlier_fraction, mae, bias, sigma_mad, sigma_iqr, outlier_rate_rail``
        (floats) and ``n`` (int).

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    """
    z_pred, z_true = _pairs(z_pred, z_true)
    out: dict[str, float] = {name: fn(z_pred, z_true) for name, fn in METRICS.items()}
    out["n"] = int(z_pred.size)
    return out


# --------------------------------------------------------------------------------------------
# Bootstrap and binned metrics
# --------------------------------------------------------------------------------------------
def _metric_values(z_pred: np.ndarray, z_true: np.ndarray, names) -> np.ndarray:
    """The named metrics of one sample; NaN for an empty one."""
    if z_pred.size == 0:
        return np.full(len(names), np.nan)
    return np.array([METRICS[n](z_pred, z_true) for n in names])


def bootstrap_metrics(
    z_pred,
    z_true,
    n_bootstrap: int = 200,
    seed: int | np.random.Generator = 0,
    names: tuple[str, ...] = tuple(METRICS),
) -> dict[str, float]:
    """Bootstrap standard errors of the metrics: resample the test set with replacement.

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)
    n_bootstrap : int
        Number of resamplings (default 200); 0 returns NaN errors.
    seed : int or numpy.random.Generator
        Seed of ``numpy.random.default_rng``.
    names : tuple of str
        Metrics of :data:`METRICS` to bootstrap.

    Returns
    -------
    dict of str to float
        ``<name>_err``: the standard deviation (ddof=1) of the metric over the resamplings
        (Efron & Tibshirani 1993, eq. 6.6).

    Raises
    ------
    PhotozDataError
        As :func:`ez`.
    """
    z_pred, z_true = _pairs(z_pred, z_true)
    rng = np.random.default_rng(seed)
    if n_bootstrap < 2:
        return {f"{n}_err": float("nan") for n in names}
    values = np.empty((n_bootstrap, len(names)))
    for b in range(n_bootstrap):
        idx = rng.integers(0, z_pred.size, z_pred.size)
        values[b] = _metric_values(z_pred[idx], z_true[idx], names)
    return {f"{n}_err": float(s) for n, s in zip(names, values.std(axis=0, ddof=1), strict=True)}


def redshift_bin_edges(z_max: float, width: float = 0.5) -> np.ndarray:
    """Bin edges 0, width, 2 width, ... up to the first edge >= ``z_max`` (at least 4).

    Parameters
    ----------
    z_max : float
        Largest redshift to cover.
    width : float
        Bin width; the paper's Fig. 8 uses 0.5.

    Returns
    -------
    ndarray, shape (n_bins + 1,)
    """
    if not width > 0:
        raise PhotozConfigError(f"metrics: bin width must be > 0, got {width}")
    top = max(4.0, float(np.ceil(z_max / width - 1e-9)) * width)
    return np.round(np.arange(0.0, top + width / 2, width), 10)


def _bin_index(z: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each z; values below 0 go to the first bin and above the top to the last."""
    return np.clip(np.searchsorted(edges, z, side="right") - 1, 0, edges.size - 2)


def binned_metrics(
    z_pred,
    z_true,
    by: str = "z_true",
    width: float = 0.5,
    edges: np.ndarray | None = None,
    n_bootstrap: int = 200,
    seed: int | np.random.Generator = 0,
) -> pd.DataFrame:
    """Metrics in bins of true redshift or of photo-z, with bootstrap errors (paper Fig. 8).

    The bootstrap resamples the whole test set with replacement and re-bins each resampling,
    so the errors include the scatter of the number of galaxies per bin.

    Parameters
    ----------
    z_pred, z_true : array_like, shape (n,)
    by : {"z_true", "z_pred"}
        The redshift that defines the bins.
    width : float
        Bin width (default 0.5, as the paper's Fig. 8).
    edges : ndarray, optional
        Explicit bin edges; default :func:`redshift_bin_edges` of the data's maximum.
        Values below the first edge fall in the first bin, above the last in the last bin.
    n_bootstrap : int
        Number of bootstrap resamplings; < 2 gives NaN errors.
    seed : int or numpy.random.Generator

    Returns
    -------
    pandas.DataFrame, one row per bin
        Columns ``binned_by, z_lo, z_hi, z_mid, n`` and, for each of ``outlier_fraction,
        sigma_nmad, mae, bias``, the value and ``<name>_err``. Empty bins have n = 0 and NaN.

    Raises
    ------
    PhotozConfigError
        For an unknown ``by``.
    PhotozDataError
        As :func:`ez`.
    """
    if by not in ("z_true", "z_pred"):
        raise PhotozConfigError(f"metrics: 'by' must be 'z_true' or 'z_pred', got {by!r}")
    z_pred, z_true = _pairs(z_pred, z_true)
    key = z_true if by == "z_true" else z_pred
    if edges is None:
        edges = redshift_bin_edges(float(max(key.max(), 0.0)), width)
    edges = np.asarray(edges, dtype=float)
    n_bins = edges.size - 1
    names = BINNED_METRICS
    idx = _bin_index(key, edges)
    values = np.vstack(
        [_metric_values(z_pred[idx == k], z_true[idx == k], names) for k in range(n_bins)]
    )
    counts = np.bincount(idx, minlength=n_bins)
    rng = np.random.default_rng(seed)
    errors = np.full((n_bins, len(names)), np.nan)
    if n_bootstrap >= 2:
        boot = np.full((n_bootstrap, n_bins, len(names)), np.nan)
        for b in range(n_bootstrap):
            s = rng.integers(0, z_pred.size, z_pred.size)
            zp, zt, ib = z_pred[s], z_true[s], idx[s]
            for k in range(n_bins):
                m = ib == k
                if m.any():
                    boot[b, k] = _metric_values(zp[m], zt[m], names)
        enough = np.sum(np.isfinite(boot[:, :, 0]), axis=0) >= 2
        with np.errstate(invalid="ignore"):
            errors[enough] = np.nanstd(boot[:, enough], axis=0, ddof=1)
    table = {
        "binned_by": [by] * n_bins,
        "z_lo": edges[:-1],
        "z_hi": edges[1:],
        "z_mid": 0.5 * (edges[:-1] + edges[1:]),
        "n": counts,
    }
    for j, name in enumerate(names):
        table[name] = values[:, j]
        table[f"{name}_err"] = errors[:, j]
    return pd.DataFrame(table)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------

def read_predictions(path: str | os.PathLike, split: str | None = "test") -> pd.DataFrame:
    """Read and check a predictions parquet (docs/data_products.md §4).

    Parameters
    ----------
    path : path-like
        ``results/predictions/<net>.parquet`` with ``object_id, z_true, z_pred, split``.
    split : str or None
        Keep only rows of this split (default ``"test"``); None keeps all.

    Returns
    -------
    pandas.DataFrame
        The kept rows, index reset.

    Raises
    ------
    PhotozDataError
        If the file is unreadable, a column is missing, a redshift is not finite (names the
        row) or no row has the requested split.
    """
    path = Path(path)
    df = read_table(path, PREDICTION_COLUMNS, "predictions")
    for col in ("z_true", "z_pred"):
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise PhotozDataError(
                f"predictions {path}: column {col} is not a finite number in row {row} "
                f"(object_id {df['object_id'].iloc[row]}; {int(bad.sum())} such rows)"
            )
        df[col] = values
    bad = df["z_true"].to_numpy() <= -1.0
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise PhotozDataError(f"predictions {path}: column z_true <= -1 in row {row}")
    if split is not None:
        df = df[df["split"].astype(str) == split].reset_index(drop=True)
        if df.empty:
            raise PhotozDataError(f"predictions {path}: no rows with split == {split!r}")
    return df


def _json_safe(obj):
    """Replace NaN/inf by None (null) so the JSON is strict."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _read_selection(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        sel = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PhotozDataError(f"cannot read selection summary {path}: {exc}") from exc
    if not isinstance(sel, dict) or "n_selected" not in sel:
        raise PhotozDataError(f"selection summary {path}: missing key 'n_selected'")
    return sel


def _fmt(value: float | None, kind: str) -> str:
    if value is None or not np.isfinite(value):
        return "—"
    if kind == "percent":
        return f"{100 * value:.2f}%"
    if kind == "signed":
        return f"{value:+.4f}"
    return f"{value:.4f}"


def _fmt_err(value: float, err: float | None, kind: str) -> str:
    text = _fmt(value, kind)
    if err is None or not np.isfinite(err) or text == "—":
        return text
    if kind == "percent":
        return f"{text} ± {100 * err:.2f}"
    return f"{text} ± {err:.4f}"


_TABLE_HEADER = (
    "network",
    "n_test",
    "sigma_NMAD",
    "paper",
    "outlier fraction",
    "paper",
    "MAE",
    "paper",
    "bias",
    "sigma_MAD (RAIL)",
    "sigma_IQR (RAIL)",
    "outliers (RAIL)",
)
_TABLE_NOTE = (
    "sigma_NMAD = 1.48 median(|dz - median(dz)| / (1 + z)); outlier: |dz| / (1 + z) > 0.15; "
    "MAE = mean(|dz| / (1 + z)); bias = median(dz / (1 + z)); RAIL outliers: "
    "|dz| / (1 + z) > max(0.06, 3 sigma_IQR). The paper gives MAE only for 30k."
)


def _intro(summary: Mapping, paper_row: str, train_test_ratio: str) -> str:
    return (
        f"Train:test ratio {train_test_ratio}; compared with Zhou et al. 2022 (MNRAS 512, 4593), "
        f"Table 2, {paper_row} training galaxies. Selected galaxies: {summary['n_selected']} "
        "(paper: about 40,000). Errors are bootstrap standard deviations of the test set."
    )


def summary_rows(summary: Mapping, paper_row: str) -> list[list[str]]:
    """The summary table's formatted cells, one row per network (header: ``_TABLE_HEADER``).

    Parameters
    ----------
    summary : mapping
        As returned by :func:`write_summary` (network -> metrics, plus ``n_selected``).
    paper_row : str
        ``"30k"``, ``"20k"`` or ``"10k"`` (key of :data:`PAPER_RESULTS`).

    Returns
    -------
    list of list of str
    """
    paper = PAPER_RESULTS[paper_row]
    labels = {**NETWORK_LABELS, **PEER_LABELS}
    rows = []
    for net in METHODS:
        if net not in summary:
            continue
        m = summary[net]
        p = paper.get(net, {})
        rows.append(
            [
                labels[net],
                str(m["n_test"]),
                _fmt_err(m["sigma_nmad"], m.get("sigma_nmad_err"), "plain"),
                _fmt(p.get("sigma_nmad"), "plain"),
                _fmt_err(m["outlier_fraction"], m.get("outlier_fraction_err"), "percent"),
                _fmt(p.get("outlier_fraction"), "percent"),
                _fmt_err(m["mae"], m.get("mae_err"), "plain"),
                _fmt(p.get("mae"), "plain"),
                _fmt_err(m["bias"], m.get("bias_err"), "signed"),
                _fmt(m["sigma_mad"], "plain"),
                _fmt(m["sigma_iqr"], "plain"),
                _fmt(m["outlier_rate_rail"], "percent"),
            ]
        )
    return rows


def summary_markdown(summary: Mapping, paper_row: str, train_test_ratio: str) -> str:
    """The summary table in Markdown: our metrics beside the paper's for the same split.

    Parameters
    ----------
    summary : mapping
        As returned by :func:`write_summary` (network -> metrics, plus ``n_selected``).
    paper_row : str
        ``"30k"``, ``"20k"`` or ``"10k"`` (key of :data:`PAPER_RESULTS`).
    train_test_ratio : str
        The run's ratio, for the heading.

    Returns
    -------
    str
    """
    lines = [
        "# Photo-z metrics on the test set",
        "",
        _intro(summary, paper_row, train_test_ratio),
        "",
        "| " + " | ".join(_TABLE_HEADER) + " |",
        "|---|" + "---:|" * (len(_TABLE_HEADER) - 1),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in summary_rows(summary, paper_row)]
    lines += ["", _TABLE_NOTE, ""]
    return "\n".join(lines)


def summary_html(summary: Mapping, paper_row: str, train_test_ratio: str) -> str:
    """The same table as :func:`summary_markdown`, as a standalone HTML page.

    Snakemake's report shows HTML results inline (Markdown only as a download), so this is the
    form to wrap in ``report(...)``.

    Returns
    -------
    str
    """
    table = pd.DataFrame(summary_rows(summary, paper_row), columns=list(_TABLE_HEADER))
    body = table.to_html(index=False, escape=True, border=0, classes="summary")
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Photo-z metrics</title>'
        "<style>body{font-family:sans-serif;font-size:14px}"
        "table.summary{border-collapse:collapse}"
        "table.summary td,table.summary th{padding:3px 8px;border-bottom:1px solid #ccc;"
        "text-align:right}table.summary td:first-child{text-align:left}</style></head><body>\n"
        f"<h3>Photo-z metrics on the test set</h3>\n<p>{html.escape(_intro(summary, paper_row, train_test_ratio))}</p>\n"
        f"{body}\n<p>{html.escape(_TABLE_NOTE)}</p>\n</body></html>\n"
    )


def write_summary(
    predictions: dict[str, str],
    selection_path: str | os.PathLike,
    out_json: str | os.PathLike,
    out_md: str | os.PathLike,
    out_binned_csv: str | os.PathLike,
    train_test_ratio: str,
    n_bootstrap: int = 200,
    seed: int = 0,
    out_html: str | os.PathLike | None = None,
) -> dict:
    """Compute the test-set metrics of every network and write summary.json, summary.md, binned.csv.

    Parameters
    ----------
    predictions : dict of str to path
        Network name (``mlp, cnn, hybrid, hybrid_transfer``) or peer (:data:`PEERS`) ->
        ``results/predictions/<name>.parquet``
        (``object_id, z_true, z_pred, split``); metrics use the rows with split == "test".
    selection_path : path
        ``results/photometry/selection.json``; its ``n_selected`` is copied to the summary.
    out_json, out_md, out_binned_csv : path
        Outputs (written atomically): ``summary.json`` (network -> ``sigma_nmad,
        outlier_fraction, mae, bias, n_test``, the RAIL forms ``sigma_mad, sigma_iqr,
        outlier_rate_rail`` and bootstrap errors ``<metric>_err``; top-level ``n_selected``,
        ``train_test_ratio``, ``paper_row``, ``n_bootstrap``, ``seed``), ``summary.md``
        (:func:`summary_markdown`; a network with ``results/pdfs/<net>.hdf5`` also gets the
        p(z) scores of :func:`photoz.pdf.score_ensemble`) and ``binned.csv`` (:func:`binned_metrics` by z_true and by
        z_pred, bins of 0.5, with a ``network`` column).
    train_test_ratio : str
        ``"3:1"``, ``"1:1"`` or ``"1:3"``: picks the paper's 30k, 20k or 10k row.
    n_bootstrap : int
        Bootstrap resamplings of the test set for the errors (default 200).
    seed : int
        Seed of the bootstrap; each network uses its own stream spawned from it.
    out_html : path, optional
        Also write the table as HTML (:func:`summary_html`), the form Snakemake's report
        shows inline.

    Returns
    -------
    dict
        The content of summary.json.

    Raises
    ------
    PhotozConfigError
        For an unknown network or peer name or train:test ratio.
    PhotozDataError
        For an unreadable or malformed predictions or selection file.
    """
    ratio = str(train_test_ratio).strip()
    if ratio not in RATIO_TO_PAPER_ROW:
        raise PhotozConfigError(
            f"metrics.train_test_ratio: {train_test_ratio!r} is not one of "
            f"{sorted(RATIO_TO_PAPER_ROW)} (the paper's 30k, 20k and 10k training sets)"
        )
    unknown = sorted(set(predictions) - set(METHODS))
    if unknown:
        raise PhotozConfigError(
            f"metrics.predictions: unknown network(s) {unknown}; known {METHODS}"
        )
    selection = _read_selection(selection_path)
    # Child i of a SeedSequence does not depend on how many are spawned: the networks' streams
    # are the same with or without peers.
    seeds = np.random.SeedSequence(seed).spawn(len(METHODS))
    summary: dict = {
        "n_selected": int(selection["n_selected"]),
        "train_test_ratio": ratio,
        "paper_row": RATIO_TO_PAPER_ROW[ratio],
        "n_bootstrap": int(n_bootstrap),
        "seed": int(seed),
    }
    binned = []
    nets = [n for n in METHODS if n in predictions]
    for net in tqdm(nets, desc="metrics", unit="network"):
        df = read_predictions(predictions[net], split="test")
        zp, zt = df["z_pred"].to_numpy(), df["z_true"].to_numpy()
        rng = np.random.default_rng(seeds[METHODS.index(net)])
        metrics = point_metrics(zp, zt)
        metrics["n_test"] = metrics.pop("n")
        metrics.update(bootstrap_metrics(zp, zt, n_bootstrap=n_bootstrap, seed=rng))
        metrics.update(pdf_summary(predictions[net]))  # issue 13: crps, pit_ks, coverage_68/95 ...
        summary[net] = metrics
        top = max(float(zt.max()), float(zp.max()), 0.0)
        edges = redshift_bin_edges(top, 0.5)
        for by in ("z_pred", "z_true"):
            table = binned_metrics(zp, zt, by=by, edges=edges, n_bootstrap=n_bootstrap, seed=rng)
            table.insert(0, "network", net)
            binned.append(table)
    write_text(out_json, json.dumps(_json_safe(summary), indent=2, allow_nan=False) + "\n")
    write_text(out_md, summary_markdown(summary, RATIO_TO_PAPER_ROW[ratio], ratio))
    if out_html is not None:
        write_text(out_html, summary_html(summary, RATIO_TO_PAPER_ROW[ratio], ratio))
    binned_df = pd.concat(binned, ignore_index=True) if binned else pd.DataFrame()
    write_text(out_binned_csv, binned_df.to_csv(index=False, float_format="%.6g"))
    return summary
