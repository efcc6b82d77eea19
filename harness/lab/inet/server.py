"""The simulated internet's HTTP(S) server: threaded, standard library only.

One :class:`Listener` per listening address. TLS listeners pick the certificate per SNI name in
the ``sni_callback`` (and record the name on the socket for the log); the handshake runs in the
connection's own thread so a stalled client cannot block ``accept``. Every request goes to
:class:`VirtualHosts`, which chooses the service by Host header, then SNI, then listening address.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import threading
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.errors import LabError
from harness.lab.config import LabConfig, Service
from harness.lab.inet.data import LabData, build_lab_data
from harness.lab.inet.log import RequestLog, redact_query
from harness.lab.inet.message import Request, Response, text_response
from harness.lab.inet.routes import HANDLERS

HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 30.0
MAX_BODY = 1 << 20
_SNI_ATTR = "_lab_sni"


def _norm_host(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().lower()
    if value.startswith("["):  # [v6]:port
        value = value[1 : value.find("]")] if "]" in value else value[1:]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".") or None


class VirtualHosts:
    """The lab's services by name, their TLS contexts and the request dispatcher."""

    def __init__(self, cfg: LabConfig, cert_dir: str | Path) -> None:
        self.cfg = cfg
        self.lab: LabData = build_lab_data(cfg)
        self.service_of_host: dict[str, Service] = {h.lower(): s for s in cfg.services for h in s.hosts}
        unknown = sorted({f"{s.name}: {h}" for s in cfg.services for h in s.handlers if h and h not in HANDLERS})
        if unknown:
            raise LabError(f"{cfg.path}: unknown handler in [[services]] hosts ({', '.join(unknown)}); "
                           f"known: {', '.join(HANDLERS)}")
        cert_dir = Path(cert_dir)
        missing = [
            str(cert_dir / f"{s.name}.{ext}")
            for s in cfg.services
            for ext in ("crt", "key")
            if not (cert_dir / f"{s.name}.{ext}").is_file()
        ]
        if missing:
            raise LabError(f"certificates missing (create them with harness.lab.pki): {', '.join(missing)}")
        self._cert_dir = cert_dir
        self._contexts: dict[str, ssl.SSLContext] = {s.name: self._load(s) for s in cfg.services}

    def _load(self, svc: Service, callback: bool = False) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["http/1.1"])
        try:
            ctx.load_cert_chain(self._cert_dir / f"{svc.name}.crt", self._cert_dir / f"{svc.name}.key")
        except (OSError, ssl.SSLError) as exc:
            raise LabError(f"cannot load certificate of service {svc.name!r} from {self._cert_dir}: {exc}") from exc
        if callback:
            ctx.sni_callback = self._sni_callback
        return ctx

    def _sni_callback(self, sock: Any, name: str | None, ctx: ssl.SSLContext) -> int | None:
        setattr(sock, _SNI_ATTR, name)
        svc = self.service_of_host.get((name or "").lower().rstrip("."))
        if svc is not None:
            sock.context = self._contexts[svc.name]
        # An unknown name keeps the listener's default certificate: the client's verification
        # fails and the server logs the handshake as a tls_error.
        return None

    def listener_context(self, default: Service | None) -> ssl.SSLContext:
        """A context for one listener: ``default``'s certificate when no (known) SNI is sent."""
        return self._load(default or self.cfg.services[0], callback=True)

    def service_for_ip(self, ip: str) -> Service | None:
        return next((s for s in self.cfg.services if str(s.ip) == ip), None)

    def dispatch(self, req: Request) -> Response:
        if req.host not in self.service_of_host:
            return text_response(421, f"Misdirected Request: this server does not serve {req.host!r}.\n")
        name = self.service_of_host[req.host].handler_of(req.host)
        handler = HANDLERS.get(name) if name is not None else None
        if handler is None:
            return text_response(404, "Not Found\n")
        return handler(req, self.lab)


@dataclass(frozen=True)
class ListenAddress:
    ip: str
    port: int
    tls: bool
    service: Service | None = None  # the service this address belongs to (None: all, by Host/SNI)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Listener
    server_version = "lab-inet"
    # Errors raised before the version is parsed still get a status line (0.9 would send none).
    default_request_version = "HTTP/1.0"
    requests_seen = 0  # per connection (one handler instance serves a keep-alive connection)
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        # http.server prints request lines (with API keys) to stderr: never.
        return

    def _ids(self) -> dict[str, Any]:
        srv = self.server
        sock_name = self.connection.getsockname()
        return {
            "server_ip": sock_name[0],
            "server_port": sock_name[1],
            "client": self.client_address[0],
            "client_ip": self.client_address[0],
            "client_port": self.client_address[1],
            "tls": srv.tls_context is not None,
        }

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Malformed requests never reach _serve: log them here, with the query redacted.
        self.requests_seen += 1
        raw = getattr(self, "requestline", "") or ""
        parts = raw.split(" ")
        target = parts[1] if len(parts) >= 2 else ""
        path, _, query = target.partition("?")
        self.server.log.write(
            "http",
            host=_norm_host(self.headers.get("Host")) if getattr(self, "headers", None) else None,
            sni=getattr(self.connection, _SNI_ATTR, None),
            method=parts[0] if parts and parts[0] else None,
            path=path,
            query=redact_query(query),
            status=code,
            error=message,
            **self._ids(),
        )
        self.close_connection = True
        body = f"{code} {message or ''}\n".encode()
        try:
            self.send_response_only(code, message)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
        except OSError:
            pass

    def _serve(self) -> None:
        srv = self.server
        self.requests_seen += 1
        target = self.path
        host_hdr = self.headers.get("Host")
        if target.startswith(("http://", "https://")):  # absolute-form (sent to proxies)
            parts = urlsplit(target)
            host_hdr = host_hdr or parts.netloc
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        path, _, query = target.partition("?")
        sni = getattr(self.connection, _SNI_ATTR, None)
        host = _norm_host(host_hdr) or _norm_host(sni)
        if host is None and srv.address.service is not None:
            host = srv.address.service.hosts[0].lower()
        body = b""
        length = self.headers.get("Content-Length")
        status_override: int | None = None
        if length:
            try:
                n = int(length)
            except ValueError:
                n = -1
            if n < 0 or n > MAX_BODY:
                status_override = 413 if n > MAX_BODY else 400
                self.close_connection = True
            else:
                body = self.rfile.read(n)
        req = Request(
            method=self.command,
            host=host or "",
            path=path or "/",
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            tls=srv.tls_context is not None,
            sni=sni,
        )
        error: str | None = None
        if status_override is not None:
            resp = text_response(status_override, "Bad request body\n")
        else:
            try:
                resp = srv.hosts.dispatch(req)
            except Exception as exc:  # a handler bug must not kill the lab, and must show in the log
                error = f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
                resp = text_response(500, "Internal Server Error\n")
        sent = 0
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(resp.body)))
            for name, value in resp.headers:
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)
                sent = len(resp.body)
        finally:
            record: dict[str, Any] = {
                "host": req.host or None,
                "sni": sni,
                "service": srv.hosts.service_of_host[req.host].name if req.host in srv.hosts.service_of_host else None,
                "method": req.method,
                "path": req.path,
                "query": redact_query(query),
                "status": resp.status,
                "ua": self.headers.get("User-Agent"),
                "user_agent": self.headers.get("User-Agent"),
                "accept": self.headers.get("Accept"),
                "x_forwarded_for": self.headers.get("X-Forwarded-For"),
                "bytes": sent,
                **self._ids(),
            }
            if error:
                record["error"] = error
            srv.log.write("http", **record)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = _serve


class Listener(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """One listening socket; TLS when ``tls_context`` is set."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: ListenAddress, hosts: VirtualHosts, log: RequestLog) -> None:
        self.address = address
        self.hosts = hosts
        self.log = log
        self.tls_context = hosts.listener_context(address.service) if address.tls else None
        super().__init__((address.ip, address.port), _Handler)

    @property
    def bound(self) -> tuple[str, int]:
        host, port = self.server_address[:2]
        return str(host), int(port)

    def finish_request(self, request: Any, client_address: Any) -> None:
        sock: socket.socket = request
        if self.tls_context is None:
            sock.settimeout(IDLE_TIMEOUT)
            _Handler(sock, client_address, self)
            return
        server_ip, server_port = sock.getsockname()[:2]
        ids = {
            "server_ip": server_ip,
            "server_port": server_port,
            "client": client_address[0],
            "client_ip": client_address[0],
            "client_port": client_address[1],
        }
        sock.settimeout(HANDSHAKE_TIMEOUT)
        tls_sock = self.tls_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        try:
            try:
                tls_sock.do_handshake()
            except (ssl.SSLError, OSError) as exc:
                self.log.write(
                    "tls_error",
                    sni=getattr(tls_sock, _SNI_ATTR, None),
                    error=str(exc) or type(exc).__name__,
                    **ids,
                )
                return
            sni = getattr(tls_sock, _SNI_ATTR, None)
            known = self.hosts.service_of_host.get((sni or "").lower().rstrip("."))
            cert = (known or self.address.service or self.hosts.cfg.services[0]).name
            self.log.write(
                "tls_sni",
                sni=sni,
                sni_known=known is not None,
                cert=cert,
                tls_version=tls_sock.version(),
                **ids,
            )
            tls_sock.settimeout(IDLE_TIMEOUT)
            try:
                handler = _Handler(tls_sock, client_address, self)
            except (ssl.SSLError, OSError) as exc:
                self.log.write("tls_error", sni=sni, error=str(exc) or type(exc).__name__, **ids)
                return
            if not handler.requests_seen:
                # Typically the client rejected our certificate after the handshake (name mismatch):
                # curl and OpenSSL check the host name then and just close.
                self.log.write(
                    "tls_error",
                    sni=sni,
                    error="connection closed after the handshake without a request",
                    **ids,
                )
        finally:
            with contextlib.suppress(OSError):
                tls_sock.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Client resets and timeouts are routine; anything else goes to stderr (never the query).
        traceback.print_exc()


class InetServer:
    """Every listener of the simulated internet, started and stopped together."""

    def __init__(self, hosts: VirtualHosts, addresses: Sequence[ListenAddress], log: RequestLog) -> None:
        if not addresses:
            raise LabError("nothing to listen on: give --bind-all-service-ips, --listen or --listen-http")
        self.hosts = hosts
        self.log = log
        self.listeners: list[Listener] = []
        try:
            for addr in addresses:
                try:
                    self.listeners.append(Listener(addr, hosts, log))
                except OSError as exc:
                    raise LabError(
                        f"cannot listen on {addr.ip}:{addr.port} ({'https' if addr.tls else 'http'}): {exc}"
                    ) from exc
        except BaseException:
            for listener in self.listeners:
                listener.server_close()
            raise
        self._threads: list[threading.Thread] = []

    def start(self) -> list[dict[str, Any]]:
        for listener in self.listeners:
            t = threading.Thread(
                target=listener.serve_forever,
                kwargs={"poll_interval": 0.1},
                daemon=True,
                name=f"inet-{listener.bound[0]}:{listener.bound[1]}",
            )
            t.start()
            self._threads.append(t)
        return [
            {
                "ip": ip,
                "port": port,
                "tls": lst.tls_context is not None,
                "service": lst.address.service.name if lst.address.service else None,
            }
            for lst in self.listeners
            for ip, port in [lst.bound]
        ]

    def stop(self) -> None:
        if self._threads:  # shutdown() would wait forever for a loop that never ran
            for listener in self.listeners:
                listener.shutdown()
        for listener in self.listeners:
            listener.server_close()
        for t in self._threads:
            t.join(timeout=2)
