"""Schwab price history (minute and daily candles) through schwab-py.

The caller gives a ready `schwab.client.Client` or the path of a schwab-py token
file plus the app key and secret (`schwab.auth.client_from_token_file`, which
refreshes the access token and writes it back). Creating the token file needs a
browser login once (`schwab.auth.client_from_login_flow`); that is not done here.

Candles `{"open", "high", "low", "close", "volume", "datetime": ms}` become bars
labelled by their open time. Schwab stamps daily candles at midnight US time
(05:00 or 06:00 UTC); they are relabelled 00:00 UTC of that trading date, the
label Databento uses for daily bars. Minute history is asked for in windows of
`minute_window_days` days (Schwab serves about 48 days of minute data). Bars
whose interval has not closed by the clock's now are dropped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import schwab
from authlib.integrations.base_client import OAuthError

from marketdata.core.intervals import Interval
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

# Bar interval -> name of the schwab-py client method serving it.
HISTORY_METHODS: dict[str, str] = {
    "1m": "get_price_history_every_minute",
    "5m": "get_price_history_every_five_minutes",
    "10m": "get_price_history_every_ten_minutes",
    "15m": "get_price_history_every_fifteen_minutes",
    "30m": "get_price_history_every_thirty_minutes",
    "1d": "get_price_history_every_day",
}
_RETRYABLE_STATUS = {429, 500, 502, 503, 504}
_CANDLE_FIELDS = ("datetime", "open", "high", "low", "close", "volume")


def client_from_token_file(token_path: str | os.PathLike[str], api_key: str, app_secret: str) -> schwab.client.Client:
    """Return a schwab-py client for an existing token file, or a ProviderError saying what is missing."""
    path = Path(token_path)
    if not api_key or not app_secret:
        raise ProviderError("Schwab needs the app key and app secret of the registered application")
    if not path.is_file():
        raise ProviderError(
            f"Schwab token file {path} does not exist: log in once with schwab-py "
            "(schwab.auth.client_from_login_flow) to create it"
        )
    try:
        return schwab.auth.client_from_token_file(str(path), api_key, app_secret)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProviderError(
            f"Schwab token file {path} cannot be used ({type(exc).__name__}); log in again to recreate it"
        ) from None


class SchwabSource(SourceBase):
    """Schwab minute (1m, 5m, 10m, 15m, 30m) and daily bars for equities, ETFs and indices."""

    name = "schwab"
    schemas = frozenset({"ohlcv"})
    symbology = "Schwab symbols: AAPL, SPY, BRK/B (class shares with a slash), $SPX (indices)."

    def __init__(
        self,
        client: schwab.client.Client | None = None,
        *,
        token_path: str | os.PathLike[str] | None = None,
        api_key: str | None = None,
        app_secret: str | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], pd.Timestamp] = utc_now,
        minute_window_days: int = 10,
        extended_hours: bool = True,
    ) -> None:
        if client is None and token_path is None:
            raise ProviderError("Schwab needs a client or a token file path")
        self._client = client
        self._credentials = (token_path, api_key or "", app_secret or "")
        self.retry = retry or RetryPolicy()
        self._clock = clock
        self.minute_window_days = minute_window_days
        self.extended_hours = extended_hours

    def __repr__(self) -> str:
        return f"SchwabSource(token_path={self._credentials[0]!r})"

    @property
    def client(self) -> schwab.client.Client:
        """Return the schwab-py client, opening the token file on first use."""
        if self._client is None:
            self._client = client_from_token_file(*self._credentials)  # type: ignore[arg-type]
        return self._client

    def fetch_bars(self, request: FetchRequest) -> pd.DataFrame:
        interval = request.bar_interval()
        method_name = HISTORY_METHODS.get(str(interval))
        if method_name is None:
            raise UnsupportedSchema(f"Schwab price history comes in {', '.join(HISTORY_METHODS)}, not {interval}")
        method = getattr(self.client, method_name)
        candles: list[dict[str, Any]] = []
        for window_start, window_end in self._windows(request, interval):
            payload = self.retry.run(lambda s=window_start, e=window_end: self._history(method, request.symbol, s, e))
            candles.extend(payload.get("candles") or [])
        frame, rows = _candle_frame(candles, interval)
        inside = ((frame["ts"] >= request.start) & (frame["ts"] < request.end)).to_numpy()
        bars = checked_bars(
            frame.loc[inside].reset_index(drop=True), source=self.name, symbol=request.symbol, rows=rows[inside]
        )
        return drop_unclosed(bars, interval, self._clock())

    def _windows(self, request: FetchRequest, interval: Interval) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
        if interval.is_daily:
            return [(request.start, request.end)]
        step = pd.Timedelta(days=self.minute_window_days)
        edges = [*pd.date_range(request.start, request.end, freq=step, inclusive="left"), request.end]
        return list(zip(edges[:-1], edges[1:], strict=True))

    def _history(
        self, method: Callable[..., httpx.Response], symbol: str, start: pd.Timestamp, end: pd.Timestamp
    ) -> dict[str, Any]:
        try:
            response = method(
                symbol,
                start_datetime=start.to_pydatetime(),
                end_datetime=end.to_pydatetime(),
                need_extended_hours_data=self.extended_hours,
            )
        except httpx.TransportError as exc:
            raise ProviderError(f"Schwab request failed: {type(exc).__name__}", retryable=True) from exc
        except OAuthError as exc:
            raise ProviderError(
                f"Schwab refused the token refresh ({exc.error}); log in again to recreate the token file"
            ) from None
        if response.status_code == 401:
            raise ProviderError("Schwab rejected the access token (HTTP 401); log in again to recreate the token file")
        if response.status_code != 200:
            raise ProviderError(
                f"Schwab HTTP {response.status_code} for {symbol}: {response.text[:200]}",
                retryable=response.status_code in _RETRYABLE_STATUS,
            )
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise ProviderError(f"Schwab price history for {symbol} is not a JSON object")
        return payload


def _candle_frame(candles: list[dict[str, Any]], interval: Interval) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the candles as a bar frame and their 1-based payload row numbers."""
    try:
        array = np.array(
            [[candle.get(name, np.nan) for name in _CANDLE_FIELDS] for candle in candles], dtype=np.float64
        ).reshape(-1, len(_CANDLE_FIELDS))
    except (TypeError, ValueError, AttributeError) as exc:
        raise ProviderError(f"Schwab candles are not numeric objects: {exc}") from exc
    if np.isnan(array[:, 0]).any():
        row = int(np.flatnonzero(np.isnan(array[:, 0]))[0]) + 1
        raise ProviderError(f"Schwab candle {row} has no datetime")
    frame = bars_from_rows(array)
    if interval.is_daily:
        frame["ts"] = frame["ts"].dt.floor("D")  # US midnight is 04:00-08:00 UTC: the same UTC date
    return frame, np.arange(1, len(frame) + 1)
