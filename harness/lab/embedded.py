"""The embedded lab: a lab host and a simulated internet in network namespaces of this machine.

Topology (addresses from the lab config)::

    host netns  --veth transit-->  <name>-lab  --veth uplink-->  <name>-inet
    (harness,    198.18.0.1/.2     sshd, the atomics run here     dnsmasq, HTTPS services, sweep hosts
     ssh client)                   resolv.conf -> lab DNS         no route anywhere else, forwarding off

Nothing is routed out of the machine: the simulated internet has no uplink, the host blackholes the
lab's internet ranges and an nft table drops anything the lab host starts towards the host.
Every step is recorded in the state file before it is made, so ``down`` (or the next ``up``)
undoes a crashed run too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.crashpoint import crash_point
from harness.errors import HarnessError, LabError
from harness.lab import sysmon as lab_sysmon
from harness.lab import teardown
from harness.lab.config import LabConfig, load_lab_config
from harness.lab.lock import lab_lock
from harness.lab.safety import check_no_overlap
from harness.lab.state import LabState, boot_ticks, proc_start_time
from harness.packages import PackageUnavailable, PinError, cache_dir, theharvester

SHODAN_CLI_VERSION = "1.31.0"
PAM_DIR = Path("/etc/pam.d")
NETNS_ETC = Path("/etc/netns")
NETNS_RUN = Path("/run/netns")

# The lab sshd's own PAM service: pam_loginuid gives every SSH login an audit session id (ses),
# which is how auditd records are attributed to detonations.
PAM_STACK = """\
# Written by recon-atomics-harness for its embedded lab; removed by `harness lab down`.
auth      required  pam_deny.so
account   required  pam_permit.so
password  required  pam_deny.so
session   required  pam_loginuid.so
session   optional  pam_permit.so
"""

REQUIRED_TOOLS = ("ip", "nft", "dnsmasq", "ssh-keygen")


@dataclass(frozen=True)
class LabStatus:
    up: bool
    problems: tuple[str, ...]
    info: dict[str, Any]


def require_root(action: str) -> None:
    if os.geteuid() != 0:
        raise LabError(
            f"`{action}` needs root: the embedded lab creates network namespaces, veth links, routes, "
            "nft tables and a PAM service. Run it with sudo, or use a lab you already have: "
            "--target ssh://user@host:port?identity_file=KEY (your own lab host) or "
            "--target vagrant://default (the Vagrant lab VM)."
        )


def _run(args: Sequence[str], *, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        raise LabError(f"`{' '.join(args)}` could not run: {exc}") from exc
    if check and proc.returncode != 0:
        detail = proc.stderr.strip() or proc.stdout.strip()
        raise LabError(f"`{' '.join(args)}` failed (rc={proc.returncode}): {detail}")
    return proc


def _ns(ns: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *args]


def find_sshd() -> str:
    for candidate in ("/usr/sbin/sshd", "/usr/bin/sshd"):
        if Path(candidate).exists():
            return candidate
    found = shutil.which("sshd")
    if not found:
        raise LabError("sshd is not installed (Debian: apt-get install openssh-server)")
    return found


class EmbeddedLab:
    """Create, probe and destroy the embedded lab described by a LabConfig."""

    def __init__(self, config: LabConfig | None = None) -> None:
        self.cfg = config or load_lab_config()
        self.state_dir = self.cfg.state_dir
        n = self.cfg.name
        self.host_veth, self.lab_veth = f"{n}-h0", f"{n}-l0"
        self.uplink_lab, self.uplink_inet = f"{n}-l1", f"{n}-i1"
        self.guard_table = f"{n}_guard"
        self.pam_service = f"{n}-sshd"

    # Paths ---------------------------------------------------------------------------------
    @property
    def ssh_dir(self) -> Path:
        return self.state_dir / "ssh"

    @property
    def pki_dir(self) -> Path:
        return self.state_dir / "pki"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def home_dir(self) -> Path:
        return self.state_dir / "home"

    @property
    def venv_dir(self) -> Path:
        return self.cfg.cache_dir / "venv"

    @property
    def harvester_venv(self) -> Path:
        """theHarvester's own venv: a cached tool location (never /opt or /usr/local), `lab purge` removes it."""
        return self.cfg.cache_dir / f"theHarvester-{theharvester.VERSION}"

    @property
    def client_key(self) -> Path:
        return self.ssh_dir / "client_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ssh_dir / "known_hosts"

    @property
    def ca_bundle(self) -> Path:
        return self.pki_dir / "ca.crt"

    def target_url(self) -> str:
        return f"netns://{self.cfg.name}"

    def ssh_url(self) -> str:
        return (
            f"ssh://{self.cfg.lab_user}@{self.cfg.lab_transit_ip}:{self.cfg.ssh_port}"
            f"?identity_file={self.client_key}&known_hosts={self.known_hosts}"
        )

    # Provisioning (outside any atomic's timing) ----------------------------------------------
    def provisioned(self) -> bool:
        return (self.venv_dir / "bin" / "shodan").exists()

    def provision(self) -> None:
        """Install the lab's tools that do not come from Debian: the Shodan CLI from PyPI, in a venv."""
        if self.provisioned():
            return
        self.cfg.cache_dir.mkdir(parents=True, exist_ok=True)
        python = shutil.which("python3") or sys.executable
        _run([python, "-m", "venv", "--clear", str(self.venv_dir)], timeout=120)
        _run(
            [str(self.venv_dir / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
             f"shodan=={SHODAN_CLI_VERSION}"],
            timeout=600,
        )
        if not self.provisioned():
            raise LabError(f"provisioning failed: {self.venv_dir}/bin/shodan is missing after pip install")

    def _provision_harvester(self, state: LabState) -> None:
        """theHarvester 4.6.0, installed here on the controller (the side with internet; the lab host has
        none) from the offline package cache or the upstream tag. When neither works the lab still comes
        up: the atomic's own prerequisite then reports PREREQ_MISSING with the reason."""
        venv = self.harvester_venv
        if theharvester.installed_version(venv) == theharvester.VERSION:
            return
        # Recorded first: an install cut short (error, Ctrl-C, kill -9) is removed by the next down.
        state.record("tool_venv", str(venv), marker=theharvester.MARKER)
        try:
            theharvester.ensure(venv)
        except (PackageUnavailable, PinError) as exc:
            state.info["theharvester"] = f"unavailable: {exc}"
            state.save()
            shutil.rmtree(venv, ignore_errors=True)

    def _trust_ca_in_tool_venv(self, state: LabState) -> None:
        """theHarvester's bing source verifies with certifi's bundle, not SSL_CERT_FILE: the lab CA is
        appended there, in its own venv only, and certifi's bundle is restored at down."""
        if theharvester.certifi_bundle(self.harvester_venv) is None:
            return
        state.record("venv_ca", str(self.harvester_venv))
        theharvester.trust_ca(self.harvester_venv, self.ca_bundle)

    def purge_cache(self) -> list[str]:
        """Remove the provisioned tools (the Shodan CLI's and theHarvester's venvs, the lab's other caches);
        the offline package cache, which holds the user's downloads, stays."""
        removed: list[str] = []
        packages = cache_dir().resolve()
        root = self.cfg.cache_dir
        if not root.is_dir():
            return removed
        for child in sorted(root.iterdir()):
            if child.resolve() == packages:
                continue
            is_dir = child.is_dir() and not child.is_symlink()
            shutil.rmtree(child) if is_dir else child.unlink()
            removed.append(f"{'dir' if is_dir else 'file'} {child}")
        if not any(root.iterdir()):
            root.rmdir()
            removed.append(f"dir {root}")
        return removed

    # Up ----------------------------------------------------------------------------------------
    def up(self, *, provision: bool = True) -> LabState:
        require_root("harness lab up")
        with lab_lock(self.cfg.name):
            return self._up(provision)

    def _up(self, provision: bool) -> LabState:
        for tool in REQUIRED_TOOLS:
            if shutil.which(tool) is None:
                raise LabError(
                    f"`{tool}` is not installed; run `sudo ./bootstrap.sh setup` or apt-get install "
                    "iproute2 nftables dnsmasq-base openssh-server"
                )
        find_sshd()
        if LabState.load(self.state_dir) is not None or self._leftovers():
            # An earlier run crashed or was not torn down: clean it before building anew.
            self._down()
        check_no_overlap(self.cfg.lab_ranges())
        if provision:
            self.provision()
        started = time.monotonic()
        state = LabState(self.state_dir / "state.json", self.cfg.name)
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        state.record("dir", str(self.state_dir))
        try:
            if provision:
                self._provision_harvester(state)
            self._build(state)
        except BaseException:
            # Never leave half a lab behind, whatever stopped us (error, Ctrl-C).
            with contextlib.suppress(Exception):
                self._down()
            raise
        state.info["up_seconds"] = round(time.monotonic() - started, 3)
        state.save()
        return state

    def _build(self, state: LabState) -> None:
        cfg = self.cfg
        for d in (self.ssh_dir, self.pki_dir, self.log_dir, self.home_dir):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)

        # Directories iproute2 and sshd need: removed again only when this lab created them.
        for d in (NETNS_RUN, NETNS_ETC, Path("/run/sshd")):
            if not d.exists():
                state.record("dir", str(d), only_if_empty=True)

        # Namespaces and links.
        for ns in (cfg.lab_ns, cfg.inet_ns):
            self._add_netns(state, ns)
        state.record("link", self.host_veth)
        _run(["ip", "link", "add", self.host_veth, "type", "veth", "peer", "name", self.lab_veth,
              "netns", cfg.lab_ns])
        _run(["ip", "addr", "add", f"{cfg.host_transit_ip}/{cfg.transit.prefixlen}", "dev", self.host_veth])
        _run(["ip", "link", "set", self.host_veth, "up"])
        _run(_ns(cfg.lab_ns, "ip", "addr", "add", f"{cfg.lab_transit_ip}/{cfg.transit.prefixlen}", "dev",
                 self.lab_veth))
        _run(_ns(cfg.lab_ns, "ip", "link", "set", self.lab_veth, "up"))
        _run(["ip", "link", "add", self.uplink_lab, "netns", cfg.lab_ns, "type", "veth", "peer", "name",
              self.uplink_inet, "netns", cfg.inet_ns])
        _run(_ns(cfg.lab_ns, "ip", "addr", "add", f"{cfg.lab_uplink_ip}/{cfg.uplink.prefixlen}", "dev",
                 self.uplink_lab))
        _run(_ns(cfg.lab_ns, "ip", "link", "set", self.uplink_lab, "up"))
        _run(_ns(cfg.inet_ns, "ip", "addr", "add", f"{cfg.inet_gateway_ip}/{cfg.uplink.prefixlen}", "dev",
                 self.uplink_inet))
        _run(_ns(cfg.inet_ns, "ip", "link", "set", self.uplink_inet, "up"))
        # Lab host: everything not on a link goes to the simulated internet, so the sweep range is
        # routed (nmap -sn sends ICMP, not ARP).
        _run(_ns(cfg.lab_ns, "ip", "route", "add", "default", "via", str(cfg.inet_gateway_ip)))
        # Simulated internet: service addresses and live sweep hosts on its loopback (not every
        # kernel has the dummy link type); it has no default route and does not forward, so dead
        # addresses stay silent.
        self._add_internet_addresses()

        # Host side: blackhole the simulated internet so no host process can leak to the real one,
        # and drop anything the lab starts towards the host (replies to our SSH pass).
        for r in cfg.scope.ranges:
            state.record("route", f"blackhole {r}", dst=str(r))
            _run(["ip", "route", "add", "blackhole", str(r)])
        state.record("nft_table", f"inet {self.guard_table}", family="inet", table=self.guard_table, netns="")
        self._nft(None, f"""
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

        self._start_dns(state)
        self._start_inet(state)
        self._trust_ca_in_tool_venv(state)
        self._start_proxy(state)
        crash_point("lab_up")  # bench/crash_cycles.py: killed with half the lab's daemons running
        self._start_firewall_log(state)
        self._start_audit(state)
        lab_sysmon.setup(state, self.log_dir)
        self._start_sshd(state)
        self._wait_ready()

    def _add_netns(self, state: LabState, ns: str) -> None:
        """A network namespace with loopback up and IPv6 off, recorded (with its inode) first."""
        state.record("netns", ns)
        _run(["ip", "netns", "add", ns])
        state.info.setdefault("netns_inodes", {})[ns] = os.stat(NETNS_RUN / ns).st_ino
        _run(_ns(ns, "ip", "link", "set", "lo", "up"))
        for key in ("all", "default"):
            _run(_ns(ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1"))

    def _add_internet_addresses(self) -> None:
        """The resolver, the services and the live sweep hosts, on the simulated internet's loopback."""
        cfg = self.cfg
        addrs = {str(cfg.dns_server)} | {str(s.ip) for s in cfg.services} | {str(h.ip) for h in cfg.live_hosts}
        for ip in sorted(addrs):
            _run(_ns(cfg.inet_ns, "ip", "addr", "add", f"{ip}/32", "dev", "lo"))

    def _nft(self, ns: str | None, ruleset: str) -> None:
        args = (["ip", "netns", "exec", ns] if ns else []) + ["nft", "-f", "-"]
        proc = subprocess.run(args, input=ruleset, capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise LabError(f"nft failed{' in ' + ns if ns else ''}: {proc.stderr.strip()}")

    def _spawn(self, state: LabState, name: str, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as fh:
            proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
            )
        state.record_process(name, proc.pid)
        return proc

    def _start_dns(self, state: LabState) -> None:
        cfg = self.cfg
        args = [
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--no-poll", "--bind-interfaces", f"--listen-address={cfg.dns_server}", "--except-interface=lo",
            "--user=root", "--group=root", "--pid-file=", "--log-queries=extra",
            f"--log-facility={self.log_dir / 'dnsmasq.log'}",
            # Names not in the lab do not exist; nothing is forwarded anywhere.
            "--address=/#/",
        ]
        for svc in cfg.services:
            args.append(f"--host-record={','.join(svc.hosts)},{svc.ip}")
        for host in cfg.live_hosts:
            args.append(f"--host-record={host.name},{host.ip}")
        self._spawn(state, "dnsmasq", _ns(cfg.inet_ns, *args), self.log_dir / "dnsmasq.stderr")

    def _start_inet(self, state: LabState) -> None:
        from harness.lab import pki

        cfg = self.cfg
        pki.create_lab_pki(self.pki_dir, pki.service_leaf_specs(cfg.services))
        args = [sys.executable, "-m", "harness.lab.inet", "--cert-dir", str(self.pki_dir),
                "--log", str(self.log_dir / "inet.jsonl"), "--bind-all-service-ips"]
        if not cfg.path.startswith("<"):  # "<harness.lab>/..." is the packaged default
            args += ["--config", cfg.path]
        self._spawn(state, "inet", _ns(cfg.inet_ns, *args), self.log_dir / "inet.stderr")

    @property
    def squid_dir(self) -> Path:
        return self.state_dir / "squid"

    @property
    def proxy_credentials_file(self) -> Path:
        return self.ssh_dir / "proxy-credentials"

    def proxy_credentials(self) -> tuple[str, str]:
        """(user, password) of the explicit proxy; the password is a per-lab secret."""
        user, _, password = self.proxy_credentials_file.read_text().strip().partition(":")
        return user, password

    def _start_proxy(self, state: LabState) -> None:
        import pwd
        import secrets

        from harness.lab import services

        cfg, d = self.cfg, self.squid_dir
        if shutil.which("squid") is None or not Path("/usr/lib/squid/security_file_certgen").exists():
            # Debian's plain `squid` is the GnuTLS build: it cannot bump TLS.
            raise LabError("squid with OpenSSL is not installed (Debian: apt-get install squid-openssl; "
                           "the plain `squid` package cannot bump TLS)")
        proxy = pwd.getpwnam("proxy")
        d.mkdir(mode=0o700, exist_ok=True)
        # Squid runs as `proxy`: it may traverse the state dir, but reads only its own directory.
        self.state_dir.chmod(0o711)
        shutil.copy(self.pki_dir / "ca.crt", d / "ca.crt")
        shutil.copy(self.pki_dir / "ca.key", d / "ca.key")
        password = secrets.token_urlsafe(18)
        self.proxy_credentials_file.write_text(f"{services.PROXY_USER}:{password}\n")
        self.proxy_credentials_file.chmod(0o600)
        (d / "passwd").write_text(f"{services.PROXY_USER}:{services.md5_crypt(password)}\n")
        _run(["/usr/lib/squid/security_file_certgen", "-c", "-s", str(d / "ssl_db"), "-M", "4MB"])
        (d / "squid.conf").write_text(services.squid_conf(cfg, d, d / "access.log"))
        (d / "access.log").touch()
        for p in [d, *d.rglob("*")]:
            os.chown(p, proxy.pw_uid, proxy.pw_gid)
        _run(_ns(cfg.inet_ns, "ip", "addr", "add", f"{cfg.telemetry.proxy_ip}/32", "dev", "lo"))
        table = f"{cfg.name}_proxy"
        state.record("nft_table", f"ip {table}", family="ip", table=table, netns=cfg.inet_ns)
        self._nft(cfg.inet_ns, services.squid_intercept_nft(cfg, self.uplink_inet, table))
        self._spawn(state, "squid", _ns(cfg.inet_ns, "squid", "-N", "-f", str(d / "squid.conf")),
                    self.log_dir / "squid.stderr")

    def _start_firewall_log(self, state: LabState) -> None:
        from harness.lab import services

        cfg = self.cfg
        if shutil.which("ulogd") is None:
            raise LabError("ulogd2 is not installed (Debian: apt-get install ulogd2 ulogd2-json)")
        conf = self.log_dir / "ulogd.conf"
        conf.write_text(services.ulogd_conf(cfg, services.find_ulogd_plugins(), self.log_dir / "nflog.jsonl",
                                            self.log_dir / "ulogd.log"))
        (self.log_dir / "nflog.jsonl").touch()
        table = f"{cfg.name}_fw"
        state.record("nft_table", f"inet {table}", family="inet", table=table, netns=cfg.inet_ns)
        self._nft(cfg.inet_ns, services.firewall_nft(cfg, self.uplink_inet, table))
        self._spawn(state, "ulogd", _ns(cfg.inet_ns, "ulogd", "-c", str(conf)), self.log_dir / "ulogd.stderr")

    def _start_audit(self, state: LabState) -> None:
        from harness.telemetry.collectors import auditd

        if shutil.which("auditctl") is None or shutil.which("auditd") is None:
            raise LabError("auditd is not installed (Debian: apt-get install auditd)")
        st = auditd.status()
        state.record("audit_settings", "audit", backlog_limit=st.get("backlog_limit"), enabled=st.get("enabled"))
        if st.get("pid", "0") == "0":
            # auditd runs in the host's namespace and its pid is known only once it has started: record
            # the intent first, so a crash in between still lets `lab down` find it by its pid file.
            state.record("process_starting", "auditd", pidfiles=["/run/auditd.pid", "/var/run/auditd.pid"],
                         not_before=boot_ticks())
            _run(["auditd"])  # daemonizes once it is ready
            pid = _read_pid(Path("/run/auditd.pid")) or _read_pid(Path("/var/run/auditd.pid"))
            if pid is None:
                raise LabError("auditd started but wrote no pid file")
            state.record_process("auditd", pid)
        auditd.set_backlog(auditd.BACKLOG)
        rules = auditd.harness_rules(self.cfg.telemetry.audit_key, self.cfg.telemetry.audit_watch_dirs)
        auditd.install(rules, on_added=lambda r: state.record("audit_rule", str(r), fields=list(r.fields)))

    def audit_log_path(self) -> Path:
        try:
            for line in Path("/etc/audit/auditd.conf").read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "log_file" and value.strip():
                    return Path(value.strip())
        except OSError:
            pass
        return Path("/var/log/audit/audit.log")

    def _start_sshd(self, state: LabState) -> None:
        cfg = self.cfg
        host_key = self.ssh_dir / "host_ed25519"
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rah-lab-host", "-f", str(host_key)])
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rah-harness", "-f", str(self.client_key)])
        (self.ssh_dir / "authorized_keys").write_text(Path(f"{self.client_key}.pub").read_text())
        host_pub = Path(f"{host_key}.pub").read_text().split()
        host_spec = str(cfg.lab_transit_ip) if cfg.ssh_port == 22 else f"[{cfg.lab_transit_ip}]:{cfg.ssh_port}"
        self.known_hosts.write_text(f"{host_spec} {host_pub[0]} {host_pub[1]}\n")
        path_env = f"{self.venv_dir}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        ca = self.ca_bundle
        (self.ssh_dir / "sshd_config").write_text(
            f"""# recon-atomics-harness embedded lab sshd
ListenAddress {cfg.lab_transit_ip}:{cfg.ssh_port}
HostKey {host_key}
PidFile none
AuthorizedKeysFile {self.ssh_dir / 'authorized_keys'}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
UseDNS no
PrintMotd no
PrintLastLog no
StrictModes yes
LogLevel ERROR
Subsystem sftp internal-sftp
SetEnv HOME={self.home_dir} PATH={path_env} CURL_CA_BUNDLE={ca} REQUESTS_CA_BUNDLE={ca} SSL_CERT_FILE={ca}
"""
        )
        # sshd names its PAM service after its program name: a symlink gives the lab its own service.
        bin_dir = self.state_dir / "bin"
        bin_dir.mkdir(exist_ok=True)
        sshd_link = bin_dir / self.pam_service
        sshd_link.symlink_to(find_sshd())
        pam_file = PAM_DIR / self.pam_service
        state.record("file", str(pam_file))
        pam_file.write_text(PAM_STACK)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory (recorded above)
        self._spawn(
            state, "sshd",
            _ns(cfg.lab_ns, str(sshd_link), "-D", "-e", "-f", str(self.ssh_dir / "sshd_config")),
            self.log_dir / "sshd.log",
        )

    #: Services ``_wait_ready`` waits for (a subclass without its own sshd drops it).
    READY_SERVICES: tuple[str, ...] = ("sshd", "dns", "inet", "squid")

    def _ready(self, service: str) -> bool:
        if service == "sshd":
            with contextlib.suppress(OSError), socket.create_connection(
                (str(self.cfg.lab_transit_ip), self.cfg.ssh_port), timeout=0.2
            ) as s:
                return s.recv(4).startswith(b"SSH")
            return False
        if service == "dns":
            log = self.log_dir / "dnsmasq.log"
            return log.exists() and "started" in log.read_text(errors="replace")
        if service == "squid":
            log = self.squid_dir / "cache.log"
            return log.exists() and "Accepting NAT intercepted SSL bumped" in log.read_text(errors="replace")
        if service == "inet":
            log = self.log_dir / "inet.jsonl"
            return log.exists() and log.stat().st_size > 0
        raise LabError(f"no readiness probe for {service}")

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(self.READY_SERVICES)
        while pending and time.monotonic() < deadline:
            pending = {s for s in pending if not self._ready(s)}
            self._check_processes_alive()
            if pending:
                time.sleep(0.05)
        if pending:
            raise LabError(f"lab services not ready after {timeout:.0f}s: {', '.join(sorted(pending))}; "
                           f"see logs in {self.log_dir}")

    def _check_processes_alive(self) -> None:
        state = LabState.load(self.state_dir)
        if state is None:
            return
        for res in state.resources:
            if res.kind == "process" and proc_start_time(int(res.data["pid"])) is None:
                log = {"sshd": "sshd.log", "dnsmasq": "dnsmasq.stderr", "inet": "inet.stderr", "squid": "squid.stderr",
                       "ulogd": "ulogd.stderr"}.get(res.name, "")
                tail = ""
                if log and (self.log_dir / log).exists():
                    tail = (self.log_dir / log).read_text(errors="replace")[-800:]
                raise LabError(f"lab process {res.name} (pid {res.data['pid']}) exited during start-up: {tail}")

    # Sensors and telemetry ---------------------------------------------------------------------
    def sensors(self) -> list[Any]:
        """Ask the lab which sensors are really live now (not what the config says); Sysmon only
        counts when a probe command's event arrives, and is mandatory where the lab installed it."""
        from harness.telemetry.collect import SensorStatus

        ok, why, mandatory = lab_sysmon.status(LabState.load(self.state_dir), self.log_dir / "sysmon.log")
        return [*self._core_sensors("lab"), SensorStatus("sysmon", ok, why, mandatory=mandatory)]

    def _sysmon_recheck(self) -> list[Any]:
        """Sysmon asked again after each detonation (it is mandatory where installed: one that died
        mid-run makes its signals ERROR); auditd's rules are judged per record, as before."""
        from harness.telemetry.collect import SensorStatus

        ok, why, mandatory = lab_sysmon.status(LabState.load(self.state_dir), self.log_dir / "sysmon.log")
        return [SensorStatus("sysmon", ok, why, mandatory=mandatory)]

    def _core_sensors(self, where: str) -> list[Any]:
        """auditd (daemon, enabled, every harness rule live) and the lab's logging daemons, checked now."""
        from harness.telemetry.collect import SensorStatus
        from harness.telemetry.collectors import auditd

        state = LabState.load(self.state_dir)
        alive = set()
        if state is not None:
            for res in state.resources:
                if res.kind == "process" and proc_start_time(int(res.data["pid"])) == res.data.get("start_time"):
                    alive.add(res.name)
        out = []
        try:
            st = auditd.status()
            expected = len(auditd.harness_rules(self.cfg.telemetry.audit_key, self.cfg.telemetry.audit_watch_dirs))
            live = auditd.rules_live(self.cfg.telemetry.audit_key)
            ok = st.get("pid", "0") != "0" and st.get("enabled") in ("1", "2") and live == expected
            why = "" if ok else (f"auditd pid {st.get('pid')}, enabled {st.get('enabled')}, "
                                 f"{live}/{expected} harness rules live")
            out.append(SensorStatus("auditd", ok, why, mandatory=True))
        except HarnessError as exc:
            out.append(SensorStatus("auditd", False, str(exc), mandatory=True))
        for sensor, proc in (("dns", "dnsmasq"), ("proxy", "squid"), ("firewall", "ulogd"), ("inet", "inet")):
            ok = proc in alive
            out.append(SensorStatus(sensor, ok, "" if ok else f"{proc} is not running in the {where}",
                                    mandatory=True))
        return out

    def telemetry_session(self, secrets: list[str], proxy_mode: str = "transparent") -> Any:
        """A TelemetrySession over this lab's logs, with the proxy password as a secret too.

        Through the explicit proxy, Squid resolves the names itself, from the resolver's own address
        (same namespace): its queries are then the detonation's too.
        """
        from harness.telemetry.collect import TelemetrySession
        from harness.telemetry.collectors import auditd
        from harness.telemetry.collectors.files import LogTap
        from harness.views.context import ViewContext

        taps = [
            LogTap("auditd", str(self.audit_log_path()), "auditd"),
            LogTap("dnsmasq", str(self.log_dir / "dnsmasq.log"), "dns"),
            LogTap("squid", str(self.squid_dir / "access.log"), "proxy"),
            LogTap("nflog", str(self.log_dir / "nflog.jsonl"), "firewall"),
            LogTap("inet", str(self.log_dir / "inet.jsonl"), "inet"),
        ]
        sensors = self.sensors()
        if any(s.name == "sysmon" and s.available for s in sensors):
            taps.append(LogTap("sysmon", str(self.log_dir / "sysmon.log"), "sysmon"))
        all_secrets = list(secrets)
        if self.proxy_credentials_file.exists():
            all_secrets.append(self.proxy_credentials()[1])
        return TelemetrySession(
            taps, sensors, ViewContext.from_lab_config(self.cfg), all_secrets,  # type: ignore[arg-type]
            client_addresses=[str(self.cfg.lab_uplink_ip)]
            + ([str(self.cfg.dns_server)] if proxy_mode == "explicit" else []),
            audit_sync=lambda m: auditd.sync_marker(m),
            proxy_addresses=[self.cfg.telemetry.proxy_ip],
            tempdirs=LabState.open(self.state_dir, self.cfg.name),
            recheck=self._sysmon_recheck,
        )

    # Status ------------------------------------------------------------------------------------
    def status(self) -> LabStatus:
        state = LabState.load(self.state_dir)
        if state is None:
            leftovers = self._leftovers()
            return LabStatus(False, tuple(f"leftover without state file: {x}" for x in leftovers), {})
        problems = []
        for res in state.resources:
            if res.kind == "process" and proc_start_time(int(res.data["pid"])) != res.data.get("start_time"):
                problems.append(f"process {res.name} (pid {res.data['pid']}) is not running")
            if res.kind == "netns" and not (NETNS_RUN / res.name).exists():
                problems.append(f"network namespace {res.name} is missing")
        return LabStatus(not problems, tuple(problems), dict(state.info))

    # Down --------------------------------------------------------------------------------------
    def _leftovers(self) -> list[str]:
        """Our named objects that exist although no state file says so (e.g. state dir deleted)."""
        found = []
        for ns in (self.cfg.lab_ns, self.cfg.inet_ns):
            if (NETNS_RUN / ns).exists():
                found.append(f"netns {ns}")
        if Path(f"/sys/class/net/{self.host_veth}").exists():
            found.append(f"link {self.host_veth}")
        if (PAM_DIR / self.pam_service).exists():
            found.append(f"file {PAM_DIR / self.pam_service}")
        if (NETNS_ETC / self.cfg.lab_ns).exists():
            found.append(f"dir {NETNS_ETC / self.cfg.lab_ns}")
        if lab_sysmon.leftover() is not None:
            found.append(f"Sysmon install ({lab_sysmon.MARKER})")
        return found

    def down(self) -> list[str]:
        """Undo everything the lab created; returns what was removed. Safe to call repeatedly."""
        require_root("harness lab down")
        with lab_lock(self.cfg.name):
            return self._down()

    def _down(self) -> list[str]:
        removed: list[str] = []
        errors: list[str] = []
        state = LabState.load(self.state_dir)
        resources = list(state.resources) if state else []
        inodes: dict[str, int] = dict(state.info.get("netns_inodes", {})) if state else {}
        # Leftovers of a run whose state file is gone: our names only.
        for ns in (self.cfg.lab_ns, self.cfg.inet_ns):
            if not any(r.kind == "netns" and r.name == ns for r in resources) and (NETNS_RUN / ns).exists():
                resources.insert(0, _res("netns", ns))
        if not any(r.kind == "link" for r in resources):
            resources.append(_res("link", self.host_veth))
        sysmon_leftover = lab_sysmon.leftover()
        if sysmon_leftover is not None and not any(r.kind == "sysmon_install" for r in resources):
            resources.insert(0, _res("sysmon_install", "sysmon", **sysmon_leftover))  # undone last
        if not any(r.kind == "nft_table" for r in resources):
            resources.append(_res("nft_table", f"inet {self.guard_table}", family="inet", table=self.guard_table))
        for path in (str(PAM_DIR / self.pam_service), str(NETNS_ETC / self.cfg.lab_ns)):
            if not any(r.name == path for r in resources):
                resources.append(_res("file" if "pam" in path else "dir", path))
        if not any(r.kind == "audit_rule" for r in resources) and shutil.which("auditctl"):
            from harness.telemetry.collectors import auditd

            for rule in auditd.harness_rules(self.cfg.telemetry.audit_key, self.cfg.telemetry.audit_watch_dirs):
                resources.append(_res("audit_rule", str(rule), fields=list(rule.fields)))
        for ns in (self.cfg.lab_ns, self.cfg.inet_ns):
            if (NETNS_RUN / ns).exists() and ns not in inodes:
                inodes[ns] = os.stat(NETNS_RUN / ns).st_ino

        # 1. Processes: the ones we started (same pid AND start time), then any process left inside
        #    our namespaces (sessions of our sshd: commands we ran), by pid.
        pids: dict[int, str] = {}
        for res in resources:
            if res.kind == "process":
                pid = int(res.data["pid"])
                if proc_start_time(pid) is not None and proc_start_time(pid) == res.data.get("start_time"):
                    pids[pid] = res.name
            elif res.kind == "process_starting":  # started by us if it started after the intent
                for pidfile in res.data.get("pidfiles", []):
                    pid = _read_pid(Path(pidfile)) or 0
                    started = proc_start_time(pid) if pid else None
                    if started is not None and started >= int(res.data.get("not_before", 0)):
                        pids[pid] = res.name
        for pid in _pids_in_netns(set(inodes.values())):
            pids.setdefault(pid, leftover_label(pid))
        _terminate(pids, removed, errors)
        # A process forked while we were ending the others (a shell starting its next command) was
        # not in the scan: rescan until the namespaces are empty.
        for _ in range(5):
            late = {pid: leftover_label(pid) for pid in _pids_in_netns(set(inodes.values()))}
            if not late:
                break
            _terminate(late, removed, errors)

        # Atomics that detonated but were never cleaned up (the run was killed): their cleanup runs
        # now, on the lab host, once nothing of theirs still runs there.
        if state is not None:
            done, failed = teardown.undo_target_entries(state, self._lab_shell)
            removed += done
            errors += failed

        # 2. Everything else in reverse order of creation.
        for res in reversed(resources):
            if res.kind in teardown.TARGET_KINDS:
                continue
            try:
                msg = self._undo(res)
            except (LabError, OSError) as exc:
                errors.append(str(exc))
                continue
            if msg:
                removed.append(msg)
        if errors:
            raise LabError("lab down could not remove everything:\n  " + "\n  ".join(errors))
        return removed

    def _undo(self, res: Any) -> str | None:
        kind, name = res.kind, res.name
        if kind == "netns":
            if (NETNS_RUN / name).exists():
                _run(["ip", "netns", "del", name])
                return f"netns {name}"
        elif kind == "link":
            if Path(f"/sys/class/net/{name}").exists():
                _run(["ip", "link", "del", name])
                return f"link {name}"
        elif kind == "route":
            dst = res.data["dst"]
            probe = _run(["ip", "route", "show", "type", "blackhole", dst], check=False)
            if probe.stdout.strip():
                _run(["ip", "route", "del", "blackhole", dst])
                return f"route blackhole {dst}"
        elif kind == "nft_table":
            ns = res.data.get("netns") or None
            args = (["ip", "netns", "exec", ns] if ns else []) + ["nft", "list", "table", res.data["family"],
                                                                 res.data["table"]]
            if _run(args, check=False).returncode == 0:
                deleted = _run([*args[:-5], "nft", "delete", "table", res.data["family"], res.data["table"]],
                               check=False)
                if deleted.returncode == 0:
                    return f"nft table {res.data['family']} {res.data['table']}"
                if "No such file" not in deleted.stderr:  # gone meanwhile (its namespace went first)
                    raise LabError(f"nft delete table {res.data['table']} failed: {deleted.stderr.strip()}")
        elif kind == "file":
            p = Path(name)
            if p.exists() or p.is_symlink():
                p.unlink()
                return f"file {name}"
        elif kind == "dir":
            p = Path(name)
            if res.data.get("only_if_empty"):
                if p.is_dir() and not any(p.iterdir()):
                    if _is_mountpoint(p):  # iproute2 bind-mounts /run/netns onto itself
                        _run(["umount", str(p)])
                    p.rmdir()
                    return f"dir {name}"
                return None
            if p.exists():
                shutil.rmtree(p)
                return f"dir {name}"
        elif kind == "process":
            return None  # handled above
        elif kind == "sysmon_install":
            done = lab_sysmon.undo(res.data)
            return f"sysmon: {', '.join(done)}" if done else None
        elif kind == "tool_venv":
            # A cached tool stays (`lab purge` removes it) unless its install never finished.
            p = Path(name)
            if p.exists() and not (p / res.data["marker"]).exists():
                shutil.rmtree(p)
                return f"incomplete tool venv {name}"
        elif kind == "venv_ca":
            if theharvester.untrust_ca(Path(name)):
                return f"certifi bundle of {name} restored (lab CA removed)"
        elif kind == "audit_rule":
            from harness.telemetry.collectors import auditd

            if auditd.remove(auditd.AuditRule(tuple(res.data["fields"]))):
                return f"audit rule {name}"
        elif kind == "audit_settings":
            from harness.telemetry.collectors import auditd

            st = auditd.status()
            done = []
            if res.data.get("backlog_limit") and st.get("backlog_limit") != res.data["backlog_limit"]:
                auditd.set_backlog(int(res.data["backlog_limit"]))
                done.append(f"backlog_limit {res.data['backlog_limit']}")
            prior = res.data.get("enabled")
            if prior in ("0", "1") and st.get("enabled") != prior:
                _run(["auditctl", "-e", prior])
                done.append(f"enabled {prior}")
            return f"audit settings restored ({', '.join(done)})" if done else None
        return teardown.undo(res)  # kinds other modules record (temp dirs, installs, sensors)

    def _lab_shell(self, command: str, shell: str) -> tuple[int, str]:
        """Run ``command`` as the lab user on the lab host (its namespace, or the host's files if gone)."""
        user = [] if self.cfg.lab_user == "root" else ["runuser", "-u", self.cfg.lab_user, "--"]
        args = [*user, shell if shell in ("sh", "bash") else "sh", "-c", command]
        if (NETNS_RUN / self.cfg.lab_ns).exists():
            args = _ns(self.cfg.lab_ns, *args)
        proc = _run(args, check=False, timeout=60)
        return proc.returncode, proc.stdout + proc.stderr


def _res(kind: str, name: str, **data: Any) -> Any:
    from harness.lab.state import Resource

    return Resource(kind, name, dict(data))


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_mountpoint(path: Path) -> bool:
    """True when ``path`` is a mount point, bind mounts of the same file system included."""
    target = str(path)
    try:
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 1 and fields[1] == target:
                return True
    except OSError:
        pass
    return os.path.ismount(path)


def _pids_in_netns(inodes: set[int]) -> list[int]:
    if not inodes:
        return []
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.stat(entry / "ns" / "net").st_ino in inodes:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def leftover_label(pid: int) -> str:
    """How `lab down` names a process it found in a lab namespace (``process <label> (pid N)``)."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        comm = "?"
    return f"{comm} left in a lab namespace"


def _terminate(pids: dict[int, str], removed: list[str], errors: list[str] | None = None) -> None:
    """End ``pids`` and return only once each has exited (Squid takes its time after SIGTERM); a process
    still there after the bounded wait past SIGKILL goes to ``errors`` (raised when none is given)."""
    result = teardown.terminate(pids)
    removed += result.ended
    if errors is not None:
        errors += result.survivors
    elif result.survivors:
        raise LabError("; ".join(result.survivors))
