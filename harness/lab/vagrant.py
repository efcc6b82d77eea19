"""The Vagrant lab: a libvirt VM (Debian 12, box built locally) on an isolated network.

``VagrantLab.up`` starts virtlogd/libvirtd when they are not running (and records that it did),
makes sure the locally built box is in Vagrant (``vagrant/build-box.sh``), creates the isolated
libvirt network (no ``<forward>``: no NAT, no routing; no DNS forwarding) after checking its range
against the host's addresses and routes, and runs ``vagrant up``, whose provisioning makes the VM a
detection lab (``vagrant/provision.sh`` and :mod:`harness.lab.vm_internet` inside the VM).

``VagrantLab.down`` removes the domain, its volumes, the network, the pool copies of the box image
and the daemons it started. It never removes the cached box (the lab config's ``vagrant.cache_dir``).

Telemetry is read from the VM over SSH (:class:`harness.lab.vagrant_target.VagrantTarget`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from harness.collection import CollectionPlan, Sensor, SensorStatus, Shell
from harness.errors import HarnessError, LabError
from harness.lab import auditctl
from harness.lab.config import LabConfig, VagrantConfig, load_lab_config, vagrant_env
from harness.lab.plan import LabLogs, lab_plan
from harness.lab.registry import LabStatus
from harness.lab.shell import sigterm_as_interrupt
from harness.lab.state import LabState, ledger_root, proc_start_time, target_key
from harness.lab.vagrant_paths import GUEST_SYSMON_LOG

if TYPE_CHECKING:
    from harness.lab.vagrant_target import VagrantTarget

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The box vagrant/build-box.sh builds locally.
BOX_NAME = "recon-harness/debian12-lab"
DOMAIN_PREFIX = "recon-harness-"  # lv.default_prefix: domain recon-harness-default
NET_BRIDGE = "rah-vbr0"
POOL = "default"
#: Where libvirt logs the VM's serial port (the VM's host key for vagrant:// targets): the lab config's
#: ``vagrant.serial_log`` (or RECON_HARNESS_SERIAL_LOG), for code that has no lab config at hand.
SERIAL_LOG = load_lab_config().vagrant.serial_log
STATE_DIR = Path("/run/recon-harness-vagrant")  # not under the embedded lab's state dir, which its down removes
DEFAULT_NET_AUTOSTART = Path("/etc/libvirt/qemu/networks/autostart/default.xml")
LIBVIRT_URI = "qemu:///system"

# Inside the VM (written by vagrant/provision.sh and harness.lab.vm_internet).
GUEST_STATE_DIR = "/run/recon-harness"
GUEST_SRC = "/opt/recon-harness/src"  # where vagrant/provision.sh (SRC=) unpacks the harness in the VM

# The two daemons vagrant-libvirt needs; started with -d when not running (no systemd here).
DAEMONS = (("virtlogd", Path("/run/virtlogd.pid")), ("libvirtd", Path("/run/libvirtd.pid")))


def _run(args: Sequence[str], *, check: bool = True, timeout: float = 60, cwd: Path | None = None,
         env: dict[str, str] | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env,
                              input=input)
    except (OSError, subprocess.SubprocessError) as exc:
        raise LabError(f"`{' '.join(args)}` could not run: {exc}") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip())[-2000:]
        raise LabError(f"`{' '.join(args)}` failed (rc={proc.returncode}): {detail}")
    return proc


def virsh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run(["virsh", "-q", "-c", LIBVIRT_URI, *args], check=check)


def network_xml(name: str, address: ipaddress.IPv4Network) -> str:
    """An isolated network: no <forward> element (no NAT, no routing), DHCP only, DNS disabled
    (libvirt's dnsmasq would otherwise forward the VM's queries to the host's resolvers).

    Leases never expire: `vagrant ssh-config` finds the VM's address in libvirt's lease table, and a
    guest reverted to a snapshot (harness.lab.vagrant_snapshot) does not renew a lease its restored
    memory believes fresh. With the default hour, every vagrant:// connection failed ("not yet ready
    for SSH") once the lease ran out an hour after boot, half-way through an ART run (found live)."""
    gw = address.network_address + 1
    first, last = address.network_address + 10, address.network_address + 99
    return (
        f"<network>\n  <name>{name}</name>\n  <bridge name='{NET_BRIDGE}' stp='off' delay='0'/>\n"
        f"  <dns enable='no'/>\n"
        f"  <ip address='{gw}' netmask='{address.netmask}'>\n"
        f"    <dhcp><range start='{first}' end='{last}'><lease expiry='0'/></range></dhcp>\n  </ip>\n</network>\n"
    )


def check_isolated(xml: str) -> list[str]:
    """Why a network definition is NOT isolated (empty when it is)."""
    problems = []
    if re.search(r"<forward\b", xml):
        problems.append("it has a <forward> element (NAT or routing to the host's networks)")
    if not re.search(r"<dns enable=['\"]no['\"]", xml):
        problems.append("its DNS is enabled (libvirt's dnsmasq would forward queries to the host's resolvers)")
    return problems


class VagrantLab:
    """Bring the lab VM up, report on it, and remove everything it made (except the cached box)."""

    #: A run session never builds the VM (``harness lab up --lab vagrant`` does): it reads its telemetry.
    BUILT_BY_SESSION: ClassVar[bool] = False

    def __init__(self, config: LabConfig | None = None, *, machine: str = "default", cwd: Path | None = None,
                 target: VagrantTarget | None = None) -> None:
        self.cfg = config or load_lab_config()
        self.vc: VagrantConfig = self.cfg.vagrant
        self.machine = machine
        self.cwd = cwd or REPO_ROOT
        self.state_dir = STATE_DIR
        self.target = target  # the connection a run session already has to the VM, if any

    # What a run session needs of a lab (the same names as EmbeddedLab's).
    @classmethod
    def for_session(cls, config: LabConfig, target: Shell | None = None) -> VagrantLab:
        """The lab behind a session's ``vagrant://`` target, over the connection the session has."""
        from harness.lab.vagrant_target import VagrantTarget

        if not isinstance(target, VagrantTarget):
            raise LabError(f"the Vagrant lab is reached through a vagrant:// target, not {target!r}")
        return cls(config, machine=target.machine, cwd=target.cwd, target=target)

    def ledger(self) -> LabState | None:
        """None: a run's leftovers on the VM go to the target's own ledger (``harness target cleanup``)."""
        return None

    @property
    def home_dir(self) -> Path:
        """Per-detonation scratch files, on the VM (removed with the simulated internet's state)."""
        return Path(GUEST_STATE_DIR) / "home"

    def _target(self, target: VagrantTarget | None) -> VagrantTarget:
        if target is not None:
            return target
        if self.target is None:
            from harness.lab.vagrant_target import VagrantTarget

            self.target = VagrantTarget.for_machine(self.machine, self.cwd)
        return self.target

    def proxy_credentials(self, target: VagrantTarget | None = None) -> tuple[str, str]:
        """(user, password) of the VM's explicit proxy; the password is a per-lab secret."""
        res = self._target(target).run(f"cat {GUEST_STATE_DIR}/ssh/proxy-credentials", timeout=30)
        if res.rc != 0 or ":" not in res.stdout:
            raise LabError(f"the VM has no proxy credentials (is its simulated internet up?): {res.stderr.strip()}")
        user, _, password = res.stdout.strip().partition(":")
        return user, password

    def target_url(self) -> str:
        return f"vagrant://{self.machine}" + ("" if self.cwd == REPO_ROOT else f"?cwd={self.cwd}")

    # Host services ---------------------------------------------------------------------------
    def _state(self) -> LabState:
        return LabState.load(self.state_dir) or LabState(self.state_dir / "state.json", "vagrant")

    @staticmethod
    def _daemon_pid(pidfile: Path) -> int | None:
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if proc_start_time(pid) is not None else None

    def ensure_libvirt(self) -> None:
        """Start virtlogd and libvirtd when not running; never start libvirt's `default` network."""
        for tool in ("virsh", "libvirtd", "virtlogd", "vagrant", "qemu-system-x86_64"):
            if shutil.which(tool) is None:
                raise LabError(f"`{tool}` is not installed (Debian: apt-get install vagrant vagrant-libvirt "
                               "libvirt-daemon-system qemu-system-x86 qemu-utils)")
        state = self._state()
        if DEFAULT_NET_AUTOSTART.exists() or DEFAULT_NET_AUTOSTART.is_symlink():
            # libvirtd would start the NAT network 192.168.122.0/24 on start-up: keep it stopped.
            state.record("autostart_moved", str(DEFAULT_NET_AUTOSTART), target=os.readlink(DEFAULT_NET_AUTOSTART)
                         if DEFAULT_NET_AUTOSTART.is_symlink() else "")
            DEFAULT_NET_AUTOSTART.unlink()
        for name, pidfile in DAEMONS:
            if self._daemon_pid(pidfile) is not None:
                continue
            _run([name, "-d"], timeout=30)
            deadline = time.monotonic() + 15
            pid = self._daemon_pid(pidfile)
            while pid is None and time.monotonic() < deadline:
                time.sleep(0.1)
                pid = self._daemon_pid(pidfile)
            if pid is None:
                raise LabError(f"{name} -d started but {pidfile} names no running process")
            state.record_process(name, pid)
        deadline = time.monotonic() + 20
        while virsh("version", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise LabError("libvirtd does not answer on qemu:///system")
            time.sleep(0.2)
        if virsh("pool-info", POOL, check=False).returncode != 0 and not any(
            r.kind == "libvirt_pool" for r in state.resources
        ):
            state.record("libvirt_pool", POOL)  # vagrant-libvirt will define it: remove it at down

    def ensure_network(self) -> None:
        """Create and start the isolated network (range checked against the host first)."""
        from harness.lab.safety import check_no_overlap

        if virsh("net-info", self.vc.net_name, check=False).returncode == 0:
            xml = virsh("net-dumpxml", self.vc.net_name).stdout
            problems = check_isolated(xml)
            if problems:
                raise LabError(f"libvirt network {self.vc.net_name} exists but is not isolated: {'; '.join(problems)}")
        else:
            check_no_overlap([self.vc.net_address])
            state = self._state()
            state.record("libvirt_network", self.vc.net_name)
            path = self.state_dir / "network.xml"
            path.write_text(network_xml(self.vc.net_name, self.vc.net_address))
            virsh("net-define", str(path))
        info = virsh("net-info", self.vc.net_name).stdout
        if re.search(r"Active:\s+no", info):
            virsh("net-start", self.vc.net_name)
        problems = check_isolated(virsh("net-dumpxml", self.vc.net_name).stdout)
        if problems:  # checked on what libvirt really runs, not on what we asked for
            raise LabError(f"libvirt network {self.vc.net_name} is not isolated: {'; '.join(problems)}")

    def remove_network(self) -> str | None:
        if shutil.which("virsh") is None or virsh("net-info", self.vc.net_name, check=False).returncode != 0:
            return None
        virsh("net-destroy", self.vc.net_name, check=False)
        virsh("net-undefine", self.vc.net_name)
        return f"libvirt network {self.vc.net_name}"

    def box_present(self) -> bool:
        proc = _run(["vagrant", "box", "list"], env=vagrant_env(self.vc), check=False)
        return any(line.split()[:1] == [BOX_NAME] for line in proc.stdout.splitlines())

    def build_box(self) -> None:
        script = REPO_ROOT / "vagrant" / "build-box.sh"
        proc = subprocess.run(["bash", str(script)], env=vagrant_env(self.vc), timeout=1800, stdout=sys.stderr)
        if proc.returncode != 0:
            raise LabError(f"{script} failed (rc={proc.returncode})")

    # Lifecycle -----------------------------------------------------------------------------------
    def up(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            raise LabError("`harness lab up --lab vagrant` needs root (libvirt's system daemon, loop devices "
                           "for the box build)")
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        t0 = time.monotonic()
        # SIGTERM (a CI timeout, `kill`) as Ctrl-C: `vagrant up` is killed and the lab undone below,
        # instead of the harness dying and `vagrant up` running on without it.
        with sigterm_as_interrupt():
            return self._up(t0)

    def _up(self, t0: float) -> dict[str, Any]:
        try:
            self.ensure_libvirt()
            if self.vc.box == BOX_NAME and not self.box_present():
                self.build_box()
            t_box = time.monotonic()
            self.ensure_network()
            # Vagrant's progress goes to stderr: stdout stays for the command's own (JSON) result.
            proc = subprocess.run(["vagrant", "up", self.machine, "--provider", "libvirt"], cwd=self.cwd,
                                  env=vagrant_env(self.vc), timeout=1800, stdout=sys.stderr)
            if proc.returncode != 0:
                raise LabError(f"`vagrant up {self.machine}` failed (rc={proc.returncode}); see its output above")
        except BaseException:
            with contextlib.suppress(Exception):
                self.down()
            raise
        t_up = time.monotonic()
        from harness.lab.vagrant_target import keep_host_key

        keep_host_key(self.vc.serial_log)  # a snapshot revert loses it from the serial log
        return {"target": self.target_url(), "box_seconds": round(t_box - t0, 1),
                "vagrant_up_seconds": round(t_up - t_box, 1), "total_seconds": round(t_up - t0, 1)}

    def up_report(self) -> tuple[dict[str, Any], str]:
        """Bring the VM up; what ``harness lab up --lab vagrant`` prints (JSON, text)."""
        out = self.up()
        return out, (f"lab VM is up: box {out['box_seconds']}s, vagrant up {out['vagrant_up_seconds']}s "
                     f"(target {out['target']})")

    def purge(self) -> list[str]:
        """``down``, then the cached box too."""
        removed = self.down()
        if self.vc.cache_dir.exists():
            shutil.rmtree(self.vc.cache_dir)
            removed.append(f"dir {self.vc.cache_dir} (the cached box)")
        return removed

    def status_line(self, status: LabStatus) -> str:
        return f"vagrant lab: {'up' if status.up else 'down'} ({status.info.get('target')})"

    def domains(self) -> list[str]:
        if virsh("version", check=False).returncode != 0:
            return []
        out = virsh("list", "--all", "--name", check=False).stdout
        return [d.strip() for d in out.splitlines() if d.strip().startswith(DOMAIN_PREFIX)]

    def pool_volumes(self) -> list[str]:
        """Our volumes in the pool: the VM's disks and the pool copies of our box image."""
        if virsh("pool-info", POOL, check=False).returncode != 0:
            return []
        vols = []
        box_prefix = BOX_NAME.replace("/", "-VAGRANTSLASH-")
        for line in virsh("vol-list", POOL, check=False).stdout.splitlines():
            name = line.split()[0] if line.split() else ""
            if name.startswith(DOMAIN_PREFIX) or name.startswith(box_prefix):
                vols.append(name)
        return vols

    def status(self) -> LabStatus:
        problems: list[str] = []
        info: dict[str, Any] = {"target": self.target_url()}
        if virsh("version", check=False).returncode != 0:
            return LabStatus(False, ("libvirtd is not running",), info)
        domains = self.domains()
        info["domains"] = domains
        running = virsh("list", "--name", check=False).stdout.split()
        if not any(d in running for d in domains):
            problems.append("the lab VM is not running")
        if virsh("net-info", self.vc.net_name, check=False).returncode != 0:
            problems.append(f"libvirt network {self.vc.net_name} is missing")
        else:
            xml = virsh("net-dumpxml", self.vc.net_name).stdout
            problems += [f"network {self.vc.net_name}: {p}" for p in check_isolated(xml)]
        if not problems:
            try:
                from harness.lab.vagrant_target import VagrantTarget

                target = VagrantTarget.for_machine(self.machine, self.cwd)
                try:
                    res = target.run(f"python3 -m harness.lab.vm_internet status --state-dir {GUEST_STATE_DIR}",
                                     timeout=60, env={"PYTHONPATH": GUEST_SRC})
                finally:
                    target.close()
                info["vm_internet"] = res.stdout.strip()
                if res.rc != 0:
                    problems.append(f"simulated internet in the VM: {res.stdout.strip() or res.stderr.strip()}")
            except HarnessError as exc:
                problems.append(f"cannot reach the VM over SSH: {exc}")
        return LabStatus(not problems, tuple(problems), info)

    def down(self) -> list[str]:
        """Remove the VM, its volumes and the pool copies of the box image, the network and the
        daemons this lab started. Safe to call repeatedly; the cached box stays."""
        removed: list[str] = []
        errors: list[str] = []
        state = LabState.load(self.state_dir)
        libvirt_up = shutil.which("virsh") is not None and virsh("version", check=False).returncode == 0
        if libvirt_up:
            destroy_failed = ""
            for dom in self.domains():
                # Snapshots an ART run took (harness.lab.vagrant_snapshot): a domain that has any
                # cannot be undefined, whether by vagrant destroy or virsh.
                for snap in virsh("snapshot-list", dom, "--name", check=False).stdout.split():
                    proc = virsh("snapshot-delete", dom, snap, check=False)
                    (removed if proc.returncode == 0 else errors).append(f"snapshot {dom}/{snap}")
            if (self.cwd / ".vagrant" / "machines" / self.machine).exists():
                proc = _run(["vagrant", "destroy", "-f", self.machine], cwd=self.cwd, env=vagrant_env(self.vc),
                            check=False, timeout=600)
                if proc.returncode == 0:
                    removed.append(f"vagrant machine {self.machine}")
                else:
                    # A `vagrant up` killed while it created the domain leaves Vagrant's own state
                    # behind the domain ("Name ... is already taken"): virsh below removes it.
                    destroy_failed = proc.stderr.strip()[-300:] or proc.stdout.strip()[-300:]
            for dom in self.domains():  # whatever vagrant did not remove (crashed run, lost .vagrant/)
                virsh("destroy", dom, check=False)
                proc = virsh("undefine", dom, "--remove-all-storage", "--nvram", "--snapshots-metadata", check=False)
                if proc.returncode != 0:
                    proc = virsh("undefine", dom, "--remove-all-storage", "--snapshots-metadata", check=False)
                (removed if proc.returncode == 0 else errors).append(f"domain {dom}")
            for vol in self.pool_volumes():
                proc = virsh("vol-delete", vol, "--pool", POOL, check=False)
                (removed if proc.returncode == 0 else errors).append(f"volume {POOL}/{vol}")
            if destroy_failed:
                if self.domains():
                    errors.append(f"vagrant destroy: {destroy_failed}")
                else:
                    removed.append(f"vagrant machine {self.machine} (vagrant destroy failed: {destroy_failed}; "
                                   "removed with virsh)")
            try:
                msg = self.remove_network()
                if msg:
                    removed.append(msg)
            except LabError as exc:
                errors.append(str(exc))
            # vagrant-libvirt defines the `default` pool when it is missing: ours to remove then.
            ours = state is not None and any(r.kind == "libvirt_pool" for r in state.resources)
            if ours and virsh("pool-info", POOL, check=False).returncode == 0:
                if virsh("vol-list", POOL, check=False).stdout.strip():
                    errors.append(f"storage pool {POOL} still holds volumes; left in place")
                else:
                    virsh("pool-destroy", POOL, check=False)
                    proc = virsh("pool-undefine", POOL, check=False)
                    (removed if proc.returncode == 0 else errors).append(f"storage pool {POOL}")
        # The serial log and libvirt's per-domain logs of our domains.
        for log in [self.vc.serial_log, *self.vc.serial_log.parent.glob(f"{DOMAIN_PREFIX}*.log")]:
            if log.exists():
                log.unlink()
                removed.append(f"file {log}")
        removed += self._forget_target_ledger(errors)
        if state is not None:
            for res in reversed(state.resources):
                if res.kind == "process":
                    pid, start = int(res.data["pid"]), res.data.get("start_time")
                    if proc_start_time(pid) is not None and proc_start_time(pid) == start:
                        _stop(pid, start)
                        removed.append(f"process {res.name} (pid {pid})")
                elif res.kind == "autostart_moved" and res.data.get("target"):
                    with contextlib.suppress(FileExistsError):
                        os.symlink(res.data["target"], res.name)
                        removed.append(f"restored {res.name}")
            shutil.rmtree(self.state_dir, ignore_errors=True)
        if errors:
            raise LabError("vagrant lab down could not remove everything:\n  " + "\n  ".join(errors))
        return removed

    def _forget_target_ledger(self, errors: list[str]) -> list[str]:
        """What a killed run against vagrant://MACHINE recorded in that target's ledger: the host-side
        entries (inspector temp dirs) are undone; the ones inside the VM (pending atomic cleanups,
        scratch dirs) went with the destroyed VM and are forgotten."""
        from harness.lab import teardown

        ledger = LabState.load(ledger_root() / "targets" / target_key(f"vagrant://{self.machine}"))
        if ledger is None:
            return []
        ledger.remove_when_empty = True
        done: list[str] = []
        for res in reversed(list(ledger.resources)):
            if res.kind in teardown.TARGET_KINDS:
                ledger.discard(res)
                done.append(f"{res.kind} {res.name}: in the destroyed VM")
                continue
            try:
                msg = teardown.undo(res)
            except OSError as exc:
                errors.append(f"{res.kind} {res.name}: {exc}")
                continue
            ledger.discard(res)
            if msg:
                done.append(msg)
        return done

    # Telemetry ----------------------------------------------------------------------------------
    def sensors(self, target: VagrantTarget | None = None) -> list[SensorStatus]:
        """What the VM really has live now: asked inside the VM, not taken from the config."""
        import json

        res = self._target(target).run(f"python3 -m harness.lab.vm_internet sensors --state-dir {GUEST_STATE_DIR}",
                         timeout=60, env={"PYTHONPATH": GUEST_SRC})
        try:
            rows = json.loads(res.stdout)
        except ValueError:
            reason = f"cannot ask the VM for its sensors (rc={res.rc}): {(res.stderr or res.stdout).strip()[-300:]}"
            return [SensorStatus(n, False, reason, mandatory=n != Sensor.SYSMON)
                    for n in Sensor]
        return [SensorStatus(str(r["name"]), bool(r["available"]), str(r["reason"]), bool(r["mandatory"]))
                for r in rows]

    def collection(self, secrets: list[str], proxy_mode: str = "transparent",
                   target: VagrantTarget | None = None) -> CollectionPlan:
        """What the telemetry layer collects from the VM: its logs, read over SSH, and its live sensors."""
        target = self._target(target)
        all_secrets = list(secrets)
        with contextlib.suppress(LabError):
            all_secrets.append(self.proxy_credentials(target)[1])

        def remote(args: Sequence[str]) -> tuple[int, str]:
            import shlex

            r = target.run(" ".join(shlex.quote(a) for a in args), timeout=30)
            return r.rc, r.stdout + r.stderr

        logs = LabLogs(audit="/var/log/audit/audit.log", dns=f"{GUEST_STATE_DIR}/logs/dnsmasq.log",
                       proxy=f"{GUEST_STATE_DIR}/squid/access.log", firewall=f"{GUEST_STATE_DIR}/logs/nflog.jsonl",
                       inet=f"{GUEST_STATE_DIR}/logs/inet.jsonl", sysmon=GUEST_SYSMON_LOG)
        return lab_plan(self.cfg, logs, self.sensors(target), all_secrets, proxy_mode, shell=target,
                        audit_sync=lambda m: auditctl.sync_marker(m, run=remote))


def _stop(pid: int, start: Any) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc_start_time(pid) == start:
        time.sleep(0.1)
    if proc_start_time(pid) == start:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m harness.lab.vagrant network-up|network-down``: used by the Vagrantfile's triggers,
    so a plain ``vagrant up`` gets the same isolated network as ``harness lab up --lab vagrant``."""
    args = list(sys.argv[1:] if argv is None else argv)
    lab = VagrantLab()
    try:
        if args[:1] == ["network-up"]:
            lab.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            lab.ensure_libvirt()
            lab.ensure_network()
            print(f"recon-harness: isolated libvirt network {lab.vc.net_name} ({lab.vc.net_address}) is up")
        elif args[:1] == ["network-down"]:
            msg = lab.remove_network()
            print(f"recon-harness: removed {msg}" if msg else "recon-harness: no network to remove")
            if lab.vc.serial_log.exists():  # the destroyed VM's host key must never be pinned for the next one
                lab.vc.serial_log.unlink()
        else:
            print("usage: python -m harness.lab.vagrant network-up|network-down", file=sys.stderr)
            return 2
    except HarnessError as exc:
        print(f"recon-harness: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
