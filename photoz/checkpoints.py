"""Checkpoints and prediction tables of trained networks (split out of :mod:`photoz.training`).

:mod:`photoz.training` re-exports every name here.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from photoz.errors import PhotozDataError
from photoz.io import atomic_path


def save_checkpoint(path: str | Path, checkpoint: dict) -> None:
    """Write a checkpoint dict with ``torch.save``, atomically, with a checksum of its content.

    The key ``"sha256"`` holds :func:`photoz.io.content_digest` of every other entry (weights,
    input scaling, metadata), which :func:`load_checkpoint` recomputes.
    """
    from photoz.io import content_digest

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
    from photoz.io import content_digest

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
