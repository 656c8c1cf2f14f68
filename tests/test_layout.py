"""The package's layout: no import cycles, every import from the module that defines the name, no
function longer than 80 lines, and one owner of the method names (issue 27).

These walk the source with ``ast`` (nothing is imported), so a cycle hidden in an import inside a
function is found too.
"""

import ast
from pathlib import Path

import pytest
import yaml

from photoz.config import SCHEMA_PATH
from photoz.names import LABELS, METHODS, NETWORKS, PEERS, RAIL_PEERS

PACKAGE = Path(__file__).resolve().parents[1] / "photoz"
#: The longest function body allowed, docstring included (GalSim: 4.6% of its functions exceed 60).
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_module(name: str) -> bool:
    return name in MODULES


def _defined_names(module: str) -> set[str]:
    """Names bound at the top level of ``module`` by def, class or assignment (not by import)."""
    names = set()
    for node in ast.parse(MODULES[module].read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Name):
                        names.add(leaf.id)
    return names


def _imports(module: str):
    """(imported module, name or None, line) for every photoz import of ``module``, at any depth."""
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "photoz":
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                node.module.split(".")[0] == "photoz"):
            for alias in node.names:
                yield node.module, alias.name, node.lineno


def _edges(module: str) -> set[str]:
    """The photoz modules that importing ``module`` runs, its parent packages' excepted."""
    out = set()
    for target, name, _ in _imports(module):
        full = f"{target}.{name}" if name and _is_module(f"{target}.{name}") else target
        parts = full.split(".")
        # importing a.b.c runs a, a.b and a.b.c
        out.update(".".join(parts[:k]) for k in range(1, len(parts) + 1))
    out.discard(module)
    return {m for m in out if _is_module(m)}


def _cycles() -> list[list[str]]:
    graph = {m: _edges(m) for m in MODULES}
    # a package imports its own submodules only through its __init__, which is walked like any
    # module; an edge to a parent package is not an import of the child by the parent
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for m in graph:
        if m not in index:
            visit(m)
    return out


def test_no_import_cycle_not_even_inside_functions():
    assert _cycles() == []


def test_the_cycle_finder_finds_a_cycle(monkeypatch, tmp_path):
    """The check can fail: two modules importing each other (one inside a function) are a cycle."""
    (tmp_path / "a.py").write_text("from photoz.b import g\n")
    (tmp_path / "b.py").write_text("def g():\n    from photoz.a import f\n")
    monkeypatch.setitem(MODULES, "photoz.a", tmp_path / "a.py")
    monkeypatch.setitem(MODULES, "photoz.b", tmp_path / "b.py")
    assert ["photoz.a", "photoz.b"] in _cycles()


def test_every_import_names_the_module_that_defines_it():
    """No re-exports: ``from photoz.x import y`` only where x defines y (or y is a submodule)."""
    bad = []
    for module in MODULES:
        for target, name, line in _imports(module):
            if name is None or not _is_module(target) or _is_module(f"{target}.{name}"):
                continue
            if name not in _defined_names(target):
                bad.append(f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}: {name} "
                           f"is not defined in {target}")
    assert bad == []


def _long_functions(limit: int) -> list[str]:
    out = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    out.append(f"{module}.{node.name}: {length} lines")
    return out


def test_no_function_is_longer_than_80_lines():
    assert _long_functions(MAX_FUNCTION_LINES) == []


def test_the_length_check_sees_long_functions():
    """The check can fail: some functions are longer than 40 lines."""
    assert len(_long_functions(40)) > 10


def test_top_level_modules_are_few():
    """Science by stage in subpackages; at most ~12 flat modules for what several stages share."""
    flat = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert len(flat) <= 12, flat


@pytest.mark.parametrize("key,names", [("train.networks", NETWORKS), ("peers", PEERS)])
def test_the_schema_enums_are_the_method_names(key, names):
    schema = yaml.safe_load(SCHEMA_PATH.read_text())["properties"]
    for part in key.split("."):
        schema = schema[part] if part in schema else schema["properties"][part]
    assert tuple(schema["items"]["enum"]) == names


def test_every_method_has_one_label():
    assert set(LABELS) == set(METHODS) and set(RAIL_PEERS) <= set(PEERS)
    assert len(set(LABELS.values())) == len(LABELS)
