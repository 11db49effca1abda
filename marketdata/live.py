"""The live demo feed: each minute, the synthetic source's bar, quotes and trades of the minute that just closed."""

from __future__ import annotations

import logging
import threading

import pandas as pd
from django.db import connections

from marketdata import store
from marketdata.core.calendar import get_calendar
from marketdata.core.coordinator import SystemManager
from marketdata.models import Symbol
from marketdata.providers.synthetic import synthetic_bars, synthetic_quotes, synthetic_trades
from mdserver.db import release_pooled_connections

logger = logging.getLogger(__name__)


class SyntheticLiveFeeder:
    """Push each closed minute of synthetic data into a live session (and store the bars)."""

    def __init__(self, manager: SystemManager, symbols: dict[str, Symbol], *, poll_s: float = 1.0) -> None:
        self.manager = manager
        self.symbols = symbols
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, name="live-feed", daemon=True)
        self._last_minute: pd.Timestamp | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        try:
            while not self._stop.wait(self.poll_s):
                try:
                    self.step(self.manager.clock.now())
                except Exception:
                    logger.exception("live feed step failed")
                release_pooled_connections()
        finally:
            connections.close_all()  # give the thread's connection back (to the pool)

    def step(self, now: pd.Timestamp) -> int:
        """Push the minute that closed at or before `now`, once; return how many bars were pushed."""
        minute = now.floor("min") - pd.Timedelta(minutes=1)
        if self._last_minute is not None and minute <= self._last_minute:
            return 0
        self._last_minute = minute
        pushed = 0
        for ticker, symbol in self.symbols.items():
            calendar = get_calendar(symbol.calendar)
            day = calendar.local_date(minute)
            bars = synthetic_bars(ticker, symbol.calendar, day, day)
            bar = bars.loc[bars["ts"] == minute].reset_index(drop=True)
            if bar.empty:
                continue  # the market is closed in that minute
            store.bars_write(symbol_id=symbol.id, interval="1m", frame=bar)
            self.manager.coordinator.push("bars", ticker, bar)
            end = minute + pd.Timedelta(minutes=1)
            self.manager.coordinator.push("quotes", ticker, synthetic_quotes(ticker, symbol.calendar, minute, end))
            self.manager.coordinator.push("ticks", ticker, synthetic_trades(ticker, symbol.calendar, minute, end))
            pushed += 1
        return pushed
