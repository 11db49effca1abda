"""Data Manager analytics against a small hand-built week of XNYS 1-minute bars.

Sessions (UTC, New York is UTC-5 in late November):
  A 2024-11-25  14:30-21:00      B 2024-11-26  14:30-21:00
  C 2024-11-27  14:30-21:00 (no bars at all: missing data)
    2024-11-28  Thanksgiving, closed
  D 2024-11-29  14:30-18:00 (half-day)
  E 2024-12-02  14:30-21:00

Every bar has high = price + 0.5 and low = price - 0.5.
"""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketdata.core.analytics import (
    average_volume,
    average_volume_at_time,
    coverage,
    high_low,
    session_high_low,
    session_volume,
)
from marketdata.core.bars import normalize_bars
from marketdata.core.calendar import get_calendar

XNYS = get_calendar("XNYS")

# (bar open time UTC, volume, price)
WEEK = [
    ("2023-11-30T14:30", 1000, 500.0),  # more than a year before E
    ("2023-12-04T14:30", 1000, 3.0),  # less than a year before E
    ("2024-11-25T14:00", 100, 1000.0),  # pre-market: not regular session
    ("2024-11-25T14:30", 1, 10.0),
    ("2024-11-25T14:31", 2, 11.0),
    ("2024-11-25T15:00", 3, 9.0),
    ("2024-11-25T20:59", 4, 12.0),
    ("2024-11-26T14:30", 10, 13.0),
    ("2024-11-26T14:45", 20, 8.0),
    ("2024-11-26T16:00", 30, 10.0),
    ("2024-11-26T21:00", 500, 0.1),  # after the close: not regular session
    ("2024-11-29T14:30", 5, 20.0),
    ("2024-11-29T15:00", 6, 7.0),
    ("2024-11-29T17:59", 7, 15.0),
    ("2024-12-02T14:30", 100, 6.0),
    ("2024-12-02T14:31", 200, 25.0),
    ("2024-12-02T14:32", 300, 5.0),
    ("2024-12-02T14:33", 400, 30.0),
]


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def bars_from(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    price = np.array([row[2] for row in rows], dtype=float)
    frame = pd.DataFrame(
        {
            "ts": pd.DatetimeIndex([utc(row[0]) for row in rows]).as_unit("ns"),
            "open": price,
            "high": price + 0.5,
            "low": price - 0.5,
            "close": price,
            "volume": np.array([row[1] for row in rows], dtype=float),
        }
    )
    return normalize_bars(frame)


BARS = bars_from(WEEK)
MONDAY_14_32_30 = utc("2024-12-02T14:32:30")  # the 14:32 bar is still forming
SATURDAY = utc("2024-11-30T12:00")


# ----------------------------------------------------------- average volume


def test_average_volume_in_a_session_uses_the_sessions_before_it_and_skips_the_empty_day():
    result = average_volume(BARS, XNYS, MONDAY_14_32_30, 3)
    # B 60 and D 18; C has no bars at all.
    assert result == {
        "value": 39.0,
        "days": 2,
        "missing_days": 1,
        "from": dt.date(2024, 11, 26),
        "to": dt.date(2024, 11, 29),
    }


def test_average_volume_ignores_pre_market_and_after_hours_bars():
    result = average_volume(BARS, XNYS, MONDAY_14_32_30, 4)
    assert result["value"] == pytest.approx((10 + 60 + 18) / 3)
    assert (result["days"], result["missing_days"]) == (3, 1)


def test_average_volume_on_a_weekend_ends_with_the_last_session():
    result = average_volume(BARS, XNYS, SATURDAY, 2)
    assert result == {
        "value": 18.0,
        "days": 1,
        "missing_days": 1,
        "from": dt.date(2024, 11, 27),
        "to": dt.date(2024, 11, 29),
    }


def test_average_volume_at_the_close_counts_the_session_just_closed():
    assert average_volume(BARS, XNYS, utc("2024-11-29T18:00"), 1)["value"] == 18.0
    assert average_volume(BARS, XNYS, utc("2024-11-29T17:59:59"), 1)["to"] == dt.date(2024, 11, 27)


def test_average_volume_without_data_is_none():
    result = average_volume(BARS.iloc[:0], XNYS, MONDAY_14_32_30, 3)
    assert result["value"] is None
    assert (result["days"], result["missing_days"]) == (0, 3)


@pytest.mark.parametrize("days", [0, -1, 2.5, True])
def test_average_volume_refuses_a_bad_day_count(days):
    with pytest.raises(ValueError, match="days"):
        average_volume(BARS, XNYS, MONDAY_14_32_30, days)


def test_average_volume_refuses_a_naive_at():
    with pytest.raises(ValueError, match="no time zone"):
        average_volume(BARS, XNYS, dt.datetime(2024, 12, 2, 15, 0), 3)


# ----------------------------------------------------------- session volume


def test_session_volume_mid_session_excludes_the_forming_bar_and_later_bars():
    result = session_volume(BARS, XNYS, MONDAY_14_32_30)
    assert result == {
        "value": 300.0,
        "bars": 2,
        "date": dt.date(2024, 12, 2),
        "from": utc("2024-12-02T14:30"),
        "to": MONDAY_14_32_30,
    }


def test_session_volume_counts_a_bar_exactly_at_its_close():
    assert session_volume(BARS, XNYS, utc("2024-12-02T14:32"))["value"] == 300.0
    assert session_volume(BARS, XNYS, utc("2024-12-02T14:31:59"))["value"] == 100.0


def test_session_volume_before_the_open_of_a_trading_day_is_zero():
    result = session_volume(BARS, XNYS, utc("2024-12-02T12:00"))
    assert (result["value"], result["bars"], result["date"]) == (0.0, 0, dt.date(2024, 12, 2))


def test_session_volume_after_the_half_day_close_is_the_whole_session():
    result = session_volume(BARS, XNYS, utc("2024-11-29T19:00"))
    assert (result["value"], result["date"], result["to"]) == (18.0, dt.date(2024, 11, 29), utc("2024-11-29T18:00"))


def test_session_volume_on_a_weekend_is_the_last_session():
    result = session_volume(BARS, XNYS, SATURDAY)
    assert (result["value"], result["date"]) == (18.0, dt.date(2024, 11, 29))


def test_session_volume_of_a_day_without_bars_is_zero_with_no_bars():
    result = session_volume(BARS, XNYS, utc("2024-11-27T18:00"))
    assert (result["value"], result["bars"]) == (0.0, 0)


# -------------------------------------------------- average volume at time


def test_average_volume_at_time_counts_bars_closed_by_the_time():
    # 10:00 New York = 15:00Z: D has only its 14:30 bar (5) by then; C has no data.
    result = average_volume_at_time(BARS, XNYS, MONDAY_14_32_30, dt.time(10, 0), 2)
    assert result == {
        "value": 5.0,
        "days": 1,
        "missing_days": 1,
        "skipped_days": 0,
        "from": dt.date(2024, 11, 27),
        "to": dt.date(2024, 11, 29),
        "time": dt.time(10, 0),
    }


def test_average_volume_at_time_skips_the_half_day_that_closed_before_the_time():
    # 14:00 New York = 19:00Z, after D's 13:00 close: D is skipped and the window reaches back to A.
    # A by 19:00Z: 1 + 2 + 3 = 6 (the 20:59 bar is later); B: 10 + 20 + 30 = 60; C: no data.
    result = average_volume_at_time(BARS, XNYS, MONDAY_14_32_30, dt.time(14, 0), 3)
    assert result["value"] == 33.0
    assert (result["days"], result["missing_days"], result["skipped_days"]) == (2, 1, 1)
    assert (result["from"], result["to"]) == (dt.date(2024, 11, 25), dt.date(2024, 11, 27))


def test_average_volume_at_time_equal_to_the_half_day_close_counts_the_half_day():
    result = average_volume_at_time(BARS, XNYS, MONDAY_14_32_30, dt.time(13, 0), 1)
    assert (result["value"], result["skipped_days"], result["to"]) == (18.0, 0, dt.date(2024, 11, 29))


def test_average_volume_at_time_before_the_open_reaches_no_session():
    result = average_volume_at_time(BARS, XNYS, MONDAY_14_32_30, dt.time(9, 0), 2)
    assert (result["value"], result["days"]) == (None, 0)
    assert result["skipped_days"] > 0


def test_average_volume_at_time_refuses_a_time_with_a_zone():
    with pytest.raises(ValueError, match="market-local"):
        average_volume_at_time(BARS, XNYS, MONDAY_14_32_30, dt.time(10, 0, tzinfo=dt.UTC), 2)


def test_average_volume_at_time_follows_local_time_across_the_dst_change():
    # 10:00 New York is 15:00Z on Friday 2024-03-08 and 14:00Z on Monday 2024-03-11.
    bars = bars_from(
        [
            ("2024-03-08T14:59", 1, 1.0),
            ("2024-03-08T15:00", 40, 1.0),
            ("2024-03-11T13:59", 2, 1.0),
            ("2024-03-11T14:00", 50, 1.0),
        ]
    )
    result = average_volume_at_time(bars, XNYS, utc("2024-03-12T12:00"), dt.time(10, 0), 2)
    assert (result["value"], result["days"]) == (1.5, 2)


def test_average_volume_at_time_of_an_overnight_market_reaches_the_morning_after_the_open():
    metals = get_calendar("CME_Globex_Metals")
    # Session 2024-03-26 opens 2024-03-25 22:00Z (17:00 Chicago); 08:00 Chicago = 13:00Z on the 26th.
    bars = bars_from([("2024-03-25T22:00", 3, 1.0), ("2024-03-26T12:59", 4, 1.0), ("2024-03-26T13:00", 99, 1.0)])
    result = average_volume_at_time(bars, metals, utc("2024-03-26T21:00"), dt.time(8, 0), 1)
    assert (result["value"], result["to"]) == (7.0, dt.date(2024, 3, 26))


# ----------------------------------------------------------------- high/low


def test_high_low_over_days_includes_the_current_session_up_to_at():
    at = utc("2024-12-02T14:31:30")  # the 14:31 bar (price 25) is still forming
    result = high_low(BARS, XNYS, at, days=2)
    assert result == {
        "high": 20.5,
        "high_at": utc("2024-11-29T14:30"),
        "low": 5.5,
        "low_at": utc("2024-12-02T14:30"),
        "from": utc("2024-11-29T14:30"),
        "to": at,
    }


def test_high_low_ignores_pre_market_and_after_hours_extremes():
    result = high_low(BARS, XNYS, utc("2024-12-02T14:31:30"), days=5)
    assert (result["high"], result["low"]) == (20.5, 5.5)


def test_high_low_on_a_weekend_covers_the_sessions_before_it():
    result = high_low(BARS, XNYS, SATURDAY, days=4)
    assert (result["high"], result["high_at"]) == (20.5, utc("2024-11-29T14:30"))
    assert (result["low"], result["low_at"]) == (6.5, utc("2024-11-29T15:00"))


def test_high_low_over_years_reaches_back_from_at():
    at = utc("2024-12-02T14:31:30")
    result = high_low(BARS, XNYS, at, years=1)
    assert (result["high"], result["high_at"]) == (20.5, utc("2024-11-29T14:30"))  # 500 is over a year old
    assert (result["low"], result["low_at"]) == (2.5, utc("2023-12-04T14:30"))
    assert result["from"] == utc("2023-12-02T14:31:30")


def test_high_low_tie_goes_to_the_earliest_bar():
    bars = bars_from([("2024-12-02T14:30", 1, 10.0), ("2024-12-02T14:31", 1, 10.0)])
    result = high_low(bars, XNYS, utc("2024-12-02T15:00"), days=1)
    assert result["high_at"] == result["low_at"] == utc("2024-12-02T14:30")


def test_high_low_without_bars_is_all_none():
    result = high_low(BARS, XNYS, utc("2024-12-02T14:30:30"), days=1)
    assert (result["high"], result["high_at"], result["low"], result["low_at"]) == (None, None, None, None)


@pytest.mark.parametrize("kwargs", [{}, {"days": 2, "years": 1}, {"days": 0}, {"years": -1}])
def test_high_low_needs_exactly_one_positive_window(kwargs):
    with pytest.raises(ValueError):
        high_low(BARS, XNYS, MONDAY_14_32_30, **kwargs)


def test_session_high_low_so_far_excludes_the_forming_bar():
    result = session_high_low(BARS, XNYS, MONDAY_14_32_30)
    assert result == {
        "high": 25.5,
        "high_at": utc("2024-12-02T14:31"),
        "low": 5.5,
        "low_at": utc("2024-12-02T14:30"),
        "date": dt.date(2024, 12, 2),
    }


def test_session_high_low_on_a_weekend_is_the_last_session():
    result = session_high_low(BARS, XNYS, SATURDAY)
    assert (result["high"], result["low"], result["date"]) == (20.5, 6.5, dt.date(2024, 11, 29))


def test_session_high_low_before_the_open_has_no_values_yet():
    result = session_high_low(BARS, XNYS, utc("2024-12-02T12:00"))
    assert result["high"] is None and result["low"] is None
    assert result["date"] == dt.date(2024, 12, 2)


# ----------------------------------------------------------------- coverage


def minutes(start: str, end: str) -> pd.DatetimeIndex:
    return pd.date_range(utc(start), utc(end), freq="1min", inclusive="left").as_unit("ns")


def test_coverage_of_a_half_day_with_a_two_minute_gap():
    ts = minutes("2024-11-29T14:30", "2024-11-29T18:00").delete([40, 41])  # 15:10 and 15:11
    (day,) = coverage(pd.Series(ts), XNYS, dt.date(2024, 11, 29), dt.date(2024, 11, 29))
    assert day == {
        "date": dt.date(2024, 11, 29),
        "expected": 210,
        "present": 208,
        "bar_quality": 208 / 210,
        "gaps": [[utc("2024-11-29T15:10"), utc("2024-11-29T15:12")]],
    }


def test_coverage_counts_trading_days_only_and_reports_an_empty_day_as_one_gap():
    full = minutes("2024-11-26T14:30", "2024-11-26T21:00")
    days = coverage(pd.Series(full), XNYS, dt.date(2024, 11, 26), dt.date(2024, 11, 28))
    assert [day["date"] for day in days] == [dt.date(2024, 11, 26), dt.date(2024, 11, 27)]
    assert (days[0]["present"], days[0]["bar_quality"], days[0]["gaps"]) == (390, 1.0, [])
    assert days[1]["present"] == 0 and days[1]["bar_quality"] == 0.0
    assert days[1]["gaps"] == [[utc("2024-11-27T14:30"), utc("2024-11-27T21:00")]]


def test_coverage_gaps_at_the_open_and_close_and_ignores_bars_off_grid_or_outside_hours():
    ts = minutes("2024-11-26T14:31", "2024-11-26T20:59")
    extra = pd.DatetimeIndex([utc("2024-11-26T14:00"), utc("2024-11-26T14:30:30"), utc("2024-11-26T21:00")])
    (day,) = coverage(pd.Series(ts.append(extra)), XNYS, dt.date(2024, 11, 26), dt.date(2024, 11, 26))
    assert (day["expected"], day["present"]) == (390, 388)
    assert day["gaps"] == [
        [utc("2024-11-26T14:30"), utc("2024-11-26T14:31")],
        [utc("2024-11-26T20:59"), utc("2024-11-26T21:00")],
    ]


def test_coverage_with_a_five_minute_interval_counts_five_minute_slots():
    ts = minutes("2024-11-29T14:30", "2024-11-29T18:00")[::5].delete(0)
    (day,) = coverage(ts, XNYS, dt.date(2024, 11, 29), dt.date(2024, 11, 29), interval_s=300)
    assert (day["expected"], day["present"]) == (42, 41)
    assert day["gaps"] == [[utc("2024-11-29T14:30"), utc("2024-11-29T14:35")]]


def test_coverage_accepts_a_bar_frame_and_counts_duplicates_once():
    frame = pd.DataFrame({"ts": pd.DatetimeIndex([utc("2024-11-29T14:30")] * 2).as_unit("ns")})
    (day,) = coverage(frame, XNYS, dt.date(2024, 11, 29), dt.date(2024, 11, 29))
    assert day["present"] == 1


# --------------------------------------------------------- point in time


def results_at(bars: pd.DataFrame, at: pd.Timestamp) -> list:
    return [
        average_volume(bars, XNYS, at, 3),
        session_volume(bars, XNYS, at),
        average_volume_at_time(bars, XNYS, at, dt.time(11, 0), 2),
        high_low(bars, XNYS, at, days=3),
        high_low(bars, XNYS, at, years=1),
        session_high_low(bars, XNYS, at),
    ]


WEEK_START = utc("2024-11-25T14:00")
WEEK_MINUTES = int((utc("2024-12-03T00:00") - WEEK_START) / pd.Timedelta(minutes=1))


@st.composite
def week_bars(draw):
    offsets = draw(st.lists(st.integers(0, WEEK_MINUTES - 1), min_size=0, max_size=60, unique=True))
    rows = []
    for offset in sorted(offsets):
        ts = WEEK_START + pd.Timedelta(minutes=offset)
        rows.append((ts.isoformat(), draw(st.integers(0, 1000)), draw(st.integers(1, 100)) * 1.0))
    return bars_from(rows) if rows else BARS.iloc[:0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(week_bars(), st.integers(0, WEEK_MINUTES * 60), st.integers(0, 119), st.booleans())
def test_results_at_a_time_depend_only_on_bars_closed_by_then(bars, second, offset, near_a_bar):
    at = WEEK_START + pd.Timedelta(seconds=second)
    if near_a_bar and len(bars):
        # Just before, at or after the close of a bar: where look-ahead would show.
        at = bars["ts"].iloc[second % len(bars)] + pd.Timedelta(seconds=offset)
    known = bars.loc[bars["ts"] + pd.Timedelta(minutes=1) <= at]
    assert results_at(bars, at) == results_at(known, at)
