"""Shared fixtures of the KQL tests."""

from __future__ import annotations

import pytest

from harness.rules.kql import KqlEngine


@pytest.fixture(scope="module")
def engine() -> KqlEngine:
    """One Defender-flavoured engine per test module (the queries build their own tables)."""
    return KqlEngine("defender")
