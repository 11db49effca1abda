import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from backtests.engine import (
    BacktestSettings,
    Bar,
    EventBacktest,
    bar_events,
    run_event,
    run_vectorized,
    to_bar,
)
from tests.backtests.engine.support import random_walk

PARAMS = {"fast": 5, "slow": 20}


@pytest.fixture(scope="module")
def bars():
    return random_walk(300, seed=11, volatility=0.02)


def test_result_hash_is_stable_and_sensitive(bars):
    settings = BacktestSettings(fee=0.001)
    first = run_vectorized(bars, "sma_crossover", PARAMS, settings)
    again = run_vectorized(bars.copy(), "sma_crossover", dict(PARAMS), settings)
    assert len(first.trades) > 3
    assert first.result_hash() == again.result_hash()
    assert len(first.result_hash()) == 64
    assert run_vectorized(bars, "sma_crossover", PARAMS, BacktestSettings(fee=0.002)).result_hash() != (
        first.result_hash()
    )


def test_to_dict_is_json_with_iso_times_and_no_nan(bars):
    settings = BacktestSettings(units=10, loan_amount=500, margin_call_ltv=0.6)
    payload = run_vectorized(bars, "protective_put", {}, settings).to_dict()
    text = json.dumps(payload, allow_nan=False)  # refuses NaN and numpy types
    assert set(payload) == {"metrics", "equity", "trades", "result_hash", "extra"}
    assert payload["equity"][0] == {"t": "2024-01-01T00:00:00Z", "value": 10_000.0}
    assert set(payload["trades"][0]) >= {"entry_time", "entry_price", "exit_time", "exit_price", "size", "pnl"}
    assert payload["trades"][0]["entry_time"] == "2024-01-02T00:00:00Z"
    assert payload["extra"]["ltv"][0]["value"] is None  # NaN before the first fill
    assert "targets" not in payload["extra"]
    assert "NaN" not in text


def test_equity_is_indexed_by_bar_open_time(bars):
    result = run_vectorized(bars, "buy_and_hold", {})
    pd.testing.assert_index_equal(result.equity.index, pd.DatetimeIndex(bars["ts"], name="t"))


def test_bar_events_accept_tuples_dicts_and_bars():
    ts = pd.Timestamp("2024-01-02T14:30:00Z")
    expected = Bar(ts.value, 1.0, 2.0, 0.5, 1.5, 100.0)
    assert to_bar((ts.value, 1, 2, 0.5, 1.5, 100)) == expected
    assert to_bar({"t": "2024-01-02T09:30:00-05:00", "o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 100}) == expected
    assert to_bar({"ts": ts, "open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": 100}) == expected
    assert to_bar(expected) is expected
    with pytest.raises(ValueError, match="no UTC offset"):
        to_bar((dt.datetime(2024, 1, 2, 14, 30), 1, 2, 0.5, 1.5, 100))
    with pytest.raises(ValueError, match="lacks"):
        to_bar({"t": ts, "o": 1})


def test_the_event_engine_refuses_bars_out_of_order(bars):
    engine = EventBacktest("buy_and_hold")
    events = list(bar_events(bars.iloc[:3]))
    engine.on_bar(events[1])
    with pytest.raises(ValueError, match="in order"):
        engine.on_bar(events[0])


def test_the_event_engine_reports_midway_as_if_the_data_ended_there(bars):
    engine = EventBacktest("sma_crossover", PARAMS)
    for event in bar_events(bars.iloc[:150]):
        engine.on_bar(event)
    midway = engine.result()
    prefix = run_vectorized(bars.iloc[:150].reset_index(drop=True), "sma_crossover", PARAMS)
    assert midway.result_hash() == prefix.result_hash()
    full = run_event(bar_events(bars), "sma_crossover", PARAMS)
    np.testing.assert_array_equal(full.equity.to_numpy()[:150], midway.equity.to_numpy())


def test_empty_bars_give_an_empty_run():
    empty = random_walk(3, seed=1).iloc[:0]
    result = run_vectorized(empty, "sma_crossover", PARAMS)
    assert result.trades == [] and len(result.equity) == 0
    assert result.metrics["total_return"] == 0.0 and result.metrics["trades"] == 0
    assert run_event([], "sma_crossover", PARAMS).result_hash() == result.result_hash()


def test_bar_times_in_any_unit_or_zone_give_the_same_run(bars):
    settings = BacktestSettings(fee=0.001)
    expected = run_vectorized(bars, "sma_crossover", PARAMS, settings).result_hash()
    for times in (bars["ts"].dt.as_unit("us"), bars["ts"].dt.tz_convert("America/New_York")):
        assert run_vectorized(bars.assign(ts=times), "sma_crossover", PARAMS, settings).result_hash() == expected
