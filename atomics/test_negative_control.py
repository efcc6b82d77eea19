"""Negative control: benign activity on the same lab (a curl of an unrelated simulated site, a ping
of the gateway) must fire none of the detections; a firing is a FALSE_POSITIVE failure."""

import pytest


@pytest.mark.atomic("negative-control")
def test_negative_control_fires_nothing(atomic):
    atomic.assert_clean()
