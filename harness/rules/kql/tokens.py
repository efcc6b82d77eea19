"""KQL lexer: tokens with the 1-based line and column where each starts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harness.errors import RuleError, SourceLocation


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


# Kusto's whitespace: Kusto.Language's TextFacts.IsWhitespace (microsoft/Kusto-Query-Language),
# which includes the no-break and zero-width spaces that pasted queries often carry
_WHITESPACE = frozenset(" \t\r\f\u00a0\u1680\u180e\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
                        "\u2008\u2009\u200a\u200b\u202f\u205f\u3000\ufeff")


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
        if c in _WHITESPACE:
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
            end = i + len(lit)
            if re.fullmatch(r"\d+", lit) and end < n and (text[end].isalpha() or text[end] == "_"):
                # a name such as 2022MostExploited: identifiers may hold digits anywhere, only names
                # that read as literals (1day) need quoting (Kusto docs, "Entity names")
                j = end
                while j < n and (text[j].isalnum() or text[j] == "_"):
                    j += 1
                toks.append(Token("ident", text[i:j], text[i:j], line, col))
                i = j
                continue
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
