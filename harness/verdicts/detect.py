"""The detection half: run the Sigma rules and the KQL queries of a detections directory over one
detonation's two views. Used alike by live runs and by replays of a recorded layout.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.rules.sigma import SigmaEngine, SigmaMatch
from harness.views.events import DefenderRecord, DefenderRow, SigmaEvent

if TYPE_CHECKING:
    from harness.rules.kql import KqlEngine

#: Signals name KQL queries by repository path (``detections/kql/x.kql``); this prefix is replaced
#: by the detections directory in use, so ``--detections DIR`` really swaps the queries.
DETECTIONS_PREFIX = "detections/"


@dataclass(frozen=True)
class KqlOutcome:
    """One query over one detonation: its rows, or why it could not run (a missing or broken query
    is a detection that did not fire, never a silent pass)."""

    query: str
    path: str
    rows: tuple[dict[str, Any], ...] = ()
    error: str | None = None
    loaded: bool = True


@dataclass
class DetectionResult:
    """What every detection did on one detonation."""

    sigma_matches: list[SigmaMatch]
    sigma_rules: dict[str, str]  # loaded rule id -> title
    sigma_problems: list[str]
    kql: dict[str, KqlOutcome] = field(default_factory=dict)

    def rules_ran(self) -> dict[str, dict[str, int]]:
        """Per engine, every rule/query that ran and how many matches (rows) it had."""
        sigma = dict.fromkeys(self.sigma_rules, 0)
        for m in self.sigma_matches:
            sigma[m.rule_id] = sigma.get(m.rule_id, 0) + 1
        kql: dict[str, int] = {}
        for q, out in self.kql.items():
            if out.loaded and out.error is None:
                kql[q] = len(out.rows)
        return {"sigma": sigma, "kql": kql}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class DetectionSuite:
    """The rules of one detections directory (``sigma/`` and ``kql/`` below it), loaded once."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._kql: KqlEngine | None = None
        sigma_dir = self.root / "sigma"
        self.engine: SigmaEngine | None = None
        self.load_problems: list[str] = []
        if sigma_dir.is_dir() and any(sigma_dir.rglob("*.yml")):
            self.engine = SigmaEngine.from_paths([sigma_dir])
            self.load_problems = [_problem_text(p) for p in self.engine.problems]
        self.rule_titles: dict[str, str] = {}
        if self.engine is not None:
            for r in self.engine.rules:
                self.rule_titles[r.rule_id] = r.title
            for c in self.engine.correlations:
                self.rule_titles[c.rule_id] = c.title

    def files(self) -> list[dict[str, str]]:
        """Every detection file (rules, queries, pipelines) with its SHA-256, for the evidence."""
        if not self.root.is_dir():
            return []
        return [
            {"path": str(p.relative_to(self.root)), "sha256": sha256_file(p)}
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and p.suffix in (".yml", ".yaml", ".kql")
        ]

    def query_path(self, query: str) -> Path:
        rel = query[len(DETECTIONS_PREFIX):] if query.startswith(DETECTIONS_PREFIX) else query
        return self.root / rel

    def queries(self) -> list[str]:
        """Every KQL query file of the suite, named as signals name them (``detections/kql/…``)."""
        kql = self.root / "kql"
        if not kql.is_dir():
            return []
        return [DETECTIONS_PREFIX + str(p.relative_to(self.root)) for p in sorted(kql.glob("*.kql"))]

    def evaluate(
        self,
        sigma_events: Sequence[SigmaEvent],
        defender_rows: Iterable[DefenderRecord],
        now: dt.datetime,
        queries: Iterable[str],
    ) -> DetectionResult:
        """Match every Sigma rule on ``sigma_events`` and run each of ``queries`` (paths as the
        signals name them) over tables built from ``defender_rows`` (``{"table", "row"}`` lines),
        with now()/ago() pinned to ``now``."""
        matches = self.engine.match_all(sigma_events) if self.engine is not None else []
        result = DetectionResult(matches, dict(self.rule_titles), list(self.load_problems))
        tables: dict[str, list[DefenderRow]] = {}
        for line in defender_rows:
            tables.setdefault(line["table"], []).append(dict(line["row"]))
        for query in sorted(set(queries)):
            result.kql[query] = run_query(self.query_path(query), query, tables, now, self._kql_engine())
        return result

    def close(self) -> None:
        """Release the KQL engine (its DuckDB connection); a later query opens a new one."""
        if self._kql is not None:
            self._kql.close()
            self._kql = None

    def _kql_engine(self) -> KqlEngine:
        """One DuckDB-backed engine for the suite: its set-up (macros, functions) is paid once, and
        queries are parsed once per text (the engine caches parses); each run reloads its tables."""
        if self._kql is None:
            from harness.rules.kql import KqlEngine

            self._kql = KqlEngine()
        return self._kql


def run_query(path: Path, name: str, tables: Mapping[str, list[DefenderRow]], now: dt.datetime,
              engine: KqlEngine | None = None) -> KqlOutcome:
    """One KQL query over in-memory tables of ``tables`` only; its failure is reported, not raised."""
    if not path.is_file():
        return KqlOutcome(name, str(path), error=f"query file not found: {path}", loaded=False)
    from harness.rules.kql import KqlEngine

    try:
        text = path.read_text(encoding="utf-8")
        if engine is None:
            engine = KqlEngine()
        engine.reset()  # no rows of an earlier run
        for table, rows in tables.items():
            if not re.search(rf"\b{re.escape(table)}\b", text):
                continue  # a table the query never names (tables it names but lacks are created empty)
            try:
                engine.load_rows(table, rows)
            except HarnessError:
                continue  # a table the Defender schema does not know cannot be queried anyway
        res = engine.run(text, str(path), now=now)
        return KqlOutcome(name, str(path), tuple(res.records()))
    except HarnessError as exc:
        return KqlOutcome(name, str(path), error=str(exc))


def _problem_text(problem: Any) -> str:
    return str(problem)
