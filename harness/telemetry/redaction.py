"""Redaction of secrets from telemetry before anything is written.

A :class:`Redactor` is built from the secret strings of a run (API keys). It replaces, in
every line it is given:

* the plain secret;
* its hex encoding, upper and lower case (auditd hex-encodes EXECVE arguments and
  PROCTITLE): replaced by the hex of the marker, so decoding still works and shows it;
* its URL-encoded forms (``quote`` and ``quote_plus``);
* any value of a credential-like query parameter (``key=``, ``api_key=``, ``apikey=``,
  ``token=``, ``access_token=``) right after ``?``, ``&`` or a JSON quote, whatever it is
  (so unknown keys in request logs are caught too). auditd's own ``key="..."`` field is
  preceded by a space and is left alone.

Signals are then matched on the redacted data; the unredacted form is never written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

from harness import collection

MARKER = "[REDACTED]"
#: Query parameters whose values are always redacted.
CREDENTIAL_PARAMS = collection.CREDENTIAL_PARAMS
_MIN_SECRET_LEN = 4


class Redactor:
    """Replace secrets (plain, hex, URL-encoded) and credential query values in text."""

    def __init__(self, secrets: Iterable[str], *, params: Iterable[str] = CREDENTIAL_PARAMS) -> None:
        forms: dict[str, str] = {}
        self.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        for secret in self.secrets:
            if len(secret) < _MIN_SECRET_LEN:
                # A 1-3 character "secret" would shred every line; refuse loudly.
                raise ValueError(f"secret too short to redact safely ({len(secret)} characters)")
            raw = secret.encode("utf-8")
            forms[secret] = MARKER
            forms[raw.hex().upper()] = MARKER.encode().hex().upper()
            forms[raw.hex()] = MARKER.encode().hex()
            for enc in (quote(secret, safe=""), quote_plus(secret, safe="")):
                forms.setdefault(enc, MARKER)
        self._forms = forms
        self._literal = (
            re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))) if forms else None
        )
        names = "|".join(re.escape(p) for p in params)
        self._param = re.compile(rf"(?<=[?&\"])((?:{names})=)([^&\s\"'#]+)", re.IGNORECASE) if names else None

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret form and credential query value replaced."""
        if self._literal is not None:
            text = self._literal.sub(lambda m: self._forms[m.group(0)], text)
        if self._param is not None and "=" in text:
            text = self._param.sub(lambda m: m.group(1) + (m.group(2) if m.group(2) == MARKER else MARKER), text)
        return text

    def redact_lines(self, lines: Iterable[str]) -> Iterator[str]:
        """Redact a stream of lines lazily."""
        for line in lines:
            yield self.redact(line)

    def redact_file(self, src: str | Path, dst: str | Path) -> int:
        """Copy ``src`` to ``dst`` line by line, redacted; returns the number of lines.

        ``dst`` may equal ``src`` only through a temporary file (written then renamed).
        """
        src_p, dst_p = Path(src), Path(dst)
        tmp = dst_p.with_name(dst_p.name + ".redacting")
        count = 0
        with (
            open(src_p, encoding="utf-8", errors="surrogateescape", newline="") as fin,
            open(tmp, "w", encoding="utf-8", errors="surrogateescape", newline="") as fout,
        ):
            for line in fin:
                fout.write(self.redact(line))
                count += 1
        tmp.replace(dst_p)
        return count

    def leaks(self, text: str) -> list[str]:
        """The secret forms still present in ``text`` (for assertions and self-checks)."""
        return [f for f in self._forms if f in text]
