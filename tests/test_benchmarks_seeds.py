"""The seeds benchmark (photoz.benchmarks.seeds, issue 29): networks and peers over seeds, and its
Markdown table of means +- sd, on a tiny toy run (photoz.benchmarks.toydata)."""

import json
import math

import numpy as np
import pytest

from photoz.benchmarks.seeds import format_table, main, summarise
from photoz.benchmarks.toydata import write_toy_inputs
from photoz.config import default_config
from photoz.instrument import load_instrument

pytest.importorskip("rail.estimation.algos.k_nearneigh", reason="needs the `peers` extra")


def test_summary_and_table_by_hand():
    rows = [{"method": "mlp", "seed": s, "sigma_nmad": v, "outlier_fraction": o, "crps": c,
             "pit_ks": 0.02, "coverage_68": 0.7, "coverage_95": 0.95, "input_flux": "matched"}
            for s, v, o, c in ((1, 0.030, 0.01, 0.04), (2, 0.032, 0.03, 0.05))]
    rows += [{"method": "random_forest", "seed": s, "sigma_nmad": v, "outlier_fraction": 0.02,
              "input_flux": "matched"} for s, v in ((1, 0.036), (2, 0.034))]
    rows += [{"method": "bpz", "seed": 1, "sigma_nmad": 0.04, "outlier_fraction": 0.05,
              "crps": 0.06, "pit_ks": 0.1, "coverage_68": 0.5, "coverage_95": 0.8,
              "input_flux": "matched"}]
    s = summarise(rows)
    assert s["mlp"]["sigma_nmad_mean"] == pytest.approx(0.031)
    assert s["mlp"]["sigma_nmad_sd"] == pytest.approx(0.002 / math.sqrt(2))  # sample sd
    assert s["random_forest"]["ratio_to_mlp"] == pytest.approx(0.035 / 0.031)
    assert "crps_mean" not in s["random_forest"] and math.isnan(s["bpz"]["crps_sd"])
    table = format_table(s).splitlines()
    assert table[0].startswith("| method | input flux | seeds | sigma_NMAD | outliers % | CRPS |")
    assert table[2] == ("| MLP | matched | 2 | 0.0310 ± 0.0014 | 2.00 ± 1.41 | 0.0450 ± 0.0071 "
                        "| 0.020 ± 0.000 | 0.700 ± 0.000 | 0.950 ± 0.000 | 1.00 |")
    assert table[3].split(" | ")[5:9] == ["—", "—", "—", "—"]
    assert "0.0400 (no seed)" in table[4]


def test_networks_and_peers_over_seeds_print_one_markdown_table(tmp_path, repo_root, capsys):
    """`python -m photoz benchmark seeds --markdown` trains the networks and fits the peers with
    every seed (BPZ once), and prints only the table: every method a row, mean +- sd."""
    inst = load_instrument(default_config()["instrument"])
    res = tmp_path / "results"
    phot, shards = write_toy_inputs(res / "photometry", 300, inst, seed=2, stamp_size=8,
                                    n_shards=1)
    (res / "images").mkdir()
    for shard in shards:
        shard.rename(res / "images" / shard.name)
    over = tmp_path / "tiny.yaml"
    over.write_text("train: {networks: [mlp], max_epochs: {mlp: 1}, n_flux_realisations: 2,\n"
                    "        device: cpu}\n")
    argv = ["--configfile", str(repo_root / ".test" / "config.yaml"), "--configfile", str(over),
            "--results", str(res), "--out", str(tmp_path / "out"), "--seeds", "3,4",
            "--jobs", "1", "--peers", "random_forest,knn,bpz", "--markdown"]
    assert main(argv) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0].startswith("| method | input flux | seeds | sigma_NMAD |")
    assert [line.split(" | ")[0] for line in printed[2:]] == [
        "| MLP", "| Random forest (sklearn)", "| KNearNeigh (RAIL)", "| BPZ templates (RAIL)"]
    out = json.loads((tmp_path / "out" / "seeds.json").read_text())
    runs = [(r["method"], r["seed"]) for r in out["rows"]]
    assert runs == [("mlp", 3), ("mlp", 4), ("random_forest", 3), ("random_forest", 4),
                    ("knn", 3), ("knn", 4), ("bpz", 3)]
    s = out["summary"]
    for method in ("mlp", "knn", "bpz"):  # the p(z) methods, scored alike
        assert 0 < s[method]["crps_mean"] < 1 and 0 <= s[method]["coverage_68_mean"] <= 1
    assert "crps_mean" not in s["random_forest"]
    assert {v["input_flux"] for v in s.values()} == {"kron"}  # the toy table's flux type
    assert np.isfinite(s["knn"]["sigma_nmad_sd"]) and s["bpz"]["sigma_nmad_sd"] is None
    assert (tmp_path / "out" / "seed4" / "knn_pz.hdf5").is_file()
