"""Cron schedules: parsing (fields, names, steps, descriptors, errors) and the next run,
including time zones across DST changes, and the controller's "most recent run due"."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from pocketkube.api import cronschedule as cron

UTC = dt.UTC


def at(text: str, zone: dt.tzinfo = UTC) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=zone)


@pytest.mark.parametrize(
    ("spec", "after", "expected"),
    [
        ("* * * * *", "2024-05-01T12:00:30", "2024-05-01T12:01:00"),
        ("* * * * *", "2024-05-01T12:00:00", "2024-05-01T12:01:00"),
        ("*/15 * * * *", "2024-05-01T12:01:00", "2024-05-01T12:15:00"),
        ("5/20 * * * *", "2024-05-01T12:26:00", "2024-05-01T12:45:00"),
        ("0 9-17/4 * * *", "2024-05-01T10:00:00", "2024-05-01T13:00:00"),
        ("0 0 1,15 * *", "2024-05-02T00:00:00", "2024-05-15T00:00:00"),
        ("0 0 * FEB *", "2024-05-02T00:00:00", "2025-02-01T00:00:00"),
        ("0 0 * * sun", "2024-05-01T00:00:00", "2024-05-05T00:00:00"),
        ("0 0 * * MON-FRI", "2024-05-03T12:00:00", "2024-05-06T00:00:00"),
        # day of month OR day of week when both are restricted
        ("0 0 13 * 5", "2024-05-01T00:00:00", "2024-05-03T00:00:00"),
        # AND when one of them is a star
        ("0 0 13 * *", "2024-05-01T00:00:00", "2024-05-13T00:00:00"),
        ("0 0 29 2 *", "2024-03-01T00:00:00", "2028-02-29T00:00:00"),
        ("@hourly", "2024-05-01T12:00:00", "2024-05-01T13:00:00"),
        ("@daily", "2024-05-01T12:00:00", "2024-05-02T00:00:00"),
        ("@midnight", "2024-05-01T12:00:00", "2024-05-02T00:00:00"),
        ("@weekly", "2024-05-01T12:00:00", "2024-05-05T00:00:00"),
        ("@monthly", "2024-05-01T12:00:00", "2024-06-01T00:00:00"),
        ("@yearly", "2024-05-01T12:00:00", "2025-01-01T00:00:00"),
        ("@annually", "2024-05-01T12:00:00", "2025-01-01T00:00:00"),
        ("@every 90s", "2024-05-01T12:00:00", "2024-05-01T12:01:30"),
        ("@every 1h30m", "2024-05-01T12:00:00", "2024-05-01T13:30:00"),
        ("@every 0", "2024-05-01T12:00:00", "2024-05-01T12:00:01"),  # robfig: at least 1 s
        ("TZ=Asia/Tokyo 0 9 * * *", "2024-05-01T01:00:00", "2024-05-02T00:00:00"),
        ("CRON_TZ=Asia/Tokyo 0 9 * * *", "2024-04-30T23:00:00", "2024-05-01T00:00:00"),
    ],
)
def test_next_after(spec: str, after: str, expected: str) -> None:
    assert cron.parse(spec).next_after(at(after)) == at(expected)


NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("spec", "after", "expected"),
    [
        # 09:00 New York is 13:00 UTC in summer, 14:00 UTC in winter
        ("0 9 * * *", "2024-07-01T12:00:00", "2024-07-01T13:00:00"),
        ("0 9 * * *", "2024-01-01T12:00:00", "2024-01-01T14:00:00"),
        # spring forward (2024-03-10): 02:30 does not exist that day, the next one is on the 11th
        ("30 2 * * *", "2024-03-10T05:00:00", "2024-03-11T06:30:00"),
        # an hourly run straddling spring forward: 01:00 EST then 03:00 EDT
        ("0 * * * *", "2024-03-10T06:00:00", "2024-03-10T07:00:00"),
        # fall back (2024-11-03): 01:30 happens twice, it runs at the first (EDT)
        ("30 1 * * *", "2024-11-03T04:00:00", "2024-11-03T05:30:00"),
        ("30 1 * * *", "2024-11-03T05:30:00", "2024-11-04T06:30:00"),
    ],
)
def test_next_after_in_a_zone(spec: str, after: str, expected: str) -> None:
    assert cron.parse(spec, zone=NEW_YORK).next_after(at(after)) == at(expected)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "* * * *",
        "* * * * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 7",
        "5-1 * * * *",
        "*/0 * * * *",
        "a * * * *",
        "1-2-3 * * * *",
        "@fortnightly",
        "@every",
        "@every soon",
        "TZ=Mars/Olympus * * * * *",
    ],
)
def test_unparseable(spec: str) -> None:
    with pytest.raises(cron.ScheduleError):
        cron.parse(spec)


def test_impossible_date_never_runs() -> None:
    assert cron.parse("0 0 30 2 *").next_after(at("2024-01-01T00:00:00")) is None


def test_load_zone() -> None:
    assert cron.load_zone("") is UTC
    assert cron.load_zone("UTC") is UTC
    assert cron.load_zone("Europe/Paris") == zoneinfo.ZoneInfo("Europe/Paris")
    with pytest.raises(cron.UnknownTimeZone):
        cron.load_zone("Nowhere/Special")


@pytest.mark.parametrize(
    ("spec", "created", "last", "deadline", "now", "recent", "count"),
    [
        # nothing due yet
        ("* * * * *", "12:00:10", None, None, "12:00:50", None, 0),
        # one run due
        ("* * * * *", "12:00:10", None, None, "12:01:05", "12:01:00", 1),
        # several missed: the latest one, counted roughly
        ("* * * * *", "12:00:10", None, None, "12:10:05", "12:10:00", 10),
        ("*/5 * * * *", "12:00:10", "12:05:00", None, "12:31:00", "12:30:00", 5),
        # the starting deadline moves the search start forward
        ("* * * * *", "10:00:00", None, 90, "12:10:30", "12:10:00", 1),
        # irregular schedules still find the right latest run
        ("0,50 * * * *", "11:00:10", None, None, "12:55:00", "12:50:00", 7),
    ],
)
def test_most_recent_schedule_time(
    spec: str,
    created: str,
    last: str | None,
    deadline: int | None,
    now: str,
    recent: str | None,
    count: int,
) -> None:
    day = "2024-05-01T"
    missed = cron.most_recent_schedule_time(
        cron.parse(spec),
        now=at(day + now),
        created=at(day + created),
        last_scheduled=at(day + last) if last else None,
        starting_deadline=deadline,
    )
    assert missed.most_recent == (at(day + recent) if recent else None)
    assert missed.count == count


def test_too_many_missed() -> None:
    missed = cron.most_recent_schedule_time(
        cron.parse("* * * * *"),
        now=at("2024-05-02T00:00:30"),
        created=at("2024-05-01T00:00:00"),
        last_scheduled=None,
        starting_deadline=None,
    )
    assert missed.count > cron.TOO_MANY_MISSED
    assert missed.most_recent == at("2024-05-02T00:00:00")
