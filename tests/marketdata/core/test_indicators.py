"""Indicators against plain-Python loop references written from the textbook definitions."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.core.calendar import get_calendar
from marketdata.core.indicators import (
    IndicatorSpec,
    atr,
    bollinger,
    compute_indicators,
    ema,
    macd,
    parse_indicator_spec,
    rsi,
    session_ids_from_schedule,
    sma,
    vwap,
)

NAN = float("nan")


# ---------------------------------------------------------------- references


def sma_ref(x: list[float], n: int) -> list[float]:
    return [sum(x[i - n + 1 : i + 1]) / n if i >= n - 1 else NAN for i in range(len(x))]


def seeded_ref(x: list[float], n: int, alpha: float, start: int = 0) -> list[float]:
    """EMA seeded with the mean of x[start:start + n], first value at start + n - 1."""
    out = [NAN] * len(x)
    if len(x) - start < n:
        return out
    out[start + n - 1] = sum(x[start : start + n]) / n
    for i in range(start + n, len(x)):
        out[i] = alpha * x[i] + (1 - alpha) * out[i - 1]
    return out


def ema_ref(x: list[float], n: int) -> list[float]:
    return seeded_ref(x, n, 2 / (n + 1))


def rsi_ref(x: list[float], n: int) -> list[float]:
    out = [NAN] * len(x)
    if len(x) <= n:
        return out
    gains = [max(x[i] - x[i - 1], 0.0) for i in range(1, len(x))]
    losses = [max(x[i - 1] - x[i], 0.0) for i in range(1, len(x))]
    avg_gain = sum(gains[:n]) / n
    avg_loss = sum(losses[:n]) / n
    for i in range(n, len(x)):
        if i > n:
            avg_gain = (avg_gain * (n - 1) + gains[i - 1]) / n
            avg_loss = (avg_loss * (n - 1) + losses[i - 1]) / n
        if avg_loss == 0:
            out[i] = 50.0 if avg_gain == 0 else 100.0
        else:
            out[i] = 100 - 100 / (1 + avg_gain / avg_loss)
    return out


def macd_ref(x: list[float], fast: int, slow: int, signal: int) -> tuple[list[float], list[float], list[float]]:
    fast_line, slow_line = ema_ref(x, fast), ema_ref(x, slow)
    line = [f - s for f, s in zip(fast_line, slow_line, strict=True)]
    signal_line = seeded_ref(line, signal, 2 / (signal + 1), start=slow - 1)
    return line, signal_line, [a - b for a, b in zip(line, signal_line, strict=True)]


def bollinger_ref(x: list[float], n: int, k: float) -> tuple[list[float], list[float], list[float]]:
    middle, upper, lower = [], [], []
    for i in range(len(x)):
        if i < n - 1:
            middle.append(NAN), upper.append(NAN), lower.append(NAN)
            continue
        window = x[i - n + 1 : i + 1]
        mean = sum(window) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in window) / n)
        middle.append(mean), upper.append(mean + k * std), lower.append(mean - k * std)
    return middle, upper, lower


def atr_ref(high: list[float], low: list[float], close: list[float], n: int) -> list[float]:
    tr = [high[0] - low[0]] + [
        max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1])) for i in range(1, len(high))
    ]
    return seeded_ref(tr, n, 1 / n)


def vwap_ref(bars: pd.DataFrame, ids: list[int]) -> list[float]:
    out, pv, v, previous = [], 0.0, 0.0, object()
    for i, row in enumerate(bars.itertuples()):
        if ids[i] != previous:
            pv, v, previous = 0.0, 0.0, ids[i]
        price = row.vwap if not math.isnan(row.vwap) else (row.high + row.low + row.close) / 3
        pv += price * row.volume
        v += row.volume
        out.append(pv / v if v > 0 else NAN)
    return out


def assert_close(actual, expected) -> None:
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float), rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------ fixtures

price = st.floats(min_value=1.0, max_value=1000.0)
# Real 1m closes often repeat for many bars: runs of equal prices are where rolling sums drift.
prices = st.one_of(
    st.lists(price, min_size=0, max_size=120),
    st.lists(st.tuples(price, st.integers(1, 15)), max_size=12).map(
        lambda runs: [value for value, count in runs for _ in range(count)]
    ),
)
lengths = st.integers(min_value=1, max_value=30)


def random_bars(count: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(0, 0.5, count))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) + rng.uniform(0, 0.4, count)
    low = np.minimum(open_, close) - rng.uniform(0, 0.4, count)
    bar_vwap = low + (high - low) * rng.random(count)
    bar_vwap[rng.random(count) < 0.3] = np.nan
    volume = rng.integers(0, 500, count).astype(float)
    volume[:3] = 0.0  # a session starting without trades: VWAP undefined
    ts = pd.date_range("2024-11-25T14:30", periods=count, freq="1min", tz="UTC").as_unit("ns")
    return pd.DataFrame(
        {"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume, "vwap": bar_vwap}
    )


# -------------------------------------------------------------- indicators


@settings(max_examples=80, deadline=None)
@given(prices, lengths)
def test_sma_and_ema_match_loop_references(x, n):
    assert_close(sma(x, n), sma_ref(x, n))
    assert_close(ema(x, n), ema_ref(x, n))


@settings(max_examples=80, deadline=None)
@given(prices, lengths)
def test_rsi_matches_wilder_loop_reference(x, n):
    assert_close(rsi(x, n), rsi_ref(x, n))


@settings(max_examples=60, deadline=None)
@given(prices, st.integers(1, 10), st.integers(1, 20), st.integers(1, 10))
def test_macd_matches_loop_reference(x, fast, extra, signal):
    slow = fast + extra
    for actual, expected in zip(macd(x, fast, slow, signal), macd_ref(x, fast, slow, signal), strict=True):
        assert_close(actual, expected)


@settings(max_examples=60, deadline=None)
@given(prices, lengths, st.sampled_from([1.0, 2.0, 2.5]))
def test_bollinger_uses_population_std_like_the_loop_reference(x, n, k):
    for actual, expected in zip(bollinger(x, n, k), bollinger_ref(x, n, k), strict=True):
        assert_close(actual, expected)


def test_bollinger_bands_of_flat_windows_have_zero_width():
    # pandas' rolling std gives about 2e-7 for the window of ten 507.56 here.
    closes = [800.08] * 10 + [507.56] * 10 + [506.88] * 10 + [236.96] * 10
    middle, upper, lower = bollinger(closes, 10, 2.0)
    for end in (9, 19, 29, 39):
        assert abs(upper[end] - lower[end]) < 1e-12
        assert middle[end] == pytest.approx(closes[end], abs=1e-12)


@pytest.mark.parametrize("n", [1, 5, 14])
def test_atr_matches_wilder_loop_reference(n):
    bars = random_bars(200)
    h, lo, c = (bars[name].tolist() for name in ("high", "low", "close"))
    assert_close(atr(h, lo, c, n), atr_ref(h, lo, c, n))


def test_vwap_resets_at_each_session_and_prefers_the_bars_own_vwap():
    bars = random_bars(300)
    ids = [0] * 100 + [1] * 150 + [2] * 50
    result = vwap(bars, ids)
    assert_close(result, vwap_ref(bars, ids))
    assert np.isnan(result[:3]).all()  # no volume yet in the first session
    assert not np.isnan(result[100])


def test_rsi_of_a_rising_series_is_100_and_of_a_flat_one_50():
    assert rsi([1, 2, 3, 4, 5], 2)[2:].tolist() == [100.0, 100.0, 100.0]
    assert rsi([7, 7, 7, 7], 2)[2:].tolist() == [50.0, 50.0]
    assert rsi([5, 4, 3], 2)[2] == 0.0


def test_ema_first_value_is_the_sma_seed():
    assert ema([1, 2, 3, 4], 3).tolist()[2:] == [2.0, 3.0]  # seed 2, then 0.5 * 4 + 0.5 * 2


def test_session_ids_change_at_each_session_open():
    xnys = get_calendar("XNYS")
    sessions = xnys.schedule(pd.Timestamp("2024-11-26").date(), pd.Timestamp("2024-11-29").date())
    ts = pd.DatetimeIndex(
        ["2024-11-26T14:30", "2024-11-26T20:59", "2024-11-26T22:00", "2024-11-27T14:30", "2024-11-29T14:30"], tz="UTC"
    )
    ids = session_ids_from_schedule(pd.DataFrame({"ts": ts}), sessions)
    assert ids.tolist() == [1, 1, 1, 2, 3]  # after-hours stays with its session until the next open


# -------------------------------------------------------------------- specs


def test_parse_indicator_spec_reads_names_and_parameters():
    specs = parse_indicator_spec("sma:20, rsi:14,macd:12:26:9,bbands:20:2,ema:5,atr,vwap")
    assert specs == [
        IndicatorSpec("sma", (20,)),
        IndicatorSpec("rsi", (14,)),
        IndicatorSpec("macd", (12, 26, 9)),
        IndicatorSpec("bbands", (20, 2.0)),
        IndicatorSpec("ema", (5,)),
        IndicatorSpec("atr", (14,)),
        IndicatorSpec("vwap", ()),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no indicators given"),
        ("foo:3", "unknown indicator 'foo'"),
        ("sma", "sma needs length"),
        ("sma:0", "whole number"),
        ("ema:2.5", "whole number"),
        ("rsi:x", "must be a number"),
        ("rsi:14:2", "at most 1 parameter"),
        ("macd:26:12:9", "fast (26) must be shorter than slow (12)"),
        ("bbands:20:0", "k must be a positive number"),
        ("sma:20,,rsi:14", "empty indicator"),
    ],
)
def test_parse_indicator_spec_explains_bad_specs(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_indicator_spec(text)


def test_compute_indicators_names_one_column_per_output():
    bars = random_bars(60)
    ids = [0] * 30 + [1] * 30
    result = compute_indicators(bars, "sma:20,rsi:14,macd:12:26:9,bbands:20:2.5,atr:14,vwap", session_ids=ids)
    assert list(result.columns) == [
        "sma_20",
        "rsi_14",
        "macd_12_26_9",
        "macd_signal_12_26_9",
        "macd_hist_12_26_9",
        "bb_middle_20_2.5",
        "bb_upper_20_2.5",
        "bb_lower_20_2.5",
        "atr_14",
        "vwap",
    ]
    close = bars["close"].tolist()
    assert_close(result["sma_20"], sma_ref(close, 20))
    assert_close(result["macd_hist_12_26_9"], macd_ref(close, 12, 26, 9)[2])
    assert_close(result["bb_upper_20_2.5"], bollinger_ref(close, 20, 2.5)[1])
    assert result.index.equals(bars.index)


def test_compute_indicators_vwap_without_session_ids_is_an_error():
    with pytest.raises(ValueError, match="session_ids"):
        compute_indicators(random_bars(10), "vwap")


def test_indicators_of_too_short_a_series_are_nan():
    result = compute_indicators(random_bars(5), "sma:20,ema:20,rsi:14,macd:12:26:9,bbands:20:2,atr:14")
    assert result.isna().all().all()
