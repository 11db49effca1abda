"""The vectorized engine: all targets at once, then the book only at the bars that change it.

Targets come from `Strategy.signals` over the whole frame (each decided at its bar's
close from bars up to it). Cash and position change only at fills, put purchases and
put settlements, so the book is stepped at those bars alone (the same `Book` and
`hedging` calls as the event engine, in the same order) and the per-bar curves are
expanded with numpy: equity = cash + position x close (+ puts marked at each close).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from backtests.engine import hedging
from backtests.engine.feed import bar_columns, price_factor
from backtests.engine.fills import Book
from backtests.engine.params import DEFAULT_TIMING, BacktestSettings, BarTiming
from backtests.engine.result import BacktestResult, assemble
from backtests.engine.strategies import PutHedge, get_strategy, validate_params


def run_vectorized(
    bars: pd.DataFrame,
    strategy: str,
    params: Mapping[str, Any] | None = None,
    settings: BacktestSettings | None = None,
    timing: BarTiming = DEFAULT_TIMING,
) -> BacktestResult:
    """Run `strategy` over a normalized bar frame (ts = bar open, UTC; sorted, unique)."""
    chosen = get_strategy(strategy)
    checked = validate_params(strategy, params)
    settings = settings or BacktestSettings()
    ts, open_, high, low, close, volume = bar_columns(bars)
    frame = bars
    if len(ts):
        factor = price_factor(float(close[0]), settings.start_price)
        if factor != 1.0:
            open_, high, low, close = open_ * factor, high * factor, low * factor, close * factor
            frame = pd.DataFrame(
                {"ts": bars["ts"], "open": open_, "high": high, "low": low, "close": close, "volume": volume}
            )
    targets = target_array(chosen.signals(frame, checked), len(ts))
    hedge = chosen.hedge(checked)
    run = simulate(targets, ts, open_, close, settings, timing, hedge)
    return assemble(
        strategy=chosen.name,
        params=checked,
        settings=settings,
        timing=timing,
        ts_ns=ts,
        close=close,
        targets=targets,
        position=run.position,
        equity=run.equity,
        book=run.book,
        hedge_value=run.hedge_value if hedge is not None else None,
        puts=run.puts,
    )


@dataclass(slots=True)
class Simulation:
    """Per-bar curves of a simulated run and the book behind them."""

    book: Book
    cash: np.ndarray
    position: np.ndarray
    equity: np.ndarray
    hedge_value: np.ndarray
    puts: list[hedging.LivePut]


def simulate(
    targets: np.ndarray,
    ts: np.ndarray,
    open_: np.ndarray,
    close: np.ndarray,
    settings: BacktestSettings,
    timing: BarTiming = DEFAULT_TIMING,
    hedge: PutHedge | None = None,
) -> Simulation:
    """Fill `targets` (decided at each close) at the next opens; return cash, position and equity per bar."""
    steps = _Steps(Book(settings), ts, open_, close, timing.bar_ns, hedge)
    steps.run(fill_schedule(targets), targets)
    cash, position = steps.curves(len(ts), settings.initial_cash)
    equity = position * close
    equity += cash  # cash + position x close, as the event engine adds (addition commutes exactly)
    if hedge is not None:
        equity += steps.hedge_value
    return Simulation(steps.book, cash, position, equity, steps.hedge_value, steps.puts)


def target_array(values: Any, count: int) -> np.ndarray:
    """Return a strategy's targets as float64, checking their length and finiteness."""
    targets = np.asarray(values, dtype=np.float64)
    if targets.shape != (count,):
        raise ValueError(f"strategy returned {targets.shape} targets for {count} bars")
    if not np.isfinite(targets).all():
        raise ValueError("strategy returned a missing or infinite target")
    return targets


def fill_schedule(targets: np.ndarray) -> np.ndarray:
    """Return the bars whose open fills a changed target: i + 1 for each close i where the target changed.

    A change at the last close has no next bar and never fills.
    """
    if len(targets) < 2:
        return np.empty(0, dtype=np.int64)
    decided = targets[:-1]
    previous = np.concatenate(([0.0], decided[:-1]))
    return np.flatnonzero(decided != previous) + 1


class _Steps:
    """Steps the book through the bars where something happens, in bar order."""

    def __init__(
        self, book: Book, ts: np.ndarray, open_: np.ndarray, close: np.ndarray, bar_ns: int, hedge: PutHedge | None
    ) -> None:
        self.book, self.ts, self.open, self.close, self.hedge = book, ts, open_, close, hedge
        self.close_ns = ts + bar_ns
        self.hedge_value = np.zeros(len(ts))
        self.puts: list[hedging.LivePut] = []
        self.bars: list[int] = []
        self.cash: list[float] = []
        self.position: list[float] = []

    def _record(self, bar: int) -> None:
        self.bars.append(bar)
        self.cash.append(self.book.cash)
        self.position.append(self.book.position)

    def run(self, fills: np.ndarray, targets: np.ndarray) -> None:
        fill_bars = fills.tolist()
        fill_targets = targets[fills - 1].tolist()
        if self.hedge is None:
            self.bars = fill_bars
            self.cash, self.position = self.book.fill_all(fill_bars, fill_targets, self.open[fills].tolist())
            return
        self._run_hedged(fill_bars, fill_targets)

    def _run_hedged(self, fill_bars: list[int], fill_targets: list[float]) -> None:
        book, hedge, count = self.book, self.hedge, len(self.ts)
        assert hedge is not None
        k, live, settle_bar, check_bar = 0, None, count, None
        while True:
            candidates = [bar for bar in (check_bar, settle_bar if live else None) if bar is not None]
            if k < len(fill_bars):
                candidates.append(fill_bars[k])
            bar = min(candidates, default=count)
            if bar >= count:
                return
            if check_bar == bar:
                check_bar = None
            if k < len(fill_bars) and fill_bars[k] == bar:
                book.rebalance(fill_targets[k], bar, float(self.open[bar]))
                k += 1
            if live is None and book.position != 0.0:
                live = hedging.buy_put(book, hedge, int(self.ts[bar]), float(self.open[bar]))
                self.puts.append(live)
                settle_bar = max(bar, int(np.searchsorted(self.close_ns, live.expiry_ns, side="left")))
                end = min(settle_bar, count)
                self.hedge_value[bar:end] = hedging.put_values(live, hedge, self.close_ns[bar:end], self.close[bar:end])
            if live is not None and settle_bar == bar:
                hedging.settle_put(book, live, int(self.close_ns[bar]), float(self.close[bar]))
                live, check_bar = None, bar + 1
            self._record(bar)

    def curves(self, count: int, initial_cash: float) -> tuple[np.ndarray, np.ndarray]:
        """Return cash and position per bar, constant between the recorded bars."""
        starts = np.array([0, *self.bars], dtype=np.int64)
        lengths = np.diff(np.append(starts, count))
        cash = np.repeat(np.array([float(initial_cash), *self.cash]), lengths)
        position = np.repeat(np.array([0.0, *self.position]), lengths)
        return cash, position
