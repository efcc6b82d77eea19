"""The embedded lab's host reached as a plain ssh:// target, as an outsider would see it: the harness
collects the host's own sensors over SSH and gives the netns:// verdicts for every signal of those
sensors; its audit rules on the host are undone when the run ends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.atomics.loader import load
from harness.evidence.runjson import build_document
from harness.execution.scope_file import load_scope_file
from harness.lab import auditctl
from harness.lab.config import load_lab_config
from harness.lab.embedded import EmbeddedLab
from harness.run import ValidationRun

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[2]
SCOPE = REPO / "tests" / "data" / "scope" / "lab-services.toml"


@pytest.fixture(scope="module")
def lab() -> Iterator[EmbeddedLab]:
    from harness.lab.lock import lab_lock

    lab = EmbeddedLab(load_lab_config())
    with lab_lock(lab.cfg.name):
        lab.down()
        lab.up()
        yield lab
        lab.down()


def _run_suite(target: str, **kwargs: object) -> dict[str, object]:
    """The whole suite in this process (the lab lock is re-entrant here, not across processes)."""
    run = ValidationRun(target=target, detections=REPO / "detections", **kwargs)  # type: ignore[arg-type]
    run.run_all()
    return build_document(run)


def _signals(doc: dict[str, object]) -> dict[tuple[str, str], tuple[str, str]]:
    atomics = doc["atomics"]
    assert isinstance(atomics, list)
    return {(a["id"], s["id"]): (s["sensor"], s["verdict"]) for a in atomics for s in a["signals"]}


def test_lab_host_over_ssh_gives_the_netns_verdicts_for_its_sensors(lab: EmbeddedLab, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    rules_before = auditctl.list_rules()
    url = (f"ssh://root@{lab.cfg.lab_transit_ip}:{lab.cfg.ssh_port}?identity_file={lab.client_key}"
           f"&known_hosts={lab.known_hosts}")
    monkeypatch.setenv("RECON_HARNESS_STATE_DIR", str(tmp_path / "ledgers"))
    # A real host's run needs the key from the environment (the labs make a random one themselves);
    # the simulated Shodan API accepts any.
    monkeypatch.setenv("SHODAN_API_KEY", "0a1b2c3d4e5f60718293a4b5c6d7e8f9")
    over_ssh = _run_suite(url, scope=load_scope_file(SCOPE))
    over_netns = _run_suite(f"netns://{lab.cfg.name}")
    sensors = {str(s["name"]): s for s in over_ssh["target"]["sensors"]}  # type: ignore[index]
    assert sensors["auditd"]["available"], sensors["auditd"]
    # The lab's resolver, proxy and simulated-internet logs live in its state dir, not where a host
    # keeps them: a plain ssh:// host does not have them, and says so. Its ulogd2 is found as a host's
    # would be: a running ulogd whose config (-c) has a JSON output stack.
    for name in ("dns", "proxy", "inet"):
        assert not sensors[name]["available"] and sensors[name]["reason"]
    assert sensors["firewall"]["available"], sensors["firewall"]
    available = {name for name, s in sensors.items() if s["available"]}
    ssh_signals, netns_signals = _signals(over_ssh), _signals(over_netns)
    assert ssh_signals.keys() == netns_signals.keys()
    technique, signals = load(REPO / "atomics" / "T1590.005" / "T1590.005.yaml")
    enriched = {(t.id, s.id) for t in technique.atomic_tests for s in signals.for_test(t).signals
                if set(s.enriched_by) - available}
    compared = {k: (v, netns_signals[k]) for k, v in ssh_signals.items() if v[0] in available and k not in enriched}
    assert len(compared) >= 5, compared  # the auditd signals of the five atomics at least
    assert {k: v[0][1] for k, v in compared.items()} == {k: v[1][1] for k, v in compared.items()}
    assert all(v[0][1] == "ALERTED" for v in compared.values() if v[0][0] == "auditd"), compared
    firewall = {k: v[0][1] for k, v in compared.items() if v[0][0] == "firewall"}
    assert firewall and "NO_TELEMETRY" not in firewall.values(), firewall  # judged on the host's ulogd log
    for key, (sensor, verdict) in ssh_signals.items():
        if sensor not in available:
            assert verdict == "SENSOR_UNAVAILABLE", (key, verdict)
    # Connection signals name the destination from the resolver's answers (enriched_by: dns): with no
    # resolver log on the host they are unavailable there, not NO_TELEMETRY.
    assert enriched and all(ssh_signals[k][1] == "SENSOR_UNAVAILABLE" for k in enriched), enriched
    assert ssh_signals[("T1590.005-2", "arin-https-connection-auditd")] == ("auditd", "SENSOR_UNAVAILABLE")
    assert netns_signals[("T1590.005-2", "arin-https-connection-auditd")] == ("auditd", "ALERTED")
    # Every rule is back as it was (the lab's own rules were already live: none was added twice or removed).
    assert auditctl.list_rules() == rules_before
    assert not list((tmp_path / "ledgers").rglob("*.json"))  # the target's ledger is empty, hence gone
