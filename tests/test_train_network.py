"""Tests of photoz.train.network and photoz.train.predict on small contract-conforming toy inputs."""

import numpy as np
import pandas as pd
import pytest
import torch

from photoz.benchmarks.toydata import write_toy_inputs
from photoz.config import default_config
from photoz.errors import PhotozConfigError
from photoz.instrument import load_instrument
from photoz.products.train import HISTORY_COLUMNS, NETWORK_PREDICTION_COLUMNS, load_checkpoint
from photoz.train.loop import PlateauSchedule
from photoz.train.network import train_network
from photoz.train.predict import predict

NETS = ("mlp", "cnn", "hybrid", "hybrid_transfer")


def small_cfg(epochs=2, **over):
    """The schema-filled ``train`` section (photoz.config.default_config) for a quick run."""
    cfg = {
        "device": "cpu",
        "batch_size": {n: 64 for n in NETS},
        "max_epochs": {n: epochs for n in NETS},
        "learning_rate": 1.0e-4, "lr_factor": 0.1, "lr_patience": 5,
        "early_stopping_patience": 10, "n_flux_realisations": 5, "augment_fluxes": True,
        "augment_images": True, "image_size": 32, "image_scaling": "asinh",
    }
    cfg.update(over)
    return default_config({"train": cfg})["train"]


@pytest.fixture(scope="module")
def instrument():
    return load_instrument({})


@pytest.fixture(scope="module")
def toy(tmp_path_factory, instrument):
    d = tmp_path_factory.mktemp("toy")
    phot, shards = write_toy_inputs(d / "in", 400, instrument, seed=11, stamp_size=40)
    return d, phot, shards


@pytest.fixture(scope="module")
def trained(toy, instrument):
    """All four networks trained for 2 epochs, in the workflow's order."""
    d, phot, shards = toy
    out = d / "results"
    summaries = {}
    for net in NETS:
        pre = ({"mlp": out / "models/mlp.pt", "cnn": out / "models/cnn.pt"}
               if net == "hybrid_transfer" else None)
        summaries[net] = train_network(
            net, phot, shards, out / f"models/{net}.pt", out / f"models/{net}_history.csv",
            out / f"predictions/{net}.parquet", small_cfg(), instrument, seed=7, threads=1,
            pretrained=pre)
    return out, summaries


def test_outputs_follow_the_contract(trained, toy):
    out, summaries = trained
    _, phot, _ = toy
    selected = pd.read_parquet(phot).query("selected")
    for net in NETS:
        hist = pd.read_csv(out / f"models/{net}_history.csv")
        assert list(hist.columns) == list(HISTORY_COLUMNS)
        assert len(hist) == summaries[net]["epochs_run"] == 2
        assert hist["learning_rate"].iloc[0] == pytest.approx(1e-4)
        assert hist[["train_accuracy", "val_accuracy"]].stack().between(0, 1).all()
        pred = pd.read_parquet(out / f"predictions/{net}.parquet")
        assert list(pred.columns) == list(NETWORK_PREDICTION_COLUMNS)
        assert sorted(pred["object_id"]) == sorted(selected["object_id"])
        merged = pred.merge(selected, on="object_id")
        np.testing.assert_allclose(merged["z_true"], merged["redshift"])
        assert (merged["split_x"] == merged["split_y"]).all()
        assert np.isfinite(pred["z_pred"]).all()
        ckpt = load_checkpoint(out / f"models/{net}.pt")
        assert ckpt["net"] == net and ckpt["input_scaling"]["image_scaling"] == "asinh"
        assert summaries[net]["samples_per_second"] > 0


def test_validation_accuracy_in_history_is_recomputable(trained, toy):
    """The best epoch's validation accuracy equals the one from the written predictions."""
    out, summaries = trained
    pred = pd.read_parquet(out / "predictions/cnn.parquet").query("split == 'validation'")
    acc = np.mean(np.abs(pred.z_pred - pred.z_true) / (1 + pred.z_true) < 0.15)
    assert acc == pytest.approx(summaries["cnn"]["best_val_accuracy"], abs=1e-9)
    mae = np.mean(np.abs(pred.z_pred - pred.z_true))
    assert mae == pytest.approx(summaries["cnn"]["best_val_loss"], rel=1e-5)


def test_transfer_keeps_pretrained_frozen_layers(trained):
    out, _ = trained
    mlp = load_checkpoint(out / "models/mlp.pt")["state_dict"]
    cnn = load_checkpoint(out / "models/cnn.pt")["state_dict"]
    tr = load_checkpoint(out / "models/hybrid_transfer.pt")["state_dict"]
    assert torch.equal(tr["mlp.hidden4.dense.weight"], mlp["features.hidden4.dense.weight"])
    assert torch.equal(tr["mlp.hidden4.batchnorm.running_mean"],
                       mlp["features.hidden4.batchnorm.running_mean"])
    assert torch.equal(tr["cnn.inception3.branch3.conv5x5.conv.weight"],
                       cnn["features.inception3.branch3.conv5x5.conv.weight"])
    assert not torch.equal(tr["mlp.hidden5.dense.weight"], mlp["features.hidden5.dense.weight"])
    assert not torch.equal(tr["cnn.dense.dense.weight"], cnn["features.dense.dense.weight"])


@pytest.mark.parametrize("net", ["mlp", "hybrid"])
def test_predict_reproduces_training_predictions(trained, toy, net, tmp_path):
    out, _ = trained
    _, phot, shards = toy
    frame = predict(out / f"models/{net}.pt", phot, shards, tmp_path / "p.parquet")
    ref = pd.read_parquet(out / f"predictions/{net}.parquet")
    np.testing.assert_allclose(frame["z_pred"], ref["z_pred"], atol=1e-6)
    assert pd.read_parquet(tmp_path / "p.parquet").shape == ref.shape


def test_same_seed_same_predictions_on_cpu(toy, instrument, tmp_path):
    _, phot, shards = toy
    preds = []
    for i, seed in enumerate((3, 3, 4)):
        train_network("cnn", phot, shards, tmp_path / f"m{i}.pt", tmp_path / f"h{i}.csv",
                      tmp_path / f"p{i}.parquet", small_cfg(epochs=1), instrument, seed=seed)
        preds.append(pd.read_parquet(tmp_path / f"p{i}.parquet")["z_pred"].to_numpy())
    np.testing.assert_allclose(preds[0], preds[1], atol=1e-6, rtol=0)
    assert np.abs(preds[0] - preds[2]).max() > 1e-4


def test_mlp_learns_the_toy_redshifts(toy, instrument, tmp_path):
    """Enough epochs on the toy colours must beat predicting the median redshift by far."""
    _, phot, shards = toy
    cfg = small_cfg(epochs=25, n_flux_realisations=20)
    cfg["batch_size"]["mlp"] = 128
    cfg["learning_rate"] = 1e-3
    s = train_network("mlp", phot, [], tmp_path / "m.pt", tmp_path / "h.csv",
                      tmp_path / "p.parquet", cfg, instrument, seed=0)
    pred = pd.read_parquet(tmp_path / "p.parquet").query("split == 'test'")
    baseline = np.mean(np.abs(pred.z_true - pred.z_true.median()))
    assert np.mean(np.abs(pred.z_pred - pred.z_true)) < 0.5 * baseline
    assert s["best_val_accuracy"] > 0.6


def test_plateau_schedule_counts_like_keras():
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    sched = PlateauSchedule(opt, 0.1, lr_patience=5, stop_patience=10)
    losses = [1.0, 0.9] + [0.95] * 20
    lrs, stop_epoch, best = [], None, []
    for epoch, loss in enumerate(losses, start=1):
        lrs.append(opt.param_groups[0]["lr"])
        improved, stop = sched.step(loss)
        best.append(improved)
        if stop:
            stop_epoch = epoch
            break
    # Best at epoch 2; epochs 3-7 are five without improvement -> lr / 10 used from epoch 8;
    # five more (8-12) -> / 100 from epoch 13; ten bad epochs (3-12) -> stop after epoch 12.
    assert stop_epoch == 12
    assert best[:2] == [True, True] and not any(best[2:])
    np.testing.assert_allclose(lrs, [1e-4] * 7 + [1e-5] * 5)


def test_config_errors(toy, instrument, tmp_path):
    _, phot, shards = toy
    args = (phot, shards, tmp_path / "m.pt", tmp_path / "h.csv", tmp_path / "p.parquet")
    bad = small_cfg()
    del bad["batch_size"]
    with pytest.raises(PhotozConfigError, match="batch_size"):
        train_network("mlp", *args, bad, instrument, seed=0)
    with pytest.raises(PhotozConfigError, match="image_scaling"):
        train_network("cnn", *args, small_cfg(image_scaling="log"), instrument, seed=0)
    with pytest.raises(PhotozConfigError, match="pretrained"):
        train_network("hybrid_transfer", *args, small_cfg(), instrument, seed=0)
    with pytest.raises(PhotozConfigError, match="train.device"):
        tpu = small_cfg()
        tpu["device"] = "tpu"  # past the schema: resolve_device names the key too
        train_network("mlp", *args, tpu, instrument, seed=0)


def test_cosine_factor_by_hand():
    from photoz.train.loop import COSINE_FLOOR, cosine_factor

    # 10 warm-up steps of 110: linear to 1, then half a cosine period over 100 steps.
    assert cosine_factor(0, 110, 10) == pytest.approx(0.1)
    assert cosine_factor(9, 110, 10) == pytest.approx(1.0)
    assert cosine_factor(10, 110, 10) == pytest.approx(1.0)
    assert cosine_factor(60, 110, 10) == pytest.approx(COSINE_FLOOR + (1 - COSINE_FLOOR) / 2)
    assert cosine_factor(35, 110, 10) == pytest.approx(
        COSINE_FLOOR + (1 - COSINE_FLOOR) * (1 + np.cos(np.pi / 4)) / 2)
    assert cosine_factor(110, 110, 10) == pytest.approx(COSINE_FLOOR)


def test_pooled_path_equals_the_full_hybrid_transfer():
    from photoz.models.build import build_model

    mlp, cnn = build_model("mlp", seed=1), build_model("cnn", seed=2)
    ht = build_model("hybrid_transfer", seed=3)
    ht.load_pretrained(mlp.state_dict(), cnn.state_dict())
    ht.eval()
    g = torch.Generator().manual_seed(0)
    f, x = torch.randn(16, 20, generator=g), torch.randn(16, 7, 32, 32, generator=g)
    with torch.no_grad():
        full = ht(f, x)
        pooled = ht.forward_pooled(f, ht.cnn.pooled(x))
    torch.testing.assert_close(pooled, full, rtol=0, atol=1e-6)
    ht.train()  # the frozen part stays in inference mode: pooled features do not depend on the batch
    with torch.no_grad():
        torch.testing.assert_close(ht.cnn.pooled(x[:4]), ht.cnn.pooled(x)[:4], rtol=0, atol=1e-6)


def test_tta_prediction_is_d4_invariant():
    from photoz.models.build import build_model
    from photoz.train.augment import d4_transform
    from photoz.train.inference import predict_tensors

    model = build_model("cnn", seed=5)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(10, 7, 32, 32, generator=g)
    f = torch.zeros(10, 20)
    dev = torch.device("cpu")
    ref = predict_tensors(model, f, x, dev, tta=True)
    plain = predict_tensors(model, f, x, dev, tta=False)
    for k in (1, 5):
        xk = d4_transform(x, k)
        np.testing.assert_allclose(predict_tensors(model, f, xk, dev, tta=True), ref, atol=1e-5)
    # without averaging an untrained CNN is not D4-invariant, so the test can fail
    assert np.abs(predict_tensors(model, f, d4_transform(x, 1), dev) - plain).max() > 1e-4


def test_recipe_options_train_and_follow_the_schedule(toy, instrument, tmp_path):
    """Cosine schedule, warm-up, passes, weight average, TTA and bf16 autocast together."""
    from photoz.train.loop import COSINE_FLOOR, cosine_factor

    _, phot, shards = toy
    cfg = small_cfg(epochs=3, passes_per_epoch={"cnn": 2}, lr_schedule={"cnn": "cosine"},
                    warmup_epochs=1, weight_decay={"cnn": 1e-4}, ema_decay={"cnn": 0.9}, tta=True,
                    precision="bf16", early_stopping_patience=0)
    s = train_network("cnn", phot, shards, tmp_path / "m.pt", tmp_path / "h.csv",
                      tmp_path / "p.parquet", cfg, instrument, seed=0)
    hist = pd.read_csv(tmp_path / "h.csv")
    n_train = (pd.read_parquet(phot).query("selected").split == "train").sum()
    n_batches = -(-2 * n_train // 64)  # two passes per epoch
    total = 3 * n_batches
    expected = [1e-4 * cosine_factor(0, total, n_batches)] + [
        1e-4 * cosine_factor(e * n_batches, total, n_batches) for e in (1, 2)]
    np.testing.assert_allclose(hist["learning_rate"], expected, rtol=1e-6)
    assert expected[-1] > 1e-4 * COSINE_FLOOR
    assert s["epochs_run"] == 3 and s["precision"] == "bf16" and not s["stopped_early"]
    ckpt = load_checkpoint(tmp_path / "m.pt")
    assert ckpt["tta"] is True
    # predict() applies the checkpoint's TTA and precision: the training run's photo-z again
    frame = predict(tmp_path / "m.pt", phot, shards, None)
    ref = pd.read_parquet(tmp_path / "p.parquet")
    np.testing.assert_allclose(frame["z_pred"], ref["z_pred"], atol=1e-6)


def test_transfer_without_freezing_trains_the_cnn(trained, toy, instrument, tmp_path):
    out, _ = trained
    _, phot, shards = toy
    pre = {"mlp": out / "models/mlp.pt", "cnn": out / "models/cnn.pt"}
    train_network("hybrid_transfer", phot, shards, tmp_path / "t.pt", tmp_path / "h.csv",
                  tmp_path / "p.parquet", small_cfg(epochs=1, transfer_freeze=False),
                  instrument, seed=1, pretrained=pre)
    cnn = load_checkpoint(pre["cnn"])["state_dict"]
    tr = load_checkpoint(tmp_path / "t.pt")["state_dict"]
    assert not torch.equal(tr["cnn.inception3.branch3.conv5x5.conv.weight"],
                           cnn["features.inception3.branch3.conv5x5.conv.weight"])


def test_seed_streams_are_independent_and_reproducible():
    from photoz.train.settings import seed_streams

    a, b = seed_streams(2022), seed_streams(2022)
    states = {k: tuple(v.generate_state(4)) for k, v in a.items()}
    assert states == {k: tuple(v.generate_state(4)) for k, v in b.items()}
    assert len(set(states.values())) == 4
    assert states != {k: tuple(v.generate_state(4)) for k, v in seed_streams(2023).items()}


# --------------------------------------------------------------------------------------------
# Checkpoint integrity and predict's edge cases (issue 15)
# --------------------------------------------------------------------------------------------
def test_checkpoint_with_zeroed_bytes_inside_its_weights_is_refused(trained, tmp_path):
    """64 zeroed bytes inside a weight tensor: torch.load does not notice; the checksum does."""
    from photoz.errors import PhotozDataError

    out, _ = trained
    raw = bytearray((out / "models/mlp.pt").read_bytes())
    weights = load_checkpoint(out / "models/mlp.pt")["state_dict"]
    big = max(weights.values(), key=lambda t: t.numel())
    at = raw.find(big.numpy().tobytes()[:256])
    assert at > 0 and big.numel() * 4 > 256
    raw[at + 128:at + 192] = bytes(64)
    bad = tmp_path / "zeroed.pt"
    bad.write_bytes(bytes(raw))
    torch.load(bad, weights_only=True)  # loads without complaint: why a checksum is needed
    with pytest.raises(PhotozDataError, match=r"zeroed\.pt: content does not match its checksum"):
        load_checkpoint(bad)


def test_checkpoint_whose_label_does_not_fit_its_weights_is_named(trained, toy, tmp_path):
    from photoz.errors import PhotozDataError
    from photoz.products.train import save_checkpoint

    out, _ = trained
    _, phot, shards = toy
    ckpt = load_checkpoint(out / "models/mlp.pt")
    ckpt["net"] = "cnn"  # an MLP's weights labelled CNN, with a valid checksum
    save_checkpoint(tmp_path / "relabelled.pt", ckpt)
    with pytest.raises(PhotozDataError, match=r"relabelled\.pt: labelled network 'cnn' but its "
                                              "weights do not fit"):
        predict(tmp_path / "relabelled.pt", phot, shards, None)


def test_predict_on_an_empty_selection_warns(trained, toy, tmp_path, caplog):
    out, _ = trained
    _, phot, _ = toy
    table = pd.read_parquet(phot)
    table["selected"] = False
    empty = tmp_path / "nothing_selected.parquet"
    table.to_parquet(empty, index=False)
    with caplog.at_level("WARNING", logger="photoz.train.predict"):
        frame = predict(out / "models/mlp.pt", empty, [], tmp_path / "p.parquet")
    assert len(frame) == 0 and len(pd.read_parquet(tmp_path / "p.parquet")) == 0
    assert any("nothing_selected.parquet has no selected galaxy" in r.getMessage()
               for r in caplog.records)


def _scripted_fit(val_losses, **train):
    """photoz.train.loop.fit on a toy linear model, with a validation whose loss at epoch k is
    ``val_losses[k-1]`` (the prediction is z_val + that offset); the weights seen at each
    validation are recorded."""
    import copy

    from photoz.train.batches import FluxBatches
    from photoz.train.loop import fit
    from photoz.train.settings import network_settings

    cfg = network_settings(default_config({"train": train})["train"], "mlp")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 64, 20, generator=gen)
    z = torch.rand(64, generator=gen)
    z_val = np.linspace(0.1, 2.0, 16)
    model = torch.nn.Linear(20, 1)
    seen = []

    class Scripted(FluxBatches):
        def forward(self, net, flux):
            return net(flux).squeeze(-1)

        def validate(self, net):
            seen.append(copy.deepcopy(net.state_dict()))
            return z_val + val_losses[len(seen) - 1]

    result = fit(model, Scripted(x, z, 16), z_val, cfg, gen, torch.device("cpu"))
    return result, seen, model


def test_fit_stops_early_at_the_patience_epoch_and_keeps_the_best_weights():
    """Best loss at epoch 3, then 3 epochs without a lower one: patience 3 stops after epoch 6
    (Keras EarlyStopping counting), and the weights are epoch 3's."""
    losses = [0.5, 0.3, 0.2, 0.25, 0.2, 0.21] + [0.1] * 10  # 0.2 again is no improvement
    result, seen, model = _scripted_fit(losses, max_epochs={"mlp": 16},
                                        early_stopping_patience=3, lr_patience=50)
    assert [row[0] for row in result.history] == [1, 2, 3, 4, 5, 6]
    assert result.stopped_early and result.best_epoch == 3
    assert result.best_val_loss == pytest.approx(0.2, abs=1e-6)
    np.testing.assert_allclose([row[2] for row in result.history], losses[:6], atol=1e-6)
    for key, value in model.state_dict().items():
        assert torch.equal(value, seen[2][key]), key  # epoch 3's weights restored
    assert not torch.equal(seen[2]["weight"], seen[5]["weight"])  # and they had moved on


def test_fit_drops_the_learning_rate_after_lr_patience_flat_epochs():
    """lr 1e-2, factor 0.5, patience 2, Keras min_delta 1e-4. Epoch 2 improves (0.4); epoch 3's
    0.39995 is a new best but by less than min_delta (flat 1), epoch 4 flat 2 -> lr x 0.5 from
    epoch 5; epochs 5, 6 flat -> x 0.5 again from epoch 7; epoch 7's 0.3 resets the count,
    8 and 9 flat -> from epoch 10. The history's lr column is the rate each epoch ran with."""
    losses = [0.5, 0.4, 0.39995, 0.4, 0.4, 0.4, 0.3, 0.3, 0.3, 0.3]
    result, _, _ = _scripted_fit(losses, max_epochs={"mlp": 10}, learning_rate=1e-2,
                                 lr_factor=0.5, lr_patience=2, early_stopping_patience=0)
    lrs = [row[5] for row in result.history]
    np.testing.assert_allclose(lrs, [1e-2] * 4 + [5e-3] * 2 + [2.5e-3] * 3 + [1.25e-3],
                               rtol=1e-12)
    assert not result.stopped_early and len(result.history) == 10
    assert result.best_epoch == 7  # 0.39995 (epoch 3) was a best too; 0.3 (epoch 7) the last
