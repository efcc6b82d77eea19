"""Fixtures shared across test packages."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.lab.state import proc_start_time
from harness.telemetry.parsers import open_lines

REPO = Path(__file__).resolve().parents[1]
_BASETEMP = pytest.StashKey[Path]()


BASETEMP_PREFIX = "pytest-recon-harness-"
_OWNER = ".owner"  # "PID START_TIME" of the pytest process that made the directory


def sweep_stale_basetemps(parent: Path) -> list[Path]:
    """Remove the session directories of pytest processes that are gone: a session killed with
    SIGKILL never reaches pytest_unconfigure. A directory without an owner file is left alone (a
    session that has not written it yet, or not one of ours)."""
    removed = []
    for d in sorted(parent.glob(BASETEMP_PREFIX + "*")):
        try:
            pid, start = (d / _OWNER).read_text(encoding="utf-8").split()
            owner_alive = proc_start_time(int(pid)) == int(start)
        except (OSError, ValueError):
            continue
        if not owner_alive:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """tmp_path fixtures live in one directory of this session, removed when it ends: the suite
    leaves nothing in /tmp (pytest's default keeps the last three sessions' directories); those of
    killed sessions are removed by the next one."""
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        sweep_stale_basetemps(Path(tempfile.gettempdir()))
        base = Path(tempfile.mkdtemp(prefix=BASETEMP_PREFIX))
        (base / _OWNER).write_text(f"{os.getpid()} {proc_start_time(os.getpid())}", encoding="utf-8")
        config.stash[_BASETEMP] = base
        config.option.basetemp = str(base / "t")  # pytest empties basetemp itself: the owner file sits above it


@pytest.fixture
def sweep_basetemps() -> Callable[[Path], list[Path]]:
    """The sweep pytest_configure runs, for its test (tests/ has no packages to import it from)."""
    return sweep_stale_basetemps


def pytest_unconfigure(config: pytest.Config) -> None:
    base = config.stash.get(_BASETEMP, None)
    if base is not None:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def bench_audit_lines(tmp_path: Path) -> Callable[[int], list[str]]:
    """Lines of the audit-parse benchmark's generated log (bench/bench_audit_parse.py), ``size``
    bytes of it: the realistic mix the throughput floor is measured on."""
    spec = importlib.util.spec_from_file_location("bench_audit_parse", REPO / "bench" / "bench_audit_parse.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def make(size: int) -> list[str]:
        path = tmp_path / f"bench-audit-{size}.log"
        mod.generate(path, size)
        return list(open_lines(path))

    return make


# Variants of the committed embedded-lab recording, for verdict paths the live lab no longer takes.
# Since Sysmon for Linux runs in the embedded lab, its recording has every sensor: the
# SENSOR_UNAVAILABLE path is exercised on a copy that says what a host without Sysmon would have
# recorded (the sensor unavailable, not mandatory, no Sysmon log), never by editing the original.

RECORDING = Path(__file__).resolve().parent / "data" / "recordings" / "embedded-lab"
NO_SYSMON_REASON = "Sysmon for Linux is not installed on this host (recording variant without Sysmon)"


def _unavailable(sensors: list[dict[str, object]], name: str, reason: str) -> list[dict[str, object]]:
    return [dict(s, available=False, mandatory=False, reason=reason) if s.get("name") == name else s for s in sensors]


def without_sensor(dest: Path, sensor: str = "sysmon", raw_name: str = "sysmon.log.gz",
                   reason: str = NO_SYSMON_REASON) -> Path:
    """Copy the recording to ``dest`` with ``sensor`` unavailable everywhere and its raw log gone."""
    shutil.copytree(RECORDING, dest)
    changed = 0
    for path in dest.rglob("*.json"):
        if path.name not in ("target.json", "manifest.json"):
            continue
        doc = json.loads(path.read_text())
        if "sensors" in doc:
            doc["sensors"] = _unavailable(doc["sensors"], sensor, reason)
            path.write_text(json.dumps(doc, indent=2))
            changed += 1
    for raw in dest.rglob(raw_name):
        raw.unlink()
    if not changed:
        raise AssertionError(f"no sensor list found in {dest}: the recording layout changed")
    return dest


@pytest.fixture(scope="session")
def recording_without_sysmon(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not RECORDING.is_dir():
        pytest.skip(f"recording missing: {RECORDING}")
    return without_sensor(tmp_path_factory.mktemp("recording") / "embedded-lab")
