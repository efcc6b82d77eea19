"""An ART run: upstream Atomic Red Team tests detonated one by one on a disposable target, each
judged telemetry-first against a rule set (harness.verdicts.coverage).

Lifecycle, per run: the VM is snapshotted clean (``reset="snapshot"``, the Vagrant VM), the negative
control runs once (rules that fire on it are the harness's own background), then each test: revert
to the clean VM when the previous test touched it, open a session, detonate, collect, match every
rule of the set, write the test's state file. The state directory makes the run resumable (a test
with a state file is done) and lets several workers (pytest-xdist) share one run: ``coverage.json``
is assembled from the state files, not from memory. At the end the VM is reverted once more (it is
left clean) and the snapshot deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.atomics.library import Library, LibraryTest, load_library
from harness.errors import ConfigError, HarnessError
from harness.execution import art_guard
from harness.execution.fleet import needs_declared_scope
from harness.execution.pipeline import DetonationPipeline, negative_control_test
from harness.execution.scope import Scope
from harness.execution.session import open_session
from harness.lab.config import load_lab_config
from harness.records import JsonObject
from harness.rules.sigma import SigmaEngine
from harness.run.model import iso, utc_now
from harness.targets.base import parse_target_url
from harness.verdicts.coverage import Coverage, TestCoverage, judge_test, technique_of

if TYPE_CHECKING:
    from harness.execution.session import Session
    from harness.lab.vagrant_snapshot import VmSnapshot

STATE_DIR = "tests"  # one <test id>.json per finished test, below the run's output directory
CONTROL_FILE = "control.json"
RUN_FILE = "art-run.json"  # the run's own facts (id, start, target, rule set), kept across resumes
RESETS = ("snapshot", "none")


def default_reset(target_url: str) -> str:
    """The Vagrant VM is reset by snapshot; an ``ssh://`` host is the user's to reset."""
    return "snapshot" if parse_target_url(target_url).scheme == "vagrant" else "none"


def target_slug(label: str) -> str:
    """A folder name for a target's state (``vagrant://default`` -> ``vagrant-default``)."""
    bare = label.split("?", 1)[0].replace("://", "-")
    return "".join(c if c.isalnum() or c in "-." else "_" for c in bare).strip("_-") or "target"


def rule_set_digest(root: Path) -> tuple[int, str]:
    """(rule files, SHA-256 over their relative paths and contents) of a rule directory."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml"))
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return len(files), h.hexdigest()


def _write_json(path: Path, doc: JsonObject) -> None:
    """Whole or not at all: a killed run leaves no half-written state file to resume from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class ArtRun:
    """Upstream tests on one disposable target, judged against one rule set, state kept in ``out``."""

    def __init__(
        self,
        *,
        atomics: Path,
        target: str,
        rules: Path,
        out: Path,
        techniques: Sequence[str] = (),
        test_ids: Sequence[str] = (),
        reset: str | None = None,
        timeout_s: float = 120.0,
        lab_config: str | None = None,
        scope: Scope | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.atomics = Path(atomics)
        self.target_url = target
        self.rules_dir = Path(rules)
        self.out = Path(out)
        self.reset = reset or default_reset(target)
        if self.reset not in RESETS:
            raise ConfigError(f"--reset {self.reset!r}: choose one of {', '.join(RESETS)}")
        if self.reset == "snapshot" and parse_target_url(target).scheme != "vagrant":
            raise ConfigError(f"--reset snapshot resets the Vagrant VM (vagrant://), not {target}")
        self.timeout_s = timeout_s
        self.lab_config = lab_config
        self.scope = scope
        self.progress = progress or (lambda line: None)
        refused = art_guard.disposable_refusal(target)
        if refused:  # before anything is loaded or opened: nothing runs on a host that is not disposable
            raise ConfigError(refused)
        if scope is None and needs_declared_scope(target):
            raise ConfigError(f"{target} is a real host, not a lab: an ART run on it needs a declared scope "
                              "(--scope FILE)")
        self.library: Library = load_library(self.atomics, techniques)
        self.tests = self._select(test_ids)
        if not self.rules_dir.is_dir():
            raise ConfigError(f"rule set {str(self.rules_dir)!r} is not a directory (give SigmaHQ's rules/linux)")
        self.engine = SigmaEngine.from_paths([self.rules_dir])
        self.rule_count, self.rule_digest = rule_set_digest(self.rules_dir)
        self._snapshot: VmSnapshot | None = None  # when resetting
        self._dirty = False  # the VM ran something since the last revert
        self.reset_times: list[float] = []
        self.control_rules: frozenset[str] = frozenset()
        self.facts = self._run_facts()

    # --- selection and state -------------------------------------------------------------------
    def _select(self, test_ids: Sequence[str]) -> list[LibraryTest]:
        if test_ids:
            return [self.library.find(t) for t in test_ids]
        return self.library.tests(platform="linux")

    def state_path(self, test_id: str) -> Path:
        return self.out / STATE_DIR / f"{test_id}.json"

    def done(self, test_id: str) -> TestCoverage | None:
        """The stored result of a finished test (a resumed run skips it), or None."""
        path = self.state_path(test_id)
        try:
            return TestCoverage.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            self.progress(f"[art] {path}: unreadable state ({exc}); {test_id} runs again")
            return None

    def _run_facts(self) -> JsonObject:
        path = self.out / RUN_FILE
        if path.is_file():
            facts: JsonObject = json.loads(path.read_text(encoding="utf-8"))
            if facts.get("rule_set", {}).get("sha256") != self.rule_digest:
                raise ConfigError(f"{self.out} holds a run judged with another rule set; resume it with the same "
                                  "rules, or give a new --evidence-dir")
            return facts
        from harness.execution.collect import new_run_id

        facts = {"run_id": new_run_id(), "started": iso(utc_now()), "target": self.target_url,
                 "atomics_root": str(self.atomics),
                 "rule_set": {"path": str(self.rules_dir), "rules": self.rule_count, "sha256": self.rule_digest,
                              "load_problems": [str(p.to_error()) for p in self.engine.problems][:50]}}
        _write_json(path, facts)
        return facts

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Snapshot the clean VM and run the negative control (once per run, kept across resumes)."""
        if self.reset == "snapshot" and self._snapshot is None:
            from harness.lab.vagrant_snapshot import VmSnapshot

            machine = parse_target_url(self.target_url).host or "default"
            self._snapshot = VmSnapshot.take(machine, load_lab_config(self.lab_config).vagrant.serial_log)
            self.progress(f"[art] snapshot {self._snapshot.name} of {self._snapshot.domain} "
                          + ("reused (left by an interrupted run)" if self._snapshot.reused
                             else f"taken in {self._snapshot.created_s} s"))
            self._dirty = self._snapshot.reused
        path = self.out / CONTROL_FILE
        if path.is_file():
            self.control_rules = frozenset(json.loads(path.read_text(encoding="utf-8")).get("rules", []))
            return
        self._revert_if_dirty()
        self.progress("[art] negative control ...")
        with self._session() as session:
            test = negative_control_test(str(session.lab_config.inet_gateway_ip))
            done = DetonationPipeline(session, timeout_s=self.timeout_s).detonate(test)
        self._dirty = True
        matches = self.engine.match_all(done.telemetry.sigma) if done.telemetry is not None else []
        self.control_rules = frozenset(m.rule_id for m in matches)
        _write_json(path, {"status": str(done.run.status), "reason": done.run.reason,
                           "rules": sorted(self.control_rules), "events": len(done.telemetry.sigma)
                           if done.telemetry is not None else None})
        self.progress(f"[art] negative control {done.run.status}: {len(self.control_rules)} rule(s) fire on it")

    def _session(self) -> contextlib.AbstractContextManager[Session]:
        url = self._snapshot.target_url if self._snapshot is not None else self.target_url
        return open_session(url, self.lab_config, scope=self.scope)

    def _revert_if_dirty(self) -> float | None:
        if self._snapshot is None or not self._dirty:
            return None
        secs: float = self._snapshot.revert()
        self.reset_times.append(secs)
        self._dirty = False
        self.progress(f"[art] VM reverted to the clean snapshot in {secs} s")
        return secs

    def one(self, item: LibraryTest) -> TestCoverage:
        """Run (or read back, when done) one test and store its result."""
        test = item.test
        previous = self.done(test.id)
        if previous is not None:
            return previous
        t0 = time.monotonic()
        technique = technique_of(test.id)
        check = art_guard.check(test, self.target_url, self.scope or self._lab_scope(),
                                atomics_folder=item.technique.atomics_folder)
        if check is not None:
            result = judge_test({"id": test.id, "guid": test.guid, "name": test.name, "status": "NOT_RUN",
                                 "reason": check.reason, "commands": []},
                                technique=technique, target=self.target_url, matches=[], telemetry=None,
                                not_run=check.reason)
            _write_json(self.state_path(test.id), result.to_dict())
            return result
        timings: dict[str, float] = {}
        try:
            reset_s = self._revert_if_dirty()
            if reset_s is not None:
                timings["reset_s"] = reset_s
            self.progress(f"[art] {test.id}: {test.name}")
            self._dirty = True
            t1 = time.monotonic()
            with self._session() as session:
                pipeline = DetonationPipeline(session, timeout_s=self.timeout_s, telemetry_dir=self.out / "telemetry",
                                              run_id=str(self.facts["run_id"]))
                done = pipeline.detonate(test, atomics_root=Path(item.technique.atomics_folder or self.atomics))
            timings["detonation_s"] = round(time.monotonic() - t1, 2)
            tel = done.telemetry
            matches = self.engine.match_all(tel.sigma) if tel is not None else []
            counts = {src: int(c.get("kept", 0)) for src, c in tel.counts.items()} if tel is not None else None
            timings["total_s"] = round(time.monotonic() - t0, 2)
            result = judge_test(done.run.to_dict(), technique=technique, target=self.target_url, matches=matches,
                                telemetry=counts, control_rules=self.control_rules, timings=timings,
                                directory=str(done.directory) if done.directory else None)
        except HarnessError as exc:
            timings["total_s"] = round(time.monotonic() - t0, 2)
            result = judge_test({"id": test.id, "guid": test.guid, "name": test.name, "status": "ERROR",
                                 "reason": str(exc), "commands": []},
                                technique=technique, target=self.target_url, matches=[], telemetry=None,
                                timings=timings)
        _write_json(self.state_path(test.id), result.to_dict())
        self.progress(f"[art] {test.id}: {result.summary}")
        return result

    def _lab_scope(self) -> Scope:
        return Scope.from_lab(load_lab_config(self.lab_config))

    def finish(self) -> list[str]:
        """Leave the VM clean and delete the snapshot; the problems met (never raised: a run's
        results are kept whatever the clean-up meets)."""
        problems: list[str] = []
        if self._snapshot is not None:
            try:
                self._revert_if_dirty()
            except HarnessError as exc:
                problems.append(f"final revert: {exc}")
            gone = self._snapshot.delete()
            if gone:
                problems.append(gone)
            self._snapshot = None
        return problems

    def run_all(self) -> list[TestCoverage]:
        """Every selected test (those already done are read back), start to finish."""
        pending = [t for t in self.tests if self.done(t.test.id) is None]
        self.progress(f"[art] {len(self.tests)} test(s) selected, {len(self.tests) - len(pending)} already done")
        try:
            if any(t.test.not_applicable() is None for t in pending):
                self.start()
            for item in self.tests:
                self.one(item)
        finally:
            for problem in self.finish():
                self.progress(f"[art] {problem}")
        return self.results()

    def document_inputs(self, results: Sequence[TestCoverage]) -> JsonObject:
        """What harness.evidence.coverage.build_document needs besides the results (evidence sits
        above this layer, so the front ends put the two together)."""
        resets = sorted(float(r.timings["reset_s"]) for r in results if "reset_s" in r.timings)
        return {"run_id": str(self.facts["run_id"]), "started": str(self.facts["started"]), "ended": iso(utc_now()),
                "target": self.target_url, "atomics_root": str(self.atomics), "rule_set": dict(self.facts["rule_set"]),
                "reset": {"kind": self.reset, "resets": len(resets),
                          "median_s": round(statistics.median(resets), 2) if resets else None},
                "control": control_record(self.out)}

    def results(self) -> list[TestCoverage]:
        """The stored result of every selected test that has one, in library order."""
        return [r for r in (self.done(t.test.id) for t in self.tests) if r is not None]


def control_record(out: Path) -> JsonObject:
    path = out / CONTROL_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"status": "NOT_RUN", "rules": []}


__all__ = ["ArtRun", "Coverage", "default_reset", "rule_set_digest", "target_slug"]
