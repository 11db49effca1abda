"""Protective puts rolled at expiry, and loan-to-value, worked by hand on eight daily bars."""

import pandas as pd
import pytest

from backtests.engine import BacktestSettings, BarTiming, bar_events, run_event, run_vectorized
from backtests.engine.black_scholes import put_price
from tests.backtests.engine.support import make_bars

CLOSES = [100, 80, 70, 95, 100, 104, 98, 101]
OPENS = [100, 100, 78, 72, 96, 100, 104, 97]
PARAMS = {"strike_pct": 0.9, "tenor_days": 2, "implied_vol": 0.5, "risk_free_rate": 0.02}
SETTINGS = BacktestSettings(initial_cash=1000, units=1, fee=0.01, loan_amount=60, margin_call_ltv=0.7)
DAILY = BarTiming(86_400, 365)


def _put(spot, strike, days):
    return put_price(spot, strike, days / 365, 0.02, 0.5)


@pytest.fixture(scope="module")
def runs():
    bars = make_bars(CLOSES, OPENS)  # daily bars at 00:00 UTC from 2024-01-01
    vectorized = run_vectorized(bars, "protective_put", PARAMS, SETTINGS, DAILY)
    event = run_event(bar_events(bars), "protective_put", PARAMS, SETTINGS, DAILY)
    return bars, vectorized, event


def test_puts_are_bought_with_the_holding_and_rolled_after_each_expiry(runs):
    bars, result, _ = runs
    puts = result.extra["puts"]
    assert [put["bought_at"] for put in puts] == [bars["ts"][i] for i in (1, 3, 5, 7)]
    assert [put["strike"] for put in puts] == pytest.approx([90.0, 64.8, 90.0, 87.3])
    assert [put["expires_at"] for put in puts] == [bars["ts"][i] + pd.Timedelta(days=2) for i in (1, 3, 5, 7)]
    # Settled at the close of the first bar closing at or after expiry; the last one is still live.
    assert [put["settled_at"] for put in puts] == [bars["ts"][i] + pd.Timedelta(days=1) for i in (2, 4, 6)] + [None]
    assert [put["payoff"] for put in puts] == pytest.approx([20.0, 0.0, 0.0, 0.0])


def test_equity_holds_cash_stock_and_puts_marked_to_black_scholes(runs):
    _, result, event = runs
    premiums = [_put(100, 90, 2), _put(72, 64.8, 2), _put(100, 90, 2), _put(97, 87.3, 2)]
    cash = 1000 - 100 * 1.01  # one unit at bar 1's open, 1% fee
    cash_by_bar, marks = [], [0.0] * 8
    for bar in range(8):
        if bar in (1, 3, 5, 7):
            cash -= premiums[(bar - 1) // 2] * 1.01
        if bar == 2:
            cash += 90 - 70  # the first put expires in the money
        cash_by_bar.append(1000 if bar == 0 else cash)
    marks[1], marks[3], marks[5], marks[7] = _put(80, 90, 1), _put(95, 64.8, 1), _put(104, 90, 1), _put(101, 87.3, 1)
    expected = [cash_by_bar[i] + (CLOSES[i] if i else 0) + marks[i] for i in range(8)]
    assert result.equity.tolist() == pytest.approx(expected, rel=1e-12)
    assert event.equity.tolist() == pytest.approx(expected, rel=1e-12)
    assert result.extra["hedge_value"].tolist() == pytest.approx(marks, rel=1e-12)
    assert result.metrics["hedge_cost"] == pytest.approx(1.01 * sum(premiums))
    assert result.metrics["hedge_payoff"] == pytest.approx(20.0)


def test_loan_to_value_and_margin_call_days(runs):
    _, result, event = runs
    ltv = result.extra["ltv"]
    assert pd.isna(ltv.iloc[0])  # nothing held before the first fill
    assert ltv.iloc[1:].tolist() == pytest.approx([60 / close for close in CLOSES[1:]])
    assert result.metrics["max_ltv"] == pytest.approx(60 / 70)
    # The lender sees the holding: 80 and 70 are below 60 / 0.7.
    assert result.extra["margin_call_days"] == ["2024-01-02", "2024-01-03"]
    assert result.metrics["margin_call_days"] == 2
    # Counting the live put as collateral saves the first day, not the second (it has just expired).
    assert result.extra["hedged_ltv"].iloc[1] == pytest.approx(60 / (80 + _put(80, 90, 1)))
    assert result.extra["hedged_margin_call_days"] == ["2024-01-03"]
    assert event.extra["margin_call_days"] == result.extra["margin_call_days"]
    assert event.extra["puts"] == result.extra["puts"]


def test_no_margin_calls_when_the_threshold_is_off():
    settings = BacktestSettings(initial_cash=1000, units=1, loan_amount=60)
    result = run_vectorized(make_bars(CLOSES, OPENS), "protective_put", PARAMS, settings, DAILY)
    assert result.extra["margin_call_days"] == [] and result.metrics["margin_call_days"] == 0
