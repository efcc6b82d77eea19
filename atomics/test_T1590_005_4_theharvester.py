"""T1590.005-4: theHarvester enumeration. Its prerequisite needs the internet and Python >= 3.12:
where that is missing the test skips with the precise reason (PREREQ_MISSING), never passes."""

import pytest


@pytest.mark.online
@pytest.mark.destructive
@pytest.mark.atomic("T1590.005-4")
def test_theharvester_enumeration(atomic):
    atomic.assert_alerted()
