"""Lab instances (harness lab up --name): names, carved transit ranges, claims on host-wide things,
per-instance atomic outputs. Pure logic on state files in a temp dir; the live run of three labs is
tests/lab/test_lab_instances_live.py."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from pathlib import Path

import pytest

from harness.atomics.arguments import instance_outputs
from harness.atomics.loader import load
from harness.errors import ConfigError, LabError
from harness.lab import instances, safety
from harness.lab.config import load_lab_config
from harness.lab.state import LabState


@pytest.fixture
def run_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """INSTANCES_DIR and /run/netns moved into a temp dir (the configured lab's state dir too)."""
    inst, netns = tmp_path / "labs", tmp_path / "netns"
    netns.mkdir()
    monkeypatch.setattr(instances, "INSTANCES_DIR", inst)
    monkeypatch.setattr(instances, "NETNS_RUN", netns)
    return inst, netns


def _up(state_dir: Path, name: str, netns: Path, slot: int | None = None) -> LabState:
    state = LabState(state_dir / "state.json", name)
    if slot is not None:
        state.info["slot"] = slot
    state.save()
    (netns / f"{name}-lab").write_text("")
    return state


@pytest.mark.parametrize("name", ["B", "1a", "a-b", "abcdefghijk", ""])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="lower-case letters and digits"):
        instances.check_name(name)


def test_an_instance_takes_the_next_free_transit_and_its_own_names(tmp_path: Path, run_dirs: tuple[Path, Path]) -> None:
    inst, netns = run_dirs
    base = load_lab_config()
    assert instances.instance_config(base, base.name) is base
    b = instances.instance_config(base, "b", allocate=True)
    assert b.transit == ipaddress.ip_network("198.18.0.4/30") and str(b.lab_transit_ip) == "198.18.0.6"
    assert (b.name, b.lab_ns, b.inet_ns, b.state_dir, b.device_name) == ("b", "b-lab", "b-inet", inst / "b", "b-lab")
    assert b.instance_of is not None and b.instance_of.slot == 1 and b.base.name == base.name
    assert b.scope == base.scope and b.services == base.services  # the same simulated internet
    _up(inst / "b", "b", netns, slot=1)
    assert instances.instance_config(base, "b") == b  # found again by its state
    c = instances.instance_config(base, "c", allocate=True)
    assert c.transit == ipaddress.ip_network("198.18.0.8/30")
    with pytest.raises(LabError, match=r"lab c is not up \(run `harness lab up --name c`\)"):
        instances.instance_config(base, "c")


def test_a_transit_that_is_not_a_30_cannot_be_carved(run_dirs: tuple[Path, Path]) -> None:
    base = dataclasses.replace(load_lab_config(), transit=ipaddress.IPv4Network("198.18.0.0/29"))
    with pytest.raises(ConfigError, match=r"need network\.transit to be a /30"):
        instances.instance_config(base, "b", allocate=True)


def test_only_live_labs_claims_count(tmp_path: Path, run_dirs: tuple[Path, Path]) -> None:
    inst, netns = run_dirs
    base = dataclasses.replace(load_lab_config(), state_dir=tmp_path / "rah-state")
    rah = _up(base.state_dir, base.name, netns)
    route = rah.record("route", "blackhole 198.51.100.0/24", dst="198.51.100.0/24", shared=True)
    rah.record("route", "blackhole 198.51.100.9/32", dst="198.51.100.9/32")  # not shared: never claimed
    b_cfg = instances.instance_config(base, "b", allocate=True)
    b = _up(inst / "b", "b", netns, slot=1)
    claims = instances.shared_claims(b_cfg, lambda r: r.kind == "route")
    assert [(r.name, r.data) for r in claims] == [(route.name, route.data)]
    assert instances.held_blackholes(b_cfg) == {"198.51.100.0/24"}
    b.record(route.kind, route.name, **route.data)
    assert instances.other_claims(b_cfg, route) == [base.name]  # b's down leaves it to rah
    assert instances.other_claims(base, route) == ["b"]  # and rah's to b
    (netns / "b-lab").unlink()  # b crashed and its namespace is gone: its claims no longer count
    assert instances.other_claims(base, route) == [] and instances.others_live(base) == []


def test_blackholes_another_lab_holds_are_not_the_hosts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    routes = [{"type": "blackhole", "dst": "198.51.100.0/24"}, {"dst": "198.51.100.0/25", "dev": "eth9"}]
    monkeypatch.setattr(safety, "_ip_json", lambda args: routes if args[0] == "route" else [])
    empty = tmp_path / "resolv.conf"
    empty.write_text("")
    uses = safety.host_network_uses(empty, ignore_blackholes=["198.51.100.0/24"])
    assert [u.what for u in uses] == ["route 198.51.100.0/25 dev eth9 (table main)"]  # a real route still counts


def test_instance_outputs_get_their_own_names_and_overrides_stay() -> None:
    technique, _ = load(Path(__file__).resolve().parents[2] / "atomics" / "T1590.005" / "T1590.005.yaml")
    tests = technique.atomic_tests
    per_test: dict[str, dict[str, str]] = {t.id: {} for t in tests}
    per_test["T1590.005-3"] = {"output_file": "/srv/sweep.xml"}
    out = instance_outputs(tests, per_test, "b")
    assert out["T1590.005-2"]["output_json"] == "/tmp/atomic-b-arin.json"
    assert out["T1590.005-4"]["harvester_home"] == "/tmp/atomic-b-harvester-home"
    assert out["T1590.005-3"] == {"output_file": "/srv/sweep.xml"}  # given explicitly: kept
    assert "harvester_venv" not in out["T1590.005-4"]  # a cached tool, not an output
    assert all(v.startswith("/tmp/atomic-b-") for args in out.values() for k, v in args.items()
               if k != "output_file"), json.dumps(out)


def test_two_instances_allocated_at_once_settle_on_different_slots(run_dirs: tuple[Path, Path]) -> None:
    """`pytest -n 3` with the labs down: b and c both allocate before either is up, and both get slot
    1; `lab up` settles the slot again under the host lock, after b's state holds slot 1."""
    inst, netns = run_dirs
    base = load_lab_config()
    b = instances.instance_config(base, "b", allocate=True)
    c = instances.instance_config(base, "c", allocate=True)
    assert b.transit == c.transit  # the race
    b = instances.settle_slot(b)
    _up(inst / "b", "b", netns, slot=b.instance_of.slot if b.instance_of else None)
    c = instances.settle_slot(c)
    assert (b.transit, c.transit) == (ipaddress.ip_network("198.18.0.4/30"), ipaddress.ip_network("198.18.0.8/30"))
    assert c.instance_of is not None and c.instance_of.slot == 2 and str(c.lab_transit_ip) == "198.18.0.10"
    assert instances.settle_slot(base) is base
