"""Fills at the next open, with fee and slippage, worked by hand on six daily bars."""

import math

import pandas as pd
import pytest

from backtests.engine import BacktestSettings, BarTiming, bar_events, run_event, run_vectorized
from tests.backtests.engine.support import make_bars

# sma(1) vs sma(2) is "close above/below the previous close": long after closes 1 and 2,
# flat after close 3; the long signal at the last close (5) never fills.
CLOSES = [10.0, 11.0, 12.0, 11.0, 10.0, 12.0]
OPENS = [10.0, 10.5, 11.5, 12.5, 10.5, 10.2]
PARAMS = {"fast": 1, "slow": 2}
DAILY = BarTiming(86_400, 365)


def _both(settings, closes=CLOSES, opens=OPENS, strategy="sma_crossover", params=PARAMS):
    bars = make_bars(closes, opens)
    vectorized = run_vectorized(bars, strategy, params, settings, DAILY)
    event = run_event(bar_events(bars), strategy, params, settings, DAILY)
    assert vectorized.result_hash() == event.result_hash()
    return bars, vectorized


def test_fixed_units_fill_at_the_next_open_with_fee_and_slippage():
    settings = BacktestSettings(initial_cash=1000, units=2, fee=0.01, slippage=100)
    bars, result = _both(settings)
    assert result.extra["targets"].tolist() == [0, 1, 1, 0, 0, 1]

    buy = 11.5 * 1.01  # open of bar 2 plus 100 bps
    buy_fee = 0.01 * 2 * buy
    sell = 10.5 * 0.99  # open of bar 4 minus 100 bps
    sell_fee = 0.01 * 2 * sell
    cash_in = 1000 - (2 * buy + buy_fee)
    cash_out = cash_in + 2 * sell - sell_fee
    pnl = 2 * (sell - buy) - buy_fee - sell_fee

    [trade] = result.trades
    assert trade["entry_time"] == bars["ts"][2] and trade["exit_time"] == bars["ts"][4]
    assert trade["entry_price"] == pytest.approx(11.615) and trade["exit_price"] == pytest.approx(10.395)
    assert trade["size"] == 2 and trade["open"] is False
    assert trade["fees"] == pytest.approx(buy_fee + sell_fee)
    assert trade["pnl"] == pytest.approx(pnl) and trade["pnl"] == pytest.approx(-2.8802)
    assert trade["return"] == pytest.approx(pnl / (2 * buy))
    expected = [1000, 1000, cash_in + 2 * 12, cash_in + 2 * 11, cash_out, cash_out]
    assert result.equity.tolist() == pytest.approx(expected, rel=1e-12)
    assert result.metrics["final_equity"] == pytest.approx(997.1198)
    assert result.metrics["fees"] == pytest.approx(buy_fee + sell_fee)
    assert result.metrics["exposure"] == pytest.approx(2 / 6)


def test_all_in_buys_the_whole_units_the_cash_pays_for_fee_included():
    settings = BacktestSettings(initial_cash=100, fee=0.01)
    _, result = _both(settings)
    [trade] = result.trades
    assert math.floor(100 / (11.5 * 1.01)) == 8
    assert trade["size"] == 8
    assert result.metrics["final_equity"] == pytest.approx(100 - 8 * 11.5 * 1.01 + 8 * 10.5 * 0.99)


def test_all_in_skips_an_entry_it_cannot_afford():
    _, result = _both(BacktestSettings(initial_cash=5, fee=0.01))
    assert result.trades == []
    assert result.equity.tolist() == [5.0] * 6


def test_a_trade_open_at_the_end_is_marked_at_the_last_close():
    settings = BacktestSettings(initial_cash=1000, units=3, fee=0.001)
    bars, result = _both(settings, strategy="buy_and_hold", params={})
    [trade] = result.trades
    assert trade["open"] is True
    assert trade["entry_time"] == bars["ts"][1] and trade["entry_price"] == 10.5
    assert trade["exit_time"] == bars["ts"][5] + pd.Timedelta(days=1)  # the last bar's close
    assert trade["exit_price"] == 12.0
    assert trade["pnl"] == pytest.approx(3 * 1.5 - 0.001 * 3 * 10.5)
    assert result.metrics["win_rate"] is None  # no closed trade
    assert result.metrics["trades"] == 1


def test_start_price_rescales_every_price():
    settings = BacktestSettings(initial_cash=10_000, units=1, start_price=100)
    _, plain = _both(BacktestSettings(initial_cash=10_000, units=1))
    _, scaled = _both(settings)
    assert scaled.extra["targets"].tolist() == plain.extra["targets"].tolist()
    assert scaled.trades[0]["entry_price"] == pytest.approx(115.0)
    assert scaled.trades[0]["pnl"] == pytest.approx(10 * plain.trades[0]["pnl"])
