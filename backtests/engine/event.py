"""The event-driven engine: bars arrive one at a time, each at its close.

Feed it any iterable of bar events in availability order (see feed.py), such as the
session engine's replay stream, or call `EventBacktest.on_bar` yourself. At each bar:
1. the target decided at the previous close fills at this bar's open;
2. a protective put is bought at this open if a position is held and none is live;
3. at the close, a put at or past expiry settles, a live one is marked;
4. equity = cash + position x close + puts is recorded, and the strategy decides the
   next target from this bar and those before it.
Nothing reads a later bar: the engine cannot look ahead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from backtests.engine import hedging
from backtests.engine.feed import Bar, price_factor, to_bar
from backtests.engine.fills import Book, check_fill_price
from backtests.engine.params import DEFAULT_TIMING, BacktestSettings, BarTiming
from backtests.engine.result import BacktestResult, assemble
from backtests.engine.strategies import get_strategy, validate_params


class EventBacktest:
    """One strategy run fed bar by bar; `result()` may be called at any point."""

    def __init__(
        self,
        strategy: str,
        params: Mapping[str, Any] | None = None,
        settings: BacktestSettings | None = None,
        timing: BarTiming = DEFAULT_TIMING,
    ) -> None:
        self.strategy = get_strategy(strategy)
        self.params = validate_params(strategy, params)
        self.settings = settings or BacktestSettings()
        self.timing = timing
        self.book = Book(self.settings)
        self.hedge = self.strategy.hedge(self.params)
        self.state = self.strategy.initial_state(self.params)
        self.factor: float | None = None
        self.target = 0.0  # decided at the last close, fills at the next open
        self.held_target = 0.0  # the target the book holds
        self.live_put: hedging.LivePut | None = None
        self.puts: list[hedging.LivePut] = []
        self.last_ns: int | None = None
        self._ts: list[int] = []
        self._close: list[float] = []
        self._targets: list[float] = []
        self._position: list[float] = []
        self._equity: list[float] = []
        self._hedge_value: list[float] = []

    def on_bar(self, event: Any) -> float:
        """Process one closed bar; return the target decided at its close."""
        bar = to_bar(event)
        if self.last_ns is not None and bar.ts <= self.last_ns:
            raise ValueError(f"bar at {bar.ts} ns arrived after the bar at {self.last_ns} ns: events must be in order")
        self.last_ns = bar.ts
        if self.factor is None:
            self.factor = price_factor(bar.close, self.settings.start_price, bar.ts)
        bar = bar.scaled(self.factor)
        book = self.book
        if self.target != self.held_target:
            check_fill_price(bar.open, bar.ts)
            book.rebalance(self.target, len(self._ts), bar.open)
            self.held_target = self.target
        put_value = 0.0
        if self.hedge is not None:
            put_value = self._hedge_at(bar)
        self._ts.append(bar.ts)
        self._close.append(bar.close)
        self._position.append(book.position)
        self._equity.append(book.cash + book.position * bar.close + put_value)
        self._hedge_value.append(put_value)
        self.target = float(self.strategy.on_bar(self.state, bar))
        self._targets.append(self.target)
        return self.target

    def _hedge_at(self, bar: Bar) -> float:
        assert self.hedge is not None
        if self.live_put is None and self.book.position != 0.0:
            self.live_put = hedging.buy_put(self.book, self.hedge, bar.ts, bar.open)
            self.puts.append(self.live_put)
        put = self.live_put
        if put is None:
            return 0.0
        close_ns = bar.ts + self.timing.bar_ns
        if close_ns >= put.expiry_ns:
            hedging.settle_put(self.book, put, close_ns, bar.close)
            self.live_put = None
            return 0.0
        return hedging.put_value(put, self.hedge, close_ns, bar.close)

    def run(self, events: Iterable[Any]) -> BacktestResult:
        """Feed every event, then return the result."""
        for event in events:
            self.on_bar(event)
        return self.result()

    def result(self) -> BacktestResult:
        """Return the result of the bars seen so far (an open trade is marked at the last close)."""
        return assemble(
            strategy=self.strategy.name,
            params=self.params,
            settings=self.settings,
            timing=self.timing,
            ts_ns=np.array(self._ts, dtype=np.int64),
            close=np.array(self._close, dtype=np.float64),
            targets=np.array(self._targets, dtype=np.float64),
            position=np.array(self._position, dtype=np.float64),
            equity=np.array(self._equity, dtype=np.float64),
            book=self.book,
            hedge_value=np.array(self._hedge_value, dtype=np.float64) if self.hedge is not None else None,
            puts=self.puts,
        )


def run_event(
    events: Iterable[Any],
    strategy: str,
    params: Mapping[str, Any] | None = None,
    settings: BacktestSettings | None = None,
    timing: BarTiming = DEFAULT_TIMING,
) -> BacktestResult:
    """Run `strategy` over bar events in availability order (see feed.py for their shapes)."""
    return EventBacktest(strategy, params, settings, timing).run(events)
