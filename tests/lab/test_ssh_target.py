"""SSH host-key verification against the real lab sshd: unknown keys are refused by default."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import TargetError
from harness.lab.config import load_lab_config
from harness.lab.embedded import EmbeddedLab
from harness.targets import get_target
from harness.targets.ssh import SSHTarget

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    from harness.lab.lock import lab_lock

    lab = EmbeddedLab(load_lab_config())
    with lab_lock(lab.cfg.name):  # no other harness process may tear it down meanwhile
        lab.down()
        lab.up()
        yield lab
        lab.down()


def _base(lab: Any) -> Any:
    return f"ssh://root@{lab.cfg.lab_transit_ip}:22?identity_file={lab.client_key}"


def test_unknown_host_key_is_refused(lab: Any, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(TargetError, match="unknown host key"):
        get_target(_base(lab) + f"&known_hosts={empty}").run("true")


def test_pinned_host_key_is_accepted_and_a_wrong_one_refused(lab: Any, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    pub = " ".join((lab.ssh_dir / "host_ed25519.pub").read_text().split()[:2])
    t = get_target(_base(lab) + f"&known_hosts={empty}&host_key={pub.replace(' ', '%20').replace('+', '%2B')}")
    assert t.run("echo ok").stdout == "ok\n"
    assert t.facts()["host_key_verification"] == "pinned"
    with pytest.raises(TargetError, match="does not match the pinned key"):
        get_target(_base(lab) + f"&known_hosts={empty}&host_key=SHA256:AAAA").run("true")


def test_accepting_an_unknown_key_is_explicit_and_recorded(lab: Any, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    t = get_target(_base(lab) + f"&known_hosts={empty}&accept_unknown_host_key=true")
    r = t.run("cat /proc/self/loginuid")
    assert r.rc == 0 and r.audit_session is not None
    facts = t.facts()
    assert facts["host_key_verification"] == "accepted-unverified"
    assert facts["host_key_accepted_unverified"].startswith("SHA256:")
    json.dumps(facts)


def test_timeout_kills_the_remote_process_tree(lab: Any) -> None:
    t = get_target("netns://rah")
    r = t.run("sleep 300 & sleep 301", timeout=1)
    assert r.timed_out and r.pid
    check = t.run("ps -eo args | grep -c '^sleep 30[01]' || true")
    assert check.stdout.strip() == "0", "processes of the timed-out command survived"


def test_testinfra_readiness_and_cleanup_checks_on_the_lab_host(lab: Any) -> None:
    from harness.targets.inspect import TargetInspector

    t = get_target("netns://rah")
    with TargetInspector(t) as inspector:
        assert inspector.missing_packages(["openssh-server", "nmap", "curl", "auditd"]) == []
        assert inspector.missing_commands(["nmap", "curl", "shodan"]) == []
        assert inspector.not_listening([f"tcp://{lab.cfg.lab_transit_ip}:22"]) == []
        t.run("touch /tmp/atomic-inspector-probe")
        assert inspector.existing_paths(["/tmp/atomic-inspector-probe"]) == ["/tmp/atomic-inspector-probe"]
        t.run("rm -f /tmp/atomic-inspector-probe")
        assert inspector.existing_paths(["/tmp/atomic-inspector-probe"]) == []


def test_a_lost_sftp_session_or_connection_is_reopened_and_recorded(lab: Any) -> None:
    """A CI run's SFTP channel died between two atomics and every later file operation failed
    with "Socket is closed". Here the server side ends it for real: first the internal-sftp
    process, then the whole connection's session process (both started by this connection)."""
    t = get_target("netns://rah")
    assert isinstance(t, SSHTarget)
    probe = "/tmp/.harness-sftp-probe"
    t.write_file(probe, b"one")
    session = t.run("ps -o ppid= -p $$").stdout.strip()
    children = t.run(f"ps -o pid=,args= --ppid {session}").stdout.splitlines()
    sftp = [line.split()[0] for line in children if line.split()[1:] == ["rah-sshd:", "root@internal-sftp"]]
    assert len(sftp) == 1, f"no internal-sftp process under session {session}"
    assert t.run(f"kill -KILL {sftp[0]}").rc == 0
    t.write_file(probe, b"two")
    # found closed before the write, or the write is what found it (the server's close raced it)
    (first,) = t.facts()["reconnects"]
    assert first.startswith("SFTP session lost ("), first
    t.run(f"kill -KILL {t.run('ps -o ppid= -p $$').stdout.strip()}")
    assert t.read_file(probe) == b"two"
    t.remove_file(probe)
    assert t.run(f"test -e {probe}").rc == 1
    reconnects = t.facts()["reconnects"]
    assert len(reconnects) == 2 and reconnects[1].startswith("connection lost"), reconnects
