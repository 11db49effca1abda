"""The Data Manager: the one place every module asks for time, market status and statistics.

Reads only (a selector module): clocks (live, or a replay's simulated clock), market
status and calendars, and the point-in-time analytics of `marketdata.core.analytics`
over the bars in the store. Nothing known after `at` is used.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from marketdata import store
from marketdata.core import analytics
from marketdata.core.calendar import TradingCalendar, UnknownCalendarError, get_calendar
from marketdata.core.clock import Clock, LiveClock, market_status
from marketdata.core.indicators import compute_indicators, parse_indicator_spec, session_ids_from_schedule
from marketdata.core.intervals import parse_interval
from marketdata.models import Symbol
from mdserver.api import ApplicationError, NotFoundError


def calendar_named(name: str, *, field: str = "market") -> TradingCalendar:
    try:
        return get_calendar(name)
    except UnknownCalendarError:
        raise ApplicationError(
            f"unknown market calendar {name!r}",
            details=[{"field": field, "message": f"unknown calendar {name!r}; e.g. XNYS, CME_Globex_Metals, 24/7"}],
        ) from None


def clock_for(*, session_id: str | None, user) -> Clock:
    """Return the live clock, or the simulated clock of the user's replay session."""
    if not session_id:
        return LiveClock()
    from marketdata.sessions import session_clock  # the session engine's registry

    clock = session_clock(session_id=session_id, user=user)
    if clock is None:
        raise NotFoundError(
            f"unknown session {session_id!r}", details=[{"field": "session_id", "message": "not found"}]
        )
    return clock


def clock_status(*, market: str, clock: Clock) -> dict[str, Any]:
    return market_status(calendar_named(market), clock)


def calendar_sessions(*, market: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    frame = calendar_named(market).schedule(start, end)
    return [
        {"date": date.date(), "open": row.open, "close": row.close, "early_close": bool(row.early_close)}
        for date, row in frame.iterrows()
    ]


def calendar_holidays(*, market: str, year: int) -> list[dict[str, Any]]:
    return [{"date": date, "name": name} for date, name in calendar_named(market).holidays(year)]


def calendar_day(*, market: str, date: dt.date) -> dict[str, Any]:
    return calendar_named(market).day(date)


def _base(symbol: Symbol) -> tuple[str, float]:
    """Return the finest stored intraday interval of a symbol and its length in seconds."""
    stored = [parse_interval(text) for text in store.bar_intervals(symbol_id=symbol.id)]
    intraday = sorted((i for i in stored if not i.is_daily), key=lambda i: i.seconds)
    if not intraday:
        return "1m", 60.0
    return str(intraday[0]), float(intraday[0].seconds)


def _bars_since(symbol: Symbol, start: pd.Timestamp, at: pd.Timestamp) -> tuple[pd.DataFrame, float]:
    interval, seconds = _base(symbol)
    # Read only what was known at `at`: a bar is known once closed.
    bars = store.bars_read(symbol_id=symbol.id, interval=interval, start=start, end=at)
    return bars, seconds


def _lookback_start(calendar: TradingCalendar, at: pd.Timestamp, sessions: int) -> pd.Timestamp:
    recent = calendar.recent_sessions(at, sessions + 1)
    return recent["open"].iloc[0] if len(recent) else at - pd.Timedelta(days=7)


def _count(name: str, value: int | None) -> int:
    if value is None or value < 1 or value > 10_000:
        raise ApplicationError(f"{name} must be between 1 and 10000", details=[{"field": name, "message": "1..10000"}])
    return value


def average_volume(*, symbol: Symbol, at: pd.Timestamp, days: int) -> dict[str, Any]:
    calendar = get_calendar(symbol.calendar)
    bars, seconds = _bars_since(symbol, _lookback_start(calendar, at, _count("days", days)), at)
    return analytics.average_volume(bars, calendar, at, days, interval_s=seconds)


def session_volume(*, symbol: Symbol, at: pd.Timestamp) -> dict[str, Any]:
    calendar = get_calendar(symbol.calendar)
    bars, seconds = _bars_since(symbol, _lookback_start(calendar, at, 1), at)
    return analytics.session_volume(bars, calendar, at, interval_s=seconds)


def average_volume_at_time(*, symbol: Symbol, at: pd.Timestamp, time_of_day: dt.time, days: int) -> dict[str, Any]:
    calendar = get_calendar(symbol.calendar)
    # Half-days that close before the time are skipped: look further back than N sessions.
    start = _lookback_start(calendar, at, 4 * _count("days", days) + 40)
    bars, seconds = _bars_since(symbol, start, at)
    return analytics.average_volume_at_time(bars, calendar, at, time_of_day, days, interval_s=seconds)


def high_low(*, symbol: Symbol, at: pd.Timestamp, days: int | None, years: int | None) -> dict[str, Any]:
    if (days is None) == (years is None):
        raise ApplicationError("give days or years", details=[{"field": "days", "message": "give days or years"}])
    calendar = get_calendar(symbol.calendar)
    if days is not None:
        start = _lookback_start(calendar, at, _count("days", days))
    else:
        start = at - pd.DateOffset(years=_count("years", years))
    bars, seconds = _bars_since(symbol, start, at)
    return analytics.high_low(bars, calendar, at, days=days, years=years, interval_s=seconds)


def session_high_low(*, symbol: Symbol, at: pd.Timestamp) -> dict[str, Any]:
    calendar = get_calendar(symbol.calendar)
    bars, seconds = _bars_since(symbol, _lookback_start(calendar, at, 1), at)
    return analytics.session_high_low(bars, calendar, at, interval_s=seconds)


def coverage(*, symbol: Symbol, interval: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    calendar = get_calendar(symbol.calendar)
    base = parse_interval(interval)
    if base.is_daily:
        raise ApplicationError(
            "coverage is for intraday intervals", details=[{"field": "interval", "message": "intraday"}]
        )
    schedule = calendar.schedule(start, end)
    if schedule.empty:
        return []
    bars = store.bars_read(
        symbol_id=symbol.id, interval=interval, start=schedule["open"].iloc[0], end=schedule["close"].iloc[-1]
    )
    return analytics.coverage(bars["ts"], calendar, start, end, interval_s=base.seconds)


def indicators(*, bars: pd.DataFrame, symbol: Symbol, names: str) -> pd.DataFrame:
    """Return the bars' time column with one column per indicator output."""
    try:
        specs = parse_indicator_spec(names)
    except ValueError as exc:
        raise ApplicationError(str(exc), details=[{"field": "names", "message": str(exc)}]) from None
    session_ids = None
    if not len(bars):
        session_ids = np.empty(0, dtype=np.int64)  # no bars, no sessions: every series is empty
    elif any(spec.name == "vwap" for spec in specs):
        calendar = get_calendar(symbol.calendar)
        first, last = bars["ts"].iloc[0], bars["ts"].iloc[-1]
        sessions = calendar.schedule(
            calendar.local_date(first) - dt.timedelta(days=1), calendar.local_date(last) + dt.timedelta(days=1)
        )
        session_ids = session_ids_from_schedule(bars, sessions)
    values = compute_indicators(bars, specs, session_ids=session_ids)
    return pd.concat([bars[["ts"]].reset_index(drop=True), values.reset_index(drop=True)], axis=1)
