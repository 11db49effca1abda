"""The normalized bar frame: validation, de-duplication and resampling.

A bar frame is a pandas DataFrame with the columns in `BAR_COLUMNS`:

- `ts`: bar OPEN time, datetime64[ns, UTC]
- `open`, `high`, `low`, `close`, `volume`: float64
- `trade_count`, `vwap`: float64, NaN where unknown

with a RangeIndex, sorted by `ts`. Every function here is vectorized with numpy:
Python loops run over columns or checks, never over bars or sessions, except to
format at most `limit` error messages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from marketdata.core.errors import RowError
from marketdata.core.intervals import Interval, parse_interval
from marketdata.core.times import EARLIEST_TIME, LATEST_TIME, SUPPORTED_TIMES

BAR_COLUMNS: list[str] = [
    "ts",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "trade_count",
    "vwap",
]
VALUE_COLUMNS: list[str] = BAR_COLUMNS[1:]
REQUIRED_COLUMNS: list[str] = ["ts", "open", "high", "low", "close", "volume"]
# Columns a source may lack; they read as NaN (unknown).
OPTIONAL_COLUMNS: list[str] = ["trade_count", "vwap"]

NS_PER_DAY = 86_400 * 1_000_000_000
# Prices, volumes and vwap must stay below this magnitude: sums of many such values (session
# volume, averages, resampling) stay finite, and no real instrument comes near it.
MAX_MAGNITUDE = 1e18
_MAX_MAGNITUDE_TEXT = "1e18"
_INT64_MIN = np.iinfo(np.int64).min
_INT64_MAX = np.iinfo(np.int64).max

Label = Literal["left", "right"]
SessionFilter = Literal["regular", "all"]


# --------------------------------------------------------------------------- frame


def empty_bars() -> pd.DataFrame:
    """Return a bar frame with no rows and the normalized dtypes."""
    return _bars_from_arrays(
        np.empty(0, dtype=np.int64),
        {name: np.empty(0, dtype=np.float64) for name in VALUE_COLUMNS},
    )


def normalize_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """Return `frame` as a normalized bar frame.

    Keeps only `BAR_COLUMNS`, converts `ts` to UTC nanoseconds (it must be
    timezone-aware), values to float64 (missing `trade_count`/`vwap` become
    NaN), sorts by `ts` (stable) and resets the index.
    """
    missing = [name for name in REQUIRED_COLUMNS if name not in frame.columns]
    if missing:
        raise ValueError(f"bar frame is missing columns: {', '.join(missing)}")
    ts = _utc_ns(frame["ts"], "ts")
    values = {name: _value_array(frame, name) for name in VALUE_COLUMNS}
    if not _is_sorted(ts):
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        values = {name: array[order] for name, array in values.items()}
    return _bars_from_arrays(ts, values)


def _bars_from_arrays(ts_ns: np.ndarray, values: dict[str, np.ndarray]) -> pd.DataFrame:
    data: dict[str, Any] = {
        "ts": pd.DatetimeIndex(ts_ns.view("datetime64[ns]"), tz="UTC"),
    }
    for name in VALUE_COLUMNS:
        data[name] = values[name]
    return pd.DataFrame(data, copy=False)


def _utc_ns(values: pd.Series | pd.Index, what: str) -> np.ndarray:
    """Return timezone-aware datetimes as int64 UTC nanoseconds."""
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        raise ValueError(f"{what} must be timezone-aware datetimes (UTC), got dtype {values.dtype}")
    return values.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _value_array(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        if name in OPTIONAL_COLUMNS:
            return np.full(len(frame), np.nan)
        raise ValueError(f"bar frame is missing column {name!r}")
    return frame[name].to_numpy(dtype=np.float64, na_value=np.nan)


def _is_sorted(values: np.ndarray) -> bool:
    return bool(len(values) < 2 or (values[1:] >= values[:-1]).all())


def _count_passed(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Return, per value, how many of the sorted `bounds` are <= it.

    Same as `np.searchsorted(bounds, values, side="right")`; several times
    faster for many sorted values and few bounds: values from first[j] on have
    passed bound j.
    """
    if not _is_sorted(values):
        return np.searchsorted(bounds, values, side="right")
    first = np.searchsorted(values, bounds, side="left")
    counts = np.diff(first, prepend=0, append=len(values))
    return np.repeat(np.arange(len(bounds) + 1), counts)


def _default_rows(frame: pd.DataFrame, rows: np.ndarray | None) -> np.ndarray:
    if rows is None:
        return np.arange(1, len(frame) + 1)
    rows = np.asarray(rows)
    if len(rows) != len(frame):
        raise ValueError(f"rows has {len(rows)} entries for a frame of {len(frame)}")
    return rows


def _format_number(value: float) -> str:
    return repr(float(value))


def _format_ts(ns: int) -> str:
    return pd.Timestamp(int(ns), unit="ns", tz="UTC").isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------- validation


@dataclass(frozen=True, slots=True)
class _Check:
    field: str
    mask: np.ndarray
    describe: Callable[[int], str]


def validate_bars(frame: pd.DataFrame, rows: np.ndarray | None = None, limit: int = 100) -> list[RowError]:
    """Return the first `limit` problems in `frame`, in row order.

    Checks: `ts` present (not NaT) and inside the supported times
    (`marketdata.core.times`); open/high/low/close/volume finite numbers;
    trade_count and vwap finite and >= 0 where known (NaN = unknown is fine),
    trade_count whole and below 2^63; prices, volume and vwap of magnitude
    below `MAX_MAGNITUDE`;
    volume >= 0; high >= open, close, low; low <= open, close. Order and sign
    checks run only where the numbers are finite and not too large, so one bad
    number gives one error.
    `rows[i]` is the source row number reported for frame row i (default: the
    1-based position).
    """
    missing = [name for name in REQUIRED_COLUMNS if name not in frame.columns]
    if missing:
        return [RowError(None, name, f"missing column {name!r}") for name in missing]
    ts_dtype = frame["ts"].dtype
    if not (isinstance(ts_dtype, pd.DatetimeTZDtype) or ts_dtype.kind == "M"):
        return [RowError(None, "ts", f"ts must be datetimes, got dtype {ts_dtype}")]
    rows = _default_rows(frame, rows)
    if limit <= 0 or len(frame) == 0:
        return []

    checks: list[_Check] = [_Check("ts", frame["ts"].isna().to_numpy(), lambda i: "timestamp is missing (NaT)")]
    checks.append(_supported_time_check(frame["ts"]))
    numbers: dict[str, np.ndarray] = {}
    # Per column: usable in the sign and order checks (finite and, except counts, not too large).
    finite: dict[str, np.ndarray] = {}
    for name in VALUE_COLUMNS:
        if name not in frame.columns:
            continue
        array, unparsed_check = _numeric_column(frame, name)
        numbers[name] = array
        finite[name] = np.isfinite(array)
        if unparsed_check is not None:
            checks.append(unparsed_check)
            parsed = ~unparsed_check.mask
        else:
            parsed = None
        checks.extend(_finite_checks(name, array, parsed))
        if name != "trade_count":  # counts have their own limit, 2^63
            too_large = _magnitude_check(name, array, finite[name])
            checks.append(too_large)
            finite[name] = finite[name] & ~too_large.mask

    volume = numbers["volume"]
    checks.append(
        _Check(
            "volume",
            finite["volume"] & (volume < 0),
            lambda i: f"volume {_format_number(volume[i])} is negative",
        )
    )
    for name in OPTIONAL_COLUMNS:
        if name in numbers:
            checks.append(_negative_check(name, numbers[name], finite[name]))
    if "trade_count" in numbers:
        checks.append(_count_check("trade_count", numbers["trade_count"], finite["trade_count"]))
    checks.extend(
        [
            _order_check("high", "below", "low", numbers, finite),
            _order_check("high", "below", "open", numbers, finite),
            _order_check("high", "below", "close", numbers, finite),
            _order_check("low", "above", "open", numbers, finite),
            _order_check("low", "above", "close", numbers, finite),
        ]
    )
    return _collect_errors(checks, rows, limit)


def _numeric_column(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, _Check | None]:
    """Return the column as float64, plus a check for text that is not a number."""
    series = frame[name]
    try:
        return series.to_numpy(dtype=np.float64, na_value=np.nan), None
    except (TypeError, ValueError):
        pass
    parsed = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    raw = series.to_numpy(dtype=object)
    unparsed = np.isnan(parsed) & series.notna().to_numpy()
    return parsed, _Check(name, unparsed, lambda i: f"{name} {raw[i]!r} is not a number")


def _finite_checks(name: str, array: np.ndarray, parsed: np.ndarray | None) -> list[_Check]:
    infinite = _Check(
        name,
        np.isinf(array),
        lambda i: f"{name} is not finite ({_format_number(array[i])})",
    )
    if name in OPTIONAL_COLUMNS:
        # NaN means "unknown" here; only infinities are wrong.
        return [infinite]
    missing = np.isnan(array)
    if parsed is not None:
        missing &= parsed  # text that is not a number has its own error
    return [_Check(name, missing, lambda i: f"{name} is missing (NaN)"), infinite]


def _supported_time_check(ts: pd.Series) -> _Check:
    """Times the calendars cannot schedule sessions for would break every later read."""
    earliest, latest = EARLIEST_TIME, LATEST_TIME
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):  # naive datetimes are read as UTC
        earliest, latest = earliest.tz_localize(None), latest.tz_localize(None)
    # Compared in the column's own unit: a microsecond column can hold times nanoseconds cannot.
    outside = ((ts < earliest) | (ts >= latest)).to_numpy(dtype=bool)  # NaT compares False

    def describe(i: int) -> str:
        shown = ts.iloc[i].isoformat().replace("+00:00", "Z")
        return f"timestamp {shown} is outside the supported range: times go {SUPPORTED_TIMES}"

    return _Check("ts", outside, describe)


def _magnitude_check(name: str, array: np.ndarray, finite: np.ndarray) -> _Check:
    """Refuse finite values whose sums would overflow to inf in analytics and JSON."""
    with np.errstate(invalid="ignore"):
        too_large = finite & (np.abs(array) >= MAX_MAGNITUDE)
    return _Check(
        name,
        too_large,
        lambda i: f"{name} {_format_number(array[i])} is too large (magnitude must be below {_MAX_MAGNITUDE_TEXT})",
    )


def _negative_check(name: str, array: np.ndarray, finite: np.ndarray) -> _Check:
    return _Check(
        name,
        finite & (array < 0),
        lambda i: f"{name} {_format_number(array[i])} is negative",
    )


def _count_check(name: str, array: np.ndarray, finite: np.ndarray) -> _Check:
    """A count is a whole number that fits a 64-bit integer (negatives are reported as such)."""
    with np.errstate(invalid="ignore"):
        wrong = finite & (array >= 0) & ((array != np.floor(array)) | (array >= 2.0**63))

    def reason(row: int) -> str:
        if array[row] >= 2.0**63:
            return f"{name} {_format_number(array[row])} is too large (at most 9223372036854775807)"
        return f"{name} {_format_number(array[row])} is not a whole number of trades"

    return _Check(name, wrong, reason)


def _order_check(
    name: str,
    relation: Literal["below", "above"],
    other: str,
    numbers: dict[str, np.ndarray],
    finite: dict[str, np.ndarray],
) -> _Check:
    left, right = numbers[name], numbers[other]
    broken = left < right if relation == "below" else left > right
    return _Check(
        name,
        broken & finite[name] & finite[other],
        lambda i: f"{name} {_format_number(left[i])} is {relation} {other} {_format_number(right[i])}",
    )


def _collect_errors(checks: list[_Check], rows: np.ndarray, limit: int) -> list[RowError]:
    positions: list[np.ndarray] = []
    check_ids: list[np.ndarray] = []
    for check_id, check in enumerate(checks):
        # No row can be among the first `limit` errors past its check's first `limit`.
        hits = np.flatnonzero(check.mask)[:limit]
        positions.append(hits)
        check_ids.append(np.full(len(hits), check_id))
    position = np.concatenate(positions)
    check_id = np.concatenate(check_ids)
    order = np.lexsort((check_id, position))[:limit]
    return [
        RowError(_row_number(rows[p]), checks[c].field, checks[c].describe(p))
        for p, c in zip(position[order].tolist(), check_id[order].tolist(), strict=True)
    ]


def _row_number(value: Any) -> int | None:
    return None if pd.isna(value) else int(value)


# ---------------------------------------------------------------------------- dedup


@dataclass(frozen=True)
class DedupResult:
    """Bars with one row per `ts`, how many exact repeats were dropped, and conflicts.

    `rows` holds the source row number of each row of `frame`.
    """

    frame: pd.DataFrame
    duplicates: int
    errors: list[RowError]
    rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


def dedup_bars(frame: pd.DataFrame, rows: np.ndarray | None = None, *, limit: int = 100) -> DedupResult:
    """Sort by `ts` (stable) and keep the first row of each timestamp.

    A later row equal to the first in every column (NaN equals NaN) is an exact
    duplicate: dropped and counted. A later row that differs is a conflict: it
    is dropped too and reported as an error on field "ts" naming both source
    rows (at most `limit` errors). Callers decide whether conflicts are fatal.
    """
    rows = _default_rows(frame, rows)
    ts = frame["ts"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    order = None if _is_sorted(ts) else np.argsort(ts, kind="stable")
    sorted_ts = ts if order is None else ts[order]
    repeat = np.zeros(len(ts), dtype=bool)
    repeat[1:] = sorted_ts[1:] == sorted_ts[:-1]
    if not repeat.any():
        if order is None:
            return DedupResult(frame.reset_index(drop=True), 0, [], rows)
        return DedupResult(frame.iloc[order].reset_index(drop=True), 0, [], rows[order])

    positions = np.arange(len(ts))
    # Position (in sorted order) of the first row of each row's timestamp.
    first = np.maximum.accumulate(np.where(repeat, 0, positions))
    later = np.flatnonzero(repeat)
    source_order = positions if order is None else order
    later_src = source_order[later]
    first_src = source_order[first[later]]

    differs = np.zeros(len(later), dtype=bool)
    first_differing = np.full(len(later), -1)
    for column_id, name in enumerate(frame.columns):
        if name == "ts":
            continue
        values = _comparable(frame[name])
        a, b = values[later_src], values[first_src]
        unequal = ~((a == b) | (pd.isna(a) & pd.isna(b)))
        first_differing[unequal & ~differs] = column_id
        differs |= unequal

    keep = np.ones(len(ts), dtype=bool)
    keep[later] = False
    kept = source_order[keep]
    conflicts = np.flatnonzero(differs)[:limit]
    errors = []
    for k in conflicts.tolist():
        name = frame.columns[first_differing[k]]
        values = frame[name]
        errors.append(
            RowError(
                _row_number(rows[later_src[k]]),
                "ts",
                f"ts {_format_ts(sorted_ts[later[k]])} in row "
                f"{_row_number(rows[later_src[k]])} conflicts with row "
                f"{_row_number(rows[first_src[k]])}: {name} "
                f"{_format_value(values.iloc[later_src[k]])} vs "
                f"{_format_value(values.iloc[first_src[k]])}",
            )
        )
    return DedupResult(
        frame.iloc[kept].reset_index(drop=True),
        int(len(later) - differs.sum()),
        errors,
        rows[kept],
    )


def _comparable(series: pd.Series) -> np.ndarray:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.to_numpy(dtype="datetime64[ns]")
    return series.to_numpy()


def _format_value(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return _format_number(value)
    return str(value)


# ------------------------------------------------------------------------ sessions


@dataclass(frozen=True, slots=True)
class _Schedule:
    """Session arrays in int64 nanoseconds, sorted by open."""

    dates: np.ndarray  # session date as naive midnight
    opens: np.ndarray  # UTC
    closes: np.ndarray  # UTC
    edges: np.ndarray  # open0, close0, open1, close1, ...: odd searchsorted = inside

    @classmethod
    def from_frame(cls, sessions: pd.DataFrame) -> _Schedule:
        opens = _utc_ns(sessions["open"], "sessions.open")
        closes = _utc_ns(sessions["close"], "sessions.close")
        index = pd.DatetimeIndex(sessions.index)
        if index.tz is not None:
            index = index.tz_localize(None)
        dates = index.to_numpy(dtype="datetime64[ns]").view(np.int64)
        if not _is_sorted(opens):
            order = np.argsort(opens, kind="stable")
            opens, closes, dates = opens[order], closes[order], dates[order]
        edges = np.empty(2 * len(opens), dtype=np.int64)
        edges[0::2] = opens
        edges[1::2] = closes
        if not _is_sorted(edges):
            raise ValueError("sessions overlap or close before they open")
        if not _is_sorted(dates):
            raise ValueError("session dates are not in the order of their opens")
        return cls(dates, opens, closes, edges)

    def locate(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (inside [open, close) of a session?, session index or gap index).

        For a ts outside every session the second array is the index of the
        next session (len(sessions) after the last).
        """
        position = _count_passed(ts, self.edges)
        return (position & 1).astype(bool), position >> 1

    def sessions_by_date(self, local_dates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return per date (naive midnight ns): the session on it (-1 if none), and
        the first session on or after it (len(sessions) if none)."""
        following = np.searchsorted(self.dates, local_dates)
        clipped = np.minimum(following, max(len(self.dates) - 1, 0))
        found = (following < len(self.dates)) & (self.dates[clipped] == local_dates)
        return np.where(found, following, -1), following


def inside_sessions(ts_ns: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Return per time (int64 UTC ns) whether it lies in a session [open, close).

    `edges` are open0, close0, open1, close1, ... in order (`TradingCalendar.session_edges`).
    """
    return (_count_passed(ts_ns, edges) & 1).astype(bool)


def filter_regular(frame: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Keep the bars whose ts lies in a session's regular hours [open, close)."""
    if frame.empty:
        return frame.reset_index(drop=True)
    inside = inside_sessions(_utc_ns(frame["ts"], "ts"), _Schedule.from_frame(sessions).edges)
    if inside.all():
        return frame.reset_index(drop=True)
    return frame.loc[inside].reset_index(drop=True)


@dataclass(frozen=True, slots=True)
class _LocalDays:
    """For bars outside regular hours: their market-local day and its session."""

    start: np.ndarray  # UTC instant of local midnight
    end: np.ndarray  # UTC instant of the next local midnight
    session: np.ndarray  # session on that local date, -1 if none
    following: np.ndarray  # first session on or after that date, len(sessions) if none


def _local_days(ts: np.ndarray, schedule: _Schedule, tz: Any) -> _LocalDays:
    """Find the local day of each bar (`ts` sorted) from the day boundaries in UTC.

    Only the few midnights of the covered days go through the time zone, not
    every bar.
    """
    first, last = _local_midnight(int(ts[0]), tz), _local_midnight(int(ts[-1]), tz)
    midnights = np.arange(first, last + 2 * NS_PER_DAY, NS_PER_DAY, dtype=np.int64)
    bounds = _local_to_utc(midnights, tz)
    day = _count_passed(ts, bounds) - 1
    session, following = schedule.sessions_by_date(midnights)
    return _LocalDays(bounds[day], bounds[day + 1], session[day], following[day])


def _local_midnight(ts: int, tz: Any) -> int:
    """Return the local wall-clock midnight of the day of `ts`, as naive ns."""
    wall = ts if _is_utc(tz) else pd.Timestamp(ts, unit="ns", tz="UTC").tz_convert(tz).tz_localize(None).value
    return wall - wall % NS_PER_DAY


def _local_to_utc(wall: np.ndarray, tz: Any) -> np.ndarray:
    """Convert local wall-clock instants (midnights) to UTC nanoseconds."""
    if _is_utc(tz):
        return wall
    # A midnight that happens twice is the earlier one (the day starts then); a
    # midnight skipped by DST starts the day at the first instant that exists.
    return (
        pd.DatetimeIndex(wall.view("datetime64[ns]"))
        .tz_localize(tz, ambiguous=np.ones(len(wall), dtype=bool), nonexistent="shift_forward")
        .tz_convert("UTC")
        .to_numpy(dtype="datetime64[ns]")
        .view(np.int64)
    )


def _is_utc(tz: Any) -> bool:
    return tz is None or str(tz) in {"UTC", "Etc/UTC", "utc", "Z"} or tz is dt.UTC


# ----------------------------------------------------------------------- resampling


@dataclass(frozen=True, slots=True)
class _Bins:
    """Bin assignment of the bars that take part (`select`: their positions)."""

    select: np.ndarray | None  # None = every bar, in frame order
    left: np.ndarray  # bin label (open time) of each selected bar; unique per bin
    right: np.ndarray | None  # bin end of each selected bar, when asked for


def resample_bars(
    frame: pd.DataFrame,
    interval: Interval | str,
    sessions: pd.DataFrame,
    *,
    label: Label = "left",
    session: SessionFilter = "regular",
    tz: Any = "UTC",
) -> pd.DataFrame:
    """Aggregate bars into `interval` bars aligned to the trading sessions.

    `sessions` is a schedule like `TradingCalendar.schedule()`: index = session
    date, columns `open`/`close` (UTC). It must cover the dates of the bars.
    `tz` is the market's time zone (`TradingCalendar.tz`), used only to find
    the local date of bars outside regular hours.

    Intraday intervals: bins start at `open + k * interval` of their session
    and never span two sessions; the last bin is cut at the close (short on
    half-days). A bar's `ts` is the bin start (`label="left"`) or the bin end
    `min(start + interval, close)` (`label="right"`).

    `session="regular"` keeps bars in [open, close). `session="all"` also keeps
    the others: such a bar belongs to the session on its market-local date and
    sits on that session's grid (k < 0 before the open); on a date without a
    session the grid starts at local midnight. Out-of-hours bins are cut at the
    open, the close and local midnight, so regular-hours bars are the same in
    both modes and no bin mixes regular and extended hours. A cut bin's label
    is its first instant (`max(start, cut)`).

    Daily intervals: `1d` is one bar per session, labelled at the session open
    (`label="right"`: its close); with `session="all"` it includes the
    out-of-hours bars of its local date, and a date without a session gets its
    own bar labelled at local midnight (right: the next local midnight).
    `Nd` (N > 1) groups sessions by calendar year of the session date: the
    first N sessions of each year, the next N, ... (the last group of a year may
    be shorter). A group is labelled at the open of its first session (right:
    the close of its last session). The grouping depends only on the calendar,
    never on the requested range, provided `sessions` starts at or before the
    first session of the year of the first bar (and, for `label="right"`, runs
    to the end of the last group); pass e.g.
    `calendar.schedule(date(start.year, 1, 1), end)`. With `session="all"` the
    bars of a date without a session join the group of the next session (so
    groups tile local days without overlapping); after the last session of
    `sessions` such a date gets its own bar, as with `1d`.

    Aggregation: open first, high max, low min, close last, volume sum,
    trade_count sum (NaN if all unknown), vwap = sum(vwap * volume) / volume
    with close standing in for an unknown vwap (NaN if the volume is 0).
    Input must be a valid bar frame (see `validate_bars`) with UTC `ts`.
    """
    if label not in ("left", "right"):
        raise ValueError(f"label must be 'left' or 'right', got {label!r}")
    if session not in ("regular", "all"):
        raise ValueError(f"session must be 'regular' or 'all', got {session!r}")
    if isinstance(interval, str):
        interval = parse_interval(interval)
    if len(frame) == 0:
        return empty_bars()

    ts = _utc_ns(frame["ts"], "ts")
    frame_order = None if _is_sorted(ts) else np.argsort(ts, kind="stable")
    if frame_order is not None:
        ts = ts[frame_order]
    if ts[0] == _INT64_MIN:  # NaT sorts first
        raise ValueError("ts has missing values (NaT); validate bars before resampling")
    schedule = _Schedule.from_frame(sessions)
    need_right = label == "right"
    if interval.is_daily:
        bins = _daily_bins(ts, schedule, interval.count, session, tz, need_right)
    else:
        bins = _intraday_bins(ts, schedule, interval.nanoseconds, session, tz, need_right)
    if len(bins.left) == 0:
        return empty_bars()

    select = bins.select
    if frame_order is not None:
        select = frame_order if select is None else frame_order[select]
    values = {}
    for name in VALUE_COLUMNS:
        array = _value_array(frame, name)
        values[name] = array if select is None else array[select]
    return _aggregate(values, bins.left, bins.right)


def _intraday_bins(
    ts: np.ndarray,
    schedule: _Schedule,
    step: int,
    session: SessionFilter,
    tz: Any,
    need_right: bool,
) -> _Bins:
    inside, index = schedule.locate(ts)
    if session == "regular":
        select = None
        if not inside.all():
            select = np.flatnonzero(inside)
            ts, index = ts[select], index[select]
        anchor = schedule.opens[index]
        start = anchor + (ts - anchor) // step * step
        right = np.minimum(start + step, schedule.closes[index]) if need_right else None
        return _Bins(select, start, right)

    # session="all": every bar lives in a segment (a regular session, or the
    # part of a gap between sessions within one local day) and on a grid
    # anchored at the open of its session (or local midnight).
    anchor = np.empty_like(ts)
    segment_start = np.empty_like(ts)
    segment_end = np.empty_like(ts)
    regular = np.flatnonzero(inside)
    anchor[regular] = schedule.opens[index[regular]]
    segment_start[regular] = anchor[regular]
    segment_end[regular] = schedule.closes[index[regular]]
    outside = np.flatnonzero(~inside)
    if len(outside):
        days = _local_days(ts[outside], schedule, tz)
        next_session = index[outside]
        gap_start = np.full(len(outside), _INT64_MIN)
        after_first = next_session > 0
        gap_start[after_first] = schedule.closes[next_session[after_first] - 1]
        gap_end = np.full(len(outside), _INT64_MAX)
        before_last = next_session < len(schedule.opens)
        gap_end[before_last] = schedule.opens[next_session[before_last]]
        has_session = days.session >= 0
        anchor[outside] = np.where(has_session, schedule.opens[np.maximum(days.session, 0)], days.start)
        segment_start[outside] = np.maximum(gap_start, days.start)
        segment_end[outside] = np.minimum(gap_end, days.end)
    start = anchor + (ts - anchor) // step * step
    left = np.maximum(start, segment_start)
    right = np.minimum(start + step, segment_end) if need_right else None
    return _Bins(None, left, right)


def _daily_bins(
    ts: np.ndarray,
    schedule: _Schedule,
    sessions_per_bar: int,
    session: SessionFilter,
    tz: Any,
    need_right: bool,
) -> _Bins:
    group_open, group_close = _session_groups(schedule, sessions_per_bar)
    inside, index = schedule.locate(ts)
    if session == "regular":
        select = None if inside.all() else np.flatnonzero(inside)
        if select is not None:
            index = index[select]
        left = group_open[index]
        right = group_close[index] if need_right else None
        return _Bins(select, left, right)

    left = np.empty_like(ts)
    right = np.empty_like(ts)
    regular = np.flatnonzero(inside)
    left[regular] = group_open[index[regular]]
    right[regular] = group_close[index[regular]]
    outside = np.flatnonzero(~inside)
    if len(outside):
        days = _local_days(ts[outside], schedule, tz)
        owner = days.session
        if sessions_per_bar > 1:
            # A day without a session joins the group of the next session, so
            # groups cover whole local days and never overlap.
            owner = np.where((owner < 0) & (days.following < len(schedule.dates)), days.following, owner)
        has_owner = owner >= 0
        owner = np.maximum(owner, 0)
        left[outside] = np.where(has_owner, group_open[owner], days.start)
        right[outside] = np.where(has_owner, group_close[owner], days.end)
    select = None
    if not _is_sorted(left):
        # A calendar whose sessions open on the previous local date (CME
        # Globex) can put a date's out-of-hours bars after the next session's
        # bars; bring each bin's bars together, keeping time order.
        select = np.argsort(left, kind="stable")
        left, right = left[select], right[select]
    return _Bins(select, left, right if need_right else None)


def _session_groups(schedule: _Schedule, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return, per session, the open of its group's first and close of its last session.

    Groups are `size` consecutive sessions counted from the first session of
    each calendar year of the session dates.
    """
    count = len(schedule.dates)
    if size == 1 or count == 0:
        return schedule.opens, schedule.closes
    years = schedule.dates.view("datetime64[ns]").astype("datetime64[Y]").view(np.int64)
    positions = np.arange(count)
    year_begins = np.ones(count, dtype=bool)
    year_begins[1:] = years[1:] != years[:-1]
    year_first = np.maximum.accumulate(np.where(year_begins, positions, 0))
    year_ends = np.ones(count, dtype=bool)
    year_ends[:-1] = year_begins[1:]
    year_last = np.minimum.accumulate(np.where(year_ends, positions, count)[::-1])[::-1]
    group_first = year_first + (positions - year_first) // size * size
    group_last = np.minimum(group_first + size - 1, year_last)
    return schedule.opens[group_first], schedule.closes[group_last]


def _aggregate(values: dict[str, np.ndarray], left: np.ndarray, right: np.ndarray | None) -> pd.DataFrame:
    """Reduce consecutive bars sharing a `left` label into one bar each."""
    count = len(left)
    changes = np.flatnonzero(left[1:] != left[:-1]) + 1
    starts = np.empty(len(changes) + 1, dtype=np.intp)
    starts[0] = 0
    starts[1:] = changes
    lasts = np.empty_like(starts)
    lasts[:-1] = changes - 1
    lasts[-1] = count - 1

    close = values["close"]
    volume = values["volume"]
    volume_sum = np.add.reduceat(volume, starts)
    out = {
        "open": values["open"][starts],
        "high": np.maximum.reduceat(values["high"], starts),
        "low": np.minimum.reduceat(values["low"], starts),
        "close": close[lasts],
        "volume": volume_sum,
        "trade_count": _sum_known(values["trade_count"], starts),
    }
    vwap = values["vwap"]
    unknown_vwap = np.isnan(vwap)
    price = np.where(unknown_vwap, close, vwap) if unknown_vwap.any() else vwap
    weighted = np.add.reduceat(price * volume, starts)
    out["vwap"] = np.divide(weighted, volume_sum, out=np.full(len(starts), np.nan), where=volume_sum > 0)
    labels = left[starts] if right is None else right[starts]
    return _bars_from_arrays(labels, out)


def _sum_known(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum each bin ignoring NaN; NaN where every value of the bin is NaN."""
    unknown = np.isnan(values)
    if not unknown.any():
        return np.add.reduceat(values, starts)
    if unknown.all():
        return np.full(len(starts), np.nan)
    total = np.add.reduceat(np.where(unknown, 0.0, values), starts)
    known = np.logical_or.reduceat(~unknown, starts)
    total[~known] = np.nan
    return total
