"""Input-argument overrides: a misspelt name or a wrong type is an error before anything runs;
with several atomics selected, an argument applies to the atomics that declare it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.atomics.arguments import arguments_per_test, parse_assignments
from harness.atomics.loader import load_technique
from harness.atomics.model import AtomicTest
from harness.errors import ConfigError

TECHNIQUE = Path(__file__).resolve().parents[2] / "atomics" / "T1590.005" / "T1590.005.yaml"



@pytest.fixture(scope="module")
def tests() -> tuple[AtomicTest, ...]:
    return load_technique(TECHNIQUE).atomic_tests


def test_parse_assignments_keeps_equals_in_values_and_names_the_option() -> None:
    assert parse_assignments(["a=1", "b=x=y", "c="], "--arg") == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(ConfigError, match=r"^--atomic-arg expects NAME=VALUE, got 'target_range'$"):
        parse_assignments(["target_range"], "--atomic-arg")
    with pytest.raises(ConfigError, match="expects NAME=VALUE"):
        parse_assignments(["=1"], "--arg")


def test_misspelt_argument_lists_the_known_ones(tests: tuple[AtomicTest, ...]) -> None:
    nmap = [t for t in tests if t.id == "T1590.005-3"]
    with pytest.raises(ConfigError) as info:
        arguments_per_test(nmap, {"target_rnge": "198.51.100.0/28"})
    assert str(info.value) == (
        "unknown atomic argument 'target_rnge' (did you mean 'target_range'?): no selected atomic "
        "(T1590.005-3) declares it; known: output_file, target_range"
    )


def test_argument_declared_by_an_unselected_atomic_is_unknown(tests: tuple[AtomicTest, ...]) -> None:
    bgp = [t for t in tests if t.id == "T1590.005-5"]
    with pytest.raises(ConfigError, match=r"unknown atomic argument 'target_range'.*known: asn, output_file"):
        arguments_per_test(bgp, {"target_range": "198.51.100.0/28"})


def test_an_argument_some_atomics_declare_applies_to_those(tests: tuple[AtomicTest, ...]) -> None:
    per = arguments_per_test(tests, {"target_range": "198.51.100.0/28", "asn": "64501"})
    assert per["T1590.005-1"] == {"target_range": "198.51.100.0/28"}
    assert per["T1590.005-3"] == {"target_range": "198.51.100.0/28"}
    assert per["T1590.005-5"] == {"asn": "64501"}
    assert per["T1590.005-2"] == {} and per["T1590.005-4"] == {}
    nmap = next(t for t in tests if t.id == "T1590.005-3")
    assert "198.51.100.0/28" in nmap.render(nmap.executor.command, per["T1590.005-3"])


def test_wrong_type_is_an_error(tests: tuple[AtomicTest, ...]) -> None:
    with pytest.raises(ConfigError, match=r"^T1590.005-5: input argument asn must be an integer, got 'abc'$"):
        arguments_per_test(tests, {"asn": "abc"})
