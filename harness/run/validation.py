"""A validation run: detonate (or replay) atomics, run both engines, judge every expected signal,
and keep everything the evidence needs. One per pytest session (or ``harness nightly`` run).

Live mode opens the target session lazily at the first atomic and closes it (bringing down a lab
it built) in :meth:`ValidationRun.close`; replay mode reads a recorded layout and needs neither
root nor a lab.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.atomics.arguments import arguments_per_test, instance_outputs
from harness.atomics.loader import TECHNIQUE_FILE, load, repo_root
from harness.atomics.model import NEGATIVE_CONTROL_ID, AtomicTest, Signal, Technique, TechniqueSignals
from harness.crashpoint import crash_point
from harness.errors import HarnessError
from harness.execution.pipeline import DetonationPipeline, negative_control_test
from harness.execution.scope import Scope
from harness.execution.session import Session
from harness.lab.config import load_lab_config
from harness.lab.instances import instance_name
from harness.records import RunRecord
from harness.rules.sigma import SigmaMatch
from harness.run.model import AtomicOutcome, iso, sha256_text, utc_now
from harness.run.preflight import require_sensors
from harness.verdicts import (
    DetectionSuite,
    judge_atomic,
    judge_control,
)
from harness.verdicts.layout import RecordedDetonation, latest_time, load_run, run_directory
from harness.views.events import DefenderRecord, SigmaEvent

TARGET_FILE = "target.json"  # run-level facts saved beside the atomic directories of a recording
FACT_COMMANDS = {
    "os": ". /etc/os-release 2>/dev/null && echo \"$PRETTY_NAME\"",
    "kernel": "uname -r",
    "hostname": "hostname",
    "nmap": "nmap --version 2>/dev/null | head -1",
    "curl": "curl --version 2>/dev/null | head -1",
    "python3": "python3 --version 2>&1",
    "shodan": "shodan version 2>/dev/null || true",
    "auditctl": "auditctl -v 2>/dev/null | head -1",
    "dnsmasq": "dnsmasq --version 2>/dev/null | head -1",
    "squid": "squid -v 2>/dev/null | head -1",
    "ulogd": "ulogd -V 2>/dev/null | head -1",
}


class ValidationRun:
    """One run of the suite on one target (live) or one recording (replay)."""

    def __init__(
        self,
        *,
        target: str,
        detections: Path,
        replay: Path | None = None,
        record: Path | None = None,
        now: dt.datetime | None = None,
        atomics_path: Path | None = None,
        proxy_mode: str | None = None,
        progress: Callable[[str], None] | None = None,
        lab_config: str | None = None,
        required_sensors: Sequence[str] = (),
        atomic_args: Mapping[str, str] | None = None,
        scope: Scope | None = None,
        label: str | None = None,
    ) -> None:
        root = repo_root()
        self.required_sensors = tuple(required_sensors)
        self.atomics_path = atomics_path or root / TECHNIQUE_FILE
        self.technique: Technique
        self.signals: TechniqueSignals
        self.technique, self.signals = load(self.atomics_path)
        #: per atomic id, the overrides it declares (this target's inventory vars, then ``--atomic-arg``),
        #: checked here, before anything runs
        self.atomic_args = arguments_per_test(self.technique.atomic_tests, atomic_args or {})
        instance = instance_name(load_lab_config(lab_config), target) if replay is None else None
        if instance:
            self.atomic_args = instance_outputs(self.technique.atomic_tests, self.atomic_args, instance)
        self.target_url = target
        self.label = label or target  # ssh://<inventory host> for an inventory host, else the URL
        self._named = label is not None
        self.scope = scope  # harness.execution.scope.Scope declared for a real host; None: the lab's
        self.detections_dir = Path(detections)
        self.suite = DetectionSuite(self.detections_dir)
        self.replay_dir = Path(replay) if replay is not None else None
        self.record_dir = Path(record) if record is not None else None
        self.fixed_now = now
        self.proxy_mode = proxy_mode
        self.lab_config = lab_config
        self.progress = progress or (lambda line: None)
        self.started = utc_now()
        self.ended: dt.datetime | None = None
        self.outcomes: dict[str, AtomicOutcome] = {}
        self.order: list[str] = []
        self.secrets: list[str] = []
        self.facts: dict[str, Any] = {}
        self.sensors: list[dict[str, Any]] = []
        self.lab_info: dict[str, Any] | None = None
        self.infra_error: str | None = None
        self._stack = contextlib.ExitStack()
        self._pipeline: DetonationPipeline | None = None
        self._recorded: dict[str, RecordedDetonation] | None = None
        from harness.execution.collect import new_run_id

        self.run_id = new_run_id()  # a replay is a run of its own; the recording's id is replayed_run_id
        self.replayed_run_id: str | None = None
        if self.replay_dir is not None:
            run = run_directory(self.replay_dir)
            self.replayed_run_id = run.name
            self._recorded = {d.atomic_id: d for d in load_run(self.replay_dir)}
            tfile = run / TARGET_FILE
            if tfile.exists():
                saved = json.loads(tfile.read_text(encoding="utf-8"))
                self.facts = dict(saved.get("facts") or {})
                self.sensors = list(saved.get("sensors") or [])
                self.lab_info = saved.get("lab")
                self.target_url = str(saved.get("target") or self.target_url)

    # --- modes ---------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return "replay" if self.replay_dir is not None else "live"

    @property
    def target_label(self) -> str:
        if self.mode == "replay":  # the recorded target, or the name this replay was given (a fleet's)
            return f"replay:{self.label if self._named else self.target_url}"
        return self.label

    def expected_atomics(self) -> list[str]:
        return [t.id for t in self.technique.atomic_tests]

    # --- live session --------------------------------------------------------------------------
    def _open(self) -> DetonationPipeline:
        if self._pipeline is not None:
            return self._pipeline
        if self.infra_error is not None:
            raise HarnessError(self.infra_error)
        from harness.execution.session import open_session

        self.progress(f"[harness] opening target {self.target_url} (building the lab if it is down) ...")
        try:
            session = self._stack.enter_context(open_session(self.target_url, self.lab_config,
                                                             proxy_mode=self.proxy_mode, scope=self.scope))
        except (HarnessError, OSError) as exc:
            self.infra_error = f"could not open target {self.target_url}: {exc}"
            raise HarnessError(self.infra_error) from exc
        self.secrets = list(session.secrets)
        crash_point("preflight")
        pipeline = DetonationPipeline(session, telemetry_dir=self.record_dir, run_id=self.run_id,
                                      progress=lambda aid, phase: self.progress(f"[harness] {aid}: {phase}"))
        self._pipeline = pipeline
        if pipeline.telemetry is not None:
            self.sensors = [s.to_dict() for s in pipeline.sensors]
        else:
            from harness.run.preflight import probe_sensors

            self.sensors = probe_sensors(session.target)
        if session.lab is not None:
            # netns:// is the embedded lab, vagrant:// the lab VM (harness.lab.registry).
            from harness.lab.registry import lab_for_scheme

            kind = lab_for_scheme(self.target_url.partition("://")[0]) or "embedded"
            self.lab_info = {"kind": kind, "name": session.lab_config.name, "owned": session.owns_lab,
                             "proxy_mode": session.proxy_mode, "device_name": session.lab_config.device_name}
        self.facts = self._probe_facts(session)
        self._save_target_file()
        return pipeline

    def _save_target_file(self) -> None:
        """The run-level facts beside a recording's atomic directories (again at close: reconnects)."""
        if self.record_dir is not None:
            run = self.record_dir / self.run_id
            run.mkdir(parents=True, exist_ok=True)
            (run / TARGET_FILE).write_text(json.dumps(
                {"target": self.target_url, "facts": self.facts, "sensors": self.sensors, "lab": self.lab_info},
                indent=2) + "\n")

    def _probe_facts(self, session: Session) -> dict[str, Any]:
        facts: dict[str, Any] = {"harness_host": {"python": sys.version.split()[0], "platform": platform.platform()}}
        tools: dict[str, str] = {}
        # One command for all of them (one round trip, not eleven): each fact's first stdout line
        # after its own marker line.
        try:
            out = session.target.run(facts_script(), timeout=60).stdout
            answers = _fact_answers(out)
        except HarnessError as exc:
            answers = dict.fromkeys(FACT_COMMANDS, f"unavailable: {exc}")
        for name in FACT_COMMANDS:
            value = answers.get(name, "")
            if name in ("os", "kernel", "hostname"):
                facts[name] = value
            else:
                tools[name] = value
        facts["tools"] = tools
        if session.clock is not None:
            facts["clock"] = session.clock.to_dict()
        # How the harness reached the target (host key verified how); refreshed at close with any
        # reconnect the run needed.
        facts["connection"] = session.target.facts()
        return facts

    def close(self) -> None:
        """Close the session: the lab comes down when this run built it."""
        if self._pipeline is not None:
            self.facts["connection"] = self._pipeline.session.target.facts()
            self._save_target_file()
            self.progress("[harness] closing the target session (lab down if the run built it) ...")
        self._stack.close()
        self.suite.close()
        self._pipeline = None
        self.ended = self.ended or utc_now()

    # --- running and judging -------------------------------------------------------------------
    def now_for(self, latest: dt.datetime | None) -> dt.datetime:
        if self.fixed_now is not None:
            return self.fixed_now
        if self.mode == "replay":
            return (latest or utc_now()) + dt.timedelta(minutes=1)
        return utc_now()

    def signals_for(self, test: AtomicTest) -> tuple[Signal, ...]:
        mode = self.proxy_mode or (str(self.lab_info.get("proxy_mode")) if self.lab_info else "transparent")
        return self.signals.for_test(test).for_mode(mode)

    def outcome(self, atomic_id: str) -> AtomicOutcome:
        """The judged outcome of ``atomic_id`` (``negative-control`` for the control), computed once."""
        if atomic_id in self.outcomes:
            return self.outcomes[atomic_id]
        t0 = time.monotonic()
        out = self._control() if atomic_id == NEGATIVE_CONTROL_ID else self._atomic(self.technique.find(atomic_id))
        out.timings["judge_total_s"] = round(time.monotonic() - t0, 3)
        self.outcomes[atomic_id] = out
        self.order.append(atomic_id)
        v = out.verdict
        self.progress(f"[harness] {atomic_id}: {v.verdict}" + (f" - {v.reason}" if v.reason else ""))
        return out

    def _material(self, test: AtomicTest) -> tuple[RunRecord, list[SigmaEvent], list[DefenderRecord],
                                                   list[dict[str, Any]], dict[str, Any], float]:
        """(run dict, sigma events, defender rows, sensors, telemetry summary, detonation seconds)."""
        if self._recorded is not None:
            det = self._recorded.get(test.id)
            if det is None:
                raise HarnessError(f"{test.id} is not in the recording {self.replay_dir}")
            summary = {"counts": det.manifest.get("counts", {}), "attribution": det.manifest.get("attribution", {}),
                       "parse_problems": det.manifest.get("parse_problems", {}), "directory": str(det.directory),
                       "views": det.manifest.get("views", {})}
            return det.run, det.sigma, det.defender, det.sensors or self.sensors, summary, 0.0
        pipeline = self._open()
        t0 = time.monotonic()
        done = pipeline.detonate(test, self.atomic_args.get(test.id))
        secs = time.monotonic() - t0
        tel = done.telemetry
        summary = {"directory": str(done.directory) if done.directory else None}
        sigma: list[SigmaEvent] = []
        defender: list[DefenderRecord] = []
        if tel is not None:
            sigma, defender = tel.sigma, tel.defender
            summary.update({"counts": tel.counts, "attribution": tel.methods,
                            "parse_problems": {k: [list(x) for x in v] for k, v in tel.parse_problems.items()},
                            "views": {"sigma": len(sigma), "defender": len(defender)}})
        elif pipeline.telemetry is None:
            summary["note"] = "telemetry collection is implemented for the embedded lab (netns://) only"
            if done.run.status == "EXECUTED":
                # The detonation ran but nothing could be collected: an infrastructure gap, never a verdict
                # about the detections.
                run: RunRecord = {**done.run.to_dict(), "status": "ERROR", "reason": summary["note"]}
                return run, sigma, defender, self.sensors, summary, secs
        sensors = [s.to_dict() for s in done.sensors] or self.sensors
        return done.run.to_dict(), sigma, defender, sensors, summary, secs

    def _atomic(self, test: AtomicTest) -> AtomicOutcome:
        signals = self.signals_for(test)
        args = test.arguments(self.atomic_args.get(test.id))
        try:
            run, sigma, defender, sensors, summary, secs = self._material(test)
        except HarnessError as exc:
            run = {"id": test.id, "guid": test.guid, "name": test.name, "target": self.target_url,
                   "status": "ERROR", "reason": str(exc), "commands": []}
            sigma, defender, sensors, summary, secs = [], [], self.sensors, {}, 0.0
        t0 = time.monotonic()
        crash_point("judging")
        queries = {k.query for s in signals for k in s.detections.kql}
        latest = latest_time(run, sigma)
        now = self.now_for(latest)
        result = self.suite.evaluate(sigma, defender, now, queries)
        sensors = require_sensors(sensors, self.required_sensors)
        verdict = judge_atomic(test.id, test.name, self.target_label, signals, args, sigma, defender, sensors,
                               run["status"], run["reason"], result)
        if not self.sensors and sensors:
            self.sensors = sensors
        return AtomicOutcome(
            test.id, test.name, test.guid, verdict, run, args, summary,
            sigma_hits=[_hit(m) for m in result.sigma_matches],
            kql_rows={q: list(o.rows) for q, o in result.kql.items()},
            excerpts=_excerpts(sigma),
            timings={"detonation_s": round(secs, 3), "detection_s": round(time.monotonic() - t0, 3)},
            kql_now=iso(now),
        )

    def _control(self) -> AtomicOutcome:
        if self._recorded is not None:
            det = self._recorded.get(NEGATIVE_CONTROL_ID)
            if det is None:
                run: RunRecord = {"id": NEGATIVE_CONTROL_ID, "status": "ERROR",
                       "reason": f"no negative control in the recording {self.replay_dir}", "commands": []}
                sigma, defender, summary, secs = [], [], {}, 0.0
            else:
                run, sigma, defender = det.run, det.sigma, det.defender
                summary, secs = {"counts": det.manifest.get("counts", {}), "directory": str(det.directory)}, 0.0
        else:
            try:
                pipeline = self._open()
                # the simulated internet's gateway of the lab in use, else of the lab config given
                lab_config = (pipeline.session.lab_config if pipeline.session.lab is not None
                              else load_lab_config(self.lab_config))
                test = negative_control_test(str(lab_config.inet_gateway_ip))
                t0 = time.monotonic()
                done = pipeline.detonate(test)
                secs = time.monotonic() - t0
                run = done.run.to_dict()
                sigma = done.telemetry.sigma if done.telemetry is not None else []
                defender = done.telemetry.defender if done.telemetry is not None else []
                summary = {"counts": done.telemetry.counts if done.telemetry is not None else {},
                           "directory": str(done.directory) if done.directory else None}
            except HarnessError as exc:
                run = {"id": NEGATIVE_CONTROL_ID, "status": "ERROR", "reason": str(exc), "commands": []}
                sigma, defender, summary, secs = [], [], {}, 0.0
        queries = {k.query for e in self.signals.expectations.values() for s in e.signals for k in s.detections.kql}
        now = self.now_for(latest_time(run, sigma))
        result = self.suite.evaluate(sigma, defender, now, queries)
        verdict = judge_control(self.target_label, sigma, run["status"], run["reason"], result)
        return AtomicOutcome(NEGATIVE_CONTROL_ID, verdict.name, "", verdict, run, {}, summary,
                             sigma_hits=[_hit(m) for m in result.sigma_matches],
                             kql_rows={q: list(o.rows) for q, o in result.kql.items()},
                             excerpts=_excerpts(sigma), timings={"detonation_s": round(secs, 3)}, kql_now=iso(now))

    def run_all(self) -> None:
        """Every expected atomic, then the negative control, then the session closed (also after an
        error): what ``harness nightly`` and the suite-level tests run."""
        try:
            for atomic in self.expected_atomics():
                self.outcome(atomic)
            self.ensure_control()
        finally:
            self.close()

    def ensure_control(self) -> None:
        """Every run has a negative control once any atomic ran."""
        if self.outcomes and NEGATIVE_CONTROL_ID not in self.outcomes:
            self.outcome(NEGATIVE_CONTROL_ID)


FACT_MARK = "@@recon-harness-fact "


def facts_script() -> str:
    """Every fact command after its marker line, first stdout line only."""
    return "".join(f"echo {FACT_MARK}{name}; ( {cmd} ) 2>/dev/null | head -n 1\n"
                   for name, cmd in FACT_COMMANDS.items())


def _fact_answers(out: str) -> dict[str, str]:
    """``{name: first line}`` from the facts script's output (a fact that printed nothing is "")."""
    answers: dict[str, str] = {}
    name: str | None = None
    for line in out.splitlines():
        if line.startswith(FACT_MARK):
            name = line[len(FACT_MARK):].strip()
            answers[name] = ""
        elif name is not None and not answers[name] and line.strip():
            answers[name] = line.strip()
    return answers


def _hit(m: SigmaMatch) -> dict[str, Any]:
    d: dict[str, Any] = {"rule_id": m.rule_id, "title": m.title, "level": m.level, "index": m.index,
                         "event": dict(m.event)}
    if m.correlation_type is not None:
        d["correlation_type"] = m.correlation_type
        d["event_indexes"] = list(m.event_indexes)
    return d


def _excerpts(sigma: list[SigmaEvent], per_source: int = 3) -> list[dict[str, Any]]:
    """A few events per source and log source for the report (not the whole view)."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for e in sigma:
        meta: Mapping[str, object] = e.get("meta") or {}
        ls = e["logsource"]
        key = (str(meta.get("source")), str(ls.get("category") or ls.get("service")))
        if seen.get(key, 0) >= per_source:
            continue
        seen[key] = seen.get(key, 0) + 1
        out.append({"source": key[0], "logsource": key[1], "line": meta.get("line"), "time": meta.get("time"),
                    "event": e.get("event")})
    return out


__all__ = ["AtomicOutcome", "ValidationRun", "iso", "sha256_text"]
