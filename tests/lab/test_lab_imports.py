"""Labs describe what to collect (harness.collection) and never import the telemetry layer or the views."""

from __future__ import annotations

import ast
from pathlib import Path

LAB = Path(__file__).resolve().parents[2] / "harness" / "lab"
FORBIDDEN = ("harness.telemetry", "harness.views")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_no_lab_module_imports_telemetry_or_views() -> None:
    bad = [f"{p.relative_to(LAB.parent.parent)}:{line}: {name}"
           for p in sorted(LAB.rglob("*.py")) for line, name in _imports(p)
           if name.startswith(FORBIDDEN)]
    assert not bad, "lab modules importing telemetry/views:\n  " + "\n  ".join(bad)
    assert len(list(LAB.rglob("*.py"))) > 20  # the walk saw the lab's modules
