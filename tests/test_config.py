"""The config schema: defaults, unknown keys and wrong types stop the run naming the key."""

from pathlib import Path

import pytest
import yaml

from photoz.config import SCHEMA_PATH, load_config
from photoz.errors import PhotozConfigError


def test_every_schema_key_is_typed_described_and_defaulted():
    schema = yaml.safe_load(SCHEMA_PATH.read_text())

    def walk(node, path):
        for key, sub in node.get("properties", {}).items():
            where = f"{path}.{key}" if path else key
            assert "type" in sub, where
            assert sub.get("description"), where
            assert "default" in sub, where
            if sub["type"] == "object":
                assert sub.get("additionalProperties") is False, where
                walk(sub, where)

    walk(schema, "")


def test_defaults_are_the_paper_values():
    cfg = load_config()
    assert cfg["instrument"]["n_exposures"] == [4, 2, 2, 2, 2, 2, 4]
    assert cfg["instrument"]["sky"] == [0.0023, 0.018, 0.142, 0.187, 0.187, 0.118, 0.035]
    assert cfg["train"]["learning_rate"] == 1e-4
    assert cfg["train"]["early_stopping_patience"] == 10
    assert cfg["photometry"]["snr_threshold"] == 10


@pytest.mark.parametrize(
    "name", ["config/config.yaml", "config/paper.yaml", "config/gpu.yaml", ".test/config.yaml"]
)
def test_shipped_configs_are_valid(repo_root, name):
    load_config(repo_root / name)


def test_config_readme_explains_every_key(repo_root):
    text = (repo_root / "config" / "README.md").read_text()
    schema = yaml.safe_load(SCHEMA_PATH.read_text())

    def walk(node, path):
        for key, sub in node.get("properties", {}).items():
            where = f"{path}.{key}" if path else key
            assert f"`{where}`" in text, f"config/README.md does not explain `{where}`"
            if sub.get("type") == "object":
                walk(sub, where)

    walk(schema, "")


def test_unknown_key_is_named():
    with pytest.raises(PhotozConfigError, match=r"simulate\.stampsize: unknown key"):
        load_config(overrides={"simulate": {"stampsize": 32}})


def test_wrong_type_is_named():
    with pytest.raises(PhotozConfigError, match=r"train\.max_epochs\.cnn: 'ten' is not of type 'integer'"):
        load_config(overrides={"train": {"max_epochs": {"cnn": "ten"}}})


def test_transfer_needs_its_parents():
    with pytest.raises(PhotozConfigError, match="train.networks"):
        load_config(overrides={"train": {"networks": ["hybrid_transfer"]}})


def test_paper_config_trains_as_the_paper_and_the_default_departs_where_measured(repo_root):
    """paper.yaml: the paper's schedule only (PAPER_SPEC §5); the default: the measured recipe."""
    from photoz.config import load_merged_config

    paper = load_merged_config([repo_root / "config/paper.yaml"])["train"]
    assert paper["learning_rate"] == 1e-4 and paper["image_scaling"] == "none"
    assert set(paper["lr_schedule"].values()) == {"plateau"}
    assert set(paper["passes_per_epoch"].values()) == {1}
    assert set(paper["ema_decay"].values()) == {0.0}
    assert set(paper["weight_decay"].values()) == {0.0}
    assert set(paper["flux_draws_per_stamp"].values()) == {1}
    assert paper["tta"] is False and paper["precision"] == "fp32" and paper["transfer_freeze"]
    default = load_merged_config()["train"]
    assert default["image_scaling"] == "asinh" and default["lr_schedule"]["cnn"] == "cosine"
    assert default["lr_schedule"]["mlp"] == "plateau"  # the MLP keeps the paper's rule


def test_merged_config_is_what_snakemake_merges(repo_root):
    """config/config.yaml first, then each overlay: gpu.yaml only adds train.gpus."""
    from photoz.config import load_merged_config

    base = load_merged_config()
    gpu = load_merged_config([repo_root / "config/gpu.yaml"])
    assert gpu["train"]["gpus"] == 1 and base["train"]["gpus"] == 0
    gpu["train"]["gpus"] = 0
    assert gpu == base


@pytest.mark.parametrize("overrides, message", [
    ({"train": {"image_size": 20}}, r"train\.image_size: 20 is not a multiple of 8"),
    ({"train": {"networks": []}}, r"train\.networks: \[\] should be non-empty"),
    ({"photometry": {"snr_threshold": float("nan")}},
     r"photometry\.snr_threshold: nan is not a finite number"),
    ({"photometry": {"detection_threshold": float("inf")}},
     r"photometry\.detection_threshold: inf is not a finite number"),
    ({"instrument": {"sky": [0.1, 0.1, float("nan"), 0.1, 0.1, 0.1, 0.1]}},
     r"instrument\.sky\[2\]: nan is not a finite number"),
])
def test_late_failing_mistakes_are_caught_at_load(overrides, message):
    """Issue 15: each of these used to pass validation and fail (or silently select nobody) later."""
    with pytest.raises(PhotozConfigError, match=message):
        load_config(overrides=overrides)


def test_yaml_nan_and_inf_spellings_are_caught(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("photometry:\n  snr_threshold: .nan\n  detection_threshold: .inf\n")
    with pytest.raises(PhotozConfigError) as info:
        load_config(path)
    assert "photometry.snr_threshold: nan" in str(info.value)
    assert "photometry.detection_threshold: inf" in str(info.value)


def test_a_number_yaml_reads_as_a_string_says_so(tmp_path):
    """PyYAML (YAML 1.1) reads 1.0e9 as the string '1.0e9'; the message says why and how to fix."""
    path = tmp_path / "c.yaml"
    path.write_text("photometry:\n  snr_threshold: 1.0e9\n")
    with pytest.raises(PhotozConfigError, match=r"photometry\.snr_threshold: '1\.0e9' is not of "
                       r"type 'number' \(YAML read 1\.0e9 as a string.*1\.0e\+9"):
        load_config(path)
    path.write_text("photometry:\n  snr_threshold: 1.0e+9\n")
    assert load_config(path)["photometry"]["snr_threshold"] == 1e9


def test_a_yaml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("simulate:\n  n_shards: [1\n")
    with pytest.raises(PhotozConfigError, match=r'(?s)broken\.yaml: while parsing.*in ".*broken\.yaml", line 2'):
        load_config(path)


def _flatten(node, path=""):
    """{"a.b[0]": leaf, ...} of a nested config, for a key-by-key comparison."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{path}.{key}" if path else str(key)))
        return out or {path: {}}
    if isinstance(node, list):
        out = {}
        for i, value in enumerate(node):
            out.update(_flatten(value, f"{path}[{i}]"))
        return out or {path: []}
    return {path: node}


@pytest.mark.parametrize("overlay,elsewhere", [("config/gpu.yaml", False),
                                               (".test/config.yaml", False),
                                               (".test/config.yaml", True)])
def test_validate_config_prints_the_config_snakemake_runs_with(repo_root, tmp_path, overlay,
                                                                elsewhere, capsys):
    """Issue 16: the printed config equals, key by key, the ``config`` of the real Snakefile
    (its ``configfile:``, common.smk's schema validation) under ``snakemake --configfile``, also
    for a run in another working directory (``--directory``, as the tests and a cluster user run
    it): there a relative ``configfile:`` was silently skipped and the run took the schema's
    defaults (learning rate 1e-4 instead of config/config.yaml's 1e-3)."""
    import json
    import os
    import subprocess
    import sys

    from photoz.cli import main

    work = tmp_path / "w"
    work.mkdir()
    for name in ("config", "workflow", "profiles"):
        (work / name).symlink_to(repo_root / name)
    # The repository's Snakefile, unchanged, plus one line that dumps the config it parsed.
    (work / "Snakefile").write_text((repo_root / "Snakefile").read_text()
                                    + '\nimport json\njson.dump(config, open("seen.json", "w"))\n')
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    rundir = tmp_path / "elsewhere" if elsewhere else work
    rundir.mkdir(exist_ok=True)
    proc = subprocess.run([snakemake, "--list-rules", "--snakefile", str(work / "Snakefile"),
                           "--directory", str(rundir), "--configfile", str(repo_root / overlay)],
                          cwd=work, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(repo_root)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = _flatten(json.loads((rundir / "seen.json").read_text()))

    assert main(["validate-config", str(repo_root / overlay)]) == 0
    printed = _flatten(yaml.safe_load(capsys.readouterr().out))
    assert sorted(printed) == sorted(seen)
    differ = {k: (printed[k], seen[k]) for k in seen if printed[k] != seen[k]}
    assert not differ, differ
    assert len(seen) > 100  # every key, defaults included (128 leaves for gpu.yaml)
    # the overlay's values are there, merged over config/config.yaml's
    if overlay == ".test/config.yaml":
        assert printed["train.learning_rate"] == 1e-3 and printed["seed"] == 7
    else:
        assert printed["train.gpus"] == 1 and printed["train.image_scaling"] == "asinh"


def test_merge_is_snakemakes():
    """Mappings merge key by key; lists, numbers and None replace (snakemake.utils.update_config)."""
    from photoz.config import merge_config

    base = {"a": {"x": 1, "y": [1, 2]}, "b": 2, "c": {"z": 1}}
    merge_config(base, {"a": {"y": [3]}, "b": {"new": 1}, "c": None})
    assert base == {"a": {"x": 1, "y": [3]}, "b": {"new": 1}, "c": None}


def test_default_config_is_the_schema_defaults_and_a_copy():
    from photoz.config import default_config

    cfg = default_config()
    assert cfg["photometry"] == {"kron_factor": 1.0, "snr_threshold": 10.0, "snr_bands": ["g", "i"],
                                 "detection_bands": ["g", "r", "i", "z"],
                                 "detection_threshold": 1.5, "flux_type": "kron"}
    # the disagreement: the schema's COSMOS directory is the default (no code copy)
    assert cfg["catalog"]["cosmos"]["dir"] == "resources/COSMOS_25.2_training_sample"
    cfg["photometry"]["snr_bands"].append("r")
    assert default_config()["photometry"]["snr_bands"] == ["g", "i"]
    over = default_config({"train": {"batch_size": {"cnn": 7}}})["train"]["batch_size"]
    assert over == {"mlp": 512, "cnn": 7, "hybrid": 128, "hybrid_transfer": 128}
    with pytest.raises(PhotozConfigError, match=r"train\.lr_patience"):
        default_config({"train": {"lr_patience": 0}})


@pytest.mark.parametrize("overrides, key", [
    ({"catalog": {"validation_fraction": 0}}, r"catalog\.validation_fraction"),
    ({"photometry": {"kron_radius": 1}}, r"photometry\.kron_radius: unknown key"),
    ({"photometry": {"snr_bands": ["w"]}}, r"photometry\.snr_bands\.0"),
    ({"photometry": {"snr_bands": "g"}}, r"photometry\.snr_bands: 'g' is not of type 'array'"),
    ({"photometry": {"kron_factor": 0}}, r"photometry\.kron_factor"),
    ({"simulate": {"stamp_size": 8}}, r"simulate\.stamp_size"),
    ({"simulate": {"psf": "airy"}}, r"simulate\.psf"),
    ({"train": {"image_scaling": "log"}}, r"train\.image_scaling"),
    ({"train": {"batch_size": {"cnn": 0}}}, r"train\.batch_size\.cnn"),
    ({"catalog": {"source": "sdss"}}, r"catalog\.source"),
])
def test_the_schema_checks_what_the_modules_used_to(overrides, key):
    """The checks of the removed module validators (catalog, photometry, simulate, training)."""
    with pytest.raises(PhotozConfigError, match=key):
        load_config(overrides=overrides)


def test_network_settings_pick_one_networks_values():
    from photoz.config import default_config
    from photoz.train.settings import TRAIN_KEYS, network_settings

    train = default_config({"train": {"batch_size": {"cnn": 7}, "threads": 3}})["train"]
    cnn = network_settings(train, "cnn")
    assert set(cnn) == set(TRAIN_KEYS)
    assert cnn["batch_size"] == 7 and cnn["max_epochs"] == 100 and cnn["passes_per_epoch"] == 1
    mlp = network_settings(train, "mlp")
    assert mlp["batch_size"] == 512 and mlp["passes_per_epoch"] is None  # not an MLP setting
    assert network_settings(cnn, "cnn") == cnn  # idempotent
    for machine in ("threads", "gpus", "device", "networks"):
        assert machine not in cnn
    with pytest.raises(PhotozConfigError, match="missing keys"):
        network_settings({"batch_size": 1}, "mlp")
    with pytest.raises(PhotozConfigError, match="unknown network"):
        network_settings(train, "resnet")


# --------------------------------------------------------------------------------------------
# Issue 30: values that passed the schema and failed late, untyped
# --------------------------------------------------------------------------------------------
LATE_FAILURES = [
    # an h5py TypeError in simulate_images (2^64), scikit-learn's random_state (2^32)
    ({"seed": 2**64}, r"seed: 18446744073709551616 is greater than the maximum of 4294967295"),
    ({"seed": 2**32}, r"seed: 4294967296 is greater than the maximum of 4294967295"),
    # an 815 TiB allocation
    ({"simulate": {"stamp_size": 1000000}},
     r"simulate\.stamp_size: 1000000 is greater than the maximum of 1024"),
    # 1,023 jobs writing empty shards, without a word
    ({"catalog": {"n_galaxies": 400}, "simulate": {"n_shards": 1024}},
     r"simulate\.n_shards: 1024 shards for catalog\.n_galaxies 400 galaxies would leave 624 "
     r"shards empty"),
]


@pytest.mark.parametrize("overrides, message", LATE_FAILURES)
def test_values_that_failed_late_are_refused_naming_the_key(overrides, message):
    with pytest.raises(PhotozConfigError, match=message):
        load_config(overrides=overrides)


def test_the_limits_leave_the_real_values_valid():
    assert load_config(overrides={"seed": 2**32 - 1})["seed"] == 2**32 - 1
    # n_galaxies 0 (all): the number is known only to the simulation, which warns per empty shard
    cfg = load_config(overrides={"catalog": {"n_galaxies": 0}, "simulate": {"n_shards": 1000}})
    assert cfg["simulate"]["n_shards"] == 1000
    load_config(overrides={"catalog": {"n_galaxies": 400}, "simulate": {"n_shards": 400,
                                                                        "stamp_size": 1024}})


def test_a_config_file_that_is_not_utf8_is_named(tmp_path, capsys):
    from photoz.cli import main

    path = tmp_path / "latin1.yaml"
    path.write_bytes("simulate:\n  n_shards: 2  # café\n".encode("latin-1"))
    with pytest.raises(PhotozConfigError, match=rf"config file {path}: not UTF-8 text"):
        load_config(path)
    assert main(["validate-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: config file {path}: not UTF-8 text") and err.count("\n") == 1


def _snakemake_dry_run(workdir, snakefile, *configfiles):
    import os
    import subprocess
    import sys

    snakemake = str(Path(sys.executable).with_name("snakemake"))
    cmd = [snakemake, "-n", "--snakefile", str(snakefile), "--directory", str(workdir)]
    if configfiles:
        cmd += ["--configfile", *map(str, configfiles)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=workdir,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})


@pytest.mark.slow
@pytest.mark.parametrize("overrides, message", LATE_FAILURES[::2] + LATE_FAILURES[3:])
def test_snakemake_refuses_them_before_the_first_job(repo_root, tmp_path, overrides, message):
    """The Snakefile's validation (common.smk) stops the run before any job, naming the key."""
    overlay = tmp_path / "bad.yaml"
    overlay.write_text(yaml.safe_dump(overrides))
    proc = _snakemake_dry_run(tmp_path, repo_root / "Snakefile", repo_root / ".test/config.yaml",
                              overlay)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "PhotozConfigError" in out and __import__("re").search(message, out), out[-2000:]
    assert "Job stats" not in out and not (tmp_path / "results").exists()


@pytest.mark.slow
def test_snakemake_names_a_non_utf8_config_yaml(repo_root, tmp_path):
    """The Snakefile reads config/config.yaml with photoz before Snakemake does: a file saved in
    Latin-1 is a PhotozConfigError naming it, not Snakemake's UnicodeDecodeError traceback."""
    work = tmp_path / "w"
    (work / "config").mkdir(parents=True)
    for name in ("workflow", "profiles", "Snakefile"):
        (work / name).symlink_to(repo_root / name)
    text = (repo_root / "config" / "config.yaml").read_text() + "# café\n"
    (work / "config" / "config.yaml").write_bytes(text.encode("latin-1"))
    proc = _snakemake_dry_run(work, work / "Snakefile")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"config file {work / 'config' / 'config.yaml'}: not UTF-8 text" in out, out[-2000:]
    assert "UnicodeDecodeError" not in out.replace("PhotozConfigError", "")
