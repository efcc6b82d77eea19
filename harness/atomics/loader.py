"""Load and validate atomic definitions (ART YAML) and their signals sidecar.

Both loaders read the YAML node tree (``yaml.compose``) so every problem carries the file, line and
column it comes from; they check everything, then raise one :class:`ErrorCollection` listing every
problem, or return frozen model objects.

The ART rules mirror ``atomic_red_team/models.py`` (redcanaryco/atomic-red-team), with three
deliberate tightenings: no unknown key anywhere (upstream forbids them only on a test), a GUID on
every test that is a canonical UUIDv4, and command executors limited to ``sh``/``bash`` (the
harness runs tests on Linux over SSH).
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import yaml

from harness.atomics import _nodes as n
from harness.atomics.model import (
    EXECUTOR_NAMES,
    INPUT_ARGUMENT_TYPES,
    LOGSOURCE_KEYS,
    MATCH_MODIFIERS,
    PLACEHOLDER_RE,
    PLATFORMS,
    PROXY_MODES,
    SIGNAL_SOURCES,
    AtomicTest,
    Dependency,
    Detections,
    Executor,
    Expectation,
    FieldCondition,
    InputArgument,
    KqlExpectation,
    Match,
    Signal,
    Technique,
    TechniqueSignals,
)
from harness.errors import AtomicDefinitionError, ErrorCollection, HarnessError, SourceLocation

__all__ = [
    "default_technique_path",
    "find",
    "load",
    "load_signals",
    "load_technique",
    "signals_path",
    "signals_schema",
    "signals_structure_problems",
]

#: Command executors the harness can run (ART accepts more; see EXECUTOR_NAMES).
RUNNABLE_EXECUTORS = ("sh", "bash")
_TECHNIQUE_ID = re.compile(r"T\d{4}(?:\.\d{3})?")
_ARG_NAME = re.compile(r"[\w_-]+")
_SIGNAL_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
_KQL_BRANCH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#]+\S*")
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9][a-z0-9-]{0,61}[a-z0-9]")
_COMPARISONS = ("contains", "startswith", "endswith", "re", "cidr")

_Fields = dict[str, tuple[yaml.Node, yaml.Node]]


def _read(path: str | Path, problems: n.Problems) -> yaml.Node | None:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.errors.append(AtomicDefinitionError(f"cannot read file: {exc}", SourceLocation(str(path))))
        return None
    root = n.compose(str(path), text, problems)
    if root is None and not problems.errors:
        problems.add(None, "file is empty")
    return root


def _raise(problems: n.Problems) -> None:
    if problems.errors:
        errors: list[HarnessError] = list(problems.errors)
        raise ErrorCollection(errors)


def _placeholders(node: yaml.Node, problems: n.Problems) -> list[tuple[str, SourceLocation]]:
    """``#{name}`` uses in a scalar node, each located exactly in the file when the text allows."""
    text = n.value(node)
    if not isinstance(text, str):
        return []
    names = [m.group(1) for m in PLACEHOLDER_RE.finditer(text)]
    out: list[tuple[str, SourceLocation]] = []
    after = 0
    for name in names:
        where = problems.at(node)
        found = n.find_in_node(node, "#{" + name + "}", problems, after)
        if found is not None:
            line, column, after = found
            after += 1
            where = SourceLocation(problems.path, line, column)
        out.append((name, where))
    return out


# --- Atomic Red Team technique file -------------------------------------------------------------


def load_technique(path: str | Path) -> Technique:
    """Load an ART technique YAML; raise ErrorCollection with every problem found."""
    problems = n.Problems(str(path))
    root = _read(path, problems)
    if root is None:
        _raise(problems)
    fields = n.mapping(root, "technique", problems)
    if fields is None:
        _raise(problems)
        raise AssertionError("unreachable")
    assert root is not None
    n.check_keys(fields, root, "technique", ("attack_technique", "display_name", "atomic_tests"), (), problems)

    technique_id = ""
    if "attack_technique" in fields:
        node = fields["attack_technique"][1]
        got = n.string(node, "attack_technique", problems, min_length=5)
        if got is not None and not _TECHNIQUE_ID.fullmatch(got):
            problems.add(node, f"attack_technique {got!r} is not an ATT&CK id (T1234 or T1234.567)")
        technique_id = got or ""
    display_name = ""
    if "display_name" in fields:
        display_name = n.string(fields["display_name"][1], "display_name", problems, min_length=5) or ""

    tests: list[AtomicTest] = []
    if "atomic_tests" in fields:
        node = fields["atomic_tests"][1]
        items = n.sequence(node, "atomic_tests", problems)
        if items is not None and not items:
            problems.add(node, "atomic_tests must hold at least one test")
        names: dict[str, yaml.Node] = {}
        guids: dict[str, yaml.Node] = {}
        for index, item in enumerate(items or [], start=1):
            test = _atomic_test(item, f"{technique_id or 'T?'}-{index}", problems, names, guids)
            if test is not None:
                tests.append(test)

    _raise(problems)
    return Technique(technique_id, display_name, tuple(tests), str(path))


def _atomic_test(
    node: yaml.Node,
    test_id: str,
    problems: n.Problems,
    names: dict[str, yaml.Node],
    guids: dict[str, yaml.Node],
) -> AtomicTest | None:
    before = len(problems.errors)
    what = f"atomic test {test_id}"
    fields = n.mapping(node, what, problems)
    if fields is None:
        return None
    n.check_keys(
        fields,
        node,
        what,
        ("name", "auto_generated_guid", "description", "supported_platforms", "executor"),
        ("input_arguments", "dependency_executor_name", "dependencies", "test_number"),
        problems,
    )

    name = _unique(fields, "name", what, problems, names, "test name")
    guid = ""
    if "auto_generated_guid" in fields:
        gnode = fields["auto_generated_guid"][1]
        text = n.string(gnode, f"{what}: auto_generated_guid", problems)
        if text is not None:
            if not _is_uuid4(text):
                problems.add(gnode, f"{what}: auto_generated_guid {text!r} is not a canonical lowercase UUIDv4")
            else:
                guid = text
                _unique(fields, "auto_generated_guid", what, problems, guids, "GUID")
    description = ""
    if "description" in fields:
        description = n.string(fields["description"][1], f"{what}: description", problems) or ""
    if "test_number" in fields:
        tnode = fields["test_number"][1]
        if n.string(tnode, f"{what}: test_number", problems, nullable=True) not in (None, test_id):
            problems.add(tnode, f"{what}: test_number must be {test_id!r} (tests are numbered by position)")

    platforms: list[str] = []
    if "supported_platforms" in fields:
        pnode = fields["supported_platforms"][1]
        for item, platform in n.strings(pnode, f"{what}: supported_platforms", problems):
            if platform not in PLATFORMS:
                problems.add(item, f"{what}: unknown platform {platform!r} (allowed: {', '.join(PLATFORMS)})")
            platforms.append(platform)
        if isinstance(pnode, yaml.SequenceNode) and not pnode.value:
            problems.add(pnode, f"{what}: supported_platforms must name at least one platform")

    arguments, arg_nodes = _input_arguments(fields, what, problems)
    dependencies, dep_nodes = _dependencies(fields, what, problems)

    dep_executor: str | None = None
    if "dependency_executor_name" in fields:
        dnode = fields["dependency_executor_name"][1]
        got = n.value(dnode)
        if got is None or got == "":
            problems.add(
                dnode,
                f"{what}: dependency_executor_name is empty; give one of {', '.join(EXECUTOR_NAMES)} or remove the key",
            )
        elif got not in EXECUTOR_NAMES:
            problems.add(dnode, f"{what}: dependency_executor_name {got!r} is not one of {', '.join(EXECUTOR_NAMES)}")
        elif not dep_nodes and not dependencies:
            problems.add(dnode, f"{what}: dependency_executor_name is not needed without dependencies")
        else:
            dep_executor = str(got)

    executor, command_nodes = _executor(fields, what, problems)
    if executor is not None and any(p in ("linux", "macos") for p in platforms) and not executor.elevation_required:
        commands = [executor.command, executor.cleanup_command or ""]
        if any("sudo" in c for c in commands):
            enode = fields["executor"][1]
            problems.add(enode, f"{what}: a command uses sudo, so executor.elevation_required must be true")

    # Every #{arg} used is declared, every declared argument is used (command, cleanup, dependencies).
    used: set[str] = set()
    for cnode in [*command_nodes, *dep_nodes]:
        for placeholder, where in _placeholders(cnode, problems):
            used.add(placeholder)
            if placeholder not in arguments:
                problems.errors.append(
                    AtomicDefinitionError(f"{what}: #{{{placeholder}}} is not declared in input_arguments", where)
                )
    for arg_name, key_node in arg_nodes.items():
        if arg_name not in used:
            problems.add(key_node, f"{what}: input argument {arg_name!r} is not used by any command")

    if len(problems.errors) != before or executor is None:
        return None
    return AtomicTest(
        id=test_id,
        guid=guid,
        name=name,
        description=description,
        supported_platforms=tuple(platforms),
        input_arguments=arguments,
        dependency_executor_name=dep_executor,
        dependencies=tuple(dependencies),
        executor=executor,
        location=problems.at(node),
    )


def _unique(fields: _Fields, key: str, what: str, problems: n.Problems, seen: dict[str, yaml.Node], label: str) -> str:
    if key not in fields:
        return ""
    vnode = fields[key][1]
    text = n.string(vnode, f"{what}: {key}", problems)
    if text is None:
        return ""
    folded = text.strip().lower()
    if folded in seen:
        first = problems.at(seen[folded])
        problems.add(vnode, f"{what}: duplicate {label} {text!r} (first used at line {first.line})")
    else:
        seen[folded] = vnode
    return text


def _is_uuid4(text: str) -> bool:
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        return False
    return parsed.version == 4 and str(parsed) == text


def _input_arguments(
    fields: _Fields, what: str, problems: n.Problems
) -> tuple[dict[str, InputArgument], dict[str, yaml.Node]]:
    arguments: dict[str, InputArgument] = {}
    key_nodes: dict[str, yaml.Node] = {}
    if "input_arguments" not in fields:
        return arguments, key_nodes
    node = fields["input_arguments"][1]
    if node.tag == "tag:yaml.org,2002:null":
        problems.add(node, f"{what}: input_arguments is empty; give arguments or remove the key")
        return arguments, key_nodes
    args = n.mapping(node, f"{what}: input_arguments", problems)
    for name, (key_node, value_node) in (args or {}).items():
        key_nodes[name] = key_node
        where = f"{what}: input argument {name!r}"
        if len(name) < 2 or not _ARG_NAME.fullmatch(name):
            problems.add(key_node, f"{where}: names are at least 2 characters of letters, digits, _ and -")
        spec = n.mapping(value_node, where, problems)
        if spec is None:
            continue
        n.check_keys(spec, value_node, where, ("description", "type", "default"), (), problems)
        description = (
            n.string(spec["description"][1], f"{where}: description", problems, min_length=0)
            if "description" in spec
            else None
        )
        kind = None
        if "type" in spec:
            tnode = spec["type"][1]
            kind = n.string(tnode, f"{where}: type", problems)
            if kind is not None and kind not in INPUT_ARGUMENT_TYPES:
                problems.add(tnode, f"{where}: type {kind!r} is not one of url, string, path, integer, float")
                kind = None
        default: str | int | float | None = None
        if "default" in spec and kind is not None:
            dnode = spec["default"][1]
            default = _default(dnode, kind.lower(), where, problems)
        if description is not None and kind is not None:
            arguments[name] = InputArgument(name, description, kind, default)
    return arguments, key_nodes


def _default(node: yaml.Node, kind: str, where: str, problems: n.Problems) -> str | int | float | None:
    got = n.value(node) if isinstance(node, yaml.ScalarNode) else node
    if got is None:
        return None
    ok: bool
    if kind in ("string", "path"):
        ok = isinstance(got, str)
    elif kind == "integer":
        ok = isinstance(got, int) and not isinstance(got, bool)
    elif kind == "float":
        ok = isinstance(got, float)
    else:  # url: a domain name, a URL or an IP address, as ART's UrlArg
        ok = isinstance(got, str) and bool(_URL.fullmatch(got) or _DOMAIN.fullmatch(got) or _is_ip(got))
    if not ok:
        problems.add(node, f"{where}: default {got!r} is not a valid {kind}")
        return None
    assert isinstance(got, str | int | float)
    return got


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _dependencies(fields: _Fields, what: str, problems: n.Problems) -> tuple[list[Dependency], list[yaml.Node]]:
    deps: list[Dependency] = []
    command_nodes: list[yaml.Node] = []
    if "dependencies" not in fields:
        return deps, command_nodes
    node = fields["dependencies"][1]
    if node.tag == "tag:yaml.org,2002:null":
        return deps, command_nodes
    for index, item in enumerate(n.sequence(node, f"{what}: dependencies", problems) or [], start=1):
        where = f"{what}: dependency {index}"
        spec = n.mapping(item, where, problems)
        if spec is None:
            continue
        n.check_keys(spec, item, where, ("description", "prereq_command", "get_prereq_command"), (), problems)
        description = (
            n.string(spec["description"][1], f"{where}: description", problems) if "description" in spec else None
        )
        prereq = (
            n.string(spec["prereq_command"][1], f"{where}: prereq_command", problems)
            if "prereq_command" in spec
            else None
        )
        get_prereq = None
        if "get_prereq_command" in spec:
            get_prereq = n.string(
                spec["get_prereq_command"][1],
                f"{where}: get_prereq_command",
                problems,
                min_length=0,
                nullable=True,
            )
        command_nodes += [spec[k][1] for k in ("prereq_command", "get_prereq_command") if k in spec]
        if description is not None and prereq is not None:
            deps.append(Dependency(description, prereq, get_prereq))
    return deps, command_nodes


def _executor(fields: _Fields, what: str, problems: n.Problems) -> tuple[Executor | None, list[yaml.Node]]:
    if "executor" not in fields:
        return None, []
    node = fields["executor"][1]
    where = f"{what}: executor"
    spec = n.mapping(node, where, problems)
    if spec is None:
        return None, []
    name = n.string(spec["name"][1], f"{where}: name", problems) if "name" in spec else None
    if "name" not in spec:
        problems.add(node, f"{where}: missing required key 'name'")
        return None, []
    if name is None:
        return None, []
    if name not in EXECUTOR_NAMES:
        problems.add(spec["name"][1], f"{where}: name {name!r} is not one of {', '.join(EXECUTOR_NAMES)}")
        return None, []
    if name == "manual":
        n.check_keys(spec, node, where, ("name", "steps"), ("elevation_required",), problems)
        problems.add(
            spec["name"][1],
            f"{where}: manual tests cannot be run by the harness (executor must be {' or '.join(RUNNABLE_EXECUTORS)})",
        )
        return None, [spec["steps"][1]] if "steps" in spec else []
    n.check_keys(spec, node, where, ("name", "command"), ("cleanup_command", "elevation_required"), problems)
    if name not in RUNNABLE_EXECUTORS:
        problems.add(
            spec["name"][1],
            f"{where}: the harness runs only {' or '.join(RUNNABLE_EXECUTORS)} "
            f"executors on Linux targets, not {name!r}",
        )
    command = n.string(spec["command"][1], f"{where}: command", problems) if "command" in spec else None
    cleanup = None
    if "cleanup_command" in spec:
        cleanup = n.string(
            spec["cleanup_command"][1], f"{where}: cleanup_command", problems, min_length=0, nullable=True
        )
    elevation = False
    if "elevation_required" in spec:
        enode = spec["elevation_required"][1]
        got = n.value(enode)
        if not isinstance(got, bool):
            problems.add(enode, f"{where}: elevation_required must be true or false")
        else:
            elevation = got
    nodes = [spec[k][1] for k in ("command", "cleanup_command") if k in spec]
    if command is None:
        return None, nodes
    return Executor(name, command, cleanup, elevation), nodes


def find(technique: Technique, id_or_guid: str) -> AtomicTest:
    """The test of ``technique`` named by id (``T1590.005-2``), position (``2``) or GUID."""
    return technique.find(id_or_guid)


# --- Signals sidecar ----------------------------------------------------------------------------


def load_signals(path: str | Path, technique: Technique) -> TechniqueSignals:
    """Load ``<technique>.signals.yaml`` against ``technique``; raise ErrorCollection on any problem."""
    problems = n.Problems(str(path))
    root = _read(path, problems)
    fields = n.mapping(root, "signals file", problems) if root is not None else None
    if root is None or fields is None:
        _raise(problems)
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
    _raise(problems)
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
        ("modes",),
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
        for name, where in _placeholders(item, problems):
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


def signals_path(technique_path: str | Path) -> Path:
    """The sidecar beside a technique file: ``T1590.005.yaml`` -> ``T1590.005.signals.yaml``."""
    p = Path(technique_path)
    return p.with_name(p.name.removesuffix(".yaml").removesuffix(".yml") + ".signals.yaml")


def load(technique_path: str | Path) -> tuple[Technique, TechniqueSignals]:
    """Load a technique and the signals sidecar beside it (the sidecar is checked against it).

    When the technique itself is invalid the sidecar cannot be cross-checked, but its structure
    still is (JSON Schema, located through the YAML nodes), so one run reports both files' problems.
    """
    try:
        technique = load_technique(technique_path)
    except ErrorCollection as exc:
        sidecar = signals_path(technique_path)
        extra: list[HarnessError] = list(signals_structure_problems(sidecar)) if sidecar.exists() else []
        raise ErrorCollection([*exc.errors, *extra]) from None
    return technique, load_signals(signals_path(technique_path), technique)


def signals_schema() -> dict[str, Any]:
    """The JSON Schema of the signals sidecar (``harness/atomics/signals.schema.json``)."""
    text = resources.files("harness.atomics").joinpath("signals.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def signals_structure_problems(path: str | Path) -> list[AtomicDefinitionError]:
    """Structural problems of a sidecar (JSON Schema only, no cross-file rules), each located."""
    problems = n.Problems(str(path))
    root = _read(path, problems)
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


def default_technique_path() -> Path:
    """``atomics/T1590.005/T1590.005.yaml`` of this checkout (the working directory first)."""
    rel = Path("atomics") / "T1590.005" / "T1590.005.yaml"
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (base / rel).exists():
            return base / rel
    return rel
