"""The import layers of harness/: no package imports one above it, and no module cycle at run time.

The order is read from docs/ARCHITECTURE.md (its "## Layers" block), so it is written in one place.
Every import counts for the layers, lazy ones inside functions and ``TYPE_CHECKING`` ones included;
cycles are counted on run-time imports (a ``TYPE_CHECKING`` import is how a mixin names its host
class for mypy without importing it).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HARNESS = REPO / "harness"
ARCHITECTURE = REPO / "docs" / "ARCHITECTURE.md"


def layer_order(text: str) -> list[str]:
    """The packages, top layer first, from the ```text block under "## Layers"."""
    m = re.search(r"^## Layers\n.*?^```text\n(.*?)^```", text, re.M | re.S)
    if m is None:
        raise AssertionError(f"{ARCHITECTURE}: no ```text block under '## Layers'")
    return [w for line in m.group(1).splitlines() for w in re.findall(r"[a-z_]+", line.split("#")[0])]


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return out


def imports(path: Path, modules: set[str]) -> list[tuple[str, int, bool]]:
    """(imported harness module, line, run time?) for every import in ``path``."""
    mod = _module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    typing_only = _type_checking_nodes(tree)
    out: list[tuple[str, int, bool]] = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name.startswith("harness") and name != mod and not mod.startswith(name + "."):
                out.append((name, node.lineno, id(node) not in typing_only))
    return out


def _graph() -> dict[str, list[tuple[str, int, bool]]]:
    files = sorted(HARNESS.rglob("*.py"))
    modules = {_module_name(f) for f in files}
    return {_module_name(f): imports(f, modules) for f in files}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "harness"


def test_no_package_imports_a_layer_above_it() -> None:
    order = layer_order(ARCHITECTURE.read_text(encoding="utf-8"))
    rank = {name: i for i, name in enumerate(order)}
    graph = _graph()
    unplaced = sorted({_package(m) for m in graph} - set(rank))
    assert not unplaced, f"packages missing from the layer order in {ARCHITECTURE}: {unplaced}"
    offenders = [
        f"harness/{m.replace('.', '/')}:{line}: {_package(m)} imports {target} ({_package(target)} is above it)"
        for m, edges in sorted(graph.items())
        for target, line, _ in edges
        if rank[_package(target)] < rank[_package(m)]
    ]
    assert not offenders, "upward imports:\n" + "\n".join(offenders)


def cycles(graph: dict[str, list[tuple[str, int, bool]]]) -> list[list[str]]:
    """Strongly connected components of more than one module (run-time imports only)."""
    edges = {m: sorted({t for t, _, runtime in e if runtime}) for m, e in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan; the package graph is shallow, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert cycles(_graph()) == []


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    """The walkers see lazy, relative and TYPE_CHECKING imports, and find a cycle."""
    pkg = tmp_path / "harness" / "low"
    pkg.mkdir(parents=True)
    (tmp_path / "harness" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from harness.top import x\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nfrom . import a\nif TYPE_CHECKING:\n"
                              "    from harness.low import c\n")
    (pkg / "c.py").write_text("from harness.low.b import y\n")
    modules = {"harness", "harness.low", "harness.low.a", "harness.low.b", "harness.low.c", "harness.top"}
    global REPO
    saved, REPO = REPO, tmp_path
    try:
        assert imports(pkg / "a.py", modules) == [("harness.top", 2, True)]
        assert imports(pkg / "b.py", modules) == [("harness.low.a", 2, True), ("harness.low.c", 4, False)]
        graph = {m: imports(tmp_path / (m.replace(".", "/") + ".py"), modules)
                 for m in ("harness.low.a", "harness.low.b", "harness.low.c")}
        assert cycles(graph) == []  # b -> c only for mypy
        graph["harness.low.b"].append(("harness.low.c", 5, True))
        assert cycles(graph) == [["harness.low.b", "harness.low.c"]]
    finally:
        REPO = saved
    with pytest.raises(AssertionError, match="no ```text block"):
        layer_order("# Architecture\n")
    assert layer_order("## Layers\n```text\ncli plugin   # front ends\nerrors\n```\n") == ["cli", "plugin", "errors"]
