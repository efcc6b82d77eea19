"""T1590.005-5: bgp.he.net ASN lookup, judged per expected signal (Sigma and KQL)."""

import pytest


@pytest.mark.atomic("T1590.005-5")
def test_bgp_he_asn_lookup(atomic):
    atomic.assert_alerted()
