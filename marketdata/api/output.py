"""Shape bar, trade and quote frames as JSON, CSV or Parquet responses.

JSON is written by pandas' C encoder and spliced into the envelope, so a year of
1-minute bars is serialized without building a Python dict per bar.
"""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from django.http import HttpRequest, HttpResponse

from mdserver.api import ApplicationError

BAR_FIELDS = {
    "ts": "t",
    "open": "o",
    "high": "h",
    "low": "l",
    "close": "c",
    "volume": "v",
    "trade_count": "n",
    "vwap": "vwap",
}
TRADE_FIELDS = {"ts": "t", "price": "price", "size": "size", "side": "side"}
QUOTE_FIELDS = {"ts": "t", "bid": "bid", "bid_size": "bid_size", "ask": "ask", "ask_size": "ask_size"}
FORMATS = ("json", "csv", "parquet")
PARQUET_TYPE = "application/vnd.apache.parquet"


def encode_cursor(ts: pd.Timestamp, skip: int = 0) -> str:
    raw = f"{ts.value}:{skip}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[pd.Timestamp, int]:
    try:
        padded = text + "=" * (-len(text) % 4)
        ns, skip = base64.urlsafe_b64decode(padded.encode()).decode().split(":")
        return pd.Timestamp(int(ns), tz="UTC"), int(skip)
    except (ValueError, UnicodeDecodeError):
        raise ApplicationError(
            "the cursor is not one this server issued", details=[{"field": "cursor", "message": "invalid cursor"}]
        ) from None


def next_url(request: HttpRequest, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    params = request.GET.copy()
    params["cursor"] = cursor
    return request.build_absolute_uri(f"{request.path}?{urlencode(params, doseq=True)}")


def _public(frame: pd.DataFrame, fields: dict[str, str]) -> pd.DataFrame:
    out = frame[[c for c in fields if c in frame.columns]].rename(columns=fields)
    if "n" in out.columns:
        out["n"] = out["n"].round().astype("Int64")
    return out


def _json_column(series: pd.Series) -> list:
    """Return one column as JSON-ready Python values (ISO-8601 `Z` strings for times, None for missing)."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        ns = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
        unit = "s" if not (ns.view("i8") % 1_000_000_000).any() else "us"
        return np.strings.add(np.datetime_as_string(ns, unit=unit), "Z").tolist()
    if pd.api.types.is_integer_dtype(series.dtype):
        return [None if value is pd.NA else int(value) for value in series.astype("Int64").tolist()]
    if pd.api.types.is_float_dtype(series.dtype):
        values = series.to_numpy("float64")
        return (
            values.tolist()
            if not np.isnan(values).any()
            else series.astype(object).where(series.notna(), None).tolist()
        )
    return series.tolist()


def _records_json(frame: pd.DataFrame) -> bytes:
    """Encode a frame as a JSON array of records."""
    keys = list(frame.columns)
    columns = [_json_column(frame[name]) for name in keys]
    return orjson.dumps([dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)])


def respond(
    request: HttpRequest,
    frame: pd.DataFrame,
    *,
    fields: dict[str, str],
    key: str,
    envelope: dict,
    next_link: str | None,
    output: str,
    filename: str,
) -> HttpResponse:
    """Answer `frame` in the asked format; CSV and Parquet carry `next` in a Link header."""
    public = _public(frame, fields)
    if output == "json":
        head = orjson.dumps(envelope)[:-1] + (b"," if envelope else b"")
        body = head + orjson.dumps(key) + b":" + _records_json(public) + b',"next":' + orjson.dumps(next_link) + b"}"
        response = HttpResponse(body, content_type="application/json")
    elif output == "csv":
        text = public.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ", float_format="%.15g")
        response = HttpResponse(text, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    else:
        sink = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pandas(public, preserve_index=False), sink, compression="lz4")
        response = HttpResponse(sink.getvalue().to_pybytes(), content_type=PARQUET_TYPE)
        response["Content-Disposition"] = f'attachment; filename="{filename}.parquet"'
    if next_link:
        response["Link"] = f'<{next_link}>; rel="next"'
    return response
