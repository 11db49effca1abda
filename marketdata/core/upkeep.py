"""The data-upkeep thread's work (seed design): begin and prefetch sessions, fill gaps, keep history.

`DataUpkeep.step()` does one round and returns; the coordinator's thin loop calls it
on a real thread, tests call it directly. It never holds the `SessionData` lock while
it talks to the feed: it reads what to ask for under the lock, asks without it, and
writes the answers back under it.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from marketdata.core.bars import VALUE_COLUMNS, normalize_bars, resample_bars
from marketdata.core.calendar import get_calendar
from marketdata.core.replay import Clock, PreparedSession, SessionFeed, SessionPlan, prepare_session
from marketdata.core.session_config import SessionConfig, SessionWindow, utc_ns
from marketdata.core.session_data import SessionData

logger = logging.getLogger(__name__)


def _bar_arrays(frame: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    bars = normalize_bars(frame)
    ts = bars["ts"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    return ts, {name: bars[name].to_numpy() for name in VALUE_COLUMNS}


def split_by_session(frame: pd.DataFrame, calendar_name: str) -> OrderedDict[dt.date, pd.DataFrame]:
    """Split bars into their calendar sessions (regular hours), oldest first."""
    days: OrderedDict[dt.date, pd.DataFrame] = OrderedDict()
    if frame is None or len(frame) == 0:
        return days
    bars = normalize_bars(frame)
    calendar = get_calendar(calendar_name)
    ts = bars["ts"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    first = calendar.local_date(bars["ts"].iloc[0]) - dt.timedelta(days=1)
    last = calendar.local_date(bars["ts"].iloc[-1]) + dt.timedelta(days=1)
    schedule = calendar.schedule(first, last)
    opens = schedule["open"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    closes = schedule["close"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    session = np.searchsorted(opens, ts, side="right") - 1
    inside = (session >= 0) & (ts < closes[np.maximum(session, 0)])
    for index in np.unique(session[inside]).tolist():
        rows = np.flatnonzero(inside & (session == index))
        days[schedule.index[index].date()] = bars.iloc[rows].reset_index(drop=True)
    return days


class DataUpkeep:
    """Begin sessions when due, prefetch the next (replays), fill gaps, roll trailing-days history."""

    def __init__(
        self,
        *,
        config: SessionConfig,
        session_data: SessionData,
        clock: Clock,
        feed: SessionFeed,
        plan: SessionPlan,
        sessions_out: queue.Queue[PreparedSession],
        wake_main: Callable[[], None],
        on_finished: Callable[[], None],
        grace_ns: int,
    ) -> None:
        self._config = config
        self._data = session_data
        self._clock = clock
        self._feed = feed
        self._plan = plan
        self._sessions_out = sessions_out
        self._wake_main = wake_main
        self._on_finished = on_finished
        self._grace_ns = grace_ns
        self._retry_ns = int(config.retry_s * 1e9)
        self._ended: queue.Queue[SessionWindow] = queue.Queue()
        self._started = False
        self._history_loaded = False
        self.active: SessionWindow | None = None
        self.next: SessionWindow | None = None
        self._prefetched: PreparedSession | None = None
        # The newest requests made to `feed.fill_gaps` (symbol, start, end), for status and tests.
        self.fill_requests: deque[tuple[str, pd.Timestamp, pd.Timestamp]] = deque(maxlen=1000)

    def session_ended(self, window: SessionWindow) -> None:
        """Tell the upkeep that the main thread ended `window` (called from the main thread)."""
        self._ended.put(window)

    def step(self) -> None:
        """Do one round of upkeep."""
        while True:
            try:
                ended = self._ended.get_nowait()
            except queue.Empty:
                break
            self._finish(ended)
        now = self._clock.now()
        if not self._started:
            self._started = True
            self.next = self._plan.first(now)
        if self.active is None and self.next is not None and now >= self.next.start:
            self._begin(self.next)
        if self.active is not None:
            self._fill_gaps(self.active, utc_ns(self._clock.now()))
        if not self._config.is_live and self._prefetched is None:
            upcoming = self.next if self.active is None else self._plan.after(self.active)
            if upcoming is not None and (self.active is not None or now < upcoming.start):
                self._prefetched = self._prepare(upcoming)

    # -------------------------------------------------------------------- sessions

    def _prepare(self, window: SessionWindow) -> PreparedSession:
        return prepare_session(self._feed.load_session(window.date), window, self._config)

    def _begin(self, window: SessionWindow) -> None:
        """Reset `session_data` for `window` and hand its events to the main thread."""
        prepared = self._prefetched
        if prepared is None or prepared.window != window:
            prepared = self._prepare(window)
        self._prefetched = None
        if not self._history_loaded:
            self._history_loaded = True
            self._load_history(window.date)
        self._data.begin_session(window)
        self.active, self.next = window, None
        self._sessions_out.put(prepared)
        self._wake_main()

    def _finish(self, window: SessionWindow) -> None:
        """After a session ends: last try at its gaps, append it to history, plan the next (or finish)."""
        self._fill_gaps(window, utc_ns(self._clock.now()), final=True)
        self._roll_history(window)
        self.active = None
        self.next = self._plan.after(window)
        if self.next is None:
            self._on_finished()

    # ------------------------------------------------------------------------ gaps

    def _fill_gaps(self, window: SessionWindow, now_ns: int, *, final: bool = False) -> None:
        """Ask the feed for missing 1m bars between the session start and now; store what it finds."""
        data = self._data
        with data.lock:
            if data.window != window or not data.config.keeps_bars:
                return
            through = window.end_ns if final else min(data.merged_through_ns, now_ns - self._grace_ns)
            wanted = {
                symbol: ranges
                for symbol, symbol_data in data.symbols.items()
                if (ranges := symbol_data.gap_ranges(through, now_ns, self._retry_ns))
            }
        if not wanted:
            return
        found: dict[str, list[pd.DataFrame]] = {}
        for symbol, ranges in wanted.items():
            for start, end in ranges:
                start_ts, end_ts = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
                self.fill_requests.append((symbol, start_ts, end_ts))
                try:
                    frame = self._feed.fill_gaps(symbol, start_ts, end_ts)
                except Exception:
                    # A provider outage must not end the session: the slots are retried in a minute.
                    logger.exception("filling %s %s..%s failed", symbol, start_ts, end_ts)
                    continue
                if frame is not None and len(frame):
                    found.setdefault(symbol, []).append(frame)
        with data.lock:
            if data.window != window:
                return
            for symbol in wanted:
                symbol_data = data.symbols[symbol]
                stored = 0
                for frame in found.get(symbol, []):
                    ts, columns = _bar_arrays(frame)
                    stored += symbol_data.insert_bars(ts, columns, only_missing=True)
                if stored:
                    self._rebuild_closed_derived(symbol, through)
                symbol_data.refresh_quality(max(through, data.merged_through_ns - self._grace_ns))

    def _rebuild_closed_derived(self, symbol: str, through_ns: int) -> None:
        symbol_data = self._data.symbols[symbol]
        for text, available in symbol_data.derived_available.items():
            closed = int(np.searchsorted(available, through_ns, side="right"))
            symbol_data.rebuild_derived(text, 0, closed)

    # --------------------------------------------------------------------- history

    def _load_history(self, before: dt.date) -> None:
        days, intervals = self._config.historical_bars_trailing_days, self._config.historical_bars_types
        if not days or not intervals:
            return
        loaded: dict[str, dict[str, Any]] = {}
        for symbol, calendar_name in self._config.symbols.items():
            for text in intervals:
                frame = self._feed.trailing_bars(symbol, text, days, before)
                split = split_by_session(frame, calendar_name)
                while len(split) > days:
                    split.popitem(last=False)
                loaded.setdefault(symbol, {})[text] = split
        with self._data.lock:
            for symbol, by_interval in loaded.items():
                symbol_data = self._data.symbols[symbol]
                symbol_data.historical.update(by_interval)
                symbol_data.updated["historical"] = True

    def _roll_history(self, window: SessionWindow) -> None:
        """Append the finished session to the trailing days and drop the oldest day."""
        days, intervals = self._config.historical_bars_trailing_days, self._config.historical_bars_types
        if not days or not intervals or not self._config.keeps_bars:
            return
        with self._data.lock:
            if self._data.window != window:
                return
            minutes = {symbol: data.bars_1m.frame() for symbol, data in self._data.symbols.items() if data.bars_1m}
        session_bars = {
            symbol: {
                text: frame if text == "1m" or len(frame) == 0 else resample_bars(frame, text, window.schedule)
                for text in intervals
            }
            for symbol, frame in minutes.items()
        }
        with self._data.lock:
            for symbol, by_interval in session_bars.items():
                symbol_data = self._data.symbols[symbol]
                for text, frame in by_interval.items():
                    history = symbol_data.historical.setdefault(text, OrderedDict())
                    history[window.date] = frame
                    while len(history) > days:
                        history.popitem(last=False)
                symbol_data.updated["historical"] = True
