"""Business-hours arithmetic: windows, nights, weekends, holidays, DST, several windows a day."""
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desk.sla.calendar import (
    add_working_minutes,
    add_working_time,
    is_open,
    make_calendar,
    working_time_between,
)

UTC = timezone.utc
MADRID = ZoneInfo("Europe/Madrid")
WEEKDAYS_9_18 = {d: [["09:00", "18:00"]] for d in range(5)}


def local(tz, *args):
    return datetime(*args, tzinfo=tz)


def test_inside_a_window_is_plain_addition():
    cal = make_calendar("Europe/Madrid", WEEKDAYS_9_18)
    start = local(MADRID, 2026, 3, 10, 10, 0)  # Tuesday
    assert add_working_minutes(start, 60, cal) == local(MADRID, 2026, 3, 10, 11, 0)


def test_evening_carries_over_to_next_morning():
    cal = make_calendar("Europe/Madrid", WEEKDAYS_9_18)
    start = local(MADRID, 2026, 3, 10, 17, 30)
    assert add_working_minutes(start, 60, cal) == local(MADRID, 2026, 3, 11, 9, 30)


def test_friday_evening_to_monday_morning():
    cal = make_calendar("Europe/Madrid", WEEKDAYS_9_18)
    start = local(MADRID, 2026, 3, 13, 17, 45)  # Friday
    assert add_working_minutes(start, 60, cal) == local(MADRID, 2026, 3, 16, 9, 45)


def test_message_at_night_starts_counting_at_opening():
    cal = make_calendar("Europe/Madrid", WEEKDAYS_9_18)
    start = local(MADRID, 2026, 3, 14, 23, 10)  # Saturday night
    assert add_working_minutes(start, 60, cal) == local(MADRID, 2026, 3, 16, 10, 0)
    assert not is_open(start, cal) and is_open(local(MADRID, 2026, 3, 16, 9, 0), cal)


def test_several_windows_a_day_skip_the_lunch_break():
    cal = make_calendar("Europe/Madrid", {d: [["09:00", "14:00"], ["16:00", "19:00"]] for d in range(5)})
    start = local(MADRID, 2026, 3, 10, 13, 30)
    assert add_working_minutes(start, 60, cal) == local(MADRID, 2026, 3, 10, 16, 30)
    assert add_working_minutes(local(MADRID, 2026, 3, 10, 14, 30), 10, cal) == local(MADRID, 2026, 3, 10, 16, 10)


def test_window_crossing_midnight():
    cal = make_calendar("Europe/Madrid", {4: [["22:00", "02:00"]]})  # Friday night shift
    start = local(MADRID, 2026, 3, 13, 23, 30)
    assert add_working_minutes(start, 60, cal) == local(MADRID, 2026, 3, 14, 0, 30)
    # After 02:00 on Saturday the next opening is next Friday 22:00.
    late = local(MADRID, 2026, 3, 14, 1, 30)
    assert add_working_minutes(late, 60, cal) == local(MADRID, 2026, 3, 20, 22, 30)


def test_full_day_window_and_overlapping_windows_merge():
    cal = make_calendar("UTC", {0: [["00:00", "00:00"]], 1: [["00:00", "12:00"], ["08:00", "13:00"]]})
    start = datetime(2026, 3, 9, 23, 0, tzinfo=UTC)  # Monday 23:00
    assert add_working_minutes(start, 120, cal) == datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
    assert working_time_between(datetime(2026, 3, 10, tzinfo=UTC), datetime(2026, 3, 11, tzinfo=UTC), cal) == timedelta(hours=13)


def test_holidays_are_closed_all_day():
    cal = make_calendar("Europe/Madrid", WEEKDAYS_9_18, ["2026-12-24", "2026-12-25"])
    start = local(MADRID, 2026, 12, 23, 17, 30)  # Wednesday before Christmas Eve
    assert add_working_minutes(start, 60, cal) == local(MADRID, 2026, 12, 28, 9, 30)


def test_country_holidays_from_the_holidays_package():
    from desk.sla.policies import country_holidays
    days = {h["date"] for h in country_holidays("ES", [2026])}
    assert "2026-12-25" in days and "2026-01-01" in days
    cal = make_calendar("Europe/Madrid", WEEKDAYS_9_18, days)
    assert add_working_minutes(local(MADRID, 2025, 12, 31, 17, 30), 60, cal) == local(MADRID, 2026, 1, 2, 9, 30)


@pytest.mark.parametrize("day, expected_hours", [
    ((2026, 3, 29), 5),   # Madrid springs forward at 02:00: 00:00-06:00 lasts 5 hours
    ((2026, 10, 25), 7),  # and falls back at 03:00: the same window lasts 7 hours
])
def test_madrid_dst_changes_inside_a_window(day, expected_hours):
    cal = make_calendar("Europe/Madrid", {d: [["00:00", "06:00"]] for d in range(7)})
    start, end = local(MADRID, *day, 0, 0), local(MADRID, *day, 6, 0)
    assert working_time_between(start, end, cal) == timedelta(hours=expected_hours)
    # 60 working minutes from 01:30 local: real elapsed time, whatever the wall clock says.
    due = add_working_minutes(local(MADRID, *day, 1, 30), 60, cal)
    assert due - local(MADRID, *day, 1, 30) == timedelta(minutes=60)


def test_madrid_spring_forward_day_shift_keeps_wall_clock_hours():
    cal = make_calendar("Europe/Madrid", {d: [["09:00", "18:00"]] for d in range(7)})
    # Sunday 29 March 2026 (after the change): 17:30 CEST + 60 min -> Monday 09:30 CEST.
    due = add_working_minutes(local(MADRID, 2026, 3, 29, 17, 30), 60, cal)
    assert due == local(MADRID, 2026, 3, 30, 9, 30)
    assert due.utcoffset() is None or due.astimezone(UTC) == datetime(2026, 3, 30, 7, 30, tzinfo=UTC)
    # Saturday before: 17:30 CET -> Sunday 09:30 CEST, i.e. 07:30 UTC rather than 08:30.
    sat = add_working_minutes(local(MADRID, 2026, 3, 28, 17, 30), 60, cal)
    assert sat.astimezone(UTC) == datetime(2026, 3, 29, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize("day, hours", [
    ((2026, 9, 6), 23),  # southern hemisphere: spring forward in September, at midnight
    ((2026, 4, 4), 25),  # and back in April: Saturday night 24:00 becomes 23:00 again
])
def test_santiago_dst_changes(day, hours):
    zone = ZoneInfo("America/Santiago")
    cal = make_calendar("America/Santiago", {d: [["00:00", "00:00"]] for d in range(7)})
    start = local(zone, *day, 0, 0)
    end = datetime.combine(start.date() + timedelta(days=1), time(0), tzinfo=zone)
    assert working_time_between(start, end, cal) == timedelta(hours=hours)


def test_santiago_office_hours_across_spring_forward():
    zone = ZoneInfo("America/Santiago")
    office = make_calendar("America/Santiago", {d: [["09:00", "18:00"]] for d in range(7)})
    before = local(zone, 2026, 9, 5, 17, 30)  # Saturday, the evening before spring forward
    due = add_working_minutes(before, 60, office)
    assert due == local(zone, 2026, 9, 6, 9, 30)
    assert due - before == timedelta(hours=15)  # 16 hours on the wall clock, 15 real ones


def test_mexico_city_has_no_dst_since_2022():
    zone = ZoneInfo("America/Mexico_City")
    cal = make_calendar("America/Mexico_City", {d: [["09:00", "18:00"]] for d in range(7)})
    # First Sunday of April and last of October used to shift; now the offset stays -06:00.
    for day in ((2026, 4, 5), (2026, 10, 25)):
        start = local(zone, *day, 9, 0)
        assert start.utcoffset() == timedelta(hours=-6)
        assert working_time_between(start, local(zone, *day, 18, 0), cal) == timedelta(hours=9)
        assert add_working_minutes(local(zone, *day, 17, 30), 60, cal) - local(zone, *day, 17, 30) == timedelta(hours=16)


def test_zero_target_and_24_7():
    start = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
    assert add_working_minutes(start, 0, None) == start
    assert add_working_minutes(start, 90, None) == start + timedelta(minutes=90)


def test_bad_calendar_data_is_refused():
    with pytest.raises(Exception):
        make_calendar("Mars/Olympus", WEEKDAYS_9_18)
    with pytest.raises(ValueError):
        make_calendar("UTC", {7: [["09:00", "18:00"]]})
    with pytest.raises(ValueError):
        make_calendar("UTC", {0: [["9", "18:00"]]})
    with pytest.raises(ValueError):
        add_working_minutes(datetime(2026, 3, 10, tzinfo=UTC), 60, make_calendar("UTC", {}))


ZONES = ["Europe/Madrid", "America/Santiago", "America/Mexico_City", "UTC", "Asia/Kolkata"]
CALENDARS = [
    WEEKDAYS_9_18,
    {d: [["09:00", "14:00"], ["16:00", "19:30"]] for d in range(6)},
    {d: [["22:00", "06:00"]] for d in range(7)},
    {0: [["00:00", "00:00"]], 3: [["01:30", "03:30"]]},
]


@settings(max_examples=300, deadline=None)
@given(zone=st.sampled_from(ZONES), windows=st.sampled_from(CALENDARS),
       start=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31),
                          timezones=st.just(UTC)),
       minutes=st.integers(min_value=0, max_value=5 * 24 * 60))
def test_open_time_between_start_and_due_equals_the_target(zone, windows, start, minutes):
    cal = make_calendar(zone, windows, ["2026-12-25", "2027-01-01"])
    due = add_working_time(start, timedelta(minutes=minutes), cal)
    assert due >= start
    assert working_time_between(start, due, cal) == timedelta(minutes=minutes)
    if minutes:
        assert is_open(due - timedelta(microseconds=1), cal)
