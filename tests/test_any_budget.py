"""``Any`` in harness/'s annotations only goes down.

``Any`` stays where a value is really arbitrary JSON (an event's fields, a Defender row, a manifest
read back, YAML) or an untyped library's object; everywhere else a seam has a real type (the view
events, run records and KQL operator parameters are TypedDicts). This counts ``Any`` in function
signatures and annotated assignments; the budget is the count when it was last lowered, so a new
``Any`` fails here unless one goes elsewhere (lower BUDGET when you remove some).
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1] / "harness"
#: 412 when the typed seams began (2026-12-04); 313 after them; 297 once the evidence named its JSON
#: documents (harness/evidence/document.py: still arbitrary JSON, checked by the JSON Schemas instead)
BUDGET = 296


def _anys(annotation: ast.expr) -> int:
    n = 0
    for node in ast.walk(annotation):
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
        if name == "Any":
            n += 1
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):  # a quoted annotation
            n += _anys(ast.parse(node.value, mode="eval").body) if "Any" in node.value else 0
    return n


def count_any(path: Path) -> int:
    total = 0
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        annotations: list[ast.expr] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            a = node.args
            params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *(x for x in (a.vararg, a.kwarg) if x)]
            annotations += [p.annotation for p in params if p.annotation is not None]
            annotations += [node.returns] if node.returns is not None else []
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        total += sum(_anys(x) for x in annotations)
    return total


def test_any_in_annotations_stays_within_budget() -> None:
    per_file = Counter({str(p.relative_to(HARNESS.parent)): n for p in sorted(HARNESS.rglob("*.py"))
                        if (n := count_any(p))})
    total = sum(per_file.values())
    top = ", ".join(f"{f} {n}" for f, n in per_file.most_common(10))
    assert total <= BUDGET, f"{total} Any in annotations (budget {BUDGET}); most in: {top}"


def test_the_counter_sees_signatures_attributes_and_quoted_annotations(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("from typing import Any\nimport typing\n"
                   "def f(a: Any, *b: Any, c: dict[str, Any] = {}, **d: 'list[Any]') -> typing.Any: ...\n"
                   "x: Any = 1\nclass C:\n    y: 'Any'\n    z: int = 0\n")
    assert count_any(src) == 7
