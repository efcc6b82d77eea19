"""Paths inside the lab VM, shared by the host side (harness.lab.vagrant) and the guest side
(harness.lab.vm_internet, run in the VM)."""

#: Where rsyslog writes Sysmon for Linux's events in the VM (vagrant/provision.sh's rule).
GUEST_SYSMON_LOG = "/var/log/sysmon.log"
