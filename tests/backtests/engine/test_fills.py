"""Fills at the next open, with fee and slippage, worked by hand on six daily bars."""

import math

import numpy as np
import pandas as pd
import pytest

from backtests.engine import BacktestSettings, BarDataError, BarTiming, bar_events, run_event, run_vectorized
from backtests.engine.fills import Book
from tests.backtests.engine.support import DAY_NS, demo_bars, make_bars

# sma(1) vs sma(2) is "close above/below the previous close": long after closes 1 and 2,
# flat after close 3; the long signal at the last close (5) never fills.
CLOSES = [10.0, 11.0, 12.0, 11.0, 10.0, 12.0]
OPENS = [10.0, 10.5, 11.5, 12.5, 10.5, 10.2]
PARAMS = {"fast": 1, "slow": 2}
DAILY = BarTiming(86_400, 365)
MINUTES = BarTiming(60, 252 * 390)


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


def _one_off(units: np.ndarray) -> np.ndarray:
    wrong = units.copy()
    wrong[len(wrong) // 3 :: 7] += 1.0
    return wrong


GUESSES = {"exact": lambda units: units, "one_off": _one_off, "zeros": np.zeros_like, "negative": np.negative}


@pytest.mark.parametrize("guess", sorted(GUESSES))
def test_all_in_sizes_are_the_stepped_ones_whatever_the_guess(monkeypatch, guess):
    """Guessed all-in sizes are checked against the cash they leave; a wrong one is stepped again from there."""
    real, change = Book._guess_all_in_units, GUESSES[guess]
    monkeypatch.setattr(Book, "_guess_all_in_units", lambda self, *args: change(real(self, *args)))
    bars, settings = demo_bars(), BacktestSettings(initial_cash=100_000, fee=0.001, slippage=2)
    vectorized = run_vectorized(bars, "sma_crossover", {"fast": 10, "slow": 50}, settings, MINUTES)
    event = run_event(bar_events(bars), "sma_crossover", {"fast": 10, "slow": 50}, settings, MINUTES)
    assert len(vectorized.trades) > 100
    np.testing.assert_array_equal(vectorized.equity.to_numpy(), event.equity.to_numpy())
    assert vectorized.result_hash() == event.result_hash()


@pytest.mark.parametrize("initial_cash", [150, 12_345.67, 1e13, 3e15])
def test_all_in_sizes_match_the_event_engine_at_any_cash(initial_cash):
    """At 1e13 and more the guessed sizes miss (a unit is below the cash's rounding) and are stepped exactly."""
    settings = BacktestSettings(initial_cash=initial_cash, fee=0.001)
    bars = demo_bars()
    vectorized = run_vectorized(bars, "bollinger_breakout", {"period": 20, "k": 1.0}, settings, MINUTES)
    event = run_event(bar_events(bars), "bollinger_breakout", {"period": 20, "k": 1.0}, settings, MINUTES)
    pd.testing.assert_frame_equal(vectorized.trade_table, event.trade_table, check_exact=True)
    np.testing.assert_array_equal(vectorized.equity.to_numpy(), event.equity.to_numpy())


BOOKS = {
    "all_in": BacktestSettings(initial_cash=1_000, fee=0.01, slippage=50),
    "units": BacktestSettings(initial_cash=1_000, units=2, fee=0.01),
}


@pytest.mark.parametrize("book", sorted(BOOKS))
def test_fill_many_after_single_fills_is_rebalance_fill_by_fill(book):
    """A book filled one at a time and then a schedule at once (a held position closes at its first fill)."""
    settings = BOOKS[book]
    opens = np.array([10.0, 10.5, 11.5, 12.5, 10.5, 10.2, 9.8, 11.0])
    bars, targets = np.array([3, 4, 5, 6, 7]), np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    targets = targets if settings.all_in else targets * np.array([1, 1, -1, 1, 1])
    stepped, scheduled = Book(settings), Book(settings)
    for each in (stepped, scheduled):
        each.rebalance(1.0, 1, float(opens[1]))
    for bar, target in zip(bars.tolist(), targets.tolist(), strict=True):
        stepped.rebalance(target, bar, float(opens[bar]))
    cash_after, position_after = scheduled.fill_many(bars, targets, opens[bars])
    assert (scheduled.cash, scheduled.position, scheduled.fees) == (stepped.cash, stepped.position, stepped.fees)
    assert (cash_after[-1], position_after[-1]) == (stepped.cash, stepped.position)
    ts_ns, close = np.arange(len(opens)) * DAY_NS, opens + 0.5
    expected, got = stepped.trade_columns(ts_ns, DAY_NS, close), scheduled.trade_columns(ts_ns, DAY_NS, close)
    for name, values in expected.items():
        np.testing.assert_array_equal(got[name], values, err_msg=name)


def _refusal(bars, strategy, params, settings):
    """Return (field, message) of the BarDataError both engines stop with; they must agree."""
    refusals = []
    for run in (run_vectorized, lambda *args: run_event(bar_events(args[0]), *args[1:])):
        with pytest.raises(BarDataError) as caught:
            run(bars, strategy, params, settings, DAILY)
        refusals.append((caught.value.field, caught.value.message))
    assert refusals[0] == refusals[1]
    return refusals[0]


@pytest.mark.parametrize("units", [0, 2])
@pytest.mark.parametrize(
    ("bar", "price", "written"),
    [(2, 0.0, "0"), (4, 0.0, "0"), (2, -1.5, "-1.5")],  # the entry at bar 2, the exit at bar 4
)
def test_a_fill_at_an_open_of_zero_or_below_stops_both_engines_naming_the_bar(units, bar, price, written):
    opens = list(OPENS)
    opens[bar] = price
    field, message = _refusal(make_bars(CLOSES, opens), "sma_crossover", PARAMS, BacktestSettings(units=units))
    assert field == "symbol"
    assert message.startswith(f"cannot fill an order at a price of {written} at 2024-01-0{bar + 1}T00:00:00Z")


def test_an_open_of_zero_where_nothing_fills_does_not_stop_a_run():
    opens = list(OPENS)
    opens[3] = 0.0  # bar 3 holds the position: no fill at its open
    _, result = _both(BacktestSettings(initial_cash=1000, units=2), opens=opens)
    assert len(result.trades) == 1


def test_a_put_rolled_at_an_open_of_zero_stops_both_engines_naming_the_bar():
    # A one-day put bought at bar 1's open expires at its close; the roll is due at bar 2's open.
    bars = make_bars([100, 80, 70, 95], [100, 100, 0.0, 72])
    params = {"strike_pct": 0.9, "tenor_days": 1, "implied_vol": 0.5, "risk_free_rate": 0.02}
    field, message = _refusal(bars, "protective_put", params, BacktestSettings(initial_cash=1000, units=1))
    assert field == "symbol"
    assert message.startswith("cannot buy a put at a spot of 0 at 2024-01-03T00:00:00Z")


def test_a_put_held_through_closes_of_zero_and_below_is_marked_at_its_discounted_strike_less_the_close():
    bars = make_bars([100, 80, 0.0, -5.0, 10], [100, 100, 60, 1, 2])
    params = {"strike_pct": 0.9, "tenor_days": 30, "implied_vol": 0.5, "risk_free_rate": 0.02}
    _, result = _both(BacktestSettings(initial_cash=1000, units=1), closes=bars["close"], opens=bars["open"],
                      strategy="protective_put", params=params)  # fmt: skip
    for bar, close in ((2, 0.0), (3, -5.0)):
        years_left = (30 - bar) / 365  # bought at bar 1's open, marked at bar's close (t + 1 day)
        assert result.extra["hedge_value"].iloc[bar] == pytest.approx(90 * math.exp(-0.02 * years_left) - close)


def test_start_price_with_a_first_close_of_zero_is_refused_on_start_price():
    bars = make_bars([0.0, 11.0, 12.0], [0.0, 10.5, 11.5])
    field, message = _refusal(bars, "buy_and_hold", {}, BacktestSettings(start_price=100))
    assert field == "start_price"
    assert "the first close, at 2024-01-01T00:00:00Z, is 0" in message
