"""The training stage's products (docs/outputs.md §4): checkpoints, histories,
predictions and p(z) files.

- ``results/models/<net>.pt``: :func:`save_checkpoint`, :func:`load_checkpoint` (a SHA-256 of the
  content, checked on read);
- ``results/models/<net>_history.csv``: :data:`HISTORY_COLUMNS`, :func:`write_history`,
  :func:`read_history`;
- ``results/predictions/<name>.parquet``: :data:`PREDICTION_COLUMNS` (peers) or
  :data:`NETWORK_PREDICTION_COLUMNS` (networks), :func:`write_predictions`,
  :func:`read_predictions`;
- ``results/pdfs/<net>.hdf5``: a ``qp.mixmod`` ensemble (weights, means, stds per galaxy; ``qp.read``
  opens it, as RAIL's evaluation stages do) with ancillary ``object_id``, ``z_true`` and
  ``width_scale``: :func:`make_ensemble`, :func:`write_ensemble`, :func:`read_ensemble`.

Written by rules ``train_network``, ``combine_ensemble`` and ``fit_peer`` / ``fit_rail_peer``
(:mod:`photoz.train.network`, :mod:`photoz.train.ensemble`, :mod:`photoz.peers.stage`); read by the
metrics, the figures and ``python -m photoz predict``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from photoz.errors import PhotozDataError
from photoz.io import atomic_path, content_digest, write_parquet, write_text
from photoz.products.common import check_columns, read_parquet


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
HISTORY_COLUMNS: tuple[str, ...] = ("epoch", "train_loss", "val_loss", "train_accuracy",
                                    "val_accuracy", "learning_rate", "seconds")


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
        If unreadable, a column is missing or the file has no rows.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise PhotozDataError(f"cannot read training history {path}: {exc}") from exc
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


def make_ensemble(w: np.ndarray, mu: np.ndarray, sig: np.ndarray, object_id: np.ndarray,
                  z_true: np.ndarray, width_scale: float):
    """A ``qp.mixmod`` ensemble with ancillary ``object_id``, ``z_true`` and ``width_scale``.

    ``sig`` are the calibrated widths; ``width_scale`` (one value, repeated per row) is the
    factor they were multiplied by, so ``sig / width_scale`` gives the raw p(z).
    """
    import qp

    ens = qp.Ensemble(qp.mixmod, data={"weights": w, "means": mu, "stds": sig})
    ens.set_ancil({"object_id": np.asarray(object_id, dtype=np.int64),
                   "z_true": np.asarray(z_true, dtype=np.float64),
                   "width_scale": np.full(len(mu), float(width_scale))})
    return ens


def write_ensemble(path: str | os.PathLike, ens) -> None:
    """Write ``ens`` as HDF5 (``qp.read`` opens it) atomically."""
    with atomic_path(path, suffix=".hdf5") as tmp:  # qp picks the format from the suffix
        ens.write_to(str(tmp))


def read_ensemble(path: str | os.PathLike):
    """``qp.read(path)``, with the file named in the error.

    Raises
    ------
    PhotozDataError
        If the file is missing or not a qp mixmod ensemble with ``z_true`` ancillary data.
    """
    import qp

    try:
        ens = qp.read(str(path))
    except Exception as exc:
        raise PhotozDataError(f"cannot read p(z) file {path}: {exc}; rerun its train_network "
                              "job (snakemake --forcerun train_network)") from exc
    if ens.ancil is None or "z_true" not in ens.ancil or "means" not in ens.objdata:
        raise PhotozDataError(f"p(z) file {path}: not a photoz mixmod ensemble (needs weights, "
                              "means, stds and ancillary z_true)")
    return ens


def ensemble_arrays(ens) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights, means, widths (n, K) of a mixmod ensemble."""
    d = ens.objdata
    return (np.asarray(d["weights"], float), np.asarray(d["means"], float),
            np.asarray(d["stds"], float))
