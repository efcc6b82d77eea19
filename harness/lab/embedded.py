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
import shutil
import time
from typing import Any, ClassVar

from harness.collection import CollectionPlan, Shell
from harness.crashpoint import crash_point
from harness.errors import LabError
from harness.lab import auditctl
from harness.lab import sysmon as lab_sysmon
from harness.lab.config import LabConfig
from harness.lab.daemons import Daemons, find_sshd
from harness.lab.instances import HOST_LOCK, INSTANCES_DIR, held_blackholes, settle_slot, shared_claims
from harness.lab.layout import NETNS_ETC, NETNS_RUN, PAM_DIR
from harness.lab.lock import lab_lock
from harness.lab.network import Network
from harness.lab.plan import LabLogs, lab_plan
from harness.lab.provision import SHODAN_CLI_VERSION, Provisioning
from harness.lab.registry import LabStatus
from harness.lab.safety import check_no_overlap
from harness.lab.sensing import Sensing
from harness.lab.shell import in_netns, require_root, run_checked
from harness.lab.state import LabState
from harness.lab.takedown import Takedown

__all__ = ["NETNS_ETC", "NETNS_RUN", "PAM_DIR", "REQUIRED_TOOLS", "SHODAN_CLI_VERSION", "EmbeddedLab", "LabStatus",
           "find_sshd", "in_netns", "require_root", "run_checked"]

REQUIRED_TOOLS = ("ip", "nft", "dnsmasq", "ssh-keygen")


class EmbeddedLab(Provisioning, Network, Daemons, Sensing, Takedown):
    """Create, probe and destroy the embedded lab described by a LabConfig.

    Its parts live in their own modules: provisioning, network, daemons, sensing, takedown."""

    #: A run session builds this lab when it is down, and removes it after (``--keep-lab`` keeps it).
    BUILT_BY_SESSION: ClassVar[bool] = True

    @classmethod
    def for_session(cls, config: LabConfig, target: Shell | None = None) -> EmbeddedLab:
        return cls(config)

    def ledger(self) -> LabState | None:
        """The state file a run's leftovers go to: the lab's own (``lab down`` undoes them)."""
        return LabState.open(self.state_dir, self.cfg.name)

    # Up ----------------------------------------------------------------------------------------
    def up(self, *, provision: bool = True) -> LabState:
        require_root("harness lab up")
        # The host lock: one lab instance at a time decides about host-wide things (claims).
        with lab_lock(self.cfg.name), lab_lock(HOST_LOCK):
            self.cfg = settle_slot(self.cfg)  # the slot is final under the host lock
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
        check_no_overlap(self.cfg.lab_ranges(), ignore_blackholes=held_blackholes(self.cfg))
        if provision:
            self.provision()
        started = time.monotonic()
        state = LabState(self.state_dir / "state.json", self.cfg.name)
        if self.cfg.instance_of is not None:  # how netns://NAME finds this instance's addresses again
            state.info["slot"] = self.cfg.instance_of.slot
            # every instance claims the parent: the last one down (it is empty then) removes it
            state.record("dir", str(INSTANCES_DIR), only_if_empty=True)
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
        for d in (self.ssh_dir, self.pki_dir, self.log_dir, self.home_dir):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._build_network(state)
        self._start_dns(state)
        self._start_inet(state)
        self._trust_ca_in_tool_venv(state)
        self._start_proxy(state)
        crash_point("lab_up")  # bench/crash_cycles.py: killed with half the lab's daemons running
        self._start_firewall_log(state)
        self._start_audit(state)
        lab_sysmon.setup(state, lab_sysmon.SHARED_DIR, shared_claims(self.cfg, lab_sysmon.is_shared_part))
        self._start_sshd(state)
        self._wait_ready()

    # Telemetry ---------------------------------------------------------------------------------
    def collection(self, secrets: list[str], proxy_mode: str = "transparent") -> CollectionPlan:
        """What the telemetry layer collects from this lab: its logs, live sensors, and the proxy
        password as a secret too."""
        all_secrets = list(secrets)
        if self.proxy_credentials_file.exists():
            all_secrets.append(self.proxy_credentials()[1])
        logs = LabLogs(audit=str(self.audit_log_path()), dns=str(self.log_dir / "dnsmasq.log"),
                       proxy=str(self.squid_dir / "access.log"), firewall=str(self.log_dir / "nflog.jsonl"),
                       inet=str(self.log_dir / "inet.jsonl"), sysmon=str(self.sysmon_log))
        return lab_plan(self.cfg, logs, self.sensors(), all_secrets, proxy_mode, audit_sync=auditctl.sync_marker,
                        tempdirs=LabState.open(self.state_dir, self.cfg.name), recheck=self._sysmon_recheck)

    # harness lab up|down|status|purge ---------------------------------------------------------
    def up_report(self) -> tuple[dict[str, Any], str]:
        """Bring the lab up; what ``harness lab up`` prints (JSON, text)."""
        t0 = time.monotonic()
        state = self.up()
        out = {"lab": self.cfg.name, "target": self.target_url(), "ssh": self.ssh_url(),
               "up_seconds": state.info.get("up_seconds"), "total_seconds": round(time.monotonic() - t0, 3)}
        return out, f"lab {self.cfg.name} is up in {out['up_seconds']}s (target {out['target']}, {out['ssh']})"

    def purge(self) -> list[str]:
        """``down``, then the provisioned tools (the offline package cache stays)."""
        removed = self.down()
        require_root("harness lab purge")
        return removed + self.purge_cache()

    def status_line(self, status: LabStatus) -> str:
        return f"lab {self.cfg.name}: {'up' if status.up else 'down'}"
