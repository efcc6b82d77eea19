"""ART's ``PathToAtomicsFolder`` on the target: the payload folders a test names, copied there.

Upstream commands reach their payloads as ``PathToAtomicsFolder/T1003.007/src/dump_heap.py``
(Invoke-AtomicTest replaces the token with the local ``atomics/`` folder). The harness runs the
commands on another machine, so the technique folders a test names (and its own) are copied to a
fresh directory on the target, the token rendered as that directory, and the directory removed
after the test (recorded in the target's ledger first, so a killed run's copy is removed by
``harness target cleanup`` / ``lab down``). Only payloads go: the technique YAML and its Markdown
rendering stay behind; a folder over :data:`MAX_BYTES` is refused rather than half-copied.
"""

from __future__ import annotations

import re
import secrets
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.atomics.model import AtomicTest, Dependency, Executor
from harness.errors import HarnessError
from harness.lab.state import LabState, Resource
from harness.targets.base import Target

#: Payload bytes copied per test at most (upstream's largest technique folders hold binaries of a few MB).
MAX_BYTES = 64 * 1024 * 1024
_NAMED = re.compile(r"\$?PathToAtomicsFolder[/\\]+(T\d{4}(?:\.\d{3})?)", re.IGNORECASE)


def _texts(test: AtomicTest) -> list[str]:
    out = [test.executor.command, test.executor.cleanup_command or ""]
    for dep in test.dependencies:
        out += [dep.prereq_command, dep.get_prereq_command or ""]
    out += [arg.default_text() for arg in test.input_arguments.values()]
    return out


def referenced_techniques(test: AtomicTest) -> list[str]:
    """The technique folders ``test`` names through ``PathToAtomicsFolder``, in order of first use."""
    return list(dict.fromkeys(m.group(1).upper() for text in _texts(test) for m in _NAMED.finditer(text)))


def payload_files(root: Path, techniques: Sequence[str]) -> list[tuple[Path, str]]:
    """(local file, path relative to the atomics folder) of every payload of ``techniques`` under ``root``."""
    files: list[tuple[Path, str]] = []
    total = 0
    for technique in techniques:
        folder = root / technique
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if path.parent == folder and path.name in (f"{technique}.yaml", f"{technique}.md"):
                continue
            total += path.stat().st_size
            if total > MAX_BYTES:
                raise HarnessError(f"the payloads of {', '.join(techniques)} under {root} exceed "
                                   f"{MAX_BYTES // (1024 * 1024)} MB: not copied to the target")
            files.append((path, str(path.relative_to(root))))
    return files


@dataclass(frozen=True)
class InFolder:
    """An atomic test whose ``PathToAtomicsFolder`` renders as ``folder`` (the runner's AtomicLike)."""

    test: AtomicTest
    folder: str

    @property
    def id(self) -> str:
        return self.test.id

    @property
    def guid(self) -> str:
        return self.test.guid

    @property
    def name(self) -> str:
        return self.test.name

    @property
    def executor(self) -> Executor:
        return self.test.executor

    @property
    def dependencies(self) -> tuple[Dependency, ...]:
        return self.test.dependencies

    @property
    def dependency_executor_name(self) -> str | None:
        return self.test.dependency_executor_name

    def render(self, text: str, args: Mapping[str, str] | None = None) -> str:
        return self.test.render(text, args, self.folder)

    def arguments(self, args: Mapping[str, str] | None = None) -> dict[str, str]:
        return self.test.arguments(args)

    def not_applicable(self) -> str | None:
        return self.test.not_applicable()


@dataclass(frozen=True)
class RemoteFolder:
    """The copy on the target: its directory, the files in it, its ledger entry (None: no ledger)."""

    path: str
    files: tuple[str, ...]
    entry: Resource | None = None


def copy_to_target(target: Target, root: Path, test: AtomicTest, ledger: LabState | None = None) -> RemoteFolder:
    """Copy the payloads ``test`` names to a new directory on ``target``. The directory is recorded
    in ``ledger`` (the target's LabState) before anything is written."""
    files = payload_files(root, referenced_techniques(test))
    remote = f"/tmp/recon-harness-atomics-{secrets.token_hex(4)}"
    entry = ledger.record("target_path", remote, target=target.url) if ledger is not None else None
    dirs = sorted({str(Path(rel).parent) for _, rel in files} | {"."})
    mk = target.run("umask 077 && mkdir -p " + " ".join(shlex.quote(f"{remote}/{d}") for d in dirs), timeout=30)
    if mk.rc != 0:
        raise HarnessError(f"could not create {remote} on {target.url}: {mk.stderr.strip()[:200]}")
    for local, rel in files:
        # payloads keep their executable bit (upstream ships prebuilt binaries and scripts)
        mode = 0o700 if local.stat().st_mode & 0o111 else 0o600
        target.write_file(f"{remote}/{rel}", local.read_bytes(), mode=mode)
    return RemoteFolder(remote, tuple(rel for _, rel in files), entry)


def remove_from_target(target: Target, copy: RemoteFolder, ledger: LabState | None = None) -> str | None:
    """Remove the copy; the problem, or None (the ledger entry goes only once it is gone)."""
    res = target.run(f"rm -rf -- {shlex.quote(copy.path)}", timeout=60)
    if res.rc != 0:
        return f"could not remove {copy.path} on {target.url}: {res.stderr.strip()[:200]}"
    if ledger is not None and copy.entry is not None:
        ledger.discard(copy.entry)
    return None
