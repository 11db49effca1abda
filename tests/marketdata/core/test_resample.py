import bisect
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketdata.core.bars import BAR_COLUMNS, empty_bars, filter_regular, resample_bars, validate_bars
from marketdata.core.calendar import get_calendar
from marketdata.core.intervals import Interval, parse_interval

XNYS = get_calendar("XNYS")
CRYPTO = get_calendar("24/7")
MINUTE = pd.Timedelta(minutes=1)
NS_PER_DAY = 86_400 * 10**9


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def minute_range(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    return pd.date_range(start, end, freq="1min", inclusive="left").as_unit("ns")


def session_minutes(sessions: pd.DataFrame) -> pd.DatetimeIndex:
    """Every regular-hours minute of `sessions`."""
    parts = [minute_range(open_, close) for open_, close in zip(sessions["open"], sessions["close"], strict=True)]
    return parts[0].append(parts[1:]) if len(parts) > 1 else parts[0]


def make_bars(ts: pd.DatetimeIndex, seed: int = 7, unknown_share: float = 0.0) -> pd.DataFrame:
    """Valid bars at `ts`: a random walk, integer volumes (some 0), some unknown vwap/trade_count."""
    rng = np.random.default_rng(seed)
    count = len(ts)
    close = 100.0 + np.cumsum(rng.normal(0.0, 0.2, count))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) + rng.uniform(0.0, 0.3, count)
    low = np.minimum(open_, close) - rng.uniform(0.0, 0.3, count)
    volume = rng.integers(0, 1_000, count).astype(np.float64)
    volume[rng.random(count) < 0.05] = 0.0
    trade_count = rng.integers(0, 50, count).astype(np.float64)
    vwap = low + (high - low) * rng.random(count)
    trade_count[rng.random(count) < unknown_share] = np.nan
    vwap[rng.random(count) < unknown_share] = np.nan
    return pd.DataFrame(
        {
            "ts": pd.DatetimeIndex(ts).tz_convert("UTC").as_unit("ns"),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "trade_count": trade_count,
            "vwap": vwap,
        }
    )


def ns(values: pd.Series) -> np.ndarray:
    """Return UTC datetimes as int64 nanoseconds."""
    return values.to_numpy(dtype="datetime64[ns]").view("i8")


def assert_bars_equal(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Exact for labels, prices, volumes and counts; vwap up to float summation order."""
    assert list(actual.columns) == BAR_COLUMNS
    assert isinstance(actual.index, pd.RangeIndex)
    assert actual["ts"].dtype == "datetime64[ns, UTC]"
    pd.testing.assert_frame_equal(
        actual.drop(columns="vwap").reset_index(drop=True),
        expected.drop(columns="vwap").reset_index(drop=True),
        check_exact=True,
    )
    np.testing.assert_allclose(actual["vwap"].to_numpy(), expected["vwap"].to_numpy(), rtol=1e-9, equal_nan=True)


# --------------------------------------------------------------------- reference
# A slow, loop-per-bar statement of the rules in SPEC.md, to check the numpy code against.


class ReferenceSchedule:
    """Sessions as Python lists; each bar is placed one at a time with bisect."""

    def __init__(self, sessions: pd.DataFrame, tz) -> None:
        self.opens = [int(x.value) for x in sessions["open"]]
        self.closes = [int(x.value) for x in sessions["close"]]
        self.dates = [d.date() for d in sessions.index]
        self.tz = tz

    def bin_of(self, t: int, interval: Interval, mode: str) -> tuple[int, int] | None:
        """Return (left, right) in ns for the bar at `t`, or None if the bar is dropped."""
        step = interval.seconds * 10**9
        i = bisect.bisect_right(self.opens, t) - 1
        if i >= 0 and t < self.closes[i]:
            if interval.is_daily:
                return self.daily_group(i, interval.count)
            start = self.opens[i] + (t - self.opens[i]) // step * step
            return start, min(start + step, self.closes[i])
        if mode == "regular":
            return None
        local_date = pd.Timestamp(t, unit="ns", tz="UTC").tz_convert(self.tz).date()
        day_start = int(pd.Timestamp(local_date).tz_localize(self.tz).value)
        day_end = int(pd.Timestamp(local_date + dt.timedelta(days=1)).tz_localize(self.tz).value)
        own = [j for j, d in enumerate(self.dates) if d == local_date]
        if interval.is_daily:
            later = [j for j, d in enumerate(self.dates) if d > local_date]
            if own:
                return self.daily_group(own[0], interval.count)
            if interval.count > 1 and later:
                return self.daily_group(later[0], interval.count)
            return day_start, day_end
        anchor = self.opens[own[0]] if own else day_start
        previous_close = self.closes[i] if i >= 0 else -(2**63)
        next_open = self.opens[i + 1] if i + 1 < len(self.opens) else 2**63 - 1
        segment_start, segment_end = max(previous_close, day_start), min(next_open, day_end)
        start = anchor + (t - anchor) // step * step
        return max(start, segment_start), min(start + step, segment_end)

    def daily_group(self, i: int, size: int) -> tuple[int, int]:
        year_positions = [j for j, d in enumerate(self.dates) if d.year == self.dates[i].year]
        ordinal = year_positions.index(i)
        members = year_positions[ordinal // size * size :][:size]
        return self.opens[members[0]], self.closes[members[-1]]


def reference_resample(
    frame: pd.DataFrame, interval: Interval, sessions: pd.DataFrame, tz, mode: str, label: str
) -> pd.DataFrame:
    schedule = ReferenceSchedule(sessions, tz)
    bins = [schedule.bin_of(int(t.value), interval, mode) for t in frame["ts"]]
    keep = [b is not None for b in bins]
    kept = frame.loc[keep].copy()
    if kept.empty:
        return empty_bars()
    kept["left"] = [b[0] for b in bins if b is not None]
    kept["right"] = [b[1] for b in bins if b is not None]
    kept["price_volume"] = kept["vwap"].fillna(kept["close"]) * kept["volume"]
    grouped = kept.groupby("left", sort=True)
    out = pd.DataFrame(
        {
            "ts": pd.to_datetime(grouped["right"].first() if label == "right" else grouped["left"].first(), utc=True),
            "open": grouped["open"].first(),
            "high": grouped["high"].max(),
            "low": grouped["low"].min(),
            "close": grouped["close"].last(),
            "volume": grouped["volume"].sum(),
            "trade_count": grouped["trade_count"].sum(min_count=1),
            "vwap": grouped["price_volume"].sum(),
        }
    ).reset_index(drop=True)
    out["vwap"] = (out["vwap"] / out["volume"]).where(out["volume"] > 0)
    out["ts"] = out["ts"].dt.as_unit("ns")
    return out


# ------------------------------------------------------------------- fixed cases


def test_resample_half_day_last_bar_is_short():
    sessions = XNYS.schedule(dt.date(2024, 11, 29), dt.date(2024, 11, 29))
    assert sessions["close"].iloc[0] == utc("2024-11-29 18:00")
    bars = make_bars(session_minutes(sessions))

    hourly = resample_bars(bars, parse_interval("1h"), sessions)

    assert list(hourly["ts"]) == [
        utc("2024-11-29 14:30"),
        utc("2024-11-29 15:30"),
        utc("2024-11-29 16:30"),
        utc("2024-11-29 17:30"),
    ]
    last_half_hour = bars.loc[bars["ts"] >= utc("2024-11-29 17:30")]
    assert len(last_half_hour) == 30
    last = hourly.iloc[-1]
    assert last["volume"] == last_half_hour["volume"].sum()
    assert last["open"] == last_half_hour["open"].iloc[0]
    assert last["close"] == last_half_hour["close"].iloc[-1]
    assert last["high"] == last_half_hour["high"].max()


def test_resample_half_day_right_label_is_session_close():
    sessions = XNYS.schedule(dt.date(2024, 11, 29), dt.date(2024, 11, 29))
    bars = make_bars(session_minutes(sessions))

    left = resample_bars(bars, parse_interval("1h"), sessions)
    right = resample_bars(bars, parse_interval("1h"), sessions, label="right")

    assert list(right["ts"]) == [
        utc("2024-11-29 15:30"),
        utc("2024-11-29 16:30"),
        utc("2024-11-29 17:30"),
        utc("2024-11-29 18:00"),
    ]
    pd.testing.assert_frame_equal(left.drop(columns="ts"), right.drop(columns="ts"))


def test_resample_seven_minutes_aligned_to_open():
    sessions = XNYS.schedule(dt.date(2024, 11, 27), dt.date(2024, 11, 27))
    bars = make_bars(session_minutes(sessions))

    bars_7m = resample_bars(bars, parse_interval("7m"), sessions)

    assert list(bars_7m["ts"][:3]) == [utc("2024-11-27 14:30"), utc("2024-11-27 14:37"), utc("2024-11-27 14:44")]
    # 390 minutes = 55 x 7 + 5: bin 55 starts 385 minutes after 14:30Z and holds the last 5 minutes.
    assert len(bars_7m) == 56
    assert bars_7m["ts"].iloc[-1] == utc("2024-11-27 20:55")
    assert bars_7m["volume"].iloc[-1] == bars["volume"].iloc[-5:].sum()
    right = resample_bars(bars, parse_interval("7m"), sessions, label="right")
    assert right["ts"].iloc[-1] == utc("2024-11-27 21:00")
    assert right["ts"].iloc[-2] == utc("2024-11-27 20:55")


def test_resample_grid_does_not_depend_on_first_bar():
    sessions = XNYS.schedule(dt.date(2024, 11, 27), dt.date(2024, 11, 27))
    bars = make_bars(session_minutes(sessions))
    late_start = bars.loc[bars["ts"] >= utc("2024-11-27 15:03")]

    bars_7m = resample_bars(late_start, parse_interval("7m"), sessions)

    # 15:03Z is 33 minutes after the open: inside the bin that starts at 14:58Z.
    assert bars_7m["ts"].iloc[0] == utc("2024-11-27 14:58")
    assert bars_7m["ts"].iloc[1] == utc("2024-11-27 15:05")


def test_resample_daily_gives_one_bar_per_session():
    sessions = XNYS.schedule(dt.date(2024, 11, 25), dt.date(2024, 12, 3))
    bars = make_bars(session_minutes(sessions))

    daily = resample_bars(bars, parse_interval("1d"), sessions)
    daily_right = resample_bars(bars, parse_interval("1d"), sessions, label="right")

    assert len(sessions) == 6  # Thanksgiving is closed, the day after is a half-day
    assert list(daily["ts"]) == list(sessions["open"])
    assert list(daily_right["ts"]) == list(sessions["close"])
    per_session = bars.groupby(bars["ts"].dt.date)
    np.testing.assert_array_equal(daily["volume"], per_session["volume"].sum())
    np.testing.assert_array_equal(daily["high"], per_session["high"].max())
    np.testing.assert_array_equal(daily["low"], per_session["low"].min())
    np.testing.assert_array_equal(daily["open"], per_session["open"].first())
    np.testing.assert_array_equal(daily["close"], per_session["close"].last())


def test_resample_crypto_calendar_aligns_at_midnight_utc():
    sessions = CRYPTO.schedule(dt.date(2024, 3, 9), dt.date(2024, 3, 11))
    bars = make_bars(minute_range(utc("2024-03-09 05:17"), utc("2024-03-11 03:00")))

    four_hours = resample_bars(bars, parse_interval("4h"), sessions)
    seven_minutes = resample_bars(bars, parse_interval("7m"), sessions, label="right")
    daily = resample_bars(bars, parse_interval("1d"), sessions)

    assert list(four_hours["ts"][:3]) == [utc("2024-03-09 04:00"), utc("2024-03-09 08:00"), utc("2024-03-09 12:00")]
    assert (four_hours["ts"].dt.hour % 4 == 0).all()
    # 1440 = 205 x 7 + 5: the day's last 7m bin (23:55Z) is cut at midnight, the next day restarts at 00:00Z.
    ends = seven_minutes["ts"]
    assert utc("2024-03-10 00:00") in set(ends)
    assert utc("2024-03-10 00:02") not in set(ends)
    assert utc("2024-03-10 00:07") in set(ends)
    assert list(daily["ts"]) == [utc("2024-03-09"), utc("2024-03-10"), utc("2024-03-11")]


def test_resample_regular_session_drops_extended_hours():
    sessions = XNYS.schedule(dt.date(2024, 11, 26), dt.date(2024, 11, 27))
    bars = make_bars(minute_range(utc("2024-11-26 09:00"), utc("2024-11-28 01:00")))

    regular = resample_bars(bars, parse_interval("15m"), sessions)

    in_hours = filter_regular(bars, sessions)
    assert in_hours["ts"].min() == utc("2024-11-26 14:30")
    assert len(in_hours) == 2 * 390
    assert_bars_equal(regular, resample_bars(in_hours, parse_interval("15m"), sessions))
    assert regular["volume"].sum() == in_hours["volume"].sum()
    assert list(regular["ts"][:2]) == [utc("2024-11-26 14:30"), utc("2024-11-26 14:45")]
    assert regular["ts"].iloc[-1] == utc("2024-11-27 20:45")


def test_resample_all_sessions_puts_extended_bars_on_the_open_grid():
    sessions = XNYS.schedule(dt.date(2024, 11, 26), dt.date(2024, 11, 26))
    # 2024-11-26 local day in New York is 05:00Z to 05:00Z next day (EST).
    bars = make_bars(minute_range(utc("2024-11-26 05:00"), utc("2024-11-27 05:00")))

    hourly = resample_bars(bars, parse_interval("1h"), sessions, session="all", tz=XNYS.tz)
    right = resample_bars(bars, parse_interval("1h"), sessions, session="all", tz=XNYS.tz, label="right")

    labels = list(hourly["ts"])
    # Pre-market: the grid of the 14:30Z open (k < 0), cut at local midnight.
    assert labels[:3] == [utc("2024-11-26 05:00"), utc("2024-11-26 05:30"), utc("2024-11-26 06:30")]
    assert utc("2024-11-26 13:30") in labels
    # Regular hours: the same bars as session="regular".
    regular = resample_bars(bars, parse_interval("1h"), sessions)
    in_regular = hourly["ts"].between(utc("2024-11-26 14:30"), utc("2024-11-26 20:59"))
    assert_bars_equal(hourly.loc[in_regular], regular)
    # Post-market: the 20:30Z bin is cut at the 21:00Z close, the rest stays on the open grid.
    assert utc("2024-11-26 21:00") in labels
    assert utc("2024-11-26 21:30") in labels
    assert labels[-1] == utc("2024-11-27 04:30")
    assert right["ts"].iloc[-1] == utc("2024-11-27 05:00")
    assert hourly["volume"].sum() == bars["volume"].sum()


def test_resample_all_sessions_premarket_bins_use_negative_steps_from_open():
    sessions = XNYS.schedule(dt.date(2024, 11, 27), dt.date(2024, 11, 27))
    bars = make_bars(pd.DatetimeIndex([utc("2024-11-27 13:00"), utc("2024-11-27 13:06"), utc("2024-11-27 14:30")]))

    bars_7m = resample_bars(bars, parse_interval("7m"), sessions, session="all", tz=XNYS.tz)

    # 13:00Z is 90 minutes before the open: bin -13 starts 91 minutes before it, at 12:59Z.
    assert list(bars_7m["ts"]) == [utc("2024-11-27 12:59"), utc("2024-11-27 13:06"), utc("2024-11-27 14:30")]


def test_resample_all_sessions_day_without_session_anchors_at_local_midnight():
    # Sunday 2024-03-10: no session, and New York springs forward at 02:00 local.
    sessions = XNYS.schedule(dt.date(2024, 3, 8), dt.date(2024, 3, 11))
    bars = make_bars(pd.DatetimeIndex([utc("2024-03-10 14:10"), utc("2024-03-10 14:12")]))

    bars_7m = resample_bars(bars, parse_interval("7m"), sessions, session="all", tz=XNYS.tz)
    daily = resample_bars(bars, parse_interval("1d"), sessions, session="all", tz=XNYS.tz, label="right")

    # Local midnight was 05:00Z (still EST); 14:10Z is 550 minutes later, in bin 78 = 546 minutes.
    assert list(bars_7m["ts"]) == [utc("2024-03-10 14:06")]
    assert bars_7m["volume"].iloc[0] == bars["volume"].sum()
    # The Sunday's own daily bar ends at the next local midnight, 04:00Z (EDT).
    assert list(daily["ts"]) == [utc("2024-03-11 04:00")]


def test_resample_multi_day_groups_count_sessions_from_start_of_year():
    sessions = XNYS.schedule(dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    bars = make_bars(session_minutes(sessions))

    weekly = resample_bars(bars, parse_interval("5d"), sessions)
    weekly_right = resample_bars(bars, parse_interval("5d"), sessions, label="right")

    opens, closes = list(sessions["open"]), list(sessions["close"])
    assert list(weekly["ts"]) == opens[::5]
    assert list(weekly_right["ts"]) == [closes[min(i + 4, len(closes) - 1)] for i in range(0, len(closes), 5)]
    first_five = bars["ts"] < sessions["open"].iloc[5]
    assert weekly["volume"].iloc[0] == bars.loc[first_five, "volume"].sum()


def test_resample_multi_day_groups_are_stable_under_paging():
    sessions = XNYS.schedule(dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    bars = make_bars(session_minutes(sessions))
    page = bars.loc[bars["ts"] >= utc("2024-02-14")]

    full = resample_bars(bars, parse_interval("3d"), sessions)
    paged = resample_bars(page, parse_interval("3d"), sessions)

    # Every group the page starts inside or after has the same label as in the full result.
    assert set(paged["ts"]) <= set(full["ts"])
    assert_bars_equal(paged.iloc[1:], full.loc[full["ts"] > paged["ts"].iloc[0]])


def test_resample_multi_day_groups_restart_each_year():
    sessions = XNYS.schedule(dt.date(2024, 1, 1), dt.date(2025, 1, 10))
    bars = make_bars(session_minutes(sessions.loc["2024-12-20":]))

    weekly = resample_bars(bars, parse_interval("5d"), sessions)

    first_2025 = sessions.loc["2025"].iloc[0]
    assert first_2025["open"] in set(weekly["ts"])
    # 2024 has 252 sessions: the last group (sessions 251-252) is short.
    last_2024 = sessions.loc["2024"]
    assert len(last_2024) == 252
    assert last_2024["open"].iloc[250] in set(weekly["ts"])


def test_resample_multi_day_all_sessions_days_without_session_join_next_group():
    sessions = XNYS.schedule(dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    # New Year's Day (closed), Saturday 2024-01-06, and the Friday session 2024-01-05.
    ts = pd.DatetimeIndex([utc("2024-01-01 15:00"), utc("2024-01-05 15:00"), utc("2024-01-06 15:00")])
    bars = make_bars(ts)

    two_day = resample_bars(bars, parse_interval("2d"), sessions, session="all", tz=XNYS.tz)
    daily = resample_bars(bars, parse_interval("1d"), sessions, session="all", tz=XNYS.tz)

    # Groups of 2 sessions from 2024-01-02: (Jan 2, 3), (Jan 4, 5), (Jan 8, 9), ...
    assert list(two_day["ts"]) == [utc("2024-01-02 14:30"), utc("2024-01-04 14:30"), utc("2024-01-08 14:30")]
    assert list(two_day["volume"]) == list(bars["volume"])
    # Daily bars keep a day without a session on its own, labelled at local midnight.
    assert list(daily["ts"]) == [utc("2024-01-01 05:00"), utc("2024-01-05 14:30"), utc("2024-01-06 05:00")]


def test_resample_vwap_is_volume_weighted_and_falls_back_to_close():
    sessions = XNYS.schedule(dt.date(2024, 11, 27), dt.date(2024, 11, 27))
    ts = pd.DatetimeIndex([utc("2024-11-27 14:30"), utc("2024-11-27 14:31"), utc("2024-11-27 14:35")])
    bars = pd.DataFrame(
        {
            "ts": ts,
            "open": [10.0, 11.0, 12.0],
            "high": [11.0, 12.0, 12.0],
            "low": [9.0, 10.0, 12.0],
            "close": [10.5, 11.5, 12.0],
            "volume": [100.0, 300.0, 0.0],
            "trade_count": [5.0, np.nan, np.nan],
            "vwap": [10.0, np.nan, np.nan],
        }
    )

    five = resample_bars(bars, parse_interval("5m"), sessions)

    assert five["vwap"].iloc[0] == pytest.approx((10.0 * 100 + 11.5 * 300) / 400)
    assert five["trade_count"].iloc[0] == 5.0
    assert np.isnan(five["trade_count"].iloc[1])  # every count unknown
    assert np.isnan(five["vwap"].iloc[1])  # no volume
    assert list(five["high"]) == [12.0, 12.0]
    assert list(five["low"]) == [9.0, 12.0]


def test_resample_unsorted_input_gives_sorted_result():
    sessions = XNYS.schedule(dt.date(2024, 11, 26), dt.date(2024, 11, 27))
    bars = make_bars(session_minutes(sessions))
    shuffled = bars.sample(frac=1.0, random_state=3)

    assert_bars_equal(
        resample_bars(shuffled, parse_interval("15m"), sessions),
        resample_bars(bars, parse_interval("15m"), sessions),
    )


def test_resample_empty_and_out_of_session_input_give_empty_bar_frame():
    sessions = XNYS.schedule(dt.date(2024, 11, 27), dt.date(2024, 11, 27))
    weekend = make_bars(minute_range(utc("2024-11-30 15:00"), utc("2024-11-30 16:00")))

    for result in (
        resample_bars(empty_bars(), parse_interval("5m"), sessions),
        resample_bars(weekend, parse_interval("5m"), sessions),
        resample_bars(weekend, parse_interval("1d"), sessions),
    ):
        assert result.empty
        assert list(result.columns) == BAR_COLUMNS
        assert dict(result.dtypes) == dict(empty_bars().dtypes)


def test_resample_accepts_interval_text_and_rejects_bad_options():
    sessions = XNYS.schedule(dt.date(2024, 11, 27), dt.date(2024, 11, 27))
    bars = make_bars(session_minutes(sessions))

    assert len(resample_bars(bars, "5m", sessions)) == 78
    with pytest.raises(ValueError, match="label"):
        resample_bars(bars, "5m", sessions, label="middle")
    with pytest.raises(ValueError, match="session"):
        resample_bars(bars, "5m", sessions, session="extended")
    naive = bars.assign(ts=bars["ts"].dt.tz_localize(None))
    with pytest.raises(ValueError, match="timezone-aware"):
        resample_bars(naive, "5m", sessions)
    missing_ts = bars.copy()
    missing_ts.loc[10, "ts"] = pd.NaT
    with pytest.raises(ValueError, match="NaT"):
        resample_bars(missing_ts, "5m", sessions, session="all")


def test_filter_regular_keeps_only_bars_inside_sessions():
    sessions = XNYS.schedule(dt.date(2024, 11, 29), dt.date(2024, 11, 29))
    bars = make_bars(minute_range(utc("2024-11-29 14:00"), utc("2024-11-29 18:30")))

    kept = filter_regular(bars, sessions)

    assert kept["ts"].iloc[0] == utc("2024-11-29 14:30")
    assert kept["ts"].iloc[-1] == utc("2024-11-29 17:59")
    assert len(kept) == 210
    assert isinstance(kept.index, pd.RangeIndex)


# ------------------------------------------------------------------- properties

WINDOWS = [
    # (calendar, first local date, days): half-day + Thanksgiving, both DST switches, a year end, crypto.
    (XNYS, dt.date(2024, 11, 22), 12),
    (XNYS, dt.date(2024, 3, 7), 5),
    (XNYS, dt.date(2024, 11, 1), 4),
    (XNYS, dt.date(2024, 12, 23), 14),
    (CRYPTO, dt.date(2024, 12, 30), 4),
]


@st.composite
def market_bars(draw):
    """Return (bars, sessions, tz): 1m bars on a random subset of minutes of a calendar window."""
    calendar, first_day, days = draw(st.sampled_from(WINDOWS))
    density = draw(st.sampled_from([0.01, 0.05, 0.3, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    regular_only = draw(st.booleans())
    sessions = calendar.schedule(dt.date(first_day.year, 1, 1), first_day + dt.timedelta(days=days + 7))
    start = pd.Timestamp(first_day).tz_localize(calendar.tz).tz_convert("UTC")
    end = pd.Timestamp(first_day + dt.timedelta(days=days)).tz_localize(calendar.tz).tz_convert("UTC")
    candidates = minute_range(start, end)
    if regular_only:
        candidates = filter_regular(pd.DataFrame({"ts": candidates}), sessions)["ts"]
    rng = np.random.default_rng(seed)
    chosen = pd.DatetimeIndex(candidates[rng.random(len(candidates)) < density])
    unknown_share = draw(st.sampled_from([0.0, 0.3, 1.0]))
    return make_bars(chosen, seed=seed, unknown_share=unknown_share), sessions, calendar.tz


INTRADAY = ["1m", "2m", "5m", "7m", "15m", "1h", "4h"]
EVERY_INTERVAL = [*INTRADAY, "1d", "2d", "5d"]
NESTED = [("5m", "15m"), ("3m", "1h"), ("1h", "4h"), ("15m", "1d"), ("1h", "2d"), ("1d", "5d"), ("30s", "2m")]
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(market_bars(), st.sampled_from(NESTED), st.sampled_from(["regular", "all"]))
def test_resample_twice_equals_resample_once(data, pair, mode):
    bars, sessions, tz = data
    middle, target = (parse_interval(text) for text in pair)

    once = resample_bars(bars, target, sessions, session=mode, tz=tz)
    twice = resample_bars(
        resample_bars(bars, middle, sessions, session=mode, tz=tz), target, sessions, session=mode, tz=tz
    )

    assert_bars_equal(twice, once)


@PROPERTY_SETTINGS
@given(market_bars(), st.sampled_from(["regular", "all"]))
def test_resample_1m_5m_15m_equals_1m_15m(data, mode):
    bars, sessions, tz = data
    options = {"session": mode, "tz": tz}

    via_5m = resample_bars(resample_bars(bars, "5m", sessions, **options), "15m", sessions, **options)

    assert_bars_equal(via_5m, resample_bars(bars, "15m", sessions, **options))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    market_bars().filter(lambda data: len(data[0]) <= 1_500),
    st.sampled_from(EVERY_INTERVAL),
    st.sampled_from(["regular", "all"]),
    st.sampled_from(["left", "right"]),
)
def test_resample_matches_per_bar_reference(data, text, mode, label):
    bars, sessions, tz = data
    interval = parse_interval(text)

    actual = resample_bars(bars, interval, sessions, session=mode, tz=tz, label=label)

    assert_bars_equal(actual, reference_resample(bars, interval, sessions, tz, mode, label))


@PROPERTY_SETTINGS
@given(market_bars(), st.sampled_from(EVERY_INTERVAL), st.sampled_from(["regular", "all"]))
def test_resample_output_keeps_ohlc_invariants_and_conserves_volume(data, text, mode):
    bars, sessions, tz = data

    out = resample_bars(bars, text, sessions, session=mode, tz=tz)

    assert validate_bars(out) == []
    assert (out["high"] >= out[["open", "close", "low"]].max(axis=1)).all()
    assert (out["low"] <= out[["open", "close"]].min(axis=1)).all()
    assert out["ts"].is_monotonic_increasing and out["ts"].is_unique
    kept = bars if mode == "all" else filter_regular(bars, sessions)
    assert out["volume"].sum() == kept["volume"].sum()
    assert out["trade_count"].sum() == kept["trade_count"].sum()
    assert len(out) <= len(kept)


@PROPERTY_SETTINGS
@given(market_bars(), st.sampled_from(INTRADAY), st.sampled_from(["regular", "all"]))
def test_resample_bars_never_span_sessions(data, text, mode):
    bars, sessions, tz = data
    interval = parse_interval(text)

    left = ns(resample_bars(bars, interval, sessions, session=mode, tz=tz)["ts"])
    right = ns(resample_bars(bars, interval, sessions, session=mode, tz=tz, label="right")["ts"])

    opens, closes = ns(sessions["open"]), ns(sessions["close"])
    edges = np.sort(np.concatenate([opens, closes]))
    assert (right > left).all()
    assert (right - left <= interval.seconds * 10**9).all()
    # No session open or close falls strictly inside a bar.
    assert (np.searchsorted(edges, left, side="right") == np.searchsorted(edges, right, side="left")).all()
    if mode == "regular":
        session_of_bar = np.searchsorted(opens, left, side="right") - 1
        assert (session_of_bar >= 0).all()
        assert (right <= closes[session_of_bar]).all()


@PROPERTY_SETTINGS
@given(market_bars(), st.sampled_from(INTRADAY))
def test_resample_right_label_is_left_label_shifted_to_bin_end(data, text):
    bars, sessions, _ = data
    interval = parse_interval(text)

    left = resample_bars(bars, interval, sessions)
    right = resample_bars(bars, interval, sessions, label="right")

    session_of_bar = np.searchsorted(ns(sessions["open"]), ns(left["ts"]), side="right") - 1
    expected = np.minimum(ns(left["ts"]) + interval.seconds * 10**9, ns(sessions["close"])[session_of_bar])
    np.testing.assert_array_equal(ns(right["ts"]), expected)
    pd.testing.assert_frame_equal(left.drop(columns="ts"), right.drop(columns="ts"))


def test_inside_sessions_is_regular_hours_half_open_on_a_half_day():
    from marketdata.core.bars import inside_sessions

    start, end = dt.date(2024, 11, 29), dt.date(2024, 12, 2)
    edges = XNYS.session_edges(start, end)
    ts = minute_range(utc("2024-11-29 14:00"), utc("2024-12-02 22:00"))
    inside = inside_sessions(ts.asi8, edges)
    kept = ts[inside]
    # Black Friday closes at 13:00 New York (18:00Z); Monday runs 14:30Z to 21:00Z.
    assert kept[0] == utc("2024-11-29 14:30") and utc("2024-11-29 17:59") in kept
    assert utc("2024-11-29 18:00") not in kept and utc("2024-12-02 21:00") not in kept
    assert len(kept) == 210 + 390
    assert (filter_regular(make_bars(ts), XNYS.schedule(start, end))["ts"] == kept).all()
