"""Cron schedules as the CronJob controller reads them (robfig/cron's ``ParseStandard``).

Five fields -- minute, hour, day of month, month, day of week -- each a ``*`` / ``?``, a value,
a range ``a-b``, a step ``*/n`` / ``a/n`` / ``a-b/n`` or a comma list of those; months and days
may be named (``JAN``..``DEC``, ``SUN``..``SAT``, any case). The descriptors ``@yearly``
(``@annually``), ``@monthly``, ``@weekly``, ``@daily`` (``@midnight``) and ``@hourly`` stand for
their five fields, and ``@every <duration>`` for a fixed interval. A ``TZ=<zone>`` or
``CRON_TZ=<zone>`` prefix names the zone the fields are read in (upstream's validation refuses it
in new CronJobs; the controller still honours it, with an ``UnsupportedSchedule`` event).

As in robfig/cron, when both day of month and day of week are restricted a day matching either
runs; when one of them is ``*`` (or ``?``) both must match. ``next_after`` walks wall-clock time
in the schedule's zone: a wall time skipped by a DST change never runs, a repeated one runs once
(at its first occurrence).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from pocketkube.api.goduration import duration_seconds

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_BOUNDS: tuple[tuple[int, int, dict[str, int] | None], ...] = (
    (0, 59, None),
    (0, 23, None),
    (1, 31, None),
    (1, 12, MONTHS),
    (0, 6, DAYS),
)
_FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
SEARCH_YEARS = 5  # robfig gives up after five years without a match


class ScheduleError(ValueError):
    """An unparseable schedule (the controller's ``UnparseableSchedule`` event)."""


class UnknownTimeZone(ValueError):
    """A time zone the zoneinfo database does not know."""


def load_zone(name: str) -> dt.tzinfo:
    """The zone ``name`` (``UTC`` and ``Local`` as Go's LoadLocation; ``""`` is UTC)."""
    if name in ("", "UTC"):
        return dt.UTC
    if name == "Local":
        local = dt.datetime.now().astimezone().tzinfo
        return local or dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
        raise UnknownTimeZone(f"unknown time zone {name}") from err


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()
    days_star: bool = False
    weekdays_star: bool = False
    every: float = 0.0  # @every: seconds between runs
    zone: dt.tzinfo = dt.UTC

    def next_after(self, t: dt.datetime) -> dt.datetime | None:
        """The first run strictly after ``t`` (aware), or None within five years."""
        if self.every:
            return t + dt.timedelta(seconds=self.every - t.microsecond / 1e6)
        local = t.astimezone(self.zone)
        wall = local.replace(tzinfo=None, second=0, microsecond=0) + dt.timedelta(minutes=1)
        limit = wall.year + SEARCH_YEARS
        while wall.year <= limit:
            if wall.month not in self.months:
                wall = _first_of_next_month(wall)
            elif not self._day_matches(wall):
                wall = wall.replace(hour=0, minute=0) + dt.timedelta(days=1)
            elif wall.hour not in self.hours:
                wall = wall.replace(minute=0) + dt.timedelta(hours=1)
            elif wall.minute not in self.minutes:
                wall += dt.timedelta(minutes=1)
            else:
                when = _existing(wall, self.zone)
                if when is not None and when > t:
                    return when.astimezone(dt.UTC)
                wall += dt.timedelta(minutes=1)
        return None

    def _day_matches(self, wall: dt.datetime) -> bool:
        dom = wall.day in self.days
        dow = (wall.isoweekday() % 7) in self.weekdays
        if self.days_star or self.weekdays_star:
            return dom and dow
        return dom or dow


def _first_of_next_month(wall: dt.datetime) -> dt.datetime:
    year, month = (wall.year + 1, 1) if wall.month == 12 else (wall.year, wall.month + 1)
    return dt.datetime(year, month, 1)


def _existing(wall: dt.datetime, zone: dt.tzinfo) -> dt.datetime | None:
    """``wall`` in ``zone`` (its first occurrence), or None if a DST gap skips it."""
    aware = wall.replace(tzinfo=zone, fold=0)
    back = aware.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None)
    return aware if back == wall else None


def parse(spec: str, *, zone: dt.tzinfo = dt.UTC) -> Schedule:
    """Parse a schedule (``ParseStandard``); ``zone`` applies unless a TZ= prefix names one."""
    text = spec.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        head, _, text = text.partition(" ")
        try:
            zone = load_zone(head.split("=", 1)[1])
        except UnknownTimeZone as err:
            raise ScheduleError(f"provided bad location {head.split('=', 1)[1]}: {err}") from err
        text = text.strip()
    if not text:
        raise ScheduleError("empty spec string")
    if text.startswith("@"):
        if text.startswith("@every "):
            return Schedule(every=_every(text[len("@every ") :].strip()), zone=zone)
        if text not in DESCRIPTORS:
            raise ScheduleError(f"unrecognized descriptor: {text}")
        text = DESCRIPTORS[text]
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    parsed = [
        _field(f, _BOUNDS[i][0], _BOUNDS[i][1], _BOUNDS[i][2], _FIELD_NAMES[i])
        for i, f in enumerate(fields)
    ]
    return Schedule(
        minutes=parsed[0][0],
        hours=parsed[1][0],
        days=parsed[2][0],
        months=parsed[3][0],
        weekdays=parsed[4][0],
        days_star=parsed[2][1],
        weekdays_star=parsed[4][1],
        zone=zone,
    )


def _every(text: str) -> float:
    try:
        seconds = duration_seconds(text)
    except ValueError:
        raise ScheduleError(f"failed to parse duration @every {text}") from None
    return float(max(1, round(seconds)))  # robfig: at least a second, whole seconds


def _value(text: str, names: dict[str, int] | None, name: str) -> int:
    if names is not None and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ScheduleError(f"failed to parse int from {text}: invalid {name}")
    return int(text)


def _field(
    text: str, low: int, high: int, names: dict[str, int] | None, name: str
) -> tuple[frozenset[int], bool]:
    """The values of one field and whether it was a bare ``*``/``?`` (robfig's star bit)."""
    values: set[int] = set()
    star = False
    for part in text.split(","):
        range_text, slash, step_text = part.partition("/")
        bounds = range_text.split("-")
        if range_text in ("*", "?"):
            start, end, part_star = low, high, True
        elif len(bounds) == 1:
            start = end = _value(bounds[0], names, name)
            part_star = False
        elif len(bounds) == 2:
            start, end = _value(bounds[0], names, name), _value(bounds[1], names, name)
            part_star = False
        else:
            raise ScheduleError(f"too many hyphens: {part}")
        step = 1
        if slash:
            step = _value(step_text, None, name)
            if len(bounds) == 1 and range_text not in ("*", "?"):
                end = high  # "N/step" means "N-max/step"
            if step > 1:
                part_star = False
        if start < low:
            raise ScheduleError(f"beginning of range ({start}) below minimum ({low}): {part}")
        if end > high:
            raise ScheduleError(f"end of range ({end}) above maximum ({high}): {part}")
        if start > end:
            raise ScheduleError(f"beginning of range ({start}) beyond end of range ({end}): {part}")
        if step == 0:
            raise ScheduleError(f"step of range should be a positive number: {part}")
        values.update(range(start, end + 1, step))
        star = star or part_star
    return frozenset(values), star


# -- the controller's questions -----------------------------------------------------------------
@dataclass(frozen=True)
class Missed:
    earliest: dt.datetime  # where the search started
    most_recent: dt.datetime | None  # the latest run due at or before now
    count: int  # roughly how many runs were due since ``earliest``


TOO_MANY_MISSED = 100


def most_recent_schedule_time(
    schedule: Schedule,
    *,
    now: dt.datetime,
    created: dt.datetime,
    last_scheduled: dt.datetime | None,
    starting_deadline: int | None,
) -> Missed:
    """Upstream's ``mostRecentScheduleTime``: the latest run due since the last one (or the
    CronJob's creation, or ``now - startingDeadlineSeconds`` if later), counting how many were
    due by the distance between two consecutive runs rather than by walking them all."""
    earliest = last_scheduled or created
    if starting_deadline is not None:
        deadline = now - dt.timedelta(seconds=starting_deadline)
        earliest = max(earliest, deadline)
    t1 = schedule.next_after(earliest)
    if t1 is None or now < t1:
        return Missed(earliest, None, 0)
    t2 = schedule.next_after(t1)
    if t2 is None or now < t2:
        return Missed(earliest, t1, 1)
    between = round((t2 - t1).total_seconds())
    if between < 1:
        raise ScheduleError("time difference between two schedules is less than 1 second")
    count = int((now - t1).total_seconds()) // between + 1
    most_recent: dt.datetime | None = None
    t: dt.datetime | None = schedule.next_after(t1 + dt.timedelta(seconds=(count - 2) * between))
    while t is not None and t <= now:
        most_recent = t
        t = schedule.next_after(t)
    return Missed(earliest, most_recent, count)
