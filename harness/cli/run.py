"""``harness run [ID…]``: detonate atomics on a target and print each one's status with timings."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from harness.atomics.arguments import arguments_per_test, parse_assignments
from harness.atomics.loader import default_technique_path, load_technique
from harness.cli._target_options import add_target_options
from harness.errors import ConfigError, TargetError
from harness.execution.fleet import TargetSpec, resolve_targets
from harness.execution.pipeline import DetonationPipeline, refused_run
from harness.execution.runner import AtomicRun, Status
from harness.execution.session import open_session


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("run", help="detonate atomics on a target (default: the embedded lab)")
    p.add_argument("ids", nargs="*", metavar="ID", help="atomic ids (T1590.005-N) or GUIDs; default: all")
    add_target_options(p)
    p.add_argument("--atomics", default=None, help="atomic YAML (default atomics/T1590.005/T1590.005.yaml)")
    p.add_argument("--lab-config", default=None, help="lab config TOML (scope and addresses)")
    p.add_argument("--get-prereqs", action="store_true",
                   help="run get_prereq commands when a prerequisite is missing (always on for the embedded "
                        "lab, which is offline: a prerequisite that needs the internet then fails with its reason)")
    p.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE",
                   help="override an input argument of the selected atomics (repeatable); each atomic gets the "
                        "names it declares; a name no selected atomic declares, or a value of the wrong type, "
                        "is an error before anything runs")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds per detonation (default 180)")
    p.add_argument("--proxy-mode", choices=["transparent", "explicit"], default=None,
                   help="embedded lab proxy: transparent TLS interception (default) or explicit with basic auth")
    p.add_argument("--keep-lab", action="store_true", help="leave the embedded lab up afterwards")
    p.add_argument("--json", action="store_true", help="one JSON object per atomic")
    p.add_argument("--telemetry", metavar="DIR", default=None,
                   help="collect each detonation's telemetry into DIR/<run-id>/<atomic-id>/ (raw, sigma.jsonl, "
                        "defender.jsonl, manifest.json)")
    p.set_defaults(func=_main)


def _load(path: str | None) -> Any:
    return load_technique(path or default_technique_path())


def _progress(atomic_id: str, phase: str) -> None:
    """Live progress on stderr: which atomic, which phase, since when."""
    print(f"{time.strftime('%H:%M:%S')} {atomic_id:<13} {phase} ...", file=sys.stderr, flush=True)


def _line(run: AtomicRun) -> str:
    extra = f"  {run.reason}" if run.reason else ""
    code = "-" if run.exit_code is None else str(run.exit_code)
    return f"{run.id:<13} {run.status:<16} {run.duration_s:7.2f}s  rc={code:<3} {run.name}{extra}"


def _main(args: argparse.Namespace) -> int:
    technique = _load(args.atomics)
    tests = [technique.find(i) for i in args.ids] if args.ids else list(technique.atomic_tests)
    # Checked before the session opens: a misspelt or ill-typed argument never reaches a lab.
    overrides = parse_assignments(args.arg, "--arg")
    arguments_per_test(tests, overrides)
    specs = resolve_targets(args.target or [], inventory=args.inventory, groups=args.target_group,
                            scope_file=args.scope, cli_args=overrides, lab_config=args.lab_config)
    # Per target: its inventory vars (those the selected atomics declare), then --arg; all checked
    # (names, types, scope) before any target is opened.
    declared = {name for test in tests for name in test.input_arguments}
    per_target = {spec.label: arguments_per_test(
        tests, {k: v for k, v in spec.arguments(overrides).items() if k in declared}) for spec in specs}
    results: list[AtomicRun] = []
    for spec in specs:
        if len(specs) > 1:
            print(f"== {spec.label}", flush=True)
        try:
            results += _run_target(args, spec, tests, per_target[spec.label])
        except TargetError as exc:
            # An unreachable host, an auth failure or a changed host key: this target's atomics are
            # ERROR with the reason, and the other targets run on.
            for test in tests:
                run = refused_run(test, spec.url, f"target {spec.label}: {exc}")
                results.append(run)
                print(json.dumps(run.to_dict()) if args.json else _line(run), flush=True)
    bad = [r for r in results if r.status not in (Status.EXECUTED, Status.PREREQ_MISSING)]
    return 1 if bad else 0


def _run_target(args: argparse.Namespace, spec: TargetSpec, tests: list[Any],
                per_test: dict[str, dict[str, str]]) -> list[AtomicRun]:
    results: list[AtomicRun] = []
    with open_session(spec.url, args.lab_config, keep_lab=args.keep_lab, proxy_mode=args.proxy_mode,
                      scope=spec.scope) as session:
        if session.clock is not None:
            c = session.clock
            print(f"{spec.label}: clock offset {c.offset_s:+.3f} s ± {c.uncertainty_s:.3f} s "
                  "(log windows shifted by it)", file=sys.stderr, flush=True)
        if args.telemetry and session.lab is None:
            raise ConfigError("--telemetry is implemented for the embedded lab (netns://) only so far")
        pipeline = DetonationPipeline(
            session, get_prereqs=args.get_prereqs, timeout_s=args.timeout,
            telemetry_dir=Path(args.telemetry) if args.telemetry else None, collect=bool(args.telemetry),
            progress=None if args.json else _progress,
        )
        for test in tests:
            done = pipeline.detonate(test, per_test[test.id])
            run = done.run
            results.append(run)
            if done.telemetry is not None:
                counts = ", ".join(f"{k} {v['kept']}/{v['records']}" for k, v in sorted(done.telemetry.counts.items()))
                print(f"{run.id:<13} telemetry: {counts} -> {done.directory}", file=sys.stderr, flush=True)
            print(json.dumps(run.to_dict()) if args.json else _line(run), flush=True)
    return results
