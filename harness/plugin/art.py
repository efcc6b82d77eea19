"""``pytest atomics/ --art DIR``: upstream Atomic Red Team tests as pytest tests, judged telemetry-first.

Each selected Linux test of the tree becomes one item, ``atomics/test_art.py::test_art[<id>@<target>]``,
dealt round-robin over the targets (``--target`` repeated: several VMs or disposable hosts). The
test id names the target, so ``-n N --dist loadgroup`` keeps a target's tests on one worker (its
snapshot and resets are that worker's) while targets run in parallel (harness.plugin.workers).

Every target's state lives in ``--art-state DIR/<target>/`` (harness.run.art): a test with a state
file is done, so giving the same ``--art-state`` again resumes an interrupted run. The process that
ends the session (the xdist controller, or the only process) writes each target's coverage.json,
report.html and navigator.json there from the state files.

An item passes when the test is DETECTED; NOT_DETECTED, EXECUTION_FAILED, TIMED_OUT and ERROR fail
with the reason and the telemetry seen; PREREQ_MISSING and NOT_RUN (not applicable, refused) skip
with theirs. Without ``--art`` the items are deselected: ``pytest atomics/`` runs the project's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness.atomics.library import LibraryTest
    from harness.run.art import ArtRun
    from harness.verdicts.coverage import TestCoverage

FIXTURE = "art_case"


def default_rules() -> Path:
    """SigmaHQ's whole rules/linux folder (snapshot 8eaafff, DRL 1.1), kept with the project's test data."""
    from harness.atomics.loader import repo_root

    return repo_root() / "tests" / "data" / "sigmahq" / "rules" / "linux"


def add_options(group: pytest.OptionGroup) -> None:
    group.addoption("--art", dest="harness_art", default=None, metavar="DIR",
                    help="run the Linux tests of this Atomic Red Team atomics/ tree (on disposable targets only: "
                         "vagrant://, ssh://…?disposable=1), each judged by which rules see it")
    group.addoption("--art-rules", dest="harness_art_rules", default=None, metavar="DIR",
                    help="Sigma rule set for --art (default: SigmaHQ's rules/linux in tests/data/sigmahq)")
    group.addoption("--art-technique", dest="harness_art_techniques", action="append", default=[], metavar="T",
                    help="only these techniques of --art (repeatable)")
    group.addoption("--art-test", dest="harness_art_tests", action="append", default=[], metavar="ID",
                    help="only these tests of --art, by id or GUID (repeatable)")
    group.addoption("--art-state", dest="harness_art_state", default=None, metavar="DIR",
                    help="state and coverage evidence per target; the same DIR again resumes (default: "
                         "<evidence-dir>/art-<UTC time>)")
    group.addoption("--art-timeout", dest="harness_art_timeout", type=float, default=120.0, metavar="S",
                    help="seconds per test command (default 120); a test that hangs is TIMED_OUT and the VM reset")


@dataclass
class ArtSession:
    """The --art part of a pytest session: the selected tests, their targets, the runs opened."""

    config: pytest.Config
    atomics: Path
    rules: Path
    state: Path
    cases: list[tuple[LibraryTest, str]] = field(default_factory=list)  # (test, target label)
    runs: dict[str, ArtRun] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)

    def state_dir(self, label: str) -> Path:
        from harness.run.art import target_slug

        return self.state / target_slug(label)

    def run_for(self, label: str) -> ArtRun:
        """The target's run, opened (snapshot, negative control) at its first test."""
        if label not in self.runs:
            from harness.plugin.targets import spec_for
            from harness.run.art import ArtRun

            spec = spec_for(self.config, label)
            run = ArtRun(atomics=self.atomics, target=spec.url, rules=self.rules, out=self.state_dir(label),
                         test_ids=[c.test.id for c, lbl in self.cases if lbl == label],
                         timeout_s=float(self.config.getoption("harness_art_timeout")), scope=spec.scope,
                         progress=_progress(self.config))
            self.runs[label] = run
        return self.runs[label]


_KEY = pytest.StashKey[ArtSession]()


def _progress(config: pytest.Config) -> Callable[[str], None]:
    from harness.plugin import _progress_writer

    return _progress_writer(config)


def configure(config: pytest.Config) -> None:
    """Resolve --art before collection: a bad tree or a target that is not disposable is a usage error."""
    art = config.getoption("harness_art", None)
    if not art:
        return
    from harness.atomics.library import load_library
    from harness.errors import HarnessError
    from harness.execution.art_guard import disposable_refusal
    from harness.plugin.targets import spec_for, target_labels

    labels = target_labels(config)
    for label in labels:
        refused = disposable_refusal(spec_for(config, label).url)
        if refused:
            raise pytest.UsageError(f"--art: {refused}")
    rules = Path(config.getoption("harness_art_rules") or default_rules())
    if not rules.is_dir():
        raise pytest.UsageError(f"--art-rules {rules}: not a directory (give SigmaHQ's rules/linux)")
    try:
        library = load_library(art, list(config.getoption("harness_art_techniques")))
        ids = list(config.getoption("harness_art_tests"))
        tests = [library.find(i) for i in ids] if ids else library.tests(platform="linux")
    except HarnessError as exc:
        raise pytest.UsageError(f"--art {art}: {exc}") from exc
    for err in library.errors:  # a file that cannot load is reported, the rest of the tree runs
        config.issue_config_time_warning(pytest.PytestWarning(f"--art: {err}"), stacklevel=2)
    state = config.getoption("harness_art_state")
    if not state:
        from harness.atomics.loader import repo_root

        base = Path(config.getoption("harness_evidence") or repo_root() / "evidence")
        state = str(base / time.strftime("art-%Y%m%dT%H%M%SZ", time.gmtime()))
        config.option.harness_art_state = state  # xdist workers get the same directory as the controller
    session = ArtSession(config, Path(art), rules, Path(state))
    session.cases = [(t, labels[n % len(labels)]) for n, t in enumerate(tests)]
    config.stash[_KEY] = session


def generate(metafunc: pytest.Metafunc) -> bool:
    """Parametrize ``test_art`` with the selected tests; False when the function is not an ART one."""
    if FIXTURE not in metafunc.fixturenames:
        return False
    session = metafunc.config.stash.get(_KEY, None)
    cases = session.cases if session is not None else []
    metafunc.parametrize(FIXTURE, [(t.test.id, label) for t, label in cases],
                         ids=[f"{t.test.id}@{label}" for t, label in cases], indirect=True)
    return True


def modify_items(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without --art the ART items go (deselected); with it, the project's own atomics do."""
    art = _KEY in config.stash
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        is_art = FIXTURE in getattr(item, "fixturenames", ())
        own_atomic = item.get_closest_marker("atomic") is not None
        (keep if is_art == art or not (is_art or own_atomic) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@dataclass(frozen=True)
class ArtCheck:
    """What ``atomics/test_art.py`` asserts on."""

    result: TestCoverage

    def assert_detected(self) -> None:
        __tracebackhide__ = True
        from harness.verdicts.coverage import Coverage

        r = self.result
        if r.coverage in (Coverage.PREREQ_MISSING, Coverage.NOT_RUN):
            pytest.skip(f"{r.test_id}: {r.coverage}: {r.reason}")
        if r.coverage is not Coverage.DETECTED:
            seen = ", ".join(f"{src} {n}" for src, n in r.telemetry.items() if n) or "none"
            where = f"; telemetry in {r.directory}" if r.directory else ""
            pytest.fail(f"{r.test_id} ({r.name}) on {r.target}: {r.summary}"
                        + (f" - {r.reason}" if r.reason and r.coverage is Coverage.NOT_DETECTED else "")
                        + f"; events attributed: {seen}{where}", pytrace=False)
        rules = "; ".join(f"{h.title} ({h.rule_id}) x{h.matches}" for h in r.detected_by)
        assert r.detected_by, f"{r.test_id}: DETECTED without a rule"
        print(f"{r.test_id}: {r.summary}: {rules}")


@pytest.fixture
def art_case(request: pytest.FixtureRequest) -> ArtCheck:
    """Run (or read back from the state directory) one upstream test on its target and judge it."""
    session = request.config.stash.get(_KEY, None)
    if session is None:
        pytest.skip("no --art DIR given")
    test_id, label = request.param
    run = session.run_for(label)
    item = next(c for c, lbl in session.cases if c.test.id == test_id and lbl == label)
    if run.done(test_id) is None and item.test.not_applicable() is None:
        run.start()  # once per process: the snapshot, and the negative control unless a resumed run has it
    return ArtCheck(run.one(item))


def session_finish(session: pytest.Session) -> None:
    """Each run's VM left clean and its snapshot deleted; the coverage evidence written (not on a worker)."""
    art = session.config.stash.get(_KEY, None)
    if art is None:
        return
    for run in art.runs.values():
        for problem in run.finish():
            _progress(session.config)(f"[art] {problem}")
    from harness.plugin.workers import is_worker

    if is_worker(session.config):
        return
    for label in dict.fromkeys(lbl for _, lbl in art.cases):
        out = art.state_dir(label)
        if not out.is_dir():  # nothing ran for this target (collection only, deselected)
            continue
        from harness.evidence.coverage import build_document, write_coverage
        from harness.plugin.targets import spec_for
        from harness.run.art import ArtRun

        run = art.runs.get(label) or ArtRun(
            atomics=art.atomics, target=spec_for(session.config, label).url, rules=art.rules, out=out,
            test_ids=[c.test.id for c, lbl in art.cases if lbl == label])
        results = run.results()
        if results:
            art.written += write_coverage(out, build_document(results, **run.document_inputs(results)))


def terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    art = config.stash.get(_KEY, None)
    if art is None or not art.written:
        return
    terminalreporter.section("recon-harness ART coverage")
    for path in art.written:
        if path.name == "coverage.json":
            import json

            doc = json.loads(path.read_text(encoding="utf-8"))
            counts = ", ".join(f"{k} {v}" for k, v in doc["summary"].items() if v)
            terminalreporter.write_line(f"{doc['target']}: {counts}")
        terminalreporter.write_line(f"evidence: {path}")
