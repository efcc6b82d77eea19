"""One detonation end to end on an open session: run the atomic's lifecycle, slice and normalise its
telemetry, save the layout. Shared by ``harness run --telemetry`` and the pytest plugin so both
produce the same evidence the same way.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.atomics.model import NEGATIVE_CONTROL_ID, AtomicTest, Executor
from harness.collection import SensorStatus
from harness.crashpoint import crash_point
from harness.execution import art_guard
from harness.execution.atomics_folder import InFolder, copy_to_target, referenced_techniques, remove_from_target
from harness.execution.fleet import needs_declared_scope
from harness.execution.runner import AtomicLike, AtomicRun, Runner, Status
from harness.execution.session import Session

if TYPE_CHECKING:
    from harness.execution.collect import DetonationTelemetry, TelemetrySession


@dataclass
class Detonated:
    """One atomic's run and (when it detonated and telemetry is collected) its telemetry."""

    test: AtomicTest
    run: AtomicRun
    telemetry: DetonationTelemetry | None
    directory: Path | None
    sensors: list[SensorStatus]


ProgressFn = Callable[[str, str], None]  # (atomic id, phase)


class DetonationPipeline:
    """Detonates atomics on ``session``, collecting the telemetry of its lab, or of the host's own
    sensors on a target the harness did not build (:mod:`harness.execution.host_sensors`)."""

    def __init__(
        self,
        session: Session,
        *,
        get_prereqs: bool = False,
        timeout_s: float = 180.0,
        telemetry_dir: Path | None = None,
        run_id: str = "",
        collect: bool = True,
        progress: ProgressFn | None = None,
    ) -> None:
        from harness.execution.collect import new_run_id

        self.session = session
        self.get_prereqs = get_prereqs or session.lab is not None
        self.timeout_s = timeout_s
        self.telemetry_dir = telemetry_dir
        self.run_id = run_id or new_run_id()
        self.progress = progress
        self.telemetry: TelemetrySession | None = None
        if collect and session.lab is not None:
            from harness.execution.collect import TelemetrySession
            from harness.views.context import ViewContext

            plan = session.lab.collection(session.secrets, session.proxy_mode)
            self.telemetry = TelemetrySession.from_plan(plan, ViewContext.from_lab_config(session.lab_config))
            self.telemetry.clock = session.clock  # log windows on the target's clock
            if getattr(self.telemetry, "tempdirs", None) is None:
                # Labs without a state file of their own (the Vagrant VM): the target's ledger.
                self.telemetry.tempdirs = session.ledger
        elif collect and needs_declared_scope(session.target.url):
            # A host the harness did not build (ssh://): its own sensors, over the same channel.
            # local:// collects nothing: the controller's audit rules are not the harness's to change.
            self.telemetry = host_telemetry(session)

    @property
    def sensors(self) -> list[SensorStatus]:
        return list(self.telemetry.sensors) if self.telemetry is not None else []

    def _phase(self, test: AtomicLike, phase: str) -> None:
        if self.progress is not None:
            self.progress(test.id, phase)

    def detonate(self, test: AtomicTest, args: Mapping[str, str] | None = None,
                 atomics_root: Path | None = None) -> Detonated:
        """Run ``test`` and collect what it left. ``atomics_root``: the local ``atomics/`` folder of an
        upstream test, whose payloads it names through ``PathToAtomicsFolder`` (copied to the target)."""
        from harness.execution.collect import run_dir, write_manifest_only

        inspector = self.session.inspector
        runner = Runner(self.session.target, self.session.scope, env=self.session.env, secrets=self.session.secrets,
                        get_prereqs=self.get_prereqs, timeout_s=self.timeout_s, scratch_dir=self.session.scratch_dir,
                        verify_cleanup=inspector.existing_paths if inspector is not None else None,
                        ledger=self.session.ledger)
        # Upstream (destructive) atomics: only on a disposable target, only inside the scope.
        uses_folder = atomics_root is not None and bool(referenced_techniques(test))
        refused = art_guard.refusal(test, self.session.target.url, self.session.scope, args,
                                    atomics_folder=str(atomics_root) if uses_folder else None)
        if refused:
            self._phase(test, "refused")
            assert runner.redactor is not None
            reason = runner.redactor.redact(refused)
            return Detonated(test, refused_run(test, self.session.target.url, reason), None, None, self.sensors)
        copy = None
        if uses_folder and atomics_root is not None:
            self._phase(test, "payloads")
            copy = copy_to_target(self.session.target, atomics_root, test, self.session.ledger)
        try:
            marks = self.telemetry.begin() if self.telemetry is not None else {}
            run = runner.run(InFolder(test, copy.path) if copy is not None else test, dict(args or {}),
                             on_phase=self._phase)
        finally:
            problem = remove_from_target(self.session.target, copy, self.session.ledger) if copy else None
        if problem:
            run = dataclasses.replace(run, reason=f"{run.reason}; {problem}" if run.reason else problem)
        out = run_dir(self.telemetry_dir, self.run_id, run.id) if self.telemetry_dir is not None else None
        tel = None
        if self.telemetry is not None:
            if run.detonation_commands():
                self._phase(test, "telemetry")
                crash_point("telemetry")
                tel = self.telemetry.finish(run, marks, out)
            elif out is not None:
                write_manifest_only(out, run, self.telemetry.sensors)
        # The detonation's own sensor states: a sensor whose log slice came back incomplete is not
        # available for this detonation, whatever the preflight found.
        return Detonated(test, run, tel, out, list(tel.sensors) if tel is not None else self.sensors)


def host_telemetry(session: Session) -> TelemetrySession:
    """The TelemetrySession of a host the harness did not build; its audit rules go when the session ends."""
    from harness.execution.collect import TelemetrySession
    from harness.execution.host_sensors import HostSensors
    from harness.views.context import ViewContext

    cfg = session.lab_config
    host = HostSensors(session.target, session.ledger, cfg.telemetry.audit_key, cfg.telemetry.audit_watch_dirs)
    session.closers.append(host.close)
    plan = host.start(session.secrets)
    # The declared scope's ranges are the internet the atomics look at (Defender's RemoteIPType Public),
    # as the simulated internet's are in the labs (a real host reaches neither otherwise).
    context = ViewContext.from_lab_config(
        cfg, device_name=host.facts.hostname or cfg.device_name,
        local_addresses=plan.client_addresses or (str(cfg.lab_uplink_ip),),
        public_ranges=(*cfg.simulated_internet_ranges(), *session.scope.ranges))
    tel = TelemetrySession.from_plan(plan, context)
    tel.clock = session.clock
    tel.tempdirs = session.ledger
    return tel


def refused_run(test: AtomicTest, target_url: str, reason: str) -> AtomicRun:
    """The record of a test that was not run at all: ERROR with the reason, no command sent."""
    now = time.time_ns()
    return AtomicRun(id=test.id, guid=test.guid, name=test.name, target=target_url, correlation_id=uuid.uuid4().hex,
                     status=Status.ERROR, reason=reason, started_ns=now, ended_ns=now, exit_code=None)


def negative_control_test(gateway_ip: str, benign_url: str = "https://www.example.com/") -> AtomicTest:
    """Benign activity on the lab: a curl of an unrelated simulated site and a ping of the gateway.
    It must fire none of the detections."""
    command = (
        "set -e\n"
        f"curl -sS -o /dev/null {benign_url}\n"
        f"ping -c 2 -W 2 {gateway_ip} >/dev/null\n"
    )
    return AtomicTest(
        id=NEGATIVE_CONTROL_ID,
        guid="00000000-0000-4000-8000-000000000000",
        name="Negative control: benign web request and gateway ping",
        description="Benign activity that no detection may fire on (a firing is a FALSE_POSITIVE).",
        supported_platforms=("linux",),
        input_arguments={},
        dependency_executor_name=None,
        dependencies=(),
        executor=Executor(name="sh", command=command),
    )
