"""The lifecycle on the local target, with atomics loaded through the real loader."""

import dataclasses
import uuid
from pathlib import Path
from typing import Any, cast

import pytest

from harness.atomics.loader import load_technique
from harness.atomics.model import AtomicTest
from harness.execution.runner import Runner, Status
from harness.execution.scope import Scope
from harness.lab.config import load_lab_config
from harness.lab.state import LabState, Resource
from harness.targets import get_target
from harness.targets.base import CommandResult, Target


def _atomic(tmp_path: Path, command: str, cleanup: str = "", prereq: str | None = None,
            get_prereq: str | None = None, args: dict[str, str] | None = None) -> AtomicTest:
    deps = ""
    if prereq is not None:
        deps = f"""  dependency_executor_name: sh
  dependencies:
  - description: The tool must be present.
    prereq_command: |
      {prereq}
    get_prereq_command: |
      {get_prereq}
"""
    arg_block = ""
    if args:
        arg_block = "  input_arguments:\n" + "".join(
            f"    {k}:\n      description: {k}\n      type: string\n      default: {v}\n" for k, v in args.items()
        )
    text = f"""attack_technique: T1590.005
display_name: 'Runner test'
atomic_tests:
- name: Runner test
  auto_generated_guid: {uuid.uuid4()}
  description: test
  supported_platforms:
  - linux
{arg_block}{deps}  executor:
    name: sh
    elevation_required: false
    command: |
      {command}
    cleanup_command: |
      {cleanup or 'true'}
"""
    p = tmp_path / "t.yaml"
    p.write_text(text)
    return load_technique(p).atomic_tests[0]


@pytest.fixture
def runner(tmp_path: Path) -> Any:
    return Runner(get_target("local://"), None, scratch_dir=str(tmp_path / "scratch"))


def test_executed_and_cleanup_ran(tmp_path: Path, runner: Runner) -> None:
    out = tmp_path / "out"
    run = runner.run(_atomic(tmp_path, f"echo hi > {out}", f"rm -f {out}"))
    assert run.status is Status.EXECUTED and run.exit_code == 0 and run.reason == ""
    assert [c.phase for c in run.commands] == ["detonate", "cleanup"]
    assert not out.exists()
    assert run.started_ns < run.ended_ns
    assert not (tmp_path / "scratch" / f".harness-{run.correlation_id}").exists()


def test_correlation_id_is_in_the_environment(tmp_path: Path, runner: Runner) -> None:
    run = runner.run(_atomic(tmp_path, 'echo "cid=$HARNESS_CORRELATION_ID"; cat "$CURL_HOME/.curlrc"'))
    out = run.detonation_commands()[0].stdout
    assert f"cid={run.correlation_id}" in out
    assert f'user-agent = "curl (recon-atomics-harness; cid={run.correlation_id})"' in out


def test_failure_is_execution_failed_and_cleanup_still_runs(tmp_path: Path, runner: Runner) -> None:
    out = tmp_path / "half"
    run = runner.run(_atomic(tmp_path, f"touch {out}; echo boom >&2; exit 7", f"rm -f {out}"))
    assert run.status is Status.EXECUTION_FAILED and run.exit_code == 7
    assert "exit code 7" in run.reason and "boom" in run.reason
    assert not out.exists()


def test_timeout_kills_and_cleans(tmp_path: Path) -> None:
    r = Runner(get_target("local://"), None, timeout_s=0.5, scratch_dir=str(tmp_path))
    marker = tmp_path / "m"
    run = r.run(_atomic(tmp_path, f"touch {marker}; sleep 30", f"rm -f {marker}"))
    assert run.status is Status.TIMED_OUT and run.duration_s < 10
    assert not marker.exists()


def test_prereq_missing_without_get_prereqs(tmp_path: Path, runner: Runner) -> None:
    run = runner.run(_atomic(tmp_path, "echo never", prereq="false", get_prereq="echo would-install"))
    assert run.status is Status.PREREQ_MISSING
    assert "The tool must be present" in run.reason and "--get-prereqs" in run.reason
    assert [c.phase for c in run.commands] == ["prereq"]


def test_prereq_reason_comes_from_get_prereq(tmp_path: Path) -> None:
    r = Runner(get_target("local://"), None, get_prereqs=True, scratch_dir=str(tmp_path))
    run = r.run(_atomic(tmp_path, "echo never", prereq="false",
                        get_prereq='echo "prerequisite missing: no internet to fetch the tool" >&2; exit 1'))
    assert run.status is Status.PREREQ_MISSING
    assert run.reason == "prerequisite missing: no internet to fetch the tool"
    assert "detonate" not in [c.phase for c in run.commands]


def test_secrets_are_redacted_from_every_record(tmp_path: Path) -> None:
    secret = "sk_" + uuid.uuid4().hex
    r = Runner(get_target("local://"), None, env={"API_KEY": secret}, secrets=[secret], scratch_dir=str(tmp_path))
    run = r.run(_atomic(tmp_path, 'echo "key is $API_KEY"; echo "$API_KEY" >&2; exit 1'))
    text = repr(run.to_dict())
    assert secret not in text
    assert "key is [REDACTED]" in run.detonation_commands()[0].stdout
    # ... in every form the telemetry redactor knows, not only the plain one.
    run = r.run(_atomic(tmp_path, 'printf "%s" "$API_KEY" | od -An -tx1 | tr -d " \\n"'))
    assert secret.encode().hex() not in repr(run.to_dict())


def test_out_of_scope_is_refused_before_anything_runs(tmp_path: Path) -> None:
    r = Runner(get_target("local://"), Scope.from_lab(load_lab_config()), scratch_dir=str(tmp_path))
    run = r.run(_atomic(tmp_path, "echo #{target}", args={"target": "8.8.8.8"}))
    assert run.status is Status.ERROR and "8.8.8.8" in run.reason and run.commands == ()


class _InterruptingTarget:
    """Raises Ctrl-C during the detonation (an error path: the one place a stand-in is used)."""

    def __init__(self, inner: Target) -> None:
        self.inner, self.url = inner, inner.url

    def run(self, command: str, **kw: Any) -> CommandResult:
        if "sleep" in command:
            raise KeyboardInterrupt
        return self.inner.run(command, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_ctrl_c_runs_cleanup_then_propagates(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    marker.write_text("x")
    r = Runner(cast(Target, _InterruptingTarget(get_target("local://"))), None, scratch_dir=str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        r.run(_atomic(tmp_path, "sleep 30", f"rm -f {marker}"))
    assert not marker.exists()


def test_cleanup_that_leaves_its_output_behind_is_an_error(tmp_path: Path) -> None:
    from harness.targets.inspect import TargetInspector

    target = get_target("local://")
    out = tmp_path / "left"
    with TargetInspector(target) as inspector:
        r = Runner(target, None, scratch_dir=str(tmp_path), verify_cleanup=inspector.existing_paths)
        # The cleanup claims to remove the file, then something recreates it.
        run = r.run(_atomic(tmp_path, f"touch {out}", f"rm -f {out}; touch {out}"))
    assert run.status is Status.ERROR and f"cleanup left {out} behind" in run.reason


def test_removed_paths_reads_rm_lines_only() -> None:
    from harness.execution.runner import removed_paths

    assert removed_paths("rm -f /tmp/a /tmp/b.xml\nrm -rf /tmp/home # c\necho /tmp/x\nrm /tmp/*.log") == [
        "/tmp/a", "/tmp/b.xml", "/tmp/home"]


class _Ledger:
    """The state file's record/discard calls, as the runner makes them (harness.lab.state.LabState)."""

    def __init__(self, state_dir: Path) -> None:

        self.state = LabState.open(state_dir, "test")

    def record(self, kind: str, name: str, **data: Any) -> Resource:
        return self.state.record(kind, name, **data)

    def discard(self, res: Resource) -> None:
        self.state.discard(res)

    def pending(self) -> list[tuple[str, str]]:
        return [(r.kind, r.name) for r in self.state.resources]


def test_pending_cleanup_is_recorded_before_detonation_and_forgotten_after(tmp_path: Path) -> None:
    out = tmp_path / "out"
    ledger = _Ledger(tmp_path / "state")
    probe = tmp_path / "probe"
    # The detonation itself reads the state file: the entry must already be there.
    command = f"cp {ledger.state.path} {probe}; echo hi > {out}"
    runner = Runner(get_target("local://"), None, scratch_dir=str(tmp_path / "scratch"), ledger=ledger)
    run = runner.run(_atomic(tmp_path, command, f"rm -f {out}"))
    assert run.status is Status.EXECUTED
    import json

    seen = json.loads(probe.read_text())["resources"]
    kinds = {(r["kind"], r["data"].get("command")) for r in seen}
    assert ("atomic_cleanup", f"rm -f {out}\n") in kinds
    assert any(r["kind"] == "target_path" and r["name"].startswith(str(tmp_path / "scratch")) for r in seen)
    assert ledger.pending() == [] and not out.exists()


def test_failed_cleanup_stays_pending_for_lab_down(tmp_path: Path) -> None:
    ledger = _Ledger(tmp_path / "state")
    runner = Runner(get_target("local://"), None, scratch_dir=str(tmp_path / "scratch"), ledger=ledger)
    run = runner.run(_atomic(tmp_path, "true", "exit 4"))
    assert run.status is Status.ERROR and "cleanup exited 4" in run.reason
    assert [k for k, _ in ledger.pending()] == ["target_path", "atomic_cleanup"]


def test_killed_at_a_phase_leaves_the_pending_cleanup_to_teardown(tmp_path: Path) -> None:
    """RECON_HARNESS_CRASH_AT kills the process group at the phase: the entry stays, teardown runs it."""
    import os
    import signal
    import subprocess
    import sys
    import textwrap

    from harness.lab import teardown
    from harness.lab.state import LabState

    out = tmp_path / "out"
    atomic_yaml = tmp_path / "t.yaml"
    _atomic(tmp_path, f"echo hi > {out}", f"rm -f {out}")  # writes t.yaml
    code = textwrap.dedent(f"""
        from harness.atomics.loader import load_technique
        from harness.execution.runner import Runner
        from harness.lab.state import LabState
        from harness.targets import get_target
        t = load_technique({str(atomic_yaml)!r}).atomic_tests[0]
        Runner(get_target("local://"), None, scratch_dir={str(tmp_path / 'scratch')!r},
               ledger=LabState.open(__import__('pathlib').Path({str(tmp_path / 'state')!r}), "t")).run(t)
        print("survived")
    """)
    env = {**os.environ, "RECON_HARNESS_CRASH_AT": "cleanup"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          start_new_session=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL and "survived" not in proc.stdout
    assert out.exists()  # detonated, never cleaned up
    state = LabState.load(tmp_path / "state")
    assert state is not None and {r.kind for r in state.resources} == {"target_path", "atomic_cleanup"}

    def sh(command: Any, shell: Any) -> Any:
        res = subprocess.run([shell, "-c", command], capture_output=True, text=True)
        return res.returncode, res.stdout + res.stderr

    done, errors = teardown.undo_target_entries(state, sh)
    saved = LabState.load(tmp_path / "state")
    assert errors == [] and not out.exists() and saved is not None and saved.resources == []
    assert any("pending cleanup" in d for d in done)


def test_a_cleanup_holding_a_secret_is_recorded_redacted(tmp_path: Path) -> None:
    from harness.lab import teardown

    ledger = _Ledger(tmp_path / "state")
    secret = "s3cr3t-value-0123456789"
    runner = Runner(get_target("local://"), None, scratch_dir=str(tmp_path / "scratch"), ledger=ledger,
                    secrets=[secret])
    runner.run(_atomic(tmp_path, "true", f"echo {secret} >/dev/null; exit 5"))
    assert secret not in ledger.state.path.read_text()
    pending = [r for r in ledger.state.resources if r.kind == "atomic_cleanup"]
    assert pending and pending[0].data["redacted"] is True
    _done, errors = teardown.undo_target_entries(ledger.state, lambda c, s: (0, ""))
    assert len(errors) == 1 and "held a secret" in errors[0]


def test_a_test_for_another_executor_is_never_run(tmp_path: Path, runner: Runner) -> None:
    out = tmp_path / "out"
    test = _atomic(tmp_path, f"echo ran > {out}")
    powershell = dataclasses.replace(test, executor=dataclasses.replace(test.executor, name="powershell"))
    run = runner.run(powershell)
    assert run.status is Status.ERROR and run.commands == ()
    assert run.reason == "not run: executor powershell: the harness runs only sh or bash on linux targets"
    assert not out.exists()
