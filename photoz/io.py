"""Atomic file writing, shared by every stage (the products' readers are in :mod:`photoz.products`).

A crash never leaves a half-written file that looks whole: each writer writes to a temporary file
in the destination's directory and renames it over the destination (``os.replace`` is atomic on
POSIX file systems), so Snakemake either sees the complete output or none.
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


@contextmanager
def atomic_path(path: str | os.PathLike, mode: int | None = None,
                suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, else delete it.

    The one atomic writer of the package: every product is written through it (directly or via
    :func:`write_text`, :func:`write_json`, :func:`write_parquet` and :mod:`photoz.products`).
    If the block raises, the temporary file is removed and an existing ``path`` is left as it
    was. A job killed inside the block (SIGKILL, a lost node) cannot remove its temporary file:
    the next write of the same ``path`` does (:func:`remove_stale_temporaries`), so a rerun of the
    rule leaves no hidden ``.<name>.<random>.tmp`` behind (up to a full shard at paper scale).

    Parameters
    ----------
    path : str or PathLike
        The final file. Its directory is created if needed.
    mode : int, optional
        Permission bits of the final file; default 0666 less the process umask, as ``open``
        would give (``mkstemp`` alone would leave 0600).
    suffix : str
        Suffix of the temporary file, for writers that choose the format by the file name
        (qp writes HDF5 only to a ``.hdf5`` name).

    Yields
    ------
    Path
        Where the caller writes the complete file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path, suffix)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


#: Length of the random part of :func:`tempfile.mkstemp`'s names (CPython: 8 characters).
_TMP_RANDOM = 8


def remove_stale_temporaries(path: str | os.PathLike, suffix: str = ".tmp") -> list[Path]:
    """Delete the temporary files a killed :func:`atomic_path` left for ``path``; return them.

    They are the files ``.<name>.<8 random characters><suffix>`` (or ``.tmp``) beside ``path``.
    Snakemake runs one job per output at a time (a second run in the same directory is refused
    by its lock), so a temporary file of ``path`` that exists when a new write of ``path`` starts
    belongs to a write that will never finish.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pattern = f".{glob.escape(path.name)}.{'?' * _TMP_RANDOM}"
    stale = sorted({p for sfx in {suffix, ".tmp"} for p in path.parent.glob(pattern + sfx)})
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def json_safe(obj: object) -> object:
    """``obj`` with every non-finite float (NaN, +-inf) replaced by ``None``, recursively.

    Python's ``json`` writes NaN and Infinity as bare words, which is not JSON (RFC 8259) and
    which strict readers (``jq``, JavaScript, ``json.loads(..., parse_constant=...)``) reject;
    ``null`` is the JSON spelling of "no value". numpy scalars become Python numbers.
    """
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:  # numpy scalar
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(obj: object, path: str | os.PathLike) -> None:
    """Write ``obj`` as indented, strict JSON to ``path`` atomically (NaN and inf as ``null``)."""
    write_text(path, json.dumps(json_safe(obj), indent=2, allow_nan=False) + "\n")


def content_digest(obj: object) -> str:
    """SHA-256 of the content of a nested checkpoint-like object, independent of its file.

    Walks dicts (in sorted key order), lists and tuples; hashes tensors and numpy arrays by
    dtype, shape and bytes (C order, on the CPU), and other leaves by type and ``repr``. The same
    content gives the same digest before ``torch.save`` and after ``torch.load``, so a
    checkpoint can carry the digest of its own content (:func:`photoz.products.train.save_checkpoint`).

    Parameters
    ----------
    obj : dict, list, tuple, torch.Tensor, numpy.ndarray or a scalar

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    import numpy as np

    h = hashlib.sha256()

    def walk(x):
        if isinstance(x, dict):
            h.update(b"{")
            for key in sorted(x, key=repr):
                h.update(repr(key).encode() + b":")
                walk(x[key])
            h.update(b"}")
        elif isinstance(x, (list, tuple)):
            h.update(b"[" if isinstance(x, list) else b"(")
            for v in x:
                walk(v)
            h.update(b"]")
        elif hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch.Tensor
            import torch

            t = x.detach().cpu().contiguous()
            h.update(f"tensor {t.dtype} {tuple(t.shape)}:".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(x, np.ndarray):
            a = np.ascontiguousarray(x)
            h.update(f"ndarray {a.dtype.str} {a.shape}:".encode() + a.tobytes())
        else:
            h.update(f"{type(x).__name__} {x!r};".encode())

    walk(obj)
    return h.hexdigest()


#: Parquet key-value metadata key that says the file's pages carry CRC-32 checksums (written by
#: :func:`write_parquet`; ``photoz verify`` reports a product without it as unverifiable).
PARQUET_CHECKSUM_KEY = "photoz_page_checksums"


def write_parquet(df: pd.DataFrame, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Write ``df`` to ``path`` atomically, with ``metadata`` JSON-encoded in the Parquet schema.

    The one parquet writer of the package. Every data page carries a CRC-32 checksum
    (``write_page_checksum``), which the readers of :mod:`photoz.products` verify
    (``page_checksum_verification``), so a zeroed or flipped byte inside the data is an error
    naming the file, never a silently changed number. The schema metadata then holds
    :data:`PARQUET_CHECKSUM_KEY` ``true``.

    Parameters
    ----------
    df : pandas.DataFrame
        The table; its index is dropped.
    metadata : dict, optional
        Key-value pairs stored as the schema's metadata (each value JSON-encoded).
    """
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta.update({k.encode(): json.dumps(v).encode() for k, v in (metadata or {}).items()})
    meta[PARQUET_CHECKSUM_KEY.encode()] = b"true"
    table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, write_page_checksum=True)


# --------------------------------------------------------------------------------------------
# Snakemake's lock of a killed run
# --------------------------------------------------------------------------------------------
def snakemake_locks(directory: str | os.PathLike = ".") -> list[Path]:
    """Snakemake's lock files in ``directory`` (``.snakemake/locks/*.lock``).

    Snakemake writes them while it runs and removes them when it ends; a run killed by SIGKILL
    (or a lost node) leaves them, and every later run stops with a ``LockException`` until
    ``snakemake --unlock``.
    """
    return sorted((Path(directory) / ".snakemake" / "locks").glob("*.lock"))


def running_snakemakes(directory: str | os.PathLike = ".") -> list[int]:
    """Process ids of running Snakemake processes, or their jobs, working in ``directory``.

    A process counts if its command line names ``snakemake`` (the executable, ``-m snakemake``)
    and its working directory or its ``--directory``/``-d`` argument is ``directory``, or if it
    runs a file under ``directory/.snakemake/`` (a job's script, which may outlive a killed
    Snakemake). This process and its ancestors (the
    ``make`` that calls it) are left out. Processes whose details cannot be read (another
    user's) are skipped.
    """
    import psutil

    target = Path(directory).resolve()
    mine = {os.getpid()} | {p.pid for p in psutil.Process().parents()}
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            argv = proc.info["cmdline"] or []
            if proc.info["pid"] in mine or not argv:
                continue
            is_snakemake = "snakemake" in [Path(a).name for a in argv[:3]] \
                or ("-m" in argv[:3] and "snakemake" in argv[:4])
            is_job = any(".snakemake/" in a for a in argv)
            if not (is_snakemake or is_job):
                continue
            cwd = Path(proc.cwd())
            where = {cwd.resolve()}
            for flag in ("--directory", "-d"):
                if flag in argv[:-1]:
                    where.add((cwd / argv[argv.index(flag) + 1]).resolve())
            for a in argv:  # <dir>/.snakemake/scripts/x.py -> <dir>
                parts = (cwd / a).parts
                if ".snakemake" in parts:
                    where.add(Path(*parts[:parts.index(".snakemake")]).resolve())
            if target in where:
                found.append(proc.info["pid"])
        except (psutil.Error, OSError, ValueError):
            continue
    return found


def release_stale_lock(directory: str | os.PathLike = ".") -> str:
    """Remove Snakemake's lock in ``directory`` if no Snakemake process works there.

    What ``snakemake --unlock`` does (it deletes ``.snakemake/locks``), but only when the lock is
    stale: a lock held by a running Snakemake is left alone, and that run's own
    ``LockException`` then says so.

    Returns
    -------
    str
        ``"none"`` (no lock), ``"held by pid N[, M]"`` (a Snakemake runs there; lock kept) or
        ``"released N lock file(s)"``.
    """
    import shutil

    locks = snakemake_locks(directory)
    if not locks:
        return "none"
    pids = running_snakemakes(directory)
    if pids:
        return "held by pid " + ", ".join(map(str, pids))
    shutil.rmtree(Path(directory) / ".snakemake" / "locks", ignore_errors=True)
    return f"released {len(locks)} lock file(s)"
