"""Deribit's DVOL volatility index as bars, over the public HTTP API.

`GET /api/v2/public/get_volatility_index_data` (currency, start_timestamp,
end_timestamp in ms, resolution in seconds or "1D") answers
`{"result": {"data": [[ts, open, high, low, close], ...], "continuation": ms|null}}`.
Deribit serves the newest points of the range first; `continuation` is the
`end_timestamp` of the next (older) page and null when the range is done.

Bars: `ts` is the point's timestamp, taken as the bar OPEN (Deribit charts label
candles by their start); OHLC are DVOL in volatility points; volume is 0 (an
index has none); trade_count and vwap are NaN. Bars whose interval has not closed
by the clock's now are dropped.

`ffill_to_minutes` (constructor default, or `options["ffill_to_minutes"]`)
returns 1-minute bars instead: each minute carries the close of the latest bar
already CLOSED at that minute's open, so a replay never sees an hour's value
before the hour ends (SPEC: a bar is known at its close).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import requests

from marketdata.core.bars import empty_bars
from marketdata.core.intervals import Interval, parse_interval
from marketdata.providers.base import (
    FetchRequest,
    ProviderError,
    RetryPolicy,
    SourceBase,
    UnsupportedSchema,
    bars_from_rows,
    checked_bars,
    drop_unclosed,
    utc_now,
)

BASE_URL = "https://www.deribit.com/api/v2"
DVOL_PATH = "/public/get_volatility_index_data"
# Bar interval -> Deribit resolution.
RESOLUTIONS: dict[str, str] = {"1s": "1", "1m": "60", "1h": "3600", "12h": "43200", "1d": "1D"}
_MINUTE_NS = 60 * 10**9
_RETRYABLE_STATUS = {429, 500, 502, 503, 504}
# JSON-RPC error codes worth another try: too_many_requests, temporarily_unavailable.
_RETRYABLE_CODES = {10028, 13028}


def dvol_currency(symbol: str) -> str:
    """Return the currency of a DVOL symbol: "BTC", "btc", "BTC-DVOL", "DVOL:BTC" -> "BTC"."""
    text = symbol.upper().replace("DVOL", "").strip(" -:_/")
    if not text.isalpha():
        raise ProviderError(f"cannot read a currency from DVOL symbol {symbol!r}; use BTC or ETH")
    return text


def ffill_to_minutes(bars: pd.DataFrame, interval: Interval, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Return 1-minute bars in [start, end) carrying the close of the last bar closed at each minute.

    Minutes run from the first bar's close to one interval past the last bar's
    close; a missing bar keeps the previous close (forward fill).
    """
    if bars.empty:
        return empty_bars()
    closes_at = bars["ts"].to_numpy(dtype="datetime64[ns]").view(np.int64) + interval.nanoseconds
    first = max(int(closes_at[0]), -(-start.value // _MINUTE_NS) * _MINUTE_NS)
    stop = min(int(closes_at[-1]) + interval.nanoseconds, end.value)
    minutes = np.arange(first, stop, _MINUTE_NS, dtype=np.int64)
    latest = np.searchsorted(closes_at, minutes, side="right") - 1
    value = bars["close"].to_numpy(dtype=np.float64)[latest]
    count = len(minutes)
    return pd.DataFrame(
        {
            "ts": pd.DatetimeIndex(minutes.view("datetime64[ns]")).tz_localize("UTC"),
            "open": value,
            "high": value,
            "low": value,
            "close": value,
            "volume": np.zeros(count),
            "trade_count": np.full(count, np.nan),
            "vwap": np.full(count, np.nan),
        }
    )


class DeribitSource(SourceBase):
    """DVOL index bars from Deribit's public API (no key needed).

    `session` is the `requests.Session` used for HTTP (one is created if not
    given); `retry` retries HTTP 429/5xx and connection failures.
    """

    name = "deribit"
    schemas = frozenset({"ohlcv"})
    symbology = "DVOL index per currency: BTC or ETH (BTC-DVOL, DVOL:BTC accepted)."

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        base_url: str = BASE_URL,
        retry: RetryPolicy | None = None,
        clock: Callable[[], pd.Timestamp] = utc_now,
        timeout: float = 30.0,
        ffill_to_minutes: bool = False,
    ) -> None:
        self._session = session or requests.Session()
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._clock = clock
        self.timeout = timeout
        self.ffill_to_minutes = ffill_to_minutes

    def __repr__(self) -> str:
        return f"DeribitSource(base_url={self.base_url!r})"

    def fetch_bars(self, request: FetchRequest) -> pd.DataFrame:
        """Return DVOL bars at the request interval (1h usual), or 1-minute bars with ffill_to_minutes."""
        interval = request.bar_interval()
        resolution = RESOLUTIONS.get(str(interval))
        if resolution is None:
            raise UnsupportedSchema(f"Deribit DVOL comes in {', '.join(RESOLUTIONS)}, not {interval}")
        currency = dvol_currency(request.symbol)
        points = self._points(currency, request.start_ms, request.end_ms, resolution)
        inside = (points[:, 0] >= request.start_ms) & (points[:, 0] < request.end_ms)
        # Pages may overlap at their edges: checked_bars drops exact repeats, refuses conflicts.
        volume = np.zeros((int(inside.sum()), 1))  # an index trades no volume
        frame = bars_from_rows(np.hstack([points[inside], volume]))
        rows = np.flatnonzero(inside) + 1
        bars = drop_unclosed(
            checked_bars(frame, source=self.name, symbol=f"{currency} DVOL", rows=rows), interval, self._clock()
        )
        if request.options.get("ffill_to_minutes", self.ffill_to_minutes):
            minutes = ffill_to_minutes(bars, interval, request.start, request.end)
            return drop_unclosed(minutes, parse_interval("1m"), self._clock())
        return bars

    def _points(self, currency: str, start_ms: int, end_ms: int, resolution: str) -> np.ndarray:
        """Return every [ts, open, high, low, close] of the range, following `continuation` back."""
        pages: list[list[Any]] = []
        cursor = end_ms
        while True:
            params = {
                "currency": currency,
                "start_timestamp": start_ms,
                "end_timestamp": cursor,
                "resolution": resolution,
            }
            result = self.retry.run(lambda params=params: self._get(params))
            pages.extend(result.get("data") or [])
            continuation = result.get("continuation")
            if continuation is None or continuation <= start_ms:
                break
            if continuation >= cursor:
                raise ProviderError(
                    f"Deribit continuation {continuation} does not move back from {cursor}: pagination made no progress"
                )
            cursor = int(continuation)
        try:
            return np.array([point[:5] for point in pages], dtype=np.float64).reshape(-1, 5)
        except (TypeError, ValueError) as exc:
            raise ProviderError(f"Deribit DVOL data is not [ts, open, high, low, close] rows: {exc}") from exc

    def _get(self, params: dict[str, Any]) -> dict[str, Any]:
        url = self.base_url + DVOL_PATH
        try:
            response = self._session.get(url, params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ProviderError(f"Deribit request failed: {type(exc).__name__}: {exc}", retryable=True) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        error = payload.get("error") if isinstance(payload, dict) else None
        if response.status_code != 200 or error:
            detail = error.get("message") if isinstance(error, dict) else response.text[:200]
            code = error.get("code") if isinstance(error, dict) else None
            raise ProviderError(
                f"Deribit HTTP {response.status_code} (error {code}): {detail}",
                retryable=response.status_code in _RETRYABLE_STATUS or code in _RETRYABLE_CODES,
            )
        result = payload.get("result") if isinstance(payload, dict) else None
        if not isinstance(result, dict):
            raise ProviderError("Deribit answered without a result object")
        return result
