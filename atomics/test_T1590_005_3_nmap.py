"""T1590.005-3: nmap ping sweep of an IP range, judged per expected signal (Sigma and KQL)."""

import pytest


@pytest.mark.atomic("T1590.005-3")
def test_nmap_ping_sweep(atomic):
    atomic.assert_alerted()
