"""PathToAtomicsFolder on the target (harness.execution.atomics_folder), with upstream's real
T1003.007-3 and its payload, copied to this machine (local://) and run from there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.atomics.library import load_library
from harness.errors import HarnessError
from harness.execution import atomics_folder
from harness.execution.atomics_folder import InFolder, copy_to_target, referenced_techniques, remove_from_target
from harness.lab.state import LabState
from harness.targets.local import LocalTarget

ART = Path(__file__).resolve().parents[1] / "data" / "art" / "atomics"


def test_the_folders_a_test_names_are_found_in_commands_and_arguments() -> None:
    lib = load_library(ART, ["T1003.007", "T1014", "T1087.001"])
    assert referenced_techniques(lib.find("T1003.007-3").test) == ["T1003.007"]  # an argument's default
    assert referenced_techniques(lib.find("T1014-1").test) == ["T1014"]  # commands and get_prereq
    assert referenced_techniques(lib.find("T1087.001-1").test) == []


def test_payloads_copied_rendered_run_and_removed(tmp_path: Path) -> None:
    item = load_library(ART, ["T1003.007"]).find("T1003.007-3")
    target = LocalTarget()
    ledger = LabState(tmp_path / "state.json", "test")
    copy = copy_to_target(target, ART, item.test, ledger)
    try:
        assert copy.path.startswith("/tmp/recon-harness-atomics-") and copy.files == ("T1003.007/src/dump_heap.py",)
        copied = Path(copy.path) / "T1003.007" / "src" / "dump_heap.py"
        assert copied.read_bytes() == (ART / "T1003.007" / "src" / "dump_heap.py").read_bytes()
        assert oct(os.stat(copy.path).st_mode & 0o777) == "0o700"
        assert [e.name for e in ledger.resources if e.kind == "target_path"] == [copy.path]  # before the write
        bound = InFolder(item.test, copy.path)
        rendered = bound.render(item.test.executor.command)
        assert f"{copy.path}/T1003.007/src/dump_heap.py" in rendered and "PathToAtomicsFolder" not in rendered
        # the rendered path is the copy on the target (the upstream command itself is not run on
        # this machine: upstream atomics are destructive and run only on disposable targets)
        assert target.run(f"test -f {copy.path}/T1003.007/src/dump_heap.py").rc == 0
        assert bound.render("#{python_script}") == f"{copy.path}/T1003.007/src/dump_heap.py"
    finally:
        assert remove_from_target(target, copy, ledger) is None
    assert not Path(copy.path).exists()
    assert not [e for e in ledger.resources if e.kind == "target_path"]


def test_a_folder_over_the_limit_is_refused_not_half_copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomics_folder, "MAX_BYTES", 100)
    with pytest.raises(HarnessError, match="exceed"):
        atomics_folder.payload_files(ART, ["T1003.007"])
