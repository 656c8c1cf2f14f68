"""The training stage's products (docs/outputs.md §4): checkpoints, histories,
predictions and p(z) files.

- ``results/models/<net>.pt``: :func:`save_checkpoint`, :func:`load_checkpoint` (a SHA-256 of the
  content, checked on read);
- ``results/models/<net>_history.csv``: :data:`HISTORY_COLUMNS`, :func:`write_history`,
  :func:`read_history`;
- ``results/predictions/<name>.parquet``: :data:`PREDICTION_COLUMNS` (peers) or
  :data:`NETWORK_PREDICTION_COLUMNS` (networks), :func:`write_predictions`,
  :func:`read_predictions`;
- ``results/pdfs/<net>.hdf5``: a ``qp.interp`` ensemble, each galaxy's p(z) truncated at z = 0
  (issue 29) on the fixed grid :data:`PDF_GRID` (``qp.read`` opens it, as RAIL's evaluation stages
  do), with ancillary ``object_id``, ``z_true``, ``width_scale`` and the mixture it was drawn from
  (:data:`MIXTURE_ANCIL`): :func:`make_ensemble`, :func:`write_ensemble`, :func:`read_ensemble`.
  A deep-ensemble member's mixtures (``results/members/<net>_m<k>.hdf5``, every selected galaxy,
  the input of the combining step) stay a ``qp.mixmod``: :func:`make_mixture_ensemble`. Every
  p(z) file, the RAIL peers' too, is written by :func:`write_ensemble`: its root attribute
  :data:`PDF_DIGEST_ATTR` holds a SHA-256 of every dataset (:func:`hdf5_digest`), which
  :func:`read_qp` (so :func:`read_ensemble`) and :func:`verify_ensemble` recompute.

Written by rules ``train_network``, ``combine_ensemble`` and ``fit_peer`` / ``fit_rail_peer``
(:mod:`photoz.train.network`, :mod:`photoz.train.ensemble`, :mod:`photoz.peers.stage`); read by the
metrics, the figures and ``python -m photoz predict``. A predictions table's parquet metadata
names the flux measurement its method read (``input_flux``: :func:`prediction_metadata`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch

from photoz.errors import PhotozDataError
from photoz.io import atomic_path, content_digest, write_parquet, write_text
from photoz.mixture import Z_LOWER, truncated_pdf
from photoz.products.common import check_columns, corrupt, read_parquet, read_text, remake_hint


def save_checkpoint(path: str | Path, checkpoint: dict) -> None:
    """Write a checkpoint dict with ``torch.save``, atomically, with a checksum of its content.

    The key ``"sha256"`` holds :func:`photoz.io.content_digest` of every other entry (weights,
    input scaling, metadata), which :func:`load_checkpoint` recomputes.
    """
    body = {k: v for k, v in checkpoint.items() if k != "sha256"}
    buffer = io.BytesIO()
    torch.save({**body, "sha256": content_digest(body)}, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`train_network` and check its checksum.

    Raises
    ------
    PhotozDataError
        Naming the file: it is missing, unreadable or not a photoz checkpoint, it has no
        checksum (written before photoz kept one), or its content does not match the checksum
        (corrupt: e.g. bytes zeroed inside the weights, which ``torch.load`` does not notice).
    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PhotozDataError(f"cannot read model checkpoint {path}: {exc}") from exc
    for key in ("net", "state_dict", "input_scaling"):
        if not isinstance(ckpt, dict) or key not in ckpt:
            raise PhotozDataError(f"model checkpoint {path}: no key {key!r}; not a photoz model")
    stored = ckpt.pop("sha256", None)
    if stored is None:
        raise PhotozDataError(f"model checkpoint {path}: no checksum (written by an older "
                              "photoz); retrain it (snakemake --forcerun train_network)")
    actual = content_digest(ckpt)
    if actual != stored:
        raise PhotozDataError(f"model checkpoint {path}: content does not match its checksum "
                              f"(sha256 {actual[:12]}... vs stored {str(stored)[:12]}...): the "
                              "file is corrupt; retrain it (snakemake --forcerun train_network) "
                              "or restore a good copy")
    return ckpt


#: Columns of ``results/models/<net>_history.csv``, one row per epoch (docs/outputs.md §4).
#: No wall time: the history is the same bits in every run with the same seed (the epoch times
#: are in the training log, ``logs/``, and the job's time in ``benchmarks/``).
HISTORY_COLUMNS: tuple[str, ...] = ("epoch", "train_loss", "val_loss", "train_accuracy",
                                    "val_accuracy", "learning_rate")


#: Columns of ``results/predictions/<name>.parquet`` (networks and peers alike).
PREDICTION_COLUMNS: tuple[str, ...] = ("object_id", "z_true", "z_pred", "split")


#: The point estimates of a p(z) (issue 13; photoz.train.heads): mode, median, 68% interval.
PDF_COLUMNS: tuple[str, ...] = ("z_mode", "z_median", "z_lo68", "z_hi68")


#: Columns of a network's predictions table (the peers write :data:`PREDICTION_COLUMNS`).
NETWORK_PREDICTION_COLUMNS: tuple[str, ...] = ("object_id", "z_true", "z_pred", *PDF_COLUMNS,
                                               "split")


def write_history(rows, path: str | os.PathLike) -> None:
    """Write a training history (rows of :data:`HISTORY_COLUMNS`, or a DataFrame) atomically."""
    hist = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
    write_text(path, hist.to_csv(index=False))


def read_history(path: str | os.PathLike) -> pd.DataFrame:
    """Read a training-history CSV (docs/outputs.md §4).

    Raises
    ------
    PhotozDataError
        If unreadable, corrupt (:func:`photoz.products.common.read_text`), a column is missing
        or the file has no rows. A history written with a ``seconds`` column (before photoz kept
        times out of its products) reads as it is.
    """
    path = Path(path)
    text = read_text(path, "training history")
    try:
        df = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise corrupt(path, "training history", exc) from exc
    missing = [c for c in HISTORY_COLUMNS if c not in df.columns]
    if missing:
        raise PhotozDataError(f"training history {path}: missing column(s) {missing}")
    if df.empty:
        raise PhotozDataError(f"training history {path}: no epochs")
    return df


def write_predictions(frame: pd.DataFrame, path: str | os.PathLike,
                      metadata: dict | None = None) -> None:
    """Write a predictions table atomically as parquet: the columns :data:`PREDICTION_COLUMNS`
    (a peer) or :data:`NETWORK_PREDICTION_COLUMNS` (a network, with its p(z) point estimates),
    in order."""
    if list(frame.columns) != list(NETWORK_PREDICTION_COLUMNS):
        check_columns(frame, PREDICTION_COLUMNS, "predictions", path)
    write_parquet(frame, path, metadata)


def read_predictions(path: str | os.PathLike, split: str | None = "test") -> pd.DataFrame:
    """Read a predictions table (docs/outputs.md §4) and check it.

    Parameters
    ----------
    path : path-like
        ``results/predictions/<name>.parquet``: object_id, z_true, z_pred, split.
    split : str, optional
        Keep only the rows of this split (e.g. ``"test"``).

    Returns
    -------
    pandas.DataFrame
        The kept rows, index reset.

    Raises
    ------
    PhotozDataError
        If the file is unreadable, a column is missing, a redshift is not finite (names the
        row), z_true <= -1, or no row has the requested split.
    """
    path = Path(path)
    df = read_parquet(path, None, "predictions")
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise PhotozDataError(f"predictions {path}: missing column(s) {missing}; expected "
                              f"{list(PREDICTION_COLUMNS)}")
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


#: Top of the networks' p(z) grid, z: the mixtures' mass above it is dropped (renormalised). On the
#: default run's test galaxies (seed 2022) at most 4e-5 of any galaxy's p(z) lies above 6 (the
#: CNN's widest; 4.4% above 4).
PDF_GRID_ZMAX = 6.0
#: Step of the grid in ln(1 + z): dz = 0.003 (1 + z), a constant step in dz / (1 + z), the unit of
#: photo-z errors; 0.003 at z = 0, where the default run's narrowest p(z) (sigma 0.011) get ~4
#: points per sigma. Against the analytic truncated mixtures of the default run's MLP it moves the
#: mean CRPS by 3e-6, coverage_68 by 1.5e-3 and PIT KS by 5e-4 (tests/test_train_heads.py checks
#: the same bound on toy mixtures).
PDF_GRID_STEP = 0.003
#: Offset of the grid's first point below :data:`photoz.mixture.Z_LOWER`, where the density is 0.
#: qp 1.1's ``interp`` puts half the first cell's trapezoid at its first knot (its cumulative starts
#: at 0.5 y_0 dx_0), so a grid starting at z = 0 would report ``cdf(0) > 0``; with this zero-density
#: knot qp's ``cdf(0)`` is the mass the linear interpolation puts below 0, 0.5 p(0) 1e-6 (at most
#: 4e-4 for the narrowest width a network can give, p(0) = 0.8 / SIGMA_MIN).
PDF_GRID_PAD = 1e-6
#: The networks' p(z) grid: -:data:`PDF_GRID_PAD`, then 650 points from z = 0 to
#: :data:`PDF_GRID_ZMAX`, uniform in ln(1 + z). A file holds 651 float64 per galaxy (5.2 kB; 21 MB
#: for the default run's 4,005 test galaxies, against 0.4 MB as a 3-component mixmod).
PDF_GRID: np.ndarray = np.concatenate([[Z_LOWER - PDF_GRID_PAD], np.expm1(np.linspace(
    np.log1p(Z_LOWER), np.log1p(PDF_GRID_ZMAX),
    int(round((np.log1p(PDF_GRID_ZMAX) - np.log1p(Z_LOWER)) / PDF_GRID_STEP)) + 1))])
#: Ancillary columns of a network's p(z) file holding the mixture it was drawn from, shape (n, K):
#: the *calibrated, untruncated* weights, means and widths (``stds / width_scale`` are the raw ones).
MIXTURE_ANCIL: tuple[str, str, str] = ("mixture_weights", "mixture_means", "mixture_stds")


def make_ensemble(w: np.ndarray, mu: np.ndarray, sig: np.ndarray, object_id: np.ndarray,
                  z_true: np.ndarray, width_scale: float):
    """A network's p(z) file: the mixtures truncated at z = 0, as a ``qp.interp`` ensemble.

    Each galaxy's p(z) is the Gaussian mixture restricted to z >= :data:`photoz.mixture.Z_LOWER`
    and renormalised (:func:`photoz.mixture.truncated_pdf`; qp's mixmod cannot express a
    truncation), tabulated on :data:`PDF_GRID` (qp interpolates it linearly and normalises it on
    the grid, so the little mass above :data:`PDF_GRID_ZMAX` is dropped too).

    Parameters
    ----------
    w, mu, sig : ndarray, shape (n, K)
        The calibrated mixtures (``sig`` already multiplied by ``width_scale``).
    object_id : ndarray, shape (n,), int
    z_true : ndarray, shape (n,)
    width_scale : float
        The calibration factor; ``sig / width_scale`` are the raw widths.

    Returns
    -------
    qp.Ensemble
        ``qp.interp`` on :data:`PDF_GRID` (density 0 at its first point, below 0), ancillary ``object_id``, ``z_true``, ``width_scale``
        (repeated per row) and :data:`MIXTURE_ANCIL`.
    """
    import qp

    w, mu, sig = (np.asarray(a, dtype=np.float64) for a in (w, mu, sig))
    ens = qp.Ensemble(qp.interp, data={"xvals": PDF_GRID,
                                       "yvals": truncated_pdf(PDF_GRID, w, mu, sig, Z_LOWER)})
    ens.set_ancil({"object_id": np.asarray(object_id, dtype=np.int64),
                   "z_true": np.asarray(z_true, dtype=np.float64),
                   "width_scale": np.full(len(mu), float(width_scale)),
                   **dict(zip(MIXTURE_ANCIL, (w, mu, sig), strict=True))})
    return ens


def make_mixture_ensemble(w: np.ndarray, mu: np.ndarray, sig: np.ndarray, object_id: np.ndarray,
                          z_true: np.ndarray, width_scale: float):
    """A ``qp.mixmod`` ensemble of untruncated mixtures (a deep-ensemble member's mixtures).

    The combining step (:mod:`photoz.train.ensemble`) reads these members' mixtures back with
    :func:`ensemble_arrays`; the network's own p(z) file is :func:`make_ensemble`'s. Ancillary
    ``object_id``, ``z_true`` and ``width_scale`` as there.
    """
    import qp

    ens = qp.Ensemble(qp.mixmod, data={"weights": w, "means": mu, "stds": sig})
    ens.set_ancil({"object_id": np.asarray(object_id, dtype=np.int64),
                   "z_true": np.asarray(z_true, dtype=np.float64),
                   "width_scale": np.full(len(mu), float(width_scale))})
    return ens


#: Root attribute of a p(z) file (and of a RAIL peer's) holding :func:`hdf5_digest` of its datasets.
PDF_DIGEST_ATTR = "photoz_sha256"


def hdf5_digest(f) -> str:
    """SHA-256 of every dataset of an open HDF5 file: path, dtype, shape and bytes, in path order.

    qp writes its ensembles with h5py without checksums; this digest, stored in the file's root
    attribute :data:`PDF_DIGEST_ATTR`, makes any changed byte of the data (or of a dataset's
    shape or type) detectable.

    Parameters
    ----------
    f : h5py.File

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    import h5py

    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    h = hashlib.sha256()
    for name in sorted(names):
        data = np.ascontiguousarray(f[name][()])
        h.update(f"{name} {data.dtype.str} {data.shape}:".encode())
        h.update(data.tobytes())
    return h.hexdigest()


def write_ensemble(path: str | os.PathLike, ens) -> None:
    """Write ``ens`` as HDF5 (``qp.read`` opens it) atomically, with its digest.

    The root attribute :data:`PDF_DIGEST_ATTR` holds :func:`hdf5_digest` of the file's datasets
    (qp ignores it), which :func:`read_ensemble` checks.
    """
    import h5py

    with atomic_path(path, suffix=".hdf5") as tmp:  # qp picks the format from the suffix
        tmp.unlink()  # qp (h5py) creates the file itself
        ens.write_to(str(tmp))
        with h5py.File(tmp, "r+") as f:
            # fixed-length, out of HDF5's global heap (photoz.products.simulate.fixed_strings)
            f.attrs[PDF_DIGEST_ATTR] = np.bytes_(hdf5_digest(f).encode())


def verify_ensemble(path: str | os.PathLike) -> None:
    """Check a p(z) file's datasets against the digest it carries.

    A file without the digest (written before photoz kept them, or by another program) is
    refused too: zeroed bytes over the attribute make HDF5 read it as padding, so that a damaged
    file would otherwise look like an old one.

    Parameters
    ----------
    path : path-like
        A file of :func:`write_ensemble`.

    Raises
    ------
    PhotozDataError
        Naming the file and how to remake it: unreadable as HDF5, no digest, or content that
        differs from its digest.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            stored = f.attrs.get(PDF_DIGEST_ATTR)
            actual = hdf5_digest(f) if stored is not None else None
    except (OSError, KeyError, RuntimeError, ValueError) as exc:
        raise corrupt(path, "p(z) file", exc) from exc
    if stored is None:
        raise PhotozDataError(f"p(z) file {path}: carries no digest (written before photoz kept "
                              f"one), so it cannot be verified; {remake_hint(path)}")
    stored = stored.decode() if isinstance(stored, bytes) else str(stored)
    if actual != stored:
        raise corrupt(path, "p(z) file", f"content sha256 {actual[:12]}... differs from the "
                      f"stored {stored[:12]}...")


def read_qp(path: str | os.PathLike, what: str = "p(z) file"):
    """``qp.read(path)`` of any method's p(z) file (networks' and RAIL peers') after
    :func:`verify_ensemble`, the file named in the error.

    Raises
    ------
    PhotozDataError
        If the file is missing, carries no digest (written before photoz kept one: remake it),
        is corrupt (its digest does not match) or is not a qp ensemble.
    """
    import qp

    verify_ensemble(path)
    try:
        return qp.read(str(path))
    except Exception as exc:
        raise corrupt(path, what, exc) from exc


def read_ensemble(path: str | os.PathLike):
    """A network's p(z) file (:func:`make_ensemble`, or a member's :func:`make_mixture_ensemble`),
    verified against its digest (:func:`read_qp`).

    Raises
    ------
    PhotozDataError
        If the file is missing, carries no digest, is corrupt, or is not a photoz p(z) file: a
        qp ensemble with ancillary ``z_true`` and its mixture (mixmod data or
        :data:`MIXTURE_ANCIL`).
    """
    ens = read_qp(path)
    ancil = ens.ancil or {}
    if "z_true" not in ancil or ("means" not in ens.objdata
                                 and not all(k in ancil for k in MIXTURE_ANCIL)):
        raise PhotozDataError(f"p(z) file {path}: not a photoz network p(z) file (needs "
                              f"ancillary z_true and the mixture: {list(MIXTURE_ANCIL)}); rerun "
                              "its train_network job (snakemake --forcerun train_network)")
    return ens


def ensemble_arrays(ens) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights, means, widths (n, K) of a network's p(z) file: the calibrated mixture before
    truncation (a mixmod's own data, or :data:`MIXTURE_ANCIL` of a truncated p(z))."""
    if "means" in ens.objdata:
        d = ens.objdata
        return (np.asarray(d["weights"], float), np.asarray(d["means"], float),
                np.asarray(d["stds"], float))
    return tuple(np.asarray(ens.ancil[k], float) for k in MIXTURE_ANCIL)


def prediction_metadata(path: str | os.PathLike) -> dict:
    """The JSON-decoded parquet metadata of a predictions table (e.g. ``input_flux``, a peer's
    ``seed``); {} for a table written without any.

    Raises
    ------
    PhotozDataError
        If the file's schema cannot be read.
    """
    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, ValueError) as exc:
        raise PhotozDataError(f"cannot read predictions {path}: {exc}") from exc
    out = {}
    for key, value in meta.items():
        if key == b"pandas":
            continue
        try:
            out[key.decode()] = json.loads(value)
        except ValueError:
            continue
    return out
