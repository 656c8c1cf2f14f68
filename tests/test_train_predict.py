"""photoz.train.predict on a new catalogue: a photometry table without the truth columns."""

import re

import numpy as np
import pandas as pd
import pytest

from photoz.benchmarks.toydata import write_toy_inputs
from photoz.config import default_config
from photoz.errors import PhotozDataError
from photoz.instrument import load_instrument
from photoz.products.photometry import write_photometry
from photoz.products.train import NETWORK_PREDICTION_COLUMNS, read_predictions
from photoz.train.network import train_network
from photoz.train.predict import predict


def test_prediction_on_a_table_without_truth_columns(tmp_path):
    """A catalogue to predict has no redshift or split: z_true is NaN, split empty, and the
    photo-z are those of the same galaxies with the truth columns present."""
    instrument = load_instrument({})
    phot, shards = write_toy_inputs(tmp_path / "in", 200, instrument, seed=5, n_shards=1)
    cfg = default_config({"train": {"device": "cpu", "batch_size": {"mlp": 64},
                                    "max_epochs": {"mlp": 1}, "n_flux_realisations": 2,
                                    "augment_images": False}})["train"]
    model = tmp_path / "mlp.pt"
    train_network("mlp", phot, shards, model, tmp_path / "h.csv", tmp_path / "p.parquet", cfg,
                  instrument, seed=3, threads=1)
    with_truth = predict(model, phot, shards, None)
    table = pd.read_parquet(phot)
    new = tmp_path / "new.parquet"
    write_photometry(table, new, {})  # a full table first: the writer checks the contract ...
    table.drop(columns=["redshift", "split"]).to_parquet(new)  # ... then a catalogue without truth
    out = predict(model, new, shards, tmp_path / "new_pred.parquet")
    assert list(out.columns) == list(NETWORK_PREDICTION_COLUMNS)
    assert len(out) == int(table["selected"].sum()) > 0
    assert out["z_true"].isna().all() and (out["split"] == "").all()
    np.testing.assert_allclose(out["z_pred"], with_truth["z_pred"], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(out["object_id"], with_truth["object_id"])
    on_disk = pd.read_parquet(tmp_path / "new_pred.parquet")
    assert on_disk["z_true"].isna().all() and len(on_disk) == len(out)
    with pytest.raises(PhotozDataError, match="z_true is not a finite number in row 0"):
        read_predictions(tmp_path / "new_pred.parquet", split=None)  # not scored as a test set


# --------------------------------------------------------------------------------------------
# Issue 30: predict takes the flux type from the checkpoint and refuses a malformed table
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def matched_model(tmp_path_factory):
    """A small MLP trained on matched fluxes that differ from the Kron ones (the toy table's
    matched columns copy the Kron ones: here they are scaled per band), its table (with the
    photometry.flux_type metadata) and that table re-saved with pandas (no metadata)."""
    from photoz import BANDS
    from photoz.products.photometry import MATCHED_TEMPLATES

    tmp = tmp_path_factory.mktemp("matched")
    instrument = load_instrument({})
    phot, shards = write_toy_inputs(tmp / "in", 240, instrument, seed=11, n_shards=1)
    table = pd.read_parquet(phot)
    for j, b in enumerate(BANDS):  # the matched flux: 1.3 ... 0.7 x the Kron flux, same S/N
        for key in ("flux", "flux_err"):
            table[MATCHED_TEMPLATES[key].format(band=b)] = table[f"{key}_{b}"] * (1.3 - 0.1 * j)
    matched = tmp / "matched.parquet"
    write_photometry(table, matched, {"photometry_config": {"flux_type": "matched"}})
    cfg = default_config({"train": {"device": "cpu", "batch_size": {"mlp": 64},
                                    "max_epochs": {"mlp": 2}, "n_flux_realisations": 2}})["train"]
    model = tmp / "mlp.pt"
    train_network("mlp", matched, shards, model, tmp / "h.csv", tmp / "p.parquet", cfg,
                  instrument, seed=3, threads=1)
    resaved = tmp / "resaved.parquet"
    pd.read_parquet(matched).to_parquet(resaved)  # pandas: the photoz metadata is gone
    return model, matched, resaved, shards


def test_a_table_without_metadata_gives_the_same_redshifts(matched_model, caplog):
    """The checkpoint says which fluxes its network read: the pandas re-save (no metadata, where
    the flux type fell back to Kron: max |dz| 0.073 in the issue) gives the same photo-z."""
    import pyarrow.parquet as pq

    from photoz.products.train import load_checkpoint, save_checkpoint

    model, matched, resaved, shards = matched_model
    assert b"photometry_config" not in (pq.read_schema(resaved).metadata or {})
    assert load_checkpoint(model)["input_scaling"]["flux_type"] == "matched"
    with caplog.at_level("INFO", logger="photoz.train.predict"):
        a = predict(model, matched, shards, None)
    b = predict(model, resaved, shards, None)
    np.testing.assert_array_equal(a["z_pred"].to_numpy(), b["z_pred"].to_numpy())
    n_rows = len(pd.read_parquet(matched))
    assert f"{len(a)} of {n_rows} rows selected; {n_rows - len(a)} skipped (column selected is " \
           "false); matched fluxes (the checkpoint's)" in caplog.text
    # The test can fail: the Kron fluxes give other photo-z (an old checkpoint without the flux
    # type is read as a Kron one, with a warning).
    old = load_checkpoint(model)
    del old["input_scaling"]["flux_type"]
    save_checkpoint(model.with_name("old.pt"), old)
    with caplog.at_level("WARNING"):
        kron = predict(model.with_name("old.pt"), resaved, shards, None)
    assert "does not say which fluxes it was trained on" in caplog.text
    assert np.abs(kron["z_pred"].to_numpy() - a["z_pred"].to_numpy()).max() > 1e-3


def _malformed(table: pd.DataFrame, case: str) -> tuple[pd.DataFrame, str]:
    """``table`` broken one way, and the message's expected start after the file name."""
    sel = np.flatnonzero(table["selected"].to_numpy())
    row = int(sel[3])
    t = table.copy()
    flux, err = "flux_matched_g_csst", "flux_err_matched_i_csst"
    if case == "nan flux":
        t.loc[row, flux] = np.nan
        return t, rf"column '{flux}' row {row} is nan; must be finite"
    if case == "zero error":
        t.loc[row, err] = 0.0
        return t, rf"column '{err}' row {row} is 0.0; must be finite and positive"
    if case == "negative error":
        t.loc[row, err] = -3.0
        return t, rf"column '{err}' row {row} is -3.0; must be finite and positive"
    if case == "inf error":
        t.loc[row, err] = np.inf
        return t, rf"column '{err}' row {row} is inf"
    if case == "flux 1e300":
        t.loc[row, flux] = 1e300
        return t, rf"column '{flux}' row {row} is 1e\+300; \|flux\| must be <="
    if case == "error 1e300":
        t.loc[row, err] = 1e300
        return t, rf"column '{err}' row {row} is 1e\+300; the error must be in"
    if case == "error 1e-300":
        t.loc[row, err] = 1e-300
        return t, rf"column '{err}' row {row} is 1e-300; the error must be in"
    if case == "missing flux":
        return t.drop(columns=[flux]), rf"missing columns \['{flux}'\]"
    if case == "missing error":
        return t.drop(columns=[err]), rf"missing columns \['{err}'\]"
    if case == "missing npix":
        return t.drop(columns=["npix_matched"]), r"missing columns \['npix_matched'\]"
    if case == "text flux":
        t[flux] = t[flux].astype(str)
        t.loc[row, flux] = "bright"
        return t, rf"column '{flux}' row {row} is 'bright'; must be finite"
    if case == "text redshift":
        t["redshift"] = t["redshift"].astype(str)  # numbers as text read, one word does not
        t.loc[row, "redshift"] = "z?"
        return t, rf"column 'redshift' row {row} is 'z\?'; must be a number"
    if case == "float ids":
        t["object_id"] = t["object_id"].astype(float)
        return t, r"column 'object_id' must be integer, is float64"
    if case == "repeated id":
        t.loc[row, "object_id"] = t.loc[int(sel[0]), "object_id"]
        return t, rf"column 'object_id' row {row} is .*repeats an id"
    raise AssertionError(case)


MALFORMED = ["nan flux", "zero error", "negative error", "inf error", "flux 1e300", "error 1e300",
             "error 1e-300", "missing flux", "missing error", "missing npix", "text flux",
             "text redshift", "float ids", "repeated id"]


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_table_is_a_one_line_error_naming_column_and_row(matched_model, tmp_path,
                                                                     case, capsys):
    from photoz.cli import main

    model, _, resaved, _ = matched_model
    table, message = _malformed(pd.read_parquet(resaved), case)
    bad = tmp_path / "bad.parquet"
    table.to_parquet(bad)
    out = tmp_path / "out.parquet"
    assert main(["predict", "--model", str(model), "--photometry", str(bad), "--out",
                 str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: photometry table {bad}: "), err
    assert re.search(message, err), err
    assert not out.exists()


def test_missing_or_damaged_inputs_are_one_line_errors(matched_model, tmp_path, capsys):
    from photoz.cli import main

    model, _, resaved, _ = matched_model
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"PAR1 not a table PAR1")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(model.read_bytes()[:1000])
    (tmp_path / "a_file").write_text("not a directory")
    out = str(tmp_path / "p.parquet")
    cases = [
        ((tmp_path / "none.pt", resaved, out), "none.pt"),
        ((broken, resaved, out), "broken.pt"),
        ((model, tmp_path / "none.parquet", out), "none.parquet: no such file"),
        ((model, junk, out), "junk.parquet is corrupt"),
        ((model, resaved, tmp_path / "a_file" / "p.parquet"), "a_file"),  # cannot be written
    ]
    for (model_path, table, dest), where in cases:
        assert main(["predict", "--model", str(model_path), "--photometry", str(table),
                     "--out", str(dest)]) == 1, where
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and where in err, err


def test_a_table_with_nothing_selected_gives_an_empty_prediction(matched_model, tmp_path,
                                                                 caplog):
    model, _, resaved, shards = matched_model
    table = pd.read_parquet(resaved)
    table["selected"] = False
    table.to_parquet(tmp_path / "none.parquet")
    with caplog.at_level("INFO"):
        out = predict(model, tmp_path / "none.parquet", shards, tmp_path / "p.parquet")
    assert len(out) == 0 and "0 of 240 rows selected; 240 skipped" in caplog.text
