"""``netns://NAME``: the embedded lab named NAME, reached over SSH into its own sshd.

Going through sshd (not ``ip netns exec``) is deliberate: the login gets an audit session id from
pam_loginuid, which is how the atomic's telemetry is attributed, exactly as on a remote lab host.
The connection details (address, client key, pinned host key) come from the lab's state.
"""

from __future__ import annotations

from typing import Any

from harness.errors import HarnessError, TargetError
from harness.targets.base import TargetURL, check_options
from harness.targets.ssh import SSHTarget


class NetnsTarget(SSHTarget):
    lab_name: str
    URL_OPTIONS = frozenset({"config"})

    @classmethod
    def check_url(cls, url: TargetURL) -> None:
        check_options(url, cls.URL_OPTIONS)  # the lab's name is the host part; none means the configured one

    @classmethod
    def from_url(cls, url: TargetURL, **kwargs: Any) -> NetnsTarget:
        from harness.lab.config import load_lab_config
        from harness.lab.embedded import EmbeddedLab
        from harness.lab.instances import instance_config

        name = url.host or ""
        cfg = load_lab_config(url.options.get("config") or kwargs.get("lab_config"))
        try:  # another name is an instance of the configured lab (harness lab up --name NAME)
            cfg = instance_config(cfg, name)
        except HarnessError as exc:
            raise TargetError(f"netns://{name}: {exc}") from None
        lab = EmbeddedLab(cfg)
        if not lab.client_key.exists() or not lab.known_hosts.exists():
            up = "harness lab up" + (f" --name {cfg.name}" if cfg.instance_of else "")
            raise TargetError(f"netns://{cfg.name}: the embedded lab is not up (run `{up}`)")
        target = cls(
            str(cfg.lab_transit_ip),
            user=cfg.lab_user,
            port=cfg.ssh_port,
            identity_file=str(lab.client_key),
            known_hosts=str(lab.known_hosts),
            url=f"netns://{cfg.name}",
        )
        target.lab_name = cfg.name
        return target
