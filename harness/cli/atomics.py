"""``harness list`` and ``harness show ID|GUID``: what the atomic definitions hold."""

from __future__ import annotations

import argparse
from typing import Any

from harness.atomics.loader import default_technique_path, load
from harness.atomics.model import AtomicTest, TechniqueSignals

REDACTED = "<redacted>"


def register(subparsers: Any) -> None:
    """Add ``list`` and ``show`` to the ``harness`` command."""
    p = subparsers.add_parser("list", help="list the atomic tests (id, GUID, name)")
    p.add_argument("--atomics", default=None, help="technique YAML (default atomics/T1590.005/T1590.005.yaml)")
    p.set_defaults(func=_list)
    p = subparsers.add_parser("show", help="show one atomic test: rendered commands, dependencies, signals")
    p.add_argument("test", metavar="ID|GUID", help="test id (T1590.005-3), position (3) or GUID")
    p.add_argument("--atomics", default=None, help="technique YAML (default atomics/T1590.005/T1590.005.yaml)")
    p.set_defaults(func=_show)


def _list(args: argparse.Namespace) -> int:
    technique, _ = load(args.atomics or default_technique_path())
    for test in technique.atomic_tests:
        print(f"{test.id}  {test.guid}  {test.name}")
    return 0


def _show(args: argparse.Namespace) -> int:
    technique, signals = load(args.atomics or default_technique_path())
    test = technique.find(args.test)
    print(render_test(test, signals))
    return 0


def render_test(test: AtomicTest, signals: TechniqueSignals) -> str:
    """The text ``harness show`` prints: secrets are replaced by ``<redacted>`` everywhere."""
    expectation = signals.for_test(test)
    secrets = set(expectation.secrets)
    values = {name: REDACTED for name in secrets}

    def render(text: str) -> str:
        return _indent(test.render(text, values))

    ex = test.executor
    lines = [
        f"{test.id}  {test.name}",
        f"guid: {test.guid}",
        f"platforms: {', '.join(test.supported_platforms)}",
        f"executor: {ex.name}{'  (elevation required)' if ex.elevation_required else ''}",
        "",
        "input arguments:",
    ]
    for arg in test.input_arguments.values():
        shown = REDACTED if arg.name in secrets else arg.default_text()
        lines.append(f"  {arg.name} ({arg.type}) = {shown}{'  [secret]' if arg.name in secrets else ''}")
    lines += ["", "command:", render(ex.command)]
    if ex.cleanup_command:
        lines += ["cleanup:", render(ex.cleanup_command)]
    if test.dependencies:
        lines += ["", f"dependencies (run with {test.dependency_executor_name or ex.name}):"]
        for dep in test.dependencies:
            lines += [
                f"- {dep.description.strip()}",
                "  prereq:",
                _indent(test.render(dep.prereq_command, values), 4),
            ]
            if dep.get_prereq_command:
                lines += ["  get_prereq:", _indent(test.render(dep.get_prereq_command, values), 4)]
    lines += ["", f"signals ({len(expectation.signals)}):"]
    for s in expectation.signals:
        dets = [*s.detections.sigma, *(f"{k.query}#{k.branch}" for k in s.detections.kql)]
        conds = ", ".join(f"{c.key}={'|'.join(test.render(v, values) for v in c.values)}" for c in s.match.conditions)
        logsource = ", ".join(f"{k}={v}" for k, v in s.match.logsource.items())
        lines += [
            f"- {s.id}  [{s.source}, sensor {s.sensor}, modes {'/'.join(s.modes)}]",
            f"    {s.description}",
            f"    match: {logsource}; {conds}; min_count={s.match.min_count}",
            f"    detections: {', '.join(dets) or 'none (telemetry only)'}",
        ]
    return "\n".join(lines)


def _indent(text: str, width: int = 2) -> str:
    pad = " " * width
    return "\n".join(pad + line for line in text.rstrip("\n").splitlines())
