"""KQL abstract syntax tree: every node carries the line and column where it starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from harness.rules.kql.tokens import Token


@dataclass(frozen=True)
class Node:
    line: int
    col: int


# Scalar expressions
@dataclass(frozen=True)
class Lit(Node):
    value: Any
    type: str  # string, long, int, real, bool, datetime, timespan, dynamic, null(type) ...


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class Call(Node):
    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Star(Node):
    pass


@dataclass(frozen=True)
class Bin(Node):
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Expr


@dataclass(frozen=True)
class Member(Node):
    obj: Expr
    name: str


@dataclass(frozen=True)
class Index(Node):
    obj: Expr
    index: Expr


@dataclass(frozen=True)
class InList(Node):
    op: str  # in, !in, in~, !in~, has_any, has_all, has_any_cs...
    left: Expr
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Between(Node):
    negated: bool
    left: Expr
    low: Expr
    high: Expr


@dataclass(frozen=True)
class ToScalar(Node):
    query: Query


@dataclass(frozen=True)
class TabularArg(Node):
    """A tabular expression used as a function argument (user-defined tabular functions)."""

    query: Query


@dataclass(frozen=True)
class AnyColumn(Node):
    """``* has "x"`` (and a bare search term): the test on any column of the input."""

    op: str
    needle: str


Expr = (Lit | Name | Call | Star | Bin | Unary | Member | Index | InList | Between | ToScalar | TabularArg
        | AnyColumn)


@dataclass(frozen=True)
class Assign(Node):
    """``name = expr`` or a bare ``expr`` (name None) in project/extend/summarize/print."""

    names: tuple[str, ...]
    expr: Expr


@dataclass(frozen=True)
class SortKey(Node):
    expr: Expr
    desc: bool
    nulls_first: bool | None


# Tabular sources and operators
@dataclass(frozen=True)
class TableRef(Node):
    name: str


@dataclass(frozen=True)
class FuncSource(Node):
    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Datatable(Node):
    columns: tuple[tuple[str, str], ...]
    values: tuple[Expr, ...]


@dataclass(frozen=True)
class Print(Node):
    items: tuple[Assign, ...]


@dataclass(frozen=True)
class Range(Node):
    column: str
    start: Expr
    stop: Expr
    step: Expr


@dataclass(frozen=True)
class Union(Node):
    kind: str
    withsource: str | None
    isfuzzy: bool
    sources: tuple[Query, ...]


@dataclass(frozen=True)
class Op(Node):
    """A pipe operator: ``name`` is the KQL operator (``where``, ``project-away``...)."""

    name: str
    params: OpParams = field(default_factory=lambda: OpParams(), hash=False, compare=False)


#: one piece of a ``parse ... with`` pattern: ("lit", text), ("star", None) or ("col", (name, type, token))
ParsePart = tuple[str, "str | tuple[str, str, Token] | None"]


class OpParams(TypedDict, total=False):
    """A pipe operator's parameters; each operator sets its own (the parser in parse_operators.py)."""

    pred: Expr                          # where
    items: list[Assign]                 # extend, project, distinct, serialize
    all_columns: bool                   # distinct *
    names: list[tuple[str, Token]]      # project-away, project-keep, project-reorder
    pairs: list[tuple[str, str, Token]]  # project-rename: (new, old, token)
    keys: list[SortKey]                 # sort, top
    n: Expr                             # top, take, top-nested
    union: Union                        # union
    name: str                           # as, invoke
    args: list[Expr]                    # invoke, evaluate plugins
    tok: Name                           # invoke: the function's name (for error locations)
    named: dict[str, Expr]              # evaluate plugins: named arguments
    schema: list[tuple[str, str]] | None  # evaluate plugins: the output schema
    search: Search                      # search
    column: tuple[str, Name]            # top-nested, partition
    agg: Assign                         # top-nested
    desc: bool                          # top-nested
    inner: Op                           # partition
    aggs: list[Assign]                  # summarize
    by: list[Assign]                    # summarize
    kind: str                           # join, lookup, parse
    right: Query                        # join, lookup
    on: list[Expr]                      # join, lookup
    bagexpansion: str                   # mv-expand, mv-apply (kind= or bagexpansion=)
    limit: Expr | None                  # mv-expand, mv-apply
    with_itemindex: str                 # mv-expand, mv-apply
    expand: list[tuple[Assign, str | None]]  # mv-expand, mv-apply: (item, to typeof(T))
    subquery: tuple[Op, ...]            # mv-apply
    src: Expr                           # parse
    parts: list[ParsePart]              # parse
    flags: str                          # parse


@dataclass(frozen=True)
class Query(Node):
    source: Source
    ops: tuple[Op, ...]


@dataclass(frozen=True)
class Param(Node):
    name: str
    type: str  # scalar type, or "tabular"
    default: Expr | None


@dataclass(frozen=True)
class FunctionDef(Node):
    params: tuple[Param, ...]
    body: tuple[Let, ...]
    result: Query | Expr


@dataclass(frozen=True)
class Let(Node):
    name: str
    value: Query | Expr | FunctionDef


@dataclass(frozen=True)
class Script(Node):
    lets: tuple[Let, ...]
    query: Query | None

@dataclass(frozen=True)
class ExternalData(Node):
    columns: tuple[tuple[str, str], ...]
    urls: tuple[str, ...]
    props: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Search(Node):
    """``search [kind=...] [in (T, ...)] predicate`` as a source (sources None: every table)."""

    case_sensitive: bool
    sources: tuple[Query, ...] | None
    pred: Expr


@dataclass(frozen=True)
class Find(Node):
    withsource: str
    sources: tuple[Query, ...] | None
    pred: Expr
    project: tuple[tuple[str, str | None], ...] | None  # None: project-smart


SCALAR_TYPES = {
    "string": "string", "long": "long", "int": "int", "int64": "long", "int32": "int", "real": "real",
    "double": "real", "bool": "bool", "boolean": "bool", "datetime": "datetime", "date": "datetime",
    "timespan": "timespan", "time": "timespan", "dynamic": "dynamic", "guid": "guid", "decimal": "real",
}

_LIST_OPS = {"in", "!in", "in~", "!in~", "has_any", "has_all", "has_any_cs", "has_all_cs"}

_PLAIN_OPS = {
    "where", "filter", "extend", "project", "project-away", "project-keep", "project-rename",
    "project-reorder", "sort", "order", "top", "take", "limit", "distinct", "count", "summarize",
    "join", "lookup", "union", "mv-expand", "mvexpand", "parse", "serialize", "as", "getschema",
    "sample", "invoke", "evaluate", "make-series", "top-nested", "mv-apply", "render", "search",
    "parse-where", "top-hitters", "fork", "facet", "partition", "scan", "find", "reduce",
    "extend-by", "sample-distinct", "consume", "externaldata",
}


#: what a query reads from (the first part before the pipes)
Source = TableRef | FuncSource | Datatable | Print | Range | Union | Query | Search | Find | ExternalData
