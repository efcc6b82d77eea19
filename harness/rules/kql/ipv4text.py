"""has_ipv4() / has_ipv4_prefix(): IPv4 addresses found in free text (has-ipv4-function pages).

An address in the text counts only when it is a valid IPv4 address delimited by non-alphanumeric
characters ("05:04:54127.0.0.1" holds none); the prefix must be a complete address or one to three
octets ending with a dot ("127.0." but not "127.0"), else the answer is false.
"""

from __future__ import annotations

import re

_ADDRESS = re.compile(r"(?<![A-Za-z0-9])(\d{1,3}(?:\.\d{1,3}){3})(?![A-Za-z0-9])")
_PREFIX = re.compile(r"(?:\d{1,3}\.){1,3}|\d{1,3}(?:\.\d{1,3}){3}")


def _octets_ok(text: str) -> bool:
    return all(int(o) <= 255 for o in text.split(".") if o)


def has_ipv4(source: str | None, prefix: str | None, whole: bool | None) -> bool:
    """Whether ``source`` holds the address ``prefix`` (``whole``) or an address starting with it."""
    if source is None or prefix is None or not _PREFIX.fullmatch(prefix) or not _octets_ok(prefix):
        return False
    if whole and prefix.endswith("."):
        return False
    for m in _ADDRESS.finditer(source):
        found = m.group(1)
        # a complete address as the prefix matches that address only (192.168.1.1 is not 192.168.1.11)
        hit = found.startswith(prefix) if prefix.endswith(".") else found == prefix
        if _octets_ok(found) and hit:
            return True
    return False
