"""Market-data reads for pages and the API."""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from marketdata import store
from marketdata.core.bar_tables import (
    bars_from_table,
    bars_to_table,
    empty_bars_table,
    first_last_ts,
    shift_ts,
    table_ts,
    with_ts,
)
from marketdata.core.bars import empty_bars, inside_sessions, resample_bars
from marketdata.core.calendar import TradingCalendar, get_calendar
from marketdata.core.intervals import Interval, can_derive, parse_interval
from marketdata.models import Symbol
from mdserver.api import ApplicationError


def symbols_overview(*, coverage_days: int = 30) -> list[dict]:
    """Return active symbols with stored intervals, bar counts, data range, last price and coverage."""
    from marketdata import data_manager

    symbols = list(Symbol.objects.filter(active=True))
    summary = store.bars_summary(symbol_ids=[s.id for s in symbols])
    # Up to yesterday: today's session may still be running and would look like a hole.
    yesterday = pd.Timestamp.now(tz="UTC").date() - dt.timedelta(days=1)
    rows = []
    for symbol in symbols:
        intervals = summary.get(symbol.id, {})
        last_bar = store.bars_latest(symbol_id=symbol.id, interval="1m", count=1) if "1m" in intervals else None
        cells = []
        if "1m" in intervals:
            days = data_manager.coverage(
                symbol=symbol, interval="1m", start=yesterday - dt.timedelta(days=coverage_days), end=yesterday
            )
            cells = [{**day, "percent": round(day["bar_quality"] * 100)} for day in days]
        rows.append(
            {
                "symbol": symbol,
                "intervals": sorted(intervals),
                "bars": sum(item["count"] for item in intervals.values()),
                "first": min((item["first"] for item in intervals.values()), default=None),
                "last": max((item["last"] for item in intervals.values()), default=None),
                "last_price": None if last_bar is None or last_bar.empty else float(last_bar["close"].iloc[-1]),
                "coverage": cells,
            }
        )
    return rows


# --- bars, trades and quotes -------------------------------------------------


@dataclass(frozen=True)
class BarsPage:
    table: pa.Table  # bar table (marketdata.core.bar_tables), labelled as asked
    next_start: pd.Timestamp | None  # open time of the first bar of the next page

    @functools.cached_property
    def bars(self) -> pd.DataFrame:
        """The page as a normalized bar frame."""
        return bars_from_table(self.table)


def symbol_resolve(*, ticker: str, venue: str | None = None) -> Symbol:
    """Find one symbol by ticker (and venue); a clear 400 when none or several match."""
    matches = Symbol.objects.filter(ticker__iexact=ticker.strip())
    if venue:
        matches = matches.filter(venue__iexact=venue.strip())
    found = list(matches[:10])
    if not found:
        where = f" at venue {venue!r}" if venue else ""
        raise ApplicationError(
            f"unknown symbol {ticker!r}{where}",
            details=[{"field": "symbol", "message": f"unknown symbol {ticker!r}{where}"}],
        )
    if len(found) > 1:
        venues = ", ".join(s.venue for s in found)
        raise ApplicationError(
            f"symbol {ticker!r} trades at several venues ({venues}); add venue=",
            details=[{"field": "venue", "message": f"required: {ticker!r} is listed at {venues}"}],
        )
    return found[0]


def bars_base_interval(
    *, symbol: Symbol, target: Interval, stored_intervals: list[str] | None = None
) -> Interval | None:
    """Return the finest stored interval that `target` can be built from (None: nothing stored)."""
    if stored_intervals is None:
        stored_intervals = store.bar_intervals(symbol_id=symbol.id)
    stored = [parse_interval(text) for text in stored_intervals]
    if not stored:
        return None
    usable = sorted((base for base in stored if can_derive(target, base)), key=lambda base: base.seconds)
    if not usable:
        finest = min(stored, key=lambda base: base.seconds)
        raise ApplicationError(
            f"interval {target} is finer than the stored bars of {symbol} (finest: {finest})",
            details=[{"field": "interval", "message": f"finer than the finest stored interval {finest}"}],
        )
    base = usable[0]
    if base.is_daily and target != base:
        raise ApplicationError(
            f"{symbol} has only {base} bars stored; {target} cannot be derived from them",
            details=[{"field": "interval", "message": f"only {base} bars are stored"}],
        )
    return base


def _rows_per_bin(target: Interval, base: Interval) -> int:
    if target.is_daily:
        return target.count * math.ceil(86_400 / base.seconds)
    return math.ceil(target.seconds / base.seconds)


def _session_dates(trading: TradingCalendar, raw: pa.Table, target: Interval) -> tuple[dt.date, dt.date]:
    """Return the range of session dates that bars in `raw` can belong to."""
    first_ts, last_ts = first_last_ts(raw)
    first = first_ts.tz_convert(trading.tz).date() - dt.timedelta(days=1)
    last = last_ts.tz_convert(trading.tz).date() + dt.timedelta(days=1)
    if target.is_daily and target.count > 1:
        first = dt.date(first.year, 1, 1)
        last = last + dt.timedelta(days=7 * target.count)
    return first, last


def _derive(
    raw: pa.Table, *, target: Interval, base: Interval, trading: TradingCalendar, session: str, label: str
) -> pa.Table:
    """Build `target` bars from stored `base` bars (a bar table in, a bar table out)."""
    if base.is_daily:  # stored daily bars are served as they are
        return raw if label == "left" else shift_ts(raw, base.timedelta)
    first, last = _session_dates(trading, raw, target)
    if target == base:
        bars = raw
        if session == "regular":
            inside = inside_sessions(table_ts(raw), trading.session_edges(first, last))
            bars = raw if inside.all() else raw.filter(pa.array(inside))
        return bars if label == "left" else shift_ts(bars, base.timedelta)
    sessions = trading.schedule(first, last)
    frame = resample_bars(bars_from_table(raw), target, sessions, label=label, session=session, tz=trading.tz)
    return bars_to_table(frame)


def bars_page(
    *,
    symbol: Symbol,
    interval: Interval,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    limit: int,
    label: str = "left",
    session: str = "regular",
) -> BarsPage:
    """Return up to `limit` bars of `interval` from `start` (inclusive) to `end` (exclusive).

    Derived bars come from the finest stored base interval. The page reads at most
    (limit + 1) bins' worth of base rows; when the read was cut short, its last bin
    may be incomplete, so that bin opens the next page instead.
    """
    layouts = store.bar_layouts(symbol_id=symbol.id, start=start, end=end)
    base = bars_base_interval(symbol=symbol, target=interval, stored_intervals=list(layouts))
    if base is None:
        return BarsPage(empty_bars_table(), None)
    trading = get_calendar(symbol.calendar)
    read_limit = (limit + 1) * _rows_per_bin(interval, base) + 1
    raw = store.bars_read_table(
        symbol_id=symbol.id,
        interval=str(base),
        start=start,
        end=end,
        limit=read_limit,
        layout=layouts[str(base)],
    )
    if raw.num_rows == 0:
        return BarsPage(empty_bars_table(), None)
    truncated = raw.num_rows == read_limit
    bars = _derive(raw, target=interval, base=base, trading=trading, session=session, label="left")
    opens = table_ts(bars)
    next_start = None
    if truncated and bars.num_rows > 0:
        next_start = pd.Timestamp(int(opens[-1]), tz="UTC")
        bars = bars.slice(0, bars.num_rows - 1)
    if bars.num_rows > limit:
        next_start = pd.Timestamp(int(opens[limit]), tz="UTC")
        bars = bars.slice(0, limit)
    if label == "right" and bars.num_rows:
        right = _derive(raw, target=interval, base=base, trading=trading, session=session, label="right")
        bars = with_ts(bars, table_ts(right)[: bars.num_rows])
    return BarsPage(bars, next_start)


def bars_latest(
    *, symbol: Symbol, interval: Interval, count: int, session: str = "regular", end: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Return the newest `count` bars of `interval` opening before `end` (the last may still be forming)."""
    base = bars_base_interval(symbol=symbol, target=interval)
    if base is None:
        return empty_bars()
    trading = get_calendar(symbol.calendar)
    raw = store.bars_read_table(
        symbol_id=symbol.id,
        interval=str(base),
        end=end,
        limit=(count + 1) * _rows_per_bin(interval, base),
        newest=True,
    )
    if raw.num_rows == 0:
        return empty_bars()
    bars = _derive(raw, target=interval, base=base, trading=trading, session=session, label="left")
    # The oldest bin may be cut by the read; drop it unless the read reached the first stored bar.
    if bars.num_rows > count:
        bars = bars.slice(bars.num_rows - count)
    return bars_from_table(bars)


@dataclass(frozen=True)
class TicksPage:
    rows: pd.DataFrame
    next_start: pd.Timestamp | None
    next_skip: int


def ticks_page(
    *, kind: str, symbol: Symbol, start: pd.Timestamp | None, end: pd.Timestamp | None, limit: int, skip: int = 0
) -> TicksPage:
    """Return up to `limit` trades or quotes; the cursor is (time, rows already seen at that time)."""
    read = store.trades_read if kind == "trades" else store.quotes_read
    rows = read(symbol_id=symbol.id, start=start, end=end, limit=limit + skip + 1).iloc[skip:]
    if len(rows) <= limit:
        return TicksPage(rows.reset_index(drop=True), None, 0)
    page = rows.iloc[:limit]
    next_start = rows["ts"].iloc[limit]
    seen = int((page["ts"] == next_start).sum()) + (skip if start is not None and next_start == start else 0)
    return TicksPage(page.reset_index(drop=True), next_start, seen)
