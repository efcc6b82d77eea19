"""Where the embedded lab keeps things: its names, directories, keys and the URLs that reach it.

The embedded lab's parts (:mod:`~harness.lab.provision`, :mod:`~harness.lab.network`,
:mod:`~harness.lab.daemons`, :mod:`~harness.lab.sensing`, :mod:`~harness.lab.takedown`) all build on
:class:`LabLayout`; :class:`harness.lab.embedded.EmbeddedLab` puts them together.
"""

from __future__ import annotations

from pathlib import Path

from harness.lab.config import LabConfig, load_lab_config
from harness.lab.sysmon import SHARED_DIR as SYSMON_DIR
from harness.packages import theharvester

PAM_DIR = Path("/etc/pam.d")
NETNS_ETC = Path("/etc/netns")
NETNS_RUN = Path("/run/netns")


class LabLayout:
    """The names and paths of one embedded lab, derived from its LabConfig."""

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
    def sysmon_log(self) -> Path:
        """Sysmon's events as the lab's /dev/log listener writes them (host-wide, see lab.sysmon)."""
        return SYSMON_DIR / "sysmon.log"

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


    def audit_log_path(self) -> Path:
        try:
            for line in Path("/etc/audit/auditd.conf").read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "log_file" and value.strip():
                    return Path(value.strip())
        except OSError:
            pass
        return Path("/var/log/audit/audit.log")

