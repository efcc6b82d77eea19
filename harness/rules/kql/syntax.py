"""KQL lexer, abstract syntax tree and recursive-descent parser.

Every node carries the 1-based line and column where it starts, so the semantic checker and the
translator can report errors the way Kusto does (``line:column``). The parser covers the query
language the engine implements; anything it does not know is a syntax error or an
:class:`~harness.errors.UnsupportedError`, never silently skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from harness.errors import RuleError, SourceLocation, UnsupportedError

# --------------------------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    kind: str  # ident, string, number, timespan, op, eof
    text: str
    value: Any
    line: int
    col: int


_TIMESPAN_UNITS = {
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "m": 60.0, "min": 60.0, "minute": 60.0, "minutes": 60.0,
    "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0,
    "ms": 1e-3, "milli": 1e-3, "millis": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3,
    "microsecond": 1e-6, "microseconds": 1e-6, "tick": 1e-7, "ticks": 1e-7,
}
_NUM_RE = re.compile(
    r"(?:0x[0-9a-fA-F]+)|(?:(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)"
    r"(?:(milliseconds|millisecond|microseconds|microsecond|minutes|minute|seconds|second|hours|hour|"
    r"days|day|millis|milli|ticks|tick|hrs|hr|min|sec|ms|d|h|m|s)(?![A-Za-z0-9_]))?"
)
_OPS = [
    "!contains_cs", "!startswith_cs", "!endswith_cs", "!has_cs", "!contains", "!startswith", "!endswith",
    "!has", "!in~", "!in", "!between", "!hasprefix", "!hassuffix",
    "==", "!=", "<>", "=~", "!~", "<=", ">=", "=>", "..", "<", ">", "=", "+", "-", "*", "/", "%",
    "(", ")", "[", "]", "{", "}", ",", ";", "|", ".", ":", "!", "$", "@", "~",
]


def _err(msg: str, line: int, col: int, path: str) -> RuleError:
    return RuleError(msg, SourceLocation(path, line, col))


def tokenize(text: str, path: str = "<query>") -> list[Token]:
    """Split KQL text into tokens; comments and whitespace are dropped."""
    toks: list[Token] = []
    i, line, lstart = 0, 1, 0
    n = len(text)
    while i < n:
        c = text[i]
        col = i - lstart + 1
        if c == "\n":
            i += 1
            line += 1
            lstart = i
            continue
        if c in " \t\r\f\ufeff":
            i += 1
            continue
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
            continue
        # Multi-line string literal ```...```
        if text.startswith("```", i):
            end = text.find("```", i + 3)
            if end < 0:
                raise _err("unterminated ``` string literal", line, col, path)
            s = text[i + 3 : end]
            toks.append(Token("string", text[i : end + 3], s, line, col))
            for ch in text[i:end + 3]:
                if ch == "\n":
                    line += 1
            i = end + 3
            lstart = text.rfind("\n", 0, i) + 1
            continue
        # String literals, with optional verbatim (@) or obfuscation (h/H) prefixes
        m = re.match(r"(?:[hH]@?|@[hH]?)?(['\"])", text[i:])
        if m:
            verbatim = "@" in m.group(0)
            q = m.group(1)
            j = i + len(m.group(0))
            buf: list[str] = []
            while True:
                if j >= n or text[j] == "\n":
                    raise _err("unterminated string literal", line, col, path)
                ch = text[j]
                if ch == q:
                    if verbatim and j + 1 < n and text[j + 1] == q:
                        buf.append(q)
                        j += 2
                        continue
                    j += 1
                    break
                if ch == "\\" and not verbatim:
                    nx = text[j + 1] if j + 1 < n else ""
                    esc = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
                    if nx in esc:
                        buf.append(esc[nx])
                        j += 2
                        continue
                    if nx == "u" and re.match(r"[0-9a-fA-F]{4}", text[j + 2 : j + 6]):
                        buf.append(chr(int(text[j + 2 : j + 6], 16)))
                        j += 6
                        continue
                    buf.append("\\" + nx)
                    j += 2
                    continue
                buf.append(ch)
                j += 1
            toks.append(Token("string", text[i:j], "".join(buf), line, col))
            i = j
            continue
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit() and not text.startswith("..", i)):
            m2 = _NUM_RE.match(text, i)
            assert m2 is not None
            lit = m2.group(0)
            unit = m2.group(1)
            numtxt = lit[: len(lit) - len(unit)] if unit else lit
            # "1..2" is a range, not the number "1."
            if numtxt.endswith(".") and text.startswith("..", i + len(numtxt) - 1):
                numtxt = numtxt[:-1]
                lit = numtxt
                unit = None
            if unit:
                toks.append(Token("timespan", lit, float(numtxt) * _TIMESPAN_UNITS[unit], line, col))
            elif numtxt.lower().startswith("0x"):
                toks.append(Token("number", lit, int(numtxt, 16), line, col))
            elif re.fullmatch(r"\d+", numtxt):
                toks.append(Token("number", lit, int(numtxt), line, col))
            else:
                toks.append(Token("number", lit, float(numtxt), line, col))
            i += len(lit)
            continue
        if c.isalpha() or c == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            word = text[i:j]
            toks.append(Token("ident", word, word, line, col))
            i = j
            continue
        for op in _OPS:
            if text.startswith(op, i):
                # "!in" must not swallow "!instr..." style identifiers; words after ! are checked
                if op[0] == "!" and op[1:2].isalpha():
                    after = text[i + len(op) : i + len(op) + 1]
                    if after.isalnum() or after == "_":
                        continue
                toks.append(Token("op", op, op, line, col))
                i += len(op)
                break
        else:
            raise _err(f"unexpected character {c!r}", line, col, path)
    toks.append(Token("eof", "", None, line, i - lstart + 1))
    return toks


# ----------------------------------------------------------------------------------------------- AST


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


Expr = Lit | Name | Call | Star | Bin | Unary | Member | Index | InList | Between | ToScalar | TabularArg


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
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Query(Node):
    source: Any  # TableRef | FuncSource | Datatable | Print | Range | Union | Query
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


# ---------------------------------------------------------------------------------------------- parser

SCALAR_TYPES = {
    "string": "string", "long": "long", "int": "int", "int64": "long", "int32": "int", "real": "real",
    "double": "real", "bool": "bool", "boolean": "bool", "datetime": "datetime", "date": "datetime",
    "timespan": "timespan", "time": "timespan", "dynamic": "dynamic", "guid": "guid", "decimal": "real",
}

_STRING_OPS = {
    "has", "!has", "has_cs", "!has_cs", "contains", "!contains", "contains_cs", "!contains_cs",
    "startswith", "!startswith", "startswith_cs", "!startswith_cs", "endswith", "!endswith",
    "endswith_cs", "!endswith_cs", "hasprefix", "!hasprefix", "hassuffix", "!hassuffix",
    "hasprefix_cs", "hassuffix_cs", "matches",
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


class Parser:
    """Recursive-descent parser for a KQL script (``let`` statements then one tabular query)."""

    def __init__(self, text: str, path: str = "<query>") -> None:
        self.path = path
        self.toks = tokenize(text, path)
        self.pos = 0

    # token helpers
    @property
    def tok(self) -> Token:
        return self.toks[self.pos]

    def peek(self, k: int = 1) -> Token:
        return self.toks[min(self.pos + k, len(self.toks) - 1)]

    def next(self) -> Token:
        t = self.toks[self.pos]
        self.pos += 1
        return t

    def error(self, msg: str, t: Token | None = None) -> RuleError:
        t = t or self.tok
        return RuleError(msg, SourceLocation(self.path, t.line, t.col))

    def unsupported(self, msg: str, t: Token | None = None) -> UnsupportedError:
        t = t or self.tok
        return UnsupportedError(msg, SourceLocation(self.path, t.line, t.col))

    def is_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.text.lower() in words

    def expect_op(self, op: str) -> Token:
        if not self.is_op(op):
            raise self.error(f"expected {op!r}, found {self.tok.text or 'end of query'!r}")
        return self.next()

    def expect_word(self, word: str) -> Token:
        if not self.is_word(word):
            raise self.error(f"expected {word!r}, found {self.tok.text or 'end of query'!r}")
        return self.next()

    def ident(self) -> str:
        """An identifier, or a bracketed/quoted name (``['Col name']``)."""
        if self.is_op("[") and self.peek().kind == "string":
            self.next()
            name: str = self.next().value
            self.expect_op("]")
            return name
        if self.tok.kind == "ident":
            return self.next().text
        raise self.error(f"expected a name, found {self.tok.text or 'end of query'!r}")

    # script
    def parse_script(self) -> Script:
        start = self.tok
        lets: list[Let] = []
        query: Query | None = None
        while self.tok.kind != "eof":
            if self.is_op(";"):
                self.next()
                continue
            if self.is_word("let"):
                lets.append(self.parse_let())
                if not self.is_op(";") and self.tok.kind != "eof":
                    raise self.error("expected ';' after let statement")
                continue
            if self.is_word("set", "declare", "alias", "pattern", "restrict"):
                raise self.unsupported(f"'{self.tok.text}' statement is not supported")
            if query is not None:
                raise self.error("only one tabular expression statement is supported")
            query = self.parse_query()
            if not self.is_op(";") and self.tok.kind != "eof":
                raise self.error(f"unexpected {self.tok.text!r}")
        return Script(start.line, start.col, tuple(lets), query)

    def parse_let(self) -> Let:
        t = self.expect_word("let")
        name = self.ident()
        self.expect_op("=")
        # function / view definition: let f = (a:string, T:(*)) { ... }  or view () { ... }
        if self.is_word("view") and self.peek().text == "(":
            self.next()
        if self.is_op("(") and self._looks_like_params():
            fd = self.parse_function_def()
            return Let(t.line, t.col, name, fd)
        if self._starts_tabular():
            return Let(t.line, t.col, name, self.parse_query())
        e = self.parse_expr()
        if self.is_op("|"):
            # an expression that is actually a tabular source (e.g. a function call) piped further
            raise self.unsupported("piping a scalar-looking expression is not supported")
        return Let(t.line, t.col, name, e)

    def _looks_like_params(self) -> bool:
        # "(" ")" "{"  or "(" ident ":" ...
        j = self.pos + 1
        if self.toks[j].text == ")":
            return self.toks[j + 1].text == "{"
        return self.toks[j].kind == "ident" and self.toks[j + 1].text == ":"

    def parse_function_def(self) -> FunctionDef:
        t = self.expect_op("(")
        params: list[Param] = []
        while not self.is_op(")"):
            pt = self.tok
            pname = self.ident()
            self.expect_op(":")
            if self.is_op("("):
                depth = 0
                while True:
                    if self.is_op("("):
                        depth += 1
                    elif self.is_op(")"):
                        depth -= 1
                    self.next()
                    if depth == 0:
                        break
                ptype = "tabular"
            else:
                ptype = SCALAR_TYPES.get(self.ident().lower(), "dynamic")
            default = None
            if self.is_op("="):
                self.next()
                default = self.parse_expr()
            params.append(Param(pt.line, pt.col, pname, ptype, default))
            if self.is_op(","):
                self.next()
        self.expect_op(")")
        self.expect_op("{")
        lets: list[Let] = []
        result: Query | Expr | None = None
        while not self.is_op("}"):
            if self.is_op(";"):
                self.next()
                continue
            if self.is_word("let"):
                lets.append(self.parse_let())
                continue
            result = self.parse_query() if self._starts_tabular() else self.parse_expr()
            if self.is_op("|") and not isinstance(result, Query):
                raise self.unsupported("piping a scalar-looking expression is not supported")
        self.expect_op("}")
        if result is None:
            raise self.error("function body has no result expression", t)
        return FunctionDef(t.line, t.col, tuple(params), tuple(lets), result)

    def _starts_tabular(self, bare_name: bool = True) -> bool:
        t = self.tok
        if t.kind == "ident":
            w = t.text
            if (w in ("datatable", "range", "print", "union") and w != "range") or (w == "range" and (
                self.peek().kind == "ident"
            )):
                return True
            if w == "materialize":
                return True
            nxt = self.peek()
            if nxt.text == "|":
                return True
            # bare table name followed by ';' or end: decided by the caller's context
            if bare_name and ((nxt.kind == "op" and nxt.text in (";", ")", "}")) or nxt.kind == "eof"):
                return w[0].isupper() and w not in ("True", "False") and w not in SCALAR_TYPES
            if nxt.text == "(":
                # function call followed by a pipe => tabular
                depth = 0
                j = self.pos + 1
                while j < len(self.toks):
                    tt = self.toks[j]
                    if tt.text == "(":
                        depth += 1
                    elif tt.text == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                after = self.toks[min(j + 1, len(self.toks) - 1)]
                return after.text == "|"
            return False
        if t.text == "(":
            # (T | where ...) or (union ...)
            j = self.pos + 1
            depth = 1
            while j < len(self.toks) and depth:
                tt = self.toks[j]
                if tt.text in ("(", "[", "{"):
                    depth += 1
                elif tt.text in (")", "]", "}"):
                    depth -= 1
                elif tt.text == "|" and depth == 1:
                    return True
                j += 1
            return False
        return False

    # tabular
    def parse_query(self) -> Query:
        t = self.tok
        source = self.parse_source()
        ops: list[Op] = []
        while self.is_op("|"):
            self.next()
            ops.append(self.parse_operator())
        return Query(t.line, t.col, source, tuple(ops))

    def parse_source(self) -> Any:
        t = self.tok
        if self.is_op("("):
            self.next()
            q = self.parse_query()
            self.expect_op(")")
            return q
        if self.is_word("union"):
            self.next()
            return self.parse_union_body(t)
        if self.is_word("datatable"):
            return self.parse_datatable()
        if self.is_word("print"):
            self.next()
            return Print(t.line, t.col, tuple(self.parse_assign_list()))
        if self.is_word("range"):
            self.next()
            col = self.ident()
            self.expect_word("from")
            a = self.parse_expr()
            self.expect_word("to")
            b = self.parse_expr()
            self.expect_word("step")
            s = self.parse_expr()
            return Range(t.line, t.col, col, a, b, s)
        if self.is_word("materialize") and self.peek().text == "(":
            self.next()
            self.next()
            q = self.parse_query()
            self.expect_op(")")
            return q
        if self.is_word("externaldata", "search", "find", "evaluate"):
            raise self.unsupported(f"'{t.text}' is not supported as a query source")
        if self.tok.kind == "ident" or self.is_op("["):
            name = self.ident()
            if self.is_op("("):
                self.next()
                args = self.parse_args(")")
                return FuncSource(t.line, t.col, name, tuple(args))
            return TableRef(t.line, t.col, name)
        raise self.error(f"expected a table, found {t.text or 'end of query'!r}")

    def parse_union_body(self, t: Token) -> Union:
        kind = "outer"
        withsource = None
        isfuzzy = False
        while self.tok.kind == "ident" and self.peek().text == "=" and self.tok.text in (
            "kind", "withsource", "isfuzzy"
        ):
            key = self.next().text
            self.next()
            val = self.next().text
            if key == "kind":
                kind = val
            elif key == "withsource":
                withsource = val
            else:
                isfuzzy = val.lower() == "true"
        sources: list[Query] = []
        while True:
            st = self.tok
            if self.is_op("("):
                self.next()
                sources.append(self.parse_query())
                self.expect_op(")")
            else:
                name = self.ident()
                if "*" in name or self.is_op("*"):
                    raise self.unsupported("wildcard table names in union are not supported", st)
                if self.is_op("("):
                    self.next()
                    args = self.parse_args(")")
                    sources.append(Query(st.line, st.col, FuncSource(st.line, st.col, name, tuple(args)), ()))
                else:
                    sources.append(Query(st.line, st.col, TableRef(st.line, st.col, name), ()))
            if self.is_op(","):
                self.next()
                continue
            break
        return Union(t.line, t.col, kind, withsource, isfuzzy, tuple(sources))

    def parse_datatable(self) -> Datatable:
        t = self.expect_word("datatable")
        self.expect_op("(")
        cols: list[tuple[str, str]] = []
        while not self.is_op(")"):
            cname = self.ident()
            self.expect_op(":")
            ctype = self.ident().lower()
            if ctype not in SCALAR_TYPES:
                raise self.error(f"unknown type {ctype!r}")
            cols.append((cname, SCALAR_TYPES[ctype]))
            if self.is_op(","):
                self.next()
        self.expect_op(")")
        self.expect_op("[")
        values = self.parse_args("]")
        return Datatable(t.line, t.col, tuple(cols), tuple(values))

    def parse_args(self, close: str) -> list[Expr]:
        args: list[Expr] = []
        while not self.is_op(close):
            if close == ")" and self._starts_tabular(bare_name=False):
                q = self.parse_query()
                args.append(TabularArg(q.line, q.col, q))
            else:
                args.append(self.parse_expr())
            if self.is_op(","):
                self.next()
            elif not self.is_op(close):
                raise self.error(f"expected ',' or {close!r}, found {self.tok.text or 'end of query'!r}")
        self.next()
        return args

    def parse_assign_list(self, allow_star: bool = False) -> list[Assign]:
        items: list[Assign] = []
        while True:
            items.append(self.parse_assign())
            if self.is_op(","):
                self.next()
                continue
            return items

    def parse_assign(self) -> Assign:
        t = self.tok
        # (a, b) = expr
        if self.is_op("(") and self.peek().kind == "ident" and self.peek(2).text in (",", ")"):
            save = self.pos
            self.next()
            names = [self.ident()]
            while self.is_op(","):
                self.next()
                names.append(self.ident())
            if self.is_op(")") and self.peek().text == "=":
                self.next()
                self.next()
                return Assign(t.line, t.col, tuple(names), self.parse_expr())
            self.pos = save
        if (self.tok.kind == "ident" or self.is_op("[")) and self._name_then_eq():
            name = self.ident()
            self.expect_op("=")
            return Assign(t.line, t.col, (name,), self.parse_expr())
        return Assign(t.line, t.col, (), self.parse_expr())

    def _name_then_eq(self) -> bool:
        if self.is_op("["):
            return self.peek(3).text == "=" and self.peek(3).kind == "op"
        nxt = self.peek()
        return nxt.kind == "op" and nxt.text == "="

    def parse_name_list(self) -> list[tuple[str, Token]]:
        names: list[tuple[str, Token]] = []
        while True:
            t = self.tok
            name = self.ident()
            while self.is_op("*"):  # wildcard patterns like Initiating*
                self.next()
                name += "*"
                if self.tok.kind == "ident" and self.tok.col == t.col + len(name):
                    name += self.next().text
            names.append((name, t))
            if self.is_op(","):
                self.next()
                continue
            return names

    def parse_operator(self) -> Op:
        t = self.tok
        if t.kind != "ident":
            raise self.error(f"expected a query operator, found {t.text or 'end of query'!r}")
        name = self.next().text
        # hyphenated operator names: project-away, mv-expand, ...
        while self.is_op("-") and self.peek().kind == "ident" and self.peek().col == self.tok.col + 1:
            self.next()
            name += "-" + self.next().text
        lname = name.lower() if name.lower() in _PLAIN_OPS else name
        ln, cl = t.line, t.col
        if lname in ("where", "filter"):
            return Op(ln, cl, "where", {"pred": self.parse_expr()})
        if lname == "extend":
            return Op(ln, cl, "extend", {"items": self.parse_assign_list()})
        if lname == "project":
            return Op(ln, cl, "project", {"items": self.parse_assign_list()})
        if lname in ("project-away", "project-keep"):
            return Op(ln, cl, lname, {"names": self.parse_name_list()})
        if lname == "project-reorder":
            names = self.parse_name_list()
            if self.is_word("asc", "desc", "granny"):
                raise self.unsupported("project-reorder with a sort order is not supported")
            return Op(ln, cl, lname, {"names": names})
        if lname == "project-rename":
            pairs: list[tuple[str, str, Token]] = []
            while True:
                pt = self.tok
                new = self.ident()
                self.expect_op("=")
                old = self.ident()
                pairs.append((new, old, pt))
                if self.is_op(","):
                    self.next()
                    continue
                break
            return Op(ln, cl, lname, {"pairs": pairs})
        if lname in ("sort", "order"):
            self.expect_word("by")
            return Op(ln, cl, "sort", {"keys": self.parse_sort_keys()})
        if lname == "top":
            n = self.parse_expr()
            self.expect_word("by")
            return Op(ln, cl, "top", {"n": n, "keys": self.parse_sort_keys()})
        if lname in ("take", "limit"):
            return Op(ln, cl, "take", {"n": self.parse_expr()})
        if lname == "sample":
            return Op(ln, cl, "take", {"n": self.parse_expr()})
        if lname == "distinct":
            if self.is_op("*"):
                self.next()
                return Op(ln, cl, "distinct", {"items": None})
            return Op(ln, cl, "distinct", {"items": self.parse_assign_list()})
        if lname == "count":
            return Op(ln, cl, "count", {})
        if lname == "serialize":
            items = self.parse_assign_list() if self.tok.kind == "ident" or self.is_op("[") else []
            return Op(ln, cl, "serialize", {"items": items})
        if lname == "summarize":
            return self.parse_summarize(t)
        if lname in ("join", "lookup"):
            return self.parse_join(t, lname)
        if lname == "union":
            u = self.parse_union_body(t)
            return Op(ln, cl, "union", {"union": u})
        if lname in ("mv-expand", "mvexpand"):
            return self.parse_mv_expand(t)
        if lname == "parse":
            return self.parse_parse(t)
        if lname == "as":
            while self.tok.kind == "ident" and self.peek().text == "=":
                self.next()
                self.next()
                self.next()
            return Op(ln, cl, "as", {"name": self.ident()})
        if lname == "invoke":
            ft = self.tok
            fname = self.ident()
            self.expect_op("(")
            args = self.parse_args(")")
            return Op(ln, cl, "invoke", {"name": fname, "args": args, "tok": ft})
        if lname == "render":
            # render only changes presentation: the rows are those of its input
            while self.tok.kind != "eof" and not self.is_op("|", ";", ")"):
                self.next()
            return Op(ln, cl, "render", {})
        if lname == "top-nested":
            return self.parse_top_nested(t)
        if lname == "partition":
            return self.parse_partition(t)
        raise self.unsupported(f"query operator '{name}' is not supported", t)

    def parse_top_nested(self, t: Token) -> Op:
        """``top-nested N of Col by Aggregation [asc|desc]`` (one level; more levels are unsupported)."""
        n = self.parse_expr()
        self.expect_word("of")
        ct = self.tok
        col = self.ident()
        if self.is_op("="):
            raise self.unsupported("top-nested with a computed column is not supported", ct)
        if self.is_word("with"):
            raise self.unsupported("top-nested with others is not supported")
        self.expect_word("by")
        agg = self.parse_assign()
        desc = True
        if self.is_word("asc", "desc"):
            desc = self.next().text.lower() == "desc"
        if self.is_op(","):
            raise self.unsupported("top-nested with several levels is not supported")
        return Op(t.line, t.col, "top-nested", {"n": n, "column": (col, ct), "agg": agg, "desc": desc})

    def parse_partition(self, t: Token) -> Op:
        """``partition by Col ( top N by ... | take N )``: other subqueries are unsupported."""
        while self.tok.kind == "ident" and self.peek().text in ("=", "."):
            raise self.unsupported("partition hints are not supported")
        self.expect_word("by")
        ct = self.tok
        col = self.ident()
        self.expect_op("(")
        inner = self.parse_operator()
        if not self.is_op(")"):
            raise self.unsupported("partition subqueries other than one top/take are not supported")
        self.next()
        if inner.name not in ("top", "take"):
            raise self.unsupported(f"partition over '{inner.name}' is not supported", t)
        return Op(t.line, t.col, "partition", {"column": (col, ct), "inner": inner})

    def parse_sort_keys(self) -> list[SortKey]:
        keys: list[SortKey] = []
        while True:
            t = self.tok
            e = self.parse_expr()
            desc = True
            nulls: bool | None = None
            if self.is_word("asc", "desc"):
                desc = self.next().text.lower() == "desc"
            if self.is_word("nulls"):
                self.next()
                nulls = self.next().text.lower() == "first"
            keys.append(SortKey(t.line, t.col, e, desc, nulls))
            if self.is_op(","):
                self.next()
                continue
            return keys

    def parse_summarize(self, t: Token) -> Op:
        while self.tok.kind == "ident" and self.peek().text == "=" and self.tok.text.lower() in (
            "hint.strategy", "hint", "hint.shufflekey", "hint.num_partitions"
        ):
            self.next()
            self.next()
            self.next()
        # "hint.strategy=shuffle" tokenizes as hint . strategy = shuffle
        while self.is_word("hint") and self.peek().text == ".":
            for _ in range(5):
                self.next()
        aggs: list[Assign] = []
        if not self.is_word("by"):
            aggs = self.parse_assign_list()
        by: list[Assign] = []
        if self.is_word("by"):
            self.next()
            by = self.parse_assign_list()
        return Op(t.line, t.col, "summarize", {"aggs": aggs, "by": by})

    def parse_join(self, t: Token, opname: str) -> Op:
        kind = "innerunique" if opname == "join" else "leftouter"
        while self.tok.kind == "ident" and (self.peek().text == "=" or self.peek().text == "."):
            if self.is_word("kind"):
                self.next()
                self.next()
                kind = self.next().text.lower()
            elif self.is_word("hint"):
                self.next()
                while not self.is_op("="):
                    self.next()
                self.next()
                self.next()
            else:
                break
        if self.is_op("("):
            self.next()
            right = self.parse_query()
            self.expect_op(")")
        else:
            st = self.tok
            name = self.ident()
            right = Query(st.line, st.col, TableRef(st.line, st.col, name), ())
        self.expect_word("on")
        conds: list[Expr] = []
        while True:
            conds.append(self.parse_expr())
            if self.is_op(","):
                self.next()
                continue
            break
        return Op(t.line, t.col, opname, {"kind": kind, "right": right, "on": conds})

    def parse_mv_expand(self, t: Token) -> Op:
        params: dict[str, Any] = {"bagexpansion": "bag", "limit": None, "items": []}
        while self.tok.kind == "ident" and self.peek().text == "=" and self.tok.text in (
            "bagexpansion", "kind", "with_itemindex"
        ):
            key = self.next().text
            self.next()
            params[key] = self.next().text
        items: list[tuple[Assign, str | None]] = []
        while True:
            a = self.parse_assign()
            totype = None
            if self.is_word("to"):
                self.next()
                self.expect_word("typeof")
                self.expect_op("(")
                totype = SCALAR_TYPES.get(self.ident().lower(), "dynamic")
                self.expect_op(")")
            items.append((a, totype))
            if self.is_op(","):
                self.next()
                continue
            break
        if self.is_word("limit"):
            self.next()
            params["limit"] = self.parse_expr()
        params["items"] = items
        return Op(t.line, t.col, "mv-expand", params)

    def parse_parse(self, t: Token) -> Op:
        kind = "simple"
        if self.is_word("kind") and self.peek().text == "=":
            self.next()
            self.next()
            kind = self.next().text.lower()
        flags = ""
        if self.is_word("flags") and self.peek().text == "=":
            self.next()
            self.next()
            flags = self.next().text
            if not re.fullmatch(r"[imsU]+", flags):
                raise self.unsupported(f"parse flags {flags!r} are not supported")
        src = self.parse_expr()
        self.expect_word("with")
        parts: list[tuple[str, Any]] = []
        while True:
            if self.tok.kind == "string":
                parts.append(("lit", self.next().value))
            elif self.is_op("*"):
                self.next()
                parts.append(("star", None))
            elif self.tok.kind == "ident" or self.is_op("["):
                pt = self.tok
                name = self.ident()
                ctype = "string"
                if self.is_op(":"):
                    self.next()
                    ctype = SCALAR_TYPES.get(self.ident().lower(), "string")
                parts.append(("col", (name, ctype, pt)))
            else:
                break
            if self.is_op(","):
                # the comma separating parse patterns is optional
                self.next()
        return Op(t.line, t.col, "parse", {"kind": kind, "src": src, "parts": parts, "flags": flags})

    # scalar expressions, lowest precedence first
    def parse_expr(self) -> Expr:
        return self.parse_or()

    def parse_or(self) -> Expr:
        left = self.parse_and()
        while self.is_word("or"):
            t = self.next()
            left = Bin(t.line, t.col, "or", left, self.parse_and())
        return left

    def parse_and(self) -> Expr:
        left = self.parse_cmp()
        while self.is_word("and"):
            t = self.next()
            left = Bin(t.line, t.col, "and", left, self.parse_cmp())
        return left

    def parse_cmp(self) -> Expr:
        left = self.parse_add()
        while True:
            t = self.tok
            if t.kind == "op" and t.text in ("==", "!=", "<>", "=~", "!~", "<", "<=", ">", ">="):
                self.next()
                op = "!=" if t.text == "<>" else t.text
                left = Bin(t.line, t.col, op, left, self.parse_add())
                continue
            word = self._string_op_word()
            if word is None:
                return left
            if word in ("between", "!between"):
                self.expect_op("(")
                low = self.parse_add()
                self.expect_op("..")
                high = self.parse_add()
                self.expect_op(")")
                left = Between(t.line, t.col, word == "!between", left, low, high)
                continue
            if word in _LIST_OPS:
                self.expect_op("(")
                items = self.parse_args(")")
                left = InList(t.line, t.col, word, left, tuple(items))
                continue
            if word == "matches":
                self.expect_word("regex")
                left = Bin(t.line, t.col, "matches regex", left, self.parse_add())
                continue
            left = Bin(t.line, t.col, word, left, self.parse_add())

    _WORD_OPS = (
        "has", "has_cs", "contains", "contains_cs", "startswith", "startswith_cs", "endswith",
        "endswith_cs", "hasprefix", "hassuffix", "hasprefix_cs", "hassuffix_cs", "in", "has_any",
        "has_all", "has_any_cs", "has_all_cs", "matches", "between", "notcontains", "notcontainscs",
        "nothas",
    )

    def _string_op_word(self) -> str | None:
        """Consume a word operator (has, !has, in~, contains_cs, between...) if one is next."""
        t = self.tok
        if t.kind == "op" and t.text.startswith("!") and t.text[1:2].isalpha():
            self.next()
            return self._tilde(t.text)
        if t.kind == "op" and t.text == "!" and self.peek().kind == "ident":
            w = self.peek().text.lower()
            if w in self._WORD_OPS and w not in ("has_any", "has_all", "matches"):
                self.next()
                self.next()
                return self._tilde("!" + w)
            return None
        if t.kind == "ident" and t.text.lower() in self._WORD_OPS:
            # operator words are case-sensitive in Kusto except the legacy aliases
            self.next()
            w = t.text.lower()
            w = {"notcontains": "!contains", "notcontainscs": "!contains_cs", "nothas": "!has"}.get(w, w)
            return self._tilde(w)
        return None

    def _tilde(self, w: str) -> str:
        if w in ("in", "!in") and self.is_op("~"):
            self.next()
            return w + "~"
        return w

    def parse_add(self) -> Expr:
        left = self.parse_mul()
        while self.is_op("+", "-"):
            t = self.next()
            left = Bin(t.line, t.col, t.text, left, self.parse_mul())
        return left

    def parse_mul(self) -> Expr:
        left = self.parse_unary()
        while self.is_op("*", "/", "%"):
            t = self.next()
            left = Bin(t.line, t.col, t.text, left, self.parse_unary())
        return left

    def parse_unary(self) -> Expr:
        if self.is_op("-", "+"):
            t = self.next()
            operand = self.parse_unary()
            if t.text == "+":
                return operand
            if isinstance(operand, Lit) and operand.type in ("long", "int", "real", "timespan"):
                return Lit(t.line, t.col, -operand.value, operand.type)
            return Unary(t.line, t.col, "-", operand)
        return self.parse_postfix()

    def parse_postfix(self) -> Expr:
        e = self.parse_primary()
        while True:
            if self.is_op(".") and (self.peek().kind == "ident" or self.peek().text == "["):
                t = self.next()
                if self.is_op("["):
                    continue
                e = Member(t.line, t.col, e, self.next().text)
                continue
            if self.is_op("["):
                t = self.next()
                idx = self.parse_expr()
                self.expect_op("]")
                if isinstance(idx, Lit) and idx.type == "string":
                    e = Member(t.line, t.col, e, str(idx.value))
                else:
                    e = Index(t.line, t.col, e, idx)
                continue
            return e

    def parse_primary(self) -> Expr:
        t = self.tok
        if t.kind == "string":
            self.next()
            val = t.value
            # adjacent string literals concatenate
            while self.tok.kind == "string":
                val += self.next().value
            return Lit(t.line, t.col, val, "string")
        if t.kind == "number":
            self.next()
            return Lit(t.line, t.col, t.value, "real" if isinstance(t.value, float) else "long")
        if t.kind == "timespan":
            self.next()
            return Lit(t.line, t.col, t.value, "timespan")
        if self.is_op("("):
            self.next()
            e = self.parse_expr()
            self.expect_op(")")
            return e
        if self.is_op("*"):
            self.next()
            return Star(t.line, t.col)
        if self.is_op("["):
            if self.peek().kind == "string" and self.peek(2).text == "]":
                return Name(t.line, t.col, self.ident())
            self.next()
            items = self.parse_args("]")
            return Call(t.line, t.col, "pack_array", tuple(items))
        if self.is_op("$") and self.peek().kind == "ident":
            self.next()
            side = self.next().text
            self.expect_op(".")
            return Name(t.line, t.col, f"${side}.{self.ident()}")
        if t.kind == "ident":
            w = t.text
            lw = w.lower()
            nxt = self.peek()
            if lw in ("true", "false") and nxt.text != "(":
                self.next()
                return Lit(t.line, t.col, lw == "true", "bool")
            if lw == "null" and nxt.text != "(":
                self.next()
                return Lit(t.line, t.col, None, "null")
            if nxt.text == "(" and nxt.kind == "op":
                if lw in ("datetime", "todatetime") and lw == "datetime":
                    return self.parse_datetime_literal()
                if lw in ("time", "timespan"):
                    return self.parse_timespan_literal()
                if lw == "dynamic":
                    return self.parse_dynamic_literal()
                if lw in ("int", "long", "real", "double", "bool", "boolean", "guid", "decimal", "int64"):
                    return self.parse_typed_literal(lw)
                if lw == "toscalar":
                    self.next()
                    self.next()
                    q = self.parse_query()
                    self.expect_op(")")
                    return ToScalar(t.line, t.col, q)
                self.next()
                self.next()
                args = self.parse_args(")")
                return Call(t.line, t.col, w, tuple(args))
            self.next()
            return Name(t.line, t.col, w)
        raise self.error(f"unexpected {t.text or 'end of query'!r} in expression")

    def _raw_until_close(self) -> str:
        """The raw text between the current '(' and its matching ')'."""
        self.expect_op("(")
        parts: list[str] = []
        depth = 1
        while True:
            t = self.next()
            if t.kind == "eof":
                raise self.error("unterminated literal", t)
            if t.text == "(":
                depth += 1
            elif t.text == ")":
                depth -= 1
                if depth == 0:
                    break
            parts.append(t.text if t.kind != "string" else t.value)
        return "".join(parts) if len(parts) != 1 else parts[0]

    def parse_datetime_literal(self) -> Expr:
        t = self.next()
        # reconstruct the raw text from the source tokens (they may be split as numbers/ops)
        start = self.pos
        raw = self._raw_until_close()
        toks = self.toks[start + 1 : self.pos - 1]
        raw = toks[0].value if len(toks) == 1 and toks[0].kind == "string" else self._join_raw(toks)
        if raw.strip().lower() == "null" or raw.strip() == "":
            return Lit(t.line, t.col, None, "datetime")
        return Lit(t.line, t.col, raw.strip(), "datetime")

    @staticmethod
    def _join_raw(toks: list[Token]) -> str:
        out = ""
        prev: Token | None = None
        for tk in toks:
            if prev is not None and (tk.line != prev.line or tk.col > prev.col + len(prev.text)):
                out += " "
            out += tk.text
            prev = tk
        return out

    def parse_timespan_literal(self) -> Expr:
        t = self.next()
        start = self.pos
        self._raw_until_close()
        toks = self.toks[start + 1 : self.pos - 1]
        if len(toks) == 1 and toks[0].kind == "timespan":
            return Lit(t.line, t.col, toks[0].value, "timespan")
        if len(toks) == 1 and toks[0].kind == "number":
            return Lit(t.line, t.col, float(toks[0].value) * 86400.0, "timespan")
        raw = self._join_raw(toks)
        if raw.strip().lower() == "null":
            return Lit(t.line, t.col, None, "timespan")
        m = re.fullmatch(r"(-)?(?:(\d+)\.)?(\d+):(\d+)(?::(\d+(?:\.\d+)?))?", raw.strip())
        if not m:
            raise self.unsupported(f"timespan literal {raw!r} is not supported", t)
        sign = -1.0 if m.group(1) else 1.0
        secs = float(int(m.group(2) or 0) * 86400 + int(m.group(3)) * 3600 + int(m.group(4)) * 60)
        secs += float(m.group(5) or 0)
        return Lit(t.line, t.col, sign * secs, "timespan")

    def parse_typed_literal(self, lw: str) -> Expr:
        t = self.next()
        start = self.pos
        self._raw_until_close()
        toks = self.toks[start + 1 : self.pos - 1]
        raw = self._join_raw(toks).strip()
        typ = SCALAR_TYPES[lw]
        if raw.lower() == "null":
            return Lit(t.line, t.col, None, typ)
        try:
            if typ in ("long", "int"):
                return Lit(t.line, t.col, int(raw, 0), typ)
            if typ == "real":
                return Lit(t.line, t.col, float(raw), typ)
            if typ == "bool":
                return Lit(t.line, t.col, raw.lower() == "true", typ)
            return Lit(t.line, t.col, raw, "string")
        except ValueError as exc:
            raise self.error(f"invalid {lw} literal {raw!r}", t) from exc

    def parse_dynamic_literal(self) -> Expr:
        t = self.next()
        self.expect_op("(")
        value = self._dyn_value()
        self.expect_op(")")
        return Lit(t.line, t.col, value, "dynamic")

    def _dyn_value(self) -> Any:
        t = self.tok
        if self.is_op("["):
            self.next()
            out: list[Any] = []
            while not self.is_op("]"):
                out.append(self._dyn_value())
                if self.is_op(","):
                    self.next()
            self.next()
            return out
        if self.is_op("{"):
            self.next()
            obj: dict[str, Any] = {}
            while not self.is_op("}"):
                kt = self.next()
                key = kt.value if kt.kind == "string" else kt.text
                self.expect_op(":")
                obj[str(key)] = self._dyn_value()
                if self.is_op(","):
                    self.next()
            self.next()
            return obj
        if self.is_op("-"):
            self.next()
            v = self._dyn_value()
            return -v
        if t.kind in ("string", "number"):
            self.next()
            return t.value
        if t.kind == "ident":
            lw = t.text.lower()
            if lw in ("true", "false"):
                self.next()
                return lw == "true"
            if lw == "null":
                self.next()
                return None
            if lw in ("datetime", "timespan", "time", "long", "int", "real", "guid"):
                self.next()
                start = self.pos
                self._raw_until_close()
                return self._join_raw(self.toks[start + 1 : self.pos - 1])
        raise self.error(f"unexpected {t.text!r} in dynamic literal")


def parse(text: str, path: str = "<query>") -> Script:
    """Parse a KQL script; raises :class:`RuleError` with line:column on bad syntax."""
    return Parser(text, path).parse_script()
