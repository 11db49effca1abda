"""Session settings and windows, and the time formatting the session engine shares.

`SessionConfig` says what a session streams; `SessionWindow` is one session's
[start, end) in UTC inside its calendar session. Times are int64 UTC nanoseconds
inside the engine and ISO-8601 `Z` strings in events and snapshots.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from typing import Any

import numpy as np
import pandas as pd

from marketdata.core.intervals import Interval, can_derive, parse_interval

MINUTE_NS = 60_000_000_000
NS_PER_DAY = 86_400_000_000_000
# Below this many values a Python loop formats times faster than numpy string ops.
_FEW_TIMES = 24
MINUTE = parse_interval("1m")
STREAMS = ("bars", "quotes", "ticks")
QUOTE_COLUMNS = ("bid", "bid_size", "ask", "ask_size")
TICK_COLUMNS = ("price", "size", "side")


@cache
def _time_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return "HH:MM:SS" for every second of a day, ".mmm" and "uuu" for 0..999 (built once)."""
    seconds = np.strings.slice(np.datetime_as_string(np.arange(86_400).astype("datetime64[s]")), 11, None)
    thousand = np.strings.slice(np.datetime_as_string(np.arange(1000).astype("datetime64[ms]")), 19, None)
    # Narrow dtypes: string ops cost by width, and slices keep the source's.
    return seconds.astype("U8"), thousand.astype("U4"), np.strings.slice(thousand, 1, None).astype("U3")


def iso_times(ns: np.ndarray) -> list[str]:
    """Format UTC nanoseconds as ISO-8601 `Z` strings: whole seconds without a fraction, else microseconds.

    Built from lookup tables: `np.datetime_as_string` costs about a microsecond per value.
    """
    values = np.asarray(ns, dtype=np.int64)
    if len(values) < _FEW_TIMES:
        return [iso_time(value) for value in values.tolist()]
    seconds, millis, micros = _time_tables()
    days = values // NS_PER_DAY
    day_seconds = (values - days * NS_PER_DAY) // 1_000_000_000
    if (days == days[0]).all():
        prefix = str(np.datetime64(int(days[0]), "D")) + "T"
        text = np.strings.add(prefix, seconds[day_seconds])
    else:
        unique_days, inverse = np.unique(days, return_inverse=True)
        prefixes = np.strings.add(np.datetime_as_string(unique_days.astype("datetime64[D]")), "T")
        text = np.strings.add(prefixes[inverse], seconds[day_seconds])
    fraction = (values % 1_000_000_000) // 1000
    fractional = fraction != 0
    if fractional.any():
        digits = np.strings.add(millis[fraction // 1000], micros[fraction % 1000])
        text = np.strings.add(text, digits if fractional.all() else np.where(fractional, digits, ""))
    return np.strings.add(text, "Z").tolist()


@cache
def _second_texts() -> list[str]:
    return _time_tables()[0].tolist()


@lru_cache(maxsize=64)
def _day_prefix(day: int) -> str:
    return f"{np.datetime64(day, 'D')}T"


def iso_time(ns: int) -> str:
    """Format one UTC nanosecond time like `iso_times`."""
    day, rest = divmod(int(ns), NS_PER_DAY)
    second, nanos = divmod(rest, 1_000_000_000)
    text = _day_prefix(day) + _second_texts()[second]
    micros = nanos // 1000
    return f"{text}.{micros:06d}Z" if micros else f"{text}Z"


def utc_ns(ts: pd.Timestamp) -> int:
    """Return a UTC-aware timestamp as int nanoseconds."""
    return int(pd.Timestamp(ts).as_unit("ns").value)


def _parse_hhmm(text: str, name: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a market-local time like '09:30', got {text!r}") from None


def _history_interval(value: int | str) -> str:
    return f"{value}m" if isinstance(value, int) and not isinstance(value, bool) else str(parse_interval(str(value)))


@dataclass(frozen=True)
class SessionConfig:
    """What a session streams: symbols (symbol -> calendar name), dates, hours, data and pace.

    Omit `start_date`/`end_date` for a live session. `start_time`/`end_time` are
    market-local and are cut to the calendar's session (half-days end early).
    `historical_bars_types` are minutes (1, 5) or intervals ("15m"); `speed` is
    simulated seconds per wall second (0 = as fast as possible); `timeout_s` is wall
    time without new data before a replay session ends with `timer_expired`.
    """

    symbols: Mapping[str, str]
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    start_time: str = "09:30"
    end_time: str = "16:00"
    historical_bars_trailing_days: int = 0
    historical_bars_types: Sequence[int | str] = ()
    derived_intervals: Sequence[str] = ()
    streams: Sequence[str] = STREAMS
    speed: float = 0.0
    timeout_s: float = 60.0
    max_quotes: int = 10_000
    max_ticks: int = 10_000
    max_step_events: int = 20_000
    live_grace_s: float = 2.0
    retry_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("symbols must name at least one symbol")
        object.__setattr__(self, "symbols", dict(self.symbols))
        if (self.start_date is None) != (self.end_date is None):
            raise ValueError("give both start_date and end_date (replay) or neither (live)")
        if self.start_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        if _parse_hhmm(self.end_time, "end_time") <= _parse_hhmm(self.start_time, "start_time"):
            raise ValueError("end_time must be after start_time")
        unknown = sorted(set(self.streams) - set(STREAMS))
        if unknown:
            raise ValueError(f"unknown streams {unknown}; choose from {list(STREAMS)}")
        object.__setattr__(self, "streams", tuple(name for name in STREAMS if name in self.streams))
        derived = tuple(str(parse_interval(text)) for text in self.derived_intervals)
        for text in derived:
            interval = parse_interval(text)
            if interval == MINUTE or not can_derive(interval, MINUTE) or (interval.is_daily and interval.count > 1):
                raise ValueError(f"derived interval {text} cannot be built within a session from 1m bars")
        object.__setattr__(self, "derived_intervals", derived)
        types = tuple(_history_interval(value) for value in self.historical_bars_types)
        object.__setattr__(self, "historical_bars_types", types)
        if self.historical_bars_trailing_days < 0:
            raise ValueError("historical_bars_trailing_days must be >= 0")
        if self.speed < 0 or self.timeout_s <= 0:
            raise ValueError("speed must be >= 0 and timeout_s > 0")
        if min(self.max_quotes, self.max_ticks, self.max_step_events) < 1:
            raise ValueError("max_quotes, max_ticks and max_step_events must be >= 1")

    @property
    def is_live(self) -> bool:
        return self.start_date is None

    @property
    def calendar_name(self) -> str:
        """Return the calendar that sets session days and hours: the first symbol's."""
        return next(iter(self.symbols.values()))

    @property
    def session_start_time(self) -> dt.time:
        return _parse_hhmm(self.start_time, "start_time")

    @property
    def session_end_time(self) -> dt.time:
        return _parse_hhmm(self.end_time, "end_time")

    @property
    def keeps_bars(self) -> bool:
        return "bars" in self.streams


@dataclass(frozen=True)
class SessionWindow:
    """One session's streaming window [start, end) in UTC, inside the calendar's [open, close)."""

    date: dt.date
    start: pd.Timestamp
    end: pd.Timestamp
    open: pd.Timestamp
    close: pd.Timestamp
    early_close: bool = False

    @property
    def start_ns(self) -> int:
        return utc_ns(self.start)

    @property
    def end_ns(self) -> int:
        return utc_ns(self.end)

    @property
    def minutes(self) -> int:
        return -(-(self.end_ns - self.start_ns) // MINUTE_NS)

    @cached_property
    def schedule(self) -> pd.DataFrame:
        """This session as a one-row schedule (the `sessions` argument of `resample_bars`)."""
        return pd.DataFrame(
            {
                "open": pd.DatetimeIndex([self.open]).as_unit("ns"),
                "close": pd.DatetimeIndex([self.close]).as_unit("ns"),
                "early_close": [self.early_close],
            },
            index=pd.DatetimeIndex([pd.Timestamp(self.date)], name="date"),
        )

    def info(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "start": iso_time(self.start_ns),
            "end": iso_time(self.end_ns),
            "early_close": self.early_close,
        }

    def derived_grid(self, interval: Interval) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (starts, ends, available) of the `interval` bins that meet the window.

        Bins start at `open + k * interval` (the `resample_bars` grid) and end at the
        close at the latest; a bin is complete when the window ends, if earlier.
        """
        open_ns, close_ns, start_ns, end_ns = utc_ns(self.open), utc_ns(self.close), self.start_ns, self.end_ns
        if interval.is_daily:
            starts = np.array([open_ns], dtype=np.int64)
        else:
            step = interval.nanoseconds
            first = (start_ns - open_ns) // step
            last = -(-(end_ns - open_ns) // step)
            starts = open_ns + np.arange(first, last, dtype=np.int64) * step
        ends = close_ns if interval.is_daily else np.minimum(starts + interval.nanoseconds, close_ns)
        ends = np.broadcast_to(ends, starts.shape).astype(np.int64)
        return starts, ends, np.minimum(ends, end_ns)
