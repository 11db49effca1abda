"""Clocks: the one source of "now" for live trading and for replays/backtests.

Components get a clock injected and never read system time themselves; `LiveClock`
is the only place in the project that does. A `SimulatedClock` moves only when told
to and never backwards, so a replay or a test decides what "now" is.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any, Literal, Protocol, runtime_checkable

import pandas as pd

from marketdata.core.calendar import TradingCalendar, as_utc, session_info

ClockMode = Literal["live", "backtest"]


@runtime_checkable
class Clock(Protocol):
    """Tells the current UTC time; `mode` says whether it is wall time or simulated."""

    @property
    def mode(self) -> ClockMode: ...

    def now(self) -> pd.Timestamp: ...


class LiveClock:
    """System time in UTC."""

    @property
    def mode(self) -> ClockMode:
        return "live"

    def now(self) -> pd.Timestamp:
        return pd.Timestamp.now(tz="UTC")


class SimulatedClock:
    """A replay's time: starts at `start` and moves forward only through `advance_to` or `advance`.

    Thread-safe: the coordinator advances it while API readers ask for `now()`.
    """

    def __init__(self, start: pd.Timestamp | dt.datetime | str) -> None:
        self._now = as_utc(start)
        self._lock = threading.Lock()

    @property
    def mode(self) -> ClockMode:
        return "backtest"

    def now(self) -> pd.Timestamp:
        with self._lock:
            return self._now

    def advance_to(self, ts: pd.Timestamp | dt.datetime | str) -> pd.Timestamp:
        """Set the time to `ts` (equal to now is a no-op); raise ValueError if `ts` is in the past."""
        target = as_utc(ts)
        with self._lock:
            if target < self._now:
                raise ValueError(
                    f"simulated clock cannot move backwards: {target.isoformat()} < {self._now.isoformat()}"
                )
            self._now = target
            return target

    def advance(self, by: dt.timedelta | pd.Timedelta) -> pd.Timestamp:
        """Move the time forward by `by` (>= 0) and return the new time."""
        step = pd.Timedelta(by)
        if step < pd.Timedelta(0):
            raise ValueError(f"simulated clock cannot move backwards: advance by {step}")
        with self._lock:
            self._now = self._now + step
            return self._now


def market_status(calendar: TradingCalendar, clock_or_ts: Clock | pd.Timestamp | dt.datetime) -> dict[str, Any]:
    """Return the clock endpoint's body for `calendar` at the clock's now (or at a UTC time).

    `{now, mode, market, is_open, session, next_open, next_close}`: `session` is the
    session containing now (`{date, open, close, early_close}`) or None when the market
    is closed; `next_open`/`next_close` are the first open/close strictly after now.
    `mode` is the clock's mode, or None when a bare time was given.
    """
    if isinstance(clock_or_ts, dt.datetime):  # pd.Timestamp included
        now, mode = as_utc(clock_or_ts), None
    else:
        now, mode = as_utc(clock_or_ts.now()), clock_or_ts.mode
    session = calendar.session_at(now)
    return {
        "now": now,
        "mode": mode,
        "market": calendar.name,
        "is_open": session is not None,
        "session": None if session is None else session_info(session),
        "next_open": calendar.next_open(now),
        "next_close": calendar.next_close(now),
    }
