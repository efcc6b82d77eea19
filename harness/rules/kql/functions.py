"""The registry of built-in scalar functions (filled by the builtins_* modules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.rules.kql import syntax as ast
from harness.rules.kql.sqlbase import Binding, Scope

if TYPE_CHECKING:
    from harness.rules.kql.translate import Translator

AGGREGATES = {
    "count", "countif", "dcount", "dcountif", "sum", "sumif", "min", "max", "minif", "maxif", "avg", "avgif",
    "make_set", "make_list", "makeset", "makelist", "arg_max", "arg_min", "any", "take_any", "percentile",
    "stdev", "variance", "make_bag", "make_set_if", "make_list_if", "percentiles", "take_anyif", "anyif",
    "argmax", "argmin", "make_bag_if", "count_distinct", "count_distinctif", "stdevp", "variancep", "makelist_if",
}

Fn = Callable[["Translator", ast.Call, Scope, dict[str, Binding]], tuple[str, str]]
FUNCTIONS: dict[str, Fn] = {}


def fn(*names: str) -> Callable[[Fn], Fn]:
    def deco(f: Fn) -> Fn:
        for n in names:
            FUNCTIONS[n] = f
        return f
    return deco
