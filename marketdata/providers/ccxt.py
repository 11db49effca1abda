"""Crypto exchange OHLCV through ccxt (sync API): binance, bybit and okx.

Pagination. `fetch_ohlcv(symbol, timeframe, since, limit)` is called page after
page from `start` until the end of the range: the next page starts one
interval after the newest candle received. Binance answers `since` with the
first `limit` candles at or after it, so an empty page there means no more
data. Bybit and okx pages are windows (`until` = since + limit intervals): an
empty window is a gap (an outage, a time before the listing), not the end, so
it is skipped. The range is capped at the clock's now, since no bar can open
later, which bounds the number of requests either way. A page that does not
move forward raises ProviderError instead of looping.

Retries. `ccxt.NetworkError` and its kinds (`RateLimitExceeded` for HTTP 429,
`DDoSProtection`, `RequestTimeout`, `ExchangeNotAvailable`) are retried with
exponential backoff (`RetryPolicy`, whose `sleep` is injected); ccxt's own rate limiter
(`enableRateLimit=True`) spaces the requests. Other ccxt errors (bad symbol,
bad request) fail at once with a non-retryable ProviderError.

Bars are labelled by their open time (as the exchanges do), trade_count and
vwap are unknown (NaN), and a bar whose interval has not closed by the clock's
now is dropped: its values are not final.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import ccxt
import numpy as np
import pandas as pd

from marketdata.core.intervals import Interval
from marketdata.providers.base import (
    FetchRequest,
    ProviderError,
    RetryPolicy,
    SourceBase,
    UnsupportedSchema,
    bars_from_rows,
    checked_bars,
    utc_now,
)

SUPPORTED_EXCHANGES: tuple[str, ...] = ("binance", "bybit", "okx")
# Largest page each endpoint serves (okx history-candles: 100).
PAGE_LIMITS: dict[str, int] = {"binance": 1000, "bybit": 1000, "okx": 100}
# Exchanges whose pages are bounded time windows rather than "the next N candles".
WINDOWED_EXCHANGES = frozenset({"bybit", "okx"})
RETRYABLE_ERRORS: tuple[type[Exception], ...] = (ccxt.RateLimitExceeded, ccxt.DDoSProtection, ccxt.NetworkError)

ExchangeFactory = Callable[[str], ccxt.Exchange]


def make_exchange(exchange_id: str, config: Mapping[str, Any] | None = None) -> ccxt.Exchange:
    """Create a sync ccxt exchange with its rate limiter on."""
    if exchange_id not in SUPPORTED_EXCHANGES:
        raise UnsupportedSchema(f"exchange {exchange_id!r} is not one of {', '.join(SUPPORTED_EXCHANGES)}")
    exchange_class = getattr(ccxt, exchange_id)
    return exchange_class({**(config or {}), "enableRateLimit": True})


@dataclass(frozen=True)
class FetchOutcome:
    """The bars of one (exchange, symbol), or the error that stopped them."""

    exchange: str
    symbol: str
    bars: pd.DataFrame | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class CcxtSource(SourceBase):
    """OHLCV bars from binance, bybit or okx (`request.exchange`) through ccxt.

    `exchange_factory(exchange_id)` builds the ccxt exchange (default:
    `make_exchange`, public endpoints, no keys); instances are reused.
    `retry` spaces the retries (its `sleep` is injectable), `clock` returns the
    current UTC time.
    """

    name = "ccxt"
    schemas = frozenset({"ohlcv"})
    symbology = (
        "ccxt unified symbols: BTC/USDT (spot), BTC/USDT:USDT (USDT-margined perpetual); "
        "request.exchange is binance, bybit or okx."
    )

    def __init__(
        self,
        *,
        exchange_factory: ExchangeFactory | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], pd.Timestamp] = utc_now,
        page_limits: Mapping[str, int] | None = None,
    ) -> None:
        self._factory = exchange_factory or make_exchange
        self.retry = retry or RetryPolicy()
        self._clock = clock
        self.page_limits = {**PAGE_LIMITS, **(page_limits or {})}
        self._exchanges: dict[str, ccxt.Exchange] = {}

    def exchange(self, exchange_id: str) -> ccxt.Exchange:
        """Return the (cached) ccxt exchange for `exchange_id`."""
        if exchange_id not in self._exchanges:
            self._exchanges[exchange_id] = self._factory(exchange_id)
        return self._exchanges[exchange_id]

    def fetch_bars(self, request: FetchRequest) -> pd.DataFrame:
        if not request.exchange:
            raise ProviderError("ccxt requests need an exchange (binance, bybit or okx)")
        exchange_id = request.exchange.lower()
        exchange = self.exchange(exchange_id)
        interval = request.bar_interval()
        timeframe = str(interval)
        if timeframe not in exchange.timeframes:
            raise UnsupportedSchema(
                f"{exchange_id} has no {timeframe} candles; it offers {', '.join(exchange.timeframes)}"
            )
        if exchange.markets is None:
            self._call(exchange, exchange.load_markets)
        now = self._clock()
        # No bar opens after now: never ask for pages of the future.
        end_ms = min(request.end_ms, now.value // 1_000_000)
        candles = self._paginate(exchange, request.symbol, interval, request.start_ms, end_ms)
        frame = bars_from_rows(np.array([candle[:6] for candle in candles], dtype=np.float64))
        rows = np.arange(1, len(frame) + 1)
        closed = (frame["ts"] + interval.timedelta <= now).to_numpy()
        return checked_bars(
            frame.loc[closed].reset_index(drop=True),
            source=f"ccxt:{exchange_id}",
            symbol=request.symbol,
            rows=rows[closed],
        )

    def fetch_many(
        self,
        exchanges: Iterable[str],
        symbols: Iterable[str],
        *,
        interval: str,
        start: pd.Timestamp,
        end: pd.Timestamp,
    ) -> dict[tuple[str, str], FetchOutcome]:
        """Fetch every (exchange, symbol); one failing never stops the others.

        Exchanges run in parallel threads, the symbols of one exchange one after
        another (its rate limiter is per instance).
        """
        exchange_ids = list(dict.fromkeys(exchange.lower() for exchange in exchanges))
        symbol_list = list(dict.fromkeys(symbols))

        def run(exchange_id: str) -> list[FetchOutcome]:
            outcomes = []
            for symbol in symbol_list:
                request = FetchRequest(
                    source=self.name, symbol=symbol, start=start, end=end, interval=interval, exchange=exchange_id
                )
                try:
                    outcomes.append(FetchOutcome(exchange_id, symbol, bars=self.fetch_bars(request)))
                except Exception as exc:  # isolation is the point: record it, carry on
                    outcomes.append(FetchOutcome(exchange_id, symbol, error=exc))
            return outcomes

        results: dict[tuple[str, str], FetchOutcome] = {}
        if not exchange_ids:
            return results
        with ThreadPoolExecutor(max_workers=len(exchange_ids), thread_name_prefix="ccxt-fetch") as pool:
            for outcomes in pool.map(run, exchange_ids):
                results.update({(outcome.exchange, outcome.symbol): outcome for outcome in outcomes})
        return results

    def _paginate(
        self, exchange: ccxt.Exchange, symbol: str, interval: Interval, start_ms: int, end_ms: int
    ) -> list[list[Any]]:
        step = interval.seconds * 1000
        limit = self.page_limits.get(exchange.id, 500)
        windowed = exchange.id in WINDOWED_EXCHANGES
        candles: list[list[Any]] = []
        since = start_ms
        while since < end_ms:
            window_end = min(since + limit * step, end_ms)
            params = {"until": window_end - 1} if windowed else {}
            page = self._call(exchange, exchange.fetch_ohlcv, symbol, str(interval), since, limit, params)
            if not page:
                if not windowed:
                    break
                since = window_end
                continue
            candles.extend(candle for candle in page if since <= candle[0] < end_ms)
            following = max(candle[0] for candle in page) + step
            if following <= since:
                raise ProviderError(
                    f"{exchange.id} returned no candle after {pd.Timestamp(since, unit='ms', tz='UTC')} "
                    f"for {symbol}: pagination made no progress",
                    retryable=False,
                )
            since = following
        return candles

    def _call(self, exchange: ccxt.Exchange, method: Callable[..., Any], *args: Any) -> Any:
        """Call a ccxt method, retrying network errors (429 included) with exponential backoff."""
        try:
            return self.retry.run(lambda: method(*args), RETRYABLE_ERRORS)
        except RETRYABLE_ERRORS as exc:
            attempts = self.retry.max_retries + 1
            raise ProviderError(
                f"{exchange.id}: {type(exc).__name__} after {attempts} attempts: {exc}", retryable=True
            ) from exc
        except ccxt.BaseError as exc:
            raise ProviderError(f"{exchange.id}: {type(exc).__name__}: {exc}", retryable=False) from exc
