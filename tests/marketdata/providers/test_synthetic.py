"""Synthetic demo data: deterministic, inside sessions, internally consistent."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from marketdata.providers.synthetic import synthetic_bars, synthetic_quotes, synthetic_trades

COLUMNS = ["ts", "open", "high", "low", "close", "volume", "trade_count", "vwap"]
UTC = dt.UTC


def assert_ohlc_consistent(frame: pd.DataFrame) -> None:
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    assert (frame["low"] > 0).all()
    assert (frame["volume"] > 0).all()
    assert (frame["trade_count"] >= 1).all()
    assert (frame["trade_count"] <= frame["volume"]).all()
    assert frame["vwap"].between(frame["low"], frame["high"]).all()


def test_bars_have_the_normalized_schema():
    frame = synthetic_bars("AAPL", "XNYS", dt.date(2024, 1, 2), dt.date(2024, 1, 2))

    assert list(frame.columns) == COLUMNS
    assert frame.dtypes.astype(str).tolist() == ["datetime64[ns, UTC]"] + ["float64"] * 7
    assert isinstance(frame.index, pd.RangeIndex)
    assert frame["ts"].is_monotonic_increasing and frame["ts"].is_unique


def test_same_call_twice_gives_identical_bars():
    first = synthetic_bars("AAPL", "XNYS", dt.date(2024, 3, 1), dt.date(2024, 3, 8))
    second = synthetic_bars("AAPL", "XNYS", dt.date(2024, 3, 1), dt.date(2024, 3, 8))

    pd.testing.assert_frame_equal(first, second)


def test_sub_range_equals_the_slice_of_a_bigger_range():
    quarter = synthetic_bars("AAPL", "XNYS", dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    february = synthetic_bars("AAPL", "XNYS", dt.date(2024, 2, 1), dt.date(2024, 2, 29))

    in_february = quarter["ts"].dt.tz_convert("America/New_York").dt.month == 2
    pd.testing.assert_frame_equal(february, quarter[in_february].reset_index(drop=True))


def test_symbol_and_seed_choose_the_stream():
    aapl = synthetic_bars("AAPL", "XNYS", dt.date(2024, 1, 2), dt.date(2024, 1, 2))
    msft = synthetic_bars("MSFT", "XNYS", dt.date(2024, 1, 2), dt.date(2024, 1, 2))
    seeded = synthetic_bars("AAPL", "XNYS", dt.date(2024, 1, 2), dt.date(2024, 1, 2), seed=7)
    same_seed_other_symbol = synthetic_bars("MSFT", "XNYS", dt.date(2024, 1, 2), dt.date(2024, 1, 2), seed=7)

    assert not np.array_equal(aapl["close"], msft["close"])
    assert not np.array_equal(aapl["close"], seeded["close"])
    pd.testing.assert_frame_equal(seeded, same_seed_other_symbol)


def test_start_price_sets_the_price_level():
    frame = synthetic_bars("BTC/USDT", "24/7", dt.date(2024, 1, 1), dt.date(2024, 1, 1), start_price=40_000.0)

    assert 20_000 < frame["close"].median() < 80_000


def test_xnys_bars_cover_only_regular_session_minutes():
    frame = synthetic_bars("AAPL", "XNYS", dt.date(2024, 11, 25), dt.date(2024, 12, 2))
    local = frame["ts"].dt.tz_convert("America/New_York")
    per_day = frame.groupby(local.dt.date)["ts"].agg(["count", "min", "max"])

    assert [str(day) for day in per_day.index] == ["2024-11-25", "2024-11-26", "2024-11-27", "2024-11-29", "2024-12-02"]
    assert per_day.loc[dt.date(2024, 11, 25), "count"] == 390
    assert per_day.loc[dt.date(2024, 11, 25), "min"] == pd.Timestamp("2024-11-25 14:30", tz="UTC")
    # Black Friday half-day: the session ends at 18:00Z, so the last minute bar opens 17:59Z.
    assert per_day.loc[dt.date(2024, 11, 29), "count"] == 210
    assert per_day.loc[dt.date(2024, 11, 29), "max"] == pd.Timestamp("2024-11-29 17:59", tz="UTC")


def test_holiday_and_weekend_give_no_bars():
    assert synthetic_bars("AAPL", "XNYS", dt.date(2024, 11, 28), dt.date(2024, 11, 28)).empty
    weekend = synthetic_bars("AAPL", "XNYS", dt.date(2024, 11, 30), dt.date(2024, 12, 1))
    assert weekend.empty
    assert list(weekend.columns) == COLUMNS
    assert str(weekend["ts"].dtype) == "datetime64[ns, UTC]"


def test_24_7_calendar_gives_every_minute_of_every_day_continuously():
    frame = synthetic_bars("BTC/USDT", "24/7", dt.date(2024, 3, 9), dt.date(2024, 3, 11))

    assert len(frame) == 3 * 1440
    expected = pd.date_range("2024-03-09", periods=3 * 1440, freq="min", tz="UTC").as_unit("ns")
    assert (frame["ts"].to_numpy() == expected.to_numpy()).all()
    # One continuous path: each bar opens where the previous one closed, across midnights too.
    assert (frame["open"].to_numpy()[1:] == frame["close"].to_numpy()[:-1]).all()


def test_ohlc_invariants_hold_over_a_year():
    assert_ohlc_consistent(synthetic_bars("SPY", "XNYS", dt.date(2024, 1, 1), dt.date(2024, 12, 31)))
    assert_ohlc_consistent(synthetic_bars("ETH/USDT", "24/7", dt.date(2024, 1, 1), dt.date(2024, 1, 31)))


def test_intraday_volume_is_u_shaped():
    frame = synthetic_bars("SPY", "XNYS", dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    minute = frame.groupby(frame.groupby(frame["ts"].dt.date).cumcount())["volume"].mean()

    assert minute.iloc[:30].mean() > 1.5 * minute.iloc[150:240].mean()
    assert minute.iloc[-30:].mean() > 1.5 * minute.iloc[150:240].mean()


def test_coarser_interval_equals_aggregated_minute_bars():
    minutes = synthetic_bars("AAPL", "XNYS", dt.date(2024, 11, 29), dt.date(2024, 11, 29))
    five = synthetic_bars("AAPL", "XNYS", dt.date(2024, 11, 29), dt.date(2024, 11, 29), interval_seconds=300)

    grouped = minutes.groupby(minutes["ts"].dt.floor("5min"))
    assert five["ts"].tolist() == list(grouped.groups)
    assert five["open"].tolist() == grouped["open"].first().tolist()
    assert five["close"].tolist() == grouped["close"].last().tolist()
    assert five["high"].tolist() == grouped["high"].max().tolist()
    assert five["low"].tolist() == grouped["low"].min().tolist()
    assert five["volume"].tolist() == grouped["volume"].sum().tolist()
    assert_ohlc_consistent(five)


def test_daily_interval_gives_one_bar_per_session_at_the_open():
    daily = synthetic_bars("AAPL", "XNYS", dt.date(2024, 11, 25), dt.date(2024, 11, 29), interval_seconds=86_400)

    assert daily["ts"].dt.strftime("%m-%d %H:%M").tolist() == [
        "11-25 14:30",
        "11-26 14:30",
        "11-27 14:30",
        "11-29 14:30",
    ]


def test_interval_below_a_minute_is_refused():
    with pytest.raises(ValueError, match="multiple of 60"):
        synthetic_bars("AAPL", "XNYS", dt.date(2024, 1, 2), dt.date(2024, 1, 2), interval_seconds=30)


# --- trades and quotes ------------------------------------------------------------------

START = dt.datetime(2024, 11, 29, 14, 30, tzinfo=UTC)
END = dt.datetime(2024, 11, 29, 15, 0, tzinfo=UTC)


def containing_bars(ticks: pd.DataFrame) -> pd.DataFrame:
    minutes = synthetic_bars("AAPL", "XNYS", dt.date(2024, 11, 29), dt.date(2024, 11, 29)).set_index("ts")
    return minutes.loc[ticks["ts"].dt.floor("min")]


def test_trades_lie_inside_their_minute_bar_and_add_up_to_it():
    trades = synthetic_trades("AAPL", "XNYS", START, END)
    bars = containing_bars(trades)

    assert list(trades.columns) == ["ts", "price", "size", "side"]
    assert str(trades["ts"].dtype) == "datetime64[ns, UTC]"
    assert trades["ts"].is_monotonic_increasing
    assert trades["ts"].between(START, END, inclusive="left").all()
    assert (trades["price"].to_numpy() >= bars["low"].to_numpy()).all()
    assert (trades["price"].to_numpy() <= bars["high"].to_numpy()).all()
    assert set(trades["side"]) == {"buy", "sell"}
    per_minute = trades.groupby(trades["ts"].dt.floor("min"))
    minutes = bars.groupby(level=0).first()
    assert per_minute.size().tolist() == minutes["trade_count"].tolist()
    assert per_minute["size"].sum().tolist() == minutes["volume"].tolist()
    assert per_minute["price"].first().tolist() == minutes["open"].tolist()
    assert per_minute["price"].last().tolist() == minutes["close"].tolist()


def test_trades_are_deterministic_and_a_sub_range_is_a_slice():
    hour = synthetic_trades("AAPL", "XNYS", START, START + dt.timedelta(hours=1))
    again = synthetic_trades("AAPL", "XNYS", START, START + dt.timedelta(hours=1))
    part_start, part_end = START + dt.timedelta(minutes=10), START + dt.timedelta(minutes=20)
    part = synthetic_trades("AAPL", "XNYS", part_start, part_end)

    pd.testing.assert_frame_equal(hour, again)
    expected = hour[hour["ts"].between(part_start, part_end, inclusive="left")].reset_index(drop=True)
    pd.testing.assert_frame_equal(part, expected)


def test_quotes_keep_bid_below_ask_inside_their_minute_bar():
    quotes = synthetic_quotes("AAPL", "XNYS", START, END)
    bars = containing_bars(quotes)

    assert list(quotes.columns) == ["ts", "bid", "bid_size", "ask", "ask_size"]
    assert quotes["ts"].is_monotonic_increasing
    assert (quotes["bid"] < quotes["ask"]).all()
    assert (quotes["bid"].to_numpy() >= bars["low"].to_numpy()).all()
    assert (quotes["ask"].to_numpy() <= bars["high"].to_numpy()).all()
    assert (quotes[["bid_size", "ask_size"]] > 0).all().all()


def test_ticks_outside_sessions_are_empty():
    thanksgiving = dt.datetime(2024, 11, 28, 14, 30, tzinfo=UTC)

    trades = synthetic_trades("AAPL", "XNYS", thanksgiving, thanksgiving + dt.timedelta(hours=2))
    quotes = synthetic_quotes("AAPL", "XNYS", thanksgiving, thanksgiving + dt.timedelta(hours=2))

    assert trades.empty and quotes.empty
    assert str(trades["ts"].dtype) == "datetime64[ns, UTC]"


def test_naive_range_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        synthetic_trades("AAPL", "XNYS", dt.datetime(2024, 11, 29, 14, 30), END)
