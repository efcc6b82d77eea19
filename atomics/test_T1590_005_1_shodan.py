"""T1590.005-1: Shodan CLI IP range query, judged per expected signal (Sigma and KQL)."""

import pytest


@pytest.mark.destructive  # the prerequisite installs the Shodan CLI into /opt and /usr/local/bin
@pytest.mark.atomic("T1590.005-1")
def test_shodan_cli_ip_range_query(atomic):
    atomic.assert_alerted()
