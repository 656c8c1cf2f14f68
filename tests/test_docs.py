"""The docs stay true: their commands, make targets, config keys, links and provenance lines.

Checked in README.md, config/README.md and docs/*.md (CHANGELOG.md only for its links: it is
history, and its commands may have changed since):

- every ``python -m photoz ...`` command exists: its ``--help`` runs and lists every option shown;
- every ``make <target>`` is a target of the Makefile;
- every config key they name (``train.learning_rate``, a ``yaml`` block, ``simulate: {...}``) is in
  the schema (photoz/config.schema.yaml);
- every relative link and image resolves to a committed file, and every ``#anchor`` to a heading;
- every table of docs/results.md and docs/performance.md has a provenance line;
- config/README.md's value columns are what tests/config_table.py makes of the schema and
  config/config.yaml;
- every ``docs/<page>.md`` that code, configs or workflow name exists.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml

from photoz.config import SCHEMA_PATH

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted([REPO / "README.md", REPO / "config" / "README.md", *(REPO / "docs").glob("*.md")])
LINKED = [*PAGES, REPO / "CHANGELOG.md"]

# ==============================================================================================
# KNOWN-PENDING ALLOWLIST. Documented features that parallel changes add; remove each entry once
# its change is merged (a test below fails when an entry is no longer pending).
# ==============================================================================================
#: Sub-commands of ``python -m photoz`` (as a tuple of words) the docs show before they exist.
PENDING_COMMANDS: dict[tuple[str, ...], str] = {}
#: (sub-command, option) pairs the docs show before the option exists.
PENDING_OPTIONS: dict[tuple[tuple[str, ...], str], str] = {}
#: Config keys (and their sub-keys) the docs name before the schema has them.
PENDING_KEYS: dict[str, str] = {}
# ==============================================================================================

#: Wrong keys the docs show on purpose, as the example of a refused config.
EXAMPLE_WRONG_KEYS = {"simulate.stampsize"}
SECTIONS = ("catalog", "instrument", "simulate", "photometry", "train", "evaluate", "peer_settings")
FILE_SUFFIXES = {"py", "smk", "yaml", "md", "parquet", "h5", "hdf5", "pt", "csv", "json", "html",
                 "png", "pdf", "svg", "tsv", "pkl", "log", "rst"}
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _fenced(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block."""
    return [(m.group(0).split("\n", 1)[0][3:].strip(), m.group(1)) for m in FENCE.finditer(text)]


def _prose(text: str) -> str:
    """The text without its fenced code blocks."""
    return FENCE.sub("", text)


def _code(text: str) -> list[str]:
    """Every piece of code: the lines of fenced blocks (continuations joined) and inline spans."""
    pieces = []
    for _, body in _fenced(text):
        pieces += body.replace("\\\n", " ").splitlines()
    pieces += INLINE.findall(_prose(text))
    return pieces


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


# ----------------------------------------------------------------------------------------------
# python -m photoz ... and make ...
# ----------------------------------------------------------------------------------------------
def photoz_commands() -> dict[tuple[tuple[str, ...], tuple[str, ...]], str]:
    """(sub-command words, options) of every ``python -m photoz`` command -> the page showing it."""
    found = {}
    for page in PAGES:
        for piece in _code(page.read_text()):
            for match in re.finditer(r"python -m photoz(?=\s|$)([^|`#]*)", piece):
                try:
                    words = shlex.split(match.group(1))
                except ValueError:
                    words = match.group(1).split()
                path: list[str] = []
                for word in words:
                    if word.startswith(("-", "[", "<", "...")) or word.isupper():
                        break
                    path.append(word)
                    if len(path) == 2 or path[0] != "benchmark":
                        break
                options = tuple(sorted({w.split("=")[0] for w in words
                                        if w.startswith("--") and w != "--help"}))
                found[(tuple(path), options)] = _rel(page)
    return found


@cache
def help_text(path: tuple[str, ...]) -> str | None:
    """``python -m photoz <path> --help`` run in this process; None if it does not exit with 0."""
    from photoz.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        try:
            main([*path, "--help"])
        except SystemExit as exc:
            return out.getvalue() if exc.code in (0, None) else None
    return out.getvalue()


COMMANDS = photoz_commands()


@pytest.mark.parametrize("path, options", sorted(COMMANDS), ids=lambda v: " ".join(v) or "-")
def test_every_photoz_command_in_the_docs_exists(path, options):
    where = COMMANDS[(path, options)]
    text = help_text(path)
    if text is None:
        assert path in PENDING_COMMANDS, (
            f"{where}: `python -m photoz {' '.join(path)} --help` fails (not a command)")
        pytest.skip(f"known pending: {PENDING_COMMANDS[path]}")
    missing = [o for o in options if o not in text and (path, o) not in PENDING_OPTIONS]
    assert not missing, f"{where}: `python -m photoz {' '.join(path)}` has no option {missing}"


def test_the_pending_commands_are_still_pending():
    """Remove an entry from the allowlist at the top of this file once its change is merged."""
    landed = [p for p in PENDING_COMMANDS if help_text(p) is not None]
    landed += [f"{' '.join(p)} {o}" for p, o in PENDING_OPTIONS
               if help_text(p) is not None and o in help_text(p)]
    assert not landed, f"now in the code, remove from the PENDING allowlists: {landed}"


def makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", text, re.M))


def test_every_make_target_in_the_docs_exists():
    targets = makefile_targets()
    assert {"run", "test"} <= targets
    bad = []
    for page in PAGES:
        for piece in _code(page.read_text()):
            piece = re.sub(r"(^|\s)#.*$", "", piece)  # a shell comment is prose
            for target in re.findall(r"(?:^|[\s;&|(])make ([a-z][\w-]*)", piece):
                if target not in targets:
                    bad.append(f"{_rel(page)}: make {target}")
    assert not bad, f"not a Makefile target: {bad}"


# ----------------------------------------------------------------------------------------------
# Config keys
# ----------------------------------------------------------------------------------------------
@cache
def _schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def in_schema(key: str) -> bool:
    node = _schema()
    for part in key.split("."):
        props = node.get("properties")
        if not props or part not in props:
            return False
        node = props[part]
    return True


def _pending(key: str) -> bool:
    return any(key == p or key.startswith(p + ".") for p in PENDING_KEYS)


def _flatten(mapping: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in mapping.items():
        where = f"{prefix}.{key}" if prefix else str(key)
        keys.append(where)
        if isinstance(value, dict) and in_schema(where) and \
                "properties" in _node(where):
            keys += _flatten(value, where)
    return keys


def _node(key: str) -> dict:
    node = _schema()
    for part in key.split("."):
        node = node["properties"][part]
    return node


def named_keys(text: str) -> set[str]:
    """The config keys a page names: dotted keys and mappings in inline code, yaml blocks."""
    keys: set[str] = set()
    top = set(_schema()["properties"])
    dotted = re.compile(rf"^((?:{'|'.join(SECTIONS)})(?:\.[A-Za-z0-9_]+)+)")
    for span in INLINE.findall(_prose(text)):
        match = dotted.match(span)
        if match and match.group(1).rsplit(".", 1)[-1] not in FILE_SUFFIXES:
            keys.add(match.group(1))
        elif re.match(r"^[a-z_]+: ", span):
            try:
                loaded = yaml.safe_load(span)
            except yaml.YAMLError:
                continue
            if isinstance(loaded, dict) and set(loaded) <= top:
                keys |= set(_flatten(loaded))
    for lang, body in _fenced(text):
        if lang != "yaml":
            continue
        loaded = yaml.safe_load(body)
        if isinstance(loaded, dict) and set(loaded) & top:
            keys |= set(_flatten(loaded))
    return keys


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_config_key_the_docs_name_is_in_the_schema(page):
    unknown = sorted(k for k in named_keys(page.read_text())
                     if not in_schema(k) and not _pending(k) and k not in EXAMPLE_WRONG_KEYS)
    assert not unknown, f"{_rel(page)} names config keys the schema lacks: {unknown}"


def test_the_pending_keys_are_still_pending():
    """Remove an entry from PENDING_KEYS at the top of this file once its change is merged."""
    landed = [k for k in PENDING_KEYS if in_schema(k)]
    assert not landed, f"now in the schema, remove from PENDING_KEYS: {landed}"


def test_the_key_check_sees_a_wrong_key():
    text = "Set `train.learning_rat` or\n\n```yaml\nsimulate:\n  stampsize: 32\n```\n"
    assert {"train.learning_rat", "simulate.stampsize"} <= named_keys(text)
    assert not in_schema("train.learning_rat") and in_schema("train.learning_rate")


# ----------------------------------------------------------------------------------------------
# Links
# ----------------------------------------------------------------------------------------------
@cache
def tracked() -> set[str] | None:
    """Paths git tracks (None outside a git checkout: then existence is enough)."""
    try:
        out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return set(out.splitlines())


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in _prose(path.read_text()).splitlines():
        match = re.match(r"^#{1,6} (.*)", line)
        if match:
            base = slug(match.group(1))
            n = seen.get(base, 0)
            out.add(base if n == 0 else f"{base}-{n}")
            seen[base] = n + 1
    return out


def broken_links(page: Path, text: str | None = None) -> list[str]:
    """The links of ``page`` (its ``text``, read when None) that do not resolve."""
    bad = []
    files = tracked()
    text = page.read_text() if text is None else text
    for target in LINK.findall(_prose(text)):
        if re.match(r"^[a-z]+:", target):
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        rel = dest.relative_to(REPO).as_posix() if dest.is_relative_to(REPO) else None
        if rel is None or not dest.exists():
            bad.append(f"{target}: no such file")
        elif files is not None and dest.is_file() and rel not in files:
            bad.append(f"{target}: not committed")
        elif files is not None and dest.is_dir() and not any(f.startswith(rel + "/") for f in files):
            bad.append(f"{target}: no committed file inside")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading #{anchor}")
    return bad


@pytest.mark.parametrize("page", LINKED, ids=_rel)
def test_every_relative_link_resolves_to_a_committed_file(page):
    bad = broken_links(page)
    assert not bad, f"{_rel(page)}: {bad}"


def test_the_link_check_sees_a_broken_link():
    assert slug("The paper's size, offline: Table 2") == "the-papers-size-offline-table-2"
    text = ("[x](no_such_page.md) [y](usage.md#no-such-heading) [z](https://example.org) "
            "[w](usage.md#deep-ensembles) ![v](images/rulegraph.svg)")
    assert broken_links(REPO / "docs" / "index.md", text) == [
        "no_such_page.md: no such file", "usage.md#no-such-heading: no heading #no-such-heading"]


def test_every_docs_page_the_repository_names_exists():
    """Code, configs and workflow name docs pages (docstrings, error messages, comments)."""
    names = tracked() or set()
    bad = []
    for rel in sorted(names):
        if rel in ("CHANGELOG.md", "tests/test_docs.py") or not rel.endswith(
                (".py", ".smk", ".yaml", ".yml", ".md", ".rst", ".toml", ".sh", "Makefile",
                 "Snakefile", "run")):
            continue
        text = (REPO / rel).read_text(errors="replace")
        for page in set(re.findall(r"\bdocs/[\w/.-]+?\.md\b", text)):
            if not (REPO / page).is_file():
                bad.append(f"{rel}: {page}")
    assert not bad, f"names a docs page that does not exist: {bad}"


# ----------------------------------------------------------------------------------------------
# Provenance, and config/README.md's generated columns
# ----------------------------------------------------------------------------------------------
def tables_without_provenance(text: str) -> list[str]:
    """The first line of every table not followed (within 8 lines) by a provenance line."""
    lines = _prose(text).splitlines()
    bad, i = [], 0
    while i < len(lines):
        if lines[i].startswith("|"):
            first = lines[i]
            while i < len(lines) and lines[i].startswith("|"):
                i += 1
            after = lines[i:i + 8]
            stop = next((k for k, line in enumerate(after)
                         if line.startswith(("|", "#"))), len(after))
            if not any(line.startswith("*Provenance:*") for line in after[:stop]):
                bad.append(first[:80])
        else:
            i += 1
    return bad


@pytest.mark.parametrize("name", ["docs/results.md", "docs/performance.md"])
def test_every_table_of_numbers_has_a_provenance_line(name):
    bad = tables_without_provenance((REPO / name).read_text())
    assert not bad, f"{name}: tables without a '*Provenance:*' line after them: {bad}"


def test_the_provenance_check_sees_a_table_without_one():
    text = "| a |\n|---|\n| 1 |\n\n*Provenance:* here\n\n| b |\n|---|\n| 2 |\n\nText.\n"
    assert tables_without_provenance(text) == ["| b |"]


def test_config_readme_value_columns_are_the_schema_and_the_default_config():
    import importlib.util

    spec = importlib.util.spec_from_file_location("config_table", REPO / "tests" / "config_table.py")
    config_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config_table)
    text = (REPO / "config" / "README.md").read_text()
    assert config_table.render(text) == text, (
        "config/README.md's key table is stale: run `python tests/config_table.py`")


PLACEHOLDER = re.compile(r"<!--\s*(NUMBER|MERGE)\b")


def placeholders(text: str) -> list[int]:
    """Line numbers of the ``<!-- NUMBER ... -->`` / ``<!-- MERGE ... -->`` markers in ``text``."""
    return [i for i, line in enumerate(text.splitlines(), 1) if PLACEHOLDER.search(line)]


@pytest.mark.parametrize("page", LINKED, ids=lambda p: str(p.relative_to(REPO)))
def test_no_page_keeps_a_placeholder_for_a_number(page):
    """Every number the docs promise was measured and written in: no NUMBER or MERGE marker left."""
    found = placeholders(page.read_text(encoding="utf-8"))
    assert not found, f"{page.relative_to(REPO)}: placeholder on lines {found}"


def test_the_placeholder_check_sees_one():
    assert placeholders("| MLP | <!-- NUMBER: mean --> |\nok\n<!-- MERGE: x -->") == [1, 3]
    assert placeholders("<!-- a comment -->") == []
