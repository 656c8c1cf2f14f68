"""GPU: the same training code on CUDA when a GPU is visible (skips cleanly without one).

CI has no GPU; these run on a GPU workstation or a cluster GPU node (`pytest -m gpu`).
"""

import pandas as pd
import pytest
import torch

from photoz.benchmarks.toydata import write_toy_inputs
from photoz.instrument import load_instrument
from photoz.train.network import train_network
from photoz.train.settings import resolve_device

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible"),
]


def _cfg(device):
    from photoz.config import default_config

    return default_config({"train": {
        "device": device, "batch_size": {"mlp": 256, "cnn": 64}, "max_epochs": {"mlp": 2, "cnn": 2},
        "n_flux_realisations": 5, "augment_images": True, "image_scaling": "none",
    }})["train"]


def test_auto_picks_cuda():
    assert resolve_device("auto").type == "cuda"


@pytest.mark.parametrize("net", ["mlp", "cnn"])
def test_cuda_training_matches_cpu_in_quality(tmp_path, net):
    """Training on CUDA runs and predicts about as well as the same seed on the CPU."""
    instrument = load_instrument({})
    phot, shards = write_toy_inputs(tmp_path / "in", 400, instrument, seed=3, stamp_size=40)
    mae = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / device
        summary = train_network(net, phot, shards, out / "m.pt", out / "h.csv", out / "p.parquet",
                                _cfg(device), instrument, seed=5, threads=1)
        assert summary["device"].startswith(device)
        pred = pd.read_parquet(out / "p.parquet")
        mae[device] = float((pred.z_pred - pred.z_true).abs().mean())
    # Same seed, different kernels: not bit-identical, but the same training.
    assert mae["cuda"] == pytest.approx(mae["cpu"], rel=0.25)
