"""Sysmon for Linux on the embedded lab's host: installed from the offline package cache at ``lab up``,
removed completely at ``lab down``.

Three cases, decided at ``up`` and kept in the state file (``info["sysmon"]["case"]``):

* ``installed``: the cache has the packages of this project's build inputs and the host has no
  Sysmon. The lab mounts tracefs if needed, starts its own /dev/log listener (there is no syslog
  daemon), installs both packages with dpkg, configures Sysmon with ``sysmon-config.xml`` and starts
  its daemon directly (no systemd), the way upstream's unit does. One ``sysmon_install`` resource,
  recorded before any of it, undoes all of it (see :func:`undo`). Sysmon is then mandatory.
* ``host``: the host already has Sysmon (package, /opt/sysmon or a running daemon). The lab neither
  reinstalls nor removes it and leaves its config alone; the sensor is unavailable, because that
  config is not the lab's and its output goes to the host's syslog.
* ``unavailable``: the cache lacks the packages (as on a fresh clone), or /dev/log is taken. The
  sensor is unavailable with the reason; ``lab up`` never starts the build.

Availability is proven, not assumed: :func:`probe` runs a command with a fresh nonce and waits for
Sysmon's ProcessCreate event carrying it in the log.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import LabError
from harness.lab import teardown
from harness.lab.state import LabState, Resource, proc_start_time
from harness.packages import sysmon as packages

CONFIG = Path(__file__).with_name("sysmon-config.xml")
#: Written before the install, outside the lab's state dir: whoever finds it knows the host's Sysmon
#: is the lab's leftover (a state dir deleted after a crash), never the host's own.
MARKER = Path("/run/recon-harness-sysmon.json")
#: Where the lab's /dev/log listener writes Sysmon's events: host-wide like Sysmon itself, so every
#: lab instance reads the same log, and it outlives the instance that installed Sysmon.
SHARED_DIR = Path("/run/recon-harness-sysmon")
DEV_LOG = Path("/dev/log")
SYSMON_BIN = Path("/opt/sysmon/sysmon")
EBPF_INSTALLER = Path("/usr/bin/libsysinternalsEBPFinstaller")
PACKAGES = ("sysmonforlinux", "sysinternalsebpf")  # removal order: sysmon's prerm needs the library
#: Everything the packages, ``sysmon -i`` and the library installer put on the host (globs).
FOOTPRINT = (
    "/opt/sysmon",
    "/opt/sysinternalsEBPF",
    "/usr/lib/libsysinternalsEBPF.so",
    "/usr/lib/*-linux-gnu/libsysinternalsEBPF.so",
    "/usr/include/libsysinternalsEBPF.h",
    "/etc/systemd/system/sysmon.service",
    "/etc/systemd/system/*.wants/sysmon.service",
    "/etc/init.d/sysmon",
    "/etc/rc?.d/[SK]99sysmon",
    "/tmp/sysmon_config.xml",
)
#: tracefs is where the eBPF loader finds tracepoint ids; debugfs is its older place.
MOUNTS = (("tracefs", "/sys/kernel/tracing"), ("debugfs", "/sys/kernel/debug"))
READY_TIMEOUT = 30.0
PROBE_TIMEOUT = 10.0
DPKG_LOCK_WAIT = 300.0


@dataclass(frozen=True)
class SysmonSetup:
    case: str  # installed | host | unavailable
    reason: str = ""


def _run(args: list[str], timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command, its output in a temporary file rather than a pipe: Sysmon's ``-service``
    forks a daemon that inherits stdout, and a pipe would then never reach end-of-file."""
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=timeout, check=False, env=env)
        except subprocess.TimeoutExpired:
            raise LabError(f"{' '.join(args)} did not finish within {timeout:.0f} s") from None
        except OSError as exc:
            raise LabError(f"cannot run {args[0]}: {exc.strerror}") from None
        out.seek(0)
        return subprocess.CompletedProcess(args, proc.returncode, out.read().decode(errors="replace"), "")


def _dpkg(args: list[str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """dpkg, waiting while another dpkg or apt holds its lock (dpkg itself fails at once)."""
    deadline = time.monotonic() + DPKG_LOCK_WAIT
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    while True:
        res = _run(["dpkg", *args], timeout=timeout, env=env)
        if res.returncode == 0 or "lock" not in res.stdout or time.monotonic() > deadline:
            return res
        time.sleep(2)


def dpkg_installed(name: str) -> bool:
    res = _run(["dpkg-query", "-W", "-f=${Status}", name], timeout=30)
    return res.returncode == 0 and "install ok installed" in res.stdout


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def sysmon_pids() -> list[int]:
    """Processes running /opt/sysmon/sysmon (also after its file was deleted)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _exe(int(entry.name)).split(" (deleted)")[0] == str(SYSMON_BIN):
            out.append(int(entry.name))
    return out


def leftover() -> dict[str, Any] | None:
    """The undo data of a lab install whose state file is gone, or None."""
    try:
        data = json.loads(MARKER.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def host_sysmon() -> str:
    """What shows the host has its own Sysmon, or '' when it has none (a lab leftover is not)."""
    if leftover() is not None:
        return ""
    for name in PACKAGES:
        if dpkg_installed(name):
            return f"package {name} is installed"
    if SYSMON_BIN.exists():
        return f"{SYSMON_BIN} exists"
    pids = sysmon_pids()
    return f"a Sysmon daemon runs (pid {pids[0]})" if pids else ""


def footprint() -> list[str]:
    return sorted({p for pattern in FOOTPRINT for p in glob.glob(pattern)})


def _mounted(target: str) -> bool:
    with contextlib.suppress(OSError):
        return any(line.split()[1] == target for line in Path("/proc/self/mounts").read_text().splitlines())
    return False


def is_shared_part(res: Resource) -> bool:
    """An entry of the lab's Sysmon install that another lab instance claims too."""
    return (res.kind == "sysmon_install" or (res.kind == "process" and res.name in ("sysmon", "sysmon-devlog"))
            or (res.kind == "file" and res.name == str(DEV_LOG)) or (res.kind == "dir" and res.name == str(SHARED_DIR)))


def setup(state: LabState, log_dir: Path, claims: Sequence[Resource] = ()) -> SysmonSetup:
    """Install and start Sysmon when the cache has it and the host has none; record the case.

    ``claims``: the entries of another live lab instance's install, claimed instead of installing."""
    found = host_sysmon()
    if any(r.kind == "sysmon_install" for r in claims):
        for res in claims:
            state.record(res.kind, res.name, **res.data)
        result = SysmonSetup("installed", "installed by another lab instance, shared until the last is down")
    elif found:
        result = SysmonSetup("host", f"the host runs its own Sysmon for Linux ({found}): the lab neither "
                                     "reinstalls nor removes it, and its config is not the lab's")
    else:
        debs = packages.find_packages()
        if debs is None:
            result = SysmonSetup("unavailable", packages.missing_reason())
        elif DEV_LOG.exists() or DEV_LOG.is_symlink():
            result = SysmonSetup("unavailable", f"{DEV_LOG} already exists (a syslog daemon?): the lab's "
                                                "listener cannot take it, so Sysmon's events could not be read")
        else:
            _install(state, log_dir, debs)
            result = SysmonSetup("installed")
    state.info["sysmon"] = {"case": result.case, "reason": result.reason}
    state.save()
    return result


def _install(state: LabState, log_dir: Path, debs: packages.SysmonPackages) -> None:
    mounts = [(fs, target) for fs, target in MOUNTS if not _mounted(target)]
    # Recorded before anything changes: the undo removes only what was not there before.
    data = {"preexisting": footprint(), "mounts": [t for _, t in mounts], "packages": list(PACKAGES)}
    state.record("sysmon_install", "sysmon", shared=True, **data)
    MARKER.write_text(json.dumps(data) + "\n")
    for fs, target in mounts:
        res = _run(["mount", "-t", fs, fs, target], timeout=30)
        if res.returncode != 0:
            raise LabError(f"cannot mount {fs} on {target} for Sysmon's eBPF loader: {res.stdout.strip()}")
    if not log_dir.exists():
        state.record("dir", str(log_dir), shared=True)
        log_dir.mkdir(mode=0o700)
    state.record("file", str(DEV_LOG), shared=True)
    log = log_dir / "sysmon.log"
    listener = subprocess.Popen(
        [sys.executable, "-m", "harness.lab.devlog", str(DEV_LOG), str(log), str(log_dir / "syslog-other.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=(log_dir / "devlog.stderr").open("wb"),
        start_new_session=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    state.record("process", "sysmon-devlog", pid=listener.pid, start_time=proc_start_time(listener.pid), shared=True)
    deadline = time.monotonic() + 10
    while not DEV_LOG.exists():
        if listener.poll() is not None or time.monotonic() > deadline:
            raise LabError(f"the /dev/log listener did not start: {(log_dir / 'devlog.stderr').read_text()[-500:]}")
        time.sleep(0.05)
    res = _dpkg(["-i", str(debs.sysinternalsebpf), str(debs.sysmonforlinux)])
    if res.returncode != 0:
        raise LabError(f"dpkg -i of the Sysmon packages failed: {res.stdout.strip()[-800:]}")
    # `sysmon -i` installs /opt/sysmon and the service files, then tries to start the service,
    # which fails without systemd; the daemon is started below as the unit's ExecStart would.
    res = _run(["sysmon", "-accepteula", "-i", str(CONFIG)], timeout=120)
    if not SYSMON_BIN.exists():
        raise LabError(f"sysmon -i did not install {SYSMON_BIN}: {res.stdout.strip()[-800:]}")
    before = set(sysmon_pids())
    # Type=forking: the command returns once its daemon child runs.
    res = _run([str(SYSMON_BIN), "-i", str(SYSMON_BIN.parent / "config.xml"), "-service"], timeout=60)
    daemons = [p for p in sysmon_pids() if p not in before]
    for pid in daemons:
        state.record("process", "sysmon", pid=pid, start_time=proc_start_time(pid), shared=True)
    if not daemons:
        raise LabError(f"the Sysmon daemon did not start: {res.stdout.strip()[-800:]}")
    probe(log, READY_TIMEOUT)


def _running(pid: int, start_time: int | None) -> bool:
    """The process we started is still there and not a zombie (the daemon is not our child, so a
    killed one can linger unreaped)."""
    if proc_start_time(pid) != start_time:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :][:1] not in ("Z", "X")


def probe(log: Path, timeout: float = PROBE_TIMEOUT) -> str:
    """Run a command carrying a fresh nonce; '' once Sysmon logged its ProcessCreate, else why not."""
    nonce = f"recon-sysmon-probe-{secrets.token_hex(6)}"
    start = log.stat().st_size if log.exists() else 0
    subprocess.run(["/bin/sh", "-c", f": {nonce}"], check=False, timeout=10)
    deadline = time.monotonic() + timeout
    needle = nonce.encode()
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), log.open("rb") as fh:
            fh.seek(start)
            if needle in fh.read():
                return ""
        time.sleep(0.1)
    return f"no Sysmon event for a probe command arrived in {log} within {timeout:.0f} s"


def status(state: LabState | None, log: Path) -> tuple[bool, str, bool]:
    """(available, reason, mandatory) of the Sysmon sensor now."""
    info: dict[str, Any] = state.info.get("sysmon", {}) if state is not None else {}
    if info.get("case") != "installed":
        return False, str(info.get("reason") or "the lab is not up"), False
    assert state is not None
    for res in state.resources:
        if (res.kind == "process" and res.name in ("sysmon", "sysmon-devlog")
                and not _running(int(res.data["pid"]), res.data.get("start_time"))):
            return False, f"process {res.name} (pid {res.data['pid']}) is not running", True
    why = probe(log)
    return not why, why, True


def undo(data: dict[str, Any]) -> list[str]:
    """Remove everything :func:`_install` may have made that was not there before.

    Every step runs even when an earlier one failed; the failures are raised together at the end.
    """
    done: list[str] = []
    errors: list[str] = []

    def step(what: str, action: Any) -> None:
        try:
            if action() is not False:
                done.append(what)
        except (LabError, OSError) as exc:
            errors.append(f"{what}: {exc}")

    # Sysmon's own uninstall: stops its output, disables the service, removes /opt/sysmon.
    if SYSMON_BIN.exists():
        step("sysmon -u force", lambda: _run([str(SYSMON_BIN), "-u", "force"], timeout=60))
    for pid in sysmon_pids():  # a daemon left by a crashed `up` before its pid was recorded
        step(f"sysmon daemon pid {pid}", lambda pid=pid: _end(pid))
    installed = [name for name in data.get("packages", PACKAGES) if dpkg_installed(name)]
    # sysmonforlinux first: its prerm runs `sysmon`, which needs the library still in place.
    if "sysmonforlinux" in installed:
        step("package sysmonforlinux", lambda: _purge("sysmonforlinux"))
    if "sysinternalsebpf" in installed and EBPF_INSTALLER.exists():
        # Its Debian prerm tests an RPM-style `$1 = 0` and so never removes what the installer dropped.
        step("libsysinternalsEBPFinstaller -u", lambda: _run([str(EBPF_INSTALLER), "-u"], timeout=60))
    if "sysinternalsebpf" in installed:
        step("package sysinternalsebpf", lambda: _purge("sysinternalsebpf"))
    keep = set(data.get("preexisting", []))
    for path in footprint():
        if path not in keep:
            step(f"file {path}", lambda path=path: _remove(Path(path)))
    step("ldconfig", lambda: _run(["ldconfig"], timeout=60))
    for target in reversed(data.get("mounts", [])):
        if _mounted(target):
            step(f"mount {target}", lambda target=target: _umount(target))
    if errors:
        raise LabError("Sysmon removal incomplete: " + "; ".join(errors))
    if MARKER.exists():
        MARKER.unlink()
    return done


@teardown.undo_handler("sysmon_install")
def _undo_install(res: Resource) -> str | None:
    done = undo(res.data)
    return f"sysmon: {', '.join(done)}" if done else None


def _end(pid: int) -> None:
    start = proc_start_time(pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    for _ in range(60):
        if proc_start_time(pid) != start:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _purge(name: str) -> None:
    res = _dpkg(["--purge", name])
    prerm = Path(f"/var/lib/dpkg/info/{name}.prerm")
    if res.returncode != 0 and prerm.exists():
        # sysmonforlinux's prerm (`sysmon -u`) fails when Sysmon is already half gone (a crashed
        # run): no dpkg --force flag skips a failing prerm, so this package's own prerm is dropped.
        prerm.unlink()
        res = _dpkg(["--purge", name])
    if res.returncode != 0:
        raise LabError(f"dpkg --purge {name} failed: {res.stdout.strip()[-500:]}")


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink()


def _umount(target: str) -> None:
    # debugfs carries an automount of tracefs at debug/tracing: unmount the whole tree.
    res = _run(["umount", "-R", target], timeout=30)
    if res.returncode != 0:
        raise LabError(f"umount {target} failed: {res.stdout.strip()}")
