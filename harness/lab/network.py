"""The embedded lab's network: namespaces, veth links, the blackhole routes and nft guard on the host,
the simulated internet's addresses, and the lab host's resolver config. Each step is recorded in the
state file before it is made; the handlers below undo each kind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harness.errors import LabError
from harness.lab import teardown
from harness.lab.instances import shared_claims
from harness.lab.layout import NETNS_ETC, NETNS_RUN, LabLayout
from harness.lab.shell import in_netns, run_checked
from harness.lab.state import LabState, Resource


def apply_nft(ns: str | None, ruleset: str) -> None:
    """Load an nft ruleset on the host (``ns`` None) or in namespace ``ns``."""
    args = (["ip", "netns", "exec", ns] if ns else []) + ["nft", "-f", "-"]
    proc = subprocess.run(args, input=ruleset, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise LabError(f"nft failed{' in ' + ns if ns else ''}: {proc.stderr.strip()}")


class Network(LabLayout):
    """Build the lab's namespaces, links, routes and host-side guard."""

    def _build_network(self, state: LabState) -> None:
        cfg = self.cfg
        # Directories iproute2 and sshd need: removed again only when this lab created them, and
        # only by the last lab instance down (another's sshd still needs /run/sshd, empty as it is).
        held = {r.name for r in shared_claims(cfg, lambda r: r.kind == "dir")}
        for d in (NETNS_RUN, NETNS_ETC, Path("/run/sshd")):
            if not d.exists() or str(d) in held:
                state.record("dir", str(d), only_if_empty=True, shared=True)

        # Namespaces and links.
        for ns in (cfg.lab_ns, cfg.inet_ns):
            self._add_netns(state, ns)
        state.record("link", self.host_veth)
        run_checked(["ip", "link", "add", self.host_veth, "type", "veth", "peer", "name", self.lab_veth,
              "netns", cfg.lab_ns])
        run_checked(["ip", "addr", "add", f"{cfg.host_transit_ip}/{cfg.transit.prefixlen}", "dev", self.host_veth])
        run_checked(["ip", "link", "set", self.host_veth, "up"])
        run_checked(in_netns(cfg.lab_ns, "ip", "addr", "add", f"{cfg.lab_transit_ip}/{cfg.transit.prefixlen}", "dev",
                 self.lab_veth))
        run_checked(in_netns(cfg.lab_ns, "ip", "link", "set", self.lab_veth, "up"))
        run_checked(["ip", "link", "add", self.uplink_lab, "netns", cfg.lab_ns, "type", "veth", "peer", "name",
              self.uplink_inet, "netns", cfg.inet_ns])
        run_checked(in_netns(cfg.lab_ns, "ip", "addr", "add", f"{cfg.lab_uplink_ip}/{cfg.uplink.prefixlen}", "dev",
                 self.uplink_lab))
        run_checked(in_netns(cfg.lab_ns, "ip", "link", "set", self.uplink_lab, "up"))
        run_checked(in_netns(cfg.inet_ns, "ip", "addr", "add", f"{cfg.inet_gateway_ip}/{cfg.uplink.prefixlen}", "dev",
                 self.uplink_inet))
        run_checked(in_netns(cfg.inet_ns, "ip", "link", "set", self.uplink_inet, "up"))
        # Lab host: everything not on a link goes to the simulated internet, so the sweep range is
        # routed (nmap -sn sends ICMP, not ARP).
        run_checked(in_netns(cfg.lab_ns, "ip", "route", "add", "default", "via", str(cfg.inet_gateway_ip)))
        # Simulated internet: service addresses and live sweep hosts on its loopback (not every
        # kernel has the dummy link type); it has no default route and does not forward, so dead
        # addresses stay silent.
        self._add_internet_addresses()

        # Host side: blackhole the simulated internet so no host process can leak to the real one,
        # and drop anything the lab starts towards the host (replies to our SSH pass). The routes
        # are host-wide: another live lab instance may hold them already (harness.lab.instances).
        held = {r.name for r in shared_claims(cfg, lambda r: r.kind == "route")}
        for r in cfg.scope.ranges:
            state.record("route", f"blackhole {r}", dst=str(r), shared=True)
            if f"blackhole {r}" not in held:
                run_checked(["ip", "route", "add", "blackhole", str(r)])
        state.record("nft_table", f"inet {self.guard_table}", family="inet", table=self.guard_table, netns="")
        apply_nft(None, f"""
table inet {self.guard_table} {{
  chain input {{
    type filter hook input priority -10; policy accept;
    iifname "{self.host_veth}" ct state established,related accept
    iifname "{self.host_veth}" drop
  }}
  chain forward {{
    type filter hook forward priority -10; policy accept;
    iifname "{self.host_veth}" drop
    oifname "{self.host_veth}" drop
  }}
}}
""")

        # Resolver config seen by processes started with `ip netns exec <lab>` (sshd and its sessions).
        netns_etc = NETNS_ETC / cfg.lab_ns
        state.record("dir", str(netns_etc))
        netns_etc.mkdir(parents=True, exist_ok=True)
        (netns_etc / "resolv.conf").write_text(f"# recon-atomics-harness lab\nnameserver {cfg.dns_server}\n")

    def _add_netns(self, state: LabState, ns: str) -> None:
        """A network namespace with loopback up and IPv6 off, recorded (with its inode) first."""
        state.record("netns", ns)
        run_checked(["ip", "netns", "add", ns])
        state.info.setdefault("netns_inodes", {})[ns] = os.stat(NETNS_RUN / ns).st_ino
        run_checked(in_netns(ns, "ip", "link", "set", "lo", "up"))
        for key in ("all", "default"):
            run_checked(in_netns(ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1"))

    def _add_internet_addresses(self) -> None:
        """The resolver, the services and the live sweep hosts, on the simulated internet's loopback."""
        cfg = self.cfg
        addrs = {str(cfg.dns_server)} | {str(s.ip) for s in cfg.services} | {str(h.ip) for h in cfg.live_hosts}
        for ip in sorted(addrs):
            run_checked(in_netns(cfg.inet_ns, "ip", "addr", "add", f"{ip}/32", "dev", "lo"))


# Undo of what the network recorded ---------------------------------------------------------------
@teardown.undo_handler("netns")
def _undo_netns(res: Resource) -> str | None:
    if (NETNS_RUN / res.name).exists():
        run_checked(["ip", "netns", "del", res.name])
        return f"netns {res.name}"
    return None


@teardown.undo_handler("link")
def _undo_link(res: Resource) -> str | None:
    if Path(f"/sys/class/net/{res.name}").exists():
        run_checked(["ip", "link", "del", res.name])
        return f"link {res.name}"
    return None


@teardown.undo_handler("route")
def _undo_route(res: Resource) -> str | None:
    dst = res.data["dst"]
    probe = run_checked(["ip", "route", "show", "type", "blackhole", dst], check=False)
    if probe.stdout.strip():
        run_checked(["ip", "route", "del", "blackhole", dst])
        return f"route blackhole {dst}"
    return None


@teardown.undo_handler("nft_table")
def _undo_nft_table(res: Resource) -> str | None:
    ns = res.data.get("netns") or None
    args = (["ip", "netns", "exec", ns] if ns else []) + ["nft", "list", "table", res.data["family"],
                                                         res.data["table"]]
    if run_checked(args, check=False).returncode == 0:
        deleted = run_checked([*args[:-5], "nft", "delete", "table", res.data["family"], res.data["table"]],
                              check=False)
        if deleted.returncode == 0:
            return f"nft table {res.data['family']} {res.data['table']}"
        if "No such file" not in deleted.stderr:  # gone meanwhile (its namespace went first)
            raise LabError(f"nft delete table {res.data['table']} failed: {deleted.stderr.strip()}")
    return None
