"""The vectorized and the event-driven engine give the same run on the same data."""

import numpy as np
import pandas as pd
import pytest

from backtests.engine import BacktestSettings, BarTiming, bar_events, run_event, run_vectorized
from tests.backtests.engine.support import demo_bars

TIMING = BarTiming(60, 252 * 390)

STRATEGY_CASES = {
    "buy_and_hold": {},
    "sma_crossover": {"fast": 10, "slow": 50},
    "rsi_reversion": {"period": 14, "lower": 30, "upper": 70},
    "bollinger_breakout": {"period": 20, "k": 2.0},
    "protective_put": {"strike_pct": 0.97, "tenor_days": 7, "implied_vol": 0.3, "risk_free_rate": 0.04},
}
SETTINGS_CASES = {
    "all_in_fee_slippage": BacktestSettings(initial_cash=100_000, fee=0.001, slippage=2),
    "fixed_units_rescaled_with_loan": BacktestSettings(
        initial_cash=50_000, units=3, start_price=60_000, loan_amount=90_000, margin_call_ltv=0.5, fee=0.0005
    ),
}
# Enough trades on the demo data that a disagreement would show.
MIN_TRADES = {"sma_crossover": 100, "rsi_reversion": 20, "bollinger_breakout": 100}


@pytest.mark.parametrize("settings_case", sorted(SETTINGS_CASES))
@pytest.mark.parametrize("strategy", sorted(STRATEGY_CASES))
def test_engines_give_the_same_targets_trades_and_equity(strategy, settings_case):
    bars, params, settings = demo_bars(), STRATEGY_CASES[strategy], SETTINGS_CASES[settings_case]
    vectorized = run_vectorized(bars, strategy, params, settings, TIMING)
    event = run_event(bar_events(bars), strategy, params, settings, TIMING)

    assert len(vectorized.trade_table) >= MIN_TRADES.get(strategy, 1)
    np.testing.assert_array_equal(vectorized.extra["targets"], event.extra["targets"])
    pd.testing.assert_frame_equal(vectorized.trade_table, event.trade_table, check_exact=True)
    pd.testing.assert_index_equal(vectorized.equity.index, event.equity.index)
    np.testing.assert_allclose(vectorized.equity.to_numpy(), event.equity.to_numpy(), rtol=0, atol=1e-9)
    assert vectorized.metrics.keys() == event.metrics.keys()
    for name, value in vectorized.metrics.items():
        expected = value if value is None else pytest.approx(value, rel=1e-9, abs=1e-12)
        assert event.metrics[name] == expected, name
    if strategy != "protective_put":
        # No option marks (numpy vs math transcendental functions): every float is identical.
        np.testing.assert_array_equal(vectorized.equity.to_numpy(), event.equity.to_numpy())
        assert vectorized.result_hash() == event.result_hash()
    else:
        assert vectorized.extra["puts"] == event.extra["puts"]
        assert vectorized.extra["margin_call_days"] == event.extra["margin_call_days"]
        assert len(vectorized.extra["puts"]) >= 10


def test_the_event_engine_takes_replay_messages_with_iso_times():
    bars = demo_bars().iloc[:1500]
    messages = [
        {"t": ts.isoformat().replace("+00:00", "Z"), "o": o, "h": h, "l": low, "c": c, "v": v, "interval": "1m"}
        for ts, o, h, low, c, v in zip(
            bars["ts"], bars["open"], bars["high"], bars["low"], bars["close"], bars["volume"], strict=True
        )
    ]
    params = {"fast": 5, "slow": 20}
    from_messages = run_event(messages, "sma_crossover", params, timing=TIMING)
    from_frame = run_vectorized(bars, "sma_crossover", params, timing=TIMING)
    assert len(from_frame.trades) > 5
    assert from_messages.result_hash() == from_frame.result_hash()
