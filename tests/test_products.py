"""photoz.products and photoz.io.atomic_path: the data contract, written and read in one place."""

import numpy as np
import pandas as pd
import pytest

from photoz import BANDS
from photoz.benchmarks.toydata import (
    truth_table,
    write_stamps,
    write_toy_predictions,
    write_truth_table,
)
from photoz.errors import PhotozDataError
from photoz.io import atomic_path
from photoz.products.catalog import TRUTH_COLUMNS, read_truth
from photoz.products.simulate import (
    COMPRESSIONS,
    crop_shard,
    read_shard_ids,
    read_shard_rows,
    shard_chunks,
    write_shard,
)
from photoz.products.train import (
    HISTORY_COLUMNS,
    PREDICTION_COLUMNS,
    read_history,
    read_predictions,
    write_history,
    write_predictions,
)


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
        write_predictions(frame, path)  # z_pred and z_true swapped
    assert not path.exists()
    write_predictions(frame[list(PREDICTION_COLUMNS)], path)
    assert list(read_predictions(path).columns) == list(PREDICTION_COLUMNS)


def test_truth_table_reader_names_file_column_and_row(tmp_path):
    table = truth_table([10, 11, 12], redshift=[0.2, 0.4, 0.6], split=["train", "test", "train"])
    assert list(table.columns) == list(TRUTH_COLUMNS)
    path = write_truth_table(tmp_path / "truth.parquet", table)
    back = read_truth(path)
    pd.testing.assert_frame_equal(back, table)
    assert list(read_truth(path, ["object_id", "split"]).columns) == ["object_id", "split"]
    bad = table.copy()
    bad.loc[2, "object_id"] = 10
    bad.to_parquet(tmp_path / "dup.parquet")  # past the writer on purpose: a damaged file
    with pytest.raises(PhotozDataError, match=r"dup\.parquet: column 'object_id' row 2 .*duplicate"):
        read_truth(tmp_path / "dup.parquet", ["object_id"])
    bad = table.copy()
    bad.loc[1, "split"] = "training"
    bad.to_parquet(tmp_path / "split.parquet")
    with pytest.raises(PhotozDataError, match=r"'split' row 1 is 'training'"):
        read_truth(tmp_path / "split.parquet", ["object_id", "split"])
    with pytest.raises(PhotozDataError, match=r"missing column\(s\) \['redshift'\]"):
        table.drop(columns="redshift").to_parquet(tmp_path / "noz.parquet")
        read_truth(tmp_path / "noz.parquet", ["object_id", "redshift"])


def test_shard_reader_checks_the_layout_once(tmp_path):
    images = np.arange(2 * 7 * 4 * 4, dtype=np.float32).reshape(2, 7, 4, 4)
    path = write_stamps(tmp_path / "shard_0.h5", images, [5, 3], np.ones(7))
    ids, rows, got, sigma, scale = read_shard_rows(path, [3, 99])
    assert ids.tolist() == [3] and rows.tolist() == [1] and scale == pytest.approx(0.074)
    np.testing.assert_array_equal(got[0], images[1])
    assert sigma.shape == (1, 7)
    chunks = list(shard_chunks(path, chunk_bytes=7 * 4 * 4 * 4))  # one galaxy a chunk
    assert [c[0] for c in chunks] == [0, 1] and chunks[1][2].tolist() == [3]
    import h5py

    with h5py.File(path, "a") as f:
        f.attrs["bands"] = list(BANDS[::-1])
    with pytest.raises(PhotozDataError, match=r"shard_0\.h5: attribute bands"):
        read_shard_ids(path)


def test_predictions_and_history_round_trip(tmp_path):
    path = write_toy_predictions(tmp_path / "p.parquet", [0.5, 1.0, np.nan], [0.4, 1.1, 0.3],
                                 ["test", "test", "train"])
    with pytest.raises(PhotozDataError, match=r"p\.parquet: column z_true is not a finite "
                                              r"number in row 2"):
        read_predictions(path)
    rows = [[1, 0.3, 0.35, 0.6, 0.55, 1e-3], [2, 0.2, 0.3, 0.7, 0.6, 1e-3]]
    write_history(rows, tmp_path / "h.csv")
    hist = read_history(tmp_path / "h.csv")
    assert list(hist.columns) == list(HISTORY_COLUMNS) and hist["epoch"].tolist() == [1, 2]


def _noisy_stamps(n: int, size: int = 16, seed: int = 0) -> np.ndarray:
    """Float32 stamps like the simulation's: an exponential profile plus N(0, 10 e-) noise."""
    rng = np.random.default_rng(seed)
    r = np.hypot(*np.meshgrid(np.arange(size) - size / 2, np.arange(size) - size / 2))
    profile = 500.0 * np.exp(-r / 2.0)
    return (profile + rng.normal(0.0, 10.0, (n, len(BANDS), size, size))).astype(np.float32)


def _write(path, images, compression):
    attrs = {"bands": list(BANDS), "pixel_scale": 0.074, "seed": 1, "psf": "none",
             "stamp_size": images.shape[-1]}
    ids = np.arange(10, 10 + len(images))
    with write_shard(path, ids, images.shape[2:], attrs,
                              compression=compression) as (im, sg):
        im[...] = images
        sg[...] = np.full((len(images), len(BANDS)), 10.0, np.float32)
    return path


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS))
def test_every_shard_compression_reads_back_bit_identical(tmp_path, compression):
    images = _noisy_stamps(6)
    images[0, 0, 0, :4] = [-0.0, np.float32(1e-42), np.float32(3e38), -7.5]  # sign, subnormal, huge
    path = _write(tmp_path / "shard_0.h5", images, compression)
    ids, rows, got, _, _ = read_shard_rows(path, [11, 10, 15])
    assert rows.tolist() == [0, 1, 5]
    np.testing.assert_array_equal(got.view(np.uint32), images[[0, 1, 5]].view(np.uint32))
    blocks = [c[1] for c in shard_chunks(path, chunk_bytes=2 * images[0].nbytes)]
    np.testing.assert_array_equal(np.concatenate(blocks).view(np.uint32), images.view(np.uint32))
    import h5py

    with h5py.File(path, "r") as f:
        d = f["images"]
        assert d.chunks == (6, 7, 16, 16)  # 8 galaxies a chunk, at most the shard
        if compression == "none":
            assert d.compression is None
            return
        assert d.compression == compression and d.shuffle
        ratio = images.nbytes / d.id.get_storage_size()
    # N(0, 10) noise in float32 carries ~26 random bits of 32 (entropy of the Gaussian at the
    # float32 spacing |x| 2^-23), so a lossless coder gains at most ~32/26 = 1.23 on the noise;
    # the profile adds a little. Measured: gzip 1.23, lzf 1.09.
    assert {"gzip": 1.15, "lzf": 1.03}[compression] < ratio < 1.35


def test_unknown_shard_compression_is_a_config_error(tmp_path):
    from photoz.errors import PhotozConfigError

    with pytest.raises(PhotozConfigError, match=r"simulate.compression: 'zstd'"):
        _write(tmp_path / "shard_0.h5", _noisy_stamps(1), "zstd")
    assert not list(tmp_path.iterdir())


def test_corrupt_or_undecodable_compressed_shard_names_the_file(tmp_path):
    import h5py

    path = _write(tmp_path / "shard_0.h5", _noisy_stamps(10), "gzip")
    with h5py.File(path, "r") as f:
        info = f["images"].id.get_chunk_info(1)  # the deflate stream of galaxies 8-9
    raw = bytearray(path.read_bytes())
    raw[info.byte_offset + 8: info.byte_offset + 200] = bytes(192)
    bad = tmp_path / "bad_0.h5"
    bad.write_bytes(bytes(raw))
    assert read_shard_rows(bad, [10, 17])[2].shape == (2, 7, 16, 16)  # chunk 0 reads
    with pytest.raises(PhotozDataError, match=r"bad_0\.h5: cannot read rows 0-8 \(corrupt"):
        read_shard_rows(bad, [10, 18])
    with pytest.raises(PhotozDataError, match=r"bad_0\.h5: cannot read rows 0-9"):
        list(shard_chunks(bad))
    # A filter this h5py lacks (id 32004, LZ4 of the hdf5plugin package), made mandatory: the
    # file's version-1 filter message is id (2 bytes), name length, flags, n values, "deflate".
    raw = bytearray(path.read_bytes())
    at = raw.find(b"\x01\x00\x08\x00\x01\x00\x01\x00deflate")
    assert at > 0
    raw[at:at + 2] = (32004).to_bytes(2, "little")
    raw[at + 4:at + 6] = bytes(2)
    alien = tmp_path / "alien_0.h5"
    alien.write_bytes(bytes(raw))
    with pytest.raises(PhotozDataError, match=r"alien_0\.h5: dataset 'images' is compressed "
                                              r"with HDF5 filter 32004"):
        read_shard_ids(alien)


def test_cropped_shard_gives_the_networks_the_same_stamps(tmp_path):
    from photoz.train.inputs import load_stamps

    images = _noisy_stamps(5, size=20)
    path = _write(tmp_path / "shard_0.h5", images, "none")
    n = crop_shard(path, tmp_path / "crop_0.h5", [13, 10, 11, 99], 8, "gzip")
    assert n == 3
    sigma = np.full(7, 10.0)
    want = np.array([13, 11, 10])
    full = load_stamps([path], want, 8, sigma, np.random.default_rng(0))
    crop = load_stamps([tmp_path / "crop_0.h5"], want, 8, sigma, np.random.default_rng(1))
    np.testing.assert_array_equal(crop.view(np.uint32), full.view(np.uint32))
    # By hand: the centre 8 of 20 starts at (20 - 8) // 2 = 6.
    np.testing.assert_array_equal(crop[0], images[3, :, 6:14, 6:14])
    assert read_shard_ids(tmp_path / "crop_0.h5").tolist() == [10, 11, 13]
    with pytest.raises(PhotozDataError, match=r"shard_0\.h5: cannot crop 20x20 stamps to 24x24"):
        crop_shard(path, tmp_path / "big.h5", [10], 24)


# --------------------------------------------------------------------------------------------
# Integrity (issue 30): every product verifiable on read
# --------------------------------------------------------------------------------------------
def _zeroed(src, dst, offset: int, n: int, keep_mtime: bool = False):
    """A copy of ``src`` at ``dst`` with ``n`` bytes from ``offset`` set to 0 (as bit rot or a
    bad disk block leaves them), optionally with the original's modification time."""
    import os

    raw = bytearray(src.read_bytes())
    raw[offset:offset + n] = bytes(n)
    dst.write_bytes(bytes(raw))
    if keep_mtime:
        st = os.stat(src)
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    return dst


def _footer_start(path) -> int:
    """Offset of a parquet file's footer (its data pages end there)."""
    raw = path.read_bytes()
    return len(raw) - 8 - int.from_bytes(raw[-8:-4], "little")


def _toy_products(tmp_path):
    from photoz.benchmarks.toydata import write_toy_inputs
    from photoz.instrument import load_instrument

    phot, shards = write_toy_inputs(tmp_path / "in", 60, load_instrument({}), seed=3,
                                    stamp_size=16, n_shards=1)
    truth = write_truth_table(tmp_path / "truth.parquet",
                              truth_table(np.arange(40), redshift=np.linspace(0.1, 2.0, 40)))
    return truth, phot, shards[0]


@pytest.mark.parametrize("keep_mtime", [False, True])
def test_64_zeroed_bytes_anywhere_in_a_parquet_product_are_found(tmp_path, keep_mtime):
    """The issue's case: 64 zeroed bytes inside the truth or photometry table. Inside the data
    pages the product's own reader refuses the file (page CRC-32), naming it and how to remake
    it; anywhere in the file (footer and metadata included) ``photoz verify`` does."""
    from photoz.products.photometry import read_photometry
    from photoz.products.verify import verify_file

    truth, phot, _ = _toy_products(tmp_path)
    for src, reader in ((truth, read_truth), (phot, read_photometry)):
        verify_file(src)
        size, footer = src.stat().st_size, _footer_start(src)
        for offset in range(4, size - 64, 48):
            bad = _zeroed(src, tmp_path / f"zeroed_{src.name}", offset, 64, keep_mtime)
            if bad.read_bytes() == src.read_bytes():
                continue  # the 64 bytes were zeros already
            with pytest.raises(PhotozDataError, match=rf"zeroed_{src.stem}\.parquet"):
                verify_file(bad)
            if offset + 64 <= footer:
                with pytest.raises(PhotozDataError, match=r"corrupt .*remake it: delete"):
                    reader(bad)


def test_zeroed_4_kib_in_a_stamp_shard_are_found(tmp_path):
    """4 KiB zeroed in a shard: in a chunk of stamps the readers refuse it (fletcher32), in the
    HDF5 metadata the file does not open or its layout breaks; verify finds both."""
    import h5py

    from photoz.products.verify import verify_file

    _, _, shard = _toy_products(tmp_path)
    verify_file(shard)
    with h5py.File(shard) as f:
        ids = f["object_id"][()]
        first_chunk = f["images"].id.get_chunk_info(0).byte_offset
    size = shard.stat().st_size
    offsets = [0, 1024, 2048, 3072, first_chunk, first_chunk + 5000, size // 2, size - 4096]
    for offset in offsets:
        bad = _zeroed(shard, tmp_path / "zeroed_0.h5", offset, 4096, keep_mtime=True)
        with pytest.raises(PhotozDataError, match=r"zeroed_0\.h5"):
            verify_file(bad)
        if offset >= first_chunk:
            with pytest.raises(PhotozDataError, match=r"zeroed_0\.h5.*remake it"):
                list(shard_chunks(bad))
            with pytest.raises(PhotozDataError, match=r"zeroed_0\.h5"):
                read_shard_rows(bad, ids)


def test_a_shard_attribute_changed_on_disk_is_found(tmp_path):
    """HDF5 keeps no checksum of attributes: their digest does (a zeroed pixel_scale would have
    changed Fig. 3's scale bar without a word)."""
    import h5py

    path = write_stamps(tmp_path / "shard_0.h5", _noisy_stamps(2), [1, 2], np.ones(7))
    with h5py.File(path, "a") as f:
        f.attrs["pixel_scale"] = 0.0
    with pytest.raises(PhotozDataError, match=r"shard_0\.h5 is corrupt.*attributes differ"):
        read_shard_ids(path)


def test_zeroed_bytes_in_a_pdf_file_are_found(tmp_path):
    from photoz.products.train import make_ensemble, read_ensemble, verify_ensemble, write_ensemble

    rng = np.random.default_rng(1)
    w = rng.dirichlet(np.ones(3), 50)
    ens = make_ensemble(w, rng.uniform(0, 3, (50, 3)), rng.uniform(0.1, 0.3, (50, 3)),
                        np.arange(50), rng.uniform(0, 3, 50), 1.5)
    path = tmp_path / "mlp.hdf5"
    write_ensemble(path, ens)
    assert read_ensemble(path).npdf == 50
    verify_ensemble(path)
    size = path.stat().st_size
    found = 0
    for offset in range(0, size - 64, 64):
        bad = _zeroed(path, tmp_path / "zeroed.hdf5", offset, 64)
        if bad.read_bytes() == path.read_bytes():
            continue
        with pytest.raises(PhotozDataError, match=r"zeroed\.hdf5"):
            verify_ensemble(bad)
        with pytest.raises(PhotozDataError, match=r"zeroed\.hdf5"):
            read_ensemble(bad)
        found += 1
    assert found > 20


def test_text_products_with_zeroed_bytes_are_refused(tmp_path):
    from photoz.products.photometry import read_selection, write_selection

    sel = tmp_path / "photometry" / "selection.json"
    write_selection({"n_total": 4, "n_measured": 3, "n_selected": 2, "snr_threshold": 10.0,
                     "snr_bands": ["g", "i"]}, sel)
    hist = tmp_path / "models" / "mlp_history.csv"
    write_history([[1, 0.3, 0.35, 0.6, 0.55, 1e-3], [2, 0.2, 0.3, 0.7, 0.6, 1e-3]], hist)
    for path, reader, rule in ((sel, read_selection, "measure_photometry"),
                               (hist, read_history, "train_network")):
        reader(path)
        _zeroed(path, path, 20, 8)
        with pytest.raises(PhotozDataError, match=rf"{path.name} is corrupt .*NUL byte at offset "
                                                  rf"20.*--forcerun {rule}"):
            reader(path)


def test_every_parquet_product_carries_page_checksums_and_a_resaved_table_reads(tmp_path):
    """A table re-saved with pandas (a user's) reads as before; verify says it carries none."""
    from photoz.io import PARQUET_CHECKSUM_KEY
    from photoz.products.photometry import read_photometry
    from photoz.products.verify import verify_file

    _, phot, _ = _toy_products(tmp_path)
    import pyarrow.parquet as pq

    assert PARQUET_CHECKSUM_KEY.encode() in pq.read_schema(phot).metadata
    resaved = tmp_path / "resaved.parquet"
    pd.read_parquet(phot).to_parquet(resaved)
    pd.testing.assert_frame_equal(read_photometry(resaved), read_photometry(phot))
    with pytest.raises(PhotozDataError, match=r"resaved\.parquet: carries no page checksums"):
        verify_file(resaved)


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    """A job killed inside atomic_path leaves .<name>.<random>.tmp; the next write of the same
    file removes it (and no other file)."""
    target = tmp_path / "shard_3.h5"
    stale = [tmp_path / ".shard_3.h5.k1llm3xy.tmp", tmp_path / ".shard_3.h5.abcdefgh.tmp"]
    others = [tmp_path / ".shard_31.h5.abcdefgh.tmp", tmp_path / "shard_3.h5.bak",
              tmp_path / ".shard_3.h5.toolongname.tmp"]
    for p in stale + others:
        p.write_bytes(b"half a shard")
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    assert not any(p.exists() for p in stale) and all(p.exists() for p in others)


def test_verify_lists_the_bad_products_and_exits_1(tmp_path, capsys):
    from photoz.cli import main

    results = tmp_path / "results"
    truth, phot, shard = _toy_products(tmp_path)
    for src, rel in ((truth, "catalog/truth.parquet"), (phot, "photometry/photometry.parquet"),
                     (shard, "images/shard_0.h5")):
        (results / rel).parent.mkdir(parents=True, exist_ok=True)
        (results / rel).write_bytes(src.read_bytes())
    write_history([[1, 0.3, 0.35, 0.6, 0.55, 1e-3]], results / "models" / "mlp_history.csv")
    (results / "figures").mkdir()
    (results / "figures" / "fig1.pdf").write_bytes(b"%PDF-1.4")
    assert main(["verify", str(results)]) == 0
    out = capsys.readouterr().out
    assert "4 products checked, 0 bad, 4 good; 1 files carry no checksum (not checked: .pdf x1)" in out
    bad = results / "photometry" / "photometry.parquet"
    _zeroed(bad, bad, 2000, 64, keep_mtime=True)
    (results / "images" / ".shard_0.h5.k1llm3xy.tmp").write_bytes(b"half")
    assert main(["verify", str(results)]) == 1
    out = capsys.readouterr().out
    assert f"BAD {bad}: parquet file {bad} is corrupt" in out
    assert "snakemake --forcerun measure_photometry" in out
    assert "1 bad" in out and ".shard_0.h5.k1llm3xy.tmp is a temporary file" in out


def test_verify_png_refuses_a_flipped_byte_and_a_truncated_file(tmp_path):
    """Issue 30: a figure is checked chunk by chunk (CRC-32); the file is named in the error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from photoz.errors import PhotozDataError
    from photoz.products.verify import verify_png

    good = tmp_path / "fig.png"
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    fig.savefig(good)
    plt.close(fig)
    verify_png(good)
    data = good.read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF  # inside the image data
    for name, content in (("flipped.png", bytes(flipped)), ("cut.png", data[: len(data) // 2]),
                          ("text.png", b"not a png")):
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(PhotozDataError, match=name):
            verify_png(bad)
