"""The lab configuration: every address and name of a lab, loaded from one TOML file."""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, SourceLocation

DEFAULT_CONFIG = "default-lab.toml"


@dataclass(frozen=True)
class Service:
    """A simulated internet service: one address answering for several names."""

    name: str
    ip: ipaddress.IPv4Address
    hosts: tuple[str, ...]
    #: per host (same order), the name of the handler answering it (None: served, answers 404)
    handlers: tuple[str | None, ...] = ()

    def handler_of(self, host: str) -> str | None:
        return dict(zip((h.lower() for h in self.hosts), self.handlers, strict=False)).get(host.lower())


@dataclass(frozen=True)
class LiveHost:
    ip: ipaddress.IPv4Address
    name: str


@dataclass(frozen=True)
class Scope:
    """What atomics may target: anything else is refused before detonation."""

    ranges: tuple[ipaddress.IPv4Network, ...]
    domains: tuple[str, ...]
    asns: tuple[int, ...]


@dataclass(frozen=True)
class TelemetryConfig:
    audit_key: str = "recon_harness"
    audit_watch_dirs: tuple[str, ...] = ("/tmp",)
    nflog_group: int = 7
    proxy_mode: str = "transparent"
    proxy_port: int = 3128
    proxy_ip: str = "198.51.100.3"


@dataclass(frozen=True)
class VagrantConfig:
    """The Vagrant lab VM's settings (``[vagrant]`` of the lab config; a config without one gets the
    packaged defaults). Each has an environment variable that overrides it, read here when the config
    is loaded and handed on to the Vagrantfile by :func:`vagrant_env`."""

    cache_dir: Path
    net_name: str
    net_address: ipaddress.IPv4Network
    serial_log: Path
    box: str

    @property
    def vagrant_home(self) -> Path:
        return self.cache_dir / "vagrant.d"


#: [vagrant] key -> the environment variable that overrides it.
VAGRANT_ENV = {
    "cache_dir": "RECON_HARNESS_VAGRANT_CACHE",
    "net_name": "RECON_HARNESS_NET_NAME",
    "net_address": "RECON_HARNESS_NET_ADDRESS",
    "serial_log": "RECON_HARNESS_SERIAL_LOG",
    "box": "RECON_HARNESS_BOX",
}


@dataclass(frozen=True)
class BaseLab:
    """The configured lab an instance (``harness lab up --name``) was derived from."""

    name: str
    state_dir: Path
    slot: int  # the instance's transit is the configured one's /30 + slot


@dataclass(frozen=True)
class LabConfig:
    path: str
    name: str
    state_dir: Path
    cache_dir: Path
    device_name: str
    lab_user: str
    transit: ipaddress.IPv4Network
    ssh_port: int
    uplink: ipaddress.IPv4Network
    dns_server: ipaddress.IPv4Address
    sweep_range: ipaddress.IPv4Network
    live_hosts: tuple[LiveHost, ...]
    services: tuple[Service, ...]
    scope: Scope
    vagrant: VagrantConfig
    telemetry: TelemetryConfig = TelemetryConfig()
    instance_of: BaseLab | None = None  # set on an instance (harness.lab.instances)

    @property
    def base(self) -> BaseLab:
        """The configured lab (itself, slot 0, unless this is an instance)."""
        return self.instance_of or BaseLab(self.name, self.state_dir, 0)

    # Derived addresses -------------------------------------------------------------------
    @property
    def host_transit_ip(self) -> ipaddress.IPv4Address:
        return self.transit.network_address + 1

    @property
    def lab_transit_ip(self) -> ipaddress.IPv4Address:
        return self.transit.network_address + 2

    @property
    def inet_gateway_ip(self) -> ipaddress.IPv4Address:
        return self.uplink.network_address + 1

    @property
    def lab_uplink_ip(self) -> ipaddress.IPv4Address:
        return self.uplink.network_address + 2

    @property
    def lab_ns(self) -> str:
        return f"{self.name}-lab"

    @property
    def inet_ns(self) -> str:
        return f"{self.name}-inet"

    def all_hostnames(self) -> tuple[str, ...]:
        names = [h for s in self.services for h in s.hosts]
        names += [h.name for h in self.live_hosts]
        return tuple(names)

    def simulated_internet_ranges(self) -> tuple[ipaddress.IPv4Network, ...]:
        """Ranges the Defender view classes as Public (they play the internet)."""
        return self.scope.ranges

    def lab_ranges(self) -> tuple[ipaddress.IPv4Network, ...]:
        """Every range the lab puts addresses or routes in: checked against the host first."""
        return (self.transit, self.uplink, *self.scope.ranges, self.sweep_range)


def _net(value: Any, where: str, path: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(str(value), strict=True)
    except ValueError as exc:
        raise ConfigError(f"{where}: not an IPv4 network: {value!r} ({exc})", SourceLocation(path)) from exc


def _ip(value: Any, where: str, path: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(str(value))
    except ValueError as exc:
        raise ConfigError(f"{where}: not an IPv4 address: {value!r}", SourceLocation(path)) from exc


def parse_toml(text: str, where: str) -> dict[str, Any]:
    """``tomllib.loads`` with a syntax error as a ConfigError at its file:line:column."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's TOMLDecodeError has no attributes for the position: read it from the message.
        m = re.search(r"at line (\d+), column (\d+)", str(exc))
        line, col = (int(m.group(1)), int(m.group(2))) if m else (None, None)
        if m is None and "end of document" in str(exc):
            line, col = text.count("\n") + 1, len(text.rpartition("\n")[2]) + 1
        msg = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        raise ConfigError(f"invalid TOML: {msg}", SourceLocation(where, line, col)) from exc


def _packaged() -> dict[str, Any]:
    where = f"<harness.lab>/{DEFAULT_CONFIG}"
    return parse_toml(resources.files("harness.lab").joinpath(DEFAULT_CONFIG).read_text(), where)


def load_lab_config(path: str | Path | None = None) -> LabConfig:
    """Load a lab config; ``None`` loads the packaged safe defaults."""
    if path is None:
        text = resources.files("harness.lab").joinpath(DEFAULT_CONFIG).read_text()
        where = f"<harness.lab>/{DEFAULT_CONFIG}"
    else:
        where = str(path)
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read lab config: {exc}", SourceLocation(where)) from exc
    doc = parse_toml(text, where)
    try:
        lab, net, scope, sweep = doc["lab"], doc["network"], doc["scope"], doc["sweep"]
        name = str(lab["name"])
        if not name.isalnum() or len(name) > 6:
            raise ConfigError(f"lab.name must be 1-6 alphanumeric characters: {name!r}", SourceLocation(where))
        cfg = LabConfig(
            path=where,
            name=name,
            state_dir=Path(lab["state_dir"]),
            cache_dir=Path(lab["cache_dir"]),
            device_name=str(lab["device_name"]),
            lab_user=str(lab.get("lab_user", "root")),
            transit=_net(net["transit"], "network.transit", where),
            ssh_port=int(net.get("ssh_port", 22)),
            uplink=_net(net["uplink"], "network.uplink", where),
            dns_server=_ip(net["dns_server"], "network.dns_server", where),
            sweep_range=_net(sweep["range"], "sweep.range", where),
            live_hosts=tuple(
                LiveHost(_ip(h["ip"], "sweep.live.ip", where), str(h["name"])) for h in sweep.get("live", [])
            ),
            services=tuple(_service(s, where) for s in doc.get("services", [])),
            scope=Scope(
                ranges=tuple(_net(r, "scope.ranges", where) for r in scope["ranges"]),
                domains=tuple(str(d).lower().rstrip(".") for d in scope.get("domains", [])),
                asns=tuple(int(a) for a in scope.get("asns", [])),
            ),
            telemetry=_telemetry(doc.get("telemetry", {}), where),
            vagrant=_vagrant(doc.get("vagrant", {}), where),
        )
    except KeyError as exc:
        raise ConfigError(f"missing key {exc.args[0]!r}", SourceLocation(where)) from exc
    _check_consistency(cfg)
    return cfg


def _service(doc: dict[str, Any], where: str) -> Service:
    """``hosts`` is a table name -> handler, or a plain list of names (no handler: 404)."""
    name = str(doc["name"])
    hosts = doc["hosts"]
    handlers: tuple[str | None, ...]
    if isinstance(hosts, dict):
        names, handlers = tuple(str(h) for h in hosts), tuple(str(v) for v in hosts.values())
    elif isinstance(hosts, list):
        names, handlers = tuple(str(h) for h in hosts), (None,) * len(hosts)
    else:
        raise ConfigError(f"services.{name}.hosts must be a table (name = handler) or a list of names",
                          SourceLocation(where))
    return Service(name, _ip(doc["ip"], f"services.{name}.ip", where), names, handlers)


def _vagrant(doc: dict[str, Any], where: str) -> VagrantConfig:
    """``[vagrant]``, each key overridden by its environment variable (:data:`VAGRANT_ENV`) when set."""
    unknown = sorted(set(doc) - set(VAGRANT_ENV))
    if unknown:
        raise ConfigError(f"unknown key in [vagrant]: {', '.join(unknown)} (known: {', '.join(VAGRANT_ENV)})",
                          SourceLocation(where))
    packaged = doc if where == f"<harness.lab>/{DEFAULT_CONFIG}" else _packaged()["vagrant"]
    value = {k: str(os.environ.get(env) or doc.get(k, packaged.get(k))) for k, env in VAGRANT_ENV.items()}
    return VagrantConfig(
        cache_dir=Path(value["cache_dir"]),
        net_name=value["net_name"],
        net_address=_net(value["net_address"], "vagrant.net_address", where),
        serial_log=Path(value["serial_log"]),
        box=value["box"],
    )


def _telemetry(doc: dict[str, Any], where: str) -> TelemetryConfig:
    t = TelemetryConfig(
        audit_key=str(doc.get("audit_key", "recon_harness")),
        audit_watch_dirs=tuple(str(d) for d in doc.get("audit_watch_dirs", ["/tmp"])),
        nflog_group=int(doc.get("nflog_group", 7)),
        proxy_mode=str(doc.get("proxy_mode", "transparent")),
        proxy_port=int(doc.get("proxy_port", 3128)),
        proxy_ip=str(_ip(doc.get("proxy_ip", "198.51.100.3"), "telemetry.proxy_ip", where)),
    )
    if t.proxy_mode not in ("transparent", "explicit"):
        raise ConfigError(f"telemetry.proxy_mode must be transparent or explicit, not {t.proxy_mode!r}",
                          SourceLocation(where))
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,31}", t.audit_key):
        raise ConfigError(f"telemetry.audit_key must be 1-31 of [A-Za-z0-9_-]: {t.audit_key!r}", SourceLocation(where))
    return t


def _check_consistency(cfg: LabConfig) -> None:
    where = SourceLocation(cfg.path)
    if cfg.transit.prefixlen > 30 or cfg.uplink.prefixlen > 30:
        raise ConfigError("network.transit and network.uplink need at least a /30", where)
    internet = cfg.scope.ranges
    inside = [cfg.dns_server, *(s.ip for s in cfg.services), *(h.ip for h in cfg.live_hosts)]
    for ip in inside:
        if not any(ip in r for r in internet):
            raise ConfigError(f"{ip} is not inside scope.ranges {[str(r) for r in internet]}", where)
    for h in cfg.live_hosts:
        if h.ip not in cfg.sweep_range:
            raise ConfigError(f"live host {h.ip} is not in sweep.range {cfg.sweep_range}", where)
    if not any(cfg.sweep_range.subnet_of(r) for r in internet):
        raise ConfigError("sweep.range must lie inside scope.ranges", where)
    if cfg.transit.overlaps(cfg.uplink) or any(cfg.transit.overlaps(r) for r in internet):
        raise ConfigError("network.transit must not overlap the simulated internet", where)
    if cfg.uplink.overlaps(cfg.sweep_range):
        raise ConfigError("network.uplink must not overlap sweep.range", where)


def vagrant_env(settings: VagrantConfig | None = None) -> dict[str, str]:
    """The environment for `vagrant`: the cached box store unless the user chose another, and the lab
    config's [vagrant] settings for the Vagrantfile (which reads them as environment variables)."""
    vc = settings or load_lab_config().vagrant
    env = dict(os.environ)
    env.update({name: str(getattr(vc, key)) for key, name in VAGRANT_ENV.items()})
    env.setdefault("VAGRANT_HOME", str(vc.vagrant_home))
    env.setdefault("VAGRANT_DEFAULT_PROVIDER", "libvirt")
    env.setdefault("VAGRANT_CHECKPOINT_DISABLE", "1")  # no phoning home to HashiCorp
    return env
