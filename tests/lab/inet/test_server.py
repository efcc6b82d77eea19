"""The server itself: virtual-host dispatch, logging of odd traffic, per-service-IP listeners, SIGTERM."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path
from typing import cast

import pytest
import requests

from harness.lab.config import load_lab_config
from harness.lab.pki import LabPKI, create_lab_pki, service_leaf_specs

from .conftest import InetServer, start_server, stop_server


def _raw_http(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        chunks = []
        while True:
            try:
                data = s.recv(65536)
            except ConnectionResetError:  # a TLS listener resets plain-text clients
                break
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def test_start_record(inet: InetServer) -> None:
    start = inet.records()[0]
    assert start["kind"] == "start" and start["pid"] == inet.proc.pid
    assert {(e["ip"], e["tls"]) for e in start["listening"]} == {("127.0.0.1", True), ("127.0.0.1", False)}


@pytest.mark.usefixtures("lab_resolve")
def test_unknown_host_is_421_and_logged(inet: InetServer) -> None:
    r = requests.get(
        inet.url("whois.arin.net", "/x?key=SECRET-421&q=1"),
        headers={"Host": "evil.example.net", "X-Forwarded-For": "198.51.100.250"},
        verify=str(inet.ca),
        timeout=10,
    )
    assert r.status_code == 421
    rec = inet.wait_for(lambda x: x["kind"] == "http" and x["host"] == "evil.example.net")
    assert rec["status"] == 421 and rec["service"] is None and rec["sni"] == "whois.arin.net"
    assert rec["query"] == "key=<redacted>&q=1" and rec["x_forwarded_for"] == "198.51.100.250"
    assert "SECRET-421" not in inet.log.read_text()


def test_plain_http_vhost_and_malformed_request(inet: InetServer) -> None:
    out = _raw_http(inet.http_port, b"GET /AS64500 HTTP/1.1\r\nHost: bgp.he.net\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200") and b"AS64500" in out
    rec = inet.wait_for(lambda x: x["kind"] == "http" and x["path"] == "/AS64500" and x["tls"] is False)
    assert rec["sni"] is None and rec["host"] == "bgp.he.net" and rec["bytes"] > 0
    out = _raw_http(inet.http_port, b"GET /rest/ip/1.2.3.4?key=SECRET-BAD HTTP/9.9\r\n\r\n")
    assert out.split(b" ")[1] in (b"400", b"505")
    rec = inet.wait_for(lambda x: x["kind"] == "http" and x["path"] == "/rest/ip/1.2.3.4")
    assert rec["query"] == "key=<redacted>" and rec["status"] in (400, 505)
    assert "SECRET-BAD" not in inet.log.read_text()


def test_tls_garbage_is_logged_as_tls_error(inet: InetServer) -> None:
    _raw_http(inet.https_port, b"GET / HTTP/1.1\r\nHost: bgp.he.net\r\n\r\n")
    rec = inet.wait_for(lambda x: x["kind"] == "tls_error" and x["sni"] is None)
    assert rec["error"] and rec["server_port"] == inet.https_port and rec["client_ip"] == "127.0.0.1"


def test_bind_all_service_ips_and_default_cert_per_ip(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[3]
    cfg_path = tmp_path / "loopback-lab.toml"
    cfg_path.write_text((repo / "harness/lab/default-lab.toml").read_text().replace("198.51.100.", "127.77.100."))
    cfg = load_lab_config(cfg_path)
    pki: LabPKI = create_lab_pki(tmp_path / "pki", service_leaf_specs(cfg.services))
    log = tmp_path / "inet.jsonl"
    proc, start = start_server(
        [
            "--config",
            str(cfg_path),
            "--cert-dir",
            str(pki.directory),
            "--bind-all-service-ips",
            "--https-port",
            "0",
            "--http-port",
            "0",
        ],
        log,
    )
    try:
        listening = {(e["service"], e["tls"]): (e["ip"], e["port"]) for e in start["listening"]}
        assert {s for s, _ in listening} == {s.name for s in cfg.services}
        for svc in cfg.services:
            assert listening[(svc.name, True)][0] == listening[(svc.name, False)][0] == str(svc.ip)
        # No SNI (connecting by address): the listener's own service certificate, valid for its IP.
        ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
        ip, port = listening[("arin", True)]
        with socket.create_connection((ip, port), timeout=5) as raw, ctx.wrap_socket(raw, server_hostname=ip) as tls:
            cert = tls.getpeercert()
            assert cert is not None
            sans = {str(v) for _, v in cast(tuple[tuple[str, str], ...], cert["subjectAltName"])}
            assert "whois.arin.net" in sans and ip in sans
            tls.sendall(b"GET /rest/ip/127.77.100.130 HTTP/1.0\r\n\r\n")  # no Host header
            reply = b""
            while chunk := tls.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200") and b"<startAddress>127.77.100.128</startAddress>" in reply
        ip, port = listening[("bgp-he", False)]
        out = b""
        with socket.create_connection((ip, port), timeout=5) as s:
            s.sendall(b"GET /AS64500 HTTP/1.0\r\n\r\n")
            while chunk := s.recv(65536):
                out += chunk
        assert out.startswith(b"HTTP/1.1 200") and b"127.77.100.0/24" in out
    finally:
        assert stop_server(proc) == 0
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    http = [r for r in recs if r["kind"] == "http"]
    assert [(r["host"], r["server_ip"]) for r in http] == [
        ("whois.arin.net", "127.77.100.20"),
        ("bgp.he.net", "127.77.100.30"),
    ]
    assert recs[-1]["kind"] == "stop"


def test_sigterm_exits_cleanly_and_missing_certs_fail_clearly(lab_pki: LabPKI, tmp_path: Path) -> None:
    proc, _ = start_server(["--cert-dir", str(lab_pki.directory), "--listen", "127.0.0.1:0"], tmp_path / "a.jsonl")
    assert stop_server(proc) == 0
    assert json.loads((tmp_path / "a.jsonl").read_text().splitlines()[-1])["kind"] == "stop"
    with pytest.raises(AssertionError, match="certificates missing"):
        start_server(["--cert-dir", str(tmp_path / "nope"), "--listen", "127.0.0.1:0"], tmp_path / "b.jsonl")


def test_an_unknown_handler_name_in_the_config_fails_at_start(lab_pki: LabPKI, tmp_path: Path) -> None:
    import dataclasses

    from harness.errors import LabError
    from harness.lab.inet.server import VirtualHosts

    cfg = load_lab_config()
    svc = dataclasses.replace(cfg.services[0], handlers=("shodan-apj", *cfg.services[0].handlers[1:]))
    cfg = dataclasses.replace(cfg, services=(svc, *cfg.services[1:]))
    with pytest.raises(LabError, match=r"unknown handler in \[\[services\]\] hosts \(shodan: shodan-apj\)"):
        VirtualHosts(cfg, lab_pki.directory)
