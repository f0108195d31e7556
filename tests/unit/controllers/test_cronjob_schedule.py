"""CronJob schedules: next activation times for fields, names, steps, descriptors, @every and time zones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kubelite.controlplane.controllers.cronjob import CronSchedule, CronScheduleError, most_recent


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("spec", "after", "expected"), [
    pytest.param("* * * * *", "2026-03-01T10:00:30", "2026-03-01T10:01:00", id="every-minute"),
    pytest.param("*/15 * * * *", "2026-03-01T10:01:00", "2026-03-01T10:15:00", id="step"),
    pytest.param("0 9-17/4 * * *", "2026-03-01T10:00:00", "2026-03-01T13:00:00", id="range-step"),
    pytest.param("30 2 * * mon", "2026-03-01T00:00:00", "2026-03-02T02:30:00", id="weekday-name"),
    pytest.param("0 0 1 jan *", "2026-03-01T00:00:00", "2027-01-01T00:00:00", id="month-name"),
    pytest.param("0 0 13 * 5", "2026-03-01T00:00:00", "2026-03-06T00:00:00", id="dom-or-dow"),
    pytest.param("@hourly", "2026-03-01T10:59:59", "2026-03-01T11:00:00", id="hourly"),
    pytest.param("@weekly", "2026-03-01T00:00:00", "2026-03-08T00:00:00", id="weekly-sunday"),
    pytest.param("0 0 * * 7", "2026-03-02T00:00:00", "2026-03-08T00:00:00", id="seven-is-sunday"),
    pytest.param("@every 90s", "2026-03-01T10:00:00.500000", "2026-03-01T10:01:30", id="every"),
    pytest.param("TZ=Europe/Paris 0 9 * * *", "2026-03-01T00:00:00", "2026-03-01T08:00:00", id="tz-prefix"),
])
def test_next_activation(spec: str, after: str, expected: str) -> None:
    assert CronSchedule(spec).next_after(at(after)) == at(expected)


def test_time_zone_field() -> None:
    schedule = CronSchedule("0 9 * * *", time_zone="America/New_York")
    assert schedule.next_after(at("2026-07-01T00:00:00")) == at("2026-07-01T13:00:00")


@pytest.mark.parametrize("spec", ["* * * *", "61 * * * *", "* * * * mon-", "@every", "*/0 * * * *", "@often"])
def test_bad_schedules_are_refused(spec: str) -> None:
    with pytest.raises(CronScheduleError):
        CronSchedule(spec)


def test_most_recent_missed_activation_and_count() -> None:
    latest, count = most_recent(CronSchedule("*/10 * * * *"), at("2026-03-01T10:00:00"), at("2026-03-01T10:35:00"))
    assert (latest, count) == (at("2026-03-01T10:30:00"), 3)
    assert most_recent(CronSchedule("0 * * * *"), at("2026-03-01T10:00:00"), at("2026-03-01T10:30:00")) == (None, 0)
