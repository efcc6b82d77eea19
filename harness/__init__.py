"""Purple-team atomic test harness for MITRE ATT&CK T1590.005 (IP Addresses).

The data flows through the packages in this order:
atomics -> execution (on a target, inside a lab) -> telemetry -> views -> rules -> verdicts -> evidence.
"""

__version__ = "0.1.0"
