"""What the embedded lab can tell of its sensors, checked live, and the collection plan it hands the
telemetry layer (never importing it)."""

from __future__ import annotations

from harness.collection import Sensor, SensorStatus
from harness.errors import HarnessError
from harness.lab import auditctl
from harness.lab import sysmon as lab_sysmon
from harness.lab.layout import LabLayout
from harness.lab.state import LabState, proc_start_time


class Sensing(LabLayout):
    """The lab's sensors as they are now (not as the config says)."""

    def sensors(self) -> list[SensorStatus]:
        """Ask the lab which sensors are really live now (not what the config says); Sysmon only
        counts when a probe command's event arrives, and is mandatory where the lab installed it."""
        ok, why, mandatory = lab_sysmon.status(LabState.load(self.state_dir), self.sysmon_log)
        return [*self._core_sensors("lab"), SensorStatus(Sensor.SYSMON, ok, why, mandatory=mandatory)]

    def _sysmon_recheck(self) -> list[SensorStatus]:
        """Sysmon asked again after each detonation (it is mandatory where installed: one that died
        mid-run makes its signals ERROR); auditd's rules are judged per record, as before."""
        ok, why, mandatory = lab_sysmon.status(LabState.load(self.state_dir), self.sysmon_log)
        return [SensorStatus(Sensor.SYSMON, ok, why, mandatory=mandatory)]

    def _core_sensors(self, where: str) -> list[SensorStatus]:
        """auditd (daemon, enabled, every harness rule live) and the lab's logging daemons, checked now."""
        state = LabState.load(self.state_dir)
        alive = set()
        if state is not None:
            for res in state.resources:
                if res.kind == "process" and proc_start_time(int(res.data["pid"])) == res.data.get("start_time"):
                    alive.add(res.name)
        out = []
        try:
            st = auditctl.status()
            expected = len(auditctl.harness_rules(self.cfg.telemetry.audit_key, self.cfg.telemetry.audit_watch_dirs))
            live = auditctl.rules_live(self.cfg.telemetry.audit_key)
            ok = st.get("pid", "0") != "0" and st.get("enabled") in ("1", "2") and live == expected
            why = "" if ok else (f"auditd pid {st.get('pid')}, enabled {st.get('enabled')}, "
                                 f"{live}/{expected} harness rules live")
            out.append(SensorStatus(Sensor.AUDITD, ok, why, mandatory=True))
        except HarnessError as exc:
            out.append(SensorStatus(Sensor.AUDITD, False, str(exc), mandatory=True))
        for sensor, proc in ((Sensor.DNS, "dnsmasq"), (Sensor.PROXY, "squid"), (Sensor.FIREWALL, "ulogd"),
                             (Sensor.INET, "inet")):
            ok = proc in alive
            out.append(SensorStatus(sensor, ok, "" if ok else f"{proc} is not running in the {where}",
                                    mandatory=True))
        return out

