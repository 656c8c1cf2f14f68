"""A normalizing flow of the DC2 population: any number of DC2-like galaxies, seeded (source ``flow``).

What it is, plainly: a pzflow normalizing flow (Crenshaw et al. 2024, AJ 168, 80; pzflow's
default bijector, ShiftBounds -> RollingSplineCoupling of neural rational-quadratic splines,
Durkan et al. 2019) fitted to the joint distribution of true redshift and LSST u g r i z y
magnitudes of the 30,674 LSST DESC DC2 galaxies shipped in pz-rail-base (:func:`read_dc2`).
Sampling it **resamples the DC2 population**: it draws new points from a smooth density fitted to
those 30,674 galaxies, so a sample of 80,000 has DC2's redshift distribution, colours and
magnitude limit (i < 25.3), and no information that DC2 lacks. It adds no new galaxies in the
sense of new data: a network trained on 60,000 sampled galaxies has seen at most the information
of 30,674. What it gives the pipeline is enough galaxies for the paper's sample size (about 40,000
selected, Zhou et al. 2022 Sect. 2) with DC2's population, each drawn once (no duplicates whose
images and noise would repeat).

The catalogue stage then treats the sample exactly as it treats DC2 (:mod:`photoz.catalog`): an
SED fitted to the LSST magnitudes at the sampled redshift, the CSST fluxes it predicts, sizes and
shapes from :mod:`photoz.catalog.morphology`, the seeded split.

Why pzflow directly and not RAIL's creation stage (pz-rail-pzflow's ``PZFlowModeler`` /
``PZFlowCreator``): that stage is a thin wrapper over the same pzflow calls (``Flow.train``,
``Flow.sample``) that adds RAIL's data-store and stage machinery (and another package) but no
model; the workflow already caches the trained flow as a Snakemake product, and calling pzflow
directly keeps the seeds, the validation split and the per-epoch log in our hands.

Details (each a choice made here):

- Non-detections. DC2 marks a band without a detection with magnitude 99 (u: 2,203 galaxies,
  g: 2). A flow needs a continuous variable, so for training a non-detected magnitude is replaced
  by ``m_nd = q99 + 1`` (q99: the band's 99th percentile of detected magnitudes) plus a uniform
  jitter of +-0.25 mag (seeded); in a band with DC2 non-detections, a sampled magnitude fainter
  than ``q99 + 0.5`` becomes a non-detection again (99). Measured on 80,000 samples of the full
  flow: u 7.8% non-detected (DC2 7.2%), g 0.22% (DC2 0.007%: the flow's tail leaks past the cut).
- Errors. DC2's magnitude errors follow the LSST error model, essentially a function of the
  magnitude per band; a sampled galaxy gets the DC2 median error at its magnitude
  (:func:`error_table`: median log10 error in 0.1-mag bins, interpolated, held flat beyond the
  ends). They only weight the SED fit (:func:`photoz.catalog.sources._mags_to_maggies`).
- Rejection. A sample is kept only if every column lies inside the training data's range
  (pzflow's ShiftBounds maps that range to +-4 of a latent with support +-5, so the flow can put
  points up to 12% of the range beyond it): redshift in [0.019, 3.03] (so > 0), i <= 25.30 (DC2's
  selection), finite magnitudes. Rejected draws are replaced by new ones until the requested
  number is reached; the counts are logged (about 1-2% for the fully trained flow).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from photoz.catalog.sources import LSST_BANDS, NONDETECTION_MAG, dc2_files, read_dc2
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.io import atomic_path

log = logging.getLogger(__name__)

#: Columns the flow models, in order.
FLOW_COLUMNS: tuple[str, ...] = ("redshift", *(f"mag_lsst_{b}" for b in LSST_BANDS))
#: Training-time stand-in for a non-detection: the band's 99th percentile + this, mag.
NONDETECTION_OFFSET = 1.0
#: Half-width of the uniform jitter of the stand-in, mag.
NONDETECTION_JITTER = 0.25
#: A sampled magnitude fainter than the 99th percentile + this is a non-detection, mag.
NONDETECTION_CUT = 0.5
#: Magnitude step of the error table, mag.
ERROR_BIN = 0.1
#: Rounds of redrawing rejected samples before giving up.
MAX_ROUNDS = 200
#: Samples drawn at once (rounds of this size until enough fall inside the ranges).
CHUNK = 1 << 14
#: Spawn key of the sampling stream in the run seed's SeedSequence: catalog._prepare spawns
#: children 0-2 (subset, morphology, split); child 3 is this one, independent of them.
SAMPLE_STREAM = 3


def limit_threads(threads: int) -> None:
    """Ask XLA (jax's CPU backend) for ``threads`` compute threads; call before importing jax.

    XLA reads ``XLA_FLAGS`` once, when jax starts; later calls change nothing. One thread:
    ``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`` (jax issue #1539).
    """
    if int(threads) == 1 and "XLA_FLAGS" not in os.environ:
        os.environ["XLA_FLAGS"] = ("--xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


def _pzflow():
    """Import pzflow (and so jax), naming the install command if it is missing."""
    try:
        import pzflow
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise PhotozConfigError(
            "catalog.source: flow needs pzflow (pip install pzflow; `make setup` installs it)"
        ) from exc
    return pzflow


def training_table(dc2: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    """The flow's training table and what sampling needs to undo its transformations.

    Parameters
    ----------
    dc2 : pandas.DataFrame
        :func:`photoz.catalog.sources.read_dc2` (``redshift``, ``mag_lsst_<b>``,
        ``mag_err_lsst_<b>``).
    rng : numpy.random.Generator
        For the jitter of the non-detection stand-ins.

    Returns
    -------
    table : pandas.DataFrame, shape (N, 7)
        :data:`FLOW_COLUMNS`, float64; non-detections replaced (module notes).
    info : dict
        ``nondetection`` {column: [stand-in, cut] mag}, ``n_nondetected`` {column: int},
        ``bounds`` {column: [min, max]} of the table, ``errors`` {band: [mags, errors]}
        (:func:`error_table`), ``n_train`` (N). Plain lists, pickled with the flow.

    Raises
    ------
    PhotozDataError
        If a redshift is not > 0 or a magnitude is not finite.
    """
    z = dc2["redshift"].to_numpy(float)
    if not np.all(np.isfinite(z) & (z > 0)):
        raise PhotozDataError("flow training: every DC2 redshift must be finite and > 0")
    table = {"redshift": z}
    info: dict = {"nondetection": {}, "n_nondetected": {}, "errors": {}, "n_train": int(len(z))}
    for b in LSST_BANDS:
        col = f"mag_lsst_{b}"
        m = dc2[col].to_numpy(float)
        if not np.all(np.isfinite(m)):
            raise PhotozDataError(f"flow training: column {col} has non-finite values")
        nd = m >= NONDETECTION_MAG
        q99 = float(np.percentile(m[~nd], 99.0))
        stand_in = q99 + NONDETECTION_OFFSET
        m = m.copy()
        m[nd] = stand_in + rng.uniform(-NONDETECTION_JITTER, NONDETECTION_JITTER, nd.sum())
        table[col] = m
        info["nondetection"][col] = [stand_in, q99 + NONDETECTION_CUT]
        info["n_nondetected"][col] = int(nd.sum())
        info["errors"][b] = error_table(dc2[col].to_numpy(float)[~nd],
                                        dc2[f"mag_err_lsst_{b}"].to_numpy(float)[~nd])
    table = pd.DataFrame(table, columns=list(FLOW_COLUMNS))
    info["bounds"] = {c: [float(table[c].min()), float(table[c].max())] for c in FLOW_COLUMNS}
    return table, info


def error_table(mag: np.ndarray, err: np.ndarray) -> list[list[float]]:
    """Median magnitude error per :data:`ERROR_BIN` bin of magnitude (bins with >= 5 galaxies).

    Parameters
    ----------
    mag, err : ndarray, shape (N,)
        Detected magnitudes and their errors, AB mag.

    Returns
    -------
    list of two lists
        Bin-centre magnitudes and median errors (the median of log10 err, back-transformed),
        increasing in magnitude; :func:`errors_at` interpolates them.
    """
    ok = np.isfinite(mag) & np.isfinite(err) & (err > 0)
    mag, err = mag[ok], err[ok]
    edges = np.arange(np.floor(mag.min() / ERROR_BIN), np.ceil(mag.max() / ERROR_BIN) + 1)
    edges = edges * ERROR_BIN
    which = np.digitize(mag, edges) - 1
    centres, medians = [], []
    for k in range(len(edges) - 1):
        sel = which == k
        if sel.sum() >= 5:
            centres.append(float(edges[k] + ERROR_BIN / 2))
            medians.append(float(10.0 ** np.median(np.log10(err[sel]))))
    return [centres, medians]


def errors_at(mag: np.ndarray, table: list[list[float]]) -> np.ndarray:
    """Interpolated median error at ``mag`` (flat beyond the table's ends); shape of ``mag``."""
    x, y = (np.asarray(t, dtype=float) for t in table)
    return 10.0 ** np.interp(mag, x, np.log10(y))


def train_flow(out_path, epochs: int = 100, batch_size: int = 1024,
               learning_rate: float = 1e-3, validation_fraction: float = 0.1, seed: int = 0,
               history_path=None, dc2: pd.DataFrame | None = None) -> dict:
    """Fit the flow to the DC2 galaxies and save it (pzflow's pickle) atomically.

    Parameters
    ----------
    out_path : path
        The flow file (``Flow.save``; read back with :func:`load_flow`).
    epochs : int
        Passes over the training galaxies (pzflow's default 100). The flow kept is the epoch
        with the lowest validation loss (pzflow ``best_params``).
    batch_size : int
        Galaxies per Adam step (pzflow's default 1024).
    learning_rate : float
        Adam learning rate (pzflow's default 1e-3).
    validation_fraction : float
        Seeded fraction of the galaxies held out to choose the epoch, in [0, 1); 0 chooses by
        the training loss.
    seed : int
        Seeds the validation split, the non-detection jitter, the initial weights and the batches.
    history_path : path, optional
        CSV of ``epoch, train_loss, validation_loss`` (negative mean log-likelihood per galaxy,
        in the flow's units: redshift and AB mag).
    dc2 : pandas.DataFrame, optional
        Training galaxies in :func:`read_dc2`'s format; default all 30,674 of :func:`dc2_files`.

    Returns
    -------
    dict
        ``n_train``, ``n_validation``, ``seconds``, ``best_epoch``, ``best_validation_loss``.

    Raises
    ------
    PhotozConfigError
        If epochs or batch_size < 1, learning_rate <= 0 or validation_fraction not in [0, 1)
        (keys named as in ``catalog.flow``).
    """
    _check_training_args(epochs, batch_size, learning_rate, validation_fraction)
    pzflow = _pzflow()
    import optax

    table, info, train, val, n_val, (flow_seed, train_seed) = _training_sets(
        dc2, seed, validation_fraction)
    info.update({"n_validation": n_val, "epochs": int(epochs), "seed": int(seed),
                 "columns": list(FLOW_COLUMNS)})
    flow = _new_flow(pzflow, table, flow_seed, info)
    log.info("training the flow on %d DC2 galaxies (%d held out), %d epochs, batch %d, lr %g",
             len(train), n_val, epochs, batch_size, learning_rate)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(_LogLines(epochs, t0)):
        losses = flow.train(train, val_set=val, epochs=int(epochs), batch_size=int(batch_size),
                            optimizer=optax.adam(learning_rate=float(learning_rate)),
                            seed=train_seed, verbose=True, best_params=True)
    seconds = time.perf_counter() - t0
    tr, va = (losses if val is not None else (losses, [np.nan] * len(losses)))
    tracked = np.asarray(va if val is not None else tr, dtype=float)[1:]
    best = int(np.nanargmin(tracked)) + 1
    flow.info["best_epoch"] = best
    with atomic_path(out_path, suffix=".pkl") as tmp:
        flow.save(str(tmp))
    if history_path is not None:
        _write_history(history_path, tr, va)
    size = Path(out_path).stat().st_size
    log.info("trained in %.1f s; best epoch %d (loss %.4f); wrote %s (%.2f MB)", seconds, best,
             tracked[best - 1], out_path, size / 1e6)
    return {"n_train": len(train), "n_validation": n_val, "seconds": seconds,
            "best_epoch": best, "best_validation_loss": float(tracked[best - 1])}


def _check_training_args(epochs: int, batch_size: int, learning_rate: float,
                         validation_fraction: float) -> None:
    """PhotozConfigError naming the ``catalog.flow`` keys where :func:`train_flow`'s are invalid."""
    if int(epochs) < 1 or int(batch_size) < 1:
        raise PhotozConfigError(f"catalog.flow.epochs ({epochs}) and batch_size ({batch_size}) "
                                "must be >= 1")
    if not learning_rate > 0 or not 0.0 <= validation_fraction < 1.0:
        raise PhotozConfigError(f"catalog.flow.learning_rate ({learning_rate}) must be > 0 and "
                                f"validation_fraction ({validation_fraction}) in [0, 1)")


def _training_sets(dc2: pd.DataFrame | None, seed: int, validation_fraction: float
                   ) -> tuple[pd.DataFrame, dict, pd.DataFrame, pd.DataFrame | None, int,
                              tuple[int, int]]:
    """The training table and its info, the training and validation galaxies, n_val, two seeds.

    ``seed``'s SeedSequence spawns three streams: the validation split, the non-detection jitter
    (:func:`training_table`) and the seeds of the flow's weights and of its batches. The
    validation set is None where ``validation_fraction`` rounds to no galaxy.
    """
    rng_split, rng_jitter, rng_flow = (np.random.default_rng(s) for s in
                                       np.random.SeedSequence(int(seed)).spawn(3))
    dc2 = read_dc2(dc2_files()) if dc2 is None else dc2
    table, info = training_table(dc2, rng_jitter)
    order = rng_split.permutation(len(table))
    n_val = int(round(validation_fraction * len(table)))
    val = table.iloc[order[:n_val]].reset_index(drop=True) if n_val else None
    train = table.iloc[order[n_val:]].reset_index(drop=True)
    flow_seed, train_seed = (int(s) for s in rng_flow.integers(0, 2**31 - 1, size=2))
    return table, info, train, val, n_val, (flow_seed, train_seed)


def _new_flow(pzflow, table: pd.DataFrame, flow_seed: int, info: dict):
    """An untrained ``pzflow.Flow`` of :data:`FLOW_COLUMNS` with pzflow's default bijector.

    That is ``Flow._set_default_bijector``'s, with the range of all the galaxies of ``table``
    (training and validation) rather than of the training ones only.
    """
    from pzflow.bijectors import Chain, RollingSplineCoupling, ShiftBounds

    lo, hi = table.min().to_numpy(), table.max().to_numpy()
    bijector = Chain(ShiftBounds(lo, hi, 4.0), RollingSplineCoupling(len(FLOW_COLUMNS)))
    return pzflow.Flow(list(FLOW_COLUMNS), bijector=bijector, seed=flow_seed, info=info)


def _write_history(path, train_loss, validation_loss) -> None:
    """Write the per-epoch losses of :func:`train_flow` as CSV, atomically."""
    hist = pd.DataFrame({"epoch": np.arange(len(train_loss)), "train_loss": train_loss,
                         "validation_loss": validation_loss})
    with atomic_path(path) as tmp:
        hist.to_csv(tmp, index=False)


class _LogLines(io.TextIOBase):
    """A stdout that turns pzflow's verbose prints ("(epoch) loss  val_loss") into log lines."""

    def __init__(self, epochs: int, t0: float):
        self.epochs, self.t0, self.buf = epochs, t0, ""

    def write(self, text: str) -> int:
        self.buf += text
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            parts = line.replace("(", " ").replace(")", " ").split()
            try:
                epoch, losses = int(parts[0]), [float(p) for p in parts[1:]]
            except (ValueError, IndexError):
                if line.strip():
                    log.info("pzflow: %s", line.strip())
                continue
            val = f", validation loss {losses[1]:.4f}" if len(losses) > 1 else ""
            log.info("flow epoch %d/%d: training loss %.4f%s (%.0f s)", epoch, self.epochs,
                     losses[0], val, time.perf_counter() - self.t0)
        return len(text)


#: Flows read in this process, by (path, mtime, size): jax compiles each Flow object's sampler
#: anew (seconds), so a second read of the same file reuses the first.
_LOADED: dict = {}


def load_flow(path):
    """Read a flow written by :func:`train_flow` (once per process and file version).

    Raises
    ------
    PhotozDataError
        If the file is missing, unreadable or not a flow of :data:`FLOW_COLUMNS`.
    """
    path = Path(path)
    if not path.is_file():
        raise PhotozDataError(f"{path}: no trained flow (the rule train_flow writes it)")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = _read_flow(path)
    return _LOADED[key]


def _read_flow(path: Path):
    """:func:`load_flow` without the cache."""
    pzflow = _pzflow()
    try:
        flow = pzflow.Flow.from_file(str(path))
    except Exception as exc:  # pickle raises many kinds
        raise PhotozDataError(f"cannot read the flow {path}: {exc}") from exc
    if tuple(flow.data_columns) != FLOW_COLUMNS or not isinstance(flow.info, dict):
        raise PhotozDataError(f"{path}: not a photoz DC2 flow (columns {flow.data_columns}); "
                              "delete it and rerun train_flow")
    return flow


def sample_seed(run_seed: int) -> int:
    """The sampling seed of a run seed (stream :data:`SAMPLE_STREAM` of its SeedSequence)."""
    child = np.random.SeedSequence(int(run_seed), spawn_key=(SAMPLE_STREAM,))
    return int(child.generate_state(1)[0] & 0x7FFFFFFF)


def sample_catalog(flow_or_path, n_galaxies: int, seed: int) -> tuple[pd.DataFrame, dict]:
    """Draw ``n_galaxies`` DC2-like galaxies from the flow, seeded.

    Parameters
    ----------
    flow_or_path : pzflow.Flow or path
        A flow of :func:`train_flow` or its file.
    n_galaxies : int
        How many galaxies to return, >= 1.
    seed : int
        Seeds every draw: round k draws :data:`CHUNK` samples with the k-th seed of its
        SeedSequence and keeps those inside the ranges, until ``n_galaxies`` are kept.
        The same seed and flow give the same table.

    Returns
    -------
    table : pandas.DataFrame, shape (n_galaxies, 15)
        :func:`read_dc2`'s columns: ``object_id`` (0..n-1, int64), ``redshift``,
        ``mag_lsst_<b>`` (99 for a non-detection), ``mag_err_lsst_<b>`` (DC2's median error at
        that magnitude; 99 for a non-detection), ``file`` (the flow file or "flow"), ``row``.
    report : dict
        ``n_drawn`` (all draws), ``n_rejected`` {column: draws outside the training range},
        ``n_nondetected`` {column: int}.

    Raises
    ------
    PhotozConfigError
        If ``n_galaxies`` < 1 (``catalog.n_galaxies``: the number sampled for source flow).
    PhotozDataError
        If the flow cannot be read, or rejection leaves too few draws after
        :data:`MAX_ROUNDS` rounds (the flow is then badly trained).
    """
    if int(n_galaxies) < 1:
        raise PhotozConfigError(
            f"catalog.n_galaxies: {n_galaxies}; for source flow it is the number of galaxies "
            "sampled and must be >= 1 (e.g. 80000)"
        )
    n_galaxies = int(n_galaxies)
    if isinstance(flow_or_path, (str, os.PathLike)):
        name = str(flow_or_path)
        flow = load_flow(flow_or_path)
    else:
        name, flow = "flow", flow_or_path
    info = flow.info
    x, n_drawn, rejected = _draw_in_ranges(flow, info, n_galaxies, seed, name)
    table, n_nd = _sampled_table(x, info, n_galaxies, name)
    report = {"n_drawn": n_drawn, "n_rejected": rejected, "n_nondetected": n_nd}
    log.info("sampled %d galaxies from %s (seed %d): %d drawn, rejected outside the DC2 ranges: "
             "%s; non-detections: %s", n_galaxies, name, seed, n_drawn,
             {k: v for k, v in rejected.items() if v}, {k: v for k, v in n_nd.items() if v})
    return table, report


def _draw_in_ranges(flow, info: dict, n_galaxies: int, seed: int,
                    name: str) -> tuple[np.ndarray, int, dict]:
    """The first ``n_galaxies`` flow samples inside the training ranges (:func:`sample_catalog`).

    Returns
    -------
    x : ndarray, shape (n_galaxies, 7)
        :data:`FLOW_COLUMNS`, float64.
    n_drawn : int
        All draws.
    rejected : dict
        Draws outside the training range per column (a finite draw counts at its first such one).

    Raises
    ------
    PhotozDataError
        If fewer than ``n_galaxies`` fall inside the ranges in :data:`MAX_ROUNDS` rounds.
    """
    seeds = np.random.SeedSequence(int(seed)).generate_state(MAX_ROUNDS)
    kept, n_drawn = [], 0
    rejected = dict.fromkeys(FLOW_COLUMNS, 0)
    n_have = 0
    for k in range(MAX_ROUNDS):
        need = n_galaxies - n_have
        if need <= 0:
            break
        draw = CHUNK  # one size: jax compiles the flow's inverse once per sample size
        x = flow.sample(draw, seed=int(seeds[k] & 0x7FFFFFFF))[list(FLOW_COLUMNS)]
        x = x.to_numpy(np.float64)
        n_drawn += draw
        ok = np.all(np.isfinite(x), axis=1)
        for j, c in enumerate(FLOW_COLUMNS):
            lo, hi = info["bounds"][c]
            bad = ~((x[:, j] >= lo) & (x[:, j] <= hi))
            rejected[c] += int(np.sum(bad & ok))
            ok &= ~bad
        kept.append(x[ok][:need])
        n_have += kept[-1].shape[0]
    if n_have < n_galaxies:
        raise PhotozDataError(
            f"{name}: only {n_have} of {n_drawn} flow samples fell inside the DC2 ranges after "
            f"{MAX_ROUNDS} rounds; retrain the flow (more catalog.flow.epochs)"
        )
    return np.concatenate(kept), n_drawn, rejected


def _sampled_table(x: np.ndarray, info: dict, n_galaxies: int,
                   name: str) -> tuple[pd.DataFrame, dict]:
    """:func:`sample_catalog`'s table of the draws ``x`` and its non-detections per column."""
    out = {"object_id": np.arange(n_galaxies, dtype=np.int64), "redshift": x[:, 0]}
    n_nd = {}
    for j, b in enumerate(LSST_BANDS, start=1):
        col = f"mag_lsst_{b}"
        m = x[:, j]
        # only where DC2 has non-detections (u, g): elsewhere a faint draw is a faint galaxy
        nd = (m > info["nondetection"][col][1]) & (info["n_nondetected"][col] > 0)
        n_nd[col] = int(nd.sum())
        out[col] = np.where(nd, 99.0, m)
        out[f"mag_err_lsst_{b}"] = np.where(nd, 99.0, errors_at(m, info["errors"][b]))
    order = ["object_id", "redshift"] + [f"{p}lsst_{b}" for b in LSST_BANDS
                                         for p in ("mag_", "mag_err_")]
    table = pd.DataFrame(out)[order]
    table["file"] = name
    table["row"] = np.arange(n_galaxies)
    return table, n_nd
