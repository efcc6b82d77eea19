"""Compile a pySigma rule once into a fast predicate plus a literal prefilter requirement.

pySigma parses the YAML, applies the value modifiers and resolves the condition (``1 of``,
``all of``, ``them``, identifiers) into a tree of AND / OR / NOT over field/value leaves. This
module turns that tree into nested Python closures, merging OR-lists of plain strings on one
field into single set / tuple lookups, and derives a *requirement*: a set of ``(field, literal)``
pairs at least one of which must occur (lower-cased substring) in any event the rule matches.
The engine uses requirements to skip rules without evaluating them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule
from sigma.types import SigmaCasedString, SigmaExpansion, SigmaFieldReference, SigmaString, SpecialChars

from harness.errors import RuleError, SourceLocation, UnsupportedError
from harness.rules.sigma.values import (
    _MISSING,
    FieldPredicate,
    Fields,
    as_text,
    compile_field_value,
    compile_keyword,
    get_field,
    keyword_test,
    keywords_predicate,
    required_literals,
)

#: A disjunction of ``(field, literals)``: for one of them, every literal occurs in that field's value
#: (lower-cased) in a matching event. ``field`` None means "in any one value" (keywords). ``None``
#: instead of a set means the rule cannot be prefiltered.
Requirement = frozenset[tuple[str | None, tuple[str, ...]]] | None
#: A conjunction of requirements (none is None): all hold in a matching event.
Clauses = tuple[frozenset[tuple[str | None, tuple[str, ...]]], ...]

Node = ConditionItem | ConditionFieldEqualsValueExpression | ConditionValueExpression | None


@dataclass(frozen=True)
class Logsource:
    """A rule's (or an event's) log source, lower-cased; None is "any"."""

    product: str | None = None
    category: str | None = None
    service: str | None = None

    def covers(self, event: Logsource) -> bool:
        """True if a rule with this log source applies to events of log source ``event``."""
        return (
            (self.product is None or self.product == event.product)
            and (self.category is None or self.category == event.category)
            and (self.service is None or self.service == event.service)
        )

    @classmethod
    def of(cls, product: Any, category: Any, service: Any) -> Logsource:
        def norm(v: Any) -> str | None:
            return str(v).lower() if v not in (None, "") else None

        return cls(norm(product), norm(category), norm(service))


@dataclass(frozen=True)
class CompiledRule:
    """A Sigma rule compiled into a predicate over event fields."""

    rule_id: str
    title: str
    level: str | None
    logsource: Logsource
    predicate: FieldPredicate = field(repr=False, compare=False)
    requirement: Requirement = field(repr=False, compare=False)
    name: str | None = None
    #: every requirement that holds in a matching event (``requirement`` is the most selective)
    clauses: Clauses = field(default=(), repr=False, compare=False)
    source: SourceLocation | None = None

    def matches(self, fields: Fields) -> bool:
        """Evaluate the rule's condition on one event's fields (no log source check)."""
        return self.predicate(fields)


def rule_location(rule: Any) -> SourceLocation | None:
    src = getattr(rule, "source", None)
    if src is None:
        return None
    return SourceLocation(str(src.path), src.line, src.char)


def compile_rule(rule: SigmaRule, placeholders: Mapping[str, list[str]] | None = None) -> CompiledRule:
    """Compile one pySigma rule. Raises RuleError / UnsupportedError with the rule's location."""
    location = rule_location(rule)
    try:
        trees = [cond.parse() for cond in rule.detection.parsed_condition]
        compiled = [compile_node(t, placeholders) for t in trees]
    except UnsupportedError as exc:
        raise UnsupportedError(exc.message, exc.location or location) from exc
    except SigmaError as exc:
        from harness.rules.sigma.loader import error_message

        raise RuleError(error_message(exc), location) from exc
    if len(compiled) == 1:
        predicate, clauses = compiled[0]
    else:
        predicate = _any([p for p, _ in compiled])
        clauses = _or_clauses([c for _, c in compiled])
    names = _fields_read(trees)
    if names is not None:
        predicate = _memoised(names, predicate)
    ls = rule.logsource
    return CompiledRule(
        rule_id=str(rule.id) if rule.id else (rule.name or rule.title),
        title=rule.title,
        level=str(rule.level.name).lower() if rule.level else None,
        logsource=Logsource.of(ls.product, ls.category, ls.service),
        predicate=predicate,
        requirement=_best(clauses),
        name=rule.name,
        source=location,
        clauses=clauses,
    )


_MEMO_LIMIT = 1 << 14
#: Rules reading more fields than this are not memoised (their keys would rarely repeat).
_MEMO_MAX_FIELDS = 6


def _fields_read(trees: list[Node]) -> tuple[str, ...] | None:
    """The fields a rule's condition reads, or None when its verdict is not a function of a few
    flat fields' values (keywords, field references, dotted names, too many fields)."""
    seen: set[str] = set()
    stack: list[Any] = list(trees)
    while stack:
        node = stack.pop()
        if isinstance(node, ConditionFieldEqualsValueExpression):
            if isinstance(node.value, SigmaFieldReference) or "." in node.field:
                return None
            seen.add(node.field)
        elif isinstance(node, ConditionAND | ConditionOR | ConditionNOT):
            stack.extend(node.args)
        else:  # keywords or anything else read the whole event
            return None
    return tuple(sorted(seen)) if 0 < len(seen) <= _MEMO_MAX_FIELDS else None


def _memoised(names: tuple[str, ...], predicate: FieldPredicate) -> FieldPredicate:
    """A rule reading a few flat fields is a function of their values: remember its verdicts per
    tuple of (string or absent) values, bounded; telemetry repeats values heavily."""
    memo: dict[tuple[Any, ...], bool] = {}

    def match(fields: Fields) -> bool:
        key = tuple([fields.get(n, _MISSING) for n in names])
        for value in key:  # only str or absent: 1 == True == 1.0 would share a verdict
            if value.__class__ is not str and value is not _MISSING:
                return predicate(fields)
        verdict = memo.get(key)
        if verdict is None:
            verdict = predicate(fields)
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[key] = verdict
        return verdict

    return match


def _any(preds: list[FieldPredicate]) -> FieldPredicate:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda f: a(f) or b(f)
    return lambda f: any(p(f) for p in preds)


def _all(preds: list[FieldPredicate]) -> FieldPredicate:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda f: a(f) and b(f)
    return lambda f: all(p(f) for p in preds)


def _union(reqs: list[Requirement]) -> Requirement:
    out: set[tuple[str | None, tuple[str, ...]]] = set()
    for r in reqs:
        if r is None:
            return None
        out |= r
    return frozenset(out)


def _best(reqs: Sequence[Requirement]) -> Requirement:
    """Of requirements that all hold, the most selective one."""
    candidates = [r for r in reqs if r]
    if not candidates:
        return None
    return max(candidates, key=lambda r: (min(_selectivity(lits) for _, lits in r), -len(r)))


_COMMON_VALUES = frozenset({"true", "false", "yes", "no", "0", "1", "-"})


def _selectivity(literals: tuple[str, ...]) -> int:
    """How selective literals that must all occur are likely to be: longer is rarer; flag-like
    values are not."""
    return sum(0 if lit in _COMMON_VALUES else len(lit) for lit in literals)


def _clauses(req: Requirement) -> Clauses:
    return () if not req else (req,)


def _or_clauses(children: list[Clauses]) -> Clauses:
    """An OR holds one of its children's (most selective) requirements."""
    return _clauses(_union([_best(c) for c in children]))


def _and_clauses(children: list[Clauses]) -> Clauses:
    """An AND holds every requirement of every child."""
    return tuple(dict.fromkeys(c for clauses in children for c in clauses))


def compile_node(
    node: Node, placeholders: Mapping[str, list[str]] | None
) -> tuple[FieldPredicate, Clauses]:
    """Compile one node of pySigma's condition tree into a predicate and the requirements that
    hold in every event it matches."""
    if node is None:
        raise UnsupportedError("detection is empty after processing (nothing left to match)")
    if isinstance(node, ConditionOR):
        merged, rest = _merge_string_lists(list(node.args))
        keywords = [a for a in rest if isinstance(a, ConditionValueExpression)]
        if len(keywords) > 1:  # one pass over the event's values for all of them
            rest = [a for a in rest if not isinstance(a, ConditionValueExpression)]
            tests = [keyword_test(a.value, placeholders) for a in keywords]
            req = _union([_leaf_requirement(None, a.value) for a in keywords])
            merged.append((keywords_predicate(tests), _clauses(req)))
        parts = merged + [compile_node(a, placeholders) for a in rest]
        return _any([p for p, _ in parts]), _or_clauses([c for _, c in parts])
    if isinstance(node, ConditionAND):
        parts = [compile_node(a, placeholders) for a in node.args]
        return _all([p for p, _ in parts]), _and_clauses([c for _, c in parts])
    if isinstance(node, ConditionNOT):
        inner, _ = compile_node(node.args[0], placeholders)
        return (lambda f: not inner(f)), ()
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return compile_field_value(node.field, node.value, placeholders), _clauses(
            _leaf_requirement(node.field, node.value)
        )
    if isinstance(node, ConditionValueExpression):
        return compile_keyword(node.value, placeholders), _clauses(_leaf_requirement(None, node.value))
    raise UnsupportedError(f"condition element {type(node).__name__} is not supported")


def _leaf_requirement(fieldname: str | None, value: Any) -> Requirement:
    if isinstance(value, SigmaExpansion):
        return _union([_leaf_requirement(fieldname, v) for v in value.values])
    lits = required_literals(value)
    return frozenset({(fieldname, lits)}) if lits else None


# --- OR-lists of plain strings on one field -> one lookup ------------------------------------

_MULTI = SpecialChars.WILDCARD_MULTI


def _shape(value: Any) -> tuple[str, str] | None:
    """Classify a plain case-insensitive SigmaString as (kind, literal) or None."""
    if not isinstance(value, SigmaString) or isinstance(value, SigmaCasedString):
        return None
    parts = value.s
    if any(not isinstance(p, str) and p is not _MULTI for p in parts):
        return None
    if len(parts) == 1 and isinstance(parts[0], str):
        return "eq", parts[0].lower()
    if len(parts) == 2 and parts[0] is _MULTI and isinstance(parts[1], str):
        return "end", parts[1].lower()
    if len(parts) == 2 and parts[1] is _MULTI and isinstance(parts[0], str):
        return "start", parts[0].lower()
    if len(parts) == 3 and parts[0] is _MULTI and parts[2] is _MULTI and isinstance(parts[1], str):
        return "in", parts[1].lower()
    return None


def _merge_string_lists(args: list[Any]) -> tuple[list[tuple[FieldPredicate, Clauses]], list[Any]]:
    groups: dict[str, list[tuple[tuple[str, str], Any]]] = {}
    rest: list[Any] = []
    for a in args:
        shape = _shape(a.value) if isinstance(a, ConditionFieldEqualsValueExpression) else None
        if shape is None:
            rest.append(a)
        else:
            groups.setdefault(a.field, []).append((shape, a))
    out: list[tuple[FieldPredicate, Clauses]] = []
    for fname, members in groups.items():
        if len(members) == 1:  # nothing to merge
            rest.append(members[0][1])
            continue
        shapes = [shape for shape, _ in members]
        requirement: Requirement = frozenset((fname, (lit,)) for _, lit in shapes)
        if any(not lit for _, lit in shapes):
            requirement = None
        out.append((_lookup(fname, shapes), _clauses(requirement)))
    return out, rest


def _lookup(fname: str, shapes: list[tuple[str, str]]) -> FieldPredicate:
    eq = frozenset(lit for k, lit in shapes if k == "eq")
    ends = tuple(lit for k, lit in shapes if k == "end")
    starts = tuple(lit for k, lit in shapes if k == "start")
    ins = tuple(lit for k, lit in shapes if k == "in")

    def test(text: str) -> bool:
        t = text.lower()
        return (
            t in eq
            or (bool(ends) and t.endswith(ends))
            or (bool(starts) and t.startswith(starts))
            or any(n in t for n in ins)
        )

    def match(fields: Fields) -> bool:
        value = fields.get(fname, _MISSING)
        if value is _MISSING:
            value = get_field(fields, fname)
        if isinstance(value, str):
            return test(value)
        if isinstance(value, list):
            return any(t is not None and test(t) for t in (as_text(v) for v in value))
        text = as_text(value)
        return text is not None and test(text)

    return match


__all__: list[str] = [
    "Clauses",
    "CompiledRule",
    "Logsource",
    "Requirement",
    "compile_node",
    "compile_rule",
    "rule_location",
]
