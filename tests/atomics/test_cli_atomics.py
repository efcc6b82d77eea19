"""``harness list`` and ``harness show`` (harness/cli/atomics.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
