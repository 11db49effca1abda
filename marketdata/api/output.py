"""Shape bar, trade and quote frames as JSON, CSV or Parquet responses.

JSON is written by pandas' C encoder and spliced into the envelope, so a year of
1-minute bars is serialized without building a Python dict per bar.
"""

from __future__ import annotations

import base64
import io
import json
from urllib.parse import urlencode

import pandas as pd
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


def _records_json(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "[]"
    return frame.to_json(orient="records", date_format="iso", date_unit="ms", double_precision=15)


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
        head = json.dumps(envelope)[:-1]
        sep = ", " if envelope else ""
        body = f'{head}{sep}"{key}": {_records_json(public)}, "next": {json.dumps(next_link)}}}'
        response = HttpResponse(body, content_type="application/json")
    elif output == "csv":
        text = public.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ", float_format="%.15g")
        response = HttpResponse(text, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    else:
        buffer = io.BytesIO()
        public.to_parquet(buffer, index=False, compression=None)
        response = HttpResponse(buffer.getvalue(), content_type=PARQUET_TYPE)
        response["Content-Disposition"] = f'attachment; filename="{filename}.parquet"'
    if next_link:
        response["Link"] = f'<{next_link}>; rel="next"'
    return response
