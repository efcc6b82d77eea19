"""The upstream-atomics guard: destructive tests only on disposable targets, only inside the scope."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.atomics.library import Library, load_library
from harness.atomics.loader import default_technique_path, load_technique
from harness.execution.art_guard import disposable_refusal, is_project_atomic, refusal, scope_refusal
from harness.execution.pipeline import DetonationPipeline
from harness.execution.runner import Status
from harness.execution.scope import Scope
from harness.execution.session import Session
from harness.lab.config import load_lab_config
from harness.targets import get_target

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "art" / "atomics"


@pytest.fixture(scope="module")
def art() -> Library:
    return load_library(SAMPLE)


@pytest.fixture(scope="module")
def scope() -> Scope:
    return Scope.from_lab(load_lab_config(None))


def test_only_this_checkouts_atomics_are_curated(art: Library) -> None:
    project = load_technique(default_technique_path()).atomic_tests[0]
    upstream = art.find("T1003.008-1").test
    assert is_project_atomic(project) and not is_project_atomic(upstream)
    assert is_project_atomic(dataclasses.replace(upstream, location=None))  # built in code (negative control)


def test_a_users_own_file_with_a_signals_sidecar_is_curated(art: Library, tmp_path: Path) -> None:
    upstream = art.find("T1003.008-1").test
    assert upstream.location is not None
    own = tmp_path / "mine.yaml"
    own.write_text(Path(upstream.location.path).read_text())
    moved = dataclasses.replace(upstream, location=dataclasses.replace(upstream.location, path=str(own)))
    assert not is_project_atomic(moved)  # no sidecar: treated as upstream
    (tmp_path / "mine.signals.yaml").write_text("attack_technique: T1003.008\n")
    assert is_project_atomic(moved)


def test_running_from_inside_an_upstream_clone_does_not_curate_it(
    art: Library, scope: Scope, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(SAMPLE.parent)  # tests/data/art holds an atomics/ folder, like upstream's clone
    test = art.find("T1003.008-1").test
    assert not is_project_atomic(test)
    assert refusal(test, "netns://rah", scope) is not None


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("netns://rah", "the embedded lab shares this machine's filesystem"),
        ("local://", "local:// is this machine"),
        ("ssh://root@lab-7", "ssh://root@lab-7 is not marked disposable"),
        ("ssh://root@lab-7?disposable=0", "is not marked disposable"),
        ("docker://x", "docker:// targets are not known to be disposable"),
        ("lab-7", "target URL needs a scheme"),
    ],
)
def test_targets_that_are_not_disposable_are_refused_with_a_reason(url: str, fragment: str) -> None:
    why = disposable_refusal(url)
    assert why is not None and fragment in why


@pytest.mark.parametrize("url", ["vagrant://default", "ssh://root@lab-7?disposable=1", "ssh://lab-7:2222?disposable=true"])
def test_disposable_targets(url: str) -> None:
    assert disposable_refusal(url) is None


def test_an_inventory_may_mark_a_host_disposable() -> None:
    assert disposable_refusal("ssh://root@lab-7", disposable_hosts={"lab-7"}) is None
    assert disposable_refusal("ssh://root@lab-8", disposable_hosts={"lab-7"}) is not None


def test_scope_covers_every_phase_of_an_upstream_test(art: Library, scope: Scope) -> None:
    # T1003.007-4's prerequisite clones from github.com: outside the lab, so the test is not run.
    why = scope_refusal(art.find("T1003.007-4").test, scope)
    assert why is not None and "get_prereq: URL host github.com is neither a lab service" in why
    assert scope_refusal(art.find("T1087.001-1").test, scope) is None  # `cat /etc/passwd`: nothing leaves


def test_host_arguments_are_checked_and_file_names_are_not(tmp_path: Path, scope: Scope) -> None:
    path = tmp_path / "T1000.yaml"
    path.write_text(
        """attack_technique: T1000
display_name: Scope test
atomic_tests:
- name: a timer and a lookup
  auto_generated_guid: 0b6f3f5e-8a7d-4c1e-b1a4-2f4c5d6e7f80
  description: d
  supported_platforms: [linux]
  input_arguments:
    unit_file:
      description: a file name that looks like a domain
      type: string
      default: art-timer.service
    domain:
      description: the name looked up
      type: string
      default: www.google.com
  executor:
    name: sh
    command: "cp /dev/null /tmp/#{unit_file} && host #{domain}"
""",
        encoding="utf-8",
    )
    (test,) = load_technique(path).atomic_tests
    assert scope_refusal(test, scope) == (
        "arguments: argument domain=www.google.com names a domain outside the lab domains ['example.test']"
    )
    assert scope_refusal(test, scope, {"domain": "www.example.test"}) is None


def test_refusal_order_and_reasons(art: Library, scope: Scope) -> None:
    shadow = art.find("T1003.008-1").test
    assert refusal(shadow, "vagrant://default", scope) is None
    assert refusal(shadow, "ssh://lab?disposable=1", scope) is None
    netns = refusal(shadow, "netns://rah", scope)
    assert netns is not None and netns.startswith("upstream atomic T1003.008-1 is destructive and not run here: ")
    no_scope = refusal(shadow, "vagrant://default", None)
    assert no_scope == "upstream atomic T1003.008-1 is not run without a declared scope"
    powershell = art.find("T1027.013-1").test
    assert refusal(powershell, "vagrant://default", scope) == (
        "not applicable: executor powershell: the harness runs only sh or bash on linux targets"
    )
    outside = refusal(art.find("T1003.007-4").test, "vagrant://default", scope)
    assert outside is not None and outside.startswith("upstream atomic T1003.007-4 leaves the declared scope: ")
    rootkit = art.find("T1014-1").test
    folder = refusal(rootkit, "vagrant://default", scope)
    assert folder is not None and "uses PathToAtomicsFolder, and no atomics folder is on the target" in folder
    assert refusal(rootkit, "vagrant://default", scope, atomics_folder="/opt/art/atomics") is None


def test_the_project_atomics_keep_running_where_they_do(scope: Scope) -> None:
    for test in load_technique(default_technique_path()).atomic_tests:
        assert refusal(test, "netns://rah", scope) is None


def _session(scope: Scope) -> Session:
    return Session(target=get_target("local://"), lab_config=load_lab_config(None), scope=scope, lab=None)


def test_the_pipeline_never_runs_a_refused_test(tmp_path: Path, scope: Scope) -> None:
    marker = tmp_path / "ran"
    folder = tmp_path / "atomics" / "T1000"
    folder.mkdir(parents=True)
    (folder / "T1000.yaml").write_text(
        f"""attack_technique: T1000
display_name: Guard test
atomic_tests:
- name: writes a marker
  auto_generated_guid: 5d0c7c1e-2a53-4b4e-9a55-6f7a1c0c9d21
  description: d
  supported_platforms: [linux]
  executor:
    name: sh
    command: touch {marker}
    cleanup_command: rm -f {marker}.cleanup
""",
        encoding="utf-8",
    )
    (test,) = load_technique(folder / "T1000.yaml").atomic_tests
    pipeline = DetonationPipeline(_session(scope), collect=False)
    done = pipeline.detonate(test)
    assert done.run.status is Status.ERROR and done.run.commands == ()
    assert "local:// is this machine" in done.run.reason
    assert not marker.exists()
    # The control: the same test, built in code, runs on the same target through the same pipeline.
    done = pipeline.detonate(dataclasses.replace(test, location=None))
    assert done.run.status is Status.EXECUTED and marker.exists()
