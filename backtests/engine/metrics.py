"""Performance metrics of an equity curve.

Definitions (returns are bar-to-bar, the first measured from `initial_cash`):
- total_return = final equity / initial_cash - 1.
- cagr = (final / initial) ** (1 / years) - 1, years = calendar time from the first
  bar's open to the last bar's close / 365.25 days; -1 when the equity ends <= 0;
  None when it is too large for a float (a small gain over a few minutes).
- sharpe = mean / sample std (ddof=1) x sqrt(periods_per_year); risk-free rate 0.
- sortino = mean / downside deviation x sqrt(periods_per_year), downside deviation
  = sqrt(mean(min(r, 0)^2)) over all bars.
- max_drawdown: largest fall from a running peak (initial cash counts as a peak), as
  a positive fraction of that peak; max_drawdown_value is the same fall in cash.
- win_rate = closed trades with pnl > 0 / closed trades; trades counts every trade
  listed (closed, plus the open one marked at the end).
- exposure = fraction of bars holding a position at their close.
Undefined values (no variance, no closed trades, ...) are None, never NaN, so the
metrics serialize to JSON as they are.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# How many bars make a year is a property of the market's calendar; still importable from here.
from marketdata.core.calendar import calendar_periods_per_year as calendar_periods_per_year
from marketdata.core.calendar import periods_per_year as periods_per_year

SECONDS_PER_CALENDAR_YEAR = 365.25 * 86_400
DRAWDOWN_BLOCK = 512  # bars per block in `drawdowns`


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _growth_per_year(ratio: float, years: float) -> float:
    """Return `ratio` ** (1 / years); inf where that is too large for a float.

    A small gain over a few minutes compounds to more than a float holds: float `**`
    raises OverflowError there, where `*` and `/` give inf.
    """
    try:
        return ratio ** (1.0 / years)
    except OverflowError:
        return math.inf


def drawdowns(equity: np.ndarray, initial_cash: float) -> tuple[float, float]:
    """Return (max drawdown as a positive fraction of the running peak, the same in cash).

    The initial cash (> 0) is the first peak, so every peak is positive. Block by block:
    a block without a new high keeps the peak it starts with, and its largest fall (in
    cash and as a fraction, both rounded monotonically) is to its low; only blocks that
    make a new high need the running peak bar by bar.
    """
    first_peak = float(initial_cash)
    if not first_peak > 0:  # a fall from a peak <= 0 is no fraction: keep the plain definition
        return _largest_fall(np.concatenate(([first_peak], equity)))
    whole = len(equity) // DRAWDOWN_BLOCK * DRAWDOWN_BLOCK
    if not whole:
        return _largest_fall(equity, first_peak)
    blocks = equity[:whole].reshape(-1, DRAWDOWN_BLOCK)
    highs, lows = np.maximum.reduce(blocks, axis=1), np.minimum.reduce(blocks, axis=1)
    tail = equity[whole:]
    if not (np.isfinite(highs).all() and np.isfinite(lows).all() and np.isfinite(tail).all()):
        return _largest_fall(equity, first_peak)  # NaN and inf take the plain path
    peaks = np.maximum.accumulate(np.concatenate(([first_peak], highs)))
    start_peak = peaks[:-1]
    rising = (highs > start_peak).nonzero()[0]
    fall = start_peak - lows  # the largest fall of a block without a new high
    fall[rising] = 0.0  # ... which a block with one may exceed: those are measured bar by bar
    level = (float(np.maximum.reduce(np.divide(fall, start_peak))), float(np.maximum.reduce(fall)))
    rising_fall = _largest_fall(blocks[rising], start_peak[rising, np.newaxis])
    falls = (level, rising_fall, _largest_fall(tail, float(peaks[-1])))
    return max(fraction for fraction, _ in falls), max(value for _, value in falls)


def _largest_fall(equity: np.ndarray, peak_before: float | np.ndarray | None = None) -> tuple[float, float]:
    """Return the largest fall from the running peak along the last axis, as (fraction, cash); 0 when empty."""
    if not equity.size:
        return 0.0, 0.0
    # fmax skips a NaN where maximum would carry it on, but a NaN in the curve makes its
    # own fall NaN, so both maxima are NaN either way; fmax.accumulate is the faster loop.
    peak = np.fmax.accumulate(equity, axis=-1)
    if peak_before is not None:
        np.fmax(peak, peak_before, out=peak)
    fall = np.subtract(peak, equity)
    value = float(fall.max())
    np.divide(fall, peak, out=fall)
    return float(fall.max()), value


def bar_returns(equity: np.ndarray, initial_cash: float) -> np.ndarray:
    """Return bar-to-bar returns of the equity curve, the first measured from `initial_cash`."""
    returns = np.empty(len(equity))
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(equity[:1], float(initial_cash), out=returns[:1])
        np.divide(equity[1:], equity[:-1], out=returns[1:])
    returns -= 1.0
    return returns


def sharpe_sortino(returns: np.ndarray, periods: float) -> tuple[float | None, float | None]:
    """Return (Sharpe, Sortino) of bar returns; None when undefined.

    The float operations of returns.mean(), returns.std(ddof=1) and
    np.minimum(returns, 0.0) ** 2 .mean(), with one sum fewer and one scratch array.
    """
    count = len(returns)
    if count < 2:
        return None, None
    with np.errstate(over="ignore", invalid="ignore"):
        total = float(np.add.reduce(returns))
    # A finite sum has finite terms; only a non-finite one needs the full check.
    if not math.isfinite(total) and not np.isfinite(returns).all():
        return None, None
    mean = total / count
    scratch = np.subtract(returns, mean)
    np.square(scratch, out=scratch)
    std = math.sqrt(float(np.add.reduce(scratch)) / (count - 1))
    np.minimum(returns, 0.0, out=scratch)
    np.square(scratch, out=scratch)
    downside = math.sqrt(float(np.add.reduce(scratch)) / count)
    scale = math.sqrt(periods)
    sharpe = mean / std * scale if std > 0 else None
    sortino = mean / downside * scale if downside > 0 else None
    return sharpe, sortino


def compute_metrics(
    equity: np.ndarray,
    *,
    initial_cash: float,
    periods_per_year: float,
    elapsed_seconds: float,
    trade_pnl: np.ndarray,
    trade_open: np.ndarray,
    position: np.ndarray,
    fees: float = 0.0,
    held_bars: int | None = None,
) -> dict[str, Any]:
    """Return the metrics of one run (see the module docstring).

    `held_bars`: how many bars hold a position, when the caller knows; else counted in `position`.
    """
    equity = np.asarray(equity, dtype=np.float64)
    final = float(equity[-1]) if len(equity) else float(initial_cash)
    total_return = final / initial_cash - 1.0
    years = elapsed_seconds / SECONDS_PER_CALENDAR_YEAR
    if final <= 0:
        cagr: float | None = -1.0
    elif years > 0:
        cagr = _finite_or_none(_growth_per_year(final / initial_cash, years) - 1.0)
    else:
        cagr = None
    sharpe, sortino = sharpe_sortino(bar_returns(equity, initial_cash), periods_per_year)
    drawdown, drawdown_value = drawdowns(equity, initial_cash)
    closed_pnl = np.asarray(trade_pnl, dtype=np.float64)[~np.asarray(trade_open, dtype=bool)]
    if held_bars is None:
        held_bars = int(np.count_nonzero(np.asarray(position) != 0.0))
    return {
        "total_return": total_return,
        "cagr": cagr,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": drawdown,
        "max_drawdown_value": drawdown_value,
        "win_rate": float(np.count_nonzero(closed_pnl > 0)) / len(closed_pnl) if len(closed_pnl) else None,
        "trades": len(trade_pnl),
        "exposure": float(held_bars) / len(position) if len(position) else 0.0,
        "final_equity": final,
        "fees": fees,
    }


def loan_metrics(ltv: np.ndarray, days: list[str]) -> dict[str, Any]:
    """Return max_ltv (None when never defined) and margin_call_days (how many days had a call)."""
    finite = ltv[np.isfinite(ltv)]
    return {"max_ltv": float(finite.max()) if len(finite) else None, "margin_call_days": len(days)}
