"""Collectors: what is started before a detonation and read after it.

Each telemetry source of a lab is a :class:`~harness.telemetry.collectors.files.LogTap` on a
log file (auditd, the lab resolver, Squid, NFLOG, the simulated internet, Sysmon's syslog):
marked before the detonation, sliced after it. auditd's keyed rules are the lab's
(:mod:`harness.lab.auditctl`), which hands its marker writer over in the collection plan.
"""
