"""Data Manager statistics, point-in-time.

Every function answers with what could be known at `at` (SPEC.md, Availability):

- `bars` is a normalized bar frame of one symbol at the base interval (`interval_s`,
  1 minute by default), sorted by `ts` (bar OPEN time). It may hold bars after `at`.
- A bar counts only once closed: `ts + interval <= at`. The bar still forming at `at`
  and every later bar are ignored.
- Only regular-session bars count: `ts` in a session's [open, close).
- A session is FULL at `at` when its close is at or before `at`. "The last N full
  sessions" are the N latest sessions with close <= at, so when `at` falls inside a
  session that session is excluded, and when the market is closed the session that
  closed last is included.
- A full session without a single bar is MISSING DATA: it is left out of averages and
  counted in `missing_days` (the window is not widened to replace it). A session with
  some bars counts with the volume it has: providers omit minutes without trades, so
  an absent minute inside a session reads as zero volume.
- The CURRENT session (`session_volume`, `session_high_low`) is the session containing
  `at`; when the market is closed, the session dated `at`'s market-local date if there
  is one (before its open: nothing yet; after its close: the whole session), otherwise
  the latest session that closed before `at` (a weekend shows Friday).

Times are returned as UTC pd.Timestamps, session dates as datetime.date.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from marketdata.core.calendar import TradingCalendar, as_utc

DEFAULT_INTERVAL_S = 60
NS_PER_SECOND = 1_000_000_000


# ----------------------------------------------------------------------- helpers


def _ts_ns(values: pd.DataFrame | pd.Series | pd.Index | np.ndarray) -> np.ndarray:
    """Return bar open times as int64 UTC nanoseconds (a bar frame's `ts` or the times themselves)."""
    if isinstance(values, pd.DataFrame):
        values = values["ts"]
    index = pd.DatetimeIndex(values)
    if index.tz is None:
        raise ValueError("bar times must be timezone-aware (UTC)")
    return index.tz_convert("UTC").as_unit("ns").asi8


def _interval_ns(interval_s: float) -> int:
    if not interval_s > 0:
        raise ValueError(f"interval_s must be positive, got {interval_s}")
    return int(round(interval_s * NS_PER_SECOND))


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(value)


def _known(
    bars: pd.DataFrame, at: pd.Timestamp, interval_ns: int, sessions: pd.DataFrame | None = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """Return (open times in ns, rows) of the bars closed by `at`, within the span of `sessions` if given.

    Bars are sorted, so both limits cut a contiguous slice.
    """
    ts = _ts_ns(bars)
    first, last = 0, int(np.searchsorted(ts, at.value - interval_ns, side="right"))
    if sessions is not None:
        if sessions.empty:
            return ts[:0], bars.iloc[:0]
        first = int(np.searchsorted(ts, sessions["open"].iloc[0].value, side="left"))
        last = min(last, int(np.searchsorted(ts, sessions["close"].iloc[-1].value, side="left")))
        last = max(first, last)
    return ts[first:last], bars.iloc[first:last]


def _column(rows: pd.DataFrame, name: str) -> np.ndarray:
    return rows[name].to_numpy(dtype=np.float64, na_value=np.nan)


def _session_index(ts: np.ndarray, sessions: pd.DataFrame) -> np.ndarray:
    """Return per bar the position in `sessions` whose [open, close) holds it, -1 outside them."""
    if sessions.empty or len(ts) == 0:
        return np.full(len(ts), -1, dtype=np.int64)
    opens = sessions["open"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    closes = sessions["close"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    position = np.searchsorted(opens, ts, side="right") - 1
    inside = (position >= 0) & (ts < closes[np.maximum(position, 0)])
    return np.where(inside, position, -1)


def _per_session(
    ts: np.ndarray, rows: pd.DataFrame, sessions: pd.DataFrame, until: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return per session: volume, bar count, and the volume of bars closed by `until` (ns per session)."""
    index = _session_index(ts, sessions)
    inside = index >= 0
    session = index[inside]
    volume = _column(rows, "volume")[inside]
    size = len(sessions)
    totals = np.bincount(session, weights=volume, minlength=size)
    counts = np.bincount(session, minlength=size)
    if until is None:
        return totals, counts, totals
    before = ts[inside] <= until[session]
    partial = np.bincount(session[before], weights=volume[before], minlength=size)
    return totals, counts, partial


def _dates(sessions: pd.DataFrame) -> list[dt.date]:
    return [stamp.date() for stamp in pd.DatetimeIndex(sessions.index)]


def _mean_over_sessions(values: np.ndarray, counts: np.ndarray, sessions: pd.DataFrame) -> dict[str, Any]:
    """Return `{value, days, missing_days, from, to}`: the mean of `values` over sessions with bars."""
    has_data = counts > 0
    dates = _dates(sessions)
    return {
        "value": float(values[has_data].mean()) if has_data.any() else None,
        "days": int(has_data.sum()),
        "missing_days": int(len(sessions) - has_data.sum()),
        "from": dates[0] if dates else None,
        "to": dates[-1] if dates else None,
    }


def _current_session(calendar: TradingCalendar, at: pd.Timestamp) -> pd.DataFrame:
    """Return, as a one-row schedule, the session `session_volume` and `session_high_low` report on.

    See the module docstring; the frame is empty when the calendar has no session before `at`.
    """
    session = calendar.session_at(at)
    if session is not None:
        day = pd.Timestamp(session.name).date()
        return calendar.schedule(day, day)
    today = calendar.local_date(at)
    if calendar.is_session(today):
        return calendar.schedule(today, today)
    return calendar.recent_sessions(at, 1, closed=True)


def _extremes(ts: np.ndarray, rows: pd.DataFrame) -> dict[str, Any]:
    """Return {high, high_at, low, low_at}; ties go to the earliest bar, NaN prices are skipped."""
    high, low = _column(rows, "high"), _column(rows, "low")
    if not np.isfinite(high).any() or not np.isfinite(low).any():
        return {"high": None, "high_at": None, "low": None, "low_at": None}
    top, bottom = int(np.nanargmax(high)), int(np.nanargmin(low))
    return {
        "high": float(high[top]),
        "high_at": pd.Timestamp(int(ts[top]), tz="UTC"),
        "low": float(low[bottom]),
        "low_at": pd.Timestamp(int(ts[bottom]), tz="UTC"),
    }


def _session_bars(
    ts: np.ndarray, rows: pd.DataFrame, sessions: pd.DataFrame
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """Keep the bars inside `sessions`; return (ts, rows, session position)."""
    index = _session_index(ts, sessions)
    inside = index >= 0
    return ts[inside], rows.iloc[np.flatnonzero(inside)], index[inside]


# --------------------------------------------------------------------- volume


def average_volume(
    bars: pd.DataFrame,
    calendar: TradingCalendar,
    at: pd.Timestamp | dt.datetime,
    days: int,
    interval_s: float = DEFAULT_INTERVAL_S,
) -> dict[str, Any]:
    """Return the mean regular-session volume of the last `days` full sessions before `at`.

    `{value, days, missing_days, from, to}`: `days` is the number of sessions averaged,
    `missing_days` the sessions of the window without any bar, `from`/`to` the dates of
    the window's first and last session. `value` is None when no session has data.
    """
    wanted = _positive("days", days)
    stamp = as_utc(at)
    sessions = calendar.recent_sessions(stamp, wanted, closed=True)
    ts, rows = _known(bars, stamp, _interval_ns(interval_s), sessions)
    totals, counts, _ = _per_session(ts, rows, sessions)
    return _mean_over_sessions(totals, counts, sessions)


def session_volume(
    bars: pd.DataFrame,
    calendar: TradingCalendar,
    at: pd.Timestamp | dt.datetime,
    interval_s: float = DEFAULT_INTERVAL_S,
) -> dict[str, Any]:
    """Return the current session's cumulative volume up to `at`: `{value, bars, date, from, to}`.

    `bars` is the number of bars summed, `from` the session open and `to` the end of
    the counted span (`at`, or the close once the session is over). Before the open
    the value is 0; with no session at all (no history) every field is None or 0.
    """
    stamp = as_utc(at)
    session = _current_session(calendar, stamp)
    if session.empty:
        return {"value": None, "bars": 0, "date": None, "from": None, "to": None}
    ts, rows = _known(bars, stamp, _interval_ns(interval_s), session)
    ts, rows, _ = _session_bars(ts, rows, session)
    opened, closed = session["open"].iloc[0], session["close"].iloc[0]
    return {
        "value": float(_column(rows, "volume").sum()),
        "bars": len(ts),
        "date": _dates(session)[0],
        "from": opened,
        "to": min(max(stamp, opened), closed),
    }


def _cutoffs(sessions: pd.DataFrame, time_of_day: dt.time, tz: Any) -> np.ndarray:
    """Return per session the first instant at or after its open whose market-local time is `time_of_day`.

    Overnight sessions (CME Globex opens at 17:00 the day before) reach a morning time
    on the day after their open. Wall times a DST change skips move forward.
    """
    opens = pd.DatetimeIndex(sessions["open"])
    offset = pd.Timedelta(
        hours=time_of_day.hour,
        minutes=time_of_day.minute,
        seconds=time_of_day.second,
        microseconds=time_of_day.microsecond,
    )
    local_days = opens.tz_convert(tz).tz_localize(None).normalize()
    earlier = np.ones(len(opens), dtype=bool)  # on a repeated wall time take the first one

    def at_time(days: pd.DatetimeIndex) -> np.ndarray:
        wall = days + offset
        stamps = wall.tz_localize(tz, ambiguous=earlier, nonexistent="shift_forward")
        return stamps.tz_convert("UTC").as_unit("ns").asi8

    same_day = at_time(local_days)
    next_day = at_time(local_days + pd.Timedelta(days=1))
    return np.where(same_day >= opens.as_unit("ns").asi8, same_day, next_day)


def average_volume_at_time(
    bars: pd.DataFrame,
    calendar: TradingCalendar,
    at: pd.Timestamp | dt.datetime,
    time_of_day: dt.time,
    days: int,
    interval_s: float = DEFAULT_INTERVAL_S,
) -> dict[str, Any]:
    """Return the mean cumulative volume from the open to `time_of_day` over the last `days` full sessions.

    `time_of_day` is market-local wall time. The cumulative volume of a session counts
    the bars closed by that time. A session that closes before that time (a half-day
    and a 15:00 time) cannot answer and is skipped, looking further back to find
    `days` sessions that can (`skipped_days` counts them). Sessions without any bar
    are missing data as in `average_volume`. Returns
    `{value, days, missing_days, skipped_days, from, to, time}`.
    """
    wanted = _positive("days", days)
    if time_of_day.tzinfo is not None:
        raise ValueError("time_of_day is market-local wall time: pass it without a time zone")
    stamp = as_utc(at)
    interval_ns = _interval_ns(interval_s)
    # Skipped sessions are rare (half-days), so a window a little larger than `days`
    # nearly always suffices; it doubles a few times for times no session reaches.
    scan = wanted + 10
    while True:
        sessions = calendar.recent_sessions(stamp, scan, closed=True)
        cutoffs = _cutoffs(sessions, time_of_day, calendar.tz)
        closes = sessions["close"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        reachable = cutoffs <= closes
        exhausted = len(sessions) < scan or scan >= 4 * wanted + 40
        if reachable.sum() >= wanted or exhausted:
            break
        scan *= 2
    chosen = np.flatnonzero(reachable)[-wanted:]
    # Skipped: the unreachable sessions passed over, back to the oldest chosen one (all scanned if none).
    skipped = int((~reachable[int(chosen[0]) if len(chosen) else 0 :]).sum())
    window, window_cutoffs = sessions.iloc[chosen], cutoffs[chosen]
    ts, rows = _known(bars, stamp, interval_ns, window)
    # A bar is in the cumulative volume when it has closed by the cutoff: ts <= cutoff - interval.
    _, counts, partial = _per_session(ts, rows, window, until=window_cutoffs - interval_ns)
    return {**_mean_over_sessions(partial, counts, window), "skipped_days": skipped, "time": time_of_day}


# ---------------------------------------------------------------------- prices


def high_low(
    bars: pd.DataFrame,
    calendar: TradingCalendar,
    at: pd.Timestamp | dt.datetime,
    days: int | None = None,
    years: int | None = None,
    interval_s: float = DEFAULT_INTERVAL_S,
) -> dict[str, Any]:
    """Return the highest high and lowest low of regular-session bars known at `at`.

    With `days=N`: the last N sessions that have opened by `at`, the current one up to
    `at` included. With `years=N`: bars opened from `at` minus N calendar years on.
    `{high, high_at, low, low_at, from, to}`: `*_at` is the open time of the (earliest)
    bar that made the extreme; `from`/`to` bound the window in UTC. All None without bars.
    """
    if (days is None) == (years is None):
        raise ValueError("give exactly one of days or years")
    stamp = as_utc(at)
    if days is not None:
        sessions = calendar.recent_sessions(stamp, _positive("days", days))
        start = sessions["open"].iloc[0] if len(sessions) else stamp
    else:
        start = stamp - pd.DateOffset(years=_positive("years", years))
        sessions = calendar.schedule_between(start, stamp)
    ts, rows = _known(bars, stamp, _interval_ns(interval_s))
    after = int(np.searchsorted(ts, start.value, side="left"))
    ts, rows, _ = _session_bars(ts[after:], rows.iloc[after:], sessions)
    return {**_extremes(ts, rows), "from": start, "to": stamp}


def session_high_low(
    bars: pd.DataFrame,
    calendar: TradingCalendar,
    at: pd.Timestamp | dt.datetime,
    interval_s: float = DEFAULT_INTERVAL_S,
) -> dict[str, Any]:
    """Return the current session's `{high, high_at, low, low_at, date}` from the bars known at `at`."""
    stamp = as_utc(at)
    session = _current_session(calendar, stamp)
    if session.empty:
        return {"high": None, "high_at": None, "low": None, "low_at": None, "date": None}
    ts, rows = _known(bars, stamp, _interval_ns(interval_s), session)
    ts, rows, _ = _session_bars(ts, rows, session)
    return {**_extremes(ts, rows), "date": _dates(session)[0]}


# --------------------------------------------------------------------- coverage


def coverage(
    bars_ts: pd.DataFrame | pd.Series | pd.Index | np.ndarray,
    calendar: TradingCalendar,
    start_date: dt.date,
    end_date: dt.date,
    interval_s: float = DEFAULT_INTERVAL_S,
) -> list[dict[str, Any]]:
    """Return, per trading day in [start_date, end_date], how many base bars are stored.

    `{date, expected, present, bar_quality, gaps}`: `expected` is the number of bar
    slots of the regular session (open + k * interval before the close; early closes
    give fewer), `present` the slots holding a bar (bars off that grid or outside the
    session are not counted), `bar_quality` = present / expected, and `gaps` the
    maximal runs of empty slots as `[first missing open time, end of the last missing
    bar]` (the end is clipped to the close).
    """
    interval_ns = _interval_ns(interval_s)
    sessions = calendar.schedule(start_date, end_date)
    if sessions.empty:
        return []
    opens = sessions["open"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    closes = sessions["close"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    expected = -((opens - closes) // interval_ns)  # ceil: a short last slot still counts
    ts = np.unique(_ts_ns(bars_ts))
    index = _session_index(ts, sessions)
    inside = index >= 0
    session, offset = index[inside], ts[inside] - opens[index[inside]]
    on_grid = offset % interval_ns == 0
    session, slot = session[on_grid], offset[on_grid] // interval_ns
    present = np.bincount(session, minlength=len(sessions))

    # Gaps: between consecutive present slots of a session, with sentinels at -1 and `expected`.
    size = len(sessions)
    all_session = np.concatenate([session, np.arange(size), np.arange(size)])
    all_slot = np.concatenate([slot, np.full(size, -1), expected])
    order = np.lexsort((all_slot, all_session))
    all_session, all_slot = all_session[order], all_slot[order]
    is_gap = (all_session[1:] == all_session[:-1]) & (all_slot[1:] - all_slot[:-1] > 1)
    gap_session = all_session[:-1][is_gap]
    gap_start = opens[gap_session] + (all_slot[:-1][is_gap] + 1) * interval_ns
    gap_end = np.minimum(opens[gap_session] + all_slot[1:][is_gap] * interval_ns, closes[gap_session])

    gaps: list[list[list[pd.Timestamp]]] = [[] for _ in range(size)]
    for where, start, end in zip(gap_session.tolist(), gap_start.tolist(), gap_end.tolist(), strict=True):
        gaps[where].append([pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")])
    return [
        {
            "date": day,
            "expected": int(expected[k]),
            "present": int(present[k]),
            "bar_quality": float(present[k] / expected[k]),
            "gaps": gaps[k],
        }
        for k, day in enumerate(_dates(sessions))
    ]
