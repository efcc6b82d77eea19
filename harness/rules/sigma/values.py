"""Value matchers: one compiled predicate per Sigma value, after pySigma applied the modifiers.

Semantics (Sigma specification v2, rules and modifiers appendix):

* strings are case-insensitive unless ``cased``; ``*`` is any run of characters, ``?`` exactly one;
  a value matches the whole field (``contains``/``startswith``/``endswith`` only add wildcards);
* ``re`` is searched anywhere in the value (PCRE semantics, unanchored), case-sensitive unless ``i``;
* ``null`` matches a field that is absent or JSON null; ``''`` matches only a present, empty value;
* ``exists`` tests presence of the key, whatever its value (null included);
* numbers compare numerically when the event value is numeric (or a decimal string);
* a list-valued event field matches when any element matches.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaQueryExpression,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
    TimestampPart,
)

from harness.errors import UnsupportedError

Fields = Mapping[str, Any]
FieldPredicate = Callable[[Fields], bool]

_MISSING: Any = object()


def get_field(fields: Fields, name: str) -> Any:
    """Value of ``name`` in ``fields``; dotted names fall back to nested objects (JSON logs)."""
    value = fields.get(name, _MISSING)
    if value is not _MISSING:
        return value
    if "." in name:
        cur: Any = fields
        for part in name.split("."):
            if not isinstance(cur, Mapping) or part not in cur:
                return _MISSING
            cur = cur[part]
        return cur
    return _MISSING


def has_field(fields: Fields, name: str) -> bool:
    return get_field(fields, name) is not _MISSING


def as_text(value: Any) -> str | None:
    """The string form Sigma matches strings against (None for null / objects)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return None


def lowered_text(value: Any) -> str:
    """Lower-cased text of a value for the literal prefilter (lists joined, null empty)."""
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, list):
        return "\n".join(lowered_text(v) for v in value)
    text = as_text(value)
    return text.lower() if text is not None else ""


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


# --- strings ---------------------------------------------------------------------------------


def string_pattern(value: SigmaString, cased: bool) -> Callable[[str], bool]:
    """Compile a SigmaString (wildcards already parsed by pySigma) into a text predicate."""
    parts = list(value.s)
    for part in parts:
        if isinstance(part, Placeholder):
            raise UnsupportedError(
                f"placeholder %{part.name}% has no configured values (configure it or drop the rule)"
            )
    norm: list[str | SpecialChars] = []
    for part in parts:
        if isinstance(part, str):
            norm.append(part if cased else part.lower())
        elif isinstance(part, SpecialChars):
            norm.append(part)
    multi = SpecialChars.WILDCARD_MULTI
    specials = [p for p in norm if not isinstance(p, str)]
    lower = (lambda s: s) if cased else str.lower

    if not specials:
        lit = "".join(p for p in norm if isinstance(p, str))
        return lambda s: lower(s) == lit
    if all(p is multi for p in specials):
        inner = norm
        if len(inner) == 1:  # "*"
            return lambda s: True
        if len(inner) == 2 and inner[0] is multi and isinstance(inner[1], str):
            suffix = inner[1]
            return lambda s: lower(s).endswith(suffix)
        if len(inner) == 2 and inner[1] is multi and isinstance(inner[0], str):
            prefix = inner[0]
            return lambda s: lower(s).startswith(prefix)
        if len(inner) == 3 and inner[0] is multi and inner[2] is multi and isinstance(inner[1], str):
            needle = inner[1]
            return lambda s: needle in lower(s)
    regex = "".join(
        re.escape(p) if isinstance(p, str) else (".*" if p is multi else ".") for p in norm
    )
    compiled = re.compile(regex, re.DOTALL)
    return lambda s: compiled.fullmatch(lower(s)) is not None


def _regex_predicate(value: SigmaRegularExpression) -> Callable[[str], bool]:
    flags = 0
    for flag in value.flags:
        flags |= {
            SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
            SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
            SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
        }[flag]
    if value.regexp.contains_placeholder():
        raise UnsupportedError("placeholder in regular expression has no configured values")
    compiled = re.compile(str(value.regexp), flags)
    return lambda s: compiled.search(s) is not None


def _text_field(field: str, test: Callable[[str], bool]) -> FieldPredicate:
    def match(fields: Fields) -> bool:
        value = fields.get(field, _MISSING)
        if value is _MISSING:
            value = get_field(fields, field)
        if isinstance(value, str):
            return test(value)
        if isinstance(value, list):
            return any(isinstance(t, str) and test(t) for t in (as_text(v) for v in value))
        text = as_text(value)
        return text is not None and test(text)

    return match


def _ip_in(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Callable[[str], bool]:
    def test(text: str) -> bool:
        try:
            return ipaddress.ip_address(text.strip()) in network
        except ValueError:
            return False

    return test


_CMP: dict[CompareOperators, Callable[[float, float], bool]] = {
    CompareOperators.LT: lambda a, b: a < b,
    CompareOperators.LTE: lambda a, b: a <= b,
    CompareOperators.GT: lambda a, b: a > b,
    CompareOperators.GTE: lambda a, b: a >= b,
    CompareOperators.NEQ: lambda a, b: a != b,
}


def _timestamp_part(value: Any, part: TimestampPart) -> int | None:
    text = as_text(value)
    if text is None:
        return None
    try:
        ts = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return {
        TimestampPart.MINUTE: ts.minute,
        TimestampPart.HOUR: ts.hour,
        TimestampPart.DAY: ts.day,
        TimestampPart.WEEK: ts.isocalendar().week,
        TimestampPart.MONTH: ts.month,
        TimestampPart.YEAR: ts.year,
    }[part]


def _values_of(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def compile_field_value(
    field: str,
    value: SigmaType,
    placeholders: Mapping[str, list[str]] | None = None,
) -> FieldPredicate:
    """Compile ``field <op> value`` into a predicate over the event's fields."""
    if isinstance(value, SigmaExpansion):
        preds = [compile_field_value(field, v, placeholders) for v in value.values]
        return lambda fields: any(p(fields) for p in preds)
    if isinstance(value, SigmaString) and value.contains_placeholder():
        expanded = expand_placeholders(value, placeholders)
        preds = [compile_field_value(field, v, placeholders) for v in expanded]
        return lambda fields: any(p(fields) for p in preds)
    if isinstance(value, SigmaCasedString):
        return _text_field(field, string_pattern(value, cased=True))
    if isinstance(value, SigmaString):
        return _text_field(field, string_pattern(value, cased=False))
    if isinstance(value, SigmaRegularExpression):
        return _text_field(field, _regex_predicate(value))
    if isinstance(value, SigmaCIDRExpression):
        return _text_field(field, _ip_in(value.network))
    if isinstance(value, SigmaExists):
        want = bool(value.exists)
        return lambda fields: has_field(fields, field) is want
    if isinstance(value, SigmaNull):

        def is_null(fields: Fields) -> bool:
            return get_field(fields, field) in (_MISSING, None)

        return is_null
    if isinstance(value, SigmaBool):
        want_b = bool(value.boolean)

        def is_bool(fields: Fields) -> bool:
            for v in _values_of(get_field(fields, field)):
                if isinstance(v, bool) and v is want_b:
                    return True
                if isinstance(v, str) and v.strip().lower() == ("true" if want_b else "false"):
                    return True
            return False

        return is_bool
    if isinstance(value, SigmaTimestampPart):
        part, want_n = value.timestamp_part, int(value.number)
        return lambda fields: any(
            _timestamp_part(v, part) == want_n for v in _values_of(get_field(fields, field))
        )
    if isinstance(value, SigmaNumber):
        num = float(value.number)
        text_num = str(value.number)

        def is_number(fields: Fields) -> bool:
            for v in _values_of(get_field(fields, field)):
                n = _as_number(v)
                if n is not None:
                    if n == num:
                        return True
                elif isinstance(v, str) and v.lower() == text_num.lower():
                    return True
            return False

        return is_number
    if isinstance(value, SigmaCompareExpression):
        op, ref = _CMP[value.op], float(value.number.number)

        def compare(fields: Fields) -> bool:
            for v in _values_of(get_field(fields, field)):
                n = _as_number(v)
                if n is not None and op(n, ref):
                    return True
            return False

        return compare
    if isinstance(value, SigmaFieldReference):
        other, sw, ew = value.field, value.starts_with, value.ends_with

        def fieldref(fields: Fields) -> bool:
            a, b = get_field(fields, field), get_field(fields, other)
            if a is _MISSING or b is _MISSING:
                return False
            ta, tb = as_text(a), as_text(b)
            if ta is None or tb is None:
                return bool(a == b and a is not None)
            ta, tb = ta.lower(), tb.lower()
            if sw:
                return ta.startswith(tb)
            if ew:
                return ta.endswith(tb)
            return ta == tb

        return fieldref
    if isinstance(value, SigmaQueryExpression):
        raise UnsupportedError("query expressions are backend-specific and cannot be evaluated locally")
    raise UnsupportedError(f"value type {type(value).__name__} is not supported")


def compile_keyword(value: SigmaType, placeholders: Mapping[str, list[str]] | None = None) -> FieldPredicate:
    """Compile a keyword (field-less) value: it matches when it occurs in any value of the event."""
    return keywords_predicate([keyword_test(value, placeholders)])


def keyword_test(value: SigmaType, placeholders: Mapping[str, list[str]] | None = None) -> Callable[[str], bool]:
    """The text test of one keyword value.

    Keywords are full-text searches (the specification: "searching for keywords across an entire
    event"), so a plain keyword matches as a substring, like every SIEM backend treats it.
    """
    if isinstance(value, SigmaExpansion):
        return _any_text([keyword_test(v, placeholders) for v in value.values])
    if isinstance(value, SigmaString) and value.contains_placeholder():
        return _any_text([keyword_test(v, placeholders) for v in expand_placeholders(value, placeholders)])
    if isinstance(value, SigmaString):
        return string_pattern(_unanchored(value), cased=isinstance(value, SigmaCasedString))
    if isinstance(value, SigmaRegularExpression):
        return _regex_predicate(value)
    if isinstance(value, SigmaNumber):
        return str(value.number).__contains__
    raise UnsupportedError(f"keyword of type {type(value).__name__} is not supported")


def _any_text(tests: list[Callable[[str], bool]]) -> Callable[[str], bool]:
    return tests[0] if len(tests) == 1 else lambda s: any(t(s) for t in tests)


_KEYWORD_MEMO = 1 << 14


def keywords_predicate(tests: list[Callable[[str], bool]]) -> FieldPredicate:
    """True when one value of the event passes one of ``tests`` (an OR of keywords). Verdicts are
    remembered per value text (bounded): an event's values repeat across events."""
    test = _any_text(tests)
    memo: dict[str, bool] = {}

    def keyword(fields: Fields) -> bool:
        for text in iter_texts(fields):
            verdict = memo.get(text)
            if verdict is None:
                verdict = test(text)
                if len(memo) >= _KEYWORD_MEMO:
                    memo.clear()
                memo[text] = verdict
            if verdict:
                return True
        return False

    return keyword


def _unanchored(value: SigmaString) -> SigmaString:
    """Keywords search the whole event text: a keyword matches anywhere inside a value."""
    multi = SpecialChars.WILDCARD_MULTI
    parts = list(value.s)
    if not parts or parts[0] is not multi:
        parts.insert(0, multi)
    if parts[-1] is not multi:
        parts.append(multi)
    out = SigmaString()
    out.s = parts
    out.original = value.original
    return out


def iter_texts(obj: Any) -> list[str]:
    """Every scalar value of an event (nested objects and lists flattened) as text."""
    if not isinstance(obj, Mapping | list):
        text = as_text(obj)
        return [] if text is None else [text]
    out: list[str] = []
    _collect_texts(obj, out)
    return out


def _collect_texts(obj: Any, out: list[str]) -> None:
    values = obj.values() if isinstance(obj, Mapping) else obj
    for value in values:
        if value.__class__ is str:
            out.append(value)
        elif isinstance(value, Mapping | list):
            _collect_texts(value, out)
        else:
            text = as_text(value)
            if text is not None:
                out.append(text)


def expand_placeholders(
    value: SigmaString, placeholders: Mapping[str, list[str]] | None
) -> list[SigmaString]:
    """Replace ``%name%`` placeholders (``expand`` modifier) with the configured values (ORed)."""
    config = placeholders or {}

    def callback(p: Placeholder) -> Any:
        if p.name not in config:
            raise UnsupportedError(
                f"placeholder %{p.name}% has no configured values (pass placeholders={{'{p.name}': [...]}})"
            )
        for item in config[p.name]:
            yield SigmaString(item)

    return value.replace_placeholders(callback)


# --- literal prefilter -----------------------------------------------------------------------


def required_literals(value: SigmaType) -> tuple[str, ...] | None:
    """Lower-cased substrings that every matching (lower-cased) value contains, all of them, longest
    first (a wildcard pattern's literal parts; a number's digits); None if there are none."""
    if isinstance(value, SigmaString) and not value.contains_placeholder():
        parts = sorted({p.lower() for p in value.s if isinstance(p, str) and p}, key=lambda p: (-len(p), p))
        kept: list[str] = []
        for part in parts:  # a part inside a longer one adds no test
            if not any(part in k for k in kept):
                kept.append(part)
        return tuple(kept) or None
    if (
        isinstance(value, SigmaNumber)
        and not isinstance(value, SigmaTimestampPart)
        and isinstance(value.number, int)
    ):
        return (str(value.number),)
    return None
