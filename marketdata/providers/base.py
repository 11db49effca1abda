"""The provider contract: requests, errors, payload checks and the source registry.

Every vendor module exposes one class that satisfies `HistoricalSource`. Sources
are framework-free: configuration (API keys, token paths, HTTP sessions, a
clock, a sleep function) is passed in by the caller, never read from Django
settings or the environment here.

Frames. Bars are the normalized bar frame of `marketdata.core.bars`; trades are
`ts, price, size, side` (side "buy", "sell" or ""); quotes are
`ts, bid, bid_size, ask, ask_size` (NaN price = that side of the book is empty).
All timestamps are datetime64[ns, UTC]; bars are labelled by their OPEN time.

Checks. Nothing a source returns is trusted: bars go through `validate_bars` and
`dedup_bars` (`checked_bars`), trades need a price and a size (`checked_ticks`). A payload that
fails is refused as a whole with `PayloadError`, naming the payload rows, so the
caller stores nothing from it.
"""

from __future__ import annotations

import datetime as dt
import importlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
import pandas as pd

from marketdata.core.bars import dedup_bars, empty_bars, normalize_bars, validate_bars
from marketdata.core.errors import RowError
from marketdata.core.intervals import Interval, parse_interval

KIND_BARS = "bars"
KIND_TRADES = "trades"
KIND_QUOTES = "quotes"

TRADE_COLUMNS: list[str] = ["ts", "price", "size", "side"]
QUOTE_COLUMNS: list[str] = ["ts", "bid", "bid_size", "ask", "ask_size"]

# Generic schema names every source understands, and vendor names mapped to a kind.
_SCHEMA_KINDS: dict[str, str] = {
    "ohlcv": KIND_BARS,
    "bars": KIND_BARS,
    "trades": KIND_TRADES,
    "quotes": KIND_QUOTES,
    "tbbo": KIND_QUOTES,
    "mbp-1": KIND_QUOTES,
}
_MAX_REPORTED_ERRORS = 100

T = TypeVar("T")


# ----------------------------------------------------------------------------- errors


class ProviderError(Exception):
    """A source could not deliver; `retryable` says whether trying again later may help."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class UnsupportedSchema(ProviderError):
    """The source does not offer this schema, interval or data kind."""


class UnknownSource(ProviderError):
    """No source is registered under this name."""


class PayloadError(ProviderError):
    """A provider payload failed validation; `errors` name the payload rows at fault.

    The whole payload is refused: a caller that catches this stores nothing.
    """

    def __init__(self, message: str, errors: list[RowError]) -> None:
        super().__init__(message, retryable=False)
        self.errors = errors


# ---------------------------------------------------------------------------- request


def to_utc(value: Any, name: str) -> pd.Timestamp:
    """Return `value` as a UTC Timestamp; naive values are refused, not guessed."""
    try:
        timestamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} is not a timestamp: {value!r}") from exc
    if timestamp is pd.NaT:
        raise ValueError(f"{name} is missing")
    if timestamp.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got {value!r}")
    return timestamp.tz_convert("UTC").as_unit("ns")


def schema_kind(schema: str) -> str:
    """Return the data kind (bars, trades, quotes) a schema name delivers."""
    if schema.startswith("ohlcv-"):
        return KIND_BARS
    try:
        return _SCHEMA_KINDS[schema]
    except KeyError:
        raise UnsupportedSchema(f"unsupported schema {schema!r}") from None


@dataclass(frozen=True)
class FetchRequest:
    """One symbol's data from one source over the UTC range [start, end).

    Give `interval` for bars (`1m`, `1h`, `1d`...) or `schema` for a vendor schema
    (`ohlcv-1m`, `trades`, `tbbo`, `mbp-1`; generic `ohlcv`, `trades`, `quotes`).
    `dataset` (Databento), `exchange` (ccxt exchange id) and `stype_in`
    (Databento symbology) apply where the source uses them; `options` holds
    source-specific extras (documented on each source).
    """

    source: str
    symbol: str
    start: pd.Timestamp
    end: pd.Timestamp
    interval: str | None = None
    schema: str | None = None
    dataset: str | None = None
    exchange: str | None = None
    stype_in: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        start, end = to_utc(self.start, "start"), to_utc(self.end, "end")
        if end <= start:
            raise ValueError(f"end {end.isoformat()} must be after start {start.isoformat()}")
        if not self.symbol:
            raise ValueError("symbol is required")
        if self.interval is not None:
            parse_interval(self.interval)
        elif self.schema is None or (self.kind == KIND_BARS and not self.schema.startswith("ohlcv-")):
            raise ValueError("give an interval for bars (or a schema such as ohlcv-1m or trades)")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @property
    def kind(self) -> str:
        """Return bars, trades or quotes: what this request asks for."""
        return KIND_BARS if self.schema is None else schema_kind(self.schema)

    @property
    def start_ms(self) -> int:
        return self.start.value // 1_000_000

    @property
    def end_ms(self) -> int:
        """Return the exclusive end in milliseconds, rounded up so no bar before `end` is cut."""
        return -(-self.end.value // 1_000_000)

    def bar_interval(self) -> Interval:
        """Return the bar interval asked for, from `interval` or an `ohlcv-<interval>` schema."""
        if self.interval is not None:
            return parse_interval(self.interval)
        if self.kind != KIND_BARS:
            raise UnsupportedSchema(f"schema {self.schema!r} does not deliver bars")
        return parse_interval(str(self.schema).removeprefix("ohlcv-"))


@dataclass(frozen=True)
class Estimate:
    """What a fetch would cost (USD; 0 for free sources) and about how many rows it gives."""

    cost_usd: float
    rows_estimate: int


# ----------------------------------------------------------------------------- source


@runtime_checkable
class HistoricalSource(Protocol):
    """A vendor of historical bars (and, where offered, trades and quotes)."""

    name: str
    schemas: frozenset[str]
    symbology: str

    def fetch_bars(self, request: FetchRequest) -> pd.DataFrame: ...

    def fetch_trades(self, request: FetchRequest) -> pd.DataFrame: ...

    def fetch_quotes(self, request: FetchRequest) -> pd.DataFrame: ...

    def estimate(self, request: FetchRequest) -> Estimate: ...


class SourceBase:
    """Defaults for sources: no trades or quotes, free, rows estimated from the interval."""

    name: str = ""
    schemas: frozenset[str] = frozenset({"ohlcv"})
    symbology: str = ""

    def fetch_bars(self, request: FetchRequest) -> pd.DataFrame:
        raise UnsupportedSchema(f"{self.name} does not provide bars")

    def fetch_trades(self, request: FetchRequest) -> pd.DataFrame:
        raise UnsupportedSchema(f"{self.name} does not provide trades")

    def fetch_quotes(self, request: FetchRequest) -> pd.DataFrame:
        raise UnsupportedSchema(f"{self.name} does not provide quotes")

    def estimate(self, request: FetchRequest) -> Estimate:
        """Return cost 0 and an upper bound of rows: one bar per interval of the range."""
        if request.kind != KIND_BARS:
            raise UnsupportedSchema(f"{self.name} can only estimate bars")
        return Estimate(0.0, bars_upper_bound(request))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def bars_upper_bound(request: FetchRequest) -> int:
    """Return the number of interval slots in [start, end): at most that many bars."""
    interval = request.bar_interval()
    return math.ceil((request.end - request.start).value / interval.nanoseconds)


def fetch(source: HistoricalSource, request: FetchRequest) -> pd.DataFrame:
    """Call the fetch method of `source` matching the request's data kind."""
    method = {
        KIND_BARS: source.fetch_bars,
        KIND_TRADES: source.fetch_trades,
        KIND_QUOTES: source.fetch_quotes,
    }[request.kind]
    return method(request)


@dataclass(frozen=True)
class RetryPolicy:
    """Retry transient failures with exponential backoff: backoff x 2^attempt, capped.

    `sleep` is injected so tests never wait.
    """

    sleep: Callable[[float], None] = time.sleep
    max_retries: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0

    def delay(self, attempt: int) -> float:
        """Return the wait before retry number `attempt + 1`."""
        return min(self.backoff_seconds * 2**attempt, self.max_backoff_seconds)

    def run(self, call: Callable[[], T], retry_on: tuple[type[BaseException], ...] = ()) -> T:
        """Return `call()`, retrying `retry_on` errors and retryable ProviderErrors; re-raise the last one."""
        attempt = 0
        while True:
            try:
                return call()
            except Exception as exc:
                transient = isinstance(exc, retry_on) or (isinstance(exc, ProviderError) and exc.retryable)
                if not transient or attempt >= self.max_retries:
                    raise
                self.sleep(self.delay(attempt))
                attempt += 1


def utc_now() -> pd.Timestamp:
    """Return the wall-clock time: the default clock sources use to drop unfinished bars."""
    return pd.Timestamp.now(tz="UTC")


# ----------------------------------------------------------------------------- checks


def checked_bars(
    frame: pd.DataFrame,
    *,
    source: str,
    symbol: str,
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """Return `frame` normalized, or raise PayloadError naming the rows that break OHLC rules.

    `rows[i]` is the payload row (1-based) that frame row i came from. Exact
    repeats of a bar (overlapping pages) are dropped; two different bars for one
    timestamp are a conflict and refuse the payload.
    """
    if len(frame) == 0:
        return empty_bars()
    errors = _as_row_errors(validate_bars(frame, rows=rows, limit=_MAX_REPORTED_ERRORS))
    if not errors:
        deduped = dedup_bars(normalize_bars(frame), _sorted_rows(frame, rows), limit=_MAX_REPORTED_ERRORS)
        errors = _as_row_errors(deduped.errors)
        if not errors:
            return deduped.frame
    raise payload_error(source, symbol, "bars", errors)


def checked_ticks(
    frame: pd.DataFrame, *, kind: str, source: str, symbol: str, rows: np.ndarray | None = None
) -> pd.DataFrame:
    """Return trades or quotes sorted by time, or raise PayloadError for a row lacking what it needs.

    Every row needs a timestamp; a trade also needs a finite price and size. A
    quote may have a NaN price: that side of the book is empty.
    """
    frame = frame[TRADE_COLUMNS if kind == KIND_TRADES else QUOTE_COLUMNS]
    missing = {"ts": frame["ts"].isna().to_numpy()}
    if kind == KIND_TRADES:
        missing |= {name: ~np.isfinite(frame[name].to_numpy(dtype=np.float64)) for name in ("price", "size")}
    positions = np.flatnonzero(np.logical_or.reduce(list(missing.values())))[:_MAX_REPORTED_ERRORS]
    if len(positions):
        numbers = positions + 1 if rows is None else np.asarray(rows)[positions]
        errors = [
            RowError(int(row), name, f"{name} is missing or not finite")
            for position, row in zip(positions, numbers, strict=True)
            for name, mask in missing.items()
            if mask[position]
        ]
        raise payload_error(source, symbol, kind, errors)
    return frame.sort_values("ts", kind="stable").reset_index(drop=True)


def bars_from_rows(rows: np.ndarray) -> pd.DataFrame:
    """Return bars from float rows [ts in ms, open, high, low, close, volume]; trade_count, vwap unknown."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    unknown = np.full(len(rows), np.nan)
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(rows[:, 0].astype(np.int64), unit="ms", utc=True).as_unit("ns"),
            **{name: rows[:, column] for column, name in enumerate(("open", "high", "low", "close", "volume"), 1)},
            "trade_count": unknown,
            "vwap": unknown.copy(),
        }
    )


def payload_error(source: str, symbol: str, what: str, errors: list[RowError]) -> PayloadError:
    """Build the PayloadError for `errors`, naming the first few rows in the message."""
    shown = "; ".join(f"row {error.row}: {error.message}" for error in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return PayloadError(f"{source} returned invalid {what} for {symbol}: {shown}{more}", errors)


def drop_unclosed(frame: pd.DataFrame, interval: Interval, now: pd.Timestamp) -> pd.DataFrame:
    """Drop bars whose interval has not closed by `now`: their values are not final yet."""
    closes = frame["ts"] + interval.timedelta
    return frame.loc[(closes <= now).to_numpy()].reset_index(drop=True)


def _as_row_errors(errors: list[Any]) -> list[RowError]:
    return [RowError(error.row, error.field, error.message) for error in errors]


def _sorted_rows(frame: pd.DataFrame, rows: np.ndarray | None) -> np.ndarray:
    rows = np.arange(1, len(frame) + 1) if rows is None else np.asarray(rows)
    order = np.argsort(frame["ts"].to_numpy(dtype="datetime64[ns]"), kind="stable")
    return rows[order]


# --------------------------------------------------------------------------- registry

SourceFactory = Callable[..., HistoricalSource]
_FACTORIES: dict[str, SourceFactory | str] = {}


def register_source(name: str, factory: SourceFactory | str) -> None:
    """Register `factory` under `name`: a callable, or "module:attribute" imported on first use."""
    _FACTORIES[name] = factory


def source_names() -> list[str]:
    """Return the registered source names, sorted."""
    return sorted(_FACTORIES)


def get_source(name: str, **config: Any) -> HistoricalSource:
    """Create the source registered under `name` with `config` (API keys, clients...)."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        known = ", ".join(source_names())
        raise UnknownSource(f"unknown source {name!r}; known sources: {known}") from None
    if isinstance(factory, str):
        module_name, _, attribute = factory.partition(":")
        factory = getattr(importlib.import_module(module_name), attribute)
        _FACTORIES[name] = factory
    return factory(**config)


# ---------------------------------------------------------------------------- synthetic


class SyntheticSource(SourceBase):
    """Deterministic demo data from `marketdata.providers.synthetic`, as a source.

    Options: `calendar` (default "XNYS"), `seed` (default: from the ticker) and
    `start_price` (default 100). Bars come in whole-minute intraday intervals
    aligned to each session's open, regular sessions only.
    """

    name = "synthetic"
    schemas = frozenset({"ohlcv", "trades", "quotes"})
    symbology = "Any ticker: it seeds the random walk, so one ticker always gives the same data."

    def fetch_bars(self, request: FetchRequest) -> pd.DataFrame:
        from marketdata.core.calendar import get_calendar
        from marketdata.providers.synthetic import synthetic_bars

        interval = request.bar_interval()
        if interval.is_daily or interval.seconds % 60:
            raise UnsupportedSchema(f"synthetic bars come in whole-minute intraday intervals, not {interval}")
        calendar_name, seed, start_price = self._options(request)
        tz = get_calendar(calendar_name).tz
        # A session can open the evening before its date (CME): ask one date more, then cut.
        first = request.start.tz_convert(tz).date()
        last = (request.end - pd.Timedelta(1, "ns")).tz_convert(tz).date() + dt.timedelta(days=1)
        frame = synthetic_bars(
            request.symbol,
            calendar_name,
            first,
            last,
            seed=seed,
            start_price=start_price,
            interval_seconds=interval.seconds,
        )
        inside = ((frame["ts"] >= request.start) & (frame["ts"] < request.end)).to_numpy()
        return checked_bars(frame.loc[inside].reset_index(drop=True), source=self.name, symbol=request.symbol)

    def fetch_trades(self, request: FetchRequest) -> pd.DataFrame:
        from marketdata.providers.synthetic import synthetic_trades

        calendar_name, seed, start_price = self._options(request)
        frame = synthetic_trades(
            request.symbol, calendar_name, request.start, request.end, seed=seed, start_price=start_price
        )
        return checked_ticks(frame, kind=KIND_TRADES, source=self.name, symbol=request.symbol)

    def fetch_quotes(self, request: FetchRequest) -> pd.DataFrame:
        from marketdata.providers.synthetic import synthetic_quotes

        calendar_name, seed, start_price = self._options(request)
        frame = synthetic_quotes(
            request.symbol, calendar_name, request.start, request.end, seed=seed, start_price=start_price
        )
        return checked_ticks(frame, kind=KIND_QUOTES, source=self.name, symbol=request.symbol)

    @staticmethod
    def _options(request: FetchRequest) -> tuple[str, int | None, float]:
        options = request.options
        return str(options.get("calendar", "XNYS")), options.get("seed"), float(options.get("start_price", 100.0))


# Vendor modules import heavy clients (ccxt alone takes a second): load them on first use.
register_source("databento", "marketdata.providers.databento:DatabentoSource")
register_source("ccxt", "marketdata.providers.ccxt:CcxtSource")
register_source("deribit", "marketdata.providers.deribit:DeribitSource")
register_source("schwab", "marketdata.providers.schwab:SchwabSource")
register_source("synthetic", SyntheticSource)
