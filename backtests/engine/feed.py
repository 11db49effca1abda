"""Bars as the engines take them: a normalized frame, or bar events in availability order.

A bar event arrives at the bar's CLOSE and carries the bar's OPEN time, like the
session engine's WebSocket bar message `{t, o, h, l, c, v, interval}`. Accepted
shapes: a `Bar`, a tuple/list `(t, o, h, l, c, v)`, or a mapping with `t`/`ts`,
`o`/`open`, `h`/`high`, `l`/`low`, `c`/`close`, `v`/`volume`. `t` may be int
nanoseconds since the epoch (UTC), a timezone-aware datetime or pd.Timestamp, or
an ISO-8601 string with an offset (`2024-01-02T14:30:00Z`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from backtests.engine.params import BarDataError

UTC_NS = pd.DatetimeTZDtype("ns", "UTC")
_KEYS = (("t", "ts"), ("o", "open"), ("h", "high"), ("l", "low"), ("c", "close"), ("v", "volume"))


class Bar(NamedTuple):
    """One bar: `ts` is its open time in UTC nanoseconds."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    def scaled(self, factor: float) -> Bar:
        """Return the bar with prices multiplied by `factor` (volume kept)."""
        if factor == 1.0:
            return self
        return Bar(self.ts, self.open * factor, self.high * factor, self.low * factor, self.close * factor, self.volume)


def to_bar(event: Any) -> Bar:
    """Return `event` as a `Bar` (see the module docstring for the accepted shapes)."""
    if isinstance(event, Bar):
        return event
    if isinstance(event, Mapping):
        values = [_pick(event, keys) for keys in _KEYS]
    elif isinstance(event, tuple | list) and len(event) >= 6:
        values = list(event[:6])
    else:
        raise ValueError(f"not a bar event: {event!r}")
    return Bar(to_ns(values[0]), *(float(value) for value in values[1:]))


def _pick(event: Mapping[str, Any], keys: tuple[str, str]) -> Any:
    for key in keys:
        if key in event:
            return event[key]
    raise ValueError(f"bar event lacks {keys[0]!r} (or {keys[1]!r}): {dict(event)!r}")


def to_ns(value: Any) -> int:
    """Return a bar time as UTC nanoseconds; naive datetimes are refused."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[ns]").astype(np.int64))
    if isinstance(value, str | dt.datetime):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is None:
            raise ValueError(f"bar time {value!r} has no UTC offset")
        return int(stamp.as_unit("ns").value)
    raise ValueError(f"bar time {value!r} is not a time")


def utc_index(ns: np.ndarray, name: str | None = None) -> pd.DatetimeIndex:
    """Return UTC nanoseconds as a DatetimeIndex (the dtype route skips a slow tz-localize pass)."""
    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("datetime64[ns]"), dtype=UTC_NS, name=name)


class FrameColumns(NamedTuple):
    """The checked columns of a bar frame: `ts` as the frame holds it and as UTC ns, then float64 arrays."""

    times: pd.Series
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


def frame_columns(bars: pd.DataFrame) -> FrameColumns:
    """Return the columns of a bar frame sorted by `ts`, checking names, time order and finite prices."""
    columns = bars.columns
    missing = [name for name in ("ts", "open", "high", "low", "close") if name not in columns]
    if missing:
        raise ValueError(f"bar frame is missing columns: {', '.join(missing)}")
    times = bars["ts"]
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        raise ValueError(f"ts must be timezone-aware datetimes (UTC), got dtype {times.dtype}")
    if times.dtype.unit == "ns":
        ts = times.array.asi8  # the column's own memory, as to_numpy(dtype="datetime64[ns]") gives it
        ts.flags.writeable = False
    else:
        ts = times.to_numpy(dtype="datetime64[ns]").view(np.int64)
    if len(ts) > 1 and not (ts[1:] > ts[:-1]).all():
        raise ValueError("bar times must be strictly increasing")
    prices = [_floats(bars[name]) for name in ("open", "high", "low", "close")]
    volume = _floats(bars["volume"]) if "volume" in columns else np.zeros(len(ts))
    for name, values in zip(("open", "high", "low", "close"), prices, strict=True):
        if not np.isfinite(values).all():
            raise ValueError(f"bar column {name} has missing or infinite values")
    return FrameColumns(times, ts, *prices, volume)


def _floats(column: pd.Series) -> np.ndarray:
    """Return a column as float64 (to_numpy without a dtype is faster when it is float64 already)."""
    return column.to_numpy() if column.dtype == np.float64 else column.to_numpy(dtype=np.float64)


def bar_columns(bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (ts ns, open, high, low, close, volume) arrays of a bar frame sorted by `ts`."""
    return frame_columns(bars)[1:]


def bar_events(bars: pd.DataFrame) -> Iterator[Bar]:
    """Yield the bars of a frame as events in availability order (each known at its close)."""
    ts, open_, high, low, close, volume = bar_columns(bars)
    columns = (ts.tolist(), open_.tolist(), high.tolist(), low.tolist(), close.tolist(), volume.tolist())
    for values in zip(*columns, strict=True):
        yield Bar(*values)


def iso_time(ns: int) -> str:
    """Return UTC nanoseconds as ISO-8601 with `Z`, the way the API writes times."""
    return pd.Timestamp(int(ns), unit="ns", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def price_factor(first_close: float, start_price: float, first_ns: int) -> float:
    """Return the factor that rescales prices so the first close is `start_price` (0 = no rescale).

    Raise `BarDataError` on `start_price` when no positive, finite factor does it.
    """
    if start_price == 0:
        return 1.0
    if not first_close > 0:
        raise BarDataError(
            "start_price",
            f"cannot rescale prices to start_price: the first close, at {iso_time(first_ns)}, is {first_close:g}; "
            "set start_price to 0 to keep the prices",
        )
    factor = start_price / first_close
    if not math.isfinite(factor):
        raise BarDataError(
            "start_price", f"{start_price:g} is too large for a first close of {first_close:g}: prices overflow"
        )
    return factor
