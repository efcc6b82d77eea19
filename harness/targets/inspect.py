"""Readiness and cleanup checks of a target with pytest-testinfra.

testinfra's own ``ssh`` backend (OpenSSH) is used with a generated ssh_config that pins the host
key our SSH target already verified (testinfra's paramiko backend would accept unknown keys).
Checks: commands and packages present, sockets listening, and files the cleanup said it removed.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import paramiko
import testinfra

from harness.collection import TempDirs
from harness.errors import TargetError
from harness.targets.base import Target
from harness.targets.local import LocalTarget
from harness.targets.ssh import SSHTarget


class TargetInspector:
    """A testinfra host for the same machine as ``target``."""

    def __init__(self, target: Target, tempdirs: TempDirs | None = None) -> None:
        """``tempdirs``: records the ssh_config dir before it exists (harness.lab.state.LabState)."""
        self._tmp: Path | None = None
        self._tempdirs = tempdirs
        self._target = target
        if isinstance(target, LocalTarget):
            self.host: Any = testinfra.get_host("local://")
            return
        if not isinstance(target, SSHTarget):
            raise TargetError(f"no testinfra inspector for {target.url}")
        key = target.verified_host_key()
        prefix = "recon-harness-testinfra-"
        self._tmp = tempdirs.tempdir(prefix) if tempdirs is not None else Path(tempfile.mkdtemp(prefix=prefix))
        try:
            self.host = self._ssh_host(target, key, self._tmp)
        except BaseException:
            self.close()  # no half-built inspector leaves its files behind
            raise

    @staticmethod
    def _ssh_host(target: SSHTarget, key: paramiko.PKey, tmp: Path) -> Any:
        known = tmp / "known_hosts"
        spec = target.host if target.port == 22 else f"[{target.host}]:{target.port}"
        known.write_text(f"{spec} {key.get_name()} {key.get_base64()}\n")
        cfg = tmp / "ssh_config"
        lines = [
            "Host target",
            f"  HostName {target.host}",
            f"  Port {target.port}",
            f"  User {target.user}",
            f"  UserKnownHostsFile {known}",
            "  StrictHostKeyChecking yes",
            "  BatchMode yes",
            "  LogLevel ERROR",
        ]
        if target.identity_file:
            lines.append(f"  IdentityFile {target.identity_file}")
            lines.append("  IdentitiesOnly yes")
        cfg.write_text("\n".join(lines) + "\n")
        return testinfra.get_host("ssh://target", ssh_config=str(cfg))

    def missing_commands(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if not self.host.exists(n)]

    def missing_packages(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if not self.host.package(n).is_installed]

    def not_listening(self, specs: Iterable[str]) -> list[str]:
        """``tcp://IP:PORT`` / ``udp://IP:PORT`` specs with no listener."""
        return [s for s in specs if not self.host.socket(s).is_listening]

    def existing_paths(self, paths: Iterable[str]) -> list[str]:
        """The paths that exist on the target (``test -e``, as testinfra's ``File.exists``), in one
        command over the target's own open channel (testinfra's SSH backend starts an ``ssh``
        process per command: 0.2 s each, once per atomic)."""
        wanted = list(paths)
        if not wanted:
            return []
        script = "for p in " + " ".join(shlex.quote(p) for p in wanted) + '; do test -e "$p" && echo "$p"; done; true'
        res = self._target.run(script, timeout=30)
        if res.rc != 0:
            raise TargetError(f"checking {len(wanted)} path(s) on the target failed (rc {res.rc}): {res.stderr[:200]}")
        found = set(res.stdout.splitlines())
        return [p for p in wanted if p in found]

    def close(self) -> None:
        if self._tmp is not None:
            if self._tempdirs is not None:
                self._tempdirs.remove_tempdir(self._tmp)
            else:
                shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> TargetInspector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
