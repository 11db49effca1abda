"""No look-ahead: what happens up to bar i never depends on bars after i."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from backtests.engine import BacktestSettings, get_strategy, run_vectorized
from tests.backtests.engine.support import make_bars

# Short windows, so signals appear within a few dozen bars.
CASES = {
    "buy_and_hold": {},
    "sma_crossover": {"fast": 2, "slow": 5},
    "rsi_reversion": {"period": 3, "lower": 40, "upper": 60},
    "bollinger_breakout": {"period": 4, "k": 0.5},
    "protective_put": {"tenor_days": 3, "strike_pct": 0.99},
}
SETTINGS = BacktestSettings(initial_cash=1_000, fee=0.001, slippage=5)

steps = st.lists(st.floats(-0.05, 0.05), min_size=12, max_size=60)


def _bars(moves: list[float]):
    closes = 100 * np.exp(np.cumsum(moves))
    opens = np.concatenate(([100.0], closes[:-1] * 1.002))
    return make_bars(closes, opens)


@settings(max_examples=40, deadline=None)
@given(moves=steps, data=st.data())
def test_changing_later_bars_changes_nothing_up_to_the_cut(moves, data):
    cut = data.draw(st.integers(0, len(moves) - 2), label="cut")
    later = data.draw(st.lists(st.floats(-0.2, 0.2), min_size=len(moves) - cut - 1, max_size=len(moves) - cut - 1))
    original = _bars(moves)
    changed = _bars(moves[: cut + 1] + later)
    changed["open"] = changed["open"] * np.where(np.arange(len(changed)) > cut, 1.03, 1.0)
    for name, params in CASES.items():
        before = run_vectorized(original, name, params, SETTINGS)
        after = run_vectorized(changed, name, params, SETTINGS)
        assert np.array_equal(before.extra["targets"][: cut + 1], after.extra["targets"][: cut + 1]), name
        assert np.array_equal(before.equity.to_numpy()[: cut + 1], after.equity.to_numpy()[: cut + 1]), name
        assert _fills_up_to(before, cut) == _fills_up_to(after, cut), name


def _fills_up_to(result, cut: int) -> tuple[list, list]:
    """Return the entries and the closing exits that happened at bars up to `cut`."""
    trades = result.trade_columns
    entered = trades["entry_bar"] <= cut
    exited = (trades["exit_bar"] <= cut) & ~trades["open"]
    entries = [trades[name][entered].tolist() for name in ("entry_time", "entry_price", "size")]
    exits = [trades[name][exited].tolist() for name in ("exit_time", "exit_price", "pnl")]
    return entries, exits


@settings(max_examples=60, deadline=None)
@given(moves=steps, data=st.data())
def test_signals_on_a_prefix_equal_the_prefix_of_signals(moves, data):
    bars = _bars(moves)
    cut = data.draw(st.integers(1, len(bars)), label="cut")
    for name, params in CASES.items():
        strategy = get_strategy(name)
        full = strategy.signals(bars, params)
        prefix = strategy.signals(bars.iloc[:cut].reset_index(drop=True), params)
        assert np.array_equal(full[:cut], prefix), name


def test_the_signal_of_the_last_bar_never_fills():
    bars = make_bars([10, 10, 10, 10, 11])  # sma(1, 2) turns long only at the last close
    result = run_vectorized(bars, "sma_crossover", {"fast": 1, "slow": 2})
    assert result.extra["targets"].tolist() == [0, 0, 0, 0, 1]
    assert result.trades == []
    assert result.equity.tolist() == [10_000.0] * 5
