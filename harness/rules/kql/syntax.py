"""KQL lexer, abstract syntax tree and recursive-descent parser.

Every node carries the 1-based line and column where it starts, so the semantic checker and the
translator can report errors the way Kusto does (``line:column``). The parser covers the query
language the engine implements; anything it does not know is a syntax error or an
:class:`~harness.errors.UnsupportedError`, never silently skipped.
"""

from __future__ import annotations

from harness.rules.kql.nodes import (
    _LIST_OPS as _LIST_OPS,
)
from harness.rules.kql.nodes import (
    _PLAIN_OPS as _PLAIN_OPS,
)
from harness.rules.kql.nodes import (
    SCALAR_TYPES as SCALAR_TYPES,
)
from harness.rules.kql.nodes import (
    AnyColumn as AnyColumn,
)
from harness.rules.kql.nodes import (
    Assign as Assign,
)
from harness.rules.kql.nodes import (
    Between as Between,
)
from harness.rules.kql.nodes import (
    Bin as Bin,
)
from harness.rules.kql.nodes import (
    Call as Call,
)
from harness.rules.kql.nodes import (
    Datatable as Datatable,
)
from harness.rules.kql.nodes import (
    Expr as Expr,
)
from harness.rules.kql.nodes import (
    ExternalData as ExternalData,
)
from harness.rules.kql.nodes import (
    Find as Find,
)
from harness.rules.kql.nodes import (
    FuncSource as FuncSource,
)
from harness.rules.kql.nodes import (
    FunctionDef as FunctionDef,
)
from harness.rules.kql.nodes import (
    Index as Index,
)
from harness.rules.kql.nodes import (
    InList as InList,
)
from harness.rules.kql.nodes import (
    Let as Let,
)
from harness.rules.kql.nodes import (
    Lit as Lit,
)
from harness.rules.kql.nodes import (
    Member as Member,
)
from harness.rules.kql.nodes import (
    Name as Name,
)
from harness.rules.kql.nodes import (  # the AST is reached as syntax.<Node>
    Node as Node,
)
from harness.rules.kql.nodes import (
    Op as Op,
)
from harness.rules.kql.nodes import (
    OpParams as OpParams,
)
from harness.rules.kql.nodes import (
    Param as Param,
)
from harness.rules.kql.nodes import (
    Print as Print,
)
from harness.rules.kql.nodes import (
    Query as Query,
)
from harness.rules.kql.nodes import (
    Range as Range,
)
from harness.rules.kql.nodes import (
    Script as Script,
)
from harness.rules.kql.nodes import (
    Search as Search,
)
from harness.rules.kql.nodes import (
    SortKey as SortKey,
)
from harness.rules.kql.nodes import (
    Source as Source,
)
from harness.rules.kql.nodes import (
    Star as Star,
)
from harness.rules.kql.nodes import (
    TableRef as TableRef,
)
from harness.rules.kql.nodes import (
    TabularArg as TabularArg,
)
from harness.rules.kql.nodes import (
    ToScalar as ToScalar,
)
from harness.rules.kql.nodes import (
    Unary as Unary,
)
from harness.rules.kql.nodes import (
    Union as Union,
)
from harness.rules.kql.parse_operators import OperatorParser


class Parser(OperatorParser):
    """Recursive-descent parser for a KQL script (``let`` statements then one tabular query)."""


def parse(text: str, path: str = "<query>") -> Script:
    """Parse a KQL script; raises :class:`RuleError` with line:column on bad syntax."""
    return Parser(text, path).parse_script()
