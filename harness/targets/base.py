"""The Target interface, the CommandResult it returns and the lazy backend registry."""

from __future__ import annotations

import importlib
import shlex
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

from harness.errors import TargetError

# name -> "module:Class"; imported only when a URL of that scheme is used. The lab-backed schemes
# live in the lab package (a lab sits above the targets it builds; this package never imports it).
BACKENDS: dict[str, str] = {
    "local": "harness.targets.local:LocalTarget",
    "ssh": "harness.targets.ssh:SSHTarget",
    "netns": "harness.lab.netns_target:NetnsTarget",
    "vagrant": "harness.lab.vagrant_target:VagrantTarget",
}

# Marker the wrapper prints first on stderr: the executed shell's pid and audit session id.
PID_MARKER = "__HARNESS_EXEC__"


@dataclass(frozen=True)
class CommandResult:
    """What one command did on a target. Times are UTC nanoseconds since the epoch."""

    command: str
    rc: int
    stdout: str
    stderr: str
    started_ns: int
    ended_ns: int
    pid: int | None = None
    audit_session: int | None = None
    timed_out: bool = False

    @property
    def succeeded(self) -> bool:
        return self.rc == 0 and not self.timed_out

    @property
    def failed(self) -> bool:
        return not self.succeeded

    @property
    def duration_s(self) -> float:
        return (self.ended_ns - self.started_ns) / 1e9


@dataclass(frozen=True)
class TargetURL:
    scheme: str
    user: str | None
    host: str | None
    port: int | None
    path: str
    options: dict[str, str] = field(default_factory=dict)
    raw: str = ""


def parse_target_url(url: str) -> TargetURL:
    """Split ``scheme://user@host:port/path?k=v`` into its parts; options are single-valued."""
    parts = urlsplit(url)
    if not parts.scheme:
        raise TargetError(
            f"target URL needs a scheme, as in scheme://user@host:port (one of {', '.join(sorted(BACKENDS))}): {url!r}"
        )
    options: dict[str, str] = {}
    for key, values in parse_qs(parts.query, keep_blank_values=True).items():
        options[key] = values[-1]
    try:
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"bad port in target URL {url!r}: {exc}") from exc
    return TargetURL(
        scheme=parts.scheme,
        user=unquote(parts.username) if parts.username else None,
        host=parts.hostname,
        port=port,
        path=parts.path,
        options=options,
        raw=url,
    )


def check_options(url: TargetURL, known: frozenset[str]) -> None:
    """TargetError for a URL query option the scheme does not know (a typo would be ignored)."""
    unknown = sorted(set(url.options) - known)
    if unknown:
        raise TargetError(
            f"unknown option(s) {', '.join(unknown)} in target URL {url.raw!r}; "
            f"{url.scheme}:// knows: {', '.join(sorted(known)) or 'none'}"
        )


def check_target_url(url: str) -> TargetURL:
    """Parse ``url`` and check its syntax for its scheme, without connecting or touching a lab:
    what ``pytest --target`` checks at configure time."""
    parsed = parse_target_url(url)
    cls = _backend(parsed)
    cls.check_url(parsed)
    return parsed


def wrap_command(command: str, shell: str, env_names: list[str]) -> str:
    """The shell snippet that runs ``command`` on a target.

    It prints the shell's pid (the session and process-group leader under sshd, so the whole
    tree can be killed on timeout) and its audit session id using builtins only, reads
    ``NAME=value`` lines from stdin into the environment (secrets never appear in argv or in
    the audit log's EXECVE records), then execs the executor shell with the command.
    """
    reads = ""
    if env_names:
        reads = 'while IFS= read -r __hv && [ -n "$__hv" ]; do export "$__hv"; done; '
    return (
        "__hs=; read -r __hs < /proc/self/sessionid 2>/dev/null; "
        f'printf "{PID_MARKER} %s %s\\n" "$$" "$__hs" >&2; '
        f"{reads}exec {shlex.quote(shell)} -c {shlex.quote(command)}"
    )


def env_payload(env: Mapping[str, str] | None) -> bytes:
    if not env:
        return b""
    lines = []
    for key, value in env.items():
        if not key.replace("_", "a").isalnum() or key[0].isdigit():
            raise TargetError(f"invalid environment variable name {key!r}")
        if "\n" in value:
            raise TargetError(f"environment value of {key} contains a newline")
        lines.append(f"{key}={value}\n")
    return ("".join(lines) + "\n").encode()


def split_marker(stderr: str) -> tuple[str, int | None, int | None]:
    """Remove the wrapper's marker line from stderr; return (stderr, pid, audit session)."""
    head, sep, rest = stderr.partition("\n")
    if not head.startswith(PID_MARKER):
        return stderr, None, None
    fields = head.split()
    pid = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None
    ses: int | None = None
    if len(fields) > 2 and fields[2].isdigit():
        ses = int(fields[2])
        if ses == 4294967295:  # (unsigned)-1: no audit session
            ses = None
    return rest if sep else "", pid, ses


class Target(ABC):
    """A host commands run on."""

    url: str
    #: URL query options the backend understands; any other is an error (a typo, never ignored)
    URL_OPTIONS: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def check_url(cls, url: TargetURL) -> None:
        """Check ``url``'s syntax for this backend without connecting (TargetError if wrong)."""
        check_options(url, cls.URL_OPTIONS)

    @classmethod
    def from_url(cls, url: TargetURL, **kwargs: Any) -> Target:
        """The target ``url`` names (backends override this)."""
        raise TargetError(f"{cls.__name__} cannot be built from a URL: {url.raw!r}")

    @abstractmethod
    def run(
        self,
        command: str,
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        shell: str = "sh",
    ) -> CommandResult:
        """Run ``command`` with ``shell -c``; on timeout kill its whole process tree."""

    @abstractmethod
    def read_file(self, path: str) -> bytes:
        """Read a file from the target (raises TargetError when missing)."""

    @abstractmethod
    def write_file(self, path: str, data: bytes, mode: int = 0o600) -> None:
        """Create or replace a file on the target."""

    @abstractmethod
    def remove_file(self, path: str) -> None:
        """Remove a file on the target; a missing file is not an error."""

    def facts(self) -> dict[str, Any]:
        """Facts about the target for evidence (OS, kernel, how the host key was verified)."""
        return {"url": self.url}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def get_target(url: str, **kwargs: Any) -> Target:
    """Build the target for ``url`` through the lazy backend registry."""
    parsed = parse_target_url(url)
    cls = _backend(parsed)
    cls.check_url(parsed)
    return cls.from_url(parsed, **kwargs)


def _backend(parsed: TargetURL) -> type[Target]:
    spec = BACKENDS.get(parsed.scheme)
    if spec is None:
        raise TargetError(
            f"unknown target scheme {parsed.scheme!r} in {parsed.raw!r}; known: {', '.join(sorted(BACKENDS))}"
        )
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TargetError(f"target backend {parsed.scheme!r} is not available: {exc}") from exc
    cls: type[Target] = getattr(module, class_name)
    return cls
