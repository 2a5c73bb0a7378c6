"""The package's layout rules (docs/architecture.md), checked on the source.

Imports are read from the syntax tree, function-level imports and imports under
``TYPE_CHECKING`` included, so a cycle hidden in a function body is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "symreg"
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The symreg modules that ``name`` imports (resolved to modules, not names)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from pkg import module` names a module; `from module import name` a name
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod
                       for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    graph = {m: _imports(m, p, known) for m, p in mods.items()}
    # a package's __init__ re-exports its modules; importing a module of a package
    # does not import the package's siblings, so edges into a package's own
    # __init__ from inside it are not cycles of code
    return {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle():
    assert _cycles(_graph()) == []


@pytest.mark.parametrize("lower, upper", [
    ("symreg.search", "symreg.neural"),
    ("symreg.neural", "symreg.search"),
    ("symreg.search", "symreg.regressor"),
    ("symreg.neural", "symreg.regressor"),
    ("symreg.search", "symreg.plan"),
    ("symreg.neural", "symreg.plan"),
    ("symreg.search", "symreg.app"),
    ("symreg.neural", "symreg.app"),
    ("symreg.regressor", "symreg.app"),
    ("symreg.io", "symreg.regressor"),
    ("symreg.expression", "symreg.search"),
    ("symreg.evaluate", "symreg.search"),
])
def test_imports_point_down(lower, upper):
    graph = _graph()
    bad = sorted((m, t) for m, ts in graph.items() if m == lower or m.startswith(lower + ".")
                 for t in ts if t == upper or t.startswith(upper + "."))
    assert bad == [], f"{lower} must not import {upper}: {bad}"


def test_no_module_over_the_line_limit():
    long = {m: n for m, p in _modules().items()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"


def test_the_checker_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
