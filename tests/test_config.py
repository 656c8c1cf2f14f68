"""The config schema: defaults, unknown keys and wrong types stop the run naming the key."""

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
