"""``harness list`` and ``harness show ID|GUID``: what the atomic definitions hold.

``--atomics`` takes one technique file or a whole tree in Atomic Red Team's layout (upstream's
``atomics/`` folder as fetched): every file loads as it is, tests the harness cannot run are listed
with the reason, and a file that cannot load is reported (file:line:column) without hiding the rest.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from harness.atomics.library import Library, LibraryTest, load_library
from harness.atomics.loader import default_technique_path
from harness.atomics.model import (
    ATOMICS_FOLDER_RE,
    EXECUTOR_NAMES,
    PLATFORMS,
    TARGET_PLATFORM,
    AtomicTest,
    TechniqueSignals,
)
from harness.errors import ErrorCollection
from harness.execution import art_guard
from harness.execution.art_guard import Refusal
from harness.execution.scope import Scope
from harness.lab.config import load_lab_config

REDACTED = "<redacted>"
_ATOMICS_HELP = (
    "a technique YAML or an atomics tree in ART's layout (<T>/<T>.yaml), e.g. upstream's atomics/ "
    "(default atomics/T1590.005/T1590.005.yaml)"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``list`` and ``show`` to the ``harness`` command."""
    p = subparsers.add_parser("list", help="list the atomic tests (id, GUID, executor, name; why not runnable)")
    p.add_argument("--atomics", default=None, help=_ATOMICS_HELP)
    p.add_argument("--technique", action="append", default=[], metavar="T",
                   help="only this technique and its sub-techniques (repeatable)")
    p.add_argument("--platform", default=TARGET_PLATFORM, choices=[*PLATFORMS, "all"],
                   help=f"only tests for this platform (default {TARGET_PLATFORM}; 'all' for every platform)")
    p.add_argument("--executor", action="append", default=[], choices=EXECUTOR_NAMES,
                   help="only tests with this executor (repeatable)")
    p.add_argument("--runnable", action="store_true", help="only tests the harness can run")
    _target_options(p)
    p.set_defaults(func=_list)
    p = subparsers.add_parser("show", help="show one atomic test: rendered commands, dependencies, signals")
    p.add_argument("test", metavar="ID|GUID", help="test id (T1590.005-3), position (3, in one file) or GUID")
    p.add_argument("--atomics", default=None, help=_ATOMICS_HELP)
    _target_options(p)
    p.set_defaults(func=_show)


def _target_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", default=None, metavar="URL",
                   help="also say whether each test would run on this target or why it is refused (nothing runs)")
    p.add_argument("--lab-config", default=None, metavar="FILE", help="lab config TOML whose [scope] applies")


def _guard(args: argparse.Namespace) -> Callable[[LibraryTest], Refusal | None] | None:
    """The guard's verdict per test on ``--target`` (None without one), as an ART run applies it
    (which copies the payloads a test names through ``PathToAtomicsFolder`` from its tree)."""
    if not args.target:
        return None
    scope = Scope.from_lab(load_lab_config(args.lab_config))
    return lambda item: art_guard.check(item.test, args.target, scope, atomics_folder=item.technique.atomics_folder)


def _library(path: str | None, techniques: list[str]) -> Library:
    target = Path(path) if path else default_technique_path()
    library = load_library(target, techniques)
    if target.is_file() and library.errors:
        # One file asked for by name: its problems are the answer (exit 2, as any bad input).
        raise ErrorCollection(list(library.errors))
    return library


def _list(args: argparse.Namespace) -> int:
    library = _library(args.atomics, args.technique)
    platform = None if args.platform == "all" else args.platform
    tests = library.tests(platform, args.executor, runnable_only=args.runnable)
    guard = _guard(args)
    refused: Counter[str] = Counter()
    for item in tests:
        found = guard(item) if guard is not None and item.not_applicable is None else None
        if found is not None:
            refused[found.kind] += 1
        print(list_line(item.test, args.target, found))
    for error in library.errors:
        print(f"harness: error: {error}", file=sys.stderr)
    print(summary(library, tests, platform), file=sys.stderr)
    if guard is not None:
        runnable = sum(1 for item in tests if item.not_applicable is None)
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(refused.items(), key=lambda kv: (-kv[1], kv[0])))
        print(f"on {args.target}: {runnable - sum(refused.values())} of {runnable} runnable test(s) would run, "
              f"{sum(refused.values())} refused{f' ({kinds})' if kinds else ''}", file=sys.stderr)
    return 1 if library.errors else 0


def list_line(test: AtomicTest, target: str | None = None, refused: Refusal | None = None) -> str:
    """One line of ``harness list``: id, GUID, executor, name, and why it is not run if it is not."""
    line = f"{test.id:<13} {test.guid}  {test.executor.name:<14} {test.name}"
    why = test.not_applicable()
    if why:
        return f"{line}  -- not applicable: {why}"
    return f"{line}  -- refused on {target}: {refused.reason}" if refused is not None else line


def summary(library: Library, listed: list[LibraryTest], platform: str | None) -> str:
    """Counts for the end of ``harness list``: files loaded or failed, tests listed, runnable or not."""
    total = sum(len(t.atomic_tests) for t, _ in library.techniques)
    reasons = Counter((item.not_applicable or "").split(":")[0] for item in listed if item.not_applicable)
    runnable = len(listed) - sum(reasons.values())
    detail = ", ".join(f"{n} {why}" for why, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    scope = f"for {platform}" if platform else "for any platform"
    return (
        f"{len(library.files)} technique file(s): {len(library.techniques)} loaded, {len(library.failed_files)} "
        f"with errors; {total} test(s), {len(listed)} listed ({scope}): {runnable} runnable, "
        f"{sum(reasons.values())} not applicable{f' ({detail})' if detail else ''}"
    )


def _show(args: argparse.Namespace) -> int:
    target = Path(args.atomics) if args.atomics else default_technique_path()
    key = args.test.strip()
    # An id names its technique: read only that technique's file(s) of a tree.
    technique_id = key.rsplit("-", 1)[0] if "-" in key and key.upper().startswith("T") else ""
    library = _library(str(target), [technique_id] if technique_id and target.is_dir() else [])
    for error in library.errors:
        print(f"harness: error: {error}", file=sys.stderr)
    if len(library.techniques) == 1 and key.isdigit():
        technique, signals = library.techniques[0]
        item = LibraryTest(technique.find(key), technique, signals)
    else:
        item = library.find(key)
    print(render_test(item.test, item.signals, item.technique.atomics_folder))
    guard = _guard(args)
    if guard is not None and item.test.not_applicable() is None:
        found = guard(item)
        print(f"\non {args.target}: {'refused: ' + found.reason if found else 'would run'}")
    return 0


def render_test(test: AtomicTest, signals: TechniqueSignals, atomics_folder: str | None = None) -> str:
    """The text ``harness show`` prints: secrets are replaced by ``<redacted>`` everywhere.

    ``PathToAtomicsFolder`` is shown as ``atomics_folder`` (the local tree the file came from).
    """
    expectation = signals.for_test(test)
    secrets = set(expectation.secrets)
    values = {name: REDACTED for name in secrets}

    def render(text: str) -> str:
        return _indent(test.render(text, values, atomics_folder))

    ex = test.executor
    why = test.not_applicable()
    lines = [
        f"{test.id}  {test.name}",
        f"guid: {test.guid}",
        f"platforms: {', '.join(test.supported_platforms)}",
        f"executor: {ex.name}{'  (elevation required)' if ex.elevation_required else ''}",
        f"runnable: {'no, not applicable: ' + why if why else 'yes'}",
        "",
        "input arguments:",
    ]
    for arg in test.input_arguments.values():
        shown = REDACTED if arg.name in secrets else arg.default_text()
        if atomics_folder is not None:
            shown = ATOMICS_FOLDER_RE.sub(lambda _: atomics_folder, shown)
        lines.append(f"  {arg.name} ({arg.type}) = {shown}{'  [secret]' if arg.name in secrets else ''}")
    if ex.steps is not None:
        lines += ["", "steps (manual):", render(ex.steps)]
    else:
        lines += ["", "command:", render(ex.command)]
    if ex.cleanup_command:
        lines += ["cleanup:", render(ex.cleanup_command)]
    if test.dependencies:
        lines += ["", f"dependencies (run with {test.dependency_executor_name or ex.name}):"]
        for dep in test.dependencies:
            lines += [
                f"- {dep.description.strip()}",
                "  prereq:",
                _indent(test.render(dep.prereq_command, values, atomics_folder), 4),
            ]
            if dep.get_prereq_command:
                lines += ["  get_prereq:", _indent(test.render(dep.get_prereq_command, values, atomics_folder), 4)]
    if not signals.declared:
        lines += ["", "signals: none declared (no .signals.yaml sidecar): a run is judged on its telemetry alone"]
        return "\n".join(lines)
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
