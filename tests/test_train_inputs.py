"""Tests of photoz.train.inputs: inputs, crop/pad, intensity scaling, flux and D4 augmentation."""

import numpy as np
import pandas as pd
import pytest
import torch

from photoz import BANDS
from photoz.benchmarks.toydata import write_stamps, write_toy_inputs
from photoz.errors import PhotozConfigError, PhotozDataError
from photoz.instrument import load_instrument
from photoz.products.photometry import PHOTOMETRY_COLUMNS
from photoz.products.simulate import open_shard
from photoz.train.augment import D4, d4_transform, flux_realisations
from photoz.train.inputs import crop_or_pad, load_photometry, load_stamps, scale_images


@pytest.fixture(scope="module")
def instrument():
    return load_instrument({})


def test_d4_gives_eight_distinct_transforms_of_an_asymmetric_image():
    img = torch.arange(9.0).reshape(1, 3, 3)  # no symmetry at all
    outs = [d4_transform(img, k) for k in range(8)]
    assert len({tuple(o.flatten().tolist()) for o in outs}) == 8
    # By hand: k=1 is a 90-degree counter-clockwise rotation, k=4 a left-right flip.
    assert outs[1][0].tolist() == [[2, 5, 8], [1, 4, 7], [0, 3, 6]]
    assert outs[4][0].tolist() == [[2, 1, 0], [5, 4, 3], [8, 7, 6]]
    # Closed under composition: every element applied twice stays in the set.
    keys = {tuple(o.flatten().tolist()) for o in outs}
    for k in range(8):
        for j in range(8):
            assert tuple(d4_transform(outs[k], j).flatten().tolist()) in keys


def test_batched_d4_matches_per_sample_transform():
    g = torch.Generator().manual_seed(0)
    images = torch.randn(16, 7, 8, 8, generator=g)
    elements = torch.randint(8, (16,), generator=g)
    out = D4(8)(images, elements)
    for i in range(16):
        assert torch.equal(out[i], d4_transform(images[i], int(elements[i])))


def test_crop_keeps_centre_and_pad_adds_band_noise():
    rng = np.random.default_rng(0)
    big = np.arange(40 * 40, dtype=np.float32).reshape(1, 1, 40, 40).repeat(7, axis=1)
    cropped = crop_or_pad(big, 32, np.ones(7), rng)
    assert cropped.shape == (1, 7, 32, 32)
    assert cropped[0, 0, 0, 0] == 4 * 40 + 4  # rows/cols 4..35 kept
    small = np.full((200, 7, 16, 16), 1000.0, dtype=np.float32)
    sigma = np.array([10.65, 7.84, 9.93, 10.59, 10.59, 9.56, 11.53])
    padded = crop_or_pad(small, 32, sigma, rng)
    assert np.all(padded[:, :, 8:24, 8:24] == 1000.0)
    border = padded[:, :, :8, :]
    np.testing.assert_allclose(border.std(axis=(0, 2, 3)), sigma, rtol=0.03)
    assert abs(border.mean()) < 0.2


def test_scale_images_by_hand():
    img = np.zeros((1, 7, 1, 2), np.float32)
    img[0, :, 0, 1] = 20.0
    sigma = np.full(7, 10.0)
    assert scale_images(img, "none", sigma)[0, 0, 0, 1] == 20.0
    assert scale_images(img, "sigma", sigma)[0, 0, 0, 1] == pytest.approx(2.0)
    assert scale_images(img, "asinh", sigma)[0, 0, 0, 1] == pytest.approx(np.log(2 + 5**0.5))
    with pytest.raises(PhotozConfigError, match="image_scaling"):
        scale_images(img, "log", sigma)


def test_flux_realisations_scatter_and_recomputed_errors(instrument):
    flux = np.array([[200.0, 400.0, 3000.0, 5000.0, 6000.0, 5000.0, 3000.0]])
    err = np.array([[50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 110.0]])
    npix = np.array([30.0])
    feats = flux_realisations(flux, err, npix, instrument, 4000, np.random.default_rng(1))
    assert feats.shape == (4000, 1, 20) and feats.dtype == np.float32
    flim = instrument.limiting_flux()
    # Invert eq. 7 for the (positive) fluxes: F' = 10^f * F_lim.
    fprime = 10.0 ** feats[:, 0, 2:7].astype(float) * flim[2:7]
    np.testing.assert_allclose(fprime.mean(0), flux[0, 2:], rtol=0.01)
    np.testing.assert_allclose(fprime.std(0), err[0, 2:], rtol=0.05)
    # Relative errors recomputed from eq. 6 for the perturbed flux, by hand.
    bg = instrument.background_per_pixel()[2:7]
    nexp = np.asarray(instrument.n_exposures)[2:7]
    sig = np.sqrt(fprime + npix[0] * bg + 25.0 * nexp * npix[0])
    rel = 10.0 ** feats[:, 0, 15:20].astype(float)
    np.testing.assert_allclose(rel, sig / fprime, rtol=1e-4)


def _table(n=5):
    t = {"object_id": np.arange(n) + 10, "redshift": np.linspace(0.1, 1.0, n),
         "split": ["train"] * n, "npix": np.full(n, 20.0), "selected": [True] * (n - 1) + [False]}
    for b in BANDS:
        t[f"flux_{b}"] = np.full(n, 100.0)
        t[f"flux_err_{b}"] = np.full(n, 10.0)
    return pd.DataFrame(t)


def test_load_photometry_selects_and_names_bad_rows(tmp_path):
    path = tmp_path / "phot.parquet"
    _table().to_parquet(path)
    df = load_photometry(path)
    assert len(df) == 4 and list(df["object_id"]) == [10, 11, 12, 13]
    bad = _table()
    bad.loc[2, "flux_err_g"] = np.nan
    bad.to_parquet(path)
    with pytest.raises(PhotozDataError, match=r"phot.parquet.*'flux_err_g' row 2"):
        load_photometry(path)
    _table().drop(columns="npix").to_parquet(path)
    with pytest.raises(PhotozDataError, match="missing columns.*npix"):
        load_photometry(path)


def test_load_stamps_matches_object_ids_across_shards(tmp_path):
    ids = [np.array([5, 3, 9]), np.array([7, 1])]
    for i, shard_ids in enumerate(ids):
        imgs = np.zeros((len(shard_ids), 7, 32, 32), np.float32)
        imgs += shard_ids[:, None, None, None]  # pixel value = object_id
        write_stamps(tmp_path / f"shard_{i}.h5", imgs, shard_ids, np.ones(7))
    shards = [tmp_path / "shard_0.h5", tmp_path / "shard_1.h5"]
    want = np.array([1, 9, 5])
    out = load_stamps(shards, want, 32, np.ones(7), np.random.default_rng(0))
    assert out[:, 0, 0, 0].tolist() == [1, 9, 5]
    with pytest.raises(PhotozDataError, match="object_id 4"):
        load_stamps(shards, np.array([1, 4]), 32, np.ones(7), np.random.default_rng(0))


def test_padding_stamps_to_the_network_size_is_a_warning(tmp_path, caplog):
    """Issue 30: stamps smaller than train.image_size were padded with noise without a word."""
    write_stamps(tmp_path / "shard_0.h5", np.ones((2, 7, 24, 24), np.float32), [1, 2], np.ones(7))
    with caplog.at_level("WARNING"):
        load_stamps([tmp_path / "shard_0.h5"], np.array([2]), 24, np.ones(7),
                    np.random.default_rng(0))
    assert "smaller than" not in caplog.text  # the right size: no warning
    with caplog.at_level("WARNING"):
        out = load_stamps([tmp_path / "shard_0.h5"], np.array([2, 1]), 32, np.ones(7),
                          np.random.default_rng(0))
    assert out.shape == (2, 7, 32, 32)
    assert "shard_0.h5 are 24x24 pixels, smaller than train.image_size 32: padded" in caplog.text


def test_toy_inputs_follow_the_contract(tmp_path, instrument):
    phot, shards = write_toy_inputs(tmp_path, 50, instrument, seed=0, stamp_size=24)
    df = pd.read_parquet(phot)
    assert list(df.columns) == list(PHOTOMETRY_COLUMNS)
    with open_shard(shards[0]) as h5:
        assert h5["images"].shape[1:] == (7, 24, 24) and h5["noise_sigma"].shape[1] == 7


def test_unused_split_rows_are_accepted(tmp_path, instrument):
    """The catalogue labels galaxies left over by the train:test ratio 'unused' (data contract §1)."""
    phot, _ = write_toy_inputs(tmp_path, 60, instrument, seed=2, n_shards=1)
    df = pd.read_parquet(phot)
    df.loc[df.index[:3], "split"] = "unused"
    df.to_parquet(phot)
    loaded = load_photometry(phot)
    assert (loaded["split"] == "unused").sum() == (df["selected"] & (df["split"] == "unused")).sum()
