"""Load and validate a technique's signals sidecar (``<technique>.signals.yaml``).

The sidecar is this project's: what telemetry each test must leave and which detections must fire
on it (schema in ``atomics/README.md`` and ``signals.schema.json``). It is checked against the
technique it sits beside; every problem is located (file:line:column) like the technique's.
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import yaml

from harness.atomics import _nodes as n
from harness.atomics.model import (
    LOGSOURCE_KEYS,
    MATCH_MODIFIERS,
    PLACEHOLDER_RE,
    PROXY_MODES,
    SIGNAL_SOURCES,
    AtomicTest,
    Detections,
    Expectation,
    FieldCondition,
    KqlExpectation,
    Match,
    Signal,
    Technique,
    TechniqueSignals,
)
from harness.errors import AtomicDefinitionError

__all__ = ["load_signals", "signals_path", "signals_schema", "signals_structure_problems"]

_SIGNAL_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
_KQL_BRANCH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COMPARISONS = ("contains", "startswith", "endswith", "re", "cidr")


def signals_path(technique_path: str | Path) -> Path:
    """The sidecar beside a technique file: ``T1590.005.yaml`` -> ``T1590.005.signals.yaml``."""
    p = Path(technique_path)
    return p.with_name(p.name.removesuffix(".yaml").removesuffix(".yml") + ".signals.yaml")


def load_signals(path: str | Path, technique: Technique) -> TechniqueSignals:
    """Load ``<technique>.signals.yaml`` against ``technique``; raise ErrorCollection on any problem."""
    problems = n.Problems(str(path))
    root = n.read(path, problems)
    fields = n.mapping(root, "signals file", problems) if root is not None else None
    if root is None or fields is None:
        n.raise_problems(problems)
        raise AssertionError("unreachable")
    n.check_keys(fields, root, "signals file", ("attack_technique", "tests"), (), problems)
    if "attack_technique" in fields:
        tnode = fields["attack_technique"][1]
        got = n.string(tnode, "attack_technique", problems)
        if got is not None and got != technique.attack_technique:
            problems.add(
                tnode,
                f"attack_technique {got!r} does not match the technique file's {technique.attack_technique!r}",
            )
    by_guid = {t.guid: t for t in technique.atomic_tests}
    expectations: dict[str, Expectation] = {}
    signal_ids: dict[str, yaml.Node] = {}
    if "tests" in fields:
        tests_node = fields["tests"][1]
        tests = n.mapping(tests_node, "tests", problems) or {}
        for guid, (key_node, value_node) in tests.items():
            test = by_guid.get(guid)
            if test is None:
                problems.add(
                    key_node,
                    f"tests: {guid!r} is not the GUID of any test in {technique.path or 'the technique'}",
                )
                continue
            expectation = _expectation(test, value_node, problems, signal_ids)
            if expectation is not None:
                expectations[guid] = expectation
        for test in technique.atomic_tests:
            if test.guid not in tests:
                problems.add(tests_node, f"tests: no signals declared for {test.id} ({test.guid})")
    n.raise_problems(problems)
    return TechniqueSignals(technique.attack_technique, expectations, str(path))


def _expectation(
    test: AtomicTest, node: yaml.Node, problems: n.Problems, signal_ids: dict[str, yaml.Node]
) -> Expectation | None:
    what = f"tests[{test.guid}]"
    before = len(problems.errors)
    fields = n.mapping(node, what, problems)
    if fields is None:
        return None
    n.check_keys(fields, node, what, ("atomic_id", "signals"), ("secrets",), problems)
    if "atomic_id" in fields:
        inode = fields["atomic_id"][1]
        got = n.string(inode, f"{what}: atomic_id", problems)
        if got is not None and got != test.id:
            problems.add(inode, f"{what}: atomic_id {got!r} does not match: this GUID is {test.id} ({test.name})")
    secrets: list[str] = []
    if "secrets" in fields:
        for item, name in n.strings(fields["secrets"][1], f"{what}: secrets", problems):
            if name not in test.input_arguments:
                problems.add(item, f"{what}: secret {name!r} is not an input argument of {test.id}")
            elif name in secrets:
                problems.add(item, f"{what}: secret {name!r} listed twice")
            secrets.append(name)
    signals: list[Signal] = []
    if "signals" in fields:
        snode = fields["signals"][1]
        items = n.sequence(snode, f"{what}: signals", problems)
        if items is not None and not items:
            problems.add(snode, f"{what}: signals must hold at least one signal")
        for item in items or []:
            signal = _signal(test, item, what, set(secrets), problems, signal_ids)
            if signal is not None:
                signals.append(signal)
    if len(problems.errors) != before:
        return None
    return Expectation(test.guid, test.id, tuple(secrets), tuple(signals))


def _signal(
    test: AtomicTest,
    node: yaml.Node,
    parent: str,
    secrets: set[str],
    problems: n.Problems,
    signal_ids: dict[str, yaml.Node],
) -> Signal | None:
    before = len(problems.errors)
    fields = n.mapping(node, f"{parent}: signal", problems)
    if fields is None:
        return None
    signal_id = ""
    if "id" in fields:
        inode = fields["id"][1]
        signal_id = n.string(inode, f"{parent}: signal id", problems) or ""
        if signal_id and not _SIGNAL_ID.fullmatch(signal_id):
            problems.add(inode, f"{parent}: signal id {signal_id!r} must be lowercase letters, digits and -")
        elif signal_id in signal_ids:
            first = problems.at(signal_ids[signal_id])
            problems.add(inode, f"{parent}: duplicate signal id {signal_id!r} (first used at line {first.line})")
        elif signal_id:
            signal_ids[signal_id] = inode
    what = f"signal {signal_id or '?'}"
    n.check_keys(
        fields,
        node,
        what,
        ("id", "description", "source", "sensor", "match", "detections"),
        ("modes", "enriched_by"),
        problems,
    )
    description = (
        n.string(fields["description"][1], f"{what}: description", problems) if "description" in fields else None
    )
    vocab: dict[str, str] = {}
    for key in ("source", "sensor"):
        if key in fields:
            knode = fields[key][1]
            got = n.string(knode, f"{what}: {key}", problems)
            if got is not None and got not in SIGNAL_SOURCES:
                problems.add(knode, f"{what}: {key} {got!r} is not one of {', '.join(SIGNAL_SOURCES)}")
            elif got is not None:
                vocab[key] = got
    modes: list[str] = list(PROXY_MODES)
    if "modes" in fields:
        mnode = fields["modes"][1]
        modes = []
        for item, mode in n.strings(mnode, f"{what}: modes", problems):
            if mode not in PROXY_MODES:
                problems.add(item, f"{what}: mode {mode!r} is not one of {', '.join(PROXY_MODES)}")
            elif mode in modes:
                problems.add(item, f"{what}: mode {mode!r} listed twice")
            modes.append(mode)
        if isinstance(mnode, yaml.SequenceNode) and not mnode.value:
            problems.add(mnode, f"{what}: modes must name at least one mode (omit it for all modes)")
    enriched: list[str] = []
    if "enriched_by" in fields:
        enode = fields["enriched_by"][1]
        for item, sensor in n.strings(enode, f"{what}: enriched_by", problems):
            if sensor not in SIGNAL_SOURCES:
                problems.add(item, f"{what}: enriched_by {sensor!r} is not one of {', '.join(SIGNAL_SOURCES)}")
            elif sensor in enriched or sensor == vocab.get("sensor"):
                problems.add(item, f"{what}: enriched_by {sensor!r} repeats a sensor the signal already names")
            else:
                enriched.append(sensor)
    match = _match(test, fields["match"][1], what, secrets, problems) if "match" in fields else None
    detections = _detections(fields["detections"][1], what, problems) if "detections" in fields else None
    if len(problems.errors) != before or match is None or detections is None or description is None:
        return None
    return Signal(
        signal_id,
        description,
        vocab["source"],
        vocab["sensor"],
        match,
        detections,
        tuple(modes),
        problems.at(node),
        tuple(enriched),
    )


def _match(test: AtomicTest, node: yaml.Node, parent: str, secrets: set[str], problems: n.Problems) -> Match | None:
    what = f"{parent}: match"
    fields = n.mapping(node, what, problems)
    if fields is None:
        return None
    n.check_keys(fields, node, what, ("logsource",), ("fields", "min_count"), problems)
    logsource: dict[str, str] = {}
    if "logsource" in fields:
        lnode = fields["logsource"][1]
        for key, (key_node, value_node) in (n.mapping(lnode, f"{what}: logsource", problems) or {}).items():
            if key not in LOGSOURCE_KEYS:
                problems.add(key_node, f"{what}: logsource key {key!r} is not one of {', '.join(LOGSOURCE_KEYS)}")
                continue
            got = n.string(value_node, f"{what}: logsource.{key}", problems)
            if got is not None:
                logsource[key] = got
        if isinstance(lnode, yaml.MappingNode) and not lnode.value:
            problems.add(lnode, f"{what}: logsource must name a product, service or category")
    conditions: list[FieldCondition] = []
    if "fields" in fields:
        fnode = fields["fields"][1]
        for key, (key_node, value_node) in (n.mapping(fnode, f"{what}: fields", problems) or {}).items():
            condition = _condition(test, key, key_node, value_node, what, secrets, problems)
            if condition is not None:
                conditions.append(condition)
    min_count = 1
    if "min_count" in fields:
        cnode = fields["min_count"][1]
        count = n.value(cnode)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            problems.add(cnode, f"{what}: min_count must be an integer >= 1")
        else:
            min_count = count
    return Match(logsource, tuple(conditions), min_count)


def _condition(
    test: AtomicTest,
    key: str,
    key_node: yaml.Node,
    value_node: yaml.Node,
    parent: str,
    secrets: set[str],
    problems: n.Problems,
) -> FieldCondition | None:
    before = len(problems.errors)
    field_name, *modifiers = key.split("|")
    if not field_name:
        problems.add(key_node, f"{parent}: field condition {key!r} has no field name")
    for modifier in modifiers:
        if modifier not in MATCH_MODIFIERS:
            problems.add(
                key_node,
                f"{parent}: modifier {modifier!r} in {key!r} is not one of {', '.join(MATCH_MODIFIERS)}",
            )
    if len([m for m in modifiers if m in _COMPARISONS]) > 1:
        problems.add(key_node, f"{parent}: {key!r} combines several comparison modifiers")
    if len(set(modifiers)) != len(modifiers):
        problems.add(key_node, f"{parent}: {key!r} repeats a modifier")
    raw_items = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
    if isinstance(value_node, yaml.SequenceNode) and not raw_items:
        problems.add(value_node, f"{parent}: {key!r} needs at least one value")
    if "all" in modifiers and not isinstance(value_node, yaml.SequenceNode):
        problems.add(key_node, f"{parent}: {key!r} uses 'all' with a single value (give a list)")
    values: list[str] = []
    for item in raw_items:
        got = n.value(item) if isinstance(item, yaml.ScalarNode) else None
        if got is None or not isinstance(got, str | int | float | bool):
            problems.add(item, f"{parent}: {key!r} values must be strings, numbers or booleans")
            continue
        text = ("true" if got else "false") if isinstance(got, bool) else str(got)
        for name, where in n.placeholders(item, problems):
            if name not in test.input_arguments:
                problems.errors.append(
                    AtomicDefinitionError(f"{parent}: #{{{name}}} is not an input argument of {test.id}", where)
                )
            elif name in secrets:
                problems.errors.append(
                    AtomicDefinitionError(f"{parent}: #{{{name}}} is a secret and cannot appear in a match", where)
                )
        rendered = PLACEHOLDER_RE.sub(
            lambda m: (
                test.input_arguments[m.group(1)].default_text() if m.group(1) in test.input_arguments else m.group(0)
            ),
            text,
        )
        if "re" in modifiers:
            try:
                re.compile(rendered)
            except re.error as exc:
                problems.add(item, f"{parent}: {key!r}: invalid regular expression: {exc}")
        if "cidr" in modifiers:
            try:
                ipaddress.ip_network(rendered, strict=False)
            except ValueError:
                problems.add(item, f"{parent}: {key!r}: {rendered!r} is not a network (CIDR)")
        values.append(text)
    if len(problems.errors) != before:
        return None
    return FieldCondition(field_name, tuple(modifiers), tuple(values))


def _detections(node: yaml.Node, parent: str, problems: n.Problems) -> Detections | None:
    what = f"{parent}: detections"
    fields = n.mapping(node, what, problems)
    if fields is None:
        return None
    n.check_keys(fields, node, what, (), ("sigma", "kql"), problems)
    sigma: list[str] = []
    if "sigma" in fields:
        for item, rule_id in n.strings(fields["sigma"][1], f"{what}: sigma", problems):
            try:
                canonical = str(uuid.UUID(rule_id))
            except ValueError:
                canonical = ""
            if canonical != rule_id:
                problems.add(item, f"{what}: sigma rule id {rule_id!r} is not a lowercase UUID")
            elif rule_id in sigma:
                problems.add(item, f"{what}: sigma rule id {rule_id!r} listed twice")
            sigma.append(rule_id)
    kql: list[KqlExpectation] = []
    if "kql" in fields:
        for item in n.sequence(fields["kql"][1], f"{what}: kql", problems) or []:
            spec = n.mapping(item, f"{what}: kql item", problems)
            if spec is None:
                continue
            n.check_keys(spec, item, f"{what}: kql item", ("query", "branch"), (), problems)
            query = n.string(spec["query"][1], f"{what}: kql query", problems) if "query" in spec else None
            if query is not None:
                pure = PurePosixPath(query)
                if (
                    pure.is_absolute()
                    or ".." in pure.parts
                    or pure.parts[:2] != ("detections", "kql")
                    or pure.suffix != ".kql"
                    or "\\" in query
                ):
                    problems.add(
                        spec["query"][1],
                        f"{what}: kql query {query!r} must be a repository-relative path detections/kql/….kql",
                    )
                    query = None
            branch = n.string(spec["branch"][1], f"{what}: kql branch", problems) if "branch" in spec else None
            if branch is not None and not _KQL_BRANCH.fullmatch(branch):
                problems.add(spec["branch"][1], f"{what}: kql branch {branch!r} is not an identifier")
                branch = None
            if query is not None and branch is not None:
                expectation = KqlExpectation(query, branch)
                if expectation in kql:
                    problems.add(item, f"{what}: kql expectation listed twice")
                kql.append(expectation)
    return Detections(tuple(sigma), tuple(kql))


def signals_schema() -> dict[str, Any]:
    """The JSON Schema of the signals sidecar (``harness/atomics/signals.schema.json``)."""
    text = resources.files("harness.atomics").joinpath("signals.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def signals_structure_problems(path: str | Path) -> list[AtomicDefinitionError]:
    """Structural problems of a sidecar (JSON Schema only, no cross-file rules), each located."""
    problems = n.Problems(str(path))
    root = n.read(path, problems)
    if root is None:
        return problems.errors
    validator = jsonschema.Draft202012Validator(signals_schema())
    for error in sorted(validator.iter_errors(n.value(root)), key=lambda e: list(map(str, e.absolute_path))):
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        problems.add(_node_at(root, list(error.absolute_path)), f"{where}: {error.message}")
    return problems.errors


def _node_at(node: yaml.Node, path: list[str | int]) -> yaml.Node:
    """The node at a JSON path (keys and indexes), or the deepest one that exists."""
    for step in path:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(step)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            nxt = node.value[step]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
    return node

