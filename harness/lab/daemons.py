"""The embedded lab's daemons: the resolver, the simulated internet, Squid, ulogd2, auditd and the lab
host's sshd, each recorded in the state file before it starts; and the wait until they are ready."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from harness.errors import LabError
from harness.lab import auditctl
from harness.lab.instances import shared_claims
from harness.lab.layout import PAM_DIR, LabLayout
from harness.lab.network import apply_nft
from harness.lab.shell import in_netns, read_pid, run_checked
from harness.lab.state import LabState, boot_ticks, proc_start_time

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


def find_sshd() -> str:
    for candidate in ("/usr/sbin/sshd", "/usr/bin/sshd"):
        if Path(candidate).exists():
            return candidate
    found = shutil.which("sshd")
    if not found:
        raise LabError("sshd is not installed (Debian: apt-get install openssh-server)")
    return found


class Daemons(LabLayout):
    """Start the lab's daemons and wait until each answers."""

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
        self._spawn(state, "dnsmasq", in_netns(cfg.inet_ns, *args), self.log_dir / "dnsmasq.stderr")

    def _start_inet(self, state: LabState) -> None:
        from harness.lab import pki

        cfg = self.cfg
        pki.create_lab_pki(self.pki_dir, pki.service_leaf_specs(cfg.services))
        args = [sys.executable, "-m", "harness.lab.inet", "--cert-dir", str(self.pki_dir),
                "--log", str(self.log_dir / "inet.jsonl"), "--bind-all-service-ips"]
        if not cfg.path.startswith("<"):  # "<harness.lab>/..." is the packaged default
            args += ["--config", cfg.path]
        self._spawn(state, "inet", in_netns(cfg.inet_ns, *args), self.log_dir / "inet.stderr")

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
        run_checked(["/usr/lib/squid/security_file_certgen", "-c", "-s", str(d / "ssl_db"), "-M", "4MB"])
        (d / "squid.conf").write_text(services.squid_conf(cfg, d, d / "access.log"))
        (d / "access.log").touch()
        for p in [d, *d.rglob("*")]:
            os.chown(p, proxy.pw_uid, proxy.pw_gid)
        run_checked(in_netns(cfg.inet_ns, "ip", "addr", "add", f"{cfg.telemetry.proxy_ip}/32", "dev", "lo"))
        table = f"{cfg.name}_proxy"
        state.record("nft_table", f"ip {table}", family="ip", table=table, netns=cfg.inet_ns)
        apply_nft(cfg.inet_ns, services.squid_intercept_nft(cfg, self.uplink_inet, table))
        self._spawn(state, "squid", in_netns(cfg.inet_ns, "squid", "-N", "-f", str(d / "squid.conf")),
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
        apply_nft(cfg.inet_ns, services.firewall_nft(cfg, self.uplink_inet, table))
        self._spawn(state, "ulogd", in_netns(cfg.inet_ns, "ulogd", "-c", str(conf)), self.log_dir / "ulogd.stderr")

    def _start_audit(self, state: LabState) -> None:
        if shutil.which("auditctl") is None or shutil.which("auditd") is None:
            raise LabError("auditd is not installed (Debian: apt-get install auditd)")
        rules = auditctl.harness_rules(self.cfg.telemetry.audit_key, self.cfg.telemetry.audit_watch_dirs)
        # auditd is host-wide: when another live lab instance set it up, claim what it recorded (the
        # host's settings as they were before any lab) instead of recording the lab's own as "before".
        claims = shared_claims(self.cfg, lambda r: r.kind in ("audit_settings", "audit_rule")
                               or (r.name == "auditd" and r.kind in ("process", "process_starting")))
        if claims and auditctl.rules_live(self.cfg.telemetry.audit_key) == len(rules):
            for res in claims:
                state.record(res.kind, res.name, **res.data)
            return
        st = auditctl.status()
        state.record("audit_settings", "audit", backlog_limit=st.get("backlog_limit"), enabled=st.get("enabled"),
                     shared=True)
        if st.get("pid", "0") == "0":
            # auditd runs in the host's namespace and its pid is known only once it has started: record
            # the intent first, so a crash in between still lets `lab down` find it by its pid file.
            state.record("process_starting", "auditd", pidfiles=["/run/auditd.pid", "/var/run/auditd.pid"],
                         not_before=boot_ticks(), shared=True)
            run_checked(["auditd"])  # daemonizes once it is ready
            pid = read_pid(Path("/run/auditd.pid")) or read_pid(Path("/var/run/auditd.pid"))
            if pid is None:
                raise LabError("auditd started but wrote no pid file")
            state.record("process", "auditd", pid=pid, start_time=proc_start_time(pid), shared=True)
        auditctl.set_backlog(auditctl.BACKLOG)
        auditctl.install(rules, on_added=lambda r: state.record("audit_rule", str(r), fields=list(r.fields),
                                                                 shared=True))

    def _start_sshd(self, state: LabState) -> None:
        cfg = self.cfg
        host_key = self.ssh_dir / "host_ed25519"
        run_checked(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rah-lab-host", "-f", str(host_key)])
        run_checked(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rah-harness", "-f", str(self.client_key)])
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
            in_netns(cfg.lab_ns, str(sshd_link), "-D", "-e", "-f", str(self.ssh_dir / "sshd_config")),
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

