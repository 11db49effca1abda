import math
import statistics

import numpy as np
import pytest

from backtests.engine import (
    BacktestSettings,
    BarTiming,
    bar_events,
    calendar_periods_per_year,
    periods_per_year,
    run_event,
    run_vectorized,
)
from backtests.engine.metrics import DRAWDOWN_BLOCK, _largest_fall, compute_metrics, drawdowns
from tests.backtests.engine.support import make_bars

YEAR = 365.25 * 86_400


def _metrics(equity, **overrides):
    arguments = {
        "initial_cash": 100.0,
        "periods_per_year": 4,
        "elapsed_seconds": 2 * YEAR,
        "trade_pnl": np.array([5.0, -2.0, 3.0]),
        "trade_open": np.array([False, False, True]),
        "position": np.array([0.0, 1.0, 1.0]),
        "fees": 0.5,
    }
    return compute_metrics(np.array(equity, dtype=float), **(arguments | overrides))


def test_metrics_of_a_hand_computed_equity_curve():
    metrics = _metrics([110.0, 99.0, 121.0])
    returns = [0.10, -0.10, 121 / 99 - 1]
    assert metrics["total_return"] == pytest.approx(0.21)
    assert metrics["cagr"] == pytest.approx(0.10)  # 1.21 over two years
    assert metrics["sharpe"] == pytest.approx(statistics.mean(returns) / statistics.stdev(returns) * 2)
    downside = math.sqrt((0.10**2) / 3)
    assert metrics["sortino"] == pytest.approx(statistics.mean(returns) / downside * 2)
    assert metrics["max_drawdown"] == pytest.approx(11 / 110)
    assert metrics["max_drawdown_value"] == pytest.approx(11.0)
    assert metrics["win_rate"] == 0.5  # the open trade is not counted
    assert metrics["trades"] == 3
    assert metrics["exposure"] == pytest.approx(2 / 3)
    assert metrics["final_equity"] == 121.0
    assert metrics["fees"] == 0.5


def test_a_drawdown_from_the_initial_cash_counts():
    metrics = _metrics([90.0, 95.0, 80.0])
    assert metrics["max_drawdown"] == pytest.approx(0.20)
    assert metrics["max_drawdown_value"] == pytest.approx(20.0)


def test_undefined_metrics_are_none_not_nan():
    metrics = _metrics([100.0, 100.0, 100.0], trade_pnl=np.array([]), trade_open=np.array([], dtype=bool))
    assert metrics["sharpe"] is None and metrics["sortino"] is None and metrics["win_rate"] is None
    assert metrics["total_return"] == 0.0 and metrics["max_drawdown"] == 0.0 and metrics["trades"] == 0


def test_a_wiped_out_account_has_a_cagr_of_minus_one():
    assert _metrics([50.0, 0.0, -10.0])["cagr"] == -1.0


@pytest.mark.parametrize(
    ("calendar", "interval_seconds", "expected"),
    [
        ("XNYS", 60, 252 * 390),
        ("XNYS", 300, 252 * 78),
        ("XNYS", 3600, 252 * 7),  # 6.5 hours: the last bar of a session is short
        ("XNYS", 86_400, 252),
        ("24/7", 60, 365 * 1440),
        ("24/7", 86_400, 365),
        ("24/7", 2 * 86_400, 182.5),
    ],
)
def test_periods_per_year(calendar, interval_seconds, expected):
    assert calendar_periods_per_year(calendar, interval_seconds) == expected


def test_periods_per_year_of_other_calendars_come_from_their_schedule():
    # CME Globex metals: about 23-hour sessions, about 250 a year.
    per_year = calendar_periods_per_year("CME_Globex_Metals", 60)
    assert 240 * 1300 < per_year < 262 * 1440
    assert periods_per_year(60, sessions_per_year=250, session_seconds=82_800) == 250 * 1380


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("drift", [-0.002, 0.0, 0.002])
def test_drawdowns_by_block_are_the_bar_by_bar_ones(seed, drift):
    """Blocks without a new high are measured from their low: the same floats as the plain running peak."""
    rng = np.random.default_rng(seed)
    count = DRAWDOWN_BLOCK * 5 + int(rng.integers(0, DRAWDOWN_BLOCK))
    equity = 100.0 * np.exp(np.cumsum(rng.normal(drift, 0.01, count)))
    equity[rng.integers(0, count, 50)] = 100.0  # exact ties with the initial cash
    for initial_cash in (100.0, float(equity.max()), 1e-3):
        assert drawdowns(equity, initial_cash) == _largest_fall(equity, initial_cash)


def test_a_cagr_too_large_for_a_float_is_none():
    # 0.3% in two minutes compounds to about e^788 a year: past the largest float (about e^709.8).
    metrics = _metrics([100.0, 100.3], elapsed_seconds=120.0, position=np.array([1.0, 1.0]))
    assert metrics["cagr"] is None
    assert metrics["total_return"] == pytest.approx(0.003)


def test_buy_and_hold_over_two_minutes_with_a_small_gain_succeeds_without_a_cagr():
    bars = make_bars([100.0, 100.3], step="1min")  # fills at 100.0, the second open
    settings, timing = BacktestSettings(initial_cash=10_000), BarTiming(60, 252 * 390)
    vectorized = run_vectorized(bars, "buy_and_hold", {}, settings, timing)
    event = run_event(bar_events(bars), "buy_and_hold", {}, settings, timing)
    assert vectorized.metrics["total_return"] == pytest.approx(0.003)
    assert vectorized.metrics["cagr"] is None and event.metrics["cagr"] is None
    assert vectorized.to_dict()["metrics"]["cagr"] is None
    assert vectorized.result_hash() == event.result_hash()
