"""``python -m harness.lab.inet``: run the simulated internet until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from harness.errors import HarnessError
from harness.lab.config import load_lab_config
from harness.lab.inet.log import RequestLog
from harness.lab.inet.server import InetServer, ListenAddress, VirtualHosts


def _addr(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected IP:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.lab.inet", description=__doc__)
    p.add_argument("--config", help="lab TOML (default: the packaged default-lab.toml)")
    p.add_argument("--cert-dir", required=True, help="directory written by harness.lab.pki.create_lab_pki")
    p.add_argument("--log", required=True, help="JSON-lines request log (appended)")
    p.add_argument(
        "--bind-all-service-ips",
        action="store_true",
        help="listen on every service IP of the lab config (HTTPS and HTTP ports)",
    )
    p.add_argument(
        "--https-port", type=int, default=443, help="HTTPS port for --bind-all-service-ips (443; 0 = ephemeral)"
    )
    p.add_argument("--http-port", type=int, default=80, help="HTTP port for --bind-all-service-ips (80)")
    p.add_argument("--no-http", action="store_true", help="with --bind-all-service-ips: HTTPS only")
    p.add_argument(
        "--listen",
        type=_addr,
        action="append",
        default=[],
        metavar="IP:PORT",
        help="extra HTTPS listener serving every virtual host (by Host/SNI); port 0 = ephemeral",
    )
    p.add_argument(
        "--listen-http",
        type=_addr,
        action="append",
        default=[],
        metavar="IP:PORT",
        help="extra plain-HTTP listener serving every virtual host (by Host)",
    )
    p.add_argument("--pid-file", help="write the server's PID here once it listens")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        cfg = load_lab_config(args.config)
        hosts = VirtualHosts(cfg, args.cert_dir)
        addresses: list[ListenAddress] = []
        if args.bind_all_service_ips:
            for svc in cfg.services:
                addresses.append(ListenAddress(str(svc.ip), args.https_port, True, svc))
                if not args.no_http:
                    addresses.append(ListenAddress(str(svc.ip), args.http_port, False, svc))
        addresses += [ListenAddress(ip, port, True) for ip, port in args.listen]
        addresses += [ListenAddress(ip, port, False) for ip, port in args.listen_http]
        log = RequestLog(args.log)
        server = InetServer(hosts, addresses, log)
    except (HarnessError, OSError) as exc:
        print(f"harness.lab.inet: {exc}", file=sys.stderr)
        return 2
    listening = server.start()
    start = log.write("start", pid=os.getpid(), config=cfg.path, listening=listening)
    if args.pid_file:
        Path(args.pid_file).write_text(f"{os.getpid()}\n")
    # The start record on stdout is the readiness signal (and tells ephemeral ports).
    print(json.dumps(start), flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()
    log.write("stop", pid=os.getpid())
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
