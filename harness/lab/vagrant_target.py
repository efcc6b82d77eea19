"""``vagrant://MACHINE[?cwd=DIR]``: a Vagrant machine, reached over SSH with paramiko.

The address, port and key come from ``vagrant ssh-config MACHINE`` run in ``cwd`` (default: the
repository root, where the project's Vagrantfile is). The harness logs in as ``root`` (option
``user=``; the provisioning authorises Vagrant's key for root, as nmap -sn needs raw sockets), so
the session gets its audit session id from pam_loginuid like on any lab host.

Host key: the lab VM writes its freshly generated SSH host key to its serial port at first boot;
libvirt logs that port to a file on the host (``harness.lab.vagrant.SERIAL_LOG``), a channel the
VM's network cannot forge. The key found there is pinned. Without it (another box, another
provider) the connection needs ``host_key=`` or an explicit ``accept_unknown_host_key=true``,
which the run's facts record.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import TargetError
from harness.targets.base import TargetURL, check_options
from harness.targets.ssh import TRUE, SSHTarget

HOSTKEY_MARKER = "RECON-HARNESS-HOSTKEY"
#: The VM's host key as first published is kept in the Vagrant lab's state dir (removed by its
#: down): a snapshot revert restarts the serial log, so the key is no longer there to read
#: (harness.lab.vagrant_snapshot). One file per serial log, so a lab config of its own keeps its own.
KEPT_KEYS_DIR = Path("/run/recon-harness-vagrant")


def kept_key_file(serial_log: Path) -> Path:
    import hashlib

    return KEPT_KEYS_DIR / f"host-key-{hashlib.sha256(str(serial_log).encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class SSHConfigEntry:
    """One ``Host`` block of ``vagrant ssh-config``."""

    host: str
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def parse_ssh_config(text: str) -> dict[str, SSHConfigEntry]:
    """Parse ``vagrant ssh-config`` output (OpenSSH client syntax) into entries by ``Host``.

    Keywords are case-insensitive and may be separated from their value by spaces or ``=``;
    values may be double-quoted (paths with spaces). A block without ``HostName`` is an error.
    """
    blocks: list[tuple[str, dict[str, list[str]], int]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"(\S+?)\s*(?:=|\s)\s*(.*)$", line)
        if not m:
            raise TargetError(f"vagrant ssh-config, line {lineno}: cannot parse {line!r}")
        key, value = m.group(1).lower(), _unquote(m.group(2))
        if key == "host":
            blocks.append((value, {}, lineno))
            continue
        if not blocks:
            raise TargetError(f"vagrant ssh-config, line {lineno}: {m.group(1)} before any Host line")
        blocks[-1][1].setdefault(key, []).append(value)
    entries: dict[str, SSHConfigEntry] = {}
    for host, opts, lineno in blocks:
        if "hostname" not in opts:
            raise TargetError(f"vagrant ssh-config, line {lineno}: Host {host} has no HostName")
        port_text = opts.get("port", ["22"])[0]
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise TargetError(f"vagrant ssh-config, Host {host}: bad Port {port_text!r}")
        entries[host] = SSHConfigEntry(
            host=host,
            hostname=opts["hostname"][0],
            port=int(port_text),
            user=opts.get("user", ["vagrant"])[0],
            identity_files=tuple(opts.get("identityfile", [])),
        )
    return entries


def host_key_from_serial_log(path: Path) -> str | None:
    """The last ``TYPE BASE64`` host key the VM published on its serial port, or None."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    found = re.findall(HOSTKEY_MARKER.encode() + rb" (ssh-[a-z0-9-]+) ([A-Za-z0-9+/=]{40,})", data)
    if not found:
        return None
    kind, b64 = found[-1]
    return f"{kind.decode()} {b64.decode()}"


def pinned_host_key(serial_log: Path) -> str | None:
    """The key the VM published on its serial port, else the one kept from its first boot."""
    key = host_key_from_serial_log(serial_log)
    if key is not None:
        return key
    try:
        kept = kept_key_file(serial_log).read_text(encoding="ascii").strip()
    except OSError:
        return None
    return kept if re.fullmatch(r"ssh-[a-z0-9-]+ [A-Za-z0-9+/=]{40,}", kept) else None


def keep_host_key(serial_log: Path) -> str | None:
    """Keep the key the VM published (for after a revert); the key, or None when it published none."""
    key = host_key_from_serial_log(serial_log)
    if key is not None:
        path = kept_key_file(serial_log)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(key + "\n", encoding="ascii")
    return key


def vagrant_ssh_config(machine: str, cwd: Path, timeout: float = 120) -> SSHConfigEntry:
    """Run ``vagrant ssh-config MACHINE`` in ``cwd`` and return its entry."""
    from harness.lab.config import vagrant_env

    if not re.fullmatch(r"[A-Za-z0-9_.-]+", machine):
        raise TargetError(f"vagrant://{machine}: not a Vagrant machine name")
    if not (cwd / "Vagrantfile").exists():
        raise TargetError(f"vagrant://{machine}: no Vagrantfile in {cwd} (pass ?cwd=DIR)")
    try:
        proc = subprocess.run(["vagrant", "ssh-config", machine], cwd=cwd, env=vagrant_env(), capture_output=True,
                              text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise TargetError("vagrant is not installed (Debian: apt-get install vagrant vagrant-libvirt)") from exc
    except subprocess.SubprocessError as exc:
        raise TargetError(f"`vagrant ssh-config {machine}` in {cwd} did not finish: {exc}") from exc
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip())[-800:]
        raise TargetError(f"vagrant://{machine}: `vagrant ssh-config` in {cwd} failed (is the VM up? "
                          f"`harness lab up --lab vagrant`): {detail}")
    entries = parse_ssh_config(proc.stdout)
    if machine in entries:
        return entries[machine]
    if len(entries) == 1:
        return next(iter(entries.values()))
    raise TargetError(f"vagrant://{machine}: `vagrant ssh-config` names {sorted(entries)}, not {machine}")


class VagrantTarget(SSHTarget):
    machine: str
    cwd: Path
    URL_OPTIONS = frozenset({"cwd", "user", "host_key", "accept_unknown_host_key"})

    @classmethod
    def check_url(cls, url: TargetURL) -> None:
        check_options(url, cls.URL_OPTIONS)  # the machine is the host part (default: "default")

    @classmethod
    def from_url(cls, url: TargetURL, **kwargs: Any) -> VagrantTarget:
        machine = url.host or "default"
        opts = url.options
        cwd = Path(opts["cwd"]).expanduser() if opts.get("cwd") else None
        return cls.for_machine(
            machine,
            cwd,
            user=opts.get("user", "root"),
            host_key=opts.get("host_key"),
            accept_unknown_host_key=opts.get("accept_unknown_host_key", "").lower() in TRUE,
            url=url.raw,
        )

    @classmethod
    def for_machine(
        cls,
        machine: str = "default",
        cwd: Path | None = None,
        *,
        user: str = "root",
        host_key: str | None = None,
        accept_unknown_host_key: bool = False,
        url: str | None = None,
    ) -> VagrantTarget:
        from harness.atomics.loader import repo_root
        from harness.lab.config import load_lab_config

        SERIAL_LOG = load_lab_config().vagrant.serial_log

        where = cwd or Path(os.environ.get("RECON_HARNESS_VAGRANT_CWD", str(repo_root())))
        entry = vagrant_ssh_config(machine, where)
        pinned = host_key or pinned_host_key(SERIAL_LOG)
        if pinned is None and not accept_unknown_host_key:
            raise TargetError(
                f"vagrant://{machine}: no host key to pin: the VM published none in {SERIAL_LOG} (not the "
                "recon-harness box?); pass ?host_key=TYPE+BASE64 or accept it explicitly with "
                "?accept_unknown_host_key=true (recorded in the results)"
            )
        target = cls(
            entry.hostname,
            user=user,
            port=entry.port,
            identity_file=entry.identity_files[0] if entry.identity_files else None,
            known_hosts=os.devnull,  # the pinned key decides, not a stale known_hosts entry of a past VM
            host_key=pinned,
            accept_unknown_host_key=accept_unknown_host_key,
            url=url or f"vagrant://{machine}" + (f"?cwd={shlex.quote(str(cwd))}" if cwd else ""),
        )
        target.machine, target.cwd = machine, where
        return target

    def facts(self) -> dict[str, Any]:
        facts = super().facts()
        facts.update({"vagrant_machine": self.machine, "vagrant_cwd": str(self.cwd), "address": self.host})
        return facts
