import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtests.engine import bar_events, get_strategy, validate_params
from backtests.engine import signals as ind
from backtests.engine.vectorized import fill_schedule
from tests.backtests.engine.support import make_bars


def _textbook_rsi(closes: list[float], length: int) -> list[float]:
    """Wilder (1978): seed with simple averages of the first `length` changes, then smooth."""
    out = [math.nan] * len(closes)
    changes = [b - a for a, b in zip(closes, closes[1:], strict=False)]
    if len(changes) < length:
        return out
    gain = sum(max(c, 0) for c in changes[:length]) / length
    loss = sum(max(-c, 0) for c in changes[:length]) / length
    for i in range(length, len(closes)):
        if i > length:
            change = changes[i - 1]
            gain = (gain * (length - 1) + max(change, 0)) / length
            loss = (loss * (length - 1) + max(-change, 0)) / length
        out[i] = 50.0 if gain == loss == 0 else 100.0 if loss == 0 else 100 - 100 / (1 + gain / loss)
    return out


@pytest.fixture
def closes():
    rng = np.random.default_rng(7)
    return 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 500)))


def test_sma_matches_pandas_rolling_mean(closes):
    expected = pd.Series(closes).rolling(20).mean().to_numpy()
    np.testing.assert_allclose(ind.sma(closes, 20), expected, rtol=1e-12)


def test_bollinger_uses_the_population_standard_deviation(closes):
    middle, upper, lower = ind.bollinger(closes, 20, 2.0)
    std = pd.Series(closes).rolling(20).std(ddof=0).to_numpy()
    np.testing.assert_allclose(middle, pd.Series(closes).rolling(20).mean(), rtol=1e-12)
    np.testing.assert_allclose(upper - middle, 2.0 * std, rtol=1e-8)
    np.testing.assert_allclose(middle - lower, 2.0 * std, rtol=1e-8)


def test_rsi_matches_wilders_textbook_definition(closes):
    np.testing.assert_allclose(ind.rsi(closes, 14), _textbook_rsi(list(closes), 14), rtol=1e-10)
    assert np.isnan(ind.rsi(closes, 14)[:14]).all() and not np.isnan(ind.rsi(closes, 14)[14])


def test_rsi_agrees_with_the_marketdata_indicators(closes):
    from marketdata.core import indicators

    np.testing.assert_allclose(ind.rsi(closes, 14), indicators.rsi(closes, 14), rtol=1e-9)
    np.testing.assert_allclose(ind.sma(closes, 20), indicators.sma(closes, 20), rtol=1e-12)


def test_rsi_is_50_when_flat_and_100_when_only_rising():
    assert ind.rsi(np.full(20, 5.0), 14)[-1] == 50.0
    assert ind.rsi(np.arange(20.0), 14)[-1] == 100.0
    assert ind.rsi(np.arange(20.0)[::-1], 14)[-1] == 0.0


def test_hold_between_enters_and_leaves_on_decided_bars_only():
    enter = np.array([0, 1, 0, 0, 1, 0, 0, 1, 0], dtype=bool)
    leave = np.array([1, 0, 0, 1, 0, 0, 1, 1, 0], dtype=bool)
    assert ind.hold_between(enter, leave).tolist() == [0, 1, 1, 0, 1, 1, 0, 1, 1]
    assert ind.hold_between(np.zeros(3, bool), np.zeros(3, bool)).tolist() == [0, 0, 0]


def test_flat_prices_do_not_flip_a_crossover_on_rounding_noise():
    closes = np.full(200, 0.1)  # 10- and 50-bar means of 0.1 differ in the last bits
    fast, slow = ind.sma(closes, 10), ind.sma(closes, 50)
    above, below = ind.above_below(fast, slow)
    assert not above.any() and not below.any()


prices = st.lists(
    st.one_of(st.floats(1.0, 2.0), st.just(1.5)),  # repeated values make flat runs and exact ties
    min_size=1,
    max_size=80,
)


def _same(a, b) -> bool:
    return np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_nan=True)


@settings(max_examples=150, deadline=None)
@given(values=prices, length=st.integers(1, 12), k=st.floats(0.5, 3.0))
def test_running_twins_give_bit_identical_values(values, length, k):
    x = np.array(values)
    running_sma, running_bands = ind.RunningSMA(length), ind.RunningBollinger(max(length, 2), k)
    running_rsi = ind.RunningRSI(max(length, 2))
    sma = [running_sma.update(v) for v in values]
    bands = np.array([running_bands.update(v) for v in values]).reshape(-1, 3)
    rsi = [running_rsi.update(v) for v in values]
    assert _same(sma, ind.sma(x, length))
    assert _same(bands.T, np.array(ind.bollinger(x, max(length, 2), k)))
    assert _same(rsi, ind.rsi(x, max(length, 2)))
    above, below = ind.above_below(np.array(sma), x)
    assert above.tolist() == [ind.is_above(a, b) for a, b in zip(sma, values, strict=True)]
    assert below.tolist() == [ind.is_below(a, b) for a, b in zip(sma, values, strict=True)]


STRATEGY_CASES = {
    "buy_and_hold": {},
    "sma_crossover": {"fast": 2, "slow": 4},
    "rsi_reversion": {"period": 3, "lower": 45, "upper": 55},
    "bollinger_breakout": {"period": 3, "k": 0.5},
    "protective_put": {},
}


@settings(max_examples=100, deadline=None)
@given(values=prices)
def test_on_bar_gives_the_targets_signals_gives(values):
    bars = make_bars(values)
    events = list(bar_events(bars))
    for name, params in STRATEGY_CASES.items():
        strategy = get_strategy(name)
        checked = validate_params(name, params)
        state = strategy.initial_state(checked)
        targets = [strategy.on_bar(state, event) for event in events]
        assert targets == strategy.signals(bars, checked).tolist(), name


@settings(max_examples=100, deadline=None)
@given(values=prices)
def test_signals_with_changes_gives_the_targets_and_where_they_change(values):
    """The changes a strategy gives make the fills the engine would find by comparing targets."""
    bars = make_bars(values)
    for name, params in STRATEGY_CASES.items():
        strategy = get_strategy(name)
        checked = validate_params(name, params)
        targets, changes = strategy.signals_with_changes(bars, checked)
        assert targets.tolist() == strategy.signals(bars, checked).tolist(), name
        if changes is not None:
            held = np.concatenate(([0.0], targets))
            assert changes.tolist() == np.flatnonzero(held[1:] != held[:-1]).tolist(), name
            assert fill_schedule(targets, changes).tolist() == fill_schedule(targets).tolist(), name


@settings(max_examples=200, deadline=None)
@given(codes=st.lists(st.sampled_from([(0, 0), (1, 0), (0, 1), (1, 1)]), max_size=60))
def test_hold_flips_are_where_hold_between_changes(codes):
    enter, leave = (np.array([code[i] for code in codes], dtype=bool) for i in (0, 1))
    held = ind.hold_between(enter, leave)
    assert ind.hold_flips(enter, leave).tolist() == np.flatnonzero(np.diff(held, prepend=0.0)).tolist()
    assert ind.holds(ind.hold_flips(enter, leave), len(codes)).tolist() == held.tolist()


@settings(max_examples=200, deadline=None)
@given(targets=st.lists(st.sampled_from([0.0, -0.0, 1.0, 0.5, -1.0]), max_size=40))
def test_fill_schedule_fills_each_changed_target_at_the_next_open(targets):
    previous = [0.0, *targets][: len(targets)]
    expected = [i + 1 for i, (now, before) in enumerate(zip(targets, previous, strict=True)) if now != before]
    assert fill_schedule(np.array(targets)).tolist() == [bar for bar in expected if bar < len(targets)]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("at", [0, 1, 5, 9])
def test_fill_schedule_refuses_a_missing_or_infinite_target(bad, at):
    targets = np.array([0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    targets[at] = bad
    with pytest.raises(ValueError, match="missing or infinite target"):
        fill_schedule(targets)
    targets[at + 1 :] = bad  # a run of the same value
    with pytest.raises(ValueError, match="missing or infinite target"):
        fill_schedule(targets)
