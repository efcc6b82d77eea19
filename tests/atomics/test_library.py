"""A whole atomics tree: real upstream Atomic Red Team files load unchanged (tests/data/art)."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from pathlib import Path

import pytest

from harness.atomics.library import load_library, technique_files, technique_matches
from harness.errors import ConfigError

ART = Path(__file__).resolve().parents[1] / "data" / "art"
SAMPLE = ART / "atomics"


def test_sample_is_upstream_unchanged() -> None:
    # Each file's git blob id must be the one upstream's commit holds (README.md gives the commit).
    listed = dict(line.split()[::-1] for line in (ART / "upstream-blobs.txt").read_text().splitlines())
    files = {str(p.relative_to(ART)): p for p in SAMPLE.rglob("*") if p.is_file()}
    assert set(listed) == set(files) and len(files) == 16  # 15 technique files and one payload
    for rel, path in files.items():
        data = path.read_bytes()
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        assert blob == listed[rel], f"{rel} differs from upstream"
    assert "MIT License" in (ART / "LICENSE.txt").read_text() and "Red Canary" in (ART / "LICENSE.txt").read_text()


def test_every_sample_file_loads_with_no_sidecar() -> None:
    library = load_library(SAMPLE)
    assert library.errors == () and len(library.techniques) == 15
    assert [t.attack_technique for t, _ in library.techniques][:4] == ["T1003", "T1003.007", "T1003.008", "T1014"]
    assert all(not signals.declared and signals.expectations == {} for _, signals in library.techniques)
    tests = library.tests()
    assert len(tests) == 146
    linux = library.tests("linux")
    assert len(linux) == 62
    reasons = Counter(item.not_applicable for item in linux if item.not_applicable)
    assert reasons == {
        "executor powershell: the harness runs only sh or bash on linux targets": 2,
        "manual executor: steps for a person to follow, no command to run": 2,
    }
    assert len(library.tests("linux", runnable_only=True)) == 58
    assert {item.test.executor.name for item in library.tests("linux", runnable_only=True)} == {"sh", "bash"}


def test_filters_by_executor_and_technique() -> None:
    library = load_library(SAMPLE, ["T1003"])
    assert [t.attack_technique for t, _ in library.techniques] == ["T1003", "T1003.007", "T1003.008"]
    bash = load_library(SAMPLE).tests("linux", ["bash"])
    assert bash and all(item.test.executor.name == "bash" for item in bash)
    assert technique_matches("T1003.008", ["t1003"]) and not technique_matches("T10030", ["T1003"])
    with pytest.raises(ConfigError, match="no technique files"):
        load_library(SAMPLE, ["T9999"])


def test_upstream_conventions_are_kept() -> None:
    library = load_library(SAMPLE)
    # Repeated names load; each test keeps its own id and GUID.
    rootkits = [item.test for item in library.tests() if item.technique.attack_technique == "T1014"]
    assert len({t.name for t in rootkits}) < len(rootkits) and len({t.guid for t in rootkits}) == 4
    # A quoted integer default is an integer, as upstream's validator reads it.
    port = library.find("T1003-7").test.input_arguments["custom_port"]
    assert port.type == "integer" and port.default == 1234
    # PathToAtomicsFolder renders against the folder the tree was loaded from.
    item = library.find("T1014-1")
    assert item.technique.atomics_folder == str(SAMPLE)
    (dep,) = item.test.dependencies
    # The token sits in an argument's default: it is replaced after the arguments, as upstream does.
    assert "PathToAtomicsFolder" in str(item.test.input_arguments["rootkit_source_path"].default)
    rendered = item.test.render(dep.get_prereq_command or "", atomics_folder="/opt/art/atomics")
    assert "/opt/art/atomics/T1014" in rendered and "PathToAtomicsFolder" not in rendered
    # Prerequisites keep their get_prereq_command.
    assert all(d.get_prereq_command for d in library.find("T1003.007-1").test.dependencies)


def test_find_by_guid_and_unknown_id() -> None:
    library = load_library(SAMPLE)
    assert library.find("3723AB77-C546-403C-8FB4-BB577033B235").test.id == "T1003.008-1"
    with pytest.raises(ConfigError, match=r"no atomic test 'T1003\.008-9'"):
        library.find("T1003.008-9")


def test_one_unparseable_file_is_a_located_error_and_the_rest_loads(tmp_path: Path) -> None:
    tree = tmp_path / "atomics"
    shutil.copytree(SAMPLE, tree)
    broken = tree / "T1053.003" / "T1053.003.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("- name: ", "- name: [", 1), encoding="utf-8")
    schema = tree / "T1003.008" / "T1003.008.yaml"
    schema.write_text(schema.read_text(encoding="utf-8").replace("name: bash", "name: zsh", 1), encoding="utf-8")
    library = load_library(tree)
    assert len(library.techniques) == 13 and set(library.failed_files) == {str(broken), str(schema)}
    located = {(Path(e.location.path).name, e.message.split(":")[0]) for e in library.errors if e.location}
    assert ("T1053.003.yaml", "invalid YAML") in located
    assert all(e.location is not None and e.location.line for e in library.errors)
    assert any("'zsh' is not one of" in e.message for e in library.errors)


def test_a_sidecar_is_loaded_when_there_is_one(tmp_path: Path) -> None:
    # The project's own atomics/ tree is a tree like upstream's, with its sidecar.
    root = Path(__file__).resolve().parents[2] / "atomics"
    library = load_library(root)
    ((technique, signals),) = library.techniques
    assert technique.attack_technique == "T1590.005" and signals.declared and signals.expectations


def test_tree_layout_rules(tmp_path: Path) -> None:
    (tmp_path / "T1000").mkdir()
    (tmp_path / "T1000" / "T1000.yaml").write_text("x", encoding="utf-8")
    (tmp_path / "T1000" / "T1000.signals.yaml").write_text("x", encoding="utf-8")
    (tmp_path / "T1000" / "other.yaml").write_text("x", encoding="utf-8")
    (tmp_path / "Indexes").mkdir()
    (tmp_path / "Indexes" / "index.yaml").write_text("x", encoding="utf-8")
    assert technique_files(tmp_path) == [tmp_path / "T1000" / "T1000.yaml"]
    with pytest.raises(ConfigError, match="neither a technique file nor a directory"):
        technique_files(tmp_path / "absent")
