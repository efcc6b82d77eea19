"""What a lab hands the telemetry layer: which logs to collect, which sensors are live, what to redact.

This module sits below both ``harness.lab`` and ``harness.telemetry`` (it imports neither): a lab
describes its telemetry with a :class:`CollectionPlan`, and the telemetry layer
(``TelemetrySession.from_plan``) collects it. The names here are the contracts both sides share:
the parser formats (:class:`Source`), the sensor names (:class:`Sensor`), the Squid log format the
lab configures and the parser reads, and the query parameters that hold credentials.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class Source(enum.StrEnum):
    """A parser format: the ``source`` of every parsed record (``harness parse --format``)."""

    AUDITD = "auditd"
    SYSMON = "sysmon"
    EVTX = "evtx"
    DNSMASQ = "dnsmasq"
    SQUID = "squid"
    NFLOG = "nflog"
    INET = "inet"


class Sensor(enum.StrEnum):
    """A telemetry sensor of a target, as the verdicts and the evidence name it."""

    AUDITD = "auditd"
    DNS = "dns"
    PROXY = "proxy"
    FIREWALL = "firewall"
    INET = "inet"
    SYSMON = "sysmon"


#: The logformat the lab's Squid is configured with (``logformat harness ...``), read by the squid parser.
HARNESS_LOGFORMAT = (
    '%ts.%03tu %6tr %>a %>p %Ss/%03>Hs %<st %rm %ru %>rd %un %Sh/%<a %mt "%"{User-Agent}>h" "%"{Referer}>h"'
)

#: Query parameters whose values are credentials: redacted from collected logs and the simulated
#: internet's own log.
CREDENTIAL_PARAMS: tuple[str, ...] = ("key", "api_key", "apikey", "token", "access_token")


@dataclass(frozen=True)
class SensorStatus:
    """Whether a telemetry sensor is really there on the target, and why not."""

    name: str  # a Sensor value
    available: bool
    reason: str = ""
    mandatory: bool = False

    def to_dict(self) -> dict[str, Any]:
        # str(): a Sensor member becomes the plain string it stands for (YAML and JSON alike).
        return {"name": str(self.name), "available": self.available, "reason": self.reason, "mandatory": self.mandatory}


class ShellResult(Protocol):
    @property
    def rc(self) -> int: ...

    @property
    def stdout(self) -> str: ...

    @property
    def stderr(self) -> str: ...


class Shell(Protocol):
    """What reading a log on another machine needs: a target's ``run`` (``harness.targets.base.Target``)."""

    def run(self, command: str, *, timeout: float | None = None) -> ShellResult: ...


class TempDirs(Protocol):
    """Scratch dirs recorded before they exist (``harness.lab.state.LabState``)."""

    def tempdir(self, prefix: str, parent: str | Path | None = None) -> Path: ...

    def remove_tempdir(self, path: Path) -> None: ...


@dataclass(frozen=True)
class LogSpec:
    """One log to slice around each detonation: on this host (``shell`` None) or read through ``shell``."""

    source: Source
    path: str
    sensor: Sensor
    shell: Shell | None = None


@dataclass(frozen=True)
class CollectionPlan:
    """Everything the telemetry layer needs of a lab to collect one run's detonations."""

    logs: tuple[LogSpec, ...]
    sensors: tuple[SensorStatus, ...]
    secrets: tuple[str, ...] = ()
    #: Addresses the lab host's traffic comes from (resolver, proxy and firewall logs see these).
    client_addresses: tuple[str, ...] = ()
    proxy_addresses: tuple[str, ...] = ()
    #: Writes a marker into the audit log, so a slice is known to be complete when the marker is read.
    audit_sync: Callable[[str], None] | None = None
    #: The lab's Sysmon config logs every ProcessCreate, so the ``auditctl -m`` process of the audit
    #: sync is in the Sysmon log too, carrying the marker: a Sysmon slice is complete once it is read.
    #: (Sysmon writes asynchronously, from per-CPU buffers; a quiet window alone can close early.)
    #: False for a host's own Sysmon, whose config may filter that process out.
    sysmon_sees_sync: bool = False
    tempdirs: TempDirs | None = None
    #: Asked again after each detonation: a sensor that died during it is unavailable for it.
    recheck: Callable[[], Sequence[SensorStatus]] | None = None
