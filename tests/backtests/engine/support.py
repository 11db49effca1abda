"""Bar frames for the engine tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cache

import numpy as np
import pandas as pd

from marketdata.providers.synthetic import synthetic_bars

DAY_NS = 86_400 * 10**9


def make_bars(
    closes: Sequence[float],
    opens: Sequence[float] | None = None,
    *,
    start: str = "2024-01-01T00:00:00Z",
    step: str = "1D",
) -> pd.DataFrame:
    """Return a normalized bar frame; opens default to the previous close (the first to its own close)."""
    close = np.asarray(closes, dtype=np.float64)
    open_ = np.asarray(opens, dtype=np.float64) if opens is not None else np.concatenate((close[:1], close[:-1]))
    return pd.DataFrame(
        {
            "ts": pd.date_range(pd.Timestamp(start), periods=len(close), freq=step).as_unit("ns"),
            "open": open_,
            "high": np.maximum(open_, close) * 1.001,
            "low": np.minimum(open_, close) * 0.999,
            "close": close,
            "volume": np.full(len(close), 1000.0),
            "trade_count": np.full(len(close), 10.0),
            "vwap": (open_ + close) / 2,
        }
    )


def random_walk(count: int, seed: int, *, start: float = 100.0, volatility: float = 0.01) -> pd.DataFrame:
    """Return `count` daily bars of a seeded random walk (opens gap a little from the previous close)."""
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0.0, volatility, count)))
    opens = np.concatenate(([start], close[:-1])) * np.exp(rng.normal(0.0, volatility / 4, count))
    return make_bars(np.round(close, 2), np.round(opens, 2))


@cache
def demo_bars() -> pd.DataFrame:
    """The deterministic synthetic DEMO 1-minute XNYS bars, 2024-01-02 .. 2024-03-28 (about 24k)."""
    return synthetic_bars("DEMO", "XNYS", dt.date(2024, 1, 2), dt.date(2024, 3, 28))
