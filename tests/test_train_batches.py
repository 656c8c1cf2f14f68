"""Tests of photoz.train.batches: what one epoch visits, counted by hand."""

import numpy as np
import pytest
import torch

from photoz.train.augment import D4, d4_transform
from photoz.train.batches import FluxBatches, FluxImageBatches, FluxPooledBatches, ImageBatches


def _labelled(r, n, s):
    """Flux pool (value = galaxy + 100 x realisation), stamps (value = galaxy) and z = galaxy."""
    pool = torch.arange(n, dtype=torch.float32)[None, :, None].expand(r, n, 20) + \
        100 * torch.arange(r, dtype=torch.float32)[:, None, None]
    images = torch.arange(n, dtype=torch.float32)[:, None, None, None].expand(n, 7, s, s).clone()
    return pool, images, torch.arange(n, dtype=torch.float32)


def test_flux_batches_visit_every_realisation_galaxy_pair_once():
    r, n = 3, 10
    pool = torch.arange(r * n * 2, dtype=torch.float32).reshape(r, n, 2)
    z = torch.arange(n, dtype=torch.float32)
    prov = FluxBatches(pool, z, batch_size=7)
    assert prov.n_per_epoch == 30 and prov.n_batches == 5  # ceil(30 / 7)
    seen = []
    for (flux,), zb in prov.batches(torch.Generator().manual_seed(0)):
        for row, zz in zip(flux, zb, strict=True):
            k = int(row[0]) // 2  # flat index of (realisation, galaxy)
            assert k % n == int(zz)  # the label belongs to the galaxy
            seen.append(k)
    assert sorted(seen) == list(range(30))


def test_image_batches_passes_and_d4():
    n, s = 6, 4
    images = torch.arange(n * 7 * s * s, dtype=torch.float32).reshape(n, 7, s, s)
    z = torch.arange(n, dtype=torch.float32)
    prov = ImageBatches(images, z, batch_size=4, passes=3, augment_images=True)
    assert prov.n_per_epoch == 18 and prov.n_batches == 5
    counts = np.zeros(n, int)
    for (x,), zb in prov.batches(torch.Generator().manual_seed(1)):
        for xi, zi in zip(x, zb, strict=True):
            g = int(zi)
            counts[g] += 1
            # the stamp is one of the 8 D4 images of galaxy g's stamp
            assert any(torch.equal(xi, d4_transform(images[g], k)) for k in range(8))
    np.testing.assert_array_equal(counts, 3)  # every galaxy once per pass


@pytest.mark.parametrize("channels_last", [True, False])
def test_d4_take_equals_index_then_transform(channels_last):
    """D4.take (one index_select from channels-last pixels) gives exactly images[idx] with each
    stamp's element applied by torch.rot90/flip (d4_transform), in channels-last memory."""
    n, c, s = 9, 7, 8
    images = torch.randn(n, c, s, s, generator=torch.Generator().manual_seed(3))
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    d4 = D4(s)
    pixels = images.permute(0, 2, 3, 1).reshape(-1, c)
    idx = torch.tensor([4, 0, 8, 4, 2, 7, 1, 3])
    el = torch.arange(8)
    x = d4.take(pixels, idx, el)
    assert x.shape == (8, c, s, s) and x.is_contiguous(memory_format=torch.channels_last)
    for i in range(8):
        assert torch.equal(x[i], d4_transform(images[idx[i]], int(el[i])))
    assert torch.equal(d4.take(pixels, idx, None), images[idx])
    if channels_last:  # a view of the stored stamps: no copy of the whole set
        assert pixels.data_ptr() == images.data_ptr()


def test_hybrid_batches_pair_flux_and_stamp_of_one_galaxy():
    r, n, s = 4, 5, 4
    pool, images, z = _labelled(r, n, s)
    prov = FluxImageBatches(pool, images, z, batch_size=3, passes=20, augment_images=True)
    reals = set()
    for (f, x), zb in prov.batches(torch.Generator().manual_seed(2)):
        np.testing.assert_array_equal(f[:, 0] % 100, zb)
        np.testing.assert_array_equal(x[:, 0, 0, 0], zb)
        reals |= set((f[:, 0] // 100).int().tolist())
    assert reals == set(range(r))  # 100 draws: all 4 realisations appear


def test_pooled_batches_pick_the_element_of_the_galaxy():
    r, n = 2, 4
    pool = torch.zeros(r, n, 20)
    pooled = (torch.arange(8, dtype=torch.float32)[:, None, None] * 10
              + torch.arange(n, dtype=torch.float32)[None, :, None]).expand(8, n, 72).clone()
    z = torch.arange(n, dtype=torch.float32)
    prov = FluxPooledBatches(pool, pooled, z, batch_size=4, passes=10, augment_images=True)
    elements = set()
    for (_, p), zb in prov.batches(torch.Generator().manual_seed(3)):
        np.testing.assert_array_equal(p[:, 0] % 10, zb)
        elements |= set((p[:, 0] // 10).int().tolist())
    assert elements == set(range(8))
    prov = FluxPooledBatches(pool, pooled, z, batch_size=4, passes=2, augment_images=False)
    for (_, p), _ in prov.batches(torch.Generator().manual_seed(3)):
        assert (p[:, 0] < 10).all()  # element 0 only


def test_hybrid_batches_with_several_flux_draws_per_stamp():
    r, n, s = 50, 6, 4
    pool, images, z = _labelled(r, n, s)
    prov = FluxImageBatches(pool, images, z, batch_size=4, passes=1, augment_images=False,
                            flux_draws=3)
    for (f, x), zb in prov.batches(torch.Generator().manual_seed(4)):
        b = x.shape[0]
        assert f.shape[0] == zb.shape[0] == 3 * b
        # row j * b + i belongs to stamp i
        np.testing.assert_array_equal(f[:, 0] % 100, x[:, 0, 0, 0].repeat(3))
        np.testing.assert_array_equal(zb, x[:, 0, 0, 0].repeat(3))


def test_hybrid_forward_repeats_the_cnn_features_per_flux_draw():
    from photoz.models.build import build_model

    model = build_model("hybrid", seed=0).eval()
    g = torch.Generator().manual_seed(0)
    f = torch.randn(6, 20, generator=g)
    x = torch.randn(2, 7, 32, 32, generator=g)
    with torch.no_grad():
        many = model(f, x)
        one = torch.cat([model(f[2 * j:2 * j + 2], x) for j in range(3)])
    torch.testing.assert_close(many, one, rtol=0, atol=1e-6)


def test_a_lone_last_sample_is_left_out_of_the_epoch():
    """BatchNorm cannot normalise one sample in training: 65 samples in batches of 64 give one
    batch of 64 (the lone sample waits for the next shuffle); 66 give 64 + 2; 1 gives 1."""
    gen = torch.Generator().manual_seed(0)
    for n, sizes in ((65, [64]), (66, [64, 2]), (64, [64]), (1, [1])):
        prov = FluxBatches(torch.randn(1, n, 20), torch.rand(n), batch_size=64)
        got = [z.shape[0] for _, z in prov.batches(gen)]
        assert got == sizes and prov.n_batches == len(sizes), (n, got)
