"""Expected rows of detections/kql/T1590.005-ip-recon.kql over lab-defender.jsonl, written by hand.

Derived from the recording's manifest and README (what ran, when, as whom) and from the query's
semantics, never from the engine's output. Reference time 2026-11-28T06:00:00Z, so
``Timestamp > ago(24h)`` keeps the whole recording.

Branch 1, EndpointIPIntelLookup (DeviceNetworkEvents, outbound ConnectionSuccess): the six TCP
connections the atomics made to IP-intelligence services, whose resolver answer names them:
api.shodan.io x3 (has_any "shodan.io"), whois.arin.net and rdap.arin.net ("arin.net"),
bgp.he.net ("bgp.he.net"). Not returned: www.example.com (negative control; no listed service,
not whois/ipinfo/bgp), the SSH transport (no RemoteUrl), the setup readiness probe to
198.51.100.10 at 05:35:34.702 (before any resolver answer, so no RemoteUrl), and every
InboundConnectionAccepted row (the fake-internet server side).

Branch 2, OSINTToolOnEndpoint (DeviceProcessEvents): ``has_any`` is whole-term matching, so
* a_shodan_cli: ``bash -c shodan ...`` and the exec'd python (``.../bin/shodan ...``), 3 commands x 2;
* c_nmap_ping_sweep: ``bash -c nmap -sn ...`` and ``nmap`` itself (FileName "nmap" too);
* z_cleanup: ``rm -f ... /tmp/atomic-nmap-sweep.xml ...`` ("-" splits terms, so "nmap" is a term)
  and ``rm -rf .../.config/shodan``, each as bash -c and as rm: 4 rows the query semantics
  demand, false positives of the rule, not of the engine;
* lab setup: the resolver's start (``ip netns exec rec-inet dnsmasq ...`` and ``dnsmasq ...``)
  has ``--host-record=api.shodan.io,shodan.io,...``, where "shodan" is a term: 2 rows.
Not returned: the curl atomics (no tool name), ``ls``, the harness ident bash.
Branch 2 projects RemoteUrl "", RemoteIP "", RemotePort 0, and InitiatingProcessFileName is the
parent's file name (sshd for SSH commands, bash for the setup driver).
"""

from __future__ import annotations

NOW = "2026-11-28T06:00:00Z"
COLUMNS = [
    "Timestamp", "DeviceName", "AccountName", "RemoteUrl", "RemoteIP", "RemotePort",
    "InitiatingProcessFileName", "InitiatingProcessCommandLine", "DetectionBranch",
]
_NET = "EndpointIPIntelLookup"
_PROC = "OSINTToolOnEndpoint"
_PY = "/opt/labrec/labvenv/bin/python3 /opt/labrec/labvenv/bin/shodan"
_DNSMASQ = (
    "dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --no-poll --bind-interfaces "
    "--listen-address=198.51.100.53 --pid-file=/opt/labrec/run/dnsmasq.pid --log-queries=extra "
    "--log-facility=/opt/labrec/logs/dnsmasq.log --address=/#/ "
    "--host-record=api.shodan.io,shodan.io,198.51.100.10 --host-record=whois.arin.net,rdap.arin.net,198.51.100.20 "
    "--host-record=bgp.he.net,198.51.100.30 --host-record=www.example.com,example.com,198.51.100.80 "
    "--host-record=gw.example.test,198.51.100.129 --host-record=intranet.example.test,198.51.100.130 "
    "--host-record=mail.example.test,198.51.100.133 --host-record=vpn.example.test,198.51.100.137 "
    "--host-record=ci.example.test,198.51.100.142"
)


def _net(ts: str, url: str, ip: str, proc: str, cmd: str) -> dict[str, object]:
    return dict(zip(COLUMNS, [f"2026-11-28T{ts}0000Z", "vm", "root", url, ip, 443, proc, cmd, _NET], strict=True))


def _proc(ts: str, parent: str, cmd: str) -> dict[str, object]:
    return dict(zip(COLUMNS, [f"2026-11-28T{ts}0000Z", "vm", "root", "", "", 0, parent, cmd, _PROC], strict=True))


EXPECTED = [
    # cleanup (z_cleanup, ses 65)
    _proc("05:36:06.351", "sshd", "bash -c rm -rf /opt/labrec/labhome/.config/shodan"),
    _proc("05:36:06.351", "sshd", "rm -rf /opt/labrec/labhome/.config/shodan"),
    _proc("05:36:05.343", "sshd", "bash -c rm -f /tmp/atomic-arin.xml /tmp/atomic-nmap-sweep.xml /tmp/atomic-bgp.html"),
    _proc("05:36:05.343", "sshd", "rm -f /tmp/atomic-arin.xml /tmp/atomic-nmap-sweep.xml /tmp/atomic-bgp.html"),
    # d_bgp_he_asn
    _net("05:35:55.927", "bgp.he.net", "198.51.100.30", "curl",
         "curl -s https://bgp.he.net/AS64500 -o /tmp/atomic-bgp.html"),
    # c_nmap_ping_sweep
    _proc("05:35:50.178", "sshd", "bash -c nmap -sn 198.51.100.128/28 -oX /tmp/atomic-nmap-sweep.xml"),
    _proc("05:35:50.178", "sshd", "nmap -sn 198.51.100.128/28 -oX /tmp/atomic-nmap-sweep.xml"),
    # b_arin_whois_rdap (curl argv joined by spaces: the quotes around the header are gone)
    _net("05:35:46.010", "rdap.arin.net", "198.51.100.20", "curl",
         "curl -s -H Accept: application/json https://rdap.arin.net/registry/ip/198.51.100.130"),
    _net("05:35:44.986", "whois.arin.net", "198.51.100.20", "curl",
         "curl -s https://whois.arin.net/rest/ip/198.51.100.130 -o /tmp/atomic-arin.xml"),
    # a_shodan_cli: each command's connection, then its process events
    _net("05:35:40.747", "api.shodan.io", "198.51.100.10", "python3.11", f"{_PY} search net:198.51.100.128/28"),
    _proc("05:35:40.547", "sshd", "bash -c shodan search net:198.51.100.128/28"),
    _proc("05:35:40.547", "sshd", f"{_PY} search net:198.51.100.128/28"),
    _net("05:35:39.472", "api.shodan.io", "198.51.100.10", "python3.11", f"{_PY} host 198.51.100.130"),
    _proc("05:35:39.281", "sshd", "bash -c shodan host 198.51.100.130"),
    _proc("05:35:39.281", "sshd", f"{_PY} host 198.51.100.130"),
    _net("05:35:38.215", "api.shodan.io", "198.51.100.10", "python3.11", f"{_PY} init FAKEKEY0123456789abcdef0123456"),
    _proc("05:35:38.034", "sshd", "bash -c shodan init FAKEKEY0123456789abcdef0123456"),
    _proc("05:35:38.034", "sshd", f"{_PY} init FAKEKEY0123456789abcdef0123456"),
    # lab setup: the resolver's command line names shodan.io
    _proc("05:35:34.585", "bash", f"ip netns exec rec-inet {_DNSMASQ}"),
    _proc("05:35:34.585", "bash", _DNSMASQ),
]
