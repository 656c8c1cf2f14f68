"""Tests of photoz.catalog.splits: several train:test ratios from one seeded permutation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from photoz.benchmarks import toydata
from photoz.catalog import splits
from photoz.config import load_config
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.instrument import load_instrument

CAT = {"train_test_ratio": ["3:1", "1:3"], "test_size": 0, "validation_fraction": 0.1}


@pytest.mark.parametrize("ratio, message", [
    ("3-1", "not a train:test ratio"), ("3:1:1", "not a train:test ratio"),
    ("a:b", "not a train:test ratio"), ("1.5:1", "not a train:test ratio"),
    ("0:1", "both sides > 0"), ("2:0", "both sides > 0"),
])
def test_a_malformed_ratio_is_named_with_its_key(ratio, message):
    with pytest.raises(PhotozConfigError, match=rf"catalog\.train_test_ratio: '{ratio}' .*{message}"):
        splits.parse_ratio(ratio)


def test_ratios_as_a_list_and_repeats():
    assert splits.train_test_ratios({"catalog": {"train_test_ratio": "3:1"}}) == ["3:1"]
    assert splits.train_test_ratios({"catalog": {"train_test_ratio": [" 3:1", "1:3"]}}) == \
        ["3:1", "1:3"]
    assert splits.ratio_tag("1:3") == "1-3" and splits.ratio_tag("10:30") == "10-30"
    splits.check_ratios(["3:1", "1:1", "1:3"])
    with pytest.raises(PhotozConfigError, match="'6:2' repeats '3:1'"):
        splits.check_ratios(["3:1", "1:1", "6:2"])


@pytest.mark.parametrize("value, message", [
    ('"3-1"', "catalog.train_test_ratio: '3-1' does not match"),
    ('["3:1", "3-1"]', "catalog.train_test_ratio.1: '3-1' does not match"),
    ('["3:1", "0:1"]', "catalog.train_test_ratio: '0:1' needs both sides > 0"),
    ("[]", "catalog.train_test_ratio: [] should be non-empty"),
    ('["3:1", "3:1"]', "catalog.train_test_ratio: '3:1' repeats '3:1'"),
])
def test_config_check_names_the_key(tmp_path, value, message):
    path = tmp_path / "c.yaml"
    path.write_text(f"catalog:\n  train_test_ratio: {value}\n")
    with pytest.raises(PhotozConfigError, match=message.replace(".", r"\.").replace("[", r"\[")):
        load_config(path)


def test_config_accepts_a_list_of_ratios(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text('catalog:\n  train_test_ratio: ["3:1", "1:1", "1:3"]\n')
    assert splits.train_test_ratios(load_config(path)) == ["3:1", "1:1", "1:3"]
    # a list of one ratio is the one-ratio run: the workflow derives everything from this list
    path.write_text('catalog:\n  train_test_ratio: ["3:1"]\n')
    assert splits.train_test_ratios(load_config(path)) == \
        splits.train_test_ratios(load_config(None)) == ["3:1"]


def test_ensembles_with_several_ratios_are_refused(tmp_path):
    """Members are trained for the first ratio only: several ratios would mix ensembles with
    single trainings, so the config is refused, naming both keys."""
    path = tmp_path / "c.yaml"
    path.write_text('catalog:\n  train_test_ratio: ["3:1", "1:3"]\ntrain:\n  ensemble_size: 2\n')
    with pytest.raises(PhotozConfigError, match="ensemble_size.*train_test_ratio"):
        load_config(path)
    path.write_text('catalog:\n  train_test_ratio: ["3:1"]\ntrain:\n  ensemble_size: 2\n')
    assert load_config(path)["train"]["ensemble_size"] == 2


def _counts(labels):
    return {k: int(np.sum(labels == k)) for k in ("train", "validation", "test", "unused")}


def test_split_sizes_follow_each_ratio_and_nest():
    """400 galaxies, validation 10% of the training part (catalog.split_sizes, by hand):
    3:1 -> 100 test, 300 train+validation -> 30 validation, 270 train; 1:1 -> 200 test, 20
    validation, 180 train; 1:3 -> 300 test, 10 validation, 90 train."""
    labels = {r: splits.ratio_labels(400, 7, r, 0, 0.1) for r in ("3:1", "1:1", "1:3")}
    assert _counts(labels["3:1"]) == {"train": 270, "validation": 30, "test": 100, "unused": 0}
    assert _counts(labels["1:1"]) == {"train": 180, "validation": 20, "test": 200, "unused": 0}
    assert _counts(labels["1:3"]) == {"train": 90, "validation": 10, "test": 300, "unused": 0}
    test = {r: set(np.flatnonzero(v == "test")) for r, v in labels.items()}
    pool = {r: set(np.flatnonzero(v != "test")) for r, v in labels.items()}
    assert test["3:1"] < test["1:1"] < test["1:3"]  # nested test sets ("the rest tested")
    assert pool["1:3"] < pool["1:1"] < pool["3:1"]  # each training part inside the larger ones
    # a fixed test_size: one test set for every ratio; 1:3 trains on round(60/3) = 20 (2 val)
    fixed = {r: splits.ratio_labels(400, 7, r, 60, 0.1) for r in ("3:1", "1:3")}
    assert np.array_equal(fixed["3:1"] == "test", fixed["1:3"] == "test")
    assert _counts(fixed["1:3"]) == {"train": 18, "validation": 2, "test": 60, "unused": 320}
    assert _counts(fixed["3:1"]) == {"train": 162, "validation": 18, "test": 60, "unused": 160}
    # another seed, another permutation
    assert not np.array_equal(splits.ratio_labels(400, 8, "3:1", 0, 0.1), labels["3:1"])


def _toy_run(tmp_path, seed=3, n=200):
    phot, _ = toydata.write_toy_inputs(tmp_path / "toy", n, load_instrument({}), seed=1,
                                       n_shards=1, stamp_size=8)
    ids = pd.read_parquet(phot)["object_id"].to_numpy()
    truth = toydata.write_truth_table(
        tmp_path / "truth.parquet",
        toydata.truth_table(ids, split=splits.ratio_labels(n, seed, "3:1", 0, 0.1)))
    return phot, truth


def test_write_ratio_photometry_replaces_only_the_split(tmp_path):
    phot, truth = _toy_run(tmp_path)
    out = tmp_path / "r1-3" / "photometry.parquet"
    counts = splits.write_ratio_photometry(phot, truth, out, "1:3", CAT, seed=3,
                                           min_selected={"train": 2, "validation": 1, "test": 1})
    before, after = pd.read_parquet(phot), pd.read_parquet(out)
    assert list(after.columns) == list(before.columns)
    pd.testing.assert_frame_equal(after.drop(columns="split"), before.drop(columns="split"))
    # 200 galaxies at 1:3: 150 test, 50 train + validation, 5 of them validation
    assert {k: counts[k] for k in ("train", "validation", "test")} == \
        {"train": 45, "validation": 5, "test": 150}
    assert np.array_equal(after["split"].to_numpy(), splits.ratio_labels(200, 3, "1:3", 0, 0.1))
    sel = after["selected"].to_numpy()
    assert counts["selected_train"] == int(np.sum(sel & (after["split"] == "train").to_numpy()))
    meta = pq.read_schema(out).metadata
    assert b'"ratio": "1:3"' in meta[b"train_test_ratio"] and meta[b"source"] == b'"toy"'


def test_write_ratio_photometry_errors(tmp_path):
    phot, truth = _toy_run(tmp_path)
    out = tmp_path / "out.parquet"
    with pytest.raises(PhotozDataError, match="rerun prepare_catalog"):  # another seed's truth
        splits.write_ratio_photometry(phot, truth, out, "1:3", CAT, seed=4)
    with pytest.raises(PhotozDataError, match=r"'1:3'.*validation \d+ \(needs 50\)"):
        splits.write_ratio_photometry(phot, truth, out, "1:3", CAT, seed=3,
                                      min_selected={"train": 2, "validation": 50, "test": 1})
    assert not out.exists()
