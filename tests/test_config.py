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
