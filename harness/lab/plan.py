"""The collection plan of a lab (embedded or Vagrant VM): the same logs, sensors and addresses, wherever
they live. Labs build it here and hand it to the telemetry layer; they never import that layer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.collection import CollectionPlan, LogSpec, Sensor, SensorStatus, Shell, Source, TempDirs
from harness.lab.config import LabConfig


@dataclass(frozen=True)
class LabLogs:
    """Where a lab's sensors write: paths on this host, or on the lab VM (read through a shell)."""

    audit: str
    dns: str
    proxy: str
    firewall: str
    inet: str
    sysmon: str


def lab_plan(
    cfg: LabConfig,
    logs: LabLogs,
    sensors: Sequence[SensorStatus],
    secrets: Sequence[str],
    proxy_mode: str,
    *,
    audit_sync: Callable[[str], None],
    shell: Shell | None = None,
    tempdirs: TempDirs | None = None,
    recheck: Callable[[], Sequence[SensorStatus]] | None = None,
) -> CollectionPlan:
    """The plan for a lab built from ``cfg``. Through the explicit proxy, Squid resolves the names
    itself, from the resolver's own address (same namespace): its queries are then the detonation's too."""
    specs = [
        LogSpec(Source.AUDITD, logs.audit, Sensor.AUDITD, shell),
        LogSpec(Source.DNSMASQ, logs.dns, Sensor.DNS, shell),
        LogSpec(Source.SQUID, logs.proxy, Sensor.PROXY, shell),
        LogSpec(Source.NFLOG, logs.firewall, Sensor.FIREWALL, shell),
        LogSpec(Source.INET, logs.inet, Sensor.INET, shell),
    ]
    if any(s.name == Sensor.SYSMON and s.available for s in sensors):
        specs.append(LogSpec(Source.SYSMON, logs.sysmon, Sensor.SYSMON, shell))
    clients = [str(cfg.lab_uplink_ip)] + ([str(cfg.dns_server)] if proxy_mode == "explicit" else [])
    return CollectionPlan(
        logs=tuple(specs),
        sensors=tuple(sensors),
        secrets=tuple(secrets),
        client_addresses=tuple(clients),
        proxy_addresses=(cfg.telemetry.proxy_ip,),
        audit_sync=audit_sync,
        sysmon_sees_sync=True,  # harness/lab/sysmon-config.xml logs every process creation
        tempdirs=tempdirs,
        recheck=recheck,
    )
