"""The plugin's fleet options: repeatable --target, --inventory, --target-group, --scope."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = str(ROOT / "tests" / "data" / "inventory" / "fleet.yml")
SCOPE = str(ROOT / "tests" / "data" / "scope" / "lab-hosts.toml")


def _pytest(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=120)


def _ids(res: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.split("[", 1)[1].rstrip("]") for line in res.stdout.splitlines() if "::" in line]


def test_each_inventory_host_of_the_group_is_a_target_in_the_test_ids() -> None:
    res = _pytest("atomics/", "--co", "-q", "--inventory", INVENTORY, "--target-group", "hardened", "--scope", SCOPE)
    assert res.returncode == 0, res.stdout + res.stderr
    ids = _ids(res)
    assert len(ids) == 12  # 6 tests x 2 hosts
    assert "T1590.005-3@ssh://db-x.lab.example" in ids and "negative-control@ssh://web03.lab.example" in ids


def test_repeated_target_and_lab_marker_per_target() -> None:
    res = _pytest("atomics/", "--co", "-q", "--target", "netns://rah", "--inventory", INVENTORY,
                  "--target-group", "db", "--scope", SCOPE, "-m", "lab")
    assert res.returncode == 0, res.stdout + res.stderr
    ids = _ids(res)
    # Only the embedded lab's tests carry the lab marker; the ssh:// hosts' do not.
    assert len(ids) == 6 and all(i.endswith("@netns://rah") for i in ids)


def test_a_real_host_without_scope_is_a_usage_error_before_collection() -> None:
    res = _pytest("atomics/", "--co", "-q", "--target", "ssh://root@lab-07")
    assert res.returncode == 4
    assert "ssh://root@lab-07 is a real host, not a lab" in res.stderr
    assert "collected" not in res.stdout


def test_malformed_inventory_and_scope_are_located_usage_errors(tmp_path: Path) -> None:
    inv = tmp_path / "bad.ini"
    inv.write_text("[web]\nweb01 ansible_port\n")
    res = _pytest("atomics/", "--co", "-q", "--inventory", str(inv), "--scope", SCOPE)
    assert res.returncode == 4 and f"{inv}:2:7: expected key=value" in res.stderr
    scope = tmp_path / "scope.toml"
    scope.write_text("[scope]\nranges = [\"198.51.100.0/33\"]\n")
    res = _pytest("atomics/", "--co", "-q", "--target", "ssh://root@h", "--scope", str(scope))
    assert res.returncode == 4 and f"{scope}:2:12: scope.ranges: not an IPv4 network" in res.stderr


def test_fleet_options_are_documented() -> None:
    helptext = _pytest("--help").stdout
    for opt in ("--inventory=FILE", "--target-group=NAME", "--scope=FILE"):
        assert opt in helptext


def test_inventory_arguments_are_checked_per_target(tmp_path: Path) -> None:
    inv = tmp_path / "typo.ini"
    inv.write_text("h ansible_host=127.0.0.1 atomic_arg_target_rnge=198.51.100.0/28\n")
    res = _pytest("atomics/", "--co", "-q", "--inventory", str(inv), "--scope", SCOPE)
    assert res.returncode == 4 and "ssh://h: unknown atomic argument 'target_rnge'" in res.stderr
    # --atomic-arg applies to every target and is checked against each one's scope.
    res = _pytest("atomics/", "--co", "-q", "--inventory", INVENTORY, "--target-group", "db", "--scope", SCOPE,
                  "--atomic-arg", "domain=evil.example")
    assert res.returncode == 4
    assert "atomic arguments for ssh://db-a.lab.example leave its scope: argument domain=evil.example" in res.stderr
