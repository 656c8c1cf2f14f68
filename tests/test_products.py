"""photoz.products and photoz.io.atomic_path: the data contract, written and read in one place."""

import numpy as np
import pandas as pd
import pytest

from photoz import BANDS, products
from photoz.errors import PhotozDataError
from photoz.io import atomic_path
from photoz.toydata import truth_table, write_stamps, write_toy_predictions, write_truth_table


def test_atomic_path_keeps_the_old_file_and_leaves_no_partial_one_when_the_write_fails(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(path) as tmp:
            tmp.write_text("half a fi")
            raise RuntimeError("disk full")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    fresh = tmp_path / "sub" / "new.parquet"  # no old file: none appears
    with pytest.raises(ValueError):
        with atomic_path(fresh) as tmp:
            tmp.write_bytes(b"PAR1")
            raise ValueError("bad table")
    assert list(fresh.parent.iterdir()) == []
    with atomic_path(path) as tmp:  # and a write that succeeds replaces it
        tmp.write_text("new")
    assert path.read_text() == "new"


def test_a_writer_refuses_a_table_that_breaks_the_contract_before_writing(tmp_path):
    frame = pd.DataFrame({"object_id": [1], "z_pred": [0.5], "z_true": [0.4], "split": ["test"]})
    path = tmp_path / "p.parquet"
    with pytest.raises(PhotozDataError, match=r"p\.parquet: columns differ"):
        products.write_predictions(frame, path)  # z_pred and z_true swapped
    assert not path.exists()
    products.write_predictions(frame[list(products.PREDICTION_COLUMNS)], path)
    assert list(products.read_predictions(path).columns) == list(products.PREDICTION_COLUMNS)


def test_truth_table_reader_names_file_column_and_row(tmp_path):
    table = truth_table([10, 11, 12], redshift=[0.2, 0.4, 0.6], split=["train", "test", "train"])
    assert list(table.columns) == list(products.TRUTH_COLUMNS)
    path = write_truth_table(tmp_path / "truth.parquet", table)
    back = products.read_truth(path)
    pd.testing.assert_frame_equal(back, table)
    assert list(products.read_truth(path, ["object_id", "split"]).columns) == ["object_id", "split"]
    bad = table.copy()
    bad.loc[2, "object_id"] = 10
    bad.to_parquet(tmp_path / "dup.parquet")  # past the writer on purpose: a damaged file
    with pytest.raises(PhotozDataError, match=r"dup\.parquet: column 'object_id' row 2 .*duplicate"):
        products.read_truth(tmp_path / "dup.parquet", ["object_id"])
    bad = table.copy()
    bad.loc[1, "split"] = "training"
    bad.to_parquet(tmp_path / "split.parquet")
    with pytest.raises(PhotozDataError, match=r"'split' row 1 is 'training'"):
        products.read_truth(tmp_path / "split.parquet", ["object_id", "split"])
    with pytest.raises(PhotozDataError, match=r"missing column\(s\) \['redshift'\]"):
        table.drop(columns="redshift").to_parquet(tmp_path / "noz.parquet")
        products.read_truth(tmp_path / "noz.parquet", ["object_id", "redshift"])


def test_shard_reader_checks_the_layout_once(tmp_path):
    images = np.arange(2 * 7 * 4 * 4, dtype=np.float32).reshape(2, 7, 4, 4)
    path = write_stamps(tmp_path / "shard_0.h5", images, [5, 3], np.ones(7))
    ids, rows, got, sigma, scale = products.read_shard_rows(path, [3, 99])
    assert ids.tolist() == [3] and rows.tolist() == [1] and scale == pytest.approx(0.074)
    np.testing.assert_array_equal(got[0], images[1])
    assert sigma.shape == (1, 7)
    chunks = list(products.shard_chunks(path, chunk_bytes=7 * 4 * 4 * 4))  # one galaxy a chunk
    assert [c[0] for c in chunks] == [0, 1] and chunks[1][2].tolist() == [3]
    import h5py

    with h5py.File(path, "a") as f:
        f.attrs["bands"] = list(BANDS[::-1])
    with pytest.raises(PhotozDataError, match=r"shard_0\.h5: attribute bands"):
        products.read_shard_ids(path)


def test_predictions_and_history_round_trip(tmp_path):
    path = write_toy_predictions(tmp_path / "p.parquet", [0.5, 1.0, np.nan], [0.4, 1.1, 0.3],
                                 ["test", "test", "train"])
    with pytest.raises(PhotozDataError, match=r"p\.parquet: column z_true is not a finite "
                                              r"number in row 2"):
        products.read_predictions(path)
    rows = [[1, 0.3, 0.35, 0.6, 0.55, 1e-3, 2.0], [2, 0.2, 0.3, 0.7, 0.6, 1e-3, 2.1]]
    products.write_history(rows, tmp_path / "h.csv")
    hist = products.read_history(tmp_path / "h.csv")
    assert list(hist.columns) == list(products.HISTORY_COLUMNS) and hist["epoch"].tolist() == [1, 2]
