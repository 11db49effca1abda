"""Session inputs and their merge: the feed protocol, session windows, the event book.

Events are merged by AVAILABILITY: a bar at its close (`ts + 1 minute`), a quote or a
tick at its `ts`. Ties break by kind (bar < derived_bar < quote < tick), then by
symbol (sorted by name), then by derived interval (as configured), then by arrival
sequence, so two runs over the same data give the same event sequence.

The merge is columnar: each (kind, symbol) stream is a sorted numpy array, and a step
takes every stream's rows up to one time with `searchsorted`; only publishing builds
one dict per event, and only when a publisher is attached.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from marketdata.core.bars import VALUE_COLUMNS
from marketdata.core.calendar import TradingCalendar, get_calendar
from marketdata.core.session_config import (
    MINUTE_NS,
    QUOTE_COLUMNS,
    TICK_COLUMNS,
    SessionConfig,
    SessionWindow,
    iso_times,
)

KIND_BAR, KIND_DERIVED, KIND_QUOTE, KIND_TICK = 0, 1, 2, 3
EVENT_TYPES = ("bar", "derived_bar", "quote", "tick")
STREAM_KINDS = {"bars": KIND_BAR, "quotes": KIND_QUOTE, "ticks": KIND_TICK}
KIND_COLUMNS: dict[int, tuple[str, ...]] = {
    KIND_BAR: tuple(VALUE_COLUMNS),
    KIND_QUOTE: QUOTE_COLUMNS,
    KIND_TICK: TICK_COLUMNS,
}
# Search this many days ahead for the next session before giving up (long closures included).
_MAX_SEARCH_DAYS = 400


# Per data type: {symbol: frame}, or one frame of all symbols with a `symbol` column.
Frames = Mapping[str, pd.DataFrame] | pd.DataFrame


@dataclass
class SessionBatch:
    """One session's data: 1m bars (bar frames), quotes (ts, bid, bid_size, ask, ask_size), ticks (ts, price, size, side).

    Each field is {symbol: frame} or one frame with a `symbol` column; `ts` is UTC-aware.
    One frame for all symbols is faster (one column read per session, not per symbol).
    The engine keeps views of the arrays: do not modify the frames afterwards.
    """

    bars: Frames = field(default_factory=dict)
    quotes: Frames = field(default_factory=dict)
    ticks: Frames = field(default_factory=dict)


class Clock(Protocol):
    """Tells the current UTC time (LiveClock, SimulatedClock, a test's manual clock).

    A replay's clock also has `advance_to(ts)`; the engine moves it only forward.
    """

    def now(self) -> pd.Timestamp: ...


class SessionFeed(Protocol):
    """Where a session's data comes from (the Django layer answers from the store, then the provider)."""

    def load_session(self, date: dt.date) -> SessionBatch:
        """Return the data of the session on `date` (a live feed returns what is known so far)."""
        ...

    def fill_gaps(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Return the 1m bars of `symbol` with `start <= ts < end` that can be found."""
        ...

    def trailing_bars(self, symbol: str, interval: str, days: int, before_date: dt.date) -> pd.DataFrame:
        """Return `interval` bars of the last `days` sessions before `before_date`."""
        ...


# ------------------------------------------------------------------------------ windows


class SessionPlan:
    """The session windows a config streams, from its calendar (weekends and holidays skipped)."""

    def __init__(self, config: SessionConfig) -> None:
        self.calendar: TradingCalendar = get_calendar(config.calendar_name)
        self._start_time = config.session_start_time
        self._end_time = config.session_end_time
        self.first_date = config.start_date
        self.last_date = config.end_date
        self._found: dict[dt.date, SessionWindow | None] = {}
        self._lock = threading.Lock()

    def _window(self, date: dt.date, open_: pd.Timestamp, close: pd.Timestamp, early: bool) -> SessionWindow | None:
        local_start = pd.Timestamp.combine(date, self._start_time).tz_localize(self.calendar.tz)
        local_end = pd.Timestamp.combine(date, self._end_time).tz_localize(self.calendar.tz)
        start = max(open_, local_start.tz_convert("UTC")).as_unit("ns")
        end = min(close, local_end.tz_convert("UTC")).as_unit("ns")
        if start >= end:
            return None
        return SessionWindow(date, start, end, open_, close, early)

    def on_or_after(self, date: dt.date) -> SessionWindow | None:
        """Return the first window on `date` or later (None past `last_date`)."""
        with self._lock:
            if date in self._found:
                return self._found[date]
        found = self._search(date)
        with self._lock:
            self._found[date] = found
        return found

    def _search(self, date: dt.date) -> SessionWindow | None:
        day = date
        while day <= date + dt.timedelta(days=_MAX_SEARCH_DAYS):
            chunk_end = day + dt.timedelta(days=13)
            if self.last_date is not None:
                chunk_end = min(chunk_end, self.last_date)
                if day > self.last_date:
                    return None
            schedule = self.calendar.schedule(day, chunk_end)
            opens, closes, early = schedule["open"], schedule["close"], schedule["early_close"].to_numpy()
            for row, stamp in enumerate(schedule.index):
                window = self._window(stamp.date(), opens.iloc[row], closes.iloc[row], bool(early[row]))
                if window is not None:
                    return window
            day = chunk_end + dt.timedelta(days=1)
        return None

    def after(self, window: SessionWindow) -> SessionWindow | None:
        """Return the window of the next trading day after `window`."""
        return self.on_or_after(window.date + dt.timedelta(days=1))

    def first(self, now: pd.Timestamp) -> SessionWindow | None:
        """Return the first window that has not ended at `now` (replay: from `first_date`)."""
        start = self.first_date if self.first_date is not None else self.calendar.local_date(now) - dt.timedelta(days=1)
        window = self.on_or_after(start)
        while window is not None and window.end <= now:
            window = self.after(window)
        return window


class SpanPlan(SessionPlan):
    """Whole calendar sessions, [open, close), cut only where they meet [start, end).

    `SessionPlan` cuts each session to `start_time`..`end_time` of the session's own
    date, which drops the evening before of a session that opens then (CME Globex)
    and the last minute of a 24-hour one. A replay of stored bars over a span wants
    every bar the calendar's sessions hold: the bars a vectorized run over the same
    span sees.
    """

    def __init__(self, config: SessionConfig, *, start: pd.Timestamp, end: pd.Timestamp) -> None:
        super().__init__(config)
        self._span_start, self._span_end = start, end

    def _window(self, date: dt.date, open_: pd.Timestamp, close: pd.Timestamp, early: bool) -> SessionWindow | None:
        start, end = max(open_, self._span_start).as_unit("ns"), min(close, self._span_end).as_unit("ns")
        return SessionWindow(date, start, end, open_, close, early) if start < end else None


# ------------------------------------------------------------------------------ streams


@dataclass(eq=False)
class Stream:
    """One (kind, symbol) input: rows sorted by availability; `pos` = first row not yet merged."""

    kind: int
    symbol: str
    rank: int
    ts: np.ndarray
    avail: np.ndarray
    columns: dict[str, np.ndarray]
    pos: int = 0

    @property
    def key(self) -> tuple[int, int]:
        return self.kind, self.rank

    def pending(self) -> Stream:
        """Return the rows not yet merged as a new stream."""
        rows = slice(self.pos, None)
        columns = {name: array[rows] for name, array in self.columns.items()}
        return Stream(self.kind, self.symbol, self.rank, self.ts[rows], self.avail[rows], columns)


def _frame_ns(frame: pd.DataFrame) -> np.ndarray:
    if "ts" not in frame.columns or not isinstance(frame["ts"].dtype, pd.DatetimeTZDtype):
        raise ValueError("data frames need a timezone-aware `ts` column")
    return frame["ts"].to_numpy(dtype="datetime64[ns]").view(np.int64)


def _frame_columns(kind: int, frame: pd.DataFrame, what: str) -> dict[str, np.ndarray]:
    columns: dict[str, np.ndarray] = {}
    for name in KIND_COLUMNS[kind]:
        if name in frame.columns:
            columns[name] = frame[name].to_numpy(dtype=object if name == "side" else np.float64)
        elif name in ("trade_count", "vwap"):
            columns[name] = np.full(len(frame), np.nan)
        else:
            raise ValueError(f"{EVENT_TYPES[kind]} frame of {what} lacks column {name!r}")
    return columns


def stream_from_arrays(
    kind: int, symbol: str, rank: int, ts: np.ndarray, columns: Mapping[str, np.ndarray], window: SessionWindow
) -> Stream:
    """Return the rows that become known inside `window`, sorted by availability (stable)."""
    avail = ts + MINUTE_NS if kind == KIND_BAR else ts
    start, end = window.start_ns, window.end_ns
    keep = (ts >= start) & ((avail <= end) if kind == KIND_BAR else (ts < end))
    order = None if keep.all() else np.flatnonzero(keep)
    kept = avail if order is None else avail[order]
    if len(kept) > 1 and not (kept[1:] >= kept[:-1]).all():
        by_time = np.argsort(kept, kind="stable")
        order = by_time if order is None else order[by_time]
    if order is None:
        return Stream(kind, symbol, rank, ts, avail, dict(columns))
    return Stream(kind, symbol, rank, ts[order], avail[order], {name: array[order] for name, array in columns.items()})


def stream_from_frame(kind: int, symbol: str, rank: int, frame: pd.DataFrame, window: SessionWindow) -> Stream:
    """Return the rows of one symbol's `frame` that become known inside `window`."""
    return stream_from_arrays(kind, symbol, rank, _frame_ns(frame), _frame_columns(kind, frame, symbol), window)


class EventBook:
    """Pending events of one session, merged by availability across streams."""

    def __init__(self, streams: Iterable[Stream] = ()) -> None:
        self.streams: dict[tuple[int, int], Stream] = {}
        self._avail = np.empty(0, dtype=np.int64)
        self._cursor = 0
        self.add(streams)

    def add(self, streams: Iterable[Stream]) -> None:
        """Merge more rows in (a live push): they follow pending rows of equal availability."""
        merged = {key: stream.pending() for key, stream in self.streams.items() if stream.pos < len(stream.avail)}
        for stream in streams:
            if not len(stream.avail):
                continue
            old = merged.get(stream.key)
            if old is not None:
                avail = np.concatenate([old.avail, stream.avail])
                order = np.argsort(avail, kind="stable")
                columns = {
                    name: np.concatenate([old.columns[name], stream.columns[name]])[order] for name in old.columns
                }
                ts = np.concatenate([old.ts, stream.ts])[order]
                stream = Stream(stream.kind, stream.symbol, stream.rank, ts, avail[order], columns)
            merged[stream.key] = stream
        self.streams = dict(sorted(merged.items()))
        parts = [stream.avail for stream in self.streams.values()]
        self._avail = np.sort(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
        self._cursor = 0

    def __len__(self) -> int:
        return len(self._avail) - self._cursor

    def next_avail(self) -> int | None:
        return int(self._avail[self._cursor]) if len(self) else None

    def cut(self, until_ns: int, max_events: int, *, to_last: bool = False) -> int:
        """Return the time up to which to take so a step holds at most `max_events` (whole instants).

        With `to_last`, return the time of the last event taken rather than `until_ns`
        (`until_ns` itself when none is pending by then).
        """
        rest = self._avail[self._cursor :]
        count = int(np.searchsorted(rest, until_ns, side="right"))
        if count > max_events:
            return int(rest[max_events - 1])
        return int(rest[count - 1]) if to_last and count else until_ns

    def take(self, until_ns: int) -> list[tuple[Stream, int, int]]:
        """Consume every event known at `until_ns`; return (stream, first row, end row) per stream."""
        taken = []
        for stream in self.streams.values():
            if stream.pos < len(stream.avail) and stream.avail[stream.pos] <= until_ns:
                end = stream.pos + int(np.searchsorted(stream.avail[stream.pos :], until_ns, side="right"))
                taken.append((stream, stream.pos, end))
                stream.pos = end
        self._cursor += int(np.searchsorted(self._avail[self._cursor :], until_ns, side="right"))
        return taken


@dataclass
class PreparedSession:
    """A session ready to stream: its window and its merged events (built off the main thread)."""

    window: SessionWindow
    book: EventBook


def symbol_ranks(config: SessionConfig) -> dict[str, int]:
    """Return each symbol's place in the tie order (sorted by name)."""
    return {symbol: rank for rank, symbol in enumerate(sorted(config.symbols))}


def streams_from_frames(kind: int, frames: Frames, window: SessionWindow, ranks: Mapping[str, int]) -> list[Stream]:
    """Return one stream per configured symbol of `frames` ({symbol: frame} or a frame with `symbol`)."""
    if not isinstance(frames, pd.DataFrame):
        return [
            stream_from_frame(kind, symbol, ranks[symbol], frame, window)
            for symbol, frame in sorted(frames.items())
            if symbol in ranks and frame is not None and len(frame)
        ]
    if len(frames) == 0:
        return []
    codes, symbols = pd.factorize(frames["symbol"])
    ts, columns = _frame_ns(frames), _frame_columns(kind, frames, "all symbols")
    order = np.argsort(codes, kind="stable")  # keeps each symbol's rows in their input order
    bounds = np.searchsorted(codes[order], np.arange(len(symbols) + 1))
    streams = []
    for code, symbol in enumerate(symbols):
        if symbol in ranks:
            rows = order[bounds[code] : bounds[code + 1]]
            part = {name: array[rows] for name, array in columns.items()}
            streams.append(stream_from_arrays(kind, symbol, ranks[symbol], ts[rows], part, window))
    return sorted(streams, key=lambda stream: stream.rank)


def prepare_session(batch: SessionBatch, window: SessionWindow, config: SessionConfig) -> PreparedSession:
    """Turn a feed's batch into the streams of the configured data types, inside `window`."""
    ranks = symbol_ranks(config)
    streams: list[Stream] = []
    for name in config.streams:
        streams.extend(streams_from_frames(STREAM_KINDS[name], getattr(batch, name), window, ranks))
    return PreparedSession(window, EventBook(streams))


# ------------------------------------------------------------------------------- events


EventMaker = Callable[[int], dict[str, Any]]


@dataclass
class EventBlock:
    """Events of one stream in one step: their merge keys and a maker that builds row i's event.

    Events are built one at a time, in merged order, right before they are published,
    so a step never holds thousands of dicts (which would also keep the garbage
    collector busy).
    """

    avail: np.ndarray
    kind: int
    rank: int
    sub: int
    make: EventMaker

    def __len__(self) -> int:
        return len(self.avail)


def bar_maker(
    event_type: str, interval: str, symbol: str, avail: np.ndarray, ts: np.ndarray, columns: Mapping[str, np.ndarray]
) -> EventMaker:
    """Make bar events: top-level `t` = when known (the close), `data.t` = the bar open."""
    known, opened = iso_times(avail), iso_times(ts)
    o, h, low, c, v = (columns[name].tolist() for name in ("open", "high", "low", "close", "volume"))

    def make(i: int) -> dict[str, Any]:
        data = {"t": opened[i], "o": o[i], "h": h[i], "l": low[i], "c": c[i], "v": v[i], "interval": interval}
        return {"type": event_type, "symbol": symbol, "t": known[i], "data": data}

    return make


def quote_maker(symbol: str, ts: np.ndarray, columns: Mapping[str, np.ndarray]) -> EventMaker:
    times = iso_times(ts)
    bid, bid_size, ask, ask_size = (columns[name].tolist() for name in QUOTE_COLUMNS)

    def make(i: int) -> dict[str, Any]:
        t = times[i]
        data = {"t": t, "bid": bid[i], "bid_size": bid_size[i], "ask": ask[i], "ask_size": ask_size[i]}
        return {"type": "quote", "symbol": symbol, "t": t, "data": data}

    return make


def tick_maker(symbol: str, ts: np.ndarray, columns: Mapping[str, np.ndarray]) -> EventMaker:
    times = iso_times(ts)
    price, size, side = (columns[name].tolist() for name in TICK_COLUMNS)

    def make(i: int) -> dict[str, Any]:
        t = times[i]
        return {
            "type": "tick",
            "symbol": symbol,
            "t": t,
            "data": {"t": t, "price": price[i], "size": size[i], "side": side[i]},
        }

    return make


def stream_block(stream: Stream, first: int, end: int) -> EventBlock:
    """Return the events of rows [first, end) of `stream`."""
    rows = slice(first, end)
    columns = {name: array[rows] for name, array in stream.columns.items()}
    if stream.kind == KIND_BAR:
        make = bar_maker("bar", "1m", stream.symbol, stream.avail[rows], stream.ts[rows], columns)
    elif stream.kind == KIND_QUOTE:
        make = quote_maker(stream.symbol, stream.ts[rows], columns)
    else:
        make = tick_maker(stream.symbol, stream.ts[rows], columns)
    return EventBlock(stream.avail[rows], stream.kind, stream.rank, 0, make)


def publish_in_order(blocks: list[EventBlock], publish: Callable[[dict[str, Any]], None]) -> None:
    """Publish the events of `blocks` in merged order (availability, kind, symbol, interval, sequence)."""
    blocks = [block for block in blocks if len(block)]
    if len(blocks) == 1:
        make = blocks[0].make
        for row in range(len(blocks[0])):
            publish(make(row))
        return
    if not blocks:
        return
    sizes = [len(block) for block in blocks]
    rows = np.concatenate([np.arange(size) for size in sizes])
    owners = np.repeat(np.arange(len(blocks)), sizes)
    order = np.lexsort(
        (
            rows,
            np.repeat([block.sub for block in blocks], sizes),
            np.repeat([block.rank for block in blocks], sizes),
            np.repeat([block.kind for block in blocks], sizes),
            np.concatenate([block.avail for block in blocks]),
        )
    )
    makers = [block.make for block in blocks]
    for owner, row in zip(owners[order].tolist(), rows[order].tolist(), strict=True):
        publish(makers[owner](row))
