"""What a running session knows, per symbol, guarded by one lock (seed design: SessionData/SymbolData).

The main coordinator thread and the data-upkeep thread write here; API readers take
`snapshot()` or copies (`bars`, `quotes`, ...) under the same lock. Writes are bulk
(numpy slices), never one Python object per event:

- 1-minute bars live on a fixed grid of the session's minutes (`BarSlots`): inserting is
  an array assignment, gaps and `bar_quality` are counts over a boolean mask.
- Derived bars (e.g. "5m") sit on the grid `resample_bars` uses: bins aligned to the
  session open, the last one cut at the close (short on half-days).
- Quotes and ticks keep the newest `max_quotes` / `max_ticks` rows in ring buffers.

Times are int64 UTC nanoseconds inside; frames and snapshots give UTC datetimes and
ISO-8601 `Z` strings.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from marketdata.core.bars import VALUE_COLUMNS, empty_bars
from marketdata.core.intervals import parse_interval
from marketdata.core.session_config import (
    MINUTE_NS,
    NS_PER_DAY,
    QUOTE_COLUMNS,
    STREAMS,
    TICK_COLUMNS,
    SessionConfig,
    SessionWindow,
    iso_time,
    iso_times,
    utc_ns,
)

__all__ = [
    "MINUTE_NS",
    "NS_PER_DAY",
    "QUOTE_COLUMNS",
    "STREAMS",
    "TICK_COLUMNS",
    "BarSlots",
    "RecordRing",
    "SessionConfig",
    "SessionData",
    "SessionWindow",
    "SymbolData",
    "aggregate_runs",
    "iso_time",
    "iso_times",
    "utc_ns",
]

UPDATED_KINDS = ("bars", "derived", "quotes", "ticks", "historical")


class BarSlots:
    """Bars of one session on a fixed grid of bins: bin i covers [starts[i], ends[i])."""

    def __init__(self, starts: np.ndarray, ends: np.ndarray) -> None:
        self.starts = np.asarray(starts, dtype=np.int64)
        self.ends = np.asarray(ends, dtype=np.int64)
        self.values = {name: np.full(len(self.starts), np.nan) for name in VALUE_COLUMNS}
        self.present = np.zeros(len(self.starts), dtype=bool)

    @classmethod
    def minutes(cls, window: SessionWindow) -> BarSlots:
        starts = window.start_ns + np.arange(window.minutes, dtype=np.int64) * MINUTE_NS
        return cls(starts, np.minimum(starts + MINUTE_NS, window.end_ns))

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def count(self) -> int:
        return int(np.count_nonzero(self.present))

    def slots_of(self, ts: np.ndarray) -> np.ndarray:
        """Return the bin of each time, -1 where no bin holds it."""
        index = np.searchsorted(self.starts, ts, side="right") - 1
        inside = (index >= 0) & (ts < self.ends[np.maximum(index, 0)]) if len(self.starts) else index >= 0
        return np.where(inside, index, -1)

    def put(self, ts: np.ndarray, columns: Mapping[str, np.ndarray], *, only_missing: bool = False) -> int:
        """Store bars by bin (a later bar for the same bin wins); return how many were stored."""
        index = self.slots_of(ts)
        keep = index >= 0
        if only_missing:
            keep &= ~self.present[np.maximum(index, 0)]
        everything = bool(keep.all())
        if not everything:
            index = index[keep]
        for name in VALUE_COLUMNS:
            self.values[name][index] = columns[name] if everything else columns[name][keep]
        self.present[index] = True
        return len(index)

    def clear(self, first: int, last: int) -> None:
        self.present[first:last] = False
        for array in self.values.values():
            array[first:last] = np.nan

    def frame(self, first: int = 0, last: int | None = None) -> pd.DataFrame:
        """Return the present bars of bins [first, last) as a normalized bar frame."""
        chosen = np.flatnonzero(self.present[first:last]) + first
        if len(chosen) == 0:
            return empty_bars()
        data: dict[str, Any] = {"ts": pd.DatetimeIndex(self.starts[chosen].view("datetime64[ns]"), tz="UTC")}
        for name in VALUE_COLUMNS:
            data[name] = self.values[name][chosen]
        return pd.DataFrame(data, copy=False)


class RecordRing:
    """The newest `capacity` records of a quote or tick stream, in columns."""

    def __init__(self, names: Sequence[str], capacity: int) -> None:
        self.capacity = capacity
        self.ts = np.zeros(capacity, dtype=np.int64)
        self.columns = {name: np.empty(capacity, dtype=object if name == "side" else np.float64) for name in names}
        self.total = 0

    def __len__(self) -> int:
        return min(self.total, self.capacity)

    def extend(self, ts: np.ndarray, columns: Mapping[str, np.ndarray]) -> None:
        count = len(ts)
        skip = max(count - self.capacity, 0)
        where = (self.total + skip + np.arange(count - skip)) % self.capacity
        self.ts[where] = ts[skip:]
        for name, array in self.columns.items():
            array[where] = columns[name][skip:]
        self.total += count

    def _order(self) -> np.ndarray:
        return (self.total - len(self) + np.arange(len(self))) % self.capacity

    def frame(self) -> pd.DataFrame:
        order = self._order()
        data: dict[str, Any] = {"ts": pd.DatetimeIndex(self.ts[order].view("datetime64[ns]"), tz="UTC")}
        data.update({name: array[order] for name, array in self.columns.items()})
        return pd.DataFrame(data)

    def last(self) -> dict[str, Any] | None:
        if not self.total:
            return None
        at = (self.total - 1) % self.capacity
        record: dict[str, Any] = {"t": iso_time(int(self.ts[at]))}
        for name, array in self.columns.items():
            value = array[at]
            record[name] = value if isinstance(value, str) else float(value)
        return record

    def clear(self) -> None:
        self.total = 0


def aggregate_runs(values: Mapping[str, np.ndarray], starts: np.ndarray) -> dict[str, np.ndarray]:
    """Reduce the runs of bars that begin at `starts` with the `resample_bars` rules.

    Open first, high max, low min, close last, volume sum, trade_count sum (NaN if
    all unknown), vwap volume-weighted with close standing in for an unknown vwap
    (NaN if the volume is 0). The engine calls this on a session's 1m grid, where
    `resample_bars` would spend its time building frames; tests hold the two equal.
    """
    close, volume, trade_count = values["close"], values["volume"], values["trade_count"]
    lasts = np.append(starts[1:], len(close)) - 1
    volume_sum = np.add.reduceat(volume, starts)
    known = ~np.isnan(trade_count)
    trade_sum = np.add.reduceat(np.where(known, trade_count, 0.0), starts)
    trade_sum[~np.logical_or.reduceat(known, starts)] = np.nan
    price = np.where(np.isnan(values["vwap"]), close, values["vwap"])
    weighted = np.add.reduceat(price * volume, starts)
    return {
        "open": values["open"][starts],
        "high": np.maximum.reduceat(values["high"], starts),
        "low": np.minimum.reduceat(values["low"], starts),
        "close": close[lasts],
        "volume": volume_sum,
        "trade_count": trade_sum,
        "vwap": np.divide(weighted, volume_sum, out=np.full(len(starts), np.nan), where=volume_sum > 0),
    }


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


@dataclass(eq=False)
class SymbolData:
    """One symbol's session state. Touch it only while holding `SessionData.lock`."""

    symbol: str
    calendar: str
    max_quotes: int
    max_ticks: int
    session_ended: bool = False
    bars_1m: BarSlots | None = None
    derived: dict[str, BarSlots] = field(default_factory=dict)
    bar_quality: float | None = 100.0
    session_volume: float = 0.0
    session_high: float = np.nan
    session_low: float = np.nan
    updated: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(UPDATED_KINDS, False))
    historical: dict[str, OrderedDict[dt.date, pd.DataFrame]] = field(default_factory=dict)
    last_quote: dict[str, Any] | None = None
    last_tick: dict[str, Any] | None = None
    # Clock time (ns) of the last request to fill each 1m slot, -1 if never asked.
    gap_attempts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    # Per derived interval: when each bin is complete (its close, or the window end).
    derived_available: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.quotes = RecordRing(QUOTE_COLUMNS, self.max_quotes)
        self.ticks = RecordRing(TICK_COLUMNS, self.max_ticks)

    def begin_session(self, window: SessionWindow, derived: Sequence[str], *, keep_bars: bool = True) -> None:
        """Reset the session fields for `window`; history and `last_*` carry over."""
        self.session_ended = False
        self.bars_1m = BarSlots.minutes(window) if keep_bars else None
        self.gap_attempts = np.full(window.minutes, -1, dtype=np.int64)
        self.derived, self.derived_available = {}, {}
        for text in derived:
            starts, ends, available = window.derived_grid(parse_interval(text))
            self.derived[text] = BarSlots(starts, ends)
            self.derived_available[text] = available
        self.bar_quality = 100.0 if keep_bars else None
        self.session_volume, self.session_high, self.session_low = 0.0, np.nan, np.nan
        self.quotes.clear()
        self.ticks.clear()

    def insert_bars(self, ts: np.ndarray, columns: Mapping[str, np.ndarray], *, only_missing: bool = False) -> int:
        """Store 1m bars of this session and refresh volume/high/low; return how many were stored."""
        if self.bars_1m is None or len(ts) == 0:
            return 0
        stored = self.bars_1m.put(ts, columns, only_missing=only_missing)
        if stored:
            present = self.bars_1m.present
            values = self.bars_1m.values
            self.session_volume = float(values["volume"][present].sum())
            self.session_high = float(values["high"][present].max())
            self.session_low = float(values["low"][present].min())
            self.updated["bars"] = True
        return stored

    def insert_quotes(self, ts: np.ndarray, columns: Mapping[str, np.ndarray]) -> None:
        if len(ts):
            self.quotes.extend(ts, columns)
            self.last_quote = self.quotes.last()
            self.updated["quotes"] = True

    def insert_ticks(self, ts: np.ndarray, columns: Mapping[str, np.ndarray]) -> None:
        if len(ts):
            self.ticks.extend(ts, columns)
            self.last_tick = self.ticks.last()
            self.updated["ticks"] = True

    def rebuild_derived(self, interval: str, first: int, last: int) -> np.ndarray:
        """Recompute derived bins [first, last) of `interval` from the 1m bars; return the bins that have a bar."""
        slots, minutes = self.derived[interval], self.bars_1m
        if last <= first or minutes is None:
            return np.empty(0, dtype=np.intp)
        low = int(np.searchsorted(minutes.starts, slots.starts[first], side="left"))
        high = int(np.searchsorted(minutes.starts, slots.ends[last - 1], side="left"))
        slots.clear(first, last)
        rows = low + np.flatnonzero(minutes.present[low:high])
        if len(rows) == 0:
            return np.empty(0, dtype=np.intp)
        bins = np.searchsorted(slots.starts, minutes.starts[rows], side="right") - 1
        runs = np.flatnonzero(np.concatenate(([True], bins[1:] != bins[:-1])))
        made = bins[runs]
        aggregated = aggregate_runs({name: array[rows] for name, array in minutes.values.items()}, runs)
        for name, array in aggregated.items():
            slots.values[name][made] = array
        slots.present[made] = True
        self.updated["derived"] = True
        return made

    def complete_bins(self, interval: str, through_ns: int, grace_ns: int = 0) -> int:
        """Return how many leading bins of `interval` are complete at `through_ns`.

        A bin is complete `grace_ns` after it ends, or as soon as it ends if its last
        minute bar is already here (live bars arrive a little after their close).
        """
        available = self.derived_available[interval]
        due = int(np.searchsorted(available, through_ns - grace_ns, side="right"))
        if grace_ns and self.bars_1m is not None and due < len(available):
            last_minute = np.searchsorted(self.bars_1m.starts, available[due:], side="left") - 1
            ready = (available[due:] <= through_ns) & self.bars_1m.present[np.maximum(last_minute, 0)]
            due += len(ready) if ready.all() else int(np.argmin(ready))
        return due

    def gap_ranges(self, through_ns: int, now_ns: int, retry_ns: int) -> list[tuple[int, int]]:
        """Return [start, end) ranges of missing 1m bars closed by `through_ns` that are due a request.

        A slot asked for within `retry_ns` (clock time) is not asked again; the ones
        returned are marked as asked at `now_ns`.
        """
        if self.bars_1m is None:
            return []
        closed = int(np.searchsorted(self.bars_1m.ends, through_ns, side="right"))
        attempts = self.gap_attempts[:closed]
        wanted = np.flatnonzero(~self.bars_1m.present[:closed] & ((attempts < 0) | (attempts <= now_ns - retry_ns)))
        if len(wanted) == 0:
            return []
        self.gap_attempts[wanted] = now_ns
        breaks = np.flatnonzero(np.diff(wanted) != 1)
        firsts = wanted[np.concatenate(([0], breaks + 1))]
        lasts = wanted[np.concatenate((breaks, [len(wanted) - 1]))]
        return list(zip(self.bars_1m.starts[firsts].tolist(), self.bars_1m.ends[lasts].tolist(), strict=True))

    def refresh_quality(self, through_ns: int) -> None:
        """Set `bar_quality`: % of the 1m bars closed by `through_ns` that are present."""
        if self.bars_1m is None:
            return
        expected = int(np.searchsorted(self.bars_1m.ends, through_ns, side="right"))
        if expected:
            self.bar_quality = round(100.0 * int(np.count_nonzero(self.bars_1m.present[:expected])) / expected, 2)
        else:
            self.bar_quality = 100.0

    def summary(self) -> dict[str, Any]:
        return {
            "bars_1m": 0 if self.bars_1m is None else self.bars_1m.count,
            "derived": {text: slots.count for text, slots in self.derived.items()},
            "bar_quality": self.bar_quality,
            "session_volume": self.session_volume,
            "session_high": _finite_or_none(self.session_high),
            "session_low": _finite_or_none(self.session_low),
            "session_ended": self.session_ended,
            "quotes": len(self.quotes),
            "ticks": len(self.ticks),
            "historical": {text: len(days) for text, days in self.historical.items()},
            "last_quote": None if self.last_quote is None else dict(self.last_quote),
            "last_tick": None if self.last_tick is None else dict(self.last_tick),
            "updated": dict(self.updated),
        }


class SessionData:
    """All symbols of one session behind ONE re-entrant lock; readers get snapshots and copies."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.symbols: dict[str, SymbolData] = {
            symbol: SymbolData(symbol, calendar, config.max_quotes, config.max_ticks)
            for symbol, calendar in sorted(config.symbols.items())
        }
        self.window: SessionWindow | None = None
        self.session_ended = False
        self.timer_expired = False
        self.errors: list[str] = []
        # Time up to which the main thread has merged every event (the gap finder looks no further).
        self.merged_through_ns = 0

    def __getitem__(self, symbol: str) -> SymbolData:
        return self.symbols[symbol]

    def begin_session(self, window: SessionWindow) -> None:
        """Start `window`: clear session fields and `session_ended` of every symbol."""
        with self.lock:
            self.window = window
            self.session_ended = False
            self.merged_through_ns = window.start_ns
            derived = self.config.derived_intervals if self.config.keeps_bars else ()
            for data in self.symbols.values():
                data.begin_session(window, derived, keep_bars=self.config.keeps_bars)

    def end_session(self, *, timer_expired: bool = False) -> None:
        with self.lock:
            self.session_ended = True
            if timer_expired and self.window is not None:
                self.timer_expired = True
                self.errors.append(f"timer_expired: no new data for session {self.window.date.isoformat()}")
            for data in self.symbols.values():
                data.session_ended = True

    def snapshot(self) -> dict[str, Any]:
        """Return a consistent, JSON-ready view of every symbol (the `GET sessions/{id}` body part)."""
        with self.lock:
            return {
                "session_date": None if self.window is None else self.window.date.isoformat(),
                "session": None if self.window is None else self.window.info(),
                "session_ended": self.session_ended,
                "timer_expired": self.timer_expired,
                "errors": list(self.errors),
                "symbols": {symbol: data.summary() for symbol, data in self.symbols.items()},
            }

    def bars(self, symbol: str, interval: str = "1m") -> pd.DataFrame:
        """Return a copy of the session's bars of `symbol` at `interval` ("1m" or a derived one)."""
        with self.lock:
            data = self.symbols[symbol]
            slots = data.bars_1m if interval == "1m" else data.derived.get(str(parse_interval(interval)))
            if slots is None:
                if interval == "1m" or str(parse_interval(interval)) in self.config.derived_intervals:
                    return empty_bars()
                raise KeyError(f"interval {interval} is not kept for this session")
            return slots.frame()

    def quotes(self, symbol: str) -> pd.DataFrame:
        with self.lock:
            return self.symbols[symbol].quotes.frame()

    def ticks(self, symbol: str) -> pd.DataFrame:
        with self.lock:
            return self.symbols[symbol].ticks.frame()

    def historical_bars(self, symbol: str, interval: str) -> pd.DataFrame:
        """Return the trailing-days bars of `symbol` at `interval`, oldest day first."""
        with self.lock:
            days = self.symbols[symbol].historical.get(str(parse_interval(interval)), {})
            frames = [frame for frame in days.values() if len(frame)]
        return pd.concat(frames, ignore_index=True) if frames else empty_bars()

    def historical_dates(self, symbol: str, interval: str) -> list[dt.date]:
        with self.lock:
            return list(self.symbols[symbol].historical.get(str(parse_interval(interval)), {}))

    def consume_updated(self, symbol: str) -> dict[str, bool]:
        """Return the `updated` flags of `symbol` and clear them (the reader's explicit call)."""
        with self.lock:
            data = self.symbols[symbol]
            flags = dict(data.updated)
            data.updated = dict.fromkeys(UPDATED_KINDS, False)
            return flags
