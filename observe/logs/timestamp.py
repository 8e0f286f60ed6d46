"""Event timestamps as UTC: `@timestamp` always ends in `Z` (as Beats and Vector write it), nanoseconds kept.

Container runtimes write RFC 3339 with the node's offset when it is not UTC (`2024-05-14T17:12:45.002123456+08:00`).
The offset is kept apart, for `event.timezone`, so the local wall time can still be told.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_RFC3339 = re.compile(
    rb"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:[Zz]|([+-])(\d{2}):?(\d{2}))"
).fullmatch


def to_utc(ts: bytes) -> tuple[bytes, str | None]:
    """`ts` in UTC with a `Z` and its fraction untouched; the original offset (`+08:00`) when it was not UTC.

    A timestamp that is not RFC 3339 comes back as it is, with no offset.
    """
    if ts[-1:] == b"Z":
        return ts, None
    m = _RFC3339(ts)
    if m is None:
        return ts, None
    frac = (m[7] or b"").decode()
    if m[8] is None:  # a lowercase `z`
        return ts[:-1] + b"Z", None
    hours, minutes = int(m[9]), int(m[10])
    if hours == 0 and minutes == 0:
        return ts[: m.start(8)] + b"Z", None
    sign = 1 if m[8] == b"+" else -1
    try:
        local = datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]))
    except ValueError:
        return ts, None
    utc = local - sign * timedelta(hours=hours, minutes=minutes)
    return f"{utc:%Y-%m-%dT%H:%M:%S}{frac}Z".encode(), f"{m[8].decode()}{hours:02d}:{minutes:02d}"
