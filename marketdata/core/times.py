"""Parse the time parameters users type (SPEC.md Conventions, Time).

- ISO-8601 with `Z` or an offset: that instant.
- A date alone (`2024-11-29`): that trading date in the market's time zone; as a start it
  means the date's local midnight, as an end the next local midnight (the date is included).
- A naive datetime (`2024-11-29T10:00`): market-local wall time.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pandas as pd

DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Times the store, the calendars and pandas all handle: pandas' nanosecond times end in
# 2262 and begin in 1677, and a session is scheduled for the whole year around a time.
EARLIEST_TIME = pd.Timestamp("1900-01-01T00:00:00Z")
LATEST_TIME = pd.Timestamp("2200-01-01T00:00:00Z")  # exclusive
SUPPORTED_TIMES = "from 1900-01-01 up to 2200-01-01 (UTC)"


class TimeParamError(ValueError):
    """A time parameter that cannot be read."""


def is_supported_time(stamp: pd.Timestamp) -> bool:
    """Return whether a UTC time lies in the range the store and the calendars handle."""
    return EARLIEST_TIME <= stamp < LATEST_TIME


def parse_time_param(value: str, tz: ZoneInfo | str, *, is_end: bool = False) -> pd.Timestamp:
    """Return the UTC instant `value` names for a market in `tz`."""
    text = value.strip()
    if not text:
        raise TimeParamError("empty time")
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    try:
        stamp = _parse(text, value, zone, is_end=is_end)
    except (OverflowError, NotImplementedError, pd.errors.OutOfBoundsDatetime):  # pandas' range ends
        stamp = None
    # A day's slack either side: the date-only bounds of the first and last days convert across midnight UTC.
    if stamp is None or not EARLIEST_TIME - pd.Timedelta(days=1) <= stamp <= LATEST_TIME + pd.Timedelta(days=1):
        raise TimeParamError(f"{value!r} is out of range: times go {SUPPORTED_TIMES}")
    return stamp


def _parse(text: str, value: str, zone: ZoneInfo, *, is_end: bool) -> pd.Timestamp:
    if DATE_ONLY.match(text):
        try:
            day = pd.Timestamp(text)
        except ValueError:
            raise TimeParamError(f"not a valid date: {value!r}") from None
        if is_end:
            day = day + pd.Timedelta(days=1)
        return day.tz_localize(zone).tz_convert("UTC")
    if text.isdigit():
        raise TimeParamError(f"not an ISO-8601 time: {value!r} (write e.g. 2024-11-29T14:30:00Z)")
    try:
        stamp = pd.Timestamp(text.replace(" ", "T", 1))
    except ValueError:
        raise TimeParamError(f"not an ISO-8601 time: {value!r}") from None
    if stamp is pd.NaT:
        raise TimeParamError(f"not an ISO-8601 time: {value!r}")
    if stamp.tzinfo is None:
        try:
            stamp = stamp.tz_localize(zone, nonexistent="raise", ambiguous="raise")
        except Exception:
            raise TimeParamError(f"{value!r} does not exist or is ambiguous in {zone.key} (DST change)") from None
    return stamp.tz_convert("UTC")
