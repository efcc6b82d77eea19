"""A run session: the target, the lab behind it (built and removed when the session owns it),
the scope, and the secrets of the run.

``netns://`` targets are the embedded lab: when it is not up, the session builds it and removes it
afterwards, on success, failure, SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import secrets as pysecrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ConfigError
from harness.execution.fleet import REAL_HOST_SCHEMES
from harness.execution.scope import Scope
from harness.lab.config import LabConfig, load_lab_config
from harness.lab.instances import instance_config, instance_name
from harness.lab.lock import lab_lock
from harness.lab.registry import Lab, lab_class, lab_for_scheme
from harness.lab.shell import sigterm_as_interrupt
from harness.lab.state import LabState, target_state
from harness.targets.base import Target, get_target, parse_target_url
from harness.targets.clock import ClockOffset
from harness.targets.inspect import TargetInspector

DEFAULT_TARGET = "netns://rah"
#: Targets on another machine's clock (measured at session start); netns:// and local:// share the controller's.
CLOCKED_SCHEMES = ("ssh", "vagrant")


@dataclass
class Session:
    target: Target
    lab_config: LabConfig
    scope: Scope
    lab: Lab | None
    env: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    owns_lab: bool = False
    facts: dict[str, Any] = field(default_factory=dict)
    proxy_mode: str = "transparent"
    inspector: TargetInspector | None = None  # testinfra
    clock: ClockOffset | None = None  # of an SSH host (None: the controller's own clock)
    # The state file of everything this run leaves on the host and target: the embedded lab's own
    # (undone by `lab down`), else the target's ledger (undone by `harness target cleanup URL`).
    ledger: LabState | None = None
    #: Undone when the session ends, newest first, before the target is closed (the host sensors' rules).
    closers: list[Callable[[], object]] = field(default_factory=list)

    @property
    def scratch_dir(self) -> str:
        """Per-detonation files on the target; inside the embedded lab's state dir when there is one."""
        return str(self.lab.home_dir) if self.lab is not None else "/tmp"


@contextmanager
def open_session(target_url: str | None = None, lab_config: str | None = None,
                 keep_lab: bool = False, proxy_mode: str | None = None,
                 scope: Scope | None = None) -> Iterator[Session]:
    """Yield a ready Session; undo whatever it set up when the block ends, however it ends.

    ``scope`` is the declared scope of a real host (``--scope FILE``); it replaces the lab's, and a
    real host (``ssh://``) without one is refused before anything is opened."""
    url = target_url or DEFAULT_TARGET
    cfg = load_lab_config(lab_config)
    parsed = parse_target_url(url)
    instance = instance_name(cfg, url)
    if instance is not None:
        # netns://NAME: an instance of the configured lab, built by this session when it is down
        cfg = instance_config(cfg, instance, allocate=True)
    if scope is None and parsed.scheme in REAL_HOST_SCHEMES:
        raise ConfigError(f"{url} is a real host, not a lab: a run against it needs a declared scope (--scope FILE)")
    lab: Lab | None = None
    built: Lab | None = None  # the lab this session builds when it is down (and then may own and remove)
    owns = False
    lab_name = lab_for_scheme(parsed.scheme)
    lab_cls = lab_class(lab_name) if lab_name is not None else None
    # One run at a time per lab: a concurrent run would otherwise tear the lab down under us.
    lock = lab_lock(cfg.name) if lab_cls is not None and lab_cls.BUILT_BY_SESSION else contextlib.nullcontext()
    with sigterm_as_interrupt(), lock:
        if lab_cls is not None and lab_cls.BUILT_BY_SESSION:
            built = lab = lab_cls.for_session(cfg)
            if not built.status().up:
                built.up()
                owns = not keep_lab
                cfg = getattr(built, "cfg", cfg)  # an instance's transit is settled by its up
        target: Target | None = None
        inspector: TargetInspector | None = None
        session: Session | None = None
        try:
            target = get_target(url, lab_config=lab_config)
            if lab_cls is not None and lab is None:
                # A lab the session does not build (the Vagrant VM, `harness lab up --lab vagrant`):
                # reached through the target, its telemetry read over it.
                lab = lab_cls.for_session(cfg, target)
            env: dict[str, str] = {}
            secret_values: list[str] = []
            key = os.environ.get("SHODAN_API_KEY")
            if not key and parsed.scheme in ("netns", "vagrant"):
                # The simulated Shodan API accepts any key: a fresh random one per run, still a secret.
                key = pysecrets.token_hex(16)
            if key:
                env["SHODAN_API_KEY"] = key
                secret_values.append(key)
            mode = proxy_mode or cfg.telemetry.proxy_mode
            if mode == "explicit" and lab is not None:
                # The clients go to the proxy (CONNECT), authenticating: the log gains cs-username.
                user, password = lab.proxy_credentials()
                url = f"http://{user}:{password}@{cfg.telemetry.proxy_ip}:{cfg.telemetry.proxy_port}"
                for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
                    env[name] = url
                secret_values.append(password)
            ledger = (built.ledger() if built is not None else None) or target_state(target.url)
            inspector = TargetInspector(target, tempdirs=ledger)
            session = Session(target=target, lab_config=cfg, scope=scope or Scope.from_lab(cfg), lab=lab, env=env,
                              secrets=secret_values, owns_lab=owns, proxy_mode=mode, inspector=inspector,
                              ledger=ledger)
            if parsed.scheme in CLOCKED_SCHEMES:
                from harness.targets.clock import measure_clock_offset

                session.clock = measure_clock_offset(target)
            yield session
        finally:
            # Also when building the session failed half-way (the inspector could not connect):
            # a lab this session brought up comes down, and no inspector files stay behind.
            for close in reversed(session.closers if session is not None else []):
                close()
            if inspector is not None:
                inspector.close()
            if target is not None:
                target.close()
            if built is not None and owns:
                built.down()
