"""vagrant:// targets: `vagrant ssh-config` parsing and host-key pinning (no VM needed)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from harness.errors import TargetError
from harness.lab import vagrant_target
from harness.lab.vagrant_target import VagrantTarget, host_key_from_serial_log, parse_ssh_config
from harness.targets.base import get_target

# Real output of `vagrant ssh-config` (Vagrant 2.3.4, vagrant-libvirt 0.11.2).
SSH_CONFIG = """\
Host default
  HostName 198.19.10.23
  User vagrant
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /nonexistent/.vagrant/machines/default/libvirt/private_key
  IdentitiesOnly yes
  LogLevel FATAL
  PubkeyAcceptedKeyTypes +ssh-rsa
  HostKeyAlgorithms +ssh-rsa

"""

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHb6o6rQq0mUGh0bVb5y8Q4XoX2Qm1fJxg3oEUlqvFvS"


def test_parse_ssh_config_real_output() -> None:
    entry = parse_ssh_config(SSH_CONFIG)["default"]
    assert (entry.hostname, entry.port, entry.user) == ("198.19.10.23", 22, "vagrant")
    assert entry.identity_files == ("/nonexistent/.vagrant/machines/default/libvirt/private_key",)


def test_parse_ssh_config_quotes_equals_case_and_several_hosts() -> None:
    text = (
        'Host web\n  hostname=10.0.0.5\n  PORT 2222\n  IdentityFile "/home/a b/.vagrant/key"\n'
        "  IdentityFile /second/key\n"
        "Host db\n  HostName 10.0.0.6\n"
    )
    entries = parse_ssh_config(text)
    assert entries["web"].port == 2222
    assert entries["web"].identity_files == ("/home/a b/.vagrant/key", "/second/key")
    assert entries["db"].user == "vagrant" and entries["db"].port == 22


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("  HostName 1.2.3.4\n", "line 1: HostName before any Host line"),
        ("Host x\n  User vagrant\n", "Host x has no HostName"),
        ("Host x\n  HostName h\n  Port 99999\n", "bad Port '99999'"),
    ],
)
def test_parse_ssh_config_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        parse_ssh_config(text)


def test_host_key_from_serial_log_takes_the_last_published_key(tmp_path: Path) -> None:
    log = tmp_path / "serial.log"
    old = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLD"
    log.write_bytes(
        b"[    0.000000] Linux version 6.1\r\n"
        + f"RECON-HARNESS-HOSTKEY {old} root@recon-lab\r\n".encode()
        + b"\x1b[0mDebian GNU/Linux 12 recon-lab ttyS0\r\n"
        + f"RECON-HARNESS-HOSTKEY {KEY} root@recon-lab\r\n".encode()
    )
    assert host_key_from_serial_log(log) == KEY
    assert host_key_from_serial_log(tmp_path / "missing.log") is None
    (tmp_path / "empty.log").write_text("no key here\n")
    assert host_key_from_serial_log(tmp_path / "empty.log") is None


def _fake_vagrant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str, rc: int = 0) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "vagrant"
    script.write_text(f"#!/bin/sh\necho \"$PWD $*\" > {tmp_path}/called\ncat <<'EOF'\n{output}EOF\nexit {rc}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    project = tmp_path / "project"
    project.mkdir()
    (project / "Vagrantfile").write_text("# test\n")
    return project


def test_the_first_boots_key_is_kept_for_after_a_snapshot_revert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vagrant_target, "KEPT_KEYS_DIR", tmp_path / "state")
    log = tmp_path / "serial.log"
    log.write_bytes(f"boot\r\nRECON-HARNESS-HOSTKEY {KEY} root@recon-lab\r\n".encode())
    assert vagrant_target.keep_host_key(log) == KEY
    log.write_bytes(b"a reverted VM's serial log starts again, without the key\r\n")
    assert host_key_from_serial_log(log) is None and vagrant_target.pinned_host_key(log) == KEY
    # another lab config's serial log has a key file of its own
    assert vagrant_target.pinned_host_key(tmp_path / "other.log") is None
    vagrant_target.kept_key_file(log).write_text("not a key\n")
    assert vagrant_target.pinned_host_key(log) is None


def _with_key(tmp_path: Path) -> tuple[str, str]:
    """SSH_CONFIG naming a key file that exists here (the target checks it before connecting)."""
    key = tmp_path / "private_key"
    key.write_text("not parsed before connecting\n")
    return SSH_CONFIG.replace("/nonexistent/.vagrant/machines/default/libvirt/private_key", str(key)), str(key)


def test_url_builds_an_ssh_target_from_vagrant_ssh_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, key = _with_key(tmp_path)
    project = _fake_vagrant(tmp_path, monkeypatch, config)
    serial = tmp_path / "serial.log"
    serial.write_text(f"RECON-HARNESS-HOSTKEY {KEY} root@recon-lab\n")
    monkeypatch.setenv("RECON_HARNESS_SERIAL_LOG", str(serial))
    target = get_target(f"vagrant://default?cwd={project}")
    assert isinstance(target, VagrantTarget)
    assert (target.host, target.port, target.user) == ("198.19.10.23", 22, "root")
    assert target.identity_file == key
    assert (tmp_path / "called").read_text().strip() == f"{project} ssh-config default"
    assert target._policy.pinned == KEY and not target._policy.accept_unknown
    assert target.facts()["vagrant_machine"] == "default"


def test_without_a_published_host_key_the_connection_needs_an_explicit_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _fake_vagrant(tmp_path, monkeypatch, _with_key(tmp_path)[0])
    monkeypatch.setenv("RECON_HARNESS_SERIAL_LOG", str(tmp_path / "absent.log"))
    with pytest.raises(TargetError, match="no host key to pin"):
        get_target(f"vagrant://default?cwd={project}")
    target = get_target(f"vagrant://default?cwd={project}&accept_unknown_host_key=true&user=vagrant")
    assert isinstance(target, VagrantTarget)
    assert target.user == "vagrant" and target._policy.accept_unknown


def test_missing_identity_file_is_reported_before_connecting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _fake_vagrant(tmp_path, monkeypatch, SSH_CONFIG)
    with pytest.raises(TargetError, match=r"identity_file /nonexistent/\.vagrant/.*/private_key: no such file$"):
        get_target(f"vagrant://default?cwd={project}&accept_unknown_host_key=true")


def test_vagrant_failure_is_reported_with_its_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _fake_vagrant(tmp_path, monkeypatch, "The provider for this Vagrant-managed machine is reporting "
                            "that it is not yet ready for SSH.\n", rc=1)
    with pytest.raises(TargetError, match="not yet ready for SSH"):
        get_target(f"vagrant://default?cwd={project}")


def test_missing_vagrantfile_and_bad_machine_names(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no Vagrantfile"):
        get_target(f"vagrant://default?cwd={tmp_path}")
    with pytest.raises(TargetError, match="not a Vagrant machine name"):
        VagrantTarget.for_machine("a;b", tmp_path)
