"""pytest-xdist: a target's atomics on one worker, targets on several, one evidence set at the end.

``pytest atomics/ -n N --dist loadgroup`` keeps each target's tests in one group (the target's label,
which every test id names), so one worker runs a target's atomics serially and holds its
ValidationRun, while targets run in parallel. Each worker builds its targets' run records when its
session ends, redacts them with its own secrets, and hands them to the controller through xdist's
``workeroutput``; the
controller writes the one evidence set (a fleet's when there are several targets) and the verdict
summary. Nothing else is shared between workers. Workers on other machines are xdist's own
business (``--tx ssh=...``, ``--rsyncdir``); the harness writes no scheduler.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from harness.evidence.bundle import dump_json
from harness.evidence.document import JsonDoc

_OUTPUT_KEY = "recon_harness_documents"


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def distributed(config: pytest.Config) -> bool:
    """True on the controller of an xdist run (``-n N`` with N > 0)."""
    return config.pluginmanager.hasplugin("xdist") and bool(getattr(config.option, "numprocesses", None)) \
        and not is_worker(config)


def runs_atomics(config: pytest.Config) -> bool:
    """Whether this session runs the atomic suite: a path inside this checkout's ``atomics/`` is
    given, or a target, inventory or replay is (the project's own ``pytest tests -n N`` is not)."""
    from harness.atomics.loader import project_atomics_dirs

    if any(config.getoption(name, None) for name in ("harness_target", "harness_inventory", "harness_replay")):
        return True
    dirs = project_atomics_dirs()
    for arg in config.args:
        path = Path(arg.split("::", 1)[0]).resolve()
        if any(path == d or path.is_relative_to(d) for d in dirs):
            return True
    return False


def check_dist_mode(config: pytest.Config) -> None:
    """A target's atomics share one ValidationRun (one lab session): they must stay on one worker."""
    if distributed(config) and getattr(config.option, "dist", "no") != "loadgroup" and runs_atomics(config):
        raise pytest.UsageError(
            f"-n with --dist {config.option.dist}: use --dist loadgroup, so that each target's atomics run on one "
            "worker (one session per target) and targets run in parallel")


_TARGET_OF_TEST = re.compile(r"\[[^\[\]@]*@(.+)\]$")  # test ids end [<atomic id>@<target label>]


def target_of(nodeid: str) -> str | None:
    """The target label a test id names (``...[T1590.005-3@ssh://lab-07]`` -> ``ssh://lab-07``)."""
    m = _TARGET_OF_TEST.search(nodeid)
    return m.group(1) if m else None


def make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadgroup`` with the group read from the test id's target.

    xdist's own loadgroup reads an ``@group`` suffix it appends to node ids during collection; with
    pytest 9.2 that append no longer takes effect and tests are spread one by one
    (pytest-dev/pytest-xdist#1386, open; reproduced here with xdist 3.8.0). The test ids already
    name the target, so the scheduler takes the group from there: xdist's LoadGroupScheduling with
    its scope function only, no scheduler of the harness's own.
    """
    if getattr(config.option, "dist", None) != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class TargetGroupScheduling(LoadGroupScheduling):  # type: ignore[misc]  # xdist is untyped
        def _split_scope(self, nodeid: str) -> str:
            return target_of(nodeid) or super()._split_scope(nodeid)

    return TargetGroupScheduling(config, log)


def send(config: pytest.Config, documents: Sequence[JsonDoc], secrets: Sequence[str]) -> None:
    """On a worker: its targets' run records, secrets already redacted, for the controller."""
    from harness.telemetry.redaction import Redactor

    text = dump_json(list(documents))  # ensure_ascii=False: an escaped secret would slip past redaction
    config.workeroutput[_OUTPUT_KEY] = Redactor([s for s in secrets if s]).redact(text)  # type: ignore[attr-defined]


def received(workeroutput: dict[str, object]) -> list[JsonDoc]:
    """On the controller: the run records one worker sent (none from a worker that ran no atomic)."""
    text = workeroutput.get(_OUTPUT_KEY)
    if not isinstance(text, str):
        return []
    docs = json.loads(text)
    return [d for d in docs if isinstance(d, dict)]
