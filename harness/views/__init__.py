"""Normalised views of parsed telemetry: the one place that maps source fields.

* :func:`harness.views.sigma.sigma_events` / :class:`~harness.views.sigma.SigmaView`: Sigma
  taxonomy events (``{"logsource", "event", "meta"}``);
* :func:`harness.views.defender.defender_rows` / :class:`~harness.views.defender.DefenderView`:
  Defender advanced-hunting rows (``{"table", "row"}``);
* :class:`~harness.views.context.ViewContext`: lab facts (device name, Public ranges, local
  addresses).
"""

from __future__ import annotations

from harness.views.context import ViewContext
from harness.views.defender import DefenderView, defender_rows
from harness.views.sigma import SigmaView, sigma_events

__all__ = ["DefenderView", "SigmaView", "ViewContext", "defender_rows", "sigma_events"]
