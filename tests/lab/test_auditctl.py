from typing import Any

import pytest

from harness.errors import TelemetryError
from harness.lab import auditctl


def test_rules_are_keyed_scoped_to_login_sessions_and_cover_every_syscall() -> None:
    rules = [str(r) for r in auditctl.harness_rules("k1", ["/tmp", "/srv/out"])]
    assert all("-F auid!=unset -F key=k1" in r for r in rules)
    assert any("-S execve,execveat" in r and "arch=b64" in r for r in rules)
    assert any("-S execve,execveat" in r and "arch=b32" in r for r in rules)
    assert any("-S connect" in r for r in rules) and any("-S sendto" in r for r in rules)
    # No success filter: non-blocking connects end in EINPROGRESS and must be logged.
    assert not any("success" in r for r in rules)
    assert sum("-F perm=wa" in r for r in rules) == 2


def test_install_prepends_in_order_and_records_before_each_change() -> None:
    calls: list[list[str]] = []
    recorded: list[auditctl.AuditRule] = []
    rules = auditctl.harness_rules("k", ["/tmp"])

    def run(args: Any) -> Any:
        calls.append(list(args))
        return 0, ""

    auditctl.install(rules, run, on_added=recorded.append)
    assert all(c[:2] == ["auditctl", "-A"] for c in calls)
    # -A prepends: installing in reverse order leaves them in the listed order.
    assert [tuple(c[2:]) for c in calls] == [r.fields for r in reversed(rules)]
    assert recorded == list(reversed(rules))


def test_auditctl_failures_are_clear_errors() -> None:
    rule = auditctl.harness_rules()[0]
    with pytest.raises(TelemetryError, match=r"auditctl -A .* failed: Operation not permitted"):
        auditctl.install([rule], lambda a: (1, "Operation not permitted"))
    # Removing a rule that is already gone is not an error (a crashed run, a test that removed it).
    gone = "Error sending delete rule data request (No such file or directory)"
    assert auditctl.remove(rule, lambda a: (255, gone)) is False
    with pytest.raises(TelemetryError):
        auditctl.remove(rule, lambda a: (1, "Operation not permitted"))


def test_status_parsing() -> None:
    out = "enabled 1\nfailure 1\npid 123\nbacklog_limit 8192\nlost 0\n"
    st = auditctl.status(lambda a: (0, out))
    assert st["enabled"] == "1" and st["pid"] == "123" and st["backlog_limit"] == "8192"
