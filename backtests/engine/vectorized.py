"""The vectorized engine: all targets at once, then the book only at the bars that change it.

Targets come from `Strategy.signals` over the whole frame (each decided at its bar's
close from bars up to it). Cash and position change only at fills, put purchases and
put settlements, so the book is stepped at those bars alone (the same `Book` and
`hedging` calls as the event engine, in the same order) and the per-bar curves are
expanded with numpy: equity = cash + position x close (+ puts marked at each close).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from backtests.engine import hedging
from backtests.engine.feed import frame_columns, price_factor
from backtests.engine.fills import Book, check_fill_price, check_fill_prices
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
    times, ts, open_, high, low, close, volume = frame_columns(bars)
    frame = bars
    if len(ts):
        factor = price_factor(float(close[0]), settings.start_price, int(ts[0]))
        if factor != 1.0:
            open_, high, low, close = open_ * factor, high * factor, low * factor, close * factor
            frame = pd.DataFrame(
                {"ts": times, "open": open_, "high": high, "low": low, "close": close, "volume": volume}
            )
    values, changes = chosen.signals_with_changes(frame, checked)
    targets = target_array(values, len(ts))
    hedge = chosen.hedge(checked)
    run = simulate(targets, ts, open_, close, settings, timing, hedge, changes)
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
        times=times,
        held_bars=run.held_bars,
    )


class Simulation:
    """Per-bar curves of a simulated run and the book behind them.

    Cash is kept once per step (it changes only where the book does) and expanded to
    one value per bar when asked; without puts, `hedge_value` is zeros made on access.
    """

    __slots__ = ("_hedge_value", "_steps", "book", "equity", "position", "puts")

    def __init__(
        self,
        book: Book,
        steps: Steps,
        position: np.ndarray,
        equity: np.ndarray,
        hedge_value: np.ndarray | None,
        puts: list[hedging.LivePut],
    ) -> None:
        self.book, self.position, self.equity, self.puts = book, position, equity, puts
        self._steps, self._hedge_value = steps, hedge_value

    @property
    def cash(self) -> np.ndarray:
        return np.repeat(self._steps.cash, self._steps.lengths)

    @property
    def held_bars(self) -> int:
        """Return how many bars hold a position (counted per step, not per bar)."""
        return int(np.add.reduce(self._steps.lengths[self._steps.position != 0.0]))

    @property
    def hedge_value(self) -> np.ndarray:
        return self._hedge_value if self._hedge_value is not None else np.zeros(len(self.equity))


def simulate(
    targets: np.ndarray,
    ts: np.ndarray,
    open_: np.ndarray,
    close: np.ndarray,
    settings: BacktestSettings,
    timing: BarTiming = DEFAULT_TIMING,
    hedge: PutHedge | None = None,
    changes: np.ndarray | None = None,
) -> Simulation:
    """Fill `targets` (decided at each close) at the next opens; return cash, position and equity per bar.

    `changes`: the bars where the target changes, when the strategy gave them (see `fill_schedule`).
    """
    book, count = Book(settings), len(ts)
    fills = fill_schedule(targets, changes)
    hedge_value = None
    puts: list[hedging.LivePut] = []
    if hedge is None:
        fill_opens = open_[fills]
        check_fill_prices(fill_opens, fills, ts)
        cash_after, position_after = book.fill_many(fills, targets[fills - 1], fill_opens)
        steps = Steps.of(count, fills, cash_after, position_after, settings.initial_cash)
    else:
        hedged = _HedgedSteps(book, ts, open_, close, timing.bar_ns, hedge)
        hedged.run(fills, targets)
        steps = Steps.of(count, hedged.bars, hedged.cash, hedged.position, settings.initial_cash)
        hedge_value, puts = hedged.hedge_value, hedged.puts
    position = np.repeat(steps.position, steps.lengths)
    equity = position * close
    equity += np.repeat(steps.cash, steps.lengths)  # cash + position x close, as the event engine adds (commutes)
    if hedge_value is not None:
        equity += hedge_value
    return Simulation(book, steps, position, equity, hedge_value, puts)


@dataclass(frozen=True, slots=True)
class Steps:
    """Cash and position from each bar where the book changed to the next (the first from bar 0)."""

    lengths: np.ndarray
    cash: np.ndarray
    position: np.ndarray

    @classmethod
    def of(
        cls,
        count: int,
        bars: Sequence[int],
        cash_after: Sequence[float],
        position_after: Sequence[float],
        initial_cash: float,
    ) -> Steps:
        """Return the steps of `count` bars whose book changed at `bars` (initial cash and no position before)."""
        edges = np.empty(len(bars) + 2, dtype=np.int64)
        edges[0], edges[1:-1], edges[-1] = 0, bars, count
        cash = np.empty(len(bars) + 1)
        cash[0], cash[1:] = initial_cash, cash_after
        position = np.zeros(len(bars) + 1)
        position[1:] = position_after
        return cls(edges[1:] - edges[:-1], cash, position)


def target_array(values: Any, count: int) -> np.ndarray:
    """Return a strategy's targets as float64, checking their length (`fill_schedule` checks they are finite)."""
    targets = np.asarray(values, dtype=np.float64)
    if targets.shape != (count,):
        raise ValueError(f"strategy returned {targets.shape} targets for {count} bars")
    return targets


def fill_schedule(targets: np.ndarray, changes: np.ndarray | None = None) -> np.ndarray:
    """Return the bars whose open fills a changed target: i + 1 for each close i where the target changed.

    `changes`: the bars whose target differs from the bar before (bar 0 when its target is
    not flat), if the strategy gave them. Else they are found here, and the targets checked
    (ValueError when one is missing or infinite): every run of equal targets starts at bar 0
    or at a change (a NaN equals nothing, so each starts its own run), so checking those
    bars checks all. A change at the last close has no next bar and never fills.
    """
    count = len(targets)
    if changes is None:
        changes = (targets[1:] != targets[:-1]).nonzero()[0]
        changes += 1
        if not (np.isfinite(targets[:1]).all() and np.isfinite(targets[changes]).all()):
            raise ValueError("strategy returned a missing or infinite target")
        if count and targets[0] != 0.0:  # the target before the first close is flat
            changes = np.concatenate(([0], changes))
    if len(changes) and changes[-1] == count - 1:
        changes = changes[:-1]
    return changes + 1


class _HedgedSteps:
    """Steps the book through the bars where something happens (fills, put purchases and settlements), in bar order."""

    def __init__(
        self, book: Book, ts: np.ndarray, open_: np.ndarray, close: np.ndarray, bar_ns: int, hedge: PutHedge
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
        book, hedge, count = self.book, self.hedge, len(self.ts)
        fill_bars, fill_targets = fills.tolist(), targets[fills - 1].tolist()
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
                check_fill_price(float(self.open[bar]), int(self.ts[bar]))
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
