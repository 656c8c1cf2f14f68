"""photoz.train.predict on a new catalogue: a photometry table without the truth columns."""

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
