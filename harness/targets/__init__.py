"""Targets: how commands reach a host.

A target is chosen by URL, like pytest-testinfra's hosts::

    local://                                   this machine
    ssh://user@host:port?identity_file=PATH    paramiko; host key verified (see SSHTarget)
    netns://rah                                the embedded lab named ``rah`` (SSH into its sshd)
    vagrant://default?cwd=DIR                  a Vagrant machine (from ``vagrant ssh-config``)

Backends are imported lazily so optional dependencies stay optional.
"""

from harness.targets.base import CommandResult, Target, get_target, parse_target_url

__all__ = ["CommandResult", "Target", "get_target", "parse_target_url"]
