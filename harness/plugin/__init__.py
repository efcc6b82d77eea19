"""The pytest plugin (entry point ``pytest11: recon_harness``): ``pytest atomics/``.

Options: ``--target URL`` (repeatable; default the embedded lab), ``--inventory FILE``,
``--target-group NAME``, ``--scope FILE`` (see :mod:`harness.plugin.targets`), ``--detections DIR``,
``--evidence-dir DIR``, ``--record DIR``, ``--replay DIR``, ``--now ISO8601``,
``--atomic-arg NAME=VALUE``, ``--sign-key KEY``. Markers: ``atomic(ID)``, ``lab``,
``destructive``, ``online``. A test marked ``atomic("T1590.005-1")`` asks the ``atomic`` fixture
for its judged outcome and calls ``assert_alerted()``; the negative control calls
``assert_clean()``. Tests are parametrized per target, so their ids show atomic and target.
At the end of the session the evidence is written (run.json, report.html, junit.xml, Navigator
layer, ATTiRe log, MANIFEST.sha256; signed with ``--sign-key``) and a lab the run built is
brought down.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.plugin.art import art_case  # noqa: F401  (the fixture of atomics/test_art.py, registered here)

# Every pytest run in this environment loads the plugin: keep its import light (engines, lab and
# targets are imported when an atomic test first needs them).
if TYPE_CHECKING:
    from harness.evidence.document import JsonDoc
    from harness.run import AtomicOutcome, ValidationRun
    from harness.verdicts import AtomicVerdict


def _default_target() -> str:
    from harness.execution.session import DEFAULT_TARGET

    return DEFAULT_TARGET

_RUN_KEY = pytest.StashKey["ValidationRunHolder"]()


class ValidationRunHolder:
    """The session's runs, one per target, each created on first use so plain ``pytest tests/``
    never builds one."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.runs: dict[str, ValidationRun] = {}  # by target label
        self.evidence_written: list[Path] = []
        self.worker_documents: list[JsonDoc] = []  # on an xdist controller: the workers' run records

    @property
    def run(self) -> ValidationRun | None:
        """The first target's run (None before any)."""
        return next(iter(self.runs.values()), None)

    def get(self, label: str | None = None) -> ValidationRun:
        from harness.plugin.targets import spec_for, target_labels

        label = label or target_labels(self.config)[0]
        if label not in self.runs:
            from harness.atomics.loader import repo_root
            from harness.run import ValidationRun

            opt = self.config.getoption
            now = opt("harness_now")
            detections = opt("harness_detections") or str(repo_root() / "detections")
            spec = spec_for(self.config, label) if not opt("harness_replay") else None
            self.runs[label] = ValidationRun(
                target=spec.url if spec is not None else _default_target(),
                label=spec.label if spec is not None else None,
                atomic_args=spec.arguments(_atomic_args(self.config)) if spec is not None
                else _atomic_args(self.config),
                scope=spec.scope if spec is not None else None,
                detections=Path(detections),
                replay=Path(opt("harness_replay")) if opt("harness_replay") else None,
                record=Path(opt("harness_record")) if opt("harness_record") else None,
                now=_parse_now(now) if now else None,
                progress=_progress_writer(self.config),
                required_sensors=tuple(opt("harness_require_sensor") or ()),
            )
        return self.runs[label]


def _parse_now(text: str) -> dt.datetime:
    from harness.errors import HarnessError
    from harness.run.model import parse_now

    try:
        return parse_now(text)
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from exc


def _atomic_args(config: pytest.Config) -> dict[str, str]:
    """``--atomic-arg`` overrides, checked against the technique's atomics (``harness run --arg``'s rules)."""
    from harness.atomics.arguments import arguments_per_test, parse_assignments
    from harness.atomics.loader import default_technique_path, load_technique
    from harness.errors import HarnessError

    try:
        overrides = parse_assignments(config.getoption("harness_atomic_args") or [], "--atomic-arg")
        if overrides:
            arguments_per_test(load_technique(default_technique_path()).atomic_tests, overrides)
    except HarnessError as exc:
        raise pytest.UsageError(f"--atomic-arg: {exc}") from exc
    return overrides


def _check_target(url: str) -> None:
    from harness.errors import HarnessError
    from harness.targets.base import check_target_url

    try:
        check_target_url(url)
    except HarnessError as exc:
        raise pytest.UsageError(f"--target: {exc}") from exc


def _progress_writer(config: pytest.Config) -> Callable[[str], None]:
    """Live progress per atomic and phase, past pytest's output capture."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capman = config.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        if reporter is None:
            print(line, file=sys.__stderr__, flush=True)
            return
        # Suspend output capture so the line reaches the terminal now, not in a failure report.
        ctx = capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext()
        with ctx:
            reporter.ensure_newline()
            reporter.write_line(line)

    return write


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("recon-harness", "recon atomics harness (pytest atomics/)")
    group.addoption("--target", dest="harness_target", action="append", default=None, metavar="URL",
                    help="target URL to detonate on (repeatable; default: the embedded lab, netns://rah)")
    group.addoption("--detections", dest="harness_detections", default=None, metavar="DIR",
                    help="detections directory with sigma/ and kql/ (default: detections/)")
    group.addoption("--evidence-dir", dest="harness_evidence", default=None, metavar="DIR",
                    help="write the run's evidence into DIR/<run-id>/ (default: evidence/)")
    group.addoption("--sign-key", dest="harness_sign_key", default=None, metavar="KEY",
                    help="sign the evidence with this OpenSSH private key as the run ends "
                         "(check with `harness evidence verify DIR --key KEY.pub`)")
    group.addoption("--record", dest="harness_record", default=None, metavar="DIR",
                    help="save raw and normalised telemetry per detonation under DIR/<run-id>/<atomic-id>/")
    group.addoption("--replay", dest="harness_replay", default=None, metavar="DIR",
                    help="rerun only the detection half on a recording (no root, no lab)")
    group.addoption("--now", dest="harness_now", default=None, metavar="ISO8601",
                    help="reference time for KQL now()/ago() (default: now; replays: the recording's end)")
    group.addoption("--require-sensor", dest="harness_require_sensor", action="append", default=[], metavar="NAME",
                    help="make sensor NAME (auditd, sysmon, dns, proxy, firewall, inet) mandatory: if it is "
                         "missing or dies, the signals that need it are ERROR (repeatable)")
    group.addoption("--atomic-arg", dest="harness_atomic_args", action="append", default=[], metavar="NAME=VALUE",
                    help="override an input argument of the atomics (repeatable); each atomic gets the names it "
                         "declares; a name no atomic declares, or a value of the wrong type, is a usage error")
    from harness.plugin import art
    from harness.plugin.targets import add_options

    add_options(group)
    art.add_options(group)


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "atomic(id): an atomic test (T1590.005-N, or negative-control) judged per expected signal",
        "lab: needs root and builds the embedded lab (network namespaces, sshd, dnsmasq)",
        "destructive: changes the target beyond its own cleanup (installs software, alters audit rules)",
        "online: needs internet access from the target (prerequisites fetched from the internet)",
    ):
        config.addinivalue_line("markers", line)
    now = config.getoption("harness_now", None)
    if now:
        _parse_now(now)  # a bad --now is a usage error before anything runs
    if config.getoption("harness_atomic_args", None):
        _atomic_args(config)  # so are misspelt or ill-typed atomic arguments
    if not config.getoption("harness_replay", None):
        for target in config.getoption("harness_target", None) or []:
            _check_target(target)  # and a target URL that cannot parse (one line, not one failure per test)
    _check_fleet(config)
    from harness.plugin import art
    from harness.plugin.workers import check_dist_mode

    art.configure(config)

    check_dist_mode(config)
    config.stash[_RUN_KEY] = ValidationRunHolder(config)


def _check_fleet(config: pytest.Config) -> None:
    """Targets, inventory and scope are resolved (and refused) before anything is collected or runs."""
    from harness.plugin.targets import fleet_requested, target_specs

    if fleet_requested(config) and not config.getoption("harness_replay", None) and not config.option.help:
        target_specs(config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    from harness.plugin import art

    if art.generate(metafunc) or "harness_target" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("atomic")
    atomic_id = str(marker.args[0]) if marker and marker.args else "?"
    replay = metafunc.config.getoption("harness_replay")
    if replay:
        labels = [f"replay:{Path(replay).name}"]
    else:
        from harness.plugin.targets import target_labels

        labels = target_labels(metafunc.config)
    metafunc.parametrize("harness_target", labels, ids=[f"{atomic_id}@{label}" for label in labels], scope="function")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from harness.plugin import art

    art.modify_items(config, items)
    live = not config.getoption("harness_replay")
    for item in items:
        if item.get_closest_marker("atomic") is None:
            continue
        callspec = getattr(item, "callspec", None)
        label = str(callspec.params.get("harness_target", "")) if callspec is not None else ""
        if live and label.startswith("netns://"):
            item.add_marker(pytest.mark.lab)


class SensorUnavailableWarning(pytest.PytestWarning):
    """Signals skipped because their (optional) sensor is absent on the target: passed over, never passed."""


@dataclass
class AtomicCheck:
    """What a thin atomic test module asserts on."""

    atomic_id: str
    verdict: AtomicVerdict
    outcome: AtomicOutcome

    def assert_alerted(self) -> None:
        """Pass only when every expected signal whose sensor is present is ALERTED (or, for a
        telemetry-only signal, OBSERVED); PREREQ_MISSING skips with the reason; anything else fails
        naming the signal, the telemetry seen and the rules that ran."""
        __tracebackhide__ = True
        from harness.verdicts import PASSING, Verdict, failure_message

        v = self.verdict
        if v.verdict is Verdict.PREREQ_MISSING:
            pytest.skip(f"{self.atomic_id}: PREREQ_MISSING: {v.reason}")
        if v.verdict is Verdict.SENSOR_UNAVAILABLE:
            pytest.skip(f"{self.atomic_id}: SENSOR_UNAVAILABLE: " + "; ".join(
                f"{s.signal_id}: {s.reason}" for s in v.signals))
        if v.verdict not in PASSING:
            pytest.fail(failure_message(v), pytrace=False)
        by_sensor: dict[str, list[str]] = {}
        reasons: dict[str, str] = {}
        for s in v.signals:
            if s.verdict is Verdict.SENSOR_UNAVAILABLE:
                by_sensor.setdefault(s.sensor, []).append(s.signal_id)
                reasons[s.sensor] = s.reason
        for sensor, ids in by_sensor.items():
            warnings.warn(SensorUnavailableWarning(
                f"{self.atomic_id}: {len(ids)} signal(s) skipped, not passed ({', '.join(ids)}): {reasons[sensor]}"),
                stacklevel=2)
        judged = [s for s in v.signals if s.verdict is not Verdict.SENSOR_UNAVAILABLE]
        assert judged and all(s.verdict in PASSING for s in judged), failure_message(v, include_passing=True)

    def assert_clean(self) -> None:
        """The negative control: no detection may fire on benign activity."""
        __tracebackhide__ = True
        from harness.verdicts import Verdict, failure_message

        v = self.verdict
        if v.verdict is not Verdict.CLEAN:
            pytest.fail(failure_message(v, include_passing=True), pytrace=False)


@pytest.fixture
def harness_target(request: pytest.FixtureRequest) -> str:
    """The target label of this test (parametrized per target)."""
    return str(request.param)


def _checked(run: ValidationRun) -> ValidationRun:
    if run.mode == "live" and str(run.target_url).startswith("netns://") and os.geteuid() != 0:
        pytest.skip("the embedded lab needs root (network namespaces, auditd): run as root, or use --replay DIR")
    return run


@pytest.fixture(scope="session")
def validation_run(request: pytest.FixtureRequest) -> ValidationRun:
    """The session's :class:`~harness.run.ValidationRun` of its first target (live or replay)."""
    holder: ValidationRunHolder = request.config.stash[_RUN_KEY]
    return _checked(holder.get())


@pytest.fixture
def atomic(request: pytest.FixtureRequest, harness_target: str) -> AtomicCheck:
    """Detonate (or replay) the atomic named by the test's ``atomic`` marker on this test's target and judge it."""
    holder: ValidationRunHolder = request.config.stash[_RUN_KEY]
    validation_run = _checked(holder.get(None if request.config.getoption("harness_replay") else harness_target))
    marker = request.node.get_closest_marker("atomic")
    if marker is None or not marker.args:
        raise pytest.UsageError(f"{request.node.nodeid}: the atomic fixture needs @pytest.mark.atomic('<id>')")
    from harness.atomics.model import NEGATIVE_CONTROL_ID

    atomic_id = str(marker.args[0])
    outcome = validation_run.outcome(atomic_id)
    if atomic_id != NEGATIVE_CONTROL_ID:
        validation_run.ensure_control()
    return AtomicCheck(atomic_id, outcome.verdict, outcome)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from harness.plugin import art

    art.session_finish(session)
    holder: ValidationRunHolder | None = session.config.stash.get(_RUN_KEY, None)
    if holder is None:
        return
    from harness.atomics.loader import repo_root
    from harness.evidence import write_evidence
    from harness.evidence.runjson import build_document
    from harness.plugin.workers import is_worker, send

    finished = []
    for run in holder.runs.values():
        try:
            if run.outcomes:
                run.ensure_control()
        finally:
            run.close()
        if run.outcomes:
            finished.append(run)
    documents = [build_document(run) for run in finished]
    secrets = [s for run in finished for s in run.secrets]
    if is_worker(session.config):  # the xdist controller writes the one evidence set (plugin/workers.py)
        send(session.config, documents, secrets)
        return
    documents += holder.worker_documents  # already redacted by their workers
    if not documents:
        return
    base = session.config.getoption("harness_evidence") or str(repo_root() / "evidence")
    key = session.config.getoption("harness_sign_key")
    # One evidence set per session: a fleet's run.json holds each target's record (evidence/fleet.py).
    if len(documents) == 1:
        out = Path(base) / documents[0]["run_id"]
        write_evidence(documents[0], out, secrets)
    else:
        from harness.evidence.fleet import build_fleet_document, write_fleet_evidence

        fleet = build_fleet_document(documents)
        out = Path(base) / fleet["run_id"]
        write_fleet_evidence(fleet, out, secrets)
    if key:
        from harness.evidence.signing import sign

        sign(out, Path(key))
    holder.evidence_written.append(out)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    from harness.plugin.workers import make_scheduler

    return make_scheduler(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """pytest-xdist, on the controller: a worker is done; keep the run records it sent."""
    from harness.plugin.workers import received

    config: pytest.Config = getattr(node, "config")  # noqa: B009 - xdist's WorkerController, untyped
    holder: ValidationRunHolder | None = config.stash.get(_RUN_KEY, None)
    output = getattr(node, "workeroutput", None)
    if holder is not None and isinstance(output, dict):
        # in the targets' order, not the order workers finished in (the fleet's run id and matrix)
        from harness.plugin.targets import target_labels

        order = {label: n for n, label in enumerate(target_labels(config))}
        docs = holder.worker_documents + received(output)
        holder.worker_documents = sorted(docs, key=lambda d: order.get(str(d["target"]["label"]), len(order)))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    from harness.plugin import art

    art.terminal_summary(terminalreporter, config)
    holder: ValidationRunHolder | None = config.stash.get(_RUN_KEY, None)
    if holder is None:
        return
    # (label, [(atomic, verdict, signal verdicts)], sensors) per target: this process's own runs,
    # or, on an xdist controller, the run records its workers sent
    targets: list[tuple[str, list[tuple[str, str, list[str]]], list[dict[str, object]]]] = [
        (run.target_label, [(aid, str(run.outcomes[aid].verdict.verdict),
                             [str(s.verdict) for s in run.outcomes[aid].verdict.signals]) for aid in run.order],
         run.sensors)
        for run in holder.runs.values() if run.outcomes]
    targets += [(doc["target"]["label"],
                 [(a["id"], a["verdict"], [s["verdict"] for s in a["signals"]])
                  for a in [*doc["atomics"], *([doc["negative_control"]] if doc.get("negative_control") else [])]],
                 doc["target"]["sensors"])
                for doc in holder.worker_documents]
    if not targets:
        return
    terminalreporter.section("recon-harness verdicts")
    for label, rows, sensors in targets:
        if len(targets) > 1:
            terminalreporter.write_line(f"[{label}]", bold=True)
        for aid, verdict, signals in rows:
            counts: dict[str, int] = {}
            for v in signals:
                counts[v] = counts.get(v, 0) + 1
            summary = ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
            terminalreporter.write_line(f"{aid:<18} {verdict:<18} {summary}")
        for sensor in sensors:
            if not sensor.get("available"):
                terminalreporter.write_line(f"SENSOR UNAVAILABLE: {sensor.get('name')}: {sensor.get('reason')}",
                                            yellow=True)
    for out in holder.evidence_written:
        terminalreporter.write_line(f"evidence: {out}")
