"""Several embedded labs on one machine: ``harness lab up --name NAME``, reached as ``netns://NAME``.

An instance is the configured lab under another name, with what must differ derived from it:

* its namespaces, links, nft table and PAM service (all named after the lab);
* its state dir, ``/run/recon-harness-labs/NAME`` (its own state file and lock);
* its transit link: the next free /30 after the configured one (slot 1, 2, ...), checked against
  the host's addresses and routes as the configured lab's is.

The simulated internet is the same in every instance, on purpose: each lives in the instance's own
namespaces, and the atomics' defaults point at those addresses, so every instance gives the verdicts
the configured lab gives.

The instances share one kernel and filesystem. What is host-wide (auditd's settings and rules, the
blackhole routes of the simulated internet, the Sysmon install) is claimed by every instance that
uses it, in its own state file (``shared=True``); ``lab down`` undoes a shared entry only when no
other live instance claims it, so the last instance down restores the host, not the first.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from harness.errors import ConfigError, LabError
from harness.lab.config import BaseLab, LabConfig
from harness.lab.layout import NETNS_RUN
from harness.lab.state import LabState, Resource
from harness.targets.base import parse_target_url

INSTANCES_DIR = Path("/run/recon-harness-labs")
#: held (after a lab's own lock) while a lab comes up or goes down: claims on host-wide things are
#: decided by one lab at a time
HOST_LOCK = "embedded-host"
#: at most this many instances besides the configured lab (their /30s stay inside one /24)
MAX_SLOTS = 63
_NAME = re.compile(r"^[a-z][a-z0-9]{0,9}$")  # link names "<name>-h0" stay within IFNAMSIZ


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ConfigError(f"lab name {name!r}: use 1-10 lower-case letters and digits, starting with a letter "
                          "(it prefixes the lab's namespaces and links)")


def is_instance(base: LabConfig, name: str | None) -> bool:
    """True when ``name`` names an instance, not the configured lab itself."""
    return bool(name) and name != base.name


def instance_name(base: LabConfig, target_url: str) -> str | None:
    """NAME of a ``netns://NAME`` target that names an instance of ``base``, else None."""
    if not target_url.startswith("netns://"):
        return None  # other URLs (and malformed ones, reported where the target is opened)
    url = parse_target_url(target_url)
    return url.host if is_instance(base, url.host) else None


def _slot_config(base: LabConfig, name: str, slot: int) -> LabConfig:
    if base.transit.prefixlen != 30:
        raise ConfigError(f"lab instances need network.transit to be a /30 (got {base.transit}): each "
                          "instance takes the next /30")
    first = int(base.transit.network_address) + 4 * slot
    transit = ipaddress.IPv4Network((first, 30))
    if not transit.subnet_of(base.transit.supernet(new_prefix=24)):
        raise LabError(f"no free transit /30 for lab {name!r} in {base.transit.supernet(new_prefix=24)}")
    return dataclasses.replace(base, name=name, state_dir=INSTANCES_DIR / name, transit=transit,
                               device_name=f"{name}-lab", instance_of=BaseLab(base.name, base.state_dir, slot))


def instance_state(name: str) -> LabState | None:
    return LabState.load(INSTANCES_DIR / name)


def instance_config(base: LabConfig, name: str, *, allocate: bool = False) -> LabConfig:
    """The config of lab ``name``: ``base`` itself for its own name; an instance's from its state
    file when it is up (or was, and left its state); else, with ``allocate``, the lowest free slot."""
    if not is_instance(base, name):
        return base
    check_name(name)
    state = instance_state(name)
    if state is not None and isinstance(state.info.get("slot"), int):
        return _slot_config(base, name, int(state.info["slot"]))
    if not allocate:
        raise LabError(f"lab {name} is not up (run `harness lab up --name {name}`)")
    return _slot_config(base, name, _free_slot(name))


def _free_slot(name: str) -> int:
    used = {int(s.info["slot"]) for other, s in _instance_states()
            if other != name and isinstance(s.info.get("slot"), int)}
    for slot in range(1, MAX_SLOTS + 1):
        if slot not in used:
            return slot
    raise LabError(f"no free slot for lab {name!r}: {MAX_SLOTS} instances already exist")


def settle_slot(cfg: LabConfig) -> LabConfig:
    """An instance's config with its slot chosen again, for ``lab up`` under :data:`HOST_LOCK`: two
    instances allocated at the same time (``pytest -n 3`` with their labs down) would otherwise
    both take the lowest free slot, and the second would fail the overlap check."""
    if cfg.instance_of is None:
        return cfg
    state = instance_state(cfg.name)
    if state is not None and isinstance(state.info.get("slot"), int):
        slot = int(state.info["slot"])  # a crashed run's state: its addresses, torn down first
    else:
        slot = _free_slot(cfg.name)
    base_first = int(cfg.transit.network_address) - 4 * cfg.instance_of.slot
    return dataclasses.replace(cfg, transit=ipaddress.IPv4Network((base_first + 4 * slot, 30)),
                               instance_of=dataclasses.replace(cfg.instance_of, slot=slot))


def _instance_states() -> Iterator[tuple[str, LabState]]:
    if not INSTANCES_DIR.is_dir():
        return
    for d in sorted(INSTANCES_DIR.iterdir()):
        state = LabState.load(d)
        if state is not None:
            yield d.name, state


def live_labs(cfg: LabConfig) -> list[tuple[str, LabState]]:
    """Every embedded lab of this machine that is up now (its state file and its lab namespace),
    the configured one and its instances: whose claims on host-wide things still count."""
    found = []
    base = cfg.base
    base_state = LabState.load(base.state_dir)
    candidates = ([(base.name, base_state)] if base_state is not None else []) + list(_instance_states())
    for name, state in candidates:
        if (NETNS_RUN / f"{name}-lab").exists():
            found.append((name, state))
    return found


def claims_of_others(cfg: LabConfig) -> dict[tuple[str, str], list[str]]:
    """(kind, name) of every shared entry the other live labs hold -> those labs (state files read once)."""
    held: dict[tuple[str, str], list[str]] = {}
    for name, state in live_labs(cfg):
        if name != cfg.name:
            for r in state.resources:
                if r.data.get("shared") and name not in held.setdefault((r.kind, r.name), []):
                    held[(r.kind, r.name)].append(name)
    return held


def other_claims(cfg: LabConfig, res: Resource) -> list[str]:
    """The other live labs that claim the same host-wide thing as ``res`` (same kind and name)."""
    return claims_of_others(cfg).get((res.kind, res.name), [])


def shared_claims(cfg: LabConfig, want: Callable[[Resource], bool]) -> list[Resource]:
    """The shared entries another live lab holds that ``want`` selects (one per kind and name): the
    host-wide things already set up, which this lab claims too instead of setting them up again."""
    seen: dict[tuple[str, str], Resource] = {}
    for name, state in live_labs(cfg):
        if name == cfg.name:
            continue
        for r in state.resources:
            if r.data.get("shared") and want(r):
                seen.setdefault((r.kind, r.name), r)
    return list(seen.values())


def others_live(cfg: LabConfig) -> list[str]:
    """The names of the other live labs (host-wide leftovers are theirs while any is up)."""
    return [name for name, _ in live_labs(cfg) if name != cfg.name]


def held_blackholes(cfg: LabConfig) -> set[str]:
    """Destinations of the blackhole routes other live labs hold: not the host's own routes."""
    return {str(r.data.get("dst")) for name, state in live_labs(cfg) if name != cfg.name
            for r in state.resources if r.kind == "route" and r.data.get("shared")}
