"""Tests of photoz.models: the paper's architectures (Zhou et al. 2022, Sect. 4)."""

import pytest
import torch

from photoz.errors import PhotozConfigError
from photoz.models.build import build_model, count_parameters
from photoz.names import NETWORKS
from photoz.paper import PAPER_PARAMETER_COUNTS

# Trainable counts: the paper's totals minus 2 x (BatchNorm channels), counted by hand:
# MLP 5 BN x 40 ch; CNN 32 + 3 x (16+16+32+8+16+8) = 320 ch; hybrid 200 + 320 + 6 x 80 = 1000 ch.
TRAINABLE = {"mlp": 9881 - 2 * 200, "cnn": 38449 - 2 * 320, "hybrid": 89129 - 2 * 1000}


def _dense(n_in, n_out, bn=False):
    """Weights + biases, and BatchNorm's gamma, beta, running mean and variance (Keras counts them)."""
    return n_in * n_out + n_out + (4 * n_out if bn else 0)


def _conv(k, n_in, n_out):
    """A k x k convolution with bias, followed by BatchNorm (4 per channel)."""
    return k * k * n_in * n_out + n_out + 4 * n_out


def _inception(n_in):
    """PAPER_SPEC §4: b1 1x1/16; b2 1x1/16 -> 3x3/32; b3 1x1/8 -> 5x5/16; b4 pool -> 1x1/8."""
    return (_conv(1, n_in, 16) + _conv(1, n_in, 16) + _conv(3, 16, 32) + _conv(1, n_in, 8)
            + _conv(5, 8, 16) + _conv(1, n_in, 8))


# The paper's counts rebuilt layer by layer from its architecture (PAPER_SPEC §4), independent of
# both photoz.models and the constant photoz.paper.PAPER_PARAMETER_COUNTS.
_MLP_TRUNK = _dense(20, 40) + 5 * _dense(40, 40, bn=True)  # 20 -> Dense40 -> 5 x [Dense40 + BN]
_CNN_TRUNK = _conv(3, 7, 32) + _inception(32) + 2 * _inception(72) + _dense(72, 40)
HAND_COUNTS = {
    "mlp": _MLP_TRUNK + _dense(40, 1),
    "cnn": _CNN_TRUNK + _dense(40, 1),
    "hybrid": _MLP_TRUNK + _CNN_TRUNK + 6 * _dense(80, 80, bn=True) + _dense(80, 1),
}
HAND_COUNTS["hybrid_transfer"] = HAND_COUNTS["hybrid"]


@pytest.mark.parametrize("name", NETWORKS)
def test_parameter_counts_match_paper(name):
    model = build_model(name)
    assert count_parameters(model) == PAPER_PARAMETER_COUNTS[name] == HAND_COUNTS[name]
    expected = TRAINABLE["hybrid" if name == "hybrid_transfer" else name]
    assert count_parameters(model, trainable_only=True) == expected
    assert count_parameters(model, include_buffers=False) == expected


def test_cnn_feature_map_shapes_follow_paper():
    model = build_model("cnn").eval()
    shapes = {}
    for name in ("stem", "inception1", "inception2", "inception3"):
        getattr(model.features, name).register_forward_hook(
            lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:])))
    out = model(torch.randn(2, 7, 32, 32))
    assert out.shape == (2,)
    assert shapes == {"stem": (32, 16, 16), "inception1": (72, 8, 8),
                      "inception2": (72, 4, 4), "inception3": (72, 2, 2)}


def test_forward_shapes_and_keras_defaults():
    x, img = torch.randn(4, 20), torch.randn(4, 7, 32, 32)
    assert build_model("mlp")(x).shape == (4,)
    assert build_model("hybrid")(x, img).shape == (4,)
    cnn = build_model("cnn", seed=0)
    bn = cnn.features.stem.batchnorm
    assert bn.eps == 1e-3 and bn.momentum == pytest.approx(0.01)
    assert cnn.features.stem.leaky_relu.negative_slope == pytest.approx(0.3)
    # Glorot-uniform kernels (|w| <= sqrt(6 / (fan_in + fan_out))) and zero biases, as Keras.
    w = cnn.features.dense.dense.weight
    assert w.abs().max() <= (6 / (72 + 40)) ** 0.5
    assert torch.all(cnn.features.dense.dense.bias == 0)


def test_seeded_init_is_reproducible():
    a, b, c = build_model("mlp", seed=5), build_model("mlp", seed=5), build_model("mlp", seed=6)
    wa, wb, wc = (m.features.dense_in.dense.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_unknown_network():
    with pytest.raises(PhotozConfigError, match="unknown network"):
        build_model("resnet")


def _train_briefly(model, inputs, steps=3):
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    for _ in range(steps):
        loss = (model(*inputs) - 1.0).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_hybrid_transfer_freezes_what_the_paper_freezes():
    torch.manual_seed(0)
    x, img = torch.randn(16, 20), torch.randn(16, 7, 32, 32)
    mlp, cnn = build_model("mlp", seed=1), build_model("cnn", seed=2)
    _train_briefly(mlp, (x,))
    _train_briefly(cnn, (img,))
    model = build_model("hybrid_transfer", seed=3)
    model.load_pretrained(mlp.state_dict(), cnn.state_dict())
    assert count_parameters(model, trainable_only=True) == 44561
    # Loaded exactly.
    assert torch.equal(model.mlp.hidden5.dense.weight, mlp.features.hidden5.dense.weight)
    assert torch.equal(model.cnn.stem.batchnorm.running_var, cnn.features.stem.batchnorm.running_var)

    frozen_names = ["mlp.dense_in", "mlp.hidden1", "mlp.hidden2", "mlp.hidden3", "mlp.hidden4",
                    "cnn.stem", "cnn.inception1", "cnn.inception2", "cnn.inception3"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    assert not model.cnn.stem.batchnorm.training  # frozen BatchNorm in inference mode
    assert model.mlp.hidden5.batchnorm.training
    _train_briefly(model, (x, img), steps=1)
    after = model.state_dict()
    for k in before:
        if k.endswith("num_batches_tracked"):
            continue
        if any(k.startswith(f + ".") for f in frozen_names):
            assert torch.equal(before[k], after[k]), f"frozen {k} changed"
        elif k.endswith(("weight", "bias")) or "running" in k:
            assert not torch.equal(before[k], after[k]), f"trainable {k} did not change"


@pytest.mark.parametrize("side", [16, 8, 4])
@pytest.mark.parametrize("bf16", [False, True])
def test_fourth_branch_is_the_papers_maxpool_stride1_then_conv_stride2(side, bf16):
    """Branch 4 runs max-pool 3x3/2 -> 1x1/1; the paper's literal max-pool 3x3/1 -> 1x1/2 with
    the same weights must give the same outputs and gradients, bit for bit (the stride-2 1x1
    convolution reads only the even positions of the stride-1 max-pool)."""
    from torch import nn

    from photoz.models.cnn import ConvBlock, InceptionBlock

    fast = InceptionBlock(72).branch4
    paper = nn.Sequential()
    paper.add_module("maxpool", nn.MaxPool2d(3, stride=1, padding=1))
    paper.add_module("conv1x1", ConvBlock(72, 8, 1, stride=2))
    paper.load_state_dict(fast.state_dict())
    x = torch.randn(16, 72, side, side, generator=torch.Generator().manual_seed(side))
    results = []
    for branch in (fast, paper):
        xi = x.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = branch(xi)
        weights = torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
        (y.float() * weights).sum().backward()
        results.append((y.detach().float(), xi.grad, branch[1].conv.weight.grad))
    assert results[0][0].shape == (16, 8, side // 2, side // 2)
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)
