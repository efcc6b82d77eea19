"""BSD syslog timestamps (``Nov 28 05:35:38``): no year, local time of the writer."""

from __future__ import annotations

from datetime import UTC, datetime

_MONTHS = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}


def bsd_time(text: str, year: int, utc_offset_s: int = 0) -> float | None:
    """``Mon DD HH:MM:SS`` (``DD`` may be space-padded) -> epoch seconds, or ``None``.

    The lab writes these in UTC (``utc_offset_s`` = 0); the year comes from the caller.
    """
    parts = text.split()
    if len(parts) != 3:
        return None
    month = _MONTHS.get(parts[0])
    hms = parts[2].split(":")
    if month is None or len(hms) != 3 or not parts[1].isdigit():
        return None
    try:
        sec = float(hms[2])
        dt = datetime(year, month, int(parts[1]), int(hms[0]), int(hms[1]), int(sec), tzinfo=UTC)
    except ValueError:
        return None
    return dt.timestamp() + (sec - int(sec)) - utc_offset_s
