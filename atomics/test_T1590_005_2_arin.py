"""T1590.005-2: ARIN WHOIS IP block lookup via curl, judged per expected signal (Sigma and KQL)."""

import pytest


@pytest.mark.atomic("T1590.005-2")
def test_arin_whois_ip_block_lookup(atomic):
    atomic.assert_alerted()
