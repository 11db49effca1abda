"""Analytics report core: hand-checkable series for every section, and properties of drawdowns."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtests.engine.metrics import drawdowns as backtest_drawdowns
from marketdata.core.calendar import get_calendar
from marketdata.core.intervals import parse_interval
from marketdata.core.report import ReportError, ReportParams, build_report, infer_interval_seconds, report_key

CRYPTO = get_calendar("24/7")
DAILY = parse_interval("1d")


def daily_bars(
    closes: list[float],
    *,
    highs: list[float] | None = None,
    lows: list[float] | None = None,
    opens: list[float] | None = None,
    start: str = "2024-01-01",
) -> pd.DataFrame:
    """Daily bars at UTC midnight (one 24/7 session each); open = previous close unless given."""
    close = np.asarray(closes, dtype=float)
    open_ = np.asarray(opens, dtype=float) if opens is not None else np.concatenate(([close[0]], close[:-1]))
    high = np.asarray(highs, dtype=float) if highs is not None else np.maximum(open_, close)
    low = np.asarray(lows, dtype=float) if lows is not None else np.minimum(open_, close)
    return pd.DataFrame(
        {
            "ts": pd.date_range(start, periods=len(close), freq="D", tz="UTC"),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": np.full(len(close), 1000.0),
        }
    )


def report(bars: pd.DataFrame, periods_per_year: float = 365.0, **knobs) -> dict:
    params = ReportParams.from_text(indicators=knobs.pop("indicators", None), **knobs)
    return build_report(bars, params, calendar=CRYPTO, interval=DAILY, periods_per_year=periods_per_year)


# ------------------------------------------------------------------- drawdowns


def test_drawdowns_report_peak_trough_recovery_and_the_open_one():
    bars = daily_bars([100, 110, 99, 88, 121, 110])
    drawdowns = report(bars)["drawdowns"]
    deepest, open_one = drawdowns["top"]
    assert drawdowns["max"] == pytest.approx(0.2) and drawdowns["count"] == 2
    assert deepest == {
        "depth": pytest.approx(0.2),
        "peak_at": "2024-01-02T00:00:00Z",
        "peak": 110.0,
        "trough_at": "2024-01-04T00:00:00Z",
        "trough": 88.0,
        "recovered_at": "2024-01-05T00:00:00Z",
        "bars_to_trough": 2,
        "bars_to_recovery": 3,
    }
    assert open_one["depth"] == pytest.approx(1 / 11) and open_one["peak_at"] == "2024-01-05T00:00:00Z"
    assert open_one["recovered_at"] is None and open_one["bars_to_recovery"] is None
    assert drawdowns["current"] == pytest.approx(1 / 11)


def test_drawdowns_top_keeps_the_deepest_first():
    bars = daily_bars([100, 95, 100, 80, 100, 90, 100])
    drawdowns = report(bars, drawdowns_top=2)["drawdowns"]
    assert [round(d["depth"], 6) for d in drawdowns["top"]] == [0.2, 0.1]
    assert drawdowns["count"] == 3


def test_the_peak_is_the_last_bar_at_the_high_before_the_fall():
    drawdown = report(daily_bars([100, 110, 110, 90, 111]))["drawdowns"]["top"][0]
    assert (drawdown["peak_at"], drawdown["bars_to_trough"]) == ("2024-01-03T00:00:00Z", 1)


closes = st.lists(st.floats(min_value=0.01, max_value=1e6, allow_nan=False), min_size=1, max_size=200)


@settings(max_examples=200, deadline=None)
@given(closes)
def test_max_drawdown_is_a_fraction_and_matches_the_backtest_metric(values):
    result = report(daily_bars(values), indicators="sma:2")["drawdowns"]
    assert 0.0 <= result["max"] < 1.0
    assert result["max"] == pytest.approx(backtest_drawdowns(np.asarray(values), values[0])[0], abs=1e-12)
    assert all(0.0 < d["depth"] < 1.0 for d in result["top"])


@settings(max_examples=100, deadline=None)
@given(closes, st.floats(min_value=1e-3, max_value=1e3))
def test_scaling_prices_changes_no_fraction(values, scale):
    plain = report(daily_bars(values), indicators="rsi:14")
    scaled = report(daily_bars([value * scale for value in values]), indicators="rsi:14")
    assert scaled["drawdowns"]["max"] == pytest.approx(plain["drawdowns"]["max"], abs=1e-9)
    assert [d["peak_at"] for d in scaled["drawdowns"]["top"]] == [d["peak_at"] for d in plain["drawdowns"]["top"]]
    if plain["returns"]["total"] is not None:
        assert scaled["returns"]["total"] == pytest.approx(plain["returns"]["total"], rel=1e-9, abs=1e-12)
    if plain["volatility"]["per_bar"] is not None:
        assert scaled["volatility"]["per_bar"] == pytest.approx(plain["volatility"]["per_bar"], rel=1e-6, abs=1e-12)


# ------------------------------------------------------------------ crosses


def test_golden_then_death_cross_of_sma_2_and_3():
    bars = daily_bars([10, 9, 8, 7, 8, 10, 12, 10, 8, 6])
    patterns = report(bars, cross_fast=2, cross_slow=3)["patterns"]
    assert patterns["golden_cross"]["count"] == 1
    golden = patterns["golden_cross"]["events"][0]
    # Bar 5: SMA2 = (8 + 10) / 2 = 9 rises above SMA3 = (7 + 8 + 10) / 3 = 8.33 (it was below at bar 4).
    assert golden == {"at": "2024-01-06T00:00:00Z", "fast": 9.0, "slow": pytest.approx(25 / 3), "close": 10.0}
    # Bar 8: SMA2 = 9 falls below SMA3 = 10.
    assert [e["at"] for e in patterns["death_cross"]["events"]] == ["2024-01-09T00:00:00Z"]


def test_a_touch_without_crossing_is_no_cross():
    # With SMA1 (the close) against SMA2 the sign is the sign of each change; 0 keeps the previous sign.
    bars = daily_bars([10, 9, 9, 10, 10, 11, 10])
    patterns = report(bars, cross_fast=1, cross_slow=2)["patterns"]
    assert [e["at"] for e in patterns["golden_cross"]["events"]] == ["2024-01-04T00:00:00Z"]
    assert [e["at"] for e in patterns["death_cross"]["events"]] == ["2024-01-07T00:00:00Z"]


def test_max_events_keeps_the_latest_and_counts_all():
    bars = daily_bars([10, 11, 10, 11, 10, 11, 10, 11])
    patterns = report(bars, cross_fast=1, cross_slow=2, max_events=2)["patterns"]
    assert patterns["golden_cross"]["count"] == 3
    assert [e["at"] for e in patterns["golden_cross"]["events"]] == ["2024-01-06T00:00:00Z", "2024-01-08T00:00:00Z"]


# ------------------------------------------------------------- other patterns


def test_new_highs_and_lows_against_the_previous_n_bars():
    highs = [1, 2, 3, 4, 3, 5, 4]
    lows = [0.5, 1.5, 2.5, 3.5, 0.4, 4.5, 3.5]
    bars = daily_bars([h - 0.1 for h in highs], highs=highs, lows=lows, opens=[h - 0.2 for h in highs])
    patterns = report(bars, breakout_bars=3)["patterns"]
    assert [e["at"][:10] for e in patterns["new_high"]["events"]] == ["2024-01-04", "2024-01-06"]
    assert patterns["new_high"]["events"][1] == {"at": "2024-01-06T00:00:00Z", "price": 5.0, "previous": 4.0}
    assert [e["at"][:10] for e in patterns["new_low"]["events"]] == ["2024-01-05"]
    assert patterns["last_bar"]["new_high"] is False


def test_inside_and_outside_bars_are_strict():
    highs = [10, 9, 11, 11, 10.5]
    lows = [5, 6, 4, 5, 5]
    bars = daily_bars([7, 7, 7, 7, 7], highs=highs, lows=lows, opens=[7] * 5)
    patterns = report(bars)["patterns"]
    # Bar 1 inside bar 0, bar 2 outside bar 1; bar 3 equal high (neither), bar 4 equal low (neither).
    assert [e["at"][:10] for e in patterns["inside_bar"]["events"]] == ["2024-01-02"]
    assert [e["at"][:10] for e in patterns["outside_bar"]["events"]] == ["2024-01-03"]
    assert patterns["last_bar"]["inside_bar"] is False


def minute_bars(rows: list[tuple[str, float, float, float, float]]) -> pd.DataFrame:
    ts, opens, highs, lows, closes = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "ts": pd.DatetimeIndex(ts, tz="UTC"),
            "open": opens,
            "high": highs,
            "low": lows,
            "close": closes,
            "volume": [100.0] * len(rows),
        }  # fmt: skip
    )


def test_gaps_between_sessions_with_their_fill():
    bars = minute_bars(
        [
            ("2024-11-25T20:58", 100, 101, 99, 100),
            ("2024-11-25T20:59", 100, 100.5, 99.5, 100),  # last bar of Monday: high 100.5
            ("2024-11-26T14:30", 102, 103, 101.5, 102),  # gap up 2% over the close
            ("2024-11-26T14:31", 102, 102, 99.8, 100),  # trades back to 100: filled
            ("2024-11-26T20:59", 100, 100, 99, 99),
            ("2024-11-27T14:30", 97, 98, 96, 97),  # gap down, never back to 99
        ]
    )
    params = ReportParams.from_text(indicators="sma:2")
    result = build_report(bars, params, calendar=get_calendar("XNYS"), interval=parse_interval("1m"),
                          periods_per_year=252 * 390)  # fmt: skip
    patterns = result["patterns"]
    assert patterns["gap_up"]["events"] == [
        {
            "at": "2024-11-26T14:30:00Z",
            "open": 102.0,
            "previous_close": 100.0,
            "size": pytest.approx(0.02),
            "filled_at": "2024-11-26T14:31:00Z",
        }  # fmt: skip
    ]
    (down,) = patterns["gap_down"]["events"]
    assert (down["at"], down["filled_at"], down["size"]) == ("2024-11-27T14:30:00Z", None, pytest.approx(-2 / 99))
    assert patterns["last_bar"]["gap_down"] is True
    assert result["period"]["sessions"] == 3
    bigger = build_report(bars, ReportParams.from_text(indicators="sma:2", gap_min=0.0203),
                          calendar=get_calendar("XNYS"), interval=parse_interval("1m"), periods_per_year=98_280)  # fmt: skip
    assert (bigger["patterns"]["gap_up"]["count"], bigger["patterns"]["gap_down"]["count"]) == (0, 0)


# -------------------------------------------------------- returns and trend


def test_flat_series_has_no_trend_no_volatility_no_drawdown():
    result = report(daily_bars([100.0] * 30))
    assert result["returns"]["total"] == 0.0
    trend = result["trend"]
    assert (trend["slope_per_bar"], trend["t_stat"], trend["r_squared"], trend["direction"]) == (0.0, None, None,
                                                                                               "sideways")  # fmt: skip
    assert (result["volatility"]["per_bar"], result["volatility"]["annualized"]) == (0.0, 0.0)
    assert result["drawdowns"] == {"max": 0.0, "current": 0.0, "count": 0, "top": []}
    values = result["indicators"]["values"]
    assert values["rsi_14"] == {"value": 50.0, "state": "neutral"}
    assert values["bbands_20_2"]["percent_b"] is None and values["bbands_20_2"]["state"] == "inside"
    assert values["sma_20"]["state"] == "at"
    assert all(p["count"] == 0 for name, p in result["patterns"].items() if name not in ("last_bar", "gap_up",
                                                                                          "gap_down"))  # fmt: skip


def test_steady_growth_is_an_up_trend_and_steady_decline_a_down_trend():
    noise = [0.0, 0.3, -0.2, 0.1, -0.3, 0.2] * 10
    up = report(daily_bars([100 * 1.01**i + n for i, n in enumerate(noise)]))["trend"]
    assert up["direction"] == "up" and up["t_stat"] > 2 and up["r_squared"] > 0.9
    assert up["slope_per_bar"] == pytest.approx(math.log(1.01), rel=0.05)
    assert up["slope_annualized"] == pytest.approx(up["slope_per_bar"] * 365)
    down = report(daily_bars([100 * 0.99**i + n for i, n in enumerate(noise)]))["trend"]
    assert down["direction"] == "down" and down["t_stat"] < -2


def test_a_choppy_series_is_sideways_below_the_r2_threshold():
    bars = daily_bars([100, 104, 99, 103, 98, 102, 97, 101, 96, 100, 95, 99] * 3)
    trend = report(bars)["trend"]
    assert trend["r_squared"] < 0.5 and trend["direction"] == "sideways"
    assert report(bars, trend_min_r2=0.0, trend_min_t=0.0)["trend"]["direction"] in ("up", "down")


def test_returns_are_annualized_by_calendar_time_only_over_a_year_or_more():
    bars = daily_bars([100, 101, 102, 103, 121])
    assert report(bars)["returns"]["annualized"] is None  # four days
    # The same five closes spread over two years (730 days): annualized over calendar time,
    # whatever the number of bars a year says.
    spread = bars.assign(ts=pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(5) * 182.5, unit="D"))
    for periods_per_year in (2, 252 * 390):
        returns = report(spread, periods_per_year=periods_per_year)["returns"]
        assert returns["total"] == pytest.approx(0.21)
        assert returns["annualized"] == pytest.approx(1.21 ** (365.25 / 730) - 1)


def test_volatility_is_the_std_of_log_returns_scaled_by_the_bars_a_year():
    closes = [100, 102, 101, 105, 103]
    volatility = report(daily_bars(closes), periods_per_year=252)["volatility"]
    expected = np.std(np.diff(np.log(closes)), ddof=1)
    assert volatility["per_bar"] == pytest.approx(expected)
    assert volatility["annualized"] == pytest.approx(expected * math.sqrt(252))
    assert volatility["range"]["high"] == 105 and volatility["range"]["high_at"] == "2024-01-04T00:00:00Z"


# ------------------------------------------------------------- indicators


def test_indicator_states_at_the_last_bar():
    rising = report(daily_bars([float(100 + i) for i in range(40)]), indicators="rsi:14,sma:5,macd:3:6:2,bbands:5:1")
    values = rising["indicators"]["values"]
    assert values["rsi_14"] == {"value": 100.0, "state": "overbought"}
    assert values["sma_5"] == {"value": 137.0, "distance": pytest.approx(139 / 137 - 1), "state": "above"}
    assert values["macd_3_6_2"]["state"] == "above_signal" or values["macd_3_6_2"]["histogram"] == pytest.approx(0)
    # Closes 135..139 have a population std of sqrt(2): the last close 139 is above 137 + sqrt(2).
    assert values["bbands_5_1"]["state"] == "above_upper"
    assert values["bbands_5_1"]["percent_b"] == pytest.approx((139 - (137 - 2**0.5)) / (2 * 2**0.5))
    falling = report(daily_bars([float(100 - i) for i in range(40)]), indicators="rsi:14")
    assert falling["indicators"]["values"]["rsi_14"]["state"] == "oversold"


def test_too_short_series_gives_nulls_not_errors():
    one = report(daily_bars([100.0]))
    assert one["period"]["bars"] == 1
    assert one["returns"]["total"] is None and one["trend"]["direction"] is None
    assert one["volatility"]["per_bar"] is None
    assert one["indicators"]["values"]["sma_20"] == {"value": None, "distance": None, "state": None}
    assert one["indicators"]["values"]["rsi_14"] == {"value": None, "state": None}
    assert one["drawdowns"]["max"] == 0.0
    two = report(daily_bars([100.0, 101.0]))
    assert two["returns"]["total"] == pytest.approx(0.01) and two["trend"]["t_stat"] is None
    assert two["trend"]["sma_slow"] == {"length": 200, "value": None, "state": None}


def test_no_bars_is_an_error_naming_bars():
    with pytest.raises(ReportError) as raised:
        report(daily_bars([1.0]).iloc[:0])
    assert raised.value.field == "bars"


@pytest.mark.parametrize(
    ("knobs", "field"),
    [
        ({"indicators": "wobble:3"}, "indicators"),
        ({"indicators": "sma"}, "indicators"),
        ({"cross_fast": 50, "cross_slow": 50}, "cross_fast"),
        ({"gap_min": -1.0}, "gap_min"),
        ({"max_events": -1}, "max_events"),
    ],
)
def test_bad_parameters_name_their_field(knobs, field):
    with pytest.raises(ReportError) as raised:
        ReportParams.from_text(**knobs)
    assert raised.value.field == field


def test_the_report_is_plain_json_and_deterministic():
    bars = daily_bars([100, 103, 98, 110, 90, 95, 120, 80] * 5)
    first = report(bars, indicators="sma:3,ema:3,rsi:3,macd:2:4:2,bbands:3:2,atr:3,vwap")
    text = json.dumps(first, allow_nan=False)
    assert json.loads(text) == report(bars, indicators="sma:3,ema:3,rsi:3,macd:2:4:2,bbands:3:2,atr:3,vwap")


# --------------------------------------------------------------------- key


def key_of(bars: pd.DataFrame, indicators: str = "sma:20,rsi:14", **knobs) -> str:
    params = ReportParams.from_text(indicators=indicators, **knobs)
    as_of = bars["ts"].iloc[-1] + pd.Timedelta(days=1)
    return report_key(bars, params, calendar="24/7", interval=DAILY, periods_per_year=365.0, as_of=as_of)


def test_report_key_follows_data_and_parameters_only():
    bars = daily_bars([100, 101, 102])
    key = key_of(bars)
    assert len(key) == 64
    assert key_of(bars, "RSI:14, sma:20,sma:20") == key  # same indicators, another spelling
    assert key_of(bars.assign(trade_count=7)) == key  # a column the report does not read
    assert key_of(bars, breakout_bars=10) != key
    changed = bars.copy()
    changed.loc[1, "close"] = 101.5
    assert key_of(changed) != key


def test_interval_is_the_most_common_spacing():
    ts = pd.DatetimeIndex(["2024-01-01T14:30", "2024-01-01T14:35", "2024-01-01T14:40", "2024-01-02T14:30"], tz="UTC")
    ns = ts.as_unit("ns").asi8
    assert infer_interval_seconds(ns) == 300
    assert infer_interval_seconds(ns[:1]) is None
    assert infer_interval_seconds(np.array([0, 500_000_000])) is None  # half a second is no interval


prices = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False) | st.sampled_from([0.0, 1e-300, 1e300])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(prices, prices, prices, st.floats(min_value=0, max_value=1e12)), min_size=1, max_size=60))
def test_any_valid_bars_give_strict_json(rows):
    opens, closes, spreads, volumes = (list(column) for column in zip(*rows, strict=True))
    highs = [max(o, c) + abs(s) for o, c, s in zip(opens, closes, spreads, strict=True)]
    lows = [min(o, c) - abs(s) for o, c, s in zip(opens, closes, spreads, strict=True)]
    bars = daily_bars(closes, highs=highs, lows=lows, opens=opens).assign(volume=volumes)
    result = report(bars, indicators="sma:2,ema:2,rsi:2,macd:2:3:2,bbands:2:2,atr:2,vwap", cross_fast=1, cross_slow=2)
    assert json.loads(json.dumps(result, allow_nan=False)) == result


@pytest.mark.parametrize(("max_events", "listed"), [(20, 11), (11, 11), (5, 5), (0, 0)])
def test_events_list_the_latest_max_events_of_count(max_events, listed):
    bars = daily_bars([float(close) for close in range(1, 13)])  # every bar after the first a new high
    new_highs = report(bars, breakout_bars=1, max_events=max_events)["patterns"]["new_high"]
    assert new_highs["count"] == 11 and len(new_highs["events"]) == listed
    if listed:
        assert new_highs["events"][-1]["at"] == "2024-01-12T00:00:00Z"


def test_many_drawdowns_list_only_the_deepest_and_match_a_loop_over_runs():
    rng = np.random.default_rng(7)
    closes = np.round(100 + np.cumsum(rng.normal(0, 1, 3000)), 0)
    bars = daily_bars(closes.tolist())
    drawdowns = report(bars, drawdowns_top=3)["drawdowns"]
    peak, runs, start = np.maximum.accumulate(closes), [], None
    for bar, below in enumerate(np.append(closes < peak, False)):
        if below and start is None:
            start = bar
        elif not below and start is not None:
            trough = start + int(np.argmin(closes[start:bar]))
            runs.append((1 - closes[trough] / closes[start - 1], start - 1, trough))
            start = None
    deepest = sorted(runs, key=lambda run: -run[0])[:3]  # stable: the earliest first on ties
    assert drawdowns["count"] == len(runs)
    assert [entry["depth"] for entry in drawdowns["top"]] == pytest.approx([run[0] for run in deepest])
    assert [entry["trough"] for entry in drawdowns["top"]] == [closes[run[2]] for run in deepest]
