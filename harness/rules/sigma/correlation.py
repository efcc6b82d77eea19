"""Sigma correlation rules (event_count, value_count, temporal, temporal_ordered, value_sum/avg/
median/percentile) evaluated over the matches of the rules they reference.

Windows: counting correlations with ``gt`` / ``gte`` use a sliding window per group and fire as
soon as the condition holds (then the group starts afresh, so one burst gives one match); every
other condition (``lt``, ``lte``, ``eq``, ``neq``, aggregates) is judged on a window anchored at
the group's first event once it closes (a later event falls outside it, or the input ends).
Temporal correlations fire when all referenced rules (or the number the condition asks for, or
the extended boolean condition) matched within the timespan, in the listed order for
``temporal_ordered``; the group's later hits within the timespan of the match's first event join
that match. Events without a usable timestamp cannot be placed in time: they are
counted in ``untimed`` and skipped, never silently matched.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionItem,
    CorrelationConditionNOT,
    CorrelationConditionOR,
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
    SigmaExtendedCorrelationCondition,
    SigmaRuleReference,
)

from harness.errors import SourceLocation, UnsupportedError
from harness.rules.sigma.values import _MISSING, as_text, get_field

_OPS: dict[SigmaCorrelationConditionOperator, Callable[[float, float], bool]] = {
    SigmaCorrelationConditionOperator.LT: lambda a, b: a < b,
    SigmaCorrelationConditionOperator.LTE: lambda a, b: a <= b,
    SigmaCorrelationConditionOperator.GT: lambda a, b: a > b,
    SigmaCorrelationConditionOperator.GTE: lambda a, b: a >= b,
    SigmaCorrelationConditionOperator.EQ: lambda a, b: a == b,
    SigmaCorrelationConditionOperator.NEQ: lambda a, b: a != b,
}
_MONOTONIC = {SigmaCorrelationConditionOperator.GT, SigmaCorrelationConditionOperator.GTE}
_TEMPORAL = {SigmaCorrelationType.TEMPORAL, SigmaCorrelationType.TEMPORAL_ORDERED}


@dataclass(frozen=True)
class Hit:
    """One input of a correlation: a base-rule match (or a nested correlation's match)."""

    time: float
    indexes: tuple[int, ...]
    fields: Mapping[str, Any]
    rule_key: int  # id() of the referenced pySigma rule object


@dataclass(frozen=True)
class CorrelationMatch:
    """A correlation that fired: the events it joins and the group they share."""

    rule_id: str
    title: str
    level: str | None
    correlation_type: str
    indexes: tuple[int, ...]
    group: Mapping[str, Any]
    value: float | None
    time: float


@dataclass(frozen=True)
class CompiledCorrelation:
    """A correlation rule with its references resolved to rule keys and its fields per rule."""

    rule_id: str
    title: str
    level: str | None
    type: SigmaCorrelationType
    rule_keys: tuple[int, ...]
    rule_names: tuple[str, ...]
    group_by: tuple[str, ...]
    timespan: float
    aliases: Mapping[tuple[str, int], str] = field(repr=False)
    condition: SigmaCorrelationCondition | None = None
    extended: CorrelationConditionItem | SigmaRuleReference | None = None
    self_key: int = 0
    source: SourceLocation | None = None

    def field_of(self, name: str, rule_key: int) -> str:
        return self.aliases.get((name, rule_key), name)


def compile_correlation(rule: SigmaCorrelationRule) -> CompiledCorrelation:
    """Resolve a pySigma correlation rule (references already resolved by the collection)."""
    src = rule.source
    location = SourceLocation(str(src.path), src.line, src.char) if src else None
    refs = list(rule.referenced_rules or rule.rules or [])
    keys: list[int] = []
    names: list[str] = []
    for ref in refs:
        target = getattr(ref, "rule", None)
        if target is None:
            raise UnsupportedError(f"correlation reference '{ref.reference}' is not resolved", location)
        keys.append(id(target))
        names.append(ref.reference)
    aliases: dict[tuple[str, int], str] = {}
    by_reference = dict(zip(names, keys, strict=True))
    for ref in refs:  # a rule may be referenced by id or by name
        target = ref.rule
        for alt in (str(target.id) if target.id else None, target.name):
            if alt is not None:
                by_reference.setdefault(alt, id(target))
    for alias in rule.aliases:
        for ref, fname in alias.mapping.items():
            key = by_reference.get(ref.reference)
            if key is None:
                raise UnsupportedError(
                    f"alias '{alias.alias}' maps rule '{ref.reference}' that the correlation does not use",
                    location,
                )
            aliases[(alias.alias, key)] = fname
    condition = rule.condition if isinstance(rule.condition, SigmaCorrelationCondition) else None
    extended = (
        rule.condition.parsed if isinstance(rule.condition, SigmaExtendedCorrelationCondition) else None
    )
    if (
        condition is not None
        and rule.type not in _TEMPORAL
        and condition.fieldref is not None
        and not isinstance(condition.fieldref, str)
    ):
        raise UnsupportedError("correlation condition with several fields is not supported", location)
    return CompiledCorrelation(
        rule_id=str(rule.id) if rule.id else (rule.name or rule.title),
        title=rule.title,
        level=str(rule.level.name).lower() if rule.level else None,
        type=rule.type,
        rule_keys=tuple(keys),
        rule_names=tuple(names),
        group_by=tuple(rule.group_by or ()),
        timespan=float(rule.timespan.seconds),
        aliases=aliases,
        condition=condition,
        extended=extended,
        self_key=id(rule),
        source=location,
    )


def parse_time(value: Any) -> float | None:
    """Seconds since the epoch from ISO-8601 text, ``YYYY-MM-DD HH:MM:SS.fff`` or a number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        v = float(value)
        return v / 1e9 if v > 1e14 else (v / 1e3 if v > 1e11 else v)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        if " " in text and "T" not in text:
            text = text.replace(" ", "T", 1)
        try:
            ts = datetime.fromisoformat(text)
        except ValueError:
            return None
        if ts.tzinfo is None:
            from datetime import UTC

            ts = ts.replace(tzinfo=UTC)
        return ts.timestamp()
    return None


def _group_key(corr: CompiledCorrelation, hit: Hit) -> tuple[Any, ...]:
    out: list[Any] = []
    for name in corr.group_by:
        fname = corr.field_of(name, hit.rule_key)
        value = get_field(hit.fields, fname)
        if value is _MISSING:
            value = None
        text = as_text(value)
        out.append(text.lower() if text is not None else None)
    return tuple(out)


def _group_dict(corr: CompiledCorrelation, hit: Hit) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in corr.group_by:
        value = get_field(hit.fields, corr.field_of(name, hit.rule_key))
        out[name] = None if value is _MISSING else value
    return out


def _aggregate(corr: CompiledCorrelation, window: Sequence[Hit]) -> float | None:
    cond = corr.condition
    assert cond is not None
    if corr.type is SigmaCorrelationType.EVENT_COUNT:
        return float(len(window))
    fieldref = cond.fieldref if isinstance(cond.fieldref, str) else None
    values = []
    for hit in window:
        value = get_field(hit.fields, corr.field_of(fieldref, hit.rule_key)) if fieldref else _MISSING
        if value is not _MISSING and value is not None:
            values.append(value)
    if corr.type is SigmaCorrelationType.VALUE_COUNT:
        return float(len({(as_text(v) or repr(v)).lower() for v in values}))
    numbers: list[float] = []
    for v in values:
        try:
            numbers.append(float(v))
        except (TypeError, ValueError):
            continue
    if not numbers:
        return None
    if corr.type is SigmaCorrelationType.VALUE_SUM:
        return math.fsum(numbers)
    if corr.type is SigmaCorrelationType.VALUE_AVG:
        return math.fsum(numbers) / len(numbers)
    if corr.type is SigmaCorrelationType.VALUE_MEDIAN:
        return float(statistics.median(numbers))
    if corr.type is SigmaCorrelationType.VALUE_PERCENTILE:
        pct = cond.percentile if cond.percentile is not None else 50
        ordered = sorted(numbers)
        rank = max(0, min(len(ordered) - 1, math.ceil(pct / 100 * len(ordered)) - 1))
        return ordered[rank]
    raise UnsupportedError(f"correlation type {corr.type.name.lower()} is not supported")


def _eval_extended(node: CorrelationConditionItem | SigmaRuleReference, present: set[str]) -> bool:
    if isinstance(node, SigmaRuleReference):
        return node.reference in present
    if isinstance(node, CorrelationConditionAND):
        return all(_eval_extended(a, present) for a in node.args)
    if isinstance(node, CorrelationConditionOR):
        return any(_eval_extended(a, present) for a in node.args)
    if isinstance(node, CorrelationConditionNOT):
        return not _eval_extended(node.args[0], present)
    raise UnsupportedError(f"extended correlation condition element {type(node).__name__}")


def _ordered_chain(order: Sequence[int], window: Sequence[Hit]) -> list[Hit] | None:
    chain: list[Hit] = []
    last = (-math.inf, -1)
    for key in order:
        best = None
        for hit in window:
            pos = (hit.time, hit.indexes[-1])
            if hit.rule_key == key and pos > last and (best is None or pos < (best.time, best.indexes[-1])):
                best = hit
        if best is None:
            return None
        chain.append(best)
        last = (best.time, best.indexes[-1])
    return chain


def evaluate(corr: CompiledCorrelation, hits: Sequence[Hit]) -> list[CorrelationMatch]:
    """Evaluate one correlation over its input hits (any order; sorted here by time, then index)."""
    ordered = sorted(hits, key=lambda h: (h.time, h.indexes[-1]))
    groups: dict[tuple[Any, ...], deque[Hit]] = {}
    out: list[CorrelationMatch] = []
    span = corr.timespan

    def emit(window: Sequence[Hit], value: float | None) -> None:
        idx = tuple(sorted({i for h in window for i in h.indexes}))
        out.append(
            CorrelationMatch(
                corr.rule_id,
                corr.title,
                corr.level,
                corr.type.name.lower(),
                idx,
                _group_dict(corr, window[-1]),
                value,
                window[-1].time,
            )
        )

    if corr.type in _TEMPORAL:
        order = corr.rule_keys
        name_of = dict(zip(corr.rule_keys, corr.rule_names, strict=False))
        needed = len(set(order))
        cond = corr.condition
        explicit = cond is not None and not (
            cond.op is SigmaCorrelationConditionOperator.GTE and cond.count == 1
        )
        # A group's match takes in the group's later hits within the timespan of its first event:
        # one alert per group and span, naming every event it covers (the same report written by
        # two sensors, auditd and Sysmon, belongs to that alert, not to none).
        fired_groups: dict[tuple[Any, ...], tuple[int, float]] = {}
        for hit in ordered:
            key = _group_key(corr, hit)
            if key in fired_groups:
                pos, start = fired_groups[key]
                if hit.time - start <= span:
                    m = out[pos]
                    out[pos] = replace(m, indexes=tuple(sorted(set(m.indexes) | set(hit.indexes))))
                    continue
                del fired_groups[key]
            window = groups.setdefault(key, deque())
            window.append(hit)
            while window and window[0].time < hit.time - span:
                window.popleft()
            present = {h.rule_key for h in window}
            if corr.extended is not None:
                fired = _eval_extended(corr.extended, {name_of[k] for k in present if k in name_of})
            elif explicit and cond is not None:
                fired = _OPS[cond.op](len(present), cond.count)
            else:
                fired = len(present) >= needed
            if fired and corr.type is SigmaCorrelationType.TEMPORAL_ORDERED and corr.extended is None:
                chain = _ordered_chain(order, list(window))
                fired = chain is not None
            if fired:
                emit(list(window), float(len(present)))
                fired_groups[key] = (len(out) - 1, window[0].time)
                window.clear()
        return out

    cond = corr.condition
    if cond is None:
        raise UnsupportedError("non-temporal correlation without a condition", corr.source)
    test = _OPS[cond.op]
    sliding = cond.op in _MONOTONIC and corr.type in {
        SigmaCorrelationType.EVENT_COUNT,
        SigmaCorrelationType.VALUE_COUNT,
        SigmaCorrelationType.VALUE_SUM,
    }
    for hit in ordered:
        key = _group_key(corr, hit)
        window = groups.setdefault(key, deque())
        if sliding:
            window.append(hit)
            while window and window[0].time < hit.time - span:
                window.popleft()
            value = _aggregate(corr, list(window))
            if value is not None and test(value, cond.count):
                emit(list(window), value)
                window.clear()
        else:
            if window and hit.time - window[0].time > span:
                value = _aggregate(corr, list(window))
                if value is not None and test(value, cond.count):
                    emit(list(window), value)
                window.clear()
            window.append(hit)
    if not sliding:
        for window in groups.values():
            if window:
                value = _aggregate(corr, list(window))
                if value is not None and test(value, cond.count):
                    emit(list(window), value)
    out.sort(key=lambda m: (m.time, m.indexes[-1] if m.indexes else -1))
    return out
