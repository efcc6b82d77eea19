"""Where upstream Atomic Red Team tests may run, and which of them may run at all.

Upstream atomics change the host they run on (users, cron, services, kernel modules, files) and
their cleanups are not verified by this project, so every test that does not come from this
checkout's own ``atomics/`` folder is treated as destructive:

* it runs only on a disposable target: the Vagrant VM (``vagrant://``, which the harness builds and
  can rebuild), or an ``ssh://`` host the user marks disposable (``?disposable=1`` in the URL, or a
  host an inventory marks so, passed in as ``disposable_hosts``);
* never on the embedded lab (``netns://``: its lab host is a network namespace sharing this
  machine's filesystem) nor on ``local://`` (this machine);
* every command it would send (prerequisite checks, ``get_prereq_command``, the command, the
  cleanup) must stay inside the declared scope, or the test is not run and the guard says why;
* a test whose commands use ``PathToAtomicsFolder`` needs the atomics folder on the target; ART runs
  copy the payloads it names there (harness.execution.atomics_folder); without one it is refused
  rather than left to fail on a literal token.

The project's own atomics are curated (scope-checked, cleanups verified) and keep running where
they do today. So does a technique file of the user's own that carries a signals sidecar
(``<technique>.signals.yaml``): the sidecar is this harness's format, upstream ships none, and
writing one is the user's statement that the file was written for this harness.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.atomics.loader import project_atomics_dirs
from harness.atomics.model import ATOMICS_FOLDER_RE, AtomicTest
from harness.atomics.signals import signals_path
from harness.errors import HarnessError
from harness.execution.scope import Scope
from harness.targets.base import parse_target_url

#: The URL option that marks an ``ssh://`` host disposable.
DISPOSABLE_OPTION = "disposable"
_TRUE = {"1", "true", "yes", "on"}
#: Argument names that say their value is a host. Only those (and ``url``-typed arguments) are read
#: as domain names: upstream's file names (rootCA.crt, auditd.conf, art-timer.service) look like
#: domains but are not. Hosts inside commands are still caught as URLs and addresses.
_HOST_WORDS = ("domain", "host", "server", "url", "fqdn", "site", "dns", "remote", "target")


def is_project_atomic(test: AtomicTest, project_dirs: Collection[Path] | None = None) -> bool:
    """Whether ``test`` comes from this checkout's ``atomics/``, is built in code (the negative
    control) or sits in a technique file with a signals sidecar; anything else is an upstream,
    destructive test."""
    if test.location is None:
        return True
    path = Path(test.location.path).resolve()
    dirs = project_atomics_dirs() if project_dirs is None else project_dirs
    return any(path.is_relative_to(folder.resolve()) for folder in dirs) or signals_path(path).is_file()


def disposable_refusal(target_url: str, disposable_hosts: Collection[str] = ()) -> str | None:
    """Why ``target_url`` may not take destructive tests, or ``None`` when it is disposable."""
    try:
        url = parse_target_url(target_url)
    except HarnessError as exc:
        return str(exc)
    how = f"run them on the Vagrant VM (vagrant://) or on an ssh:// host marked ?{DISPOSABLE_OPTION}=1"
    if url.scheme == "vagrant":
        return None
    if url.scheme == "ssh":
        if url.options.get(DISPOSABLE_OPTION, "").lower() in _TRUE or (url.host or "") in disposable_hosts:
            return None
        return (
            f"{target_url} is not marked disposable: upstream atomics change the host (users, cron, services, "
            f"files); add ?{DISPOSABLE_OPTION}=1 to the URL only for a host you can throw away"
        )
    if url.scheme == "netns":
        return (
            "the embedded lab shares this machine's filesystem (its lab host is a network namespace), and "
            f"upstream atomics change the host (users, cron, services, files): {how}"
        )
    if url.scheme == "local":
        return f"local:// is this machine, and upstream atomics change the host they run on: {how}"
    return f"{url.scheme}:// targets are not known to be disposable: {how}"


def commands(test: AtomicTest, args: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """Every command ``test`` may send, as (phase, rendered text)."""
    out: list[tuple[str, str]] = []
    for dep in test.dependencies:
        out.append(("prereq", test.render(dep.prereq_command, args)))
        if dep.get_prereq_command:
            out.append(("get_prereq", test.render(dep.get_prereq_command, args)))
    out.append(("command", test.render(test.executor.command, args)))
    if test.executor.cleanup_command:
        out.append(("cleanup", test.render(test.executor.cleanup_command, args)))
    return out


def scope_refusal(test: AtomicTest, scope: Scope, args: Mapping[str, str] | None = None) -> str | None:
    """Why some command of ``test`` would leave ``scope`` (each phase named), or ``None``."""
    values = {
        name: value
        for name, value in test.arguments(args).items()
        if test.input_arguments[name].type.lower() == "url" or any(w in name.lower() for w in _HOST_WORDS)
    }
    found: list[str] = []
    for phase, text in commands(test, args):
        found += [f"{phase}: {problem}" for problem in scope.violations(text)]
    found += [f"arguments: {problem}" for problem in scope.violations("", values)]
    unique = list(dict.fromkeys(found))
    return "; ".join(unique) if unique else None


@dataclass(frozen=True)
class Refusal:
    """Why a test is not run: ``kind`` (not-applicable, destructive, no-scope, scope, atomics-folder)
    and the sentence the user reads."""

    kind: str
    reason: str


def check(
    test: AtomicTest,
    target_url: str,
    scope: Scope | None,
    args: Mapping[str, str] | None = None,
    *,
    atomics_folder: str | None = None,
    disposable_hosts: Collection[str] = (),
    project_dirs: Collection[Path] | None = None,
) -> Refusal | None:
    """Why ``test`` must not run on ``target_url``, or ``None`` when it may.

    The project's own atomics are not judged here (the runner's scope check covers them).
    """
    if is_project_atomic(test, project_dirs):
        return None
    inapplicable = test.not_applicable()
    if inapplicable:
        return Refusal("not-applicable", f"not applicable: {inapplicable}")
    where = disposable_refusal(target_url, disposable_hosts)
    if where:
        return Refusal("destructive", f"upstream atomic {test.id} is destructive and not run here: {where}")
    if scope is None:
        return Refusal("no-scope", f"upstream atomic {test.id} is not run without a declared scope")
    outside = scope_refusal(test, scope, args)
    if outside:
        return Refusal("scope", f"upstream atomic {test.id} leaves the declared scope: {outside}")
    if atomics_folder is None and any(ATOMICS_FOLDER_RE.search(text) for _, text in commands(test, args)):
        return Refusal(
            "atomics-folder",
            f"upstream atomic {test.id} uses PathToAtomicsFolder, and no atomics folder is on the target "
            "(`harness art run` and `pytest --art` copy the payloads it names there)",
        )
    return None


def refusal(
    test: AtomicTest,
    target_url: str,
    scope: Scope | None,
    args: Mapping[str, str] | None = None,
    *,
    atomics_folder: str | None = None,
    disposable_hosts: Collection[str] = (),
    project_dirs: Collection[Path] | None = None,
) -> str | None:
    """The reason of :func:`check`, or ``None`` when ``test`` may run on ``target_url``."""
    found = check(
        test,
        target_url,
        scope,
        args,
        atomics_folder=atomics_folder,
        disposable_hosts=disposable_hosts,
        project_dirs=project_dirs,
    )
    return found.reason if found else None
