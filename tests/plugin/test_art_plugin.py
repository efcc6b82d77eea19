"""``pytest atomics/ --art DIR`` (harness/plugin/art.py): items per upstream test and target, usage
errors before anything runs, and a real session over tests that never reach a shell (not applicable
here), whose coverage evidence is written from the state directory. The detonating path runs in
CI's Vagrant job (.ci/vagrant.sh)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ART = ROOT / "tests" / "data" / "art" / "atomics"
SCOPE = ROOT / "tests" / "data" / "scope" / "lab-services.toml"
VM = "vagrant://default"
HOST = "ssh://root@lab.example.test?disposable=1"


def _pytest(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=120)


def _ids(res: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in res.stdout.splitlines() if "::" in line]


def test_each_linux_test_of_the_tree_is_an_item_naming_its_target() -> None:
    res = _pytest("atomics/", "--co", "-q", "--strict-markers", "--art", str(ART), "--target", VM)
    assert res.returncode == 0, res.stdout + res.stderr
    ids = _ids(res)
    assert len(ids) == 62 and all(i.startswith("atomics/test_art.py::test_art[") for i in ids)  # T1590.005 deselected
    assert "atomics/test_art.py::test_art[T1003.008-1@vagrant://default]" in ids
    assert "deselected" in res.stdout


def test_without_art_the_art_item_is_deselected() -> None:
    res = _pytest("atomics/", "--co", "-q", "--target", "netns://rah")
    assert res.returncode == 0 and not any("test_art" in i for i in _ids(res)) and len(_ids(res)) == 6


def test_tests_are_dealt_round_robin_over_the_targets() -> None:
    res = _pytest("atomics/", "--co", "-q", "--art", str(ART), "--art-technique", "T1003.008", "--target", VM,
                  "--target", HOST, "--scope", str(SCOPE))
    assert res.returncode == 0, res.stdout + res.stderr
    assert [i.split("[", 1)[1] for i in _ids(res)] == [
        "T1003.008-1@vagrant://default]", f"T1003.008-2@{HOST}]", "T1003.008-3@vagrant://default]",
        f"T1003.008-4@{HOST}]", "T1003.008-5@vagrant://default]"]


def test_a_target_that_is_not_disposable_is_a_usage_error() -> None:
    for target in ("netns://rah", "ssh://root@lab.example.test"):
        res = _pytest("atomics/", "--co", "-q", "--art", str(ART), "--target", target, "--scope", str(SCOPE))
        assert res.returncode == 4, res.stdout + res.stderr
        assert "--art: " in res.stderr and ("disposable" in res.stderr or "shares this machine" in res.stderr)


def test_unknown_test_and_missing_rules_are_usage_errors() -> None:
    res = _pytest("atomics/", "--co", "-q", "--art", str(ART), "--target", VM, "--art-test", "T9999-1")
    assert res.returncode == 4 and "no atomic test 'T9999-1'" in res.stderr
    res = _pytest("atomics/", "--co", "-q", "--art", str(ART), "--target", VM, "--art-rules", "/nonexistent")
    assert res.returncode == 4 and "--art-rules /nonexistent: not a directory" in res.stderr


def test_a_session_of_inapplicable_tests_skips_them_and_writes_coverage(tmp_path: Path) -> None:
    # powershell and manual tests never reach a shell: nothing is sent to the (unreachable) host
    state = tmp_path / "state"
    res = _pytest("atomics/", "-q", "-rs", "--art", str(ART), "--art-test", "T1027.013-1", "--art-test",
                  "T1048.003-1", "--target", HOST, "--scope", str(SCOPE), "--art-state", str(state))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 skipped" in res.stdout and "NOT_RUN: not applicable: executor powershell" in res.stdout
    (folder,) = [p for p in state.iterdir() if p.is_dir()]
    doc = json.loads((folder / "coverage.json").read_text())
    assert [t["coverage"] for t in doc["tests"]] == ["NOT_RUN", "NOT_RUN"] and doc["target"] == HOST
    assert (folder / "report.html").is_file() and (folder / "navigator.json").is_file()
    assert "recon-harness ART coverage" in res.stdout
