"""Standard cron schedules (what CronJob.spec.schedule accepts), enough to compute the next run time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
_DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}


class CronError(ValueError):
    """Not a schedule we can read."""


@dataclass(frozen=True)
class Schedule:
    """The allowed values of each field; dom_star/dow_star keep cron's rule for combining day fields."""

    minutes: frozenset[int]
    hours: frozenset[int]
    doms: frozenset[int]
    months: frozenset[int]
    dows: frozenset[int]
    dom_star: bool
    dow_star: bool
    tz: ZoneInfo | None = None

    def _day_matches(self, t: datetime) -> bool:
        dom = t.day in self.doms
        dow = (t.isoweekday() % 7) in self.dows
        if self.dom_star or self.dow_star:
            return dom and dow
        return dom or dow

    def next_after(self, when: datetime) -> datetime | None:
        """The first run strictly after `when` (aware datetime), or None within five years."""
        try:
            t = when.astimezone(self.tz or UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
            return self._next_from(t, t + timedelta(days=366 * 5))
        except OverflowError:  # the search ran past the year 9999
            return None

    def _next_from(self, t: datetime, limit: datetime) -> datetime | None:
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self._day_matches(t):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if t.hour not in self.hours:
                t = (t + timedelta(hours=1)).replace(minute=0)
                continue
            if t.minute not in self.minutes:
                t += timedelta(minutes=1)
                continue
            return t
        return None


def _field(text: str, lo: int, hi: int, names: dict[str, int] | None = None) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not _digits(step_text) or int(step_text) == 0:
                raise CronError(f"bad step {step_text!r}")
            step = int(step_text)
        if part in ("*", "?"):
            start, end = lo, hi
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(part, names)
            end = hi if step > 1 else start
        if not (lo <= start <= hi and lo <= end <= hi) or start > end:
            raise CronError(f"{part!r} is outside {lo}-{hi}")
        out.update(range(start, end + 1, step))
    return frozenset(out)


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text.lower() in names:
        return names[text.lower()]
    if not _digits(text):
        raise CronError(f"{text!r} is not a number")
    return int(text)


def _digits(text: str) -> bool:
    # ASCII only: str.isdigit() is also true of "²", which int() refuses with a ValueError.
    return text.isascii() and text.isdigit()


def parse(text: str, tz_name: str | None = None) -> Schedule:
    """A five-field schedule, a descriptor like @hourly, optionally prefixed by CRON_TZ= or TZ=."""
    text = text.strip()
    if text.startswith(("CRON_TZ=", "TZ=")):
        prefix, _, text = text.partition(" ")
        tz_name = prefix.split("=", 1)[1]
    text = _DESCRIPTORS.get(text, text)
    fields = text.split()
    if len(fields) != 5:
        raise CronError(f"expected 5 fields, got {len(fields)}")
    try:
        tz = ZoneInfo(tz_name) if tz_name else None
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        raise CronError(f"unknown time zone {tz_name!r}") from None
    dows = _field(fields[4], 0, 7, _DAYS)  # 7 is Sunday too
    return Schedule(
        minutes=_field(fields[0], 0, 59), hours=_field(fields[1], 0, 23), doms=_field(fields[2], 1, 31),
        months=_field(fields[3], 1, 12, _MONTHS), dows=frozenset(d % 7 for d in dows),
        dom_star=fields[2].startswith(("*", "?")), dow_star=fields[4].startswith(("*", "?")), tz=tz,
    )
