"""The target facts of a run: every fact from one command, the first line of each."""

from __future__ import annotations

from harness.run.validation import FACT_COMMANDS, FACT_MARK, _fact_answers, facts_script
from harness.targets.local import LocalTarget


def test_fact_answers_take_each_facts_first_non_empty_line() -> None:
    out = f"{FACT_MARK}os\nDebian 12\nsecond line\n{FACT_MARK}shodan\n{FACT_MARK}kernel\n\n6.1.0\n"
    assert _fact_answers(out) == {"os": "Debian 12", "shodan": "", "kernel": "6.1.0"}


def test_every_fact_is_answered_from_one_script_on_a_real_shell() -> None:
    answers = _fact_answers(LocalTarget().run(facts_script(), timeout=60).stdout)
    assert set(answers) == set(FACT_COMMANDS)
    assert answers["kernel"] and answers["python3"].startswith("Python 3")
