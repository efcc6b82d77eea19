"""``ssh://user@host:port``: commands over SSH with paramiko.

Options (URL query): ``identity_file`` (private key), ``known_hosts`` (default ~/.ssh/known_hosts),
``host_key`` (a pinned public key ``TYPE BASE64`` or a ``SHA256:`` fingerprint),
``accept_unknown_host_key=true`` (trust on first use; the run's facts record that the key was
NOT verified), ``connect_timeout`` (seconds).

Unlike testinfra's paramiko backend, an unknown host key is refused by default.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import logging
import re
import select
import socket
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import paramiko

from harness.errors import TargetError
from harness.targets.base import (
    CommandResult,
    Target,
    TargetURL,
    check_options,
    env_payload,
    split_marker,
    wrap_command,
)

TRUE = {"1", "true", "yes", "on"}
_T = TypeVar("_T")
_log = logging.getLogger(__name__)

# paramiko's transport thread logs a failed handshake (with its traceback) at ERROR before the
# caller gets the exception; with no logging configured Python's last-resort handler would print
# it on stderr. The failure reaches the user once, as the TargetError below.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


def readable_file(path: str, what: str, where: str) -> None:
    """TargetError unless ``path`` is a regular file this process can read (checked before any
    connection, so a typo in a local path is not reported as a network failure)."""
    try:
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        raise TargetError(f"{where}: {what} {path}: no such file") from None
    except IsADirectoryError:
        raise TargetError(f"{where}: {what} {path}: is a directory, not a file") from None
    except OSError as exc:
        raise TargetError(f"{where}: {what} {path}: cannot read: {exc.strerror or exc}") from None


def connect_failure(exc: BaseException) -> str:
    """What failed, in one line (paramiko's messages may run words together or span lines)."""
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        # One socket error per address tried: refused everywhere is the common case.
        reasons = sorted({connect_failure(e) for e in exc.errors.values()})
        text = "; ".join(reasons) or "no address could be reached"
    elif isinstance(exc, paramiko.AuthenticationException):
        text = f"authentication failed ({exc})"
    elif isinstance(exc, socket.timeout | TimeoutError):
        text = "timed out"
    elif isinstance(exc, ConnectionRefusedError):
        text = "connection refused"
    elif isinstance(exc, socket.gaierror):
        text = f"cannot resolve host name ({exc.strerror or exc})"
    else:
        text = str(exc) or type(exc).__name__
        text = re.sub(r"^Error reading SSH protocol banner(?=\S)", "Error reading SSH protocol banner: ", text)
    return " ".join(text.split())


def _transport_failure(transport: paramiko.Transport | None) -> str:
    """Why a transport ended, as paramiko recorded it (its reader thread keeps the exception)."""
    exc = transport.get_exception() if transport is not None else None
    if exc is None:
        return "closed by the peer"
    return " ".join(str(exc).split()) or type(exc).__name__


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class _PinnedOrKnownPolicy(paramiko.MissingHostKeyPolicy):
    """Accept an unknown key only when it matches the pinned key, or when explicitly allowed."""

    def __init__(self, pinned: str | None, accept_unknown: bool) -> None:
        self.pinned = pinned
        self.accept_unknown = accept_unknown
        self.accepted_unverified: str | None = None
        self.verified_by: str = "known_hosts"

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        fp = fingerprint(key)
        if self.pinned:
            pinned = self.pinned.strip()
            if pinned.startswith("SHA256:"):
                ok = pinned.rstrip("=") == fp
            else:
                fields = pinned.split()
                ok = len(fields) >= 2 and fields[0] == key.get_name() and fields[1] == key.get_base64()
            if ok:
                self.verified_by = "pinned"
                return
            raise TargetError(f"host key of {hostname} ({key.get_name()} {fp}) does not match the pinned key")
        if self.accept_unknown:
            self.accepted_unverified = fp
            self.verified_by = "accepted-unverified"
            return
        raise TargetError(
            f"unknown host key for {hostname} ({key.get_name()} {fp}); add it to known_hosts, pin it with "
            "?host_key=..., or accept it explicitly with ?accept_unknown_host_key=true (recorded in the results)"
        )


class SSHTarget(Target):
    # ``disposable`` is not the connection's: it tells the ART guard the host may take upstream atomics
    URL_OPTIONS = frozenset({"identity_file", "known_hosts", "host_key", "accept_unknown_host_key", "connect_timeout",
                             "disposable"})

    def __init__(
        self,
        host: str,
        *,
        user: str = "root",
        port: int = 22,
        identity_file: str | None = None,
        known_hosts: str | None = None,
        host_key: str | None = None,
        accept_unknown_host_key: bool = False,
        connect_timeout: float = 10.0,
        url: str | None = None,
    ) -> None:
        self.host, self.user, self.port = host, user, port
        self.identity_file = identity_file
        self.known_hosts = known_hosts
        self.url = url or f"ssh://{user}@{host}:{port}"
        # Local inputs first: a missing key file is not a network problem.
        if identity_file is not None:
            readable_file(identity_file, "identity_file", self.where)
        if known_hosts is not None:
            readable_file(known_hosts, "known_hosts", self.where)
        self._policy = _PinnedOrKnownPolicy(host_key, accept_unknown_host_key)
        self._connect_timeout = connect_timeout
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._reconnects: list[str] = []

    @property
    def where(self) -> str:
        """``ssh user@host:port``: how errors name this target (no URL options)."""
        return f"ssh {self.user}@{self.host}:{self.port}"

    @classmethod
    def check_url(cls, url: TargetURL) -> None:
        """Syntax of an ``ssh://`` URL: a host, known options, a numeric timeout."""
        if not url.host:
            raise TargetError(f"ssh target needs a host (ssh://user@host:port): {url.raw!r}")
        check_options(url, cls.URL_OPTIONS)
        timeout = url.options.get("connect_timeout", "10")
        try:
            if float(timeout) <= 0:
                raise ValueError(timeout)
        except ValueError:
            raise TargetError(f"connect_timeout must be a positive number of seconds, got {timeout!r}") from None

    @classmethod
    def from_url(cls, url: TargetURL, **kwargs: Any) -> SSHTarget:
        cls.check_url(url)
        assert url.host is not None
        opts = url.options
        return cls(
            url.host,
            user=url.user or "root",
            port=url.port or 22,
            identity_file=opts.get("identity_file"),
            known_hosts=opts.get("known_hosts"),
            host_key=opts.get("host_key"),
            accept_unknown_host_key=opts.get("accept_unknown_host_key", "").lower() in TRUE,
            connect_timeout=float(opts.get("connect_timeout", "10")),
            url=url.raw,
        )

    # Connection -------------------------------------------------------------------------------
    def _connect(self) -> paramiko.SSHClient:
        if self._client is not None:
            transport = self._client.get_transport()
            if transport is not None and transport.is_active():
                return self._client
            # The connection died between commands (the peer closed it, a network blip): connect
            # again, and say so in the run's facts, not silently.
            self._note_reconnect(f"connection lost ({_transport_failure(transport)})")
            self.close()
        client = paramiko.SSHClient()
        known = self.known_hosts or str(Path.home() / ".ssh" / "known_hosts")
        if self.known_hosts is not None or Path(known).exists():
            try:
                client.load_host_keys(known)
            except (OSError, paramiko.SSHException) as exc:
                raise TargetError(f"{self.where}: cannot read known_hosts {known}: {connect_failure(exc)}") from None
        client.set_missing_host_key_policy(self._policy)
        try:
            client.connect(
                self.host,
                port=self.port,
                username=self.user,
                key_filename=self.identity_file,
                timeout=self._connect_timeout,
                banner_timeout=self._connect_timeout,
                auth_timeout=self._connect_timeout,
                allow_agent=self.identity_file is None,
                look_for_keys=self.identity_file is None,
            )
        except TargetError:
            raise
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TargetError(f"{self.where}: cannot connect: {connect_failure(exc)}") from exc
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(15)  # a long quiet collection must not let a middlebox drop it
        self._client = client
        return client

    def _note_reconnect(self, why: str) -> None:
        self._reconnects.append(why)
        _log.warning("%s: %s; reconnecting", self.where, why)

    def verified_host_key(self) -> paramiko.PKey:
        """The server's host key, as verified when connecting (known_hosts, pin or explicit accept)."""
        transport = self._connect().get_transport()
        if transport is None:
            raise TargetError(f"{self.url}: not connected")
        return transport.get_remote_server_key()

    def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"url": self.url, "host_key_verification": self._policy.verified_by}
        if self._policy.accepted_unverified:
            facts["host_key_accepted_unverified"] = self._policy.accepted_unverified
        if self._reconnects:
            facts["reconnects"] = list(self._reconnects)
        return facts

    def close(self) -> None:
        """Close the connection (never raises: also used on one an interrupt may have left
        mid-read); the next command connects again."""
        sftp, client, self._sftp, self._client = self._sftp, self._client, None, None
        for closable in (sftp, client):
            if closable is not None:
                with contextlib.suppress(Exception):
                    closable.close()

    # Commands --------------------------------------------------------------------------------
    def run(
        self,
        command: str,
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        shell: str = "sh",
    ) -> CommandResult:
        client = self._connect()
        transport = client.get_transport()
        assert transport is not None
        wrapper = wrap_command(command, shell, list(env or {}))
        started = time.time_ns()
        chan = transport.open_session(timeout=self._connect_timeout)
        out, err = io.BytesIO(), io.BytesIO()
        timed_out = False
        deadline = None if timeout is None else time.monotonic() + timeout
        pid: int | None = None
        try:
            chan.exec_command(wrapper)
            payload = env_payload(env)
            if payload:
                chan.sendall(payload)
            chan.shutdown_write()
            while True:
                if chan.recv_ready():
                    out.write(chan.recv(65536))
                    continue
                if chan.recv_stderr_ready():
                    err.write(chan.recv_stderr(65536))
                    continue
                if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                if deadline is not None and time.monotonic() > deadline:
                    timed_out = True
                    pid = self._marker_pid(chan, err)
                    self._kill_tree(pid)
                    break
                select.select([chan], [], [], 0.05)
        except BaseException as exc:
            pid = self._marker_pid(chan, err)
            chan.close()
            if not isinstance(exc, Exception):
                # Ctrl-C or SIGTERM can land inside paramiko (a channel half opened, a lock taken):
                # the kill and the cleanup after it go over a new connection, not the wedged one
                self.close()
            self._kill_tree(pid)
            raise
        rc = chan.recv_exit_status() if not timed_out else -9
        chan.close()
        ended = time.time_ns()
        stderr, marker_pid, ses = split_marker(err.getvalue().decode(errors="replace"))
        return CommandResult(
            command=command,
            rc=rc,
            stdout=out.getvalue().decode(errors="replace"),
            stderr=stderr,
            started_ns=started,
            ended_ns=ended,
            pid=marker_pid or pid,
            audit_session=ses,
            timed_out=timed_out,
        )

    @staticmethod
    def _marker_pid(chan: paramiko.Channel, err: io.BytesIO, wait_s: float = 1.0) -> int | None:
        """The command's pid from the wrapper's first stderr line, reading on briefly if it has
        not arrived yet (an interrupt can land right after the command started)."""
        deadline = time.monotonic() + wait_s
        while True:
            _, pid, _ = split_marker(err.getvalue().decode(errors="replace"))
            if pid is not None or time.monotonic() > deadline or chan.closed:
                return pid
            if chan.recv_stderr_ready():
                err.write(chan.recv_stderr(65536))
            else:
                time.sleep(0.01)

    def _kill_tree(self, pid: int | None) -> None:
        """Kill the command's process group and session on the target (sshd made it a leader),
        then wait (up to 2 s) until none of its processes is left: SIGKILL is delivered
        asynchronously, and the caller may look for survivors as soon as this returns."""
        if not pid:
            return
        try:
            client = self._connect()
            transport = client.get_transport()
            if transport is None:
                return
            chan = transport.open_session(timeout=self._connect_timeout)
            chan.exec_command(
                f"kill -KILL -- -{pid} 2>/dev/null; command -v pkill >/dev/null && pkill -KILL -s {pid}; "
                f"i=0; while [ $i -lt 40 ] && {{ kill -0 -- -{pid} || pgrep -s {pid}; }} >/dev/null 2>&1; "
                "do sleep 0.05; i=$((i + 1)); done; true"
            )
            chan.status_event.wait(self._connect_timeout)  # bounded: the script itself ends in 2 s
            chan.close()
        except (paramiko.SSHException, OSError, TargetError):
            pass

    # Files -------------------------------------------------------------------------------------
    def _sftp_client(self) -> paramiko.SFTPClient:
        sftp = self._sftp
        if sftp is not None and not sftp.get_channel().closed:  # type: ignore[union-attr]
            return sftp
        if sftp is not None:
            # A CI run lost its SFTP channel between two atomics and every later file operation
            # failed with "Socket is closed": a closed channel is never reused. (When the whole
            # connection went, _connect says so instead.)
            transport = self._client.get_transport() if self._client is not None else None
            if transport is not None and transport.is_active():
                self._note_reconnect("SFTP session lost (channel closed)")
            self._sftp = None
            with contextlib.suppress(Exception):
                sftp.close()
        try:
            self._sftp = self._connect().open_sftp()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TargetError(f"{self.url}: SFTP unavailable: {exc}") from exc
        return self._sftp

    def _sftp_op(self, op: Callable[[paramiko.SFTPClient], _T]) -> _T:
        """``op`` on the SFTP session, once more on a new session when the channel or connection
        died under it (every file operation here is idempotent: read, whole-file write, remove)."""
        try:
            return op(self._sftp_client())
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            raise
        except (OSError, EOFError, paramiko.SSHException) as exc:
            sftp = self._sftp
            alive = sftp is not None and not sftp.get_channel().closed  # type: ignore[union-attr]
            if alive and not isinstance(exc, EOFError | paramiko.SSHException):
                raise  # an error the server reported (no space, not a directory...): not retried
            self._note_reconnect(f"SFTP session lost ({' '.join(str(exc).split()) or type(exc).__name__})")
            self.close()
            return op(self._sftp_client())

    def read_file(self, path: str) -> bytes:
        def read(sftp: paramiko.SFTPClient) -> bytes:
            with sftp.open(path, "rb") as fh:
                return fh.read()

        try:
            return self._sftp_op(read)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise TargetError(f"{self.url}: cannot read {path}: {exc}") from exc

    def write_file(self, path: str, data: bytes, mode: int = 0o600) -> None:
        parent = path.rsplit("/", 1)[0]

        def write(sftp: paramiko.SFTPClient) -> None:
            if parent:
                try:
                    sftp.stat(parent)
                except FileNotFoundError:
                    sftp.mkdir(parent, 0o755)
            with sftp.open(path, "wb") as fh:
                fh.write(data)
            sftp.chmod(path, stat.S_IMODE(mode))

        try:
            self._sftp_op(write)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise TargetError(f"{self.url}: cannot write {path}: {exc}") from exc

    def remove_file(self, path: str) -> None:
        def remove(sftp: paramiko.SFTPClient) -> None:
            try:
                st = sftp.stat(path)
            except FileNotFoundError:
                return
            if st.st_mode is not None and stat.S_ISDIR(st.st_mode):
                sftp.rmdir(path)
            else:
                sftp.remove(path)

        try:
            self._sftp_op(remove)
        except FileNotFoundError:
            pass
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise TargetError(f"{self.url}: cannot remove {path}: {exc}") from exc
