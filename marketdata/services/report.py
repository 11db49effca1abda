"""Analytics reports: gather the bars (stored range or upload), then answer from the cache or compute."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from marketdata import selectors
from marketdata.core.bars import dedup_bars, validate_bars
from marketdata.core.calendar import calendar_periods_per_year, get_calendar
from marketdata.core.errors import RowError
from marketdata.core.intervals import Interval, IntervalError, parse_interval
from marketdata.core.report import (
    ReportError,
    ReportParams,
    build_report,
    infer_interval_seconds,
    report_key,
)
from marketdata.data_manager import calendar_named
from marketdata.models import AnalyticsReport, Symbol
from marketdata.providers.files import parse_bars_file
from mdserver.api import MAX_LIMIT, ApplicationError

MAX_REPORTED_ERRORS = 100
# A report holds every bar in memory several times over; past this, ask for a coarser interval.
REPORT_MAX_BARS = 500_000


@dataclass(frozen=True)
class ReportBars:
    """The bars a report summarizes and what they are."""

    frame: pd.DataFrame
    interval: Interval
    calendar: str
    as_of: pd.Timestamp
    source: dict[str, Any]


@dataclass(frozen=True)
class ReportUpload:
    """Bars sent with the request: a file's bytes (CSV, JSON or Parquet) as `POST imports` takes them."""

    data: bytes
    filename: str
    tz: str | None = None
    symbol: str | None = None  # picks the rows of one symbol when the file has a symbol column


def _invalid(field_name: str, message: str) -> ApplicationError:
    return ApplicationError(f"{field_name}: {message}", details=[{"field": field_name, "message": message}])


def _file_problems(errors: list[RowError], total: int) -> ApplicationError:
    return ApplicationError(
        f"{total} problem(s) found in the bars; no report was made",
        details=[error.as_dict() for error in errors[:MAX_REPORTED_ERRORS]],
    )


def _as_of(frame: pd.DataFrame, interval: Interval, end: pd.Timestamp | None) -> pd.Timestamp:
    """Return when the report's data ends: the last bar's end, or `end` when that comes first."""
    last_end = frame["ts"].iloc[-1] + interval.timedelta
    return last_end if end is None else min(last_end, end)


def _known_by(
    frame: pd.DataFrame, interval: Interval, start: pd.Timestamp | None, end: pd.Timestamp | None, calendar: str
) -> pd.DataFrame:
    """Keep bars opening at or after `start` and known by `end` (no look-ahead).

    An intraday bar is known at its close (open + interval); a daily bar at the close
    of its last session in `calendar`.
    """
    keep = np.ones(len(frame), dtype=bool)
    if start is not None:
        keep &= (frame["ts"] >= start).to_numpy()
    if end is not None:
        if interval.is_daily:
            keep &= _daily_known_at(frame, interval, calendar) <= end.value
        else:
            keep &= (frame["ts"] + interval.timedelta <= end).to_numpy()
    return frame[keep].reset_index(drop=True)


def _daily_known_at(frame: pd.DataFrame, interval: Interval, calendar_name: str) -> np.ndarray:
    """Return when each daily bar is known (UTC ns): the close of the `interval.count`-th session from its date.

    A bar dated on a day without a session (a weekend bar on a weekday market) counts
    from the next session; past the calendar's known sessions, from its open plus the days.
    """
    calendar = get_calendar(calendar_name)
    dates = frame["ts"].dt.tz_convert(calendar.tz).dt.tz_localize(None).dt.normalize()
    sessions = calendar.schedule(
        dates.iloc[0].date(), dates.iloc[-1].date() + dt.timedelta(days=7 * interval.count + 14)
    )
    closes = np.append(sessions["close"].to_numpy("datetime64[ns]").view(np.int64), 0)  # 0: a slot for "beyond"
    last = np.searchsorted(sessions.index.to_numpy("datetime64[ns]"), dates.to_numpy("datetime64[ns]"))
    last = np.minimum(last + interval.count - 1, len(sessions))
    fallback = (frame["ts"] + pd.Timedelta(days=interval.count)).to_numpy("datetime64[ns]").view(np.int64)
    return np.where(last < len(sessions), closes[last], fallback)


def report_bars_parse(
    *,
    upload: ReportUpload,
    interval: Interval | None,
    calendar: str,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
) -> ReportBars:
    """Parse and validate uploaded bars exactly as `POST imports` does; raise naming every bad row."""
    parsed = parse_bars_file(upload.data, filename=upload.filename, tz=upload.tz, max_errors=MAX_REPORTED_ERRORS)
    if not parsed.ok:
        raise _file_problems(parsed.errors, parsed.errors_total)
    keys = list(parsed.frames)
    if keys and keys != [None]:
        if upload.symbol is not None:
            keys = [key for key in keys if str(key).lower() == upload.symbol.strip().lower()]
            if not keys:
                raise _invalid("symbol", f"the file has no rows of {upload.symbol!r}")
        elif len(keys) > 1:
            shown = ", ".join(str(key) for key in keys[:10])
            raise _invalid("symbol", f"the file holds several symbols ({shown}); give symbol to pick one")
    if not keys:  # defensive: a parse without errors always has a frame
        raise _invalid("file", "the file has no bars")
    frame, rows = parsed.frames[keys[0]], parsed.rows[keys[0]]
    errors = validate_bars(frame, rows, limit=MAX_REPORTED_ERRORS)
    deduped = dedup_bars(frame, rows, limit=MAX_REPORTED_ERRORS)
    errors.extend(deduped.errors)
    if errors:
        errors.sort(key=lambda error: (error.row is not None, error.row or 0))
        raise _file_problems(errors, len(errors))
    frame = deduped.frame
    inferred = interval is None
    if inferred:
        interval = _infer_interval(frame, calendar)
    frame = _known_by(frame, interval, start, end, calendar)
    if frame.empty:
        raise _invalid("start" if start is not None else "end", "no bars of the file in this range")
    if len(frame) > REPORT_MAX_BARS:
        raise _invalid("file", f"more than {REPORT_MAX_BARS:,} bars; send a shorter range or coarser bars")
    source = {
        "kind": "file",
        "filename": upload.filename,
        "format": parsed.format,
        # Without a symbol column, a given symbol only names the bars.
        "symbol": upload.symbol if keys[0] is None else str(keys[0]),
        "interval": str(interval),
        "interval_inferred": inferred,
        "calendar": calendar,
        "rows": parsed.rows_total,
        "duplicates": deduped.duplicates,
    }
    return ReportBars(frame, interval, calendar, _as_of(frame, interval, end), source)


def _infer_interval(frame: pd.DataFrame, calendar: str) -> Interval:
    """Return the interval of the most common spacing; whole days count the calendar's sessions in them."""
    seconds = infer_interval_seconds(frame["ts"].to_numpy(dtype="datetime64[ns]").view(np.int64))
    if seconds is None:
        # One bar (or sub-second spacing) says nothing; 1m is the import default.
        if len(frame) < 2:
            return parse_interval("1m")
        raise _invalid("interval", "cannot tell the interval from the timestamps; give interval")
    if seconds > 86_400 and seconds % 86_400 == 0:
        # `Nd` is N sessions: weekly bars on a weekday market are 5d, not 7d (which would be 7 sessions).
        sessions_a_year = calendar_periods_per_year(calendar, 86_400)
        return parse_interval(f"{max(1, round(seconds / 86_400 * sessions_a_year / 365.25))}d")
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds % size == 0:
            try:
                return parse_interval(f"{seconds // size}{unit}")
            except IntervalError as exc:
                raise _invalid("interval", f"{exc}; give interval") from None
    raise AssertionError("every whole number of seconds has a unit")  # pragma: no cover


def report_bars_read(
    *,
    symbol: Symbol,
    interval: Interval,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    session: str,
) -> ReportBars:
    """Read the bars `GET bars` returns for the range, keeping only base bars known by `end`."""
    base = selectors.bars_base_interval(symbol=symbol, target=interval)
    read_end = end
    if end is not None and base is not None and not base.is_daily:
        # A base bar opening after end - base is still open at `end`: leave it out (no look-ahead).
        read_end = end - base.timedelta + pd.Timedelta(1, "ns")
    pages: list[pd.DataFrame] = []
    count, page_start = 0, start
    while True:
        page = selectors.bars_page(
            symbol=symbol, interval=interval, start=page_start, end=read_end, limit=MAX_LIMIT, session=session
        )
        pages.append(page.bars)
        count += len(page.bars)
        if count > REPORT_MAX_BARS:
            raise _invalid("start", f"more than {REPORT_MAX_BARS:,} bars in range; use a coarser interval")
        if page.next_start is None:
            break
        page_start = page.next_start
    frame = pd.concat(pages, ignore_index=True) if len(pages) > 1 else pages[0].reset_index(drop=True)
    if base is not None and base.is_daily and end is not None and not frame.empty:
        # Stored daily bars are known at their session's close, not at their open.
        frame = _known_by(frame, interval, None, end, symbol.calendar)
    if frame.empty:
        where = "between start and end" if start is not None or end is not None else "stored"
        raise _invalid("start" if start is not None else "symbol", f"no {interval} bars of {symbol} {where}")
    source = {
        "kind": "symbol",
        "symbol": symbol.ticker,
        "venue": symbol.venue,
        "interval": str(interval),
        "session": session,
        "calendar": symbol.calendar,
        "start": start,
        "end": end,
    }
    return ReportBars(frame, interval, symbol.calendar, _as_of(frame, interval, end), source)


def report_get_or_create(*, bars: ReportBars, params: ReportParams, owner: Any) -> dict[str, Any]:
    """Answer from the cache when these bars and parameters were summarized before, else compute and store.

    Reports of stored bars are shared by every user. Reports of sent bars are cached per
    user: a shared entry would tell one user that another had sent the same data.
    Returns `{key, cached, created_at, source, parameters, report}`.
    """
    calendar = get_calendar(bars.calendar)
    periods = calendar_periods_per_year(bars.calendar, bars.interval.seconds)
    key = report_key(bars.frame, params, calendar=bars.calendar, interval=bars.interval, periods_per_year=periods,
                     as_of=bars.as_of)  # fmt: skip
    if bars.source["kind"] == "file":
        key = hashlib.sha256(f"{key}:sent by user {owner.pk}".encode()).hexdigest()
    stored = AnalyticsReport.objects.filter(key=key).first()
    cached = stored is not None
    if stored is None:
        try:
            result = build_report(bars.frame, params, calendar=calendar, interval=bars.interval,
                                  periods_per_year=periods, as_of=bars.as_of)  # fmt: skip
        except ReportError as exc:
            raise _invalid(exc.field, exc.message) from None
        # A concurrent request may have stored the same key meanwhile: keep the first, answer with it.
        stored, created = AnalyticsReport.objects.get_or_create(
            key=key,
            defaults={
                "source": bars.source["kind"],
                "symbol": (bars.source.get("symbol") or "")[:64],
                "interval": str(bars.interval),
                "bars": len(bars.frame),
                "result": result,
            },
        )
        cached = not created
    return {
        "key": key,
        "cached": cached,
        "created_at": stored.created_at,
        "source": bars.source,
        "parameters": params.canonical(),
        "report": stored.result if cached else result,
    }


def calendar_checked(*, name: str) -> str:
    """Return `name` when it is a known market calendar; raise a 400 naming `calendar` otherwise."""
    calendar_named(name, field="calendar")
    return name


def report_params(*, indicators: str | None, **knobs: Any) -> ReportParams:
    """Build report parameters; raise a 400 naming the bad knob."""
    try:
        return ReportParams.from_text(indicators=indicators, **knobs)
    except ReportError as exc:
        raise _invalid(exc.field, exc.message) from None


__all__ = [
    "REPORT_MAX_BARS",
    "ReportBars",
    "ReportUpload",
    "calendar_checked",
    "report_bars_parse",
    "report_bars_read",
    "report_get_or_create",
    "report_params",
]
