"""The run's train:test ratios: one split per ratio, all from one seeded permutation.

Zhou et al. 2022 (MNRAS 512, 4593, Sect. 4; PAPER_SPEC §1) report three training sizes of one
selected sample (~40,000 galaxies): 10,000 tested and ~30,000 trained (3:1), then 20,000 (1:1)
and 10,000 (1:3) trained with "the rest tested" (Table 2). ``catalog.train_test_ratio`` is one
ratio (a string, today's run) or a list of them; the first ratio's split is the truth table's
``split`` column (:func:`assign_split`), each further ratio gets its own copy of
the photometry table with that ratio's split (:func:`write_ratio_photometry`), which its
networks train on exactly as the first ratio's train on ``results/photometry/photometry.parquet``.

How the splits relate. Every ratio uses the same permutation of the catalogue's galaxies (the
split stream of ``seed``, the one the truth table's column is drawn from) and cuts it by
:func:`split_sizes`: the first ``n_test`` galaxies are test, the next ``n_val``
validation (``catalog.validation_fraction`` of the training part, as in every run), the next
``n_train`` train. So the test sets are nested (3:1's test set lies inside 1:1's, which lies
inside 1:3's: the paper's "the rest tested") and so are the training parts the other way round
(1:3's train + validation galaxies are all in 1:1's, which are all in 3:1's): a smaller training
set is a subset of a larger one, so the rows differ by training size, not by a fresh draw. With
``catalog.test_size`` set every ratio has the same test set. As in the default run the split is
drawn over all catalogue galaxies before the SNR selection, so the selected galaxies follow the
ratio on average, not exactly.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.products.catalog import read_truth
from photoz.products.common import metadata_json, parquet_metadata, read_parquet
from photoz.products.photometry import write_photometry

log = logging.getLogger(__name__)

#: The config key of the ratios (named in every message about them).
RATIO_KEY = "catalog.train_test_ratio"


def parse_ratio(ratio: str, key: str = RATIO_KEY) -> tuple[int, int]:
    """``"a:b"`` (train:test) as two whole numbers, both > 0.

    Raises
    ------
    PhotozConfigError
        Naming ``key``: not two whole numbers separated by a colon (``"3-1"``), or a side of 0.
    """
    parts = str(ratio).strip().split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise PhotozConfigError(f"{key}: {ratio!r} is not a train:test ratio of two whole "
                                f"numbers such as '3:1', '1:1' or '1:3'")
    a, b = (int(p) for p in parts)
    if a == 0 or b == 0:
        raise PhotozConfigError(f"{key}: {ratio!r} needs both sides > 0 (a run needs training "
                                f"and test galaxies)")
    return a, b


def split_sizes(n: int, test_size: int, ratio: str, validation_fraction: float) -> dict[str, int]:
    """Numbers of train, validation, test and unused galaxies (rule in the module notes).

    Paper: 40,000 galaxies, 10,000 test, 30,000 train (3:1), 20,000 (1:1), 10,000 (1:3); 10% of
    train held out for validation (PAPER_SPEC §1).

    Raises
    ------
    PhotozConfigError
        If ``test_size`` exceeds ``n`` or ``validation_fraction`` is outside (0, 1) (the
        schema's range: training needs a validation set, ``photometry.TRAINING_NEEDS``).
    """
    a, b = parse_ratio(ratio)
    if not 0.0 < validation_fraction < 1.0:
        raise PhotozConfigError(
            f"catalog.validation_fraction: {validation_fraction} is not in (0, 1)"
        )
    n_test = int(test_size) if test_size else int(round(n * b / (a + b)))
    if n_test < 0 or n_test > n:
        raise PhotozConfigError(f"catalog.test_size: {test_size} is not in [0, {n}] (galaxies)")
    n_pool = min(n - n_test, int(round(n_test * a / b)))
    n_val = int(round(validation_fraction * n_pool))
    return {"train": n_pool - n_val, "validation": n_val, "test": n_test,
            "unused": n - n_test - n_pool}


def assign_split(n: int, test_size: int, ratio: str, validation_fraction: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Seeded train/validation/test/unused labels.

    Parameters
    ----------
    n : int
    test_size, ratio, validation_fraction
        As in :func:`split_sizes`.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of str, shape (n,)
        ``"train"``, ``"validation"``, ``"test"`` or ``"unused"``; a random permutation assigns
        the first n_test to test, the next n_validation to validation, then train.
    """
    sizes = split_sizes(n, test_size, ratio, validation_fraction)
    labels = np.empty(n, dtype=object)
    order = rng.permutation(n)
    edges = np.cumsum([0, sizes["test"], sizes["validation"], sizes["train"]])
    for name, lo, hi in zip(("test", "validation", "train"), edges[:-1], edges[1:], strict=True):
        labels[order[lo:hi]] = name
    labels[order[edges[-1]:]] = "unused"
    return labels.astype(str)

#: The independent random streams of the catalogue stage, in the order they are spawned from the
#: run seed (``np.random.SeedSequence(seed).spawn``): the subset of galaxies kept, the morphology
#: draws, the split's permutation, the galaxy components (:mod:`photoz.catalog.components`).
#: The order is part of the products: changing it changes every truth table; a stream appended
#: at the end leaves the others as they were (child i of a SeedSequence does not depend on how
#: many are spawned).
CATALOG_STREAMS: tuple[str, ...] = ("subset", "morphology", "split", "components")


def catalog_streams(seed: int) -> dict[str, np.random.Generator]:
    """The catalogue stage's generators of :data:`CATALOG_STREAMS`, spawned from ``seed``.

    This module owns the split's stream: the truth table's ``split`` column
    (:func:`photoz.catalog.truth.build_truth_table`) and every further ratio's labels
    (:func:`ratio_labels`) use ``catalog_streams(seed)["split"]``, so they cut one permutation.

    Parameters
    ----------
    seed : int
        The run seed (config ``seed``).

    Returns
    -------
    dict of str -> numpy.random.Generator
    """
    children = np.random.SeedSequence(int(seed)).spawn(len(CATALOG_STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(CATALOG_STREAMS, children, strict=True)}


def train_test_ratios(config: Mapping) -> list[str]:
    """The run's ratios, first one first: ``catalog.train_test_ratio`` as a list.

    Parameters
    ----------
    config : mapping
        The validated config (a string or a list of strings at ``catalog.train_test_ratio``).

    Returns
    -------
    list of str
        One entry for a string (today's run), the list otherwise, each stripped.
    """
    value = config["catalog"]["train_test_ratio"]
    return [str(r).strip() for r in ([value] if isinstance(value, str) else value)]


def check_ratios(ratios: list[str], key: str = RATIO_KEY) -> None:
    """Each ratio well formed and none repeated (``"6:2"`` repeats ``"3:1"``).

    Raises
    ------
    PhotozConfigError
        Naming ``key`` and the bad or repeated entry.
    """
    seen: dict[tuple[int, int], str] = {}
    for ratio in ratios:
        a, b = parse_ratio(ratio, key)
        g = math.gcd(a, b)
        reduced = (a // g, b // g)
        if reduced in seen:
            raise PhotozConfigError(f"{key}: {ratio!r} repeats {seen[reduced]!r}; list each "
                                    f"train:test ratio once")
        seen[reduced] = ratio


def ratio_tag(ratio: str) -> str:
    """The ratio in file names: ``"1:3"`` -> ``"1-3"`` (products under ``r1-3/``)."""
    a, b = parse_ratio(ratio)
    return f"{a}-{b}"


def ratio_labels(n: int, seed: int, ratio: str, test_size: int,
                 validation_fraction: float) -> np.ndarray:
    """The split labels of ``ratio`` for a truth table of ``n`` galaxies drawn with ``seed``.

    The permutation is the truth table's (the ``split`` stream of :func:`catalog_streams`), so
    the labels of the run's first ratio equal its ``split`` column.

    Parameters
    ----------
    n : int
        Rows of the truth table.
    seed : int
        The run seed (``seed``).
    ratio, test_size, validation_fraction
        As :func:`split_sizes` takes them.

    Returns
    -------
    ndarray of str, shape (n,)
        ``train``, ``validation``, ``test`` or ``unused`` per truth-table row.
    """
    return assign_split(n, test_size, ratio, validation_fraction, catalog_streams(seed)["split"])


def write_ratio_photometry(photometry_path: str | os.PathLike, truth_path: str | os.PathLike,
                           out_path: str | os.PathLike, ratio: str, catalog_cfg: Mapping,
                           seed: int, min_selected: Mapping[str, int] | None = None) -> dict:
    """The photometry table with ``ratio``'s split: what that ratio's networks train on.

    Parameters
    ----------
    photometry_path : path
        ``results/photometry/photometry.parquet`` (docs/outputs.md §3), split of the first
        ratio.
    truth_path : path
        ``results/catalog/truth.parquet``; its rows fix the permutation, and its ``split`` must
        be the first ratio's labels (checked: a truth table drawn with another seed or ratio
        would mix two permutations).
    out_path : path
        ``results/photometry/r<a>-<b>/photometry.parquet``: the input's columns and rows, the
        ``split`` column replaced, ``train_test_ratio`` added to its metadata; written atomically.
    ratio : str
        This table's train:test ratio, e.g. ``"1:3"``.
    catalog_cfg : mapping
        The ``catalog`` section the truth table was made with: ``train_test_ratio`` (its first
        ratio), ``test_size``, ``validation_fraction``.
    seed : int
        The run seed.
    min_selected : mapping, optional
        Fewest selected galaxies per split (``photoz.photometry.config.TRAINING_NEEDS``).

    Returns
    -------
    dict
        Galaxies per split, all rows (``train``, ``validation``, ``test``, ``unused``) and
        selected rows (``selected_train``, ...).

    Raises
    ------
    PhotozDataError
        If a table is unreadable, the truth table's split is not the first ratio's, an object_id
        of the photometry is not in the truth table, or a split has fewer selected galaxies than
        ``min_selected`` asks (naming the ratio and the counts).
    """
    truth = read_truth(truth_path, ["object_id", "split"])
    first = train_test_ratios({"catalog": catalog_cfg})[0]
    args = (int(catalog_cfg["test_size"]), float(catalog_cfg["validation_fraction"]))
    if not np.array_equal(ratio_labels(len(truth), seed, first, *args),
                          truth["split"].astype(str).to_numpy()):
        raise PhotozDataError(
            f"truth table {truth_path}: its split is not the one {RATIO_KEY} {first!r} and seed "
            f"{seed} draw; rerun prepare_catalog with this config"
        )
    labels = pd.Series(ratio_labels(len(truth), seed, ratio, *args),
                       index=truth["object_id"].to_numpy())
    what = "photometry table"
    df = read_parquet(photometry_path, None, what)  # page checksums verified
    meta = parquet_metadata(photometry_path, what)
    missing = ~df["object_id"].isin(labels.index).to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise PhotozDataError(f"photometry table {photometry_path}: object_id "
                              f"{df['object_id'].iloc[i]} (row {i}) is not in {truth_path}")
    df["split"] = labels.loc[df["object_id"].to_numpy()].to_numpy()
    selected = df["selected"].astype(bool).to_numpy()
    counts = {k: int(np.sum(df["split"] == k)) for k in ("train", "validation", "test", "unused")}
    counts.update({f"selected_{k}": int(np.sum(selected & (df["split"] == k).to_numpy()))
                   for k in ("train", "validation", "test")})
    short = {k: n for k, n in (min_selected or {}).items() if counts[f"selected_{k}"] < n}
    if short:
        have = ", ".join(f"{k} {counts[f'selected_{k}']} (needs {n})"
                         for k, n in (min_selected or {}).items())
        raise PhotozDataError(
            f"{RATIO_KEY} {ratio!r}: too few selected galaxies per split for training: {have}; "
            f"use a less extreme ratio or more galaxies (catalog.n_galaxies)"
        )
    metadata = {k.decode(): metadata_json(photometry_path, what, k.decode())
                for k in meta if k != b"pandas"}
    metadata["train_test_ratio"] = {"ratio": ratio, "first_ratio": first, "counts": counts}
    write_photometry(df, out_path, metadata)
    log.info("%s %s: %s", RATIO_KEY, ratio, counts)
    return counts

