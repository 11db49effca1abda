"""Trading calendars over pandas-market-calendars.

`TradingCalendar` is the one place the project asks for session times. It wraps a
pandas-market-calendars calendar, caches schedules per year and answers in UTC.
"""

from __future__ import annotations

import datetime as dt
import threading
from functools import lru_cache
from zoneinfo import ZoneInfo

import pandas as pd
import pandas_market_calendars as mcal

# Names users write that pandas-market-calendars registers under another spelling.
CALENDAR_ALIASES: dict[str, str] = {
    "CME_Globex_Metals": "CMEGlobex_Metals",
    "CME_Globex_Energy": "CMEGlobex_Energy",
    "CME_Globex_Equity": "CME Globex Equity",
    "CME_Globex_Crypto": "CME Globex Crypto",
    "CME_Globex_FX": "CMEGlobex_FX",
    "24x7": "24/7",
    "CRYPTO": "24/7",
}

SCHEDULE_COLUMNS = ["open", "close", "early_close"]


class UnknownCalendarError(ValueError):
    """Raised for a calendar name pandas-market-calendars does not know."""


def calendar_names() -> list[str]:
    """Return every calendar name accepted by `TradingCalendar`."""
    return sorted(set(mcal.get_calendar_names()) | set(CALENDAR_ALIASES))


class TradingCalendar:
    """Sessions of one market: open/close in UTC, early closes, per-year cache."""

    def __init__(self, name: str) -> None:
        library_name = CALENDAR_ALIASES.get(name, name)
        try:
            self._calendar = mcal.get_calendar(library_name)
        except RuntimeError as exc:
            raise UnknownCalendarError(f"unknown calendar {name!r}") from exc
        self.name = name
        self.tz = ZoneInfo(str(self._calendar.tz))
        self._years: dict[int, pd.DataFrame] = {}
        self._lock = threading.Lock()

    @property
    def is_24_7(self) -> bool:
        return self._calendar.name == "24/7"

    def _year_schedule(self, year: int) -> pd.DataFrame:
        with self._lock:
            cached = self._years.get(year)
            if cached is not None:
                return cached
        raw = self._calendar.schedule(f"{year}-01-01", f"{year}-12-31")
        early = self._calendar.early_closes(raw).index if len(raw) else []
        frame = pd.DataFrame(
            {
                "open": raw["market_open"].dt.tz_convert("UTC").astype("datetime64[ns, UTC]"),
                "close": raw["market_close"].dt.tz_convert("UTC").astype("datetime64[ns, UTC]"),
                "early_close": raw.index.isin(early),
            },
            index=pd.DatetimeIndex(raw.index, name="date").astype("datetime64[ns]"),
        )
        with self._lock:
            self._years[year] = frame
        return frame

    def schedule(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Return sessions with dates in [start, end]: index `date`, columns open, close (UTC), early_close."""
        if end < start:
            return pd.DataFrame(
                {
                    "open": pd.Series([], dtype="datetime64[ns, UTC]"),
                    "close": pd.Series([], dtype="datetime64[ns, UTC]"),
                    "early_close": pd.Series([], dtype=bool),
                },
                index=pd.DatetimeIndex([], name="date", dtype="datetime64[ns]"),
            )
        parts = [self._year_schedule(year) for year in range(start.year, end.year + 1)]
        frame = pd.concat(parts) if len(parts) > 1 else parts[0]
        mask = (frame.index >= pd.Timestamp(start)) & (frame.index <= pd.Timestamp(end))
        return frame.loc[mask]

    def schedule_between(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Return sessions that overlap the UTC instant range [start, end)."""
        local_start = (start - pd.Timedelta(days=2)).tz_convert(self.tz).date()
        local_end = (end + pd.Timedelta(days=2)).tz_convert(self.tz).date()
        frame = self.schedule(local_start, local_end)
        return frame.loc[(frame["close"] > start) & (frame["open"] < end)]

    def session_on(self, date: dt.date) -> pd.Series | None:
        """Return the session (open, close, early_close) on `date`, or None if closed."""
        frame = self.schedule(date, date)
        if frame.empty:
            return None
        return frame.iloc[0]

    def is_session(self, date: dt.date) -> bool:
        return self.session_on(date) is not None


@lru_cache(maxsize=64)
def get_calendar(name: str) -> TradingCalendar:
    """Return the shared, cached `TradingCalendar` for `name`."""
    return TradingCalendar(name)
