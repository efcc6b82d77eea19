"""ArtRun without a VM: what it refuses before anything runs, tests it records without a target, and
the state directory a resumed run reads back. (The VM path runs in CI's Vagrant job, .ci/vagrant.sh.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.execution.scope_file import load_scope_file
from harness.run.art import ArtRun, default_reset, rule_set_digest
from harness.verdicts.coverage import Coverage

ROOT = Path(__file__).resolve().parents[2]
ART = ROOT / "tests" / "data" / "art" / "atomics"
RULES = ROOT / "tests" / "data" / "sigmahq" / "rules" / "linux"
DISPOSABLE = "ssh://root@lab.example.test?disposable=1"


SCOPE = load_scope_file(ROOT / "tests" / "data" / "scope" / "lab-services.toml")


def _run(out: Path, target: str = DISPOSABLE, **kw: object) -> ArtRun:
    kw.setdefault("scope", SCOPE)
    return ArtRun(atomics=ART, target=target, rules=RULES, out=out, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("target", ["netns://rah", "local://", "ssh://root@lab.example.test"])
def test_a_target_that_is_not_disposable_is_refused_before_anything_loads(tmp_path: Path, target: str) -> None:
    with pytest.raises(ConfigError, match=r"disposable|shares this machine|is this machine"):
        _run(tmp_path, target)
    assert not any(tmp_path.iterdir())  # no state written


def test_reset_defaults_and_refusals(tmp_path: Path) -> None:
    assert default_reset("vagrant://default") == "snapshot" and default_reset(DISPOSABLE) == "none"
    with pytest.raises(ConfigError, match="resets the Vagrant VM"):
        _run(tmp_path, reset="snapshot")
    with pytest.raises(ConfigError, match="rule set"):
        ArtRun(atomics=ART, target=DISPOSABLE, rules=tmp_path / "nope", out=tmp_path / "o", scope=SCOPE)
    with pytest.raises(ConfigError, match="needs a declared scope"):
        ArtRun(atomics=ART, target=DISPOSABLE, rules=RULES, out=tmp_path / "o")


def test_tests_that_cannot_run_are_recorded_without_touching_the_target(tmp_path: Path) -> None:
    run = _run(tmp_path, test_ids=["T1027.013-1", "T1048.003-1"])  # powershell, manual
    results = [run.one(item) for item in run.tests]
    assert [r.coverage for r in results] == [Coverage.NOT_RUN, Coverage.NOT_RUN]
    assert "executor powershell" in results[0].reason and "manual executor" in results[1].reason
    stored = json.loads((tmp_path / "tests" / "T1027.013-1.json").read_text())
    assert stored["coverage"] == "NOT_RUN" and stored["technique"] == "T1027.013"


def test_an_out_of_scope_test_is_not_run_and_the_guard_says_why(tmp_path: Path) -> None:
    run = _run(tmp_path, test_ids=["T1003.007-4"])  # get_prereq downloads from github.com
    (result,) = [run.one(item) for item in run.tests]
    assert result.coverage is Coverage.NOT_RUN and "github.com" in result.reason


def test_a_resumed_run_reads_finished_tests_back_and_keeps_its_rule_set(tmp_path: Path) -> None:
    first = _run(tmp_path, test_ids=["T1027.013-1"])
    run_id = first.facts["run_id"]
    first.one(first.tests[0])
    again = _run(tmp_path, test_ids=["T1027.013-1", "T1087.001-1"])
    assert again.facts["run_id"] == run_id  # the same run, resumed
    assert again.done("T1027.013-1") is not None and again.done("T1087.001-1") is None
    assert [r.test_id for r in again.results()] == ["T1027.013-1"]
    # a half-written state file is not a finished test
    (tmp_path / "tests" / "T1087.001-1.json").write_text('{"test_id": "T1087.001-1", "cove')
    assert again.done("T1087.001-1") is None
    # another rule set cannot resume this run
    other = tmp_path / "rules"
    other.mkdir()
    (other / "r.yml").write_text((RULES / "process_creation" / "proc_creation_lnx_local_account.yml").read_text())
    with pytest.raises(ConfigError, match="another rule set"):
        ArtRun(atomics=ART, target=DISPOSABLE, rules=other, out=tmp_path, scope=SCOPE)
    assert rule_set_digest(other)[0] == 1


def test_inputs_of_the_coverage_document(tmp_path: Path) -> None:
    run = _run(tmp_path, test_ids=["T1027.013-1"])
    results = [run.one(run.tests[0])]
    inputs = run.document_inputs(results)
    assert inputs["rule_set"]["rules"] == 210 and inputs["reset"] == {"kind": "none", "resets": 0, "median_s": None}
    assert inputs["control"] == {"status": "NOT_RUN", "rules": []} and inputs["target"] == DISPOSABLE
