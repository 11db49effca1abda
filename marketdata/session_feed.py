"""Feed a session engine from the store: session data, gap fills (store, then a provider), trailing bars."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading

import pandas as pd
from django.db import connections

from marketdata import selectors, store
from marketdata.core.calendar import get_calendar
from marketdata.core.intervals import parse_interval
from marketdata.core.replay import SessionBatch
from marketdata.models import Symbol

logger = logging.getLogger(__name__)


def _closes_connections(method):
    """Close the calling thread's database connections afterwards: the engine's threads end without Django."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        finally:
            if threading.current_thread() is not threading.main_thread():
                connections.close_all()

    return wrapper


class StoreFeed:
    """Answer the engine's `SessionFeed` questions from the bar, trade and quote tables.

    `gap_source` names a provider (e.g. "synthetic", "databento") asked for 1m bars the
    store lacks; what it returns is stored, so the next session (or user) finds it.
    """

    def __init__(self, symbols: dict[str, Symbol], *, streams: tuple[str, ...], gap_source: str | None = None) -> None:
        self.symbols = symbols
        self.streams = streams
        self.gap_source = gap_source

    def _window(self, symbol: Symbol, date: dt.date) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        calendar = get_calendar(symbol.calendar)
        session = calendar.session_on(date)
        if session is None:
            return None
        return session["open"], session["close"]

    @_closes_connections
    def load_session(self, date: dt.date) -> SessionBatch:
        """Return the session's data as one frame per data type with a `symbol` column (the engine's fast path)."""
        parts: dict[str, list[pd.DataFrame]] = {"bars": [], "quotes": [], "ticks": []}
        readers = {"bars": lambda s, a, b: store.bars_read(symbol_id=s.id, interval="1m", start=a, end=b),
                   "quotes": lambda s, a, b: store.quotes_read(symbol_id=s.id, start=a, end=b),
                   "ticks": lambda s, a, b: store.trades_read(symbol_id=s.id, start=a, end=b)}  # fmt: skip
        for ticker, symbol in self.symbols.items():
            window = self._window(symbol, date)
            if window is None:
                continue
            for stream in self.streams:
                frame = readers[stream](symbol, *window)
                if len(frame):
                    parts[stream].append(frame.assign(symbol=ticker))
        combined = {
            stream: pd.concat(frames, ignore_index=True).sort_values("ts", kind="stable", ignore_index=True)
            for stream, frames in parts.items()
            if frames
        }
        return SessionBatch(**combined)

    @_closes_connections
    def fill_gaps(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        found = self.symbols[symbol]
        stored = store.bars_read(symbol_id=found.id, interval="1m", start=start, end=end)
        if self.gap_source is None:
            return stored
        from marketdata.services.fetches import FetchSpec, fetch_run
        from mdserver.api import ApplicationError

        try:
            fetch_run(spec=FetchSpec(source=self.gap_source, symbol_id=found.id, schema="1m", start=start, end=end))
        except ApplicationError as exc:
            logger.warning("gap fill of %s from %s failed: %s", symbol, self.gap_source, exc.message)
            return stored
        return store.bars_read(symbol_id=found.id, interval="1m", start=start, end=end)

    @_closes_connections
    def trailing_bars(self, symbol: str, interval: str, days: int, before_date: dt.date) -> pd.DataFrame:
        found = self.symbols[symbol]
        calendar = get_calendar(found.calendar)
        sessions = calendar.previous_sessions(before_date, days)
        if len(sessions) == 0:
            return store.bars_read(symbol_id=found.id, interval="1m", limit=0)
        page = selectors.bars_page(
            symbol=found, interval=parse_interval(interval), start=sessions["open"].iloc[0],
            end=sessions["close"].iloc[-1], limit=100_000,
        )  # fmt: skip
        return page.bars
