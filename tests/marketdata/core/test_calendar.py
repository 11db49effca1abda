import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.core.calendar import (
    SPECIAL_CLOSURE_NAME,
    TradingCalendar,
    UnknownCalendarError,
    as_utc,
    get_calendar,
    readable_holiday_name,
)

XNYS = get_calendar("XNYS")
METALS = get_calendar("CME_Globex_Metals")
CRYPTO = get_calendar("24/7")


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# ----------------------------------------------------------------- schedules


def test_xnys_black_friday_2024_closes_early_at_13_new_york():
    session = XNYS.session_on(dt.date(2024, 11, 29))
    assert session["open"] == utc("2024-11-29T14:30")
    assert session["close"] == utc("2024-11-29T18:00")
    assert bool(session["early_close"])


def test_xnys_july_3_2025_is_an_early_close_and_july_4_a_holiday():
    day = XNYS.day(dt.date(2025, 7, 3))
    assert day["is_trading_day"] and day["early_close"]
    assert day["close"] == utc("2025-07-03T17:00")
    assert XNYS.day(dt.date(2025, 7, 4))["holiday_name"] == "Independence Day"


def test_xnys_dst_week_opens_an_hour_earlier_in_utc_after_the_switch():
    assert XNYS.session_on(dt.date(2024, 3, 8))["open"] == utc("2024-03-08T14:30")
    assert XNYS.session_on(dt.date(2024, 3, 11))["open"] == utc("2024-03-11T13:30")
    assert XNYS.session_on(dt.date(2024, 3, 11))["close"] == utc("2024-03-11T20:00")


def test_weekend_is_neither_trading_day_nor_holiday():
    day = XNYS.day(dt.date(2025, 1, 11))
    assert day == {
        "date": dt.date(2025, 1, 11),
        "is_trading_day": False,
        "is_holiday": False,
        "holiday_name": None,
        "open": None,
        "close": None,
        "early_close": False,
    }


def test_day_of_a_regular_session_has_its_times_and_no_holiday():
    day = XNYS.day(dt.date(2024, 3, 11))
    assert day["is_trading_day"] and not day["is_holiday"] and day["holiday_name"] is None
    assert (day["open"], day["close"], day["early_close"]) == (utc("2024-03-11T13:30"), utc("2024-03-11T20:00"), False)


def test_metals_session_opens_the_evening_before_in_chicago():
    session = METALS.session_on(dt.date(2024, 3, 26))
    assert session["open"] == utc("2024-03-25T22:00")  # 17:00 CDT the day before
    assert session["close"] == utc("2024-03-26T21:00")  # 16:00 CDT
    assert METALS.session_at(utc("2024-03-25T23:00")).name.date() == dt.date(2024, 3, 26)
    assert not METALS.open_at_time(utc("2024-03-25T21:30"))  # the daily one-hour pause


def test_crypto_sessions_are_utc_days_without_holidays():
    session = CRYPTO.session_at(utc("2024-12-25T12:00"))
    assert (session["open"], session["close"]) == (utc("2024-12-25"), utc("2024-12-26"))
    assert CRYPTO.open_at_time(utc("2024-12-25T00:00"))
    assert CRYPTO.holidays(2024) == []
    assert CRYPTO.day(dt.date(2024, 12, 28))["is_trading_day"]


# ----------------------------------------------------------------- instants


def test_open_at_time_just_before_and_at_the_close():
    assert XNYS.open_at_time(utc("2024-11-29T17:59:59.999"))
    assert not XNYS.open_at_time(utc("2024-11-29T18:00"))
    assert XNYS.open_at_time(utc("2024-11-29T14:30"))
    assert not XNYS.open_at_time(utc("2024-11-29T14:29:59"))


def test_open_at_time_refuses_naive_times():
    with pytest.raises(ValueError, match="no time zone"):
        XNYS.open_at_time(dt.datetime(2024, 11, 29, 15, 0))


def test_next_open_over_a_weekend_is_monday():
    assert XNYS.next_open(utc("2025-01-10T21:00")) == utc("2025-01-13T14:30")


def test_next_open_skips_the_day_of_mourning_holiday():
    assert XNYS.next_open(utc("2025-01-08T21:00")) == utc("2025-01-10T14:30")


def test_next_open_and_close_are_strictly_after_the_time():
    assert XNYS.next_open(utc("2025-01-10T14:30")) == utc("2025-01-13T14:30")
    assert XNYS.next_close(utc("2025-01-10T21:00")) == utc("2025-01-13T21:00")
    assert XNYS.next_close(utc("2025-01-10T20:59")) == utc("2025-01-10T21:00")


def test_next_open_crosses_the_year_end():
    assert XNYS.next_open(utc("2024-12-31T21:00")) == utc("2025-01-02T14:30")
    assert CRYPTO.next_open(utc("2024-12-31T23:59")) == utc("2025-01-01")


def test_session_at_between_sessions_is_none():
    assert XNYS.session_at(utc("2024-11-29T18:00")) is None
    assert XNYS.session_at(utc("2024-11-30T15:00")) is None


def test_previous_sessions_are_full_sessions_before_the_date_across_a_year():
    sessions = XNYS.previous_sessions(dt.date(2025, 1, 3), 3)
    assert [d.date() for d in sessions.index] == [dt.date(2024, 12, 30), dt.date(2024, 12, 31), dt.date(2025, 1, 2)]


def test_previous_sessions_zero_is_empty_and_negative_is_an_error():
    assert XNYS.previous_sessions(dt.date(2025, 1, 3), 0).empty
    with pytest.raises(ValueError):
        XNYS.previous_sessions(dt.date(2025, 1, 3), -1)


def test_recent_sessions_inside_a_session_excludes_it_only_when_closed_is_asked():
    at = utc("2025-01-03T15:00")
    opened = XNYS.recent_sessions(at, 2)
    closed = XNYS.recent_sessions(at, 2, closed=True)
    assert [d.date() for d in opened.index] == [dt.date(2025, 1, 2), dt.date(2025, 1, 3)]
    assert [d.date() for d in closed.index] == [dt.date(2024, 12, 31), dt.date(2025, 1, 2)]


def test_recent_sessions_of_an_overnight_market_include_the_session_opened_last_evening():
    sessions = METALS.recent_sessions(utc("2024-03-25T23:00"), 1)
    assert sessions.index[0].date() == dt.date(2024, 3, 26)


# ------------------------------------------------------------------ holidays


def test_xnys_2025_holidays_have_readable_names_and_include_the_day_of_mourning():
    assert XNYS.holidays(2025) == [
        (dt.date(2025, 1, 1), "New Year's Day"),
        (dt.date(2025, 1, 9), "National Day of Mourning for President Jimmy Carter"),
        (dt.date(2025, 1, 20), "Martin Luther King Jr. Day"),
        (dt.date(2025, 2, 17), "Washington's Birthday"),
        (dt.date(2025, 4, 18), "Good Friday"),
        (dt.date(2025, 5, 26), "Memorial Day"),
        (dt.date(2025, 6, 19), "Juneteenth"),
        (dt.date(2025, 7, 4), "Independence Day"),
        (dt.date(2025, 9, 1), "Labor Day"),
        (dt.date(2025, 11, 27), "Thanksgiving Day"),
        (dt.date(2025, 12, 25), "Christmas Day"),
    ]


def test_nyse_rule_labels_with_year_ranges_get_the_same_names_as_xnys():
    assert get_calendar("NYSE").holidays(2025) == XNYS.holidays(2025)


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (dt.date(2001, 9, 11), "September 11 attacks"),
        (dt.date(2001, 9, 14), "September 11 attacks"),
        (dt.date(2012, 10, 29), "Hurricane Sandy"),
        (dt.date(2012, 10, 30), "Hurricane Sandy"),
        (dt.date(2018, 12, 5), "National Day of Mourning for President George H. W. Bush"),
        (dt.date(2007, 1, 2), "National Day of Mourning for President Gerald R. Ford"),
        (dt.date(2004, 6, 11), "National Day of Mourning for President Ronald Reagan"),
    ],
)
def test_xnys_ad_hoc_closures_are_named(day, name):
    assert XNYS.day(day)["holiday_name"] == name
    assert (day, name) in XNYS.holidays(day.year)


def test_unnamed_ad_hoc_closure_gets_the_special_closure_name():
    # 1968: Wednesdays closed for the paperwork crisis; the project table does not name them.
    assert XNYS.day(dt.date(1968, 6, 12))["holiday_name"] == SPECIAL_CLOSURE_NAME


def test_holidays_on_weekends_are_not_listed():
    # Christmas 2022 fell on a Sunday and was observed on Monday the 26th.
    days = [day for day, _ in XNYS.holidays(2022)]
    assert dt.date(2022, 12, 25) not in days
    assert dt.date(2022, 12, 26) in days
    assert all(day.weekday() < 5 for day in days)


def test_metals_holidays_are_the_full_closures_only():
    assert METALS.holidays(2024) == [
        (dt.date(2024, 1, 1), "New Year's Day"),
        (dt.date(2024, 3, 29), "Good Friday"),
        (dt.date(2024, 12, 25), "Christmas Day"),
    ]


def test_day_of_a_holiday_names_it():
    day = XNYS.day(dt.date(2025, 1, 9))
    assert day["is_holiday"] and not day["is_trading_day"]
    assert day["holiday_name"] == "National Day of Mourning for President Jimmy Carter"


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("Good Friday 1908+", "Good Friday"),
        ("USNewYearsDay", "New Year's Day"),
        ("USMartinLutherKingJrAfter1998", "Martin Luther King Jr. Day"),
        ("President's Day", "Washington's Birthday"),
        ("Juneteenth Starting at 2022", "Juneteenth"),
        ("July 4th", "Independence Day"),
        ("Thanksgiving 1939 to 1941", "Thanksgiving Day"),
        ("Christmas", "Christmas Day"),
        ("New Years Day Before Saturday Trading Ceased", "New Year's Day"),
        ("Marine Day (2003 - 2019)", "Marine Day"),
        ("Easter Monday", "Easter Monday"),
    ],
)
def test_readable_holiday_name(label, name):
    assert readable_holiday_name(label) == name


# --------------------------------------------------------------------- misc


def test_unknown_calendar_is_refused():
    with pytest.raises(UnknownCalendarError):
        TradingCalendar("NOPE")


def test_as_utc_converts_offsets_to_utc():
    assert as_utc("2024-11-29T09:30:00-05:00") == utc("2024-11-29T14:30")


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=3 * 366 * 24 * 60 - 1))
def test_session_at_agrees_with_next_close_and_next_open(minute):
    ts = utc("2023-06-01") + pd.Timedelta(minutes=minute)
    session = XNYS.session_at(ts)
    if session is None:
        assert XNYS.next_open(ts) < XNYS.next_close(ts)
    else:
        assert session["open"] <= ts < session["close"] == XNYS.next_close(ts)
        assert XNYS.next_open(ts) > session["close"]


@pytest.mark.parametrize("name", ["XNYS", "CME_Globex_Metals", "24/7"])
def test_session_edges_are_the_schedule_opens_and_closes_across_years(name):
    calendar = get_calendar(name)
    start, end = dt.date(2023, 12, 20), dt.date(2025, 1, 10)
    schedule = calendar.schedule(start, end)
    edges = calendar.session_edges(start, end)
    assert len(edges) == 2 * len(schedule)
    assert edges[0::2].tolist() == [ts.value for ts in schedule["open"]]
    assert edges[1::2].tolist() == [ts.value for ts in schedule["close"]]
    thanksgiving = dt.date(2024, 11, 28)
    assert calendar.session_edges(thanksgiving, thanksgiving).size == 2 * len(
        calendar.schedule(thanksgiving, thanksgiving)
    )
    assert calendar.session_edges(dt.date(2024, 11, 30), dt.date(2024, 12, 1)).size == (4 if name == "24/7" else 0)


def test_xnys_has_no_session_edges_on_thanksgiving():
    assert XNYS.session_edges(dt.date(2024, 11, 28), dt.date(2024, 11, 28)).size == 0
