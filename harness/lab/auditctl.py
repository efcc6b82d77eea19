"""The harness's own audit rules: installed first (``-A``), scoped, keyed, and removed exactly.

Rules are first-match-wins, so ours are prepended; they are scoped to login sessions
(``auid!=unset``: the lab's SSH logins through pam_loginuid) and carry our key, so removing them
by the exact same spec never touches the host's own rules. ``connect`` is logged whatever its
outcome (curl, pip and requests use non-blocking sockets: EINPROGRESS); ``sendto`` with its
socket address shows nmap's raw probes.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.errors import TelemetryError
from harness.lab import teardown
from harness.lab.shell import run_checked
from harness.lab.state import Resource

DEFAULT_KEY = "recon_harness"
BACKLOG = 8192

RunFn = Callable[[Sequence[str]], tuple[int, str]]


def local_run(args: Sequence[str]) -> tuple[int, str]:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    return proc.returncode, (proc.stdout + proc.stderr)


@dataclass(frozen=True)
class AuditRule:
    """One rule as the list of auditctl arguments after ``-A``/``-d``."""

    fields: tuple[str, ...]

    def add_args(self) -> list[str]:
        return ["auditctl", "-A", *self.fields]

    def delete_args(self) -> list[str]:
        return ["auditctl", "-d", *self.fields]

    def __str__(self) -> str:
        return " ".join(self.fields)


def harness_rules(key: str = DEFAULT_KEY, watch_dirs: Sequence[str] = ("/tmp",)) -> list[AuditRule]:
    """execve/execveat (failed ones too), connect, sendto, and file writes in the output dirs."""
    scope = ("-F", "auid!=unset", "-F", f"key={key}")
    rules = [
        AuditRule(("always,exit", "-F", "arch=b64", "-S", "execve,execveat", *scope)),
        AuditRule(("always,exit", "-F", "arch=b32", "-S", "execve,execveat", *scope)),
        AuditRule(("always,exit", "-F", "arch=b64", "-S", "connect", *scope)),
        AuditRule(("always,exit", "-F", "arch=b64", "-S", "sendto", *scope)),
    ]
    for d in watch_dirs:
        # The syscall form of `-w DIR -p wa`: creation and writes below DIR.
        rules.append(AuditRule(("always,exit", "-F", f"dir={d}", "-F", "perm=wa", *scope)))
    return rules


def status(run: RunFn = local_run) -> dict[str, str]:
    rc, out = run(["auditctl", "-s"])
    if rc != 0:
        raise TelemetryError(f"auditctl -s failed: {out.strip()}")
    result = {}
    for line in out.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            result[parts[0]] = parts[1].strip()
    return result


def list_rules(run: RunFn = local_run) -> list[str]:
    rc, out = run(["auditctl", "-l"])
    if rc != 0:
        raise TelemetryError(f"auditctl -l failed: {out.strip()}")
    return [line for line in out.splitlines() if line.strip() and line.strip() != "No rules"]


def rules_live(key: str = DEFAULT_KEY, run: RunFn = local_run) -> int:
    """How many rules with our key the kernel has now."""
    return sum(1 for r in list_rules(run) if re.search(rf"\bkey={re.escape(key)}\b", r))


def install(
    rules: Sequence[AuditRule], run: RunFn = local_run, on_added: Callable[[AuditRule], object] | None = None
) -> None:
    # Reverse order so that, prepended one by one, they end up in the listed order.
    for rule in reversed(list(rules)):
        if on_added is not None:
            on_added(rule)  # recorded before the change: a crash here is still undone
        rc, out = run(rule.add_args())
        if rc != 0:
            raise TelemetryError(f"auditctl {' '.join(rule.add_args()[1:])} failed: {out.strip()}")


def remove(rule: AuditRule, run: RunFn = local_run) -> bool:
    """Remove our rule; False when it was not there (already removed)."""
    rc, out = run(rule.delete_args())
    if rc == 0:
        return True
    if "No rule matches" in out or "No such file" in out:
        return False
    raise TelemetryError(f"auditctl -d {rule} failed: {out.strip()}")


def set_backlog(limit: int, run: RunFn = local_run) -> None:
    rc, out = run(["auditctl", "-b", str(limit)])
    if rc != 0:
        raise TelemetryError(f"auditctl -b {limit} failed: {out.strip()}")


def sync_marker(text: str, run: RunFn = local_run) -> None:
    """Write a USER record through auditd: once it is in the log, everything before it is too."""
    rc, out = run(["auditctl", "-m", text])
    if rc != 0:
        raise TelemetryError(f"auditctl -m failed: {out.strip()}")


# Undo of what the lab recorded ---------------------------------------------------------------
@teardown.undo_handler("audit_rule")
def _undo_rule(res: Resource) -> str | None:
    return f"audit rule {res.name}" if remove(AuditRule(tuple(res.data["fields"]))) else None


@teardown.undo_handler("audit_settings")
def _undo_settings(res: Resource) -> str | None:
    """The backlog limit and enabled flag auditd had before the lab changed them."""
    st = status()
    done = []
    if res.data.get("backlog_limit") and st.get("backlog_limit") != res.data["backlog_limit"]:
        set_backlog(int(res.data["backlog_limit"]))
        done.append(f"backlog_limit {res.data['backlog_limit']}")
    prior = res.data.get("enabled")
    if prior in ("0", "1") and st.get("enabled") != prior:
        run_checked(["auditctl", "-e", prior])
        done.append(f"enabled {prior}")
    return f"audit settings restored ({', '.join(done)})" if done else None
