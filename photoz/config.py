"""Loading and checking the workflow configuration.

The schema (``photoz/config.schema.yaml``, package data; ``workflow/schemas/config.schema.yaml``
is a link to it) types, describes and defaults every key, and is the only place defaults live:
the stages take schema-filled sections and keep no default tables of their own. This module adds
the checks a JSON Schema cannot express (:func:`check_config`), loads a config outside Snakemake
exactly as Snakemake merges it (:func:`load_merged_config`), gives tests and benchmarks the
schema-filled defaults (:func:`default_config`), and picks one network's training settings out of
the ``train`` section (:func:`network_settings`).
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import math
from collections.abc import Sequence
from pathlib import Path

import yaml

from photoz.errors import PhotozConfigError

#: The JSON Schema of the config, shipped as package data (the workflow links to this file).
SCHEMA_PATH = Path(str(importlib.resources.files("photoz") / "config.schema.yaml"))


def validate_config(config: dict, source: str = "config") -> dict:
    """Validate ``config`` against the schema, fill its defaults in place, and cross-check it.

    Parameters
    ----------
    config : dict
        The parsed YAML (Snakemake's ``config`` or :func:`load_config`'s).
    source : str
        Where the config came from, for the message (a file name).

    Returns
    -------
    dict
        ``config`` itself, every default filled in.

    Raises
    ------
    PhotozConfigError
        One line per problem, each naming the key path, e.g.
        ``simulate.stampsize: unknown key (known: add_noise, gsparams, ...)`` or
        ``simulate.stamp_size: 'a' is not of type 'integer'``.
    """
    import jsonschema
    from snakemake.utils import validate

    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    problems = []
    for err in jsonschema.Draft202012Validator(schema).iter_errors(config):
        where = ".".join(str(p) for p in err.absolute_path)
        if err.validator == "additionalProperties":
            known = sorted(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - set(known))
            for key in extra:
                name = f"{where}.{key}" if where else key
                problems.append(f"{name}: unknown key (known here: {', '.join(known)})")
        else:
            problems.append(f"{where or '(top level)'}: {err.message}{_yaml_hint(err)}")
    problems += non_finite_numbers(config)
    if problems:
        raise PhotozConfigError(f"invalid {source}:\n  " + "\n  ".join(problems))
    validate(config, str(SCHEMA_PATH), set_default=True)
    check_config(config)
    return config


def _yaml_hint(err) -> str:
    """A hint for a number that YAML read as a string (PyYAML follows YAML 1.1: ``1.0e9`` and
    ``1e-4`` without a dot need a signed exponent, ``1.0e+9``, to be floats)."""
    if err.validator != "type" or not isinstance(err.instance, str):
        return ""
    wanted = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
    if not {"number", "integer"} & set(wanted):
        return ""
    try:
        float(err.instance)
    except ValueError:
        return ""
    return (f" (YAML read {err.instance} as a string: YAML 1.1 floats need a dot and a signed "
            f"exponent, e.g. 1.0e+9 or 1.0e-4, or write the number out)")


def non_finite_numbers(config, where: str = "") -> list[str]:
    """One problem line per NaN or infinite number in ``config`` (YAML ``.nan``, ``.inf``).

    JSON Schema cannot reject them: NaN passes every ``minimum``, and ``.inf`` passes any lower
    bound, so ``photometry.snr_threshold: .nan`` would select nobody, silently.
    """
    problems = []
    if isinstance(config, dict):
        for key, value in config.items():
            problems += non_finite_numbers(value, f"{where}.{key}" if where else str(key))
    elif isinstance(config, (list, tuple)):
        for i, value in enumerate(config):
            problems += non_finite_numbers(value, f"{where}[{i}]")
    elif isinstance(config, float) and not math.isfinite(config):
        problems.append(f"{where}: {config} is not a finite number")
    return problems


def check_config(config: dict) -> None:
    """The checks a JSON Schema cannot express, on a schema-validated config.

    Raises
    ------
    PhotozConfigError
        Naming the key: ``train.networks`` holds hybrid_transfer without mlp and cnn, or a
        network twice; or a ``catalog.train_test_ratio`` has a zero side or repeats another; or
        ``train.ensemble_size`` > 1 with several ratios (members are trained for the first ratio
        only, so the further ratios' networks would silently be single trainings); or
        ``simulate.n_shards`` exceeds ``catalog.n_galaxies`` > 0 (empty shards, a job each; with
        0, all galaxies, the number is known only to the simulation, which warns).
    """
    nets = config["train"]["networks"]
    if "hybrid_transfer" in nets and not {"mlp", "cnn"} <= set(nets):
        raise PhotozConfigError(
            "train.networks: hybrid_transfer starts from the trained mlp and cnn; add both to the list"
        )
    if len(set(nets)) != len(nets):
        raise PhotozConfigError(f"train.networks: duplicate entries in {nets}")
    from photoz.catalog.splits import check_ratios, train_test_ratios

    ratios = train_test_ratios(config)
    check_ratios(ratios)
    n_gal, n_shards = config["catalog"]["n_galaxies"], config["simulate"]["n_shards"]
    if n_gal > 0 and n_shards > n_gal:
        raise PhotozConfigError(
            f"simulate.n_shards: {n_shards} shards for catalog.n_galaxies {n_gal} galaxies would "
            f"leave {n_shards - n_gal} shards empty (one job each); use at most {n_gal}")
    if config["train"]["ensemble_size"] > 1 and len(ratios) > 1:
        raise PhotozConfigError(
            f"train.ensemble_size: {config['train']['ensemble_size']} with several "
            f"catalog.train_test_ratio values {list(ratios)}: deep ensembles are built for one ratio "
            "only; set ensemble_size: 1 or give one ratio")
    check_components(config["catalog"])


def check_components(catalog: dict) -> None:
    """Cross-key checks of ``catalog.galaxy_model: bulge_disk_knots`` the schema cannot express.

    Raises
    ------
    PhotozConfigError
        Naming the key: the model needs the COSMOS templates (``catalog.sed_library``), a COSMOS
        template as ``components.bulge_oldest``, and each ``_min`` below its ``_max``.
    """
    if catalog["galaxy_model"] != "bulge_disk_knots":
        return
    from photoz.sed import template_names

    if catalog["sed_library"] != "cosmos":
        raise PhotozConfigError(
            f"catalog.sed_library: {catalog['sed_library']!r} with galaxy_model bulge_disk_knots; "
            "the model's bulge templates are calibrated on the COSMOS library: use cosmos")
    c = catalog["components"]
    for key, example in (("bulge_oldest", "S0_A_0"), ("young_youngest", "SB11_A_0")):
        if c[key] not in template_names("cosmos"):
            raise PhotozConfigError(f"catalog.components.{key}: {c[key]!r} is not a COSMOS "
                                    f"template (e.g. {example})")
    if c["young_mean"]["E"] != 0:
        raise PhotozConfigError(f"catalog.components.young_mean.E: {c['young_mean']['E']} must be "
                                "0: the elliptical templates are not in age order (no young disk)")
    for low, high in (("knot_f_min", "knot_f_max"), ("size_ratio_min", "size_ratio_max"),
                      ("n_knots_min", "n_knots_max")):
        if not c[low] <= c[high]:
            raise PhotozConfigError(f"catalog.components.{low}: {c[low]} is above "
                                    f"catalog.components.{high} = {c[high]}")


def read_config_file(path: str | Path) -> dict:
    """One config file as a mapping (empty file: ``{}``), naming the file on any error.

    The Snakefile reads ``config/config.yaml`` with it before Snakemake does, so that a file that
    is not UTF-8 or not YAML is a one-line :class:`PhotozConfigError` naming it.

    Raises
    ------
    PhotozConfigError
        If the file cannot be read, is not UTF-8 text, not YAML, or not a mapping.
    """
    return _read_yaml(path)


def _read_yaml(path: str | Path) -> dict:
    """One config file as a mapping (empty file: ``{}``), naming the file on any error."""
    try:
        with open(path, encoding="utf-8") as stream:  # YAML's error marks name the file
            part = yaml.safe_load(stream) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PhotozConfigError(f"cannot read config file {path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise PhotozConfigError(f"config file {path}: not UTF-8 text ({exc}); save it as UTF-8"
                                ) from exc
    if not isinstance(part, dict):
        raise PhotozConfigError(f"config file {path}: the top level must be a mapping of keys")
    return part


def merge_config(config: dict, overwrite: dict) -> dict:
    """Merge ``overwrite`` into ``config`` in place, as Snakemake merges config files.

    This is ``snakemake.utils.update_config``: a mapping value is merged key by key (recursively),
    any other value (a list, a number, ``None``) replaces the old one.
    """
    from snakemake.utils import update_config

    update_config(config, overwrite)
    return config


def load_config(path: str | Path | Sequence[str | Path] | None = None,
                overrides: dict | None = None) -> dict:
    """Read YAML config file(s), fill the schema's defaults, validate and cross-check.

    Unlike :func:`load_merged_config` this does not start from ``config/config.yaml``: it checks
    the given files alone (tests, one-file configs).

    Parameters
    ----------
    path : str or Path, or a list of them, optional
        YAML file(s), merged in order (:func:`merge_config`); ``None`` starts from an empty config
        (all defaults).
    overrides : dict, optional
        Nested values merged over the files before validation.

    Returns
    -------
    dict
        The full config with every default filled in.

    Raises
    ------
    PhotozConfigError
        If a file cannot be read or a key is unknown or of the wrong type (the message names it).
    """
    paths = [] if path is None else [path] if isinstance(path, (str, Path)) else list(path)
    config: dict = {}
    for one in paths:
        merge_config(config, _read_yaml(one))
    merge_config(config, copy.deepcopy(overrides or {}))
    source = f"config {' + '.join(map(str, paths))}" if paths else "config"
    return validate_config(config, source=source)


@functools.lru_cache(maxsize=1)
def _defaults() -> dict:
    return validate_config({}, source="schema defaults")


def default_config(overrides: dict | None = None) -> dict:
    """The schema-filled config (every key at its schema default, the paper's values), a new copy.

    For tests and benchmarks that call a stage directly: ``default_config()["photometry"]`` is
    the section the stage would get from a config that leaves the section out.

    Parameters
    ----------
    overrides : dict, optional
        Nested values merged over the defaults (:func:`merge_config`), then validated again.

    Raises
    ------
    PhotozConfigError
        If ``overrides`` makes the config invalid (the message names the key).
    """
    config = copy.deepcopy(_defaults())
    if overrides:
        merge_config(config, copy.deepcopy(overrides))
        validate_config(config, source="default config + overrides")
    return config


#: The workflow's default config (the Snakefile's ``configfile:``), in the repository.
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


def load_merged_config(configfiles: Sequence[str | Path] = (),
                       base: str | Path | None = DEFAULT_CONFIG_PATH,
                       overrides: dict | None = None) -> dict:
    """The config a ``snakemake --configfile F1 F2 [--config ...]`` run uses, validated.

    Snakemake 9 (``ConfigSettings._get_overwrite_config``, ``Workflow.configfile``): the command
    line's ``--configfile`` files are merged in order into one mapping ``overwrite`` (``--config``
    values, here ``overrides``, last); the workflow's ``config`` starts as a copy of it; the
    Snakefile's ``configfile:`` (``base``, ``config/config.yaml``) is merged into it and then
    ``overwrite`` again, each merge :func:`merge_config`. The schema's defaults and checks follow
    (common.smk calls :func:`validate_config`). ``tests/test_config.py`` compares the result with
    the ``config`` Snakemake itself builds, key by key.

    Raises
    ------
    PhotozConfigError
        If a file cannot be read or the merged config is invalid.
    """
    overwrite: dict = {}
    for one in configfiles:
        merge_config(overwrite, _read_yaml(one))
    merge_config(overwrite, copy.deepcopy(overrides or {}))
    config = copy.deepcopy(overwrite)
    if base:
        merge_config(config, _read_yaml(base))
    merge_config(config, copy.deepcopy(overwrite))
    names = ([str(base)] if base else []) + [str(f) for f in configfiles]
    return validate_config(config, source=f"config {' + '.join(names)}" if names else "config")


