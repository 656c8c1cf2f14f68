"""The key table of config/README.md, generated from the schema and config/config.yaml.

Every row's *default* column is the schema's default (``photoz/config.schema.yaml``) and its
*config/config.yaml* column the value the default run uses (``config/config.yaml`` merged over the
schema's defaults, as :func:`photoz.config.load_merged_config` builds it), in bold where the two
differ. The *type* and *meaning* columns are kept as written in config/README.md; a key the table
lacks gets a row with the schema's type and description, and a row whose key left the schema is
dropped. ``tests/test_docs.py`` checks that the file is what :func:`render` makes of it, so the
columns cannot drift from the files.

    python tests/config_table.py      # rewrite config/README.md's key table in place
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / "config" / "README.md"
HEADER = ("| key | type | default | `config/config.yaml` | meaning |\n"
          "|---|---|---|---|---|\n")
#: A row of the table: key (bold for a section), then the cells between pipes.
ROW = re.compile(r"^\| (\*\*)?`(?P<key>[^`]+)`(\*\*)? \|(?P<cells>.*)\|\s*$")


def schema_keys(schema: dict | None = None) -> list[tuple[str, dict]]:
    """Every key of the schema in its order, dotted, with its schema node."""
    if schema is None:
        from photoz.config import SCHEMA_PATH

        schema = yaml.safe_load(SCHEMA_PATH.read_text())
    out: list[tuple[str, dict]] = []

    def walk(node: dict, path: str) -> None:
        for key, sub in node.get("properties", {}).items():
            where = f"{path}.{key}" if path else key
            out.append((where, sub))
            if sub.get("type") == "object":
                walk(sub, where)

    walk(schema, "")
    return out


def fmt(value) -> str:
    """A value as YAML-like inline code: strings quoted, lists and numbers as JSON writes them."""
    return f"`{json.dumps(value)}`"


def _lookup(config: dict, key: str):
    node = config
    for part in key.split("."):
        node = node[part]
    return node


def _old_rows(text: str) -> dict[str, tuple[str, str]]:
    """Key -> (type, meaning) of the rows already in the table (4 or 5 cells)."""
    rows = {}
    for line in text.splitlines():
        match = ROW.match(line)
        if match:
            cells = [c.strip() for c in match["cells"].split(" | ")]
            if len(cells) >= 3:
                rows[match["key"]] = (cells[0], cells[-1])
    return rows


def _type_of(node: dict) -> str:
    kind = node.get("type")
    if kind == "object":
        return "section"
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    return str(kind)


def table(text: str) -> str:
    """The key table for config/README.md, keeping the type and meaning of the rows in ``text``."""
    from photoz.config import default_config, load_merged_config

    old = _old_rows(text)
    defaults, used = default_config(), load_merged_config()
    lines = [HEADER]
    for key, node in schema_keys():
        kind, meaning = old.get(key, (_type_of(node), " ".join(str(node["description"]).split())))
        if node.get("type") == "object":
            lines.append(f"| **`{key}`** | section | | | {meaning} |\n")
            continue
        default, value = _lookup(defaults, key), _lookup(used, key)
        mine = fmt(value) if value == default else f"**{fmt(value)}**"
        lines.append(f"| `{key}` | {kind} | {fmt(default)} | {mine} | {meaning} |\n")
    return "".join(lines)


def render(text: str) -> str:
    """config/README.md's text with its key table (the first table after '## Keys') regenerated."""
    start = text.index("## Keys")
    begin = text.index("\n|", start) + 1
    end = begin
    while end < len(text) and text.startswith("|", end):
        end = text.index("\n", end) + 1
    return text[:begin] + table(text) + text[end:]


def main() -> int:
    text = README.read_text()
    new = render(text)
    if new != text:
        README.write_text(new)
        print(f"rewrote the key table of {README.relative_to(REPO)}")
    else:
        print(f"{README.relative_to(REPO)} is up to date")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
