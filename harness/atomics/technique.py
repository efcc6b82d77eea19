"""Load and validate an Atomic Red Team technique file, with every problem located.

The loader reads the YAML node tree (``yaml.compose``) so every problem carries the file, line and
column it comes from; it checks everything, then raises one :class:`ErrorCollection` listing every
problem, or returns a frozen :class:`Technique`.

The rules mirror ``atomic_red_team/models.py`` (redcanaryco/atomic-red-team), with two deliberate
tightenings that the whole upstream library meets: no unknown key anywhere, and a GUID on every test
that is a canonical UUIDv4. Tests for other platforms or executors load like any other: whether the
harness can run one is :meth:`AtomicTest.not_applicable`'s answer, not a schema error.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from pathlib import Path

import yaml

from harness.atomics import _nodes as n
from harness.atomics.model import (
    EXECUTOR_NAMES,
    INPUT_ARGUMENT_TYPES,
    PLATFORMS,
    AtomicTest,
    Dependency,
    Executor,
    InputArgument,
    Technique,
)
from harness.errors import AtomicDefinitionError

__all__ = ["load_technique"]

_TECHNIQUE_ID = re.compile(r"T\d{4}(?:\.\d{3})?")
_ARG_NAME = re.compile(r"[\w_-]+")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#]+\S*")
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9][a-z0-9-]{0,61}[a-z0-9]")

_Fields = dict[str, tuple[yaml.Node, yaml.Node]]


def load_technique(path: str | Path) -> Technique:
    """Load an ART technique YAML; raise ErrorCollection with every problem found."""
    problems = n.Problems(str(path))
    root = n.read(path, problems)
    if root is None:
        n.raise_problems(problems)
    fields = n.mapping(root, "technique", problems)
    if fields is None:
        n.raise_problems(problems)
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
        guids: dict[str, yaml.Node] = {}
        for index, item in enumerate(items or [], start=1):
            test = _atomic_test(item, f"{technique_id or 'T?'}-{index}", problems, guids)
            if test is not None:
                tests.append(test)

    n.raise_problems(problems)
    return Technique(technique_id, display_name, tuple(tests), str(path))


def _atomic_test(
    node: yaml.Node,
    test_id: str,
    problems: n.Problems,
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

    # Names need not be unique (upstream's validator allows repeats and its library has some):
    # tests are found by id, position or GUID.
    name = (n.string(fields["name"][1], f"{what}: name", problems) or "") if "name" in fields else ""
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
        for placeholder, where in n.placeholders(cnode, problems):
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
        # As upstream's (pydantic, lax) validator: a quoted whole number is an integer too.
        if isinstance(got, str) and re.fullmatch(r"[+-]?\d+", got.strip()):
            got = int(got)
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
    elevation = _elevation(spec, where, problems)
    if name == "manual":
        # Steps for a person to follow: loaded (and listed as not applicable), never run.
        n.check_keys(spec, node, where, ("name", "steps"), ("elevation_required",), problems)
        steps = n.string(spec["steps"][1], f"{where}: steps", problems, min_length=10) if "steps" in spec else None
        nodes = [spec["steps"][1]] if "steps" in spec else []
        if steps is None or elevation is None:
            return None, nodes
        return Executor(name, "", None, elevation, steps=steps), nodes
    n.check_keys(spec, node, where, ("name", "command"), ("cleanup_command", "elevation_required"), problems)
    command = n.string(spec["command"][1], f"{where}: command", problems) if "command" in spec else None
    cleanup = None
    if "cleanup_command" in spec:
        cleanup = n.string(
            spec["cleanup_command"][1], f"{where}: cleanup_command", problems, min_length=0, nullable=True
        )
    nodes = [spec[k][1] for k in ("command", "cleanup_command") if k in spec]
    if command is None or elevation is None:
        return None, nodes
    return Executor(name, command, cleanup, elevation), nodes


def _elevation(spec: _Fields, where: str, problems: n.Problems) -> bool | None:
    """``elevation_required`` (default false); ``None`` when it is not a boolean."""
    if "elevation_required" not in spec:
        return False
    enode = spec["elevation_required"][1]
    got = n.value(enode)
    if not isinstance(got, bool):
        problems.add(enode, f"{where}: elevation_required must be true or false")
        return None
    return got

