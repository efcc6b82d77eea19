"""T1590.005-4: theHarvester 4.6.0 enumerating a domain with its dnsdumpster and bing sources.

Its prerequisite installs the pinned release from the offline package cache (the harness fetches the
upstream tag into it on the controller when it can): where it is missing the test skips with the
reason naming the cache path and the tag (PREREQ_MISSING), never passes."""

import json

import pytest

from harness.lab.config import load_lab_config
from harness.lab.inet.data import build_lab_data


@pytest.mark.destructive
@pytest.mark.atomic("T1590.005-4")
def test_theharvester_enumeration(atomic, validation_run):
    atomic.assert_alerted()
    # The tool's own -f report (the command prints STEM.json last) lists exactly the lab's hosts of
    # the scope domain: what the simulated dnsdumpster and bing gave it, nothing else.
    detonation = [c for c in atomic.outcome.run["commands"] if c["phase"] == "detonate"][-1]
    report = json.loads(detonation["stdout"].strip().splitlines()[-1])
    lab = build_lab_data(load_lab_config(validation_run.lab_config))
    expected = sorted(h.name for h in lab.hosts_of_domain(atomic.outcome.args["domain"]))
    assert expected and sorted(report["hosts"]) == expected
