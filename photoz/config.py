"""Loading and checking the workflow configuration.

The schema (``workflow/schemas/config.schema.yaml``) types, describes and defaults every key; this
module adds the checks a JSON Schema cannot express and loads a config outside Snakemake (tests,
command line) with the same schema.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import yaml

from photoz.errors import PhotozConfigError

#: The JSON Schema shipped with the workflow, relative to the repository root.
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


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
    """Cross-key checks on a schema-validated config.

    Raises
    ------
    PhotozConfigError
        Naming the key: ``train.networks`` holds hybrid_transfer without mlp and cnn, or
        ``catalog.train_test_ratio`` has a zero side.
    """
    nets = config["train"]["networks"]
    if "hybrid_transfer" in nets and not {"mlp", "cnn"} <= set(nets):
        raise PhotozConfigError(
            "train.networks: hybrid_transfer starts from the trained mlp and cnn; add both to the list"
        )
    if len(set(nets)) != len(nets):
        raise PhotozConfigError(f"train.networks: duplicate entries in {nets}")
    train, test = (int(x) for x in config["catalog"]["train_test_ratio"].split(":"))
    if train == 0 or test == 0:
        raise PhotozConfigError(
            f"catalog.train_test_ratio: {config['catalog']['train_test_ratio']!r} needs both sides > 0"
        )


def load_config(path: str | Path | Sequence[str | Path] | None = None,
                overrides: dict | None = None) -> dict:
    """Read a YAML config, fill the schema's defaults, validate it and run :func:`check_config`.

    Parameters
    ----------
    path : str or Path, or a list of them, optional
        YAML file(s), merged in order (as ``snakemake --configfile a b`` merges them over the
        Snakefile's ``configfile``); ``None`` starts from an empty config (all defaults).
    overrides : dict, optional
        Nested values merged over the file before validation.

    Returns
    -------
    dict
        The full config with every default filled in.

    Raises
    ------
    PhotozConfigError
        If the file cannot be read or a key is unknown or of the wrong type (the message names it).
    """
    paths = [] if path is None else [path] if isinstance(path, (str, Path)) else list(path)
    config: dict = {}
    for one in paths:
        try:
            with open(one, encoding="utf-8") as stream:  # YAML's error marks name the file
                part = yaml.safe_load(stream) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise PhotozConfigError(f"cannot read config file {one}: {exc}") from exc
        if not isinstance(part, dict):
            raise PhotozConfigError(f"config file {one}: the top level must be a mapping of keys")
        _merge(config, part)
    _merge(config, overrides or {})
    source = f"config {' + '.join(map(str, paths))}" if paths else "config"
    return validate_config(config, source=source)


def _merge(base: dict, extra: dict) -> None:
    """Recursively merge ``extra`` into ``base`` in place."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


#: The workflow's default config (Snakefile ``configfile:``), relative to the repository root.
DEFAULT_CONFIG_PATH = SCHEMA_PATH.parents[2] / "config" / "config.yaml"


def load_merged_config(configfiles=(), base: str | Path | None = DEFAULT_CONFIG_PATH) -> dict:
    """The config a ``snakemake --configfile F1 --configfile F2`` run uses, validated.

    ``base`` (``config/config.yaml``) first, then each file of ``configfiles`` merged over it in
    order (nested mappings merged, other values replaced), as Snakemake does; then the schema's
    defaults and checks (:func:`validate_config`).

    Raises
    ------
    PhotozConfigError
        If a file cannot be read or the merged config is invalid.
    """
    return load_config(([base] if base else []) + list(configfiles))
