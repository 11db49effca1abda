"""SMA crossover against backtesting.py: same trades and final equity on a fixed dataset."""

import warnings

import backtesting
import numpy as np
import pandas as pd
import pytest

from backtests.engine import BacktestSettings, BarTiming, run_vectorized
from tests.backtests.engine.support import random_walk

FAST, SLOW = 10, 30
FEE = 0.002
CASH = 10_000.0


class _LongWhileFastAbove(backtesting.Strategy):
    """Our sma_crossover rule, written against backtesting.py's own SMA (pandas rolling mean)."""

    def init(self):
        close = pd.Series(self.data.Close)
        self.fast = self.I(lambda: close.rolling(FAST).mean().to_numpy())
        self.slow = self.I(lambda: close.rolling(SLOW).mean().to_numpy())

    def next(self):
        if self.fast[-1] > self.slow[-1] and not self.position:
            self.buy()  # all-in, whole units
        elif self.fast[-1] < self.slow[-1] and self.position:
            self.position.close()


@pytest.fixture(scope="module")
def bars():
    # backtesting.py first calls next() one bar after every indicator is known (bar SLOW, not
    # SLOW - 1); on this walk the fast SMA is below the slow one at bar SLOW - 1, so that
    # warm-up rule changes nothing. The walk ends inside a trade, marked at the last close.
    return random_walk(750, seed=20240113, volatility=0.015)


@pytest.fixture(scope="module")
def reference(bars):
    frame = pd.DataFrame(
        {name.capitalize(): bars[name].to_numpy() for name in ("open", "high", "low", "close", "volume")},
        index=pd.DatetimeIndex(bars["ts"]).tz_localize(None),
    )
    backtest = backtesting.Backtest(
        frame, _LongWhileFastAbove, cash=CASH, commission=FEE, trade_on_close=False, exclusive_orders=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return backtest.run()


@pytest.fixture(scope="module")
def ours(bars):
    settings = BacktestSettings(initial_cash=CASH, fee=FEE)
    return run_vectorized(bars, "sma_crossover", {"fast": FAST, "slow": SLOW}, settings, BarTiming(86_400, 365))


def test_same_closed_trades_as_backtesting_py(ours, reference):
    theirs = reference["_trades"]
    table = ours.trade_table
    closed = table[~table["open"]].reset_index(drop=True)
    assert len(closed) >= 15
    assert len(closed) == len(theirs)
    assert table["open"].iloc[-1]  # and one still open at the end
    np.testing.assert_array_equal(closed["entry_bar"], theirs["EntryBar"])
    np.testing.assert_array_equal(closed["exit_bar"], theirs["ExitBar"])
    np.testing.assert_array_equal(closed["entry_time"].dt.tz_localize(None), theirs["EntryTime"])
    np.testing.assert_array_equal(closed["exit_time"].dt.tz_localize(None), theirs["ExitTime"])
    np.testing.assert_allclose(closed["entry_price"], theirs["EntryPrice"], rtol=1e-12)
    np.testing.assert_allclose(closed["exit_price"], theirs["ExitPrice"], rtol=1e-12)
    np.testing.assert_array_equal(closed["size"], theirs["Size"])
    np.testing.assert_allclose(closed["pnl"], theirs["PnL"], rtol=1e-9)
    np.testing.assert_allclose(closed["return"], theirs["ReturnPct"], rtol=1e-9)


def test_same_final_equity_as_backtesting_py(ours, reference):
    # backtesting.py marks a trade still open at the end to the last close, as we do.
    assert ours.metrics["final_equity"] == pytest.approx(reference["Equity Final [$]"], rel=1e-9)
    np.testing.assert_allclose(ours.equity.to_numpy(), reference["_equity_curve"]["Equity"], rtol=1e-9)
