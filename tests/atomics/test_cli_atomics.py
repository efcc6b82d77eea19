"""``harness list`` and ``harness show`` (harness/cli/atomics.py)."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.cli.atomics import register
from harness.errors import HarnessError


def main(argv: list[str]) -> int:
    """Run ``harness <argv>`` with only this module's subcommands registered.

    Other helpers' CLI modules are loaded by harness.cli.main; keeping them out makes these tests
    depend on this module alone. Error handling mirrors harness.cli.main (HarnessError -> 2).
    """
    parser = argparse.ArgumentParser(prog="harness")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2


def test_subcommands_are_discovered_by_harness_cli() -> None:
    from harness.cli import build_parser

    choices = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert {"list", "show"} <= set(choices)


def test_list_prints_one_line_per_test(technique_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--atomics", str(technique_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    assert lines[2].split()[:2] == ["T1590.005-3", "f058056a-0ae3-4f31-879c-15f3969a3db9"]
    assert lines[2].endswith("nmap ping sweep of an IP range")


@pytest.mark.parametrize("key", ["T1590.005-1", "1", "a0b03b44-76ac-444c-90fc-c5900cabd1bb"])
def test_show_renders_commands_and_redacts_secrets(
    key: str, technique_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHODAN_API_KEY", "do-not-print-0123456789")
    assert main(["show", key, "--atomics", str(technique_path)]) == 0
    out = capsys.readouterr().out
    assert "HOME=/tmp/atomic-shodan-home shodan host 198.51.100.130" in out
    assert "printf '%s' \"<redacted>\" > /tmp/atomic-shodan-home/.config/shodan/api_key" in out
    assert "api_key (string) = <redacted>  [secret]" in out
    assert "$SHODAN_API_KEY" not in out and "do-not-print" not in out
    assert "pip install --quiet shodan==1.31.0" in out  # dependencies are shown
    assert "- shodan-dns-query" in out and "7efe8710-8d79-4cb8-aefd-599de3c9d2c4" in out


def test_show_unknown_test_is_an_error(technique_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "T1590.005-6", "--atomics", str(technique_path)]) == 2
    assert "no atomic test 'T1590.005-6'" in capsys.readouterr().err


def test_broken_definition_reports_location(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "T.yaml"
    bad.write_text("attack_technique: T1590.005\ndisplay_name: IP addresses\natomic_tests: {}\n", encoding="utf-8")
    assert main(["list", "--atomics", str(bad)]) == 2
    assert f"{bad}:3:15: atomic_tests must be a list" in capsys.readouterr().err


# --- a whole upstream tree (tests/data/art: real Atomic Red Team files, unchanged) --------------

ART = Path(__file__).resolve().parents[1] / "data" / "art" / "atomics"


def test_list_a_tree_lists_linux_tests_and_says_why_some_are_not_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--atomics", str(ART)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 62
    marked = [line for line in lines if "-- not applicable: " in line]
    assert len(marked) == 4
    assert any(
        line.startswith("T1027.013-1 ") and line.endswith("executor powershell: the harness runs only sh or bash on "
                                                           "linux targets")
        for line in marked
    )
    assert any(line.split()[:3] == ["T1048.003-1", "1d1abbd6-a3d3-4b2e-bef5-c59293f46eff", "manual"] for line in marked)
    assert "T1003.008-1   3723ab77-c546-403c-8fb4-bb577033b235  bash           Access /etc/shadow (Local)" in lines
    assert not any(line.startswith("T1003-") for line in lines)  # Windows-only technique: not for linux
    assert captured.err.strip() == (
        "15 technique file(s): 15 loaded, 0 with errors; 146 test(s), 62 listed (for linux): 58 runnable, "
        "4 not applicable (2 executor powershell, 2 manual executor)"
    )


@pytest.mark.parametrize(
    ("argv", "count", "check"),
    [
        (["--executor", "bash"], 13, lambda f: f[2] == "bash"),
        (["--technique", "T1003"], 9, lambda f: f[0].startswith("T1003.")),
        (["--platform", "all", "--technique", "T1003"], 16, lambda f: f[0].startswith("T1003")),
        (["--platform", "windows", "--executor", "command_prompt"], 37, lambda f: f[2] == "command_prompt"),
        (["--runnable"], 58, lambda f: f[2] in ("sh", "bash")),
    ],
)
def test_list_filters(argv: list[str], count: int, check: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--atomics", str(ART), *argv]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == count and all(check(line.split()) for line in lines), lines


def test_list_a_tree_with_a_broken_file_lists_the_rest_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "atomics"
    shutil.copytree(ART, tree)
    bad = tree / "T1222.002" / "T1222.002.yaml"
    bad.write_text(bad.read_text(encoding="utf-8") + "  - oops: [\n", encoding="utf-8")
    assert main(["list", "--atomics", str(tree)]) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 62 - 14  # everything but the broken file's 14 Linux tests
    (error_line,) = [line for line in captured.err.splitlines() if line.startswith("harness: error:")]
    assert error_line.startswith(f"harness: error: {bad}:") and "invalid YAML" in error_line
    assert "15 technique file(s): 14 loaded, 1 with errors" in captured.err


def test_show_from_a_tree_renders_atomics_folder_and_says_no_sidecar(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "T1014-1", "--atomics", str(ART)]) == 0
    out = capsys.readouterr().out
    assert "runnable: yes" in out
    assert f"cp {ART}/T1014/src/Linux/* /tmp/T1014/" in out and "PathToAtomicsFolder" not in out
    assert f"rootkit_source_path (path) = {ART}/T1014/src/Linux" in out
    assert "signals: none declared (no .signals.yaml sidecar)" in out


def test_show_by_guid_of_a_manual_test(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "1d1abbd6-a3d3-4b2e-bef5-c59293f46eff", "--atomics", str(ART)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("T1048.003-1  Exfiltration Over Alternative Protocol - HTTP")
    assert "runnable: no, not applicable: manual executor" in out and "steps (manual):" in out
    assert "\ncommand:" not in out


def test_show_an_unknown_id_in_a_tree(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "T1014-9", "--atomics", str(ART)]) == 2
    assert "no atomic test 'T1014-9'" in capsys.readouterr().err


def test_list_with_a_target_says_what_would_be_refused_and_runs_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--atomics", str(ART), "--target", "netns://rah", "--technique", "T1003.008"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 5 and all("-- refused on netns://rah: upstream atomic" in line for line in lines)
    assert "the embedded lab shares this machine's filesystem" in lines[0]
    assert "on netns://rah: 0 of 5 runnable test(s) would run, 5 refused (5 destructive)" in captured.err


def test_list_on_the_vm_names_scope_refusals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--atomics", str(ART), "--target", "vagrant://default", "--runnable"]) == 0
    captured = capsys.readouterr()
    refused = [line for line in captured.out.splitlines() if "-- refused on vagrant://default: " in line]
    assert any(line.startswith("T1003.007-4 ") and "get_prereq: URL host github.com" in line for line in refused)
    # PathToAtomicsFolder: an ART run copies the payloads from the tree, so such a test would run
    assert not any(line.startswith(("T1014-1 ", "T1003.007-3 ")) for line in refused)
    assert not any(line.startswith("T1003.008-1 ") for line in refused)
    summary = captured.err.splitlines()[-1]
    assert summary.startswith("on vagrant://default: ") and f"{58 - len(refused)} of 58 runnable" in summary


def test_show_with_a_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "T1003.008-1", "--atomics", str(ART), "--target", "ssh://root@lab?disposable=1"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("on ssh://root@lab?disposable=1: would run")
    assert main(["show", "T1003.008-1", "--atomics", str(ART), "--target", "ssh://root@lab"]) == 0
    assert "on ssh://root@lab: refused: upstream atomic T1003.008-1 is destructive" in capsys.readouterr().out
