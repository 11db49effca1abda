"""Trading calendars over pandas-market-calendars.

`TradingCalendar` is the one place the project asks for session times. It wraps a
pandas-market-calendars calendar, caches schedules and holiday lists per year and
answers in UTC.

A session is the half-open interval [open, close): at the close instant the market
is closed. Lunch breaks (e.g. XHKG) are not modelled; a session runs from its open
to its close.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
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

SPECIAL_CLOSURE_NAME = "Market closed (special closure)"

# Names of ad-hoc closures of US markets; the library lists the dates without names.
US_CLOSURE_NAMES: dict[dt.date, str] = {
    dt.date(1963, 11, 25): "Funeral of President John F. Kennedy",
    dt.date(1968, 4, 9): "National Day of Mourning for Martin Luther King Jr.",
    dt.date(1969, 3, 31): "Funeral of President Dwight D. Eisenhower",
    dt.date(1969, 7, 21): "Apollo 11 Moon landing",
    dt.date(1972, 12, 28): "Funeral of President Harry S. Truman",
    dt.date(1973, 1, 25): "Funeral of President Lyndon B. Johnson",
    dt.date(1977, 7, 14): "New York City blackout",
    dt.date(1985, 9, 27): "Hurricane Gloria",
    dt.date(1994, 4, 27): "Funeral of President Richard Nixon",
    dt.date(2001, 9, 11): "September 11 attacks",
    dt.date(2001, 9, 12): "September 11 attacks",
    dt.date(2001, 9, 13): "September 11 attacks",
    dt.date(2001, 9, 14): "September 11 attacks",
    dt.date(2004, 6, 11): "National Day of Mourning for President Ronald Reagan",
    dt.date(2007, 1, 2): "National Day of Mourning for President Gerald R. Ford",
    dt.date(2012, 10, 29): "Hurricane Sandy",
    dt.date(2012, 10, 30): "Hurricane Sandy",
    dt.date(2018, 12, 5): "National Day of Mourning for President George H. W. Bush",
    dt.date(2025, 1, 9): "National Day of Mourning for President Jimmy Carter",
}
# Calendars in these time zones are US markets and share `US_CLOSURE_NAMES`.
_US_TIME_ZONES = frozenset({"America/New_York", "America/Chicago"})

# Library rule labels (after `_strip_rule_qualifiers`) -> the names people use.
READABLE_HOLIDAY_NAMES: dict[str, str] = {
    "New Years Day": "New Year's Day",
    "Dr. Martin Luther King Jr. Day": "Martin Luther King Jr. Day",
    "Martin Luther King Jr Day": "Martin Luther King Jr. Day",
    "Martin Luther King Jr": "Martin Luther King Jr. Day",
    "Martin Luther King Day": "Martin Luther King Jr. Day",
    "Washingtons Birthday": "Washington's Birthday",
    "President's Day": "Washington's Birthday",
    "Presidents Day": "Washington's Birthday",
    "Presidents' Day": "Washington's Birthday",
    "Lincolns Birthday": "Lincoln's Birthday",
    "Juneteenth National Independence Day": "Juneteenth",
    "July 4th": "Independence Day",
    "Thanksgiving": "Thanksgiving Day",
    "Christmas": "Christmas Day",
    "Veteran Day": "Veterans Day",
    "Boxing day": "Boxing Day",
    "Weekend Christmas": "Christmas Day (observed)",
    "Weekend Boxing Day": "Boxing Day (observed)",
    "Heakth and Sports Day": "Health and Sports Day",
    "Closed Decenber 29": "Closed December 29",
}
# Validity ranges the library appends to rule labels: "Good Friday 1908+",
# "Thanksgiving 1939 to 1941", "Juneteenth Starting at 2022", "Marine Day (2020)".
_YEAR_SUFFIX = re.compile(
    r"\s+(?:\d{4}\+|\d{4}\s*(?:to|-)\s*\d{4}|(?:Before|Thru|Through|Until|Since|After|Starting at|Starting)\s+\d{4}"
    r"|Before Saturday Trading Ceased)$"
)
_YEAR_PARENTHESIS = re.compile(r"\s*\((?=[^)]*(?:\d{4}|onwards|through|present|up to))[^)]*\)")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=[0-9])")
_US_AFFIX = re.compile(r"^US\s+|\s+US$")

# Stop searching for sessions after this many consecutive years without one.
_MAX_EMPTY_YEARS = 10


class UnknownCalendarError(ValueError):
    """Raised for a calendar name pandas-market-calendars does not know."""


def calendar_names() -> list[str]:
    """Return every calendar name accepted by `TradingCalendar`."""
    return sorted(set(mcal.get_calendar_names()) | set(CALENDAR_ALIASES))


def readable_holiday_name(label: str) -> str:
    """Turn a library rule label ("Good Friday 1908+", "USNewYearsDay") into a readable name."""
    name = label.strip()
    if " " not in name:
        name = _CAMEL_BOUNDARY.sub(" ", name)
    name = _YEAR_PARENTHESIS.sub("", name)
    while True:
        stripped = _YEAR_SUFFIX.sub("", name)
        if stripped == name:
            break
        name = stripped
    name = _US_AFFIX.sub("", name)
    name = re.sub(r"\s+", " ", name).strip()
    return READABLE_HOLIDAY_NAMES.get(name, name) or label


def as_utc(value: pd.Timestamp | dt.datetime | str) -> pd.Timestamp:
    """Return `value` as a UTC pd.Timestamp; naive datetimes are refused (their zone is unknown)."""
    stamp = pd.Timestamp(value)
    if stamp is pd.NaT:
        raise ValueError("time is NaT")
    if stamp.tzinfo is None:
        raise ValueError(f"time {value!r} has no time zone; pass a UTC-aware time")
    return stamp.tz_convert("UTC")


def session_info(session: pd.Series) -> dict[str, Any]:
    """Return a schedule row as `{date, open, close, early_close}` (the API's session shape)."""
    return {
        "date": pd.Timestamp(session.name).date(),
        "open": session["open"],
        "close": session["close"],
        "early_close": bool(session["early_close"]),
    }


def _empty_schedule() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "open": pd.Series([], dtype="datetime64[ns, UTC]"),
            "close": pd.Series([], dtype="datetime64[ns, UTC]"),
            "early_close": pd.Series([], dtype=bool),
        },
        index=pd.DatetimeIndex([], name="date", dtype="datetime64[ns]"),
    )


def _dates_in_year(days: Any, year: int) -> set[dt.date]:
    values = np.asarray(days, dtype="datetime64[D]")
    values = values[(values >= np.datetime64(f"{year}-01-01")) & (values <= np.datetime64(f"{year}-12-31"))]
    return set(values.tolist())


def _ns(column: pd.Series) -> np.ndarray:
    return column.to_numpy(dtype="datetime64[ns]").view(np.int64)


class TradingCalendar:
    """Sessions of one market: open/close in UTC, early closes, holidays, per-year caches."""

    def __init__(self, name: str) -> None:
        library_name = CALENDAR_ALIASES.get(name, name)
        try:
            self._calendar = mcal.get_calendar(library_name)
        except RuntimeError as exc:
            raise UnknownCalendarError(f"unknown calendar {name!r}") from exc
        self.name = name
        self.tz = ZoneInfo(str(self._calendar.tz))
        self._years: dict[int, pd.DataFrame] = {}
        self._edge_years: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._holiday_years: dict[int, list[tuple[dt.date, str]]] = {}
        self._lock = threading.Lock()

    @property
    def is_24_7(self) -> bool:
        return self._calendar.name == "24/7"

    # ------------------------------------------------------------------ schedules

    def _year_schedule(self, year: int) -> pd.DataFrame:
        with self._lock:
            cached = self._years.get(year)
            if cached is not None:
                return cached
        raw = self._calendar.schedule(f"{year}-01-01", f"{year}-12-31")
        if raw.empty:
            frame = _empty_schedule()
        else:
            early = self._calendar.early_closes(raw).index
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

    def _year_edges(self, year: int) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            cached = self._edge_years.get(year)
        if cached is None:
            frame = self._year_schedule(year)
            edges = np.empty(2 * len(frame), dtype=np.int64)
            edges[0::2], edges[1::2] = _ns(frame["open"]), _ns(frame["close"])
            cached = (frame.index.to_numpy(dtype="datetime64[ns]").view(np.int64), edges)
            with self._lock:
                self._edge_years[year] = cached
        return cached

    def session_edges(self, start: dt.date, end: dt.date) -> np.ndarray:
        """Return open0, close0, open1, close1, ... (int64 UTC ns) of the sessions dated start..end."""
        bounds = np.array([np.datetime64(start, "ns"), np.datetime64(end, "ns")]).view(np.int64)
        parts = []
        for year in range(start.year, end.year + 1):
            dates, edges = self._year_edges(year)
            first, stop = np.searchsorted(dates, bounds, side="left")[0], np.searchsorted(dates, bounds[1], "right")
            parts.append(edges[2 * first : 2 * stop])
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def schedule(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Return sessions with dates in [start, end]: index `date`, columns open, close (UTC), early_close."""
        if end < start:
            return _empty_schedule()
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

    # ----------------------------------------------------------------- instants

    def local_date(self, ts: pd.Timestamp | dt.datetime) -> dt.date:
        """Return the market-local calendar date of the UTC instant `ts`."""
        return as_utc(ts).tz_convert(self.tz).date()

    def session_at(self, ts: pd.Timestamp | dt.datetime) -> pd.Series | None:
        """Return the session whose [open, close) contains `ts`, or None when the market is closed."""
        stamp = as_utc(ts)
        found = self._first_after(stamp, "close")
        if found is None:
            return None
        frame, position = found
        session = frame.iloc[position]
        return session if session["open"] <= stamp else None

    def open_at_time(self, ts: pd.Timestamp | dt.datetime) -> bool:
        """Say whether the market is open at the UTC instant `ts` (at the close it is closed)."""
        return self.session_at(ts) is not None

    def next_open(self, ts: pd.Timestamp | dt.datetime) -> pd.Timestamp | None:
        """Return the first session open strictly after `ts` (None if none within the library's range)."""
        return self._first_value_after(as_utc(ts), "open")

    def next_close(self, ts: pd.Timestamp | dt.datetime) -> pd.Timestamp | None:
        """Return the first session close strictly after `ts` (the current session's close when open)."""
        return self._first_value_after(as_utc(ts), "close")

    def _first_value_after(self, stamp: pd.Timestamp, column: str) -> pd.Timestamp | None:
        found = self._first_after(stamp, column)
        return None if found is None else found[0][column].iloc[found[1]]

    def _first_after(self, stamp: pd.Timestamp, column: str) -> tuple[pd.DataFrame, int] | None:
        """Return (year schedule, row) of the first session whose `column` is strictly after `stamp`."""
        target = stamp.value
        year = self.local_date(stamp - pd.Timedelta(days=3)).year
        empty_years = 0
        while empty_years <= _MAX_EMPTY_YEARS:
            frame = self._year_schedule(year)
            year += 1
            if frame.empty:
                empty_years += 1
                continue
            empty_years = 0
            values = _ns(frame[column])
            position = int(np.searchsorted(values, target, side="right"))
            if position < len(values):
                return frame, position
        return None

    def previous_sessions(self, date: dt.date, n: int) -> pd.DataFrame:
        """Return the last `n` sessions dated strictly before `date`, oldest first (fewer if history ends)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n == 0:
            return _empty_schedule()
        parts: list[pd.DataFrame] = []
        found = 0
        year = date.year
        empty_years = 0
        while found < n and empty_years <= _MAX_EMPTY_YEARS:
            frame = self._year_schedule(year)
            if year == date.year:
                frame = frame.loc[frame.index < pd.Timestamp(date)]
            year -= 1
            if frame.empty:
                empty_years += 1
                continue
            empty_years = 0
            parts.append(frame)
            found += len(frame)
        if not parts:
            return _empty_schedule()
        return pd.concat(parts[::-1]).iloc[-n:]

    def recent_sessions(self, ts: pd.Timestamp | dt.datetime, n: int, *, closed: bool = False) -> pd.DataFrame:
        """Return the last `n` sessions that opened at or before `ts` (closed=True: that closed by `ts`)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        stamp = as_utc(ts)
        # Sessions dated up to the next local day may already be open (overnight sessions); at most two of
        # the fetched sessions have not started yet, so n + 2 candidates always hold the n wanted.
        candidates = self.previous_sessions(self.local_date(stamp) + dt.timedelta(days=2), n + 2)
        bound = candidates["close"] if closed else candidates["open"]
        return candidates.loc[bound <= stamp].iloc[-n:] if n else _empty_schedule()

    # ------------------------------------------------------------------ holidays

    def holidays(self, year: int) -> list[tuple[dt.date, str]]:
        """Return the market's weekday closures in `year` with readable names, by date.

        Regular holidays take their rule's name; ad-hoc closures take a name from
        `US_CLOSURE_NAMES` (US markets) or `SPECIAL_CLOSURE_NAME`. Weekends are not holidays.
        """
        with self._lock:
            cached = self._holiday_years.get(year)
        if cached is not None:
            return list(cached)
        found = [] if self.is_24_7 else self._find_holidays(year)
        with self._lock:
            self._holiday_years[year] = found
        return list(found)

    def _find_holidays(self, year: int) -> list[tuple[dt.date, str]]:
        first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
        listed = _dates_in_year(self._calendar.holidays().holidays, year)
        listed |= _dates_in_year([pd.Timestamp(day).date() for day in self._calendar.adhoc_holidays], year)
        weekmask = np.busdaycalendar(weekmask=self._calendar.weekmask).weekmask
        sessions = set(self.schedule(first, last).index.date)
        closures = sorted(day for day in listed if weekmask[day.weekday()] and day not in sessions)
        if not closures:
            return []
        rule_names = self._rule_names(first, last)
        adhoc_names = US_CLOSURE_NAMES if str(self.tz) in _US_TIME_ZONES else {}
        return [(day, rule_names.get(day) or adhoc_names.get(day) or SPECIAL_CLOSURE_NAME) for day in closures]

    def _rule_names(self, first: dt.date, last: dt.date) -> dict[dt.date, str]:
        rules = self._calendar.regular_holidays
        if rules is None or not getattr(rules, "rules", None):
            return {}
        named = rules.holidays(pd.Timestamp(first), pd.Timestamp(last), return_name=True)
        names: dict[dt.date, str] = {}
        for day, label in named.items():
            names.setdefault(pd.Timestamp(day).date(), readable_holiday_name(str(label)))
        return names

    def holiday_name(self, date: dt.date) -> str | None:
        """Return the name of the holiday on `date`, or None when `date` is no holiday."""
        return dict(self.holidays(date.year)).get(date)

    def day(self, date: dt.date) -> dict[str, Any]:
        """Describe one date: `{date, is_trading_day, is_holiday, holiday_name, open, close, early_close}`."""
        session = self.session_on(date)
        name = None if session is not None else self.holiday_name(date)
        return {
            "date": date,
            "is_trading_day": session is not None,
            "is_holiday": name is not None,
            "holiday_name": name,
            "open": None if session is None else session["open"],
            "close": None if session is None else session["close"],
            "early_close": False if session is None else bool(session["early_close"]),
        }


@lru_cache(maxsize=64)
def get_calendar(name: str) -> TradingCalendar:
    """Return the shared, cached `TradingCalendar` for `name`."""
    return TradingCalendar(name)


# Bars per year (annualizing Sharpe, Sortino, volatility): sessions per year, regular session seconds.
_KNOWN_CALENDARS: dict[str, tuple[int, int]] = {
    "XNYS": (252, 23_400),
    "XNAS": (252, 23_400),
    "NYSE": (252, 23_400),
    "NASDAQ": (252, 23_400),
    "24/7": (365, 86_400),
}


def periods_per_year(interval_seconds: int, *, sessions_per_year: float, session_seconds: int) -> float:
    """Return bars per year: bars per session x sessions per year.

    An intraday interval gives ceil(session / interval) bars a session (the last may be
    short); an interval as long as the session or longer gives one bar per session, and
    N-day intervals one bar per N sessions.
    """
    if interval_seconds <= 0:
        raise ValueError("interval_seconds must be positive")
    if interval_seconds >= 86_400:
        return sessions_per_year * 86_400 / interval_seconds
    if interval_seconds >= session_seconds:
        return float(sessions_per_year)
    return float(math.ceil(session_seconds / interval_seconds) * sessions_per_year)


def calendar_periods_per_year(calendar: str, interval_seconds: int) -> float:
    """Return bars per year for a market calendar: 252 x 390 for 1m XNYS, 365 x 1440 for 1m 24/7.

    Calendars outside the small built-in table are measured from their 2023 schedule
    (session count and median regular-session length).
    """
    known = _KNOWN_CALENDARS.get(calendar)
    if known is None:
        known = _measured_calendar(calendar)
    sessions, seconds = known
    return periods_per_year(interval_seconds, sessions_per_year=sessions, session_seconds=seconds)


def _measured_calendar(calendar: str) -> tuple[int, int]:
    schedule = get_calendar(calendar).schedule(dt.date(2023, 1, 1), dt.date(2023, 12, 31))
    if schedule.empty:
        raise ValueError(f"calendar {calendar!r} has no sessions in 2023")
    lengths = (schedule["close"] - schedule["open"]).dt.total_seconds()
    return len(schedule), int(lengths.median())
