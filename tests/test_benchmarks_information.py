"""The information benchmark finds information where it is, and none where it is not."""

import numpy as np
import pandas as pd

from photoz.benchmarks.information import run
from photoz.benchmarks.toydata import truth_table, write_toy_inputs, write_truth_table
from photoz.config import default_config
from photoz.instrument import load_instrument


def test_true_morphology_row_finds_a_redshift_coded_shape(tmp_path):
    """A truth table whose half-light radius is the redshift itself is a perfect predictor: the
    ``matched+true_morphology`` row must beat the fluxes alone by far; a radius of pure noise
    (the Sersic index) must not help it."""
    inst = load_instrument(default_config()["instrument"])
    phot, _ = write_toy_inputs(tmp_path / "photometry", 1000, inst, seed=3, stamp_size=8, n_shards=1)
    df = pd.read_parquet(phot)  # every row: the truth table covers the catalogue
    rng = np.random.default_rng(0)
    truth = truth_table(df["object_id"], redshift=df["redshift"], split=df["split"],
                        half_light_radius=df["redshift"].to_numpy(),
                        sersic_n=rng.uniform(0.5, 4.0, len(df)), axis_ratio=0.7)
    (tmp_path / "catalog").mkdir()
    write_truth_table(tmp_path / "catalog" / "truth.parquet", truth)
    res = run(tmp_path, inst, seeds=(1,))
    s = res["summary"]
    assert s["matched"]["sigma_nmad_mean"] > 0.01  # the toy's noisy fluxes
    assert s["matched+true_morphology"]["ratio_to_matched"] < 0.4
    assert res["rows"][0]["n_test"] == int(((df["split"] == "test") & df["selected"]).sum())
