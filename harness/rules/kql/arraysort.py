"""array_sort_asc() / array_sort_desc() over one array (array-sort-asc-function page, "Returns").

Elements of mixed types sort as the page orders the kinds: numbers (and datetimes/timespans,
which reach here as numbers or strings), then strings, then everything else; nulls go last unless
nulls_last is false. A value that is not an array gives null.
"""

from __future__ import annotations

import json
from typing import Any


def _kind(v: Any) -> int:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return 0
    return 1 if isinstance(v, str) else 2


def array_sort(text: str | None, descending: bool | None, nulls_last: bool | None) -> str | None:
    """The JSON array ``text`` sorted; None when it is not an array."""
    try:
        arr = json.loads(text) if text is not None else None
    except ValueError:
        return None
    if not isinstance(arr, list):
        return None
    nulls = [v for v in arr if v is None]
    rest = [v for v in arr if v is not None]
    groups: list[list[Any]] = [[], [], []]
    for v in rest:
        groups[_kind(v)].append(v)
    groups[2].sort(key=lambda v: json.dumps(v, sort_keys=True))
    out: list[Any] = []
    for g in groups:
        out.extend(sorted(g, reverse=bool(descending)) if g is not groups[2] else g)
    last = True if nulls_last is None else nulls_last
    return json.dumps(out + nulls if last else nulls + out, ensure_ascii=False)
