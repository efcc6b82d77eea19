"""The request log: one JSON object per line, written and flushed under a lock.

Secrets never reach the file: query parameters that carry credentials (``key``, ``api_key``,
``apikey``, ``token``, ``access_token``, ``password``) are replaced by ``<redacted>`` in
:func:`redact_query` before a record is built, and request headers other than User-Agent, Accept
and X-Forwarded-For are not logged at all (so ``X-API-Key`` and cookies stay out).
See :mod:`harness.lab.inet` for the record format.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote_plus

from harness.collection import CREDENTIAL_PARAMS

REDACTED = "<redacted>"
# The telemetry redactor's list (one list for the project), plus password.
SECRET_PARAMS = frozenset({*CREDENTIAL_PARAMS, "password"})


def redact_query(query: str) -> str:
    """Return ``query`` with the value of every secret parameter replaced by ``<redacted>``.

    The rest of the string is kept byte for byte (same order, same percent-encoding), so the log
    shows what the client really sent."""
    if not query:
        return ""
    parts = []
    for part in query.split("&"):
        raw_name, sep, _ = part.partition("=")
        if unquote_plus(raw_name).strip().lower() in SECRET_PARAMS:
            part = f"{raw_name}={REDACTED}" if sep else raw_name
        parts.append(part)
    return "&".join(parts)


def utc_now() -> tuple[float, str]:
    """(epoch seconds, ISO 8601 UTC with microseconds and ``Z``)."""
    now = time.time()
    iso = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return now, iso


class RequestLog:
    """Append-only JSON-lines log, safe to share between server threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fh: IO[str] | None = self.path.open("a", encoding="utf-8")

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Write one record of ``kind`` (``start``, ``tls_sni``, ``http``, ``tls_error``, ``stop``)."""
        ts, iso = utc_now()
        # ``kind``/``ts``/``utc`` are the 2026-11-28 recording's names; ``event``/``time`` the
        # same values under the names the lab issue uses, so either parser reads both files.
        record: dict[str, Any] = {"ts": round(ts, 6), "utc": iso, "time": iso, "kind": kind, "event": kind}
        record.update(fields)
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            if self._fh is not None:
                self._fh.write(line)
                self._fh.flush()
        return record

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
