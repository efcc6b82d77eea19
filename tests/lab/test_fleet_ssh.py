"""The embedded lab's host reached as a plain ssh:// target from an inventory: scope, clock, detonation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.execution.scope_file import load_scope_file
from harness.execution.session import open_session
from harness.lab.config import load_lab_config
from harness.lab.embedded import EmbeddedLab

pytestmark = pytest.mark.lab
SCOPE = Path(__file__).resolve().parents[1] / "data" / "scope" / "lab-hosts.toml"


@pytest.fixture(scope="module")
def lab():  # type: ignore[no-untyped-def]
    from harness.lab.lock import lab_lock

    lab = EmbeddedLab(load_lab_config())
    with lab_lock(lab.cfg.name):
        lab.down()
        lab.up()
        yield lab
        lab.down()


def test_lab_host_clock_is_measured_over_ssh(lab) -> None:  # type: ignore[no-untyped-def]
    url = f"ssh://root@{lab.cfg.lab_transit_ip}:22?identity_file={lab.client_key}&accept_unknown_host_key=true"
    with open_session(url, scope=load_scope_file(SCOPE)) as session:
        clock = session.clock
        assert clock is not None and clock.samples == 3
        # One kernel, one clock: the true offset is 0; the estimate is within its uncertainty (ssh's
        # request and reply legs are not symmetric, hence a small allowance).
        assert abs(clock.offset_s) <= clock.uncertainty_s + 0.05, clock
        assert session.scope.service_hosts == ()  # the declared scope replaced the lab's


def test_inventory_host_detonates_within_its_scope(lab, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    inv = tmp_path / "lab.ini"
    inv.write_text(f"[lab]\nlab-07 ansible_host={lab.cfg.lab_transit_ip} ansible_user=root "
                   f"ansible_ssh_private_key_file={lab.client_key} ansible_host_key_checking=false "
                   "atomic_arg_target_range=198.51.100.128/29\n")
    rc = main(["run", "T1590.005-3", "--inventory", str(inv), "--target-group", "lab", "--scope", str(SCOPE),
               "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.out + captured.err
    run = json.loads(captured.out.strip().splitlines()[-1])
    assert run["status"] == "EXECUTED" and run["target"].startswith(f"ssh://root@{lab.cfg.lab_transit_ip}?identity_file=")
    # The host's atomic_arg_target_range reached the command, not the atomic's default /28.
    assert any("198.51.100.128/29" in c["command"] for c in run["commands"] if c["phase"] == "detonate")
    assert "ssh://lab-07: clock offset" in captured.err
