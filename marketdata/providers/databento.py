"""Databento historical data: OHLCV bars, trades and top-of-book quotes from DBN.

Requests go through the official client: `Historical.timeseries.get_range`
streams zstd-compressed DBN, read with `DBNStore.to_ndarray()`; the conversion
below is ours and vectorized (the `to_df(map_symbols=True)` path is slow and
not used).

- Prices are int64 fixed-point (1e-9) and become float64; `UNDEF_PRICE`
  becomes NaN. A bar with an undefined open, high, low or close cannot be
  stored: it is reported by `validate_bars` ("open is missing (NaN)") and the
  whole payload is refused with a `PayloadError` naming the record.
- Bars (`ohlcv-1s|1m|1h|1d`): `ts` = `ts_event`, the bar OPEN. Volume becomes
  float64; trade_count and vwap are unknown (NaN). Databento labels daily bars
  00:00 UTC of the trading date; moving them to the session open needs the
  symbol's calendar and is left to the caller.
- Trades: `ts` = `ts_recv`, the capture time Databento sorts and indexes by
  (when the trade became known); side from the aggressor: B -> buy, A -> sell,
  N -> "".
- Quotes (`tbbo`, `mbp-1`): `ts` = `ts_recv`; bid/ask from level 0
  (`bid_px_00`, `ask_px_00`, `bid_sz_00`, `ask_sz_00`). An empty side of the
  book (UNDEF_PRICE) is a NaN price, which quotes allow.

Symbology: records carry an `instrument_id`; the payload metadata maps each
input symbol to instrument ids over UTC date ranges. A record takes the input
symbol mapped to its instrument on its date: `raw_symbol` (`AAPL`, `ESH1`) and
`continuous` (`GC.c.0`, which rolls between contracts) give one series per input
symbol; `parent` (`ES.FUT`) covers many contracts at once, so each contract gets
its own series keyed `ES.FUT#<instrument_id>`. Records without a mapping are
keyed by their instrument id.

Row numbers in `PayloadError.errors` are 1-based record positions in the payload.
The API key is kept out of `repr`, logs and every error message this module raises.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import databento
import numpy as np
import pandas as pd
import requests
from databento.common.error import BentoClientError, BentoError, BentoHttpError
from databento_dbn import UNDEF_PRICE, UNDEF_TIMESTAMP

from marketdata.core.bars import NS_PER_DAY, empty_bars
from marketdata.providers.base import (
    KIND_BARS,
    KIND_QUOTES,
    KIND_TRADES,
    QUOTE_COLUMNS,
    TRADE_COLUMNS,
    Estimate,
    FetchRequest,
    ProviderError,
    SourceBase,
    UnsupportedSchema,
    checked_bars,
    checked_ticks,
)

SOURCE = "databento"
BAR_SCHEMAS: dict[str, str] = {"1s": "ohlcv-1s", "1m": "ohlcv-1m", "1h": "ohlcv-1h", "1d": "ohlcv-1d"}
SCHEMA_KINDS: dict[str, str] = {
    **dict.fromkeys(BAR_SCHEMAS.values(), KIND_BARS),
    "trades": KIND_TRADES,
    "tbbo": KIND_QUOTES,
    "mbp-1": KIND_QUOTES,
}
PRICE_SCALE = 1e9
_NAT = np.iinfo(np.int64).min
_RETRYABLE_HTTP = {408, 429}


# ----------------------------------------------------------------------------- decode


def decode_store(store: databento.DBNStore) -> dict[str, pd.DataFrame]:
    """Return the store's records as frames per symbol: bars, trades or quotes by schema."""
    schema = None if store.schema is None else str(store.schema)
    kind = SCHEMA_KINDS.get(schema or "")
    if kind is None:
        supported = ", ".join(SCHEMA_KINDS)
        raise UnsupportedSchema(f"unsupported schema {schema!r}: the Databento loader reads {supported}")
    records = store.to_ndarray().reshape(-1)
    ts = _timestamps(records["ts_event" if kind == KIND_BARS else "ts_recv"])
    keys = _symbol_keys(store.metadata, records["instrument_id"], ts)
    codes, symbols = pd.factorize(keys, sort=True)
    frames: dict[str, pd.DataFrame] = {}
    for code, symbol in enumerate(symbols):
        positions = np.flatnonzero(codes == code)
        rows = positions + 1
        part, part_ts = records[positions], ts[positions]
        if kind == KIND_BARS:
            frames[symbol] = checked_bars(_bars(part, part_ts), source=SOURCE, symbol=symbol, rows=rows)
        else:
            ticks = _trades(part, part_ts) if kind == KIND_TRADES else _quotes(part, part_ts)
            frames[symbol] = checked_ticks(ticks, kind=kind, source=SOURCE, symbol=symbol, rows=rows)
    return frames


def load_dbn_file(path: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """Decode a local DBN file (zstd or plain) into frames per symbol, checked like a fetch."""
    try:
        store = databento.DBNStore.from_file(path)
    except (BentoError, ValueError) as exc:
        raise ProviderError(f"cannot read DBN file {os.fspath(path)!r}: {exc}") from exc
    return decode_store(store)


def _prices(raw: np.ndarray) -> np.ndarray:
    prices = raw.astype(np.float64) / PRICE_SCALE
    prices[raw == UNDEF_PRICE] = np.nan
    return prices


def _timestamps(raw: np.ndarray) -> np.ndarray:
    """Return uint64 DBN nanoseconds as int64, UNDEF_TIMESTAMP as NaT."""
    ns = raw.astype(np.int64)
    ns[raw == UNDEF_TIMESTAMP] = _NAT
    return ns


def _ts_column(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")


def _bars(records: np.ndarray, ts: np.ndarray) -> pd.DataFrame:
    count = len(records)
    return pd.DataFrame(
        {
            "ts": _ts_column(ts),
            **{name: _prices(records[name]) for name in ("open", "high", "low", "close")},
            "volume": records["volume"].astype(np.float64),
            "trade_count": np.full(count, np.nan),
            "vwap": np.full(count, np.nan),
        }
    )


def _trades(records: np.ndarray, ts: np.ndarray) -> pd.DataFrame:
    side = records["side"]
    return pd.DataFrame(
        {
            "ts": _ts_column(ts),
            "price": _prices(records["price"]),
            "size": records["size"].astype(np.float64),
            "side": np.where(side == b"B", "buy", np.where(side == b"A", "sell", "")),
        },
        columns=TRADE_COLUMNS,
    )


def _quotes(records: np.ndarray, ts: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": _ts_column(ts),
            "bid": _prices(records["bid_px_00"]),
            "bid_size": records["bid_sz_00"].astype(np.float64),
            "ask": _prices(records["ask_px_00"]),
            "ask_size": records["ask_sz_00"].astype(np.float64),
        },
        columns=QUOTE_COLUMNS,
    )


def _empty_frame(kind: str) -> pd.DataFrame:
    if kind == KIND_BARS:
        return empty_bars()
    columns = TRADE_COLUMNS if kind == KIND_TRADES else QUOTE_COLUMNS
    data: dict[str, Any] = {name: np.empty(0) for name in columns}
    data["ts"] = _ts_column(np.empty(0, np.int64))
    if kind == KIND_TRADES:
        data["side"] = np.empty(0, dtype=str)
    return pd.DataFrame(data, columns=columns)


def _symbol_keys(metadata: Any, instrument_ids: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Return, per record, the input symbol its instrument was mapped from on the record's date."""
    keys = instrument_ids.astype(str).astype(object)
    if len(keys) == 0:
        return keys
    per_contract = str(metadata.stype_in) == "parent"
    days = ts - ts % NS_PER_DAY
    order = np.argsort(instrument_ids, kind="stable")
    ids_sorted = instrument_ids[order]
    for symbol_in, intervals in metadata.mappings.items():
        for interval in intervals:
            if not interval["symbol"] or not str(interval["symbol"]).isdigit():
                continue
            instrument_id = int(interval["symbol"])
            lo, hi = np.searchsorted(ids_sorted, [instrument_id, instrument_id + 1])
            positions = order[lo:hi]
            start = pd.Timestamp(interval["start_date"]).value
            end = pd.Timestamp(interval["end_date"]).value
            inside = positions[(days[positions] >= start) & (days[positions] < end)]
            keys[inside] = f"{symbol_in}#{instrument_id}" if per_contract else symbol_in
    return keys


# ----------------------------------------------------------------------------- source


class DatabentoSource(SourceBase):
    """Databento historical bars, trades and quotes for one dataset at a time.

    Give `api_key` (the caller reads DATABENTO_API_KEY) or a ready `client`.
    `dataset` and `stype_in` are defaults for requests that do not name them.
    """

    name = SOURCE
    schemas = frozenset({"ohlcv", *SCHEMA_KINDS})
    symbology = (
        "stype_in raw_symbol (AAPL, ESH1), continuous (GC.c.0: front month, rolled by Databento) "
        "or parent (ES.FUT: every contract, one series each keyed ES.FUT#<instrument_id>); "
        "dataset required (XNAS.ITCH, GLBX.MDP3, EQUS.MINI, ...)."
    )

    def __init__(
        self,
        api_key: str | None = None,
        *,
        client: databento.Historical | None = None,
        dataset: str | None = None,
        stype_in: str = "raw_symbol",
    ) -> None:
        if client is None:
            if not api_key or api_key.isspace():
                raise ProviderError("Databento needs an API key (set DATABENTO_API_KEY)")
            try:
                client = databento.Historical(key=api_key)
            except ValueError:
                raise ProviderError("Databento refused the API key format") from None
        self._client = client
        self._secret = client.key
        self.dataset = dataset
        self.stype_in = stype_in

    def __repr__(self) -> str:
        return f"DatabentoSource(gateway={self._client.gateway!r}, dataset={self.dataset!r})"

    def fetch_bars(self, request: FetchRequest) -> pd.DataFrame:
        return self._one_series(request, KIND_BARS)

    def fetch_trades(self, request: FetchRequest) -> pd.DataFrame:
        return self._one_series(request, KIND_TRADES)

    def fetch_quotes(self, request: FetchRequest) -> pd.DataFrame:
        return self._one_series(request, KIND_QUOTES)

    def fetch_by_symbol(self, request: FetchRequest) -> dict[str, pd.DataFrame]:
        """Fetch the request's schema and return frames per symbol (several for `parent`)."""
        schema = self.schema_for(request)
        with self._vendor_errors():
            store = self._client.timeseries.get_range(**self._query(request, schema))
        return decode_store(store)

    def estimate(self, request: FetchRequest) -> Estimate:
        """Ask Databento for the cost (USD) and the record count of the request."""
        query = self._query(request, self.schema_for(request))
        with self._vendor_errors():
            cost = self._client.metadata.get_cost(**query)
            rows = self._client.metadata.get_record_count(**query)
        return Estimate(float(cost), int(rows))

    def schema_for(self, request: FetchRequest) -> str:
        """Return the Databento schema for the request: its schema, or ohlcv-<interval>."""
        if request.schema is not None and request.schema != "ohlcv":
            if request.schema not in SCHEMA_KINDS:
                raise UnsupportedSchema(f"Databento source does not read schema {request.schema!r}")
            return request.schema
        interval = str(request.bar_interval())
        try:
            return BAR_SCHEMAS[interval]
        except KeyError:
            raise UnsupportedSchema(
                f"Databento has bars for {', '.join(BAR_SCHEMAS)} only, not {interval}; "
                "derive longer bars from stored 1m bars"
            ) from None

    def _query(self, request: FetchRequest, schema: str) -> dict[str, Any]:
        dataset = request.dataset or self.dataset
        if not dataset:
            raise ProviderError("Databento requests need a dataset (e.g. XNAS.ITCH, GLBX.MDP3)")
        return {
            "dataset": dataset,
            "symbols": [request.symbol],
            "schema": schema,
            "start": request.start,
            "end": request.end,
            "stype_in": request.stype_in or self.stype_in,
        }

    def _one_series(self, request: FetchRequest, kind: str) -> pd.DataFrame:
        if request.kind != kind:
            raise UnsupportedSchema(f"schema {request.schema!r} delivers {request.kind}, not {kind}")
        frames = self.fetch_by_symbol(request)
        if not frames:
            return _empty_frame(kind)
        if len(frames) > 1:
            raise ProviderError(
                f"{request.symbol} maps to {len(frames)} series ({', '.join(sorted(frames)[:5])}...); "
                "use fetch_by_symbol for parent symbology"
            )
        return next(iter(frames.values()))

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "<api key>") if self._secret else text

    @contextmanager
    def _vendor_errors(self) -> Iterator[None]:
        """Turn client and HTTP failures into ProviderError, without the API key or its traceback."""
        try:
            yield
        except BentoHttpError as exc:
            retryable = not isinstance(exc, BentoClientError) or exc.http_status in _RETRYABLE_HTTP
            detail = self._scrub(exc.message or "")
            raise ProviderError(f"Databento HTTP {exc.http_status}: {detail}", retryable=retryable) from None
        except (BentoError, requests.RequestException) as exc:
            message = self._scrub(f"{type(exc).__name__}: {exc}")
            raise ProviderError(f"Databento request failed: {message}", retryable=True) from None
        except ValueError as exc:
            raise ProviderError(f"Databento refused the request: {self._scrub(str(exc))}") from None
