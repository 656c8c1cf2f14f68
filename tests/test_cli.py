"""The command line: sub-commands listed, instrument table against the data README's numbers."""

import subprocess
import sys

from photoz.cli import main


def test_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "photoz", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for cmd in ("instrument", "validate-config", "predict", "benchmark"):
        assert cmd in out


def test_instrument_prints_galaxygenius_zero_points(shared_data, capsys):
    assert main(["instrument", "--throughput", str(shared_data / "csst" / "throughput_galaxyGenius")]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:]}
    # ../shared/data/README.md: g 26.26, r 26.03, i 25.86, z 25.20; pivots 4783, 6175, 7633, 9020 A
    for band, zp, pivot in (("g", 26.26, 4783), ("r", 26.03, 6175), ("i", 25.86, 7633), ("z", 25.20, 9020)):
        assert abs(float(rows[band][2]) - zp) < 0.02
        assert abs(float(rows[band][1]) - pivot) < 2


def test_bad_config_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("simulate:\n  n_shards: zero\n")
    assert main(["validate-config", str(bad)]) == 1
    assert "simulate.n_shards" in capsys.readouterr().err


def test_predict_reproduces_training_predictions(tmp_path, capsys):
    """`python -m photoz predict` on the training table gives the training run's photo-z."""
    import numpy as np
    import pandas as pd

    from photoz.benchmarks.toydata import write_toy_inputs
    from photoz.instrument import load_instrument
    from photoz.train.network import train_network

    instrument = load_instrument({})
    phot, shards = write_toy_inputs(tmp_path / "in", 200, instrument, seed=4, n_shards=1)
    from photoz.config import default_config

    cfg = default_config({"train": {"device": "cpu", "batch_size": {"cnn": 64},
                                    "max_epochs": {"cnn": 1}, "n_flux_realisations": 2}})["train"]
    train_network("cnn", phot, shards, tmp_path / "cnn.pt", tmp_path / "h.csv", tmp_path / "p.parquet",
                  cfg, instrument, seed=1)
    out = tmp_path / "again.parquet"
    assert main(["predict", "--model", str(tmp_path / "cnn.pt"), "--photometry", str(phot),
                 "--stamps", *map(str, shards), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    a = pd.read_parquet(tmp_path / "p.parquet").sort_values("object_id")
    b = pd.read_parquet(out).sort_values("object_id")
    np.testing.assert_array_equal(a["object_id"], b["object_id"])
    np.testing.assert_allclose(a["z_pred"], b["z_pred"], atol=1e-6)


def test_benchmark_help_names_the_command(capsys):
    """Issue 15: `benchmark training --help` called itself __main__.py."""
    import pytest

    with pytest.raises(SystemExit) as info:
        main(["benchmark", "training", "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: python -m photoz benchmark training")


def test_instrument_refuses_a_non_positive_pixel_scale(capsys):
    """Issue 15: `instrument --pixel-scale -1` printed a table."""
    import pytest

    from photoz.errors import PhotozConfigError
    from photoz.instrument import load_instrument

    for bad in ("-1", "0", "nan"):
        with pytest.raises(SystemExit) as info:
            main(["instrument", "--pixel-scale", bad])
        assert info.value.code == 2
        assert "--pixel-scale" in capsys.readouterr().err
    with pytest.raises(PhotozConfigError, match=r"instrument\.pixel_scale: -1 must be a finite"):
        load_instrument({"pixel_scale": -1})
    with pytest.raises(PhotozConfigError, match=r"instrument\.obscuration"):
        load_instrument({"obscuration": 1.0})


def test_validate_config_merges_files_in_order(repo_root, capsys):
    import yaml

    assert main(["validate-config", str(repo_root / "config" / "config.yaml"),
                 str(repo_root / ".test" / "config.yaml")]) == 0
    merged = yaml.safe_load(capsys.readouterr().out)
    assert merged["simulate"]["n_shards"] == 2 and merged["seed"] == 7
    assert main(["validate-config", "--quiet", str(repo_root / ".test" / "config.yaml")]) == 0
    assert capsys.readouterr().out == ""


def test_training_benchmark_peak_follows_native_bf16(monkeypatch, capsys):
    """Issue 19: the bf16 peak (45 s emulated on an AVX2-only CPU) is measured only where bf16 is
    native or asked for; the fp32 peak always, and each network's share of it is its GFLOP/s over
    the peak (8.0 / 80.0 = 10.0%, computed by hand)."""
    from photoz.benchmarks import training as bench

    fake = {"cnn": {"samples_per_second": 1000.0, "gflops": 8.0, "device": "cpu",
                    "precision": "fp32", "batch_size": 128, "threads": 1}}
    monkeypatch.setattr(bench, "run", lambda *a, **k: fake)
    asked = []
    monkeypatch.setattr(bench, "matmul_peak_gflops",
                        lambda threads, dtype: asked.append(dtype) or 80.0)
    import photoz.train.settings
    for native, precision, expected in ((False, "fp32,auto", ["fp32"]),
                                        (False, "bf16", ["fp32", "bf16"]),
                                        (True, "fp32", ["fp32", "bf16"])):
        asked.clear()
        monkeypatch.setattr(photoz.train.settings, "native_bf16", lambda device, n=native: n)
        assert bench.main(["--nets", "cnn", "--precision", precision]) == 0
        assert asked == expected
        out = capsys.readouterr().out
        assert ("no native bf16" in out) is not native
        assert "cnn               10.0% of it (fp32)" in out


def test_every_photoz_error_is_one_line(tmp_path, capsys):
    """Issue 30: the CLI prints one line and no traceback for every PhotozError, also for a
    config with several problems (one per line in the exception)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: -1\nsimulate:\n  n_shards: zero\n  stamp_size: 1000000\n")
    assert main(["validate-config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "seed: -1" in err and "; simulate.n_shards: 'zero'" in err and "stamp_size" in err
