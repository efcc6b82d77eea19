"""The technique loader: the shipped file loads, and every ART rule fails when broken (with locations)."""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.atomics.loader import load_technique
from harness.errors import AtomicDefinitionError, ErrorCollection, SourceLocation

GUIDS = [
    "a0b03b44-76ac-444c-90fc-c5900cabd1bb",
    "b209d84b-fa0d-40f1-9cad-a9dca94fd4b0",
    "f058056a-0ae3-4f31-879c-15f3969a3db9",
    "e5c3d1c6-876b-4e5f-9abe-f266d38b007a",
    "14771159-8079-4545-a6f8-8c37ce8bba64",
]


def test_shipped_technique_loads(technique_path: Path) -> None:
    technique = load_technique(technique_path)
    assert technique.attack_technique == "T1590.005"
    assert [t.id for t in technique.atomic_tests] == [f"T1590.005-{i}" for i in range(1, 6)]
    assert [t.guid for t in technique.atomic_tests] == GUIDS
    names = [t.name for t in technique.atomic_tests]
    assert [
        "Shodan" in names[0],
        "ARIN" in names[1],
        "nmap" in names[2],
        "theHarvester" in names[3],
        "bgp.he.net" in names[4],
    ] == [True] * 5
    for test in technique.atomic_tests:
        assert test.supported_platforms == ("linux",)
        assert test.executor.name in ("sh", "bash")
        assert test.executor.cleanup_command, f"{test.id} has no cleanup"
        assert test.dependencies, f"{test.id} declares no prerequisite"
    assert [t.executor.elevation_required for t in technique.atomic_tests] == [
        False,
        False,
        True,
        False,
        False,
    ]


def test_shipped_commands_render_with_lab_defaults(technique_path: Path) -> None:
    t = {x.id: x for x in load_technique(technique_path).atomic_tests}
    shodan = t["T1590.005-1"].render(t["T1590.005-1"].executor.command)
    assert "printf '%s' \"$SHODAN_API_KEY\" > /tmp/atomic-shodan-home/.config/shodan/api_key" in shodan
    assert "shodan host 198.51.100.130" in shodan and "shodan search net:198.51.100.128/28" in shodan
    arin = t["T1590.005-2"].render(t["T1590.005-2"].executor.command)
    assert "https://whois.arin.net/rest/ip/198.51.100.130" in arin and "rdap.arin.net" in arin
    assert {"/tmp/atomic-arin.json", "/tmp/atomic-arin.xml", "/tmp/atomic-rdap.json"} <= set(arin.split())
    nmap = t["T1590.005-3"].render(t["T1590.005-3"].executor.command)
    assert nmap.strip() == "nmap -sn 198.51.100.128/28 -oX /tmp/atomic-nmap-sweep.xml"
    harvester = t["T1590.005-4"].render(t["T1590.005-4"].executor.command)
    assert harvester.strip().splitlines()[-2] == (
        "HOME=/tmp/atomic-harvester-home /var/cache/recon-harness/theHarvester-4.6.0/bin/theHarvester "
        "-d example.test -b dnsdumpster,bing -f /tmp/atomic-harvester")
    bgp = t["T1590.005-5"].render(t["T1590.005-5"].executor.command)
    assert "https://bgp.he.net/AS64500 -o /tmp/atomic-bgp.html" in bgp


def test_cleanups_remove_what_the_commands_write(technique_path: Path) -> None:
    t = {x.id: x for x in load_technique(technique_path).atomic_tests}
    cleanup = {k: v.render(v.executor.cleanup_command or "") for k, v in t.items()}
    assert "/tmp/atomic-shodan-home" in cleanup["T1590.005-1"]
    for path in ("/tmp/atomic-arin.json", "/tmp/atomic-arin.xml", "/tmp/atomic-rdap.json"):
        assert path in cleanup["T1590.005-2"]
    assert "/tmp/atomic-nmap-sweep.xml" in cleanup["T1590.005-3"]
    # theHarvester -f STEM writes STEM.xml and STEM.json (upstream rsplit('.', 1)[0] + ext).
    assert "/tmp/atomic-harvester.xml" in cleanup["T1590.005-4"]
    assert "/tmp/atomic-harvester.json" in cleanup["T1590.005-4"]
    assert "rm -rf /tmp/atomic-harvester-home" in cleanup["T1590.005-4"]  # its config and stash database
    assert "/tmp/atomic-bgp.html" in cleanup["T1590.005-5"]


def _get_prereq(technique_path: Path, tmp_path: Path) -> tuple[int, str]:
    """Run T1590.005-4's real get_prereq shell here, against a private cache and venv path."""
    import subprocess

    test = load_technique(technique_path).find("4")
    (dep,) = test.dependencies
    args = {"package_cache": str(tmp_path / "cache"), "harvester_venv": str(tmp_path / "venv")}
    proc = subprocess.run(["sh", "-c", test.render(dep.get_prereq_command or "", args)], capture_output=True,
                          text=True, timeout=60)
    return proc.returncode, proc.stderr


def test_theharvester_prereq_without_the_release_names_cache_and_tag(technique_path: Path, tmp_path: Path) -> None:
    rc, err = _get_prereq(technique_path, tmp_path)
    assert rc == 1 and err.startswith("prerequisite missing: theHarvester 4.6.0 is not in the offline package cache")
    assert f"{tmp_path}/cache/theHarvester-4.6.0.tar.gz" in err
    assert "https://github.com/laramies/theHarvester/archive/refs/tags/4.6.0.tar.gz" in err
    assert not (tmp_path / "venv").exists()


def test_theharvester_prereq_refuses_an_archive_that_is_not_the_tag(technique_path: Path, tmp_path: Path) -> None:
    import gzip

    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "theHarvester-4.6.0.tar.gz").write_bytes(gzip.compress(b"something else"))
    rc, err = _get_prereq(technique_path, tmp_path)
    assert rc == 1 and "is not tag 4.6.0 of https://github.com/laramies/theHarvester" in err
    assert not (tmp_path / "venv").exists()


def test_theharvester_prereq_checks_the_pinned_release_only(technique_path: Path) -> None:
    test = load_technique(technique_path).find("4")
    (dep,) = test.dependencies
    check = test.render(dep.prereq_command)
    assert "/var/cache/recon-harness/theHarvester-4.6.0/bin/python" in check and '= "4.6.0"' in check
    get = test.render(dep.get_prereq_command or "")
    assert "--no-index --find-links /var/cache/recon-harness/packages/wheels" in get
    assert "/opt" not in get and "/usr/local" not in get and "git clone" not in get
    assert "pip install theharvester" not in get.lower()  # the PyPI name is an unrelated upload


# --- every ART rule fails when broken -----------------------------------------------------------


def _dump(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "T1590.005.yaml"
    path.write_text(yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False), encoding="utf-8")
    return path


def _errors(path: Path) -> list[str]:
    with pytest.raises(ErrorCollection) as info:
        load_technique(path)
    assert all(isinstance(e, AtomicDefinitionError) for e in info.value.errors)
    assert all(e.location is not None and e.location.path == str(path) for e in info.value.errors)
    return [e.message for e in info.value.errors]


Mutation = Callable[[dict[str, Any]], None]

ART_RULES: dict[str, tuple[Mutation, str]] = {
    "technique unknown key": (lambda d: d.update(colour="blue"), "unknown key 'colour'"),
    "technique id pattern": (lambda d: d.update(attack_technique="TA0043"), "is not an ATT&CK id"),
    "technique id missing": (lambda d: d.pop("attack_technique"), "missing required key 'attack_technique'"),
    "display_name too short": (lambda d: d.update(display_name="IPs"), "at least 5"),
    "no tests": (lambda d: d.update(atomic_tests=[]), "at least one test"),
    "test unknown key": (lambda d: d["atomic_tests"][0].update(author="x"), "unknown key 'author'"),
    "name missing": (lambda d: d["atomic_tests"][0].pop("name"), "missing required key 'name'"),
    "name empty": (lambda d: d["atomic_tests"][0].update(name=""), "at least 1"),
    "description missing": (lambda d: d["atomic_tests"][0].pop("description"), "'description'"),
    "guid missing": (lambda d: d["atomic_tests"][0].pop("auto_generated_guid"), "'auto_generated_guid'"),
    "guid not v4": (
        lambda d: d["atomic_tests"][0].update(auto_generated_guid="6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
        "not a canonical lowercase UUIDv4",
    ),
    "guid uppercase": (
        lambda d: d["atomic_tests"][0].update(auto_generated_guid=GUIDS[0].upper()),
        "not a canonical lowercase UUIDv4",
    ),
    "guid garbage": (lambda d: d["atomic_tests"][0].update(auto_generated_guid="nope"), "UUIDv4"),
    "duplicate guid": (lambda d: d["atomic_tests"][1].update(auto_generated_guid=GUIDS[0]), "duplicate GUID"),
    "platform unknown": (
        lambda d: d["atomic_tests"][0].update(supported_platforms=["linux", "plan9"]),
        "unknown platform 'plan9'",
    ),
    "platforms empty": (
        lambda d: d["atomic_tests"][0].update(supported_platforms=[]),
        "at least one platform",
    ),
    "platforms not a list": (
        lambda d: d["atomic_tests"][0].update(supported_platforms="linux"),
        "must be a list",
    ),
    "input_arguments null": (
        lambda d: d["atomic_tests"][2].update(input_arguments=None),
        "input_arguments is empty",
    ),
    "argument unknown key": (
        lambda d: d["atomic_tests"][2]["input_arguments"]["target_range"].update(x=1),
        "unknown key 'x'",
    ),
    "argument missing default": (
        lambda d: d["atomic_tests"][2]["input_arguments"]["target_range"].pop("default"),
        "missing required key 'default'",
    ),
    "argument bad type": (
        lambda d: d["atomic_tests"][2]["input_arguments"]["target_range"].update(type="cidr"),
        "type 'cidr' is not one of",
    ),
    "integer default not int": (
        lambda d: d["atomic_tests"][4]["input_arguments"]["asn"].update(default="AS1"),
        "is not a valid integer",
    ),
    "integer default bool": (
        lambda d: d["atomic_tests"][4]["input_arguments"]["asn"].update(default=True),
        "is not a valid integer",
    ),
    "float default int": (
        lambda d: d["atomic_tests"][4]["input_arguments"]["asn"].update(type="float"),
        "is not a valid float",
    ),
    "string default int": (
        lambda d: d["atomic_tests"][4]["input_arguments"]["asn"].update(type="string"),
        "is not a valid string",
    ),
    "url default invalid": (
        lambda d: d["atomic_tests"][3]["input_arguments"]["harvester_repo"].update(default="not a url"),
        "is not a valid url",
    ),
    "argument name too short": (
        lambda d: _rename_arg(d["atomic_tests"][4], "asn", "a"),
        "at least 2 characters",
    ),
    "argument name bad chars": (
        lambda d: _rename_arg(d["atomic_tests"][4], "asn", "as n"),
        "letters, digits",
    ),
    "undeclared placeholder": (
        lambda d: d["atomic_tests"][2]["executor"].update(
            command="nmap -sn #{target_range} -oX #{output_file} #{extra}"
        ),
        "#{extra} is not declared",
    ),
    "unused argument": (
        lambda d: d["atomic_tests"][2]["input_arguments"].update(
            spare={"description": "x", "type": "string", "default": "y"}
        ),
        "'spare' is not used",
    ),
    "executor missing": (lambda d: d["atomic_tests"][0].pop("executor"), "missing required key 'executor'"),
    "executor unknown key": (
        lambda d: d["atomic_tests"][0]["executor"].update(shell="sh"),
        "unknown key 'shell'",
    ),
    "executor name invalid": (
        lambda d: d["atomic_tests"][0]["executor"].update(name="zsh"),
        "'zsh' is not one of",
    ),
    "manual steps too short": (
        lambda d: d["atomic_tests"][0].update(executor={"name": "manual", "steps": "by hand"}),
        "at least 10",
    ),
    "manual executor with a command": (
        lambda d: d["atomic_tests"][0].update(executor={"name": "manual", "steps": "do it by hand", "command": "x"}),
        "unknown key 'command'",
    ),
    "powershell executor without command": (
        lambda d: d["atomic_tests"][0].update(executor={"name": "powershell"}),
        "missing required key 'command'",
    ),
    "command missing": (
        lambda d: d["atomic_tests"][2]["executor"].pop("command"),
        "missing required key 'command'",
    ),
    "command empty": (lambda d: d["atomic_tests"][4]["executor"].update(command=""), "at least 1"),
    "elevation not bool": (
        lambda d: d["atomic_tests"][2]["executor"].update(elevation_required="yes"),
        "must be true or false",
    ),
    "sudo without elevation": (
        lambda d: d["atomic_tests"][4]["executor"].update(
            command="sudo curl -sS https://bgp.he.net/AS#{asn} -o #{output_file}"
        ),
        "uses sudo",
    ),
    "sudo in cleanup": (
        lambda d: d["atomic_tests"][4]["executor"].update(cleanup_command="sudo rm -f #{output_file}"),
        "uses sudo",
    ),
    "dependency unknown key": (
        lambda d: d["atomic_tests"][2]["dependencies"][0].update(os="linux"),
        "unknown key 'os'",
    ),
    "dependency without prereq": (
        lambda d: d["atomic_tests"][2]["dependencies"][0].pop("prereq_command"),
        "missing required key 'prereq_command'",
    ),
    "dependency without get_prereq key": (
        lambda d: d["atomic_tests"][2]["dependencies"][0].pop("get_prereq_command"),
        "missing required key 'get_prereq_command'",
    ),
    "dependency executor invalid": (
        lambda d: d["atomic_tests"][2].update(dependency_executor_name="fish"),
        "'fish' is not one of",
    ),
    "dependency executor empty": (
        lambda d: d["atomic_tests"][2].update(dependency_executor_name=""),
        "dependency_executor_name is empty",
    ),
    "dependency executor without dependencies": (
        lambda d: _drop_dependencies(d["atomic_tests"][4]),
        "not needed without dependencies",
    ),
    "test_number wrong": (
        lambda d: d["atomic_tests"][1].update(test_number="T1590.005-7"),
        "numbered by position",
    ),
}


def _rename_arg(test: dict[str, Any], old: str, new: str) -> None:
    args = test["input_arguments"]
    args[new] = args.pop(old)
    for key in ("command", "cleanup_command"):
        test["executor"][key] = test["executor"][key].replace(f"#{{{old}}}", f"#{{{new}}}")


def _drop_dependencies(test: dict[str, Any]) -> None:
    test.pop("dependencies")


@pytest.mark.parametrize("rule", sorted(ART_RULES))
def test_each_art_rule_fails_when_broken(rule: str, technique_path: Path, tmp_path: Path) -> None:
    data = yaml.load(technique_path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    mutate, expected = ART_RULES[rule]
    broken = copy.deepcopy(data)
    mutate(broken)
    messages = _errors(_dump(tmp_path, broken))
    assert any(expected in m for m in messages), messages


def test_unmutated_dump_still_loads(technique_path: Path, tmp_path: Path) -> None:
    # The control for the parametrized test above: the round-trip itself introduces no error.
    data = yaml.load(technique_path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    assert len(load_technique(_dump(tmp_path, data)).atomic_tests) == 5


# --- what upstream allows loads: other executors and platforms, repeated names, quoted integers ----


def test_other_executors_and_platforms_load_and_say_why_they_are_not_run(technique_path: Path, tmp_path: Path) -> None:
    data = yaml.load(technique_path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    data["atomic_tests"][0]["executor"]["name"] = "powershell"
    data["atomic_tests"][1]["supported_platforms"] = ["windows", "macos"]
    steps = "Scan #{target_range} by hand, write #{output_file}."
    data["atomic_tests"][2]["executor"] = {"name": "manual", "steps": steps}
    data["atomic_tests"][3]["dependency_executor_name"] = "command_prompt"
    tests = load_technique(_dump(tmp_path, data)).atomic_tests
    assert [t.not_applicable() for t in tests] == [
        "executor powershell: the harness runs only sh or bash on linux targets",
        "for windows, macos, not linux",
        "manual executor: steps for a person to follow, no command to run",
        "prerequisites use the command_prompt executor: the harness runs only sh or bash",
        None,
    ]
    assert tests[2].executor.steps is not None and tests[2].executor.command == ""
    assert tests[1].not_applicable("macos") is None


def test_repeated_names_and_quoted_integers_load_as_upstream_allows(technique_path: Path, tmp_path: Path) -> None:
    data = yaml.load(technique_path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    data["atomic_tests"][1]["name"] = data["atomic_tests"][0]["name"]
    data["atomic_tests"][4]["input_arguments"]["asn"]["default"] = "64501"
    tests = load_technique(_dump(tmp_path, data)).atomic_tests
    assert tests[0].name == tests[1].name and tests[0].id != tests[1].id
    assert tests[4].input_arguments["asn"].default == 64501


def test_path_to_atomics_folder_is_replaced_after_the_arguments(tmp_path: Path) -> None:
    path = tmp_path / "T1000" / "T1000.yaml"
    path.parent.mkdir()
    path.write_text(
        """attack_technique: T1000
display_name: Atomics folder test
atomic_tests:
- name: uses the atomics folder
  auto_generated_guid: 9c8f6f0e-3d4b-4a53-8a39-0c3f6d1f2b11
  description: d
  supported_platforms: [linux]
  input_arguments:
    script:
      description: s
      type: path
      default: PathToAtomicsFolder/T1000/src/run.sh
  executor:
    name: sh
    command: "sh #{script} && ls $PathToAtomicsFolder/T1000 pathtoatomicsfolder"
""",
        encoding="utf-8",
    )
    technique = load_technique(path)
    (test,) = technique.atomic_tests
    assert technique.atomics_folder == str(tmp_path)
    rendered = test.render(test.executor.command, atomics_folder="/opt/art/atomics")
    assert rendered == "sh /opt/art/atomics/T1000/src/run.sh && ls /opt/art/atomics/T1000 /opt/art/atomics"
    # Without a folder the token stays, so nothing silently points at a wrong place.
    assert "PathToAtomicsFolder/T1000/src/run.sh" in test.render(test.executor.command)


# --- a broken copy reports every problem with its line and column -------------------------------

BROKEN = """\
attack_technique: T1590.005
display_name: 'Gather Victim Network Information: IP Addresses'
colour: blue
atomic_tests:
- name: First test
  auto_generated_guid: 6ba7b810-9dad-11d1-80b4-00c04fd430c8
  description: d
  supported_platforms: [linux, plan9]
  input_arguments:
    used:
      description: x
      type: integer
      default: not-a-number
    unused_arg:
      description: x
      type: string
      default: a
  executor:
    name: sh
    command: |
      echo #{used}
      echo #{missing}
    cleanup_command: sudo rm -f /tmp/x
- name: first TEST
  auto_generated_guid: 0f1b1f2e-6f8a-4c1e-9d43-2b7b8f6f0d11
  description: d
  supported_platforms: [linux]
  executor:
    name: sh
    command: echo two
- name: Third test
  auto_generated_guid: 0f1b1f2e-6f8a-4c1e-9d43-2b7b8f6f0d11
  description: d
  supported_platforms: [linux]
  dependency_executor_name: sh
  executor:
    name: sh
    command: echo three
    command: echo again
"""


def test_broken_copy_reports_every_problem_with_line_and_column(tmp_path: Path, locate: Any) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(ErrorCollection) as info:
        load_technique(path)
    got = {(e.location.line, e.location.column): e.message for e in info.value.errors if e.location}

    def at(needle: str, occurrence: int = 1, skip: str = "") -> tuple[int, int]:
        # Position of ``needle``; with ``skip``, of the text right after ``skip`` (a value after its key).
        line, column = locate(BROKEN, skip + needle, occurrence)
        return line, column + len(skip)

    expected = {
        at("colour"): "unknown key 'colour'",
        at("6ba7b810"): "not a canonical lowercase UUIDv4",
        at("plan9"): "unknown platform 'plan9'",
        at("not-a-number"): "is not a valid integer",
        at("unused_arg"): "'unused_arg' is not used",
        at("#{missing}"): "#{missing} is not declared",
        at("name: sh"): "uses sudo",  # reported on the executor mapping
        at("0f1b1f2e", 2): "duplicate GUID",
        at("sh", skip="dependency_executor_name: "): "not needed without dependencies",
        at("command: echo again"): "duplicate key 'command'",
    }
    for position, fragment in expected.items():
        assert position in got, f"no error at {position} (expected {fragment!r}); got {got}"
        assert fragment in got[position], (position, got[position])
    assert len(info.value.errors) == len(expected), "\n".join(str(e) for e in info.value.errors)
    # The collection prints every problem as path:line:col: message.
    text = str(info.value)
    assert text.count(f"{path}:") == len(expected)


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("attack_technique: T1590.005\natomic_tests:\n  - name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ErrorCollection) as info:
        load_technique(path)
    (error,) = info.value.errors
    assert error.location is not None and error.location.path == str(path) and error.location.line == 4
    assert "invalid YAML" in error.message


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ErrorCollection) as info:
        load_technique(tmp_path / "absent.yaml")
    assert info.value.errors[0].location == SourceLocation(str(tmp_path / "absent.yaml"))
    assert "cannot read file" in info.value.errors[0].message


def test_empty_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ErrorCollection, match="file is empty"):
        load_technique(path)


def test_every_shipped_command_is_valid_shell(technique_path: Path) -> None:
    # `sh -n` parses without running: a quoting slip in any command, cleanup or prerequisite fails here.
    for test in load_technique(technique_path).atomic_tests:
        scripts = [test.executor.command, test.executor.cleanup_command or ""]
        for dep in test.dependencies:
            scripts += [dep.prereq_command, dep.get_prereq_command or ""]
        for script in scripts:
            shell = test.executor.name
            assert shutil.which(shell), f"{shell} not installed"
            done = subprocess.run([shell, "-n"], input=test.render(script), text=True, capture_output=True, timeout=10)
            assert done.returncode == 0, f"{test.id}: {done.stderr}\n{script}"
