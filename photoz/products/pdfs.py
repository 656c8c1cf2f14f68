"""``results/pdfs/<net>.hdf5`` (docs/data_products.md §4): the networks' p(z) of the test galaxies.

A ``qp.mixmod`` ensemble (weights, means, stds per galaxy; ``qp.read`` opens it, as RAIL's
evaluation stages do) with ancillary ``object_id``, ``z_true`` and ``width_scale``: one builder, one
writer (atomic), one reader that checks it once.
"""

from __future__ import annotations

import os

import numpy as np

from photoz.errors import PhotozDataError
from photoz.io import atomic_path


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
