"""The committed Markdown page is exactly what the generator makes from the YAML."""

from __future__ import annotations

from pathlib import Path

from harness.atomics.docs import main, markdown_path, render_markdown
from harness.atomics.loader import load


def test_committed_markdown_is_generated(technique_path: Path) -> None:
    technique, signals = load(technique_path)
    committed = markdown_path(technique_path).read_text(encoding="utf-8")
    assert committed == render_markdown(technique, signals), (
        "atomics/T1590.005/T1590.005.md is stale: run `python -m harness.atomics.docs atomics/T1590.005/T1590.005.yaml`"
    )


def test_markdown_lists_every_test_command_and_signal(technique_path: Path) -> None:
    technique, signals = load(technique_path)
    page = render_markdown(technique, signals)
    for test in technique.atomic_tests:
        assert f"**auto_generated_guid:** {test.guid}" in page
        assert test.executor.command.strip().splitlines()[0] in page
        for signal in signals.for_test(test).signals:
            assert f"`{signal.id}`" in page
    assert "Elevation Required" in page.split("## Atomic Test #3")[1].split("## Atomic Test #4")[0]
    assert "(secret: redacted in logs and evidence)" in page


def test_a_change_in_the_yaml_changes_the_page(technique_path: Path, tmp_path: Path) -> None:
    # The equality test above can fail: edit the YAML and the generated page differs.
    copy = tmp_path / "T1590.005.yaml"
    copy.write_text(technique_path.read_text(encoding="utf-8").replace("nmap ping sweep", "nmap sweep"))
    (tmp_path / "T1590.005.signals.yaml").write_text(
        technique_path.with_name("T1590.005.signals.yaml").read_text(encoding="utf-8")
    )
    assert main([str(copy)]) == 0
    regenerated = markdown_path(copy).read_text(encoding="utf-8")
    assert regenerated != markdown_path(technique_path).read_text(encoding="utf-8")
    assert "Atomic Test #3 - nmap sweep of an IP range" in regenerated
