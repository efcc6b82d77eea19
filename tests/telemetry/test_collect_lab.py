"""Telemetry of real detonations on the embedded lab: every expected kind of signal is there,
attributed to the right detonation, free of other processes' events, with no secret stored."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.lab.config import load_lab_config
from harness.lab.embedded import EmbeddedLab

REPO = Path(__file__).resolve().parents[2]
CFG = load_lab_config()
pytestmark = pytest.mark.lab


def _skip_unless_root() -> None:
    import os

    if os.geteuid() != 0:
        pytest.skip("needs root: builds the embedded lab")


KNOWN_KEY = "K3yForTests0123456789abcdefABCDEF"


def _run(tmp: Path, *args: str) -> dict[str, dict[str, Any]]:
    import os

    env = dict(os.environ, SHODAN_API_KEY=KNOWN_KEY)
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--json", "--telemetry", str(tmp), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert KNOWN_KEY not in proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stderr
    return {r["id"]: r for r in map(json.loads, proc.stdout.splitlines())}


def _load(tmp: Path, atomic: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    d = next(tmp.glob(f"*/{atomic}"))
    sigma = [json.loads(x) for x in (d / "sigma.jsonl").read_text().splitlines()]
    defender = [json.loads(x) for x in (d / "defender.jsonl").read_text().splitlines()]
    return sigma, defender, json.loads((d / "manifest.json").read_text())


def _cat(events: Any, category: Any) -> Any:
    return [e["event"] for e in events if e["logsource"].get("category") == category]


@pytest.fixture(scope="module")
def transparent(tmp_path_factory: pytest.TempPathFactory) -> Any:
    _skip_unless_root()
    EmbeddedLab(CFG).down()
    tmp = tmp_path_factory.mktemp("telemetry")
    runs = _run(tmp)
    return tmp, runs


def test_process_creation_has_the_exact_command_line(transparent: Any) -> None:
    tmp, _ = transparent
    sigma, defender, manifest = _load(tmp, "T1590.005-3")
    # One event per process sensor: auditd always, Sysmon too where the lab installed it.
    sensors = {s["name"] for s in manifest["sensors"] if s["available"]} & {"auditd", "sysmon"}
    by_sensor: dict[str, list[str]] = {}
    for e in sigma:
        if e["logsource"].get("category") == "process_creation" and e["event"].get("Image", "").endswith("/nmap"):
            # Sysmon's events keep their service; the view derives auditd's without one.
            sensor = "sysmon" if e["logsource"].get("service") == "sysmon" else "auditd"
            by_sensor.setdefault(sensor, []).append(e["event"].get("CommandLine"))
    cmd = "nmap -sn 198.51.100.128/28 -oX /tmp/atomic-nmap-sweep.xml"
    assert by_sensor == {name: [cmd] for name in sensors}
    procs = [r["row"] for r in defender if r["table"] == "DeviceProcessEvents" and r["row"]["FileName"] == "nmap"]
    assert [p["ProcessCommandLine"] for p in procs] == [cmd] * len(sensors)


def test_sweep_icmp_echo_requests_and_file_creation(transparent: Any) -> None:
    tmp, _ = transparent
    sigma, _, manifest = _load(tmp, "T1590.005-3")
    fw = _cat(sigma, "firewall")
    echo_targets = {e["dst_ip"] for e in fw if str(e.get("protocol")).lower() in ("icmp", "1")
                    and str(e.get("icmp_type")) == "8"}
    # Every address of the /28 got an echo request, live or not.
    assert echo_targets >= {f"198.51.100.{i}" for i in range(128, 144)}
    files = [e["TargetFilename"] for e in _cat(sigma, "file_event")]
    assert "/tmp/atomic-nmap-sweep.xml" in files
    assert manifest["counts"]["nflog"]["kept"] >= 16


@pytest.mark.parametrize(("atomic", "host", "path"), [
    ("T1590.005-1", "api.shodan.io", "/shodan/host/198.51.100.130"),
    ("T1590.005-2", "whois.arin.net", "/rest/ip/198.51.100.130"),
    ("T1590.005-5", "bgp.he.net", "/AS64500"),
])
def test_dns_connection_and_proxy_signals(transparent: Any, atomic: Any, host: Any, path: Any) -> None:
    tmp, _ = transparent
    sigma, defender, _ = _load(tmp, atomic)
    assert host in {e.get("query") for e in _cat(sigma, "dns")}
    conns = [e for e in _cat(sigma, "network_connection") if e.get("DestinationHostname") == host]
    assert conns and all(str(c["DestinationPort"]) == "443" for c in conns)
    net = [r["row"] for r in defender if r["table"] == "DeviceNetworkEvents" and r["row"].get("RemoteUrl") == host]
    assert net and all(r["RemoteIPType"] == "Public" and r["RemotePort"] == 443 for r in net)
    assert {r["ActionType"] for r in net} <= {"ConnectionSuccess", "ConnectionAttempt"}
    proxy = _cat(sigma, "proxy")
    assert any(p.get("cs-host") == host and (p.get("c-uri") or "").split("?")[0].endswith(path) for p in proxy), proxy


def test_nothing_of_another_detonation_leaks_in(transparent: Any) -> None:
    tmp, _runs = transparent
    sigma, _, _ = _load(tmp, "T1590.005-5")
    images = {e.get("Image", "").rsplit("/", 1)[-1] for e in _cat(sigma, "process_creation")}
    assert "nmap" not in images and not any("shodan" in (e.get("CommandLine") or "")
                                            for e in _cat(sigma, "process_creation"))
    assert {e.get("query") for e in _cat(sigma, "dns")} <= {"bgp.he.net"}


def test_no_secret_is_stored_in_any_form(transparent: Any) -> None:
    from urllib.parse import quote

    tmp, _ = transparent
    forms = {KNOWN_KEY, KNOWN_KEY.encode().hex(), KNOWN_KEY.encode().hex().upper(), quote(KNOWN_KEY)}
    files = [p for p in tmp.rglob("*") if p.is_file()]
    assert len(files) >= 20
    leaks = [(str(p), f) for p in files for f in forms if f in p.read_text(errors="replace")]
    assert not leaks
    # ... and no process ever had the key in its arguments (the key file is written by the shell's
    # printf builtin, not `shodan init KEY`), while the key file's creation is still seen.
    sigma, _, _ = _load(tmp, "T1590.005-1")
    commands = [e.get("CommandLine") or "" for e in _cat(sigma, "process_creation")]
    assert any("shodan host" in c for c in commands)
    assert not any("[REDACTED]" in c or "shodan init" in c for c in commands), commands
    assert any((e.get("TargetFilename") or "").endswith("/.config/shodan/api_key") for e in _cat(sigma, "file_event"))


def test_explicit_proxy_mode_logs_the_user(tmp_path: Path) -> None:
    _skip_unless_root()
    EmbeddedLab(CFG).down()
    _run(tmp_path, "T1590.005-5", "--proxy-mode", "explicit")
    sigma, _, _manifest = _load(tmp_path, "T1590.005-5")
    squid = [e["event"] for e in sigma if e["logsource"].get("category") == "proxy"
             and e.get("meta", {}).get("source") == "squid" and e["event"].get("cs-host") == "bgp.he.net"]
    assert squid and all(p.get("cs-username") == "recon-lab" for p in squid)
    # Through an explicit proxy the client connects to the proxy, not to the service.
    dests = {str(e.get("DestinationIp")) for e in _cat(sigma, "network_connection")}
    assert CFG.telemetry.proxy_ip in dests and "198.51.100.30" not in dests
    # ... and the proxy, not the client, resolved the name.
    dns = [e for e in _cat(sigma, "dns") if e.get("query") == "bgp.he.net"]
    assert dns and all(e.get("src_ip") == str(CFG.dns_server) for e in dns)


def test_a_busy_unrelated_session_leaves_nothing_in_the_atomics_telemetry(tmp_path: Path) -> None:
    """Another login session on the same lab host hammers the same services during the detonation."""
    _skip_unless_root()
    from harness.targets import get_target

    lab = EmbeddedLab(CFG)
    lab.down()
    lab.up()
    stop = threading.Event()
    noise_done = []

    def noise() -> None:
        t = get_target("netns://rah")  # its own SSH connection: its own audit session
        while not stop.is_set():
            t.run("curl -s https://bgp.he.net/AS64500 -o /dev/null; nmap -sn 198.51.100.140/30 -oX - >/dev/null",
                  timeout=30)
            noise_done.append(1)
        t.close()

    th = threading.Thread(target=noise)
    th.start()
    try:
        time.sleep(1.0)
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--json", "--telemetry", str(tmp_path),
                               "T1590.005-2"], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    finally:
        stop.set()
        th.join(60)
        lab.down()
    assert noise_done, "the noise session never ran"
    sigma, _defender, manifest = _load(tmp_path, "T1590.005-2")
    images = {e.get("Image", "").rsplit("/", 1)[-1] for e in _cat(sigma, "process_creation")}
    assert "nmap" not in images
    assert not [e for e in _cat(sigma, "network_connection") if e.get("DestinationHostname") == "bgp.he.net"]
    assert not [e for e in _cat(sigma, "firewall") if e.get("dst_ip", "").startswith("198.51.100.14")]
    # ... while the atomic's own activity is all there, and the drop is accounted for.
    assert [e for e in _cat(sigma, "network_connection") if e.get("DestinationHostname") == "whois.arin.net"]
    assert manifest["counts"]["auditd"]["dropped_unrelated"] > 0
