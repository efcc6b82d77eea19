"""One atomic's lifecycle on a target, Stratus-style: warmup (prerequisites), detonate, cleanup.

Cleanup always runs: after success, failure, timeout and Ctrl-C. Every detonation gets a
correlation id, exported to the command's environment (``HARNESS_CORRELATION_ID``) and stamped
into curl's user agent through a per-detonation curlrc, so its traces can be found.
Secrets travel only in the environment sent over the channel's stdin and are redacted from
everything the run records.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.atomics.model import Dependency, Executor
from harness.crashpoint import crash_point
from harness.errors import HarnessError, ScopeError
from harness.execution.scope import Scope
from harness.records import CommandEntry, RunRecord
from harness.targets.base import CommandResult, Target

DEFAULT_TIMEOUT_S = 180.0
OUTPUT_LIMIT = 64 * 1024  # bytes of stdout/stderr kept per command


class Status(enum.StrEnum):
    EXECUTED = "EXECUTED"
    PREREQ_MISSING = "PREREQ_MISSING"
    EXECUTION_FAILED = "EXECUTION_FAILED"
    TIMED_OUT = "TIMED_OUT"
    ERROR = "ERROR"


class Phase(enum.StrEnum):
    """An atomic's lifecycle phases, in order (a command's ``phase`` in the evidence)."""

    PREREQ = "prereq"
    GET_PREREQ = "get_prereq"
    DETONATE = "detonate"
    CLEANUP = "cleanup"


class AtomicLike(Protocol):
    """What the runner needs of an atomic test (harness.atomics.model.AtomicTest)."""

    # read-only: AtomicTest is a frozen dataclass
    @property
    def id(self) -> str: ...

    @property
    def guid(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def executor(self) -> Executor: ...

    @property
    def dependencies(self) -> Sequence[Dependency]: ...

    @property
    def dependency_executor_name(self) -> str | None: ...

    def render(self, text: str, args: Mapping[str, str] | None = None) -> str: ...

    def arguments(self, args: Mapping[str, str] | None = None) -> dict[str, str]: ...

    def not_applicable(self) -> str | None: ...


@dataclass(frozen=True)
class CommandRecord(CommandResult):
    """One command the run sent, as evidence: its result (text and output redacted, output capped) and
    the lifecycle phase it ran in."""

    phase: Phase = field(kw_only=True)

    def to_dict(self) -> CommandEntry:
        return {
            "phase": str(self.phase),
            "command": self.command,
            "exit_code": self.rc,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "started": iso_ns(self.started_ns),
            "ended": iso_ns(self.ended_ns),
            "duration_s": round((self.ended_ns - self.started_ns) / 1e9, 3),
            "pid": self.pid,
            "audit_session": self.audit_session,
            "timed_out": self.timed_out,
        }


@dataclass(frozen=True)
class AtomicRun:
    id: str
    guid: str
    name: str
    target: str
    correlation_id: str
    status: Status
    reason: str
    started_ns: int
    ended_ns: int
    exit_code: int | None
    commands: tuple[CommandRecord, ...] = field(default_factory=tuple)

    @property
    def duration_s(self) -> float:
        return round((self.ended_ns - self.started_ns) / 1e9, 3)

    def detonation_commands(self) -> tuple[CommandRecord, ...]:
        return tuple(c for c in self.commands if c.phase == Phase.DETONATE)

    def to_dict(self) -> RunRecord:
        return {
            "id": self.id,
            "guid": self.guid,
            "name": self.name,
            "target": self.target,
            "correlation_id": self.correlation_id,
            "status": str(self.status),
            "reason": self.reason,
            "started": iso_ns(self.started_ns),
            "ended": iso_ns(self.ended_ns),
            "duration_s": self.duration_s,
            "exit_code": self.exit_code,
            "commands": [c.to_dict() for c in self.commands],
        }


def iso_ns(ns: int) -> str:
    t = dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}Z"


def _now_ns() -> int:
    import time

    return time.time_ns()


class Redactor(Protocol):
    def redact(self, text: str) -> str: ...


class Ledger(Protocol):
    """Where the run records what it leaves on the target before it does (harness.lab.state.LabState)."""

    def record(self, kind: str, name: str, **data: Any) -> Any: ...

    def discard(self, res: Any) -> None: ...


@dataclass
class Runner:
    """Runs atomics on one target. ``env`` holds values (secrets included) sent via stdin only."""

    target: Target
    scope: Scope | None
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: Sequence[str] = ()
    get_prereqs: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    redactor: Redactor | None = None
    # Where per-detonation files (the curlrc) go on the target. Inside a lab's state dir they are
    # removed by `lab down` even when the harness itself is killed.
    scratch_dir: str = "/tmp"
    # Given the absolute paths the cleanup command removes, returns those that still exist.
    verify_cleanup: Callable[[list[str]], list[str]] | None = None
    # The state file: each detonation's pending cleanup and scratch dir are recorded before it
    # starts, so `lab down` / `harness target cleanup` can finish the job after a crash.
    ledger: Ledger | None = None

    def __post_init__(self) -> None:
        if self.redactor is None:
            # The same redactor as stored telemetry: plain, hex and URL-encoded forms, `key=` values.
            from harness.telemetry.redaction import Redactor as TelemetryRedactor

            self.redactor = TelemetryRedactor(self.secrets)

    def _redact(self, text: str) -> str:
        assert self.redactor is not None
        return self.redactor.redact(text)

    def _record(self, phase: Phase, res: CommandResult) -> CommandRecord:
        return CommandRecord(
            phase=phase,
            command=self._redact(res.command),
            rc=res.rc,
            stdout=self._redact(res.stdout[:OUTPUT_LIMIT]),
            stderr=self._redact(res.stderr[:OUTPUT_LIMIT]),
            started_ns=res.started_ns,
            ended_ns=res.ended_ns,
            pid=res.pid,
            audit_session=res.audit_session,
            timed_out=res.timed_out,
        )

    def run(
        self,
        test: AtomicLike,
        args: Mapping[str, str] | None = None,
        *,
        correlation_id: str | None = None,
        on_phase: Callable[[AtomicLike, str], None] | None = None,
    ) -> AtomicRun:
        cid = correlation_id or uuid.uuid4().hex
        started = _now_ns()
        records: list[CommandRecord] = []
        env = {**self.env, "HARNESS_CORRELATION_ID": cid}
        curl_home = f"{self.scratch_dir.rstrip('/')}/.harness-{cid}"
        status, reason, exit_code = Status.ERROR, "", None

        def finish(st: Status, why: str, code: int | None) -> AtomicRun:
            return AtomicRun(
                id=test.id, guid=test.guid, name=test.name, target=self.target.url, correlation_id=cid,
                status=st, reason=self._redact(why), started_ns=started, ended_ns=_now_ns(),
                exit_code=code, commands=tuple(records),
            )

        def phase(name: Phase) -> None:
            if on_phase is not None:
                on_phase(test, name)
            crash_point(name)

        # A test for another platform or executor (upstream files mix them) never reaches a shell.
        inapplicable = test.not_applicable()
        if inapplicable:
            return finish(Status.ERROR, f"not run: {inapplicable}", None)
        executor = test.executor
        command = test.render(executor.command, args)
        cleanup = test.render(executor.cleanup_command, args) if executor.cleanup_command else ""
        shell = executor.name

        # Scope first: nothing runs when the detonation would leave the lab.
        if self.scope is not None:
            try:
                self.scope.check(command, test.arguments(args), what=f"{test.id} ({test.name})")
            except ScopeError as exc:
                return finish(Status.ERROR, str(exc), None)

        # Warmup: prerequisites.
        phase(Phase.PREREQ)
        dep_shell = test.dependency_executor_name or shell
        try:
            for dep in test.dependencies:
                res = self.target.run(test.render(dep.prereq_command, args), timeout=60, env=env, shell=dep_shell)
                records.append(self._record(Phase.PREREQ, res))
                if res.succeeded:
                    continue
                if not self.get_prereqs or not dep.get_prereq_command:
                    return finish(
                        Status.PREREQ_MISSING,
                        f"prerequisite missing: {dep.description.strip()} (prereq check exited {res.rc}; "
                        "run with --get-prereqs to install it)",
                        None,
                    )
                phase(Phase.GET_PREREQ)
                got = self.target.run(test.render(dep.get_prereq_command, args), timeout=900, env=env, shell=dep_shell)
                records.append(self._record(Phase.GET_PREREQ, got))
                recheck = self.target.run(test.render(dep.prereq_command, args), timeout=60, env=env, shell=dep_shell)
                records.append(self._record(Phase.PREREQ, recheck))
                if not recheck.succeeded:
                    detail = (got.stderr.strip() or got.stdout.strip()).splitlines()
                    why = detail[-1] if detail else f"get_prereq exited {got.rc}"
                    if not why.startswith("prerequisite missing"):
                        why = f"prerequisite missing: {dep.description.strip()}: {why}"
                    return finish(Status.PREREQ_MISSING, why, None)
        except HarnessError as exc:
            return finish(Status.ERROR, f"prerequisite check failed: {exc}", None)

        # Detonate, then always clean up.
        interrupted: BaseException | None = None
        pending = self._record_pending(test.id, cleanup, curl_home, shell)
        try:
            phase(Phase.DETONATE)
            self.target.write_file(f"{curl_home}/.curlrc", _curlrc(cid).encode(), 0o644)
            det_env = {**env, "CURL_HOME": curl_home}
            res = self.target.run(command, timeout=self.timeout_s, env=det_env, shell=shell)
            records.append(self._record(Phase.DETONATE, res))
            exit_code = res.rc
            if res.timed_out:
                status, reason = Status.TIMED_OUT, f"detonation exceeded {self.timeout_s:.0f}s; process tree killed"
            elif res.rc != 0:
                tail = (res.stderr.strip() or res.stdout.strip()).splitlines()[-3:]
                status, reason = Status.EXECUTION_FAILED, f"exit code {res.rc}: " + " | ".join(tail)
            else:
                status, reason = Status.EXECUTED, ""
        except KeyboardInterrupt as exc:
            interrupted = exc
            status, reason = Status.ERROR, "interrupted (Ctrl-C); cleanup ran"
        except HarnessError as exc:
            status, reason = Status.ERROR, f"detonation failed: {exc}"
        finally:
            phase(Phase.CLEANUP)
            cleanup_problem = self._cleanup(cleanup, curl_home, env, shell, records)
            if not cleanup_problem and self.ledger is not None:
                for res in pending:
                    self.ledger.discard(res)
            if cleanup_problem and status is Status.EXECUTED:
                status, reason = Status.ERROR, cleanup_problem
            elif cleanup_problem:
                reason = f"{reason}; {cleanup_problem}"
        run = finish(status, reason, exit_code)
        if interrupted is not None:
            raise interrupted
        return run

    def _record_pending(self, atomic_id: str, cleanup: str, curl_home: str, shell: str) -> list[Any]:
        """Write the detonation's cleanup and scratch dir into the state file before it starts."""
        if self.ledger is None:
            return []
        out = [self.ledger.record("target_path", curl_home, target=self.target.url)]
        if cleanup:
            # The state file never holds a secret: a cleanup that contains one is kept redacted, and
            # teardown reports it instead of running it.
            redacted = self._redact(cleanup)
            out.append(self.ledger.record("atomic_cleanup", atomic_id, command=redacted, shell=shell,
                                          target=self.target.url, outputs=removed_paths(redacted),
                                          redacted=redacted != cleanup))
        return out

    def _cleanup(self, cleanup: str, curl_home: str, env: Mapping[str, str], shell: str,
                 records: list[CommandRecord]) -> str:
        problems = []
        if cleanup:
            try:
                res = self.target.run(cleanup, timeout=60, env=env, shell=shell)
                records.append(self._record(Phase.CLEANUP, res))
                if res.failed:
                    problems.append(f"cleanup exited {res.rc}: {res.stderr.strip()[:200]}")
                elif self.verify_cleanup is not None:
                    left = self.verify_cleanup(removed_paths(cleanup))
                    if left:
                        problems.append(f"cleanup left {', '.join(left)} behind")
            except HarnessError as exc:
                problems.append(f"cleanup failed: {exc}")
        try:
            self.target.remove_file(f"{curl_home}/.curlrc")
            self.target.remove_file(curl_home)
        except HarnessError as exc:
            problems.append(f"could not remove {curl_home}: {exc}")
        return "; ".join(problems)


def removed_paths(cleanup: str) -> list[str]:
    """Absolute paths an ``rm`` in the cleanup command removes (globs are left out)."""
    import shlex

    paths: list[str] = []
    for line in cleanup.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if not words or words[0] != "rm":
            continue
        paths += [w for w in words[1:] if w.startswith("/") and not any(c in w for c in "*?[")]
    return paths


def _curlrc(cid: str) -> str:
    return f'user-agent = "curl (recon-atomics-harness; cid={cid})"\n'
