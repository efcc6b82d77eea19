"""api.shodan.io against the real shodan CLI and library (1.31.0)."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import shodan

from harness.lab.config import load_lab_config

from .conftest import InetServer

KEY = "LABTESTKEY0123456789abcdefABCDEF"
CFG = load_lab_config()
LIVE = {str(h.ip): h.name for h in CFG.live_hosts}
SHODAN_BIN = str(Path(sys.executable).parent / "shodan")


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SHODAN_BIN, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def cli_env(inet: InetServer, client_env: Callable[[Path], dict[str, str]], tmp_path: Path) -> dict[str, str]:
    env = client_env(tmp_path)
    # SHODAN_API_URL is the CLI's documented base-URL override: it points the CLI at our port.
    env["SHODAN_API_URL"] = f"https://api.shodan.io:{inet.https_port}"
    return env


def test_cli_init_host_search(inet: InetServer, cli_env: dict[str, str], tmp_path: Path) -> None:
    init = _cli(["init", KEY], cli_env)
    assert init.returncode == 0, init.stderr
    assert "Successfully initialized" in init.stdout
    keyfile = tmp_path / ".config" / "shodan" / "api_key"
    assert keyfile.read_text() == KEY  # the CLI wrote the key under the test's HOME only

    host = _cli(["host", "198.51.100.130"], cli_env)
    assert host.returncode == 0, host.stderr
    assert host.stdout.splitlines()[0] == "198.51.100.130"
    assert "Hostnames:" in host.stdout and LIVE["198.51.100.130"] in host.stdout
    assert "Ports:" in host.stdout and "443/tcp" in host.stdout.replace(" ", "")

    search = _cli(["search", "--no-color", f"net:{CFG.sweep_range}"], cli_env)
    assert search.returncode == 0, search.stderr
    rows = [line.split("\t") for line in search.stdout.splitlines() if line.strip()]
    ips = {row[0] for row in rows}
    assert ips == set(LIVE), search.stdout
    assert all(row[1].isdigit() for row in rows)  # ip_str<TAB>port<TAB>hostnames<TAB>data

    # The requests the CLI made, as the server logged them: SNI, UA, redacted key.
    http = [r for r in inet.records() if r["kind"] == "http" and r["host"] == "api.shodan.io"]
    paths = [r["path"] for r in http]
    for expected in ("/api-info", "/shodan/host/198.51.100.130", "/shodan/host/search"):
        assert expected in paths
    for rec in http:
        assert rec["sni"] == "api.shodan.io"
        assert rec["tls"] is True and rec["server_port"] == inet.https_port
        assert rec["user_agent"].startswith("python-requests/") and rec["ua"] == rec["user_agent"]
        assert "key=<redacted>" in rec["query"]
    search_rec = next(r for r in http if r["path"] == "/shodan/host/search")
    assert "query=net%3A198.51.100.128%2F28" in search_rec["query"]
    assert KEY not in inet.log.read_text()


def test_cli_host_unknown_ip_fails_with_api_error(cli_env: dict[str, str]) -> None:
    assert _cli(["init", KEY], cli_env).returncode == 0
    res = _cli(["host", "198.51.100.131"], cli_env)  # in the sweep range but dead
    assert res.returncode != 0
    assert "No information available for that IP." in res.stderr


def test_cli_search_without_results_fails(cli_env: dict[str, str]) -> None:
    assert _cli(["init", KEY], cli_env).returncode == 0
    res = _cli(["search", "net:203.0.113.0/24"], cli_env)
    assert res.returncode != 0
    assert "No search results found" in res.stderr


def test_cli_init_needs_server_acceptance(client_env: Callable[[Path], dict[str, str]], tmp_path: Path) -> None:
    # Without SHODAN_API_URL the CLI goes to api.shodan.io:443, where nothing listens here: init
    # fails and stores no key, which shows the override above is what routes it to the lab.
    env = client_env(tmp_path)
    res = _cli(["init", KEY], env)
    assert res.returncode != 0
    assert not (tmp_path / ".config" / "shodan" / "api_key").exists()


@pytest.mark.usefixtures("lab_resolve")
def test_library_host_and_search_parse(inet: InetServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets REQUESTS_CA_BUNDLE override a session's verify: set it, as the lab does.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(inet.ca))
    monkeypatch.setenv("SHODAN_API_URL", f"https://api.shodan.io:{inet.https_port}")
    api = shodan.Shodan(KEY)
    assert api.base_url == f"https://api.shodan.io:{inet.https_port}"

    info = api.info()
    assert info["query_credits"] >= 1 and "scan_credits" in info

    host = api.host("198.51.100.142")
    assert host["ip_str"] == "198.51.100.142" and host["ip"] == int(ipaddress.IPv4Address("198.51.100.142"))
    assert host["hostnames"] == [LIVE["198.51.100.142"]]
    assert host["asn"] == f"AS{CFG.scope.asns[0]}"
    assert host["country_code"] == "US" and host["org"] and host["isp"]
    assert sorted(b["port"] for b in host["data"]) == host["ports"]
    for banner in host["data"]:
        assert banner["transport"] == "tcp" and banner["product"] and banner["timestamp"]
        assert banner["ip_str"] == host["ip_str"]

    res = api.search(f"net:{CFG.sweep_range}", facets=["port", ("org", 3)])
    per_host: dict[str, int] = {}
    for match in res["matches"]:
        per_host[match["ip_str"]] = per_host.get(match["ip_str"], 0) + 1
    assert set(per_host) == set(LIVE)
    assert res["total"] == len(res["matches"]) == sum(per_host.values())
    assert {f["value"] for f in res["facets"]["port"]} == {m["port"] for m in res["matches"]}
    assert res["facets"]["org"][0]["count"] == res["total"]

    narrowed = api.search(f"net:{CFG.sweep_range} port:22")
    assert {m["ip_str"] for m in narrowed["matches"]} == {"198.51.100.142"}
    assert api.count(f"net:{CFG.sweep_range}")["total"] == res["total"]

    with pytest.raises(shodan.APIError, match=r"No information available for that IP\."):
        api.host("198.51.100.200")


@pytest.mark.usefixtures("lab_resolve")
def test_missing_key_is_401_json(inet: InetServer) -> None:
    r = requests.get(inet.url("api.shodan.io", "/api-info"), verify=str(inet.ca), timeout=10)
    assert r.status_code == 401
    assert r.json() == {"error": "Invalid API key"}
    r = requests.get(
        inet.url("api.shodan.io", "/shodan/host/search"),
        params={"key": KEY, "query": "net:not-a-net"},
        verify=str(inet.ca),
        timeout=10,
    )
    assert r.status_code == 400 and "error" in r.json()
