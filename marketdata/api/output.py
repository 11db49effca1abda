"""Shape bar, trade and quote frames as JSON, CSV or Parquet responses.

JSON records are encoded column by column (`marketdata.core.json_records`) and spliced
into the envelope, so a year of 1-minute bars is serialized without a dict per bar.
"""

from __future__ import annotations

import base64
import functools
from urllib.parse import urlencode

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.http import HttpRequest, HttpResponse

from marketdata.core.json_records import records_json
from marketdata.core.times import is_supported_time
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
    """Return the (time, rows to skip at that time) a cursor holds; a tampered one is a 400 on `cursor`."""
    try:
        padded = text + "=" * (-len(text) % 4)
        ns, skip = base64.urlsafe_b64decode(padded.encode()).decode().split(":")
        ts, skip = pd.Timestamp(int(ns), tz="UTC"), int(skip)
    except (ValueError, UnicodeDecodeError, OverflowError):
        ts, skip = None, -1
    # A cursor this server issued names a supported time and a count of rows already sent at it.
    if ts is None or not is_supported_time(ts) or not 0 <= skip < 2**53:
        raise ApplicationError(
            "the cursor is not one this server issued", details=[{"field": "cursor", "message": "invalid cursor"}]
        )
    return ts, skip


def next_url(request: HttpRequest, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    params = request.GET.copy()
    params["cursor"] = cursor
    return request.build_absolute_uri(f"{request.path}?{urlencode(params, doseq=True)}")


def _public(rows: pa.Table | pd.DataFrame, fields: dict[str, str]) -> pa.Table:
    """Return the response's columns under their public names; `n` (trade count) as integers."""
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(rows, preserve_index=False)
    names = [name for name in fields if name in table.column_names]
    table = table.select(names).rename_columns([fields[name] for name in names]).replace_schema_metadata(None)
    if "n" in table.column_names:
        table = table.set_column(table.column_names.index("n"), "n", _whole_counts(table.column("n")))
    return table


def _whole_counts(counts: pa.ChunkedArray) -> pa.ChunkedArray:
    """Return trade counts as int64: NaN as missing, fractions (none in stored data) rounded."""
    try:
        return pc.cast(counts, pa.int64())  # one pass when every count is whole, as they are
    except pa.ArrowInvalid:  # NaN or a fraction
        if pa.types.is_floating(counts.type):
            counts = pc.if_else(pc.is_nan(counts), pa.scalar(None, counts.type), counts)
        return pc.cast(pc.round(counts), pa.int64())


def _pandas_frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=_NULLABLE_INTEGERS.get)


_NULLABLE_INTEGERS = {pa.int64(): pd.Int64Dtype()}


@functools.lru_cache(maxsize=32)
def _pandas_metadata(schema: pa.Schema) -> dict:
    """Return the pandas schema metadata of `schema` (so that `pandas.read_parquet` gives the same dtypes)."""
    return pa.Schema.from_pandas(_pandas_frame(schema.empty_table()), preserve_index=False).metadata


def _column_encodings(schema: pa.Schema) -> dict[str, str]:
    encodings = {}
    for field in schema:
        if pa.types.is_floating(field.type):
            encodings[field.name] = "BYTE_STREAM_SPLIT"
        elif pa.types.is_integer(field.type) or pa.types.is_timestamp(field.type):
            encodings[field.name] = "DELTA_BINARY_PACKED"
    return encodings


def _parquet(table: pa.Table) -> bytes:
    """Write the table as Parquet: LZ4 pages, no dictionary pass; floats BYTE_STREAM_SPLIT,
    integers and times DELTA_BINARY_PACKED; columns without a missing value as required.

    Prices are rarely repeated, so a dictionary costs more than it saves; split float
    bytes and the deltas of regular times compress well and fast. A required column has
    no definition levels to compute and store, which halves the writer's time.
    """
    schema = pa.schema(
        [
            # A column of Arrow's null type (no values at all, e.g. no trades) must stay optional.
            field.with_nullable(table.column(index).null_count > 0 or pa.types.is_null(field.type))
            for index, field in enumerate(table.schema)
        ],
        metadata=_pandas_metadata(table.schema),
    )
    sink = pa.BufferOutputStream()
    pq.write_table(
        pa.Table.from_arrays(table.columns, schema=schema),
        sink,
        compression="lz4",
        use_dictionary=False,
        column_encoding=_column_encodings(table.schema) or None,
        # Statistics only where readers prune by them: the time column.
        write_statistics=[field.name for field in table.schema if pa.types.is_timestamp(field.type)] or False,
        write_batch_size=PARQUET_BATCH_ROWS,
    )
    return sink.getvalue().to_pybytes()


PARQUET_BATCH_ROWS = 65_536  # values handed to the column encoders at a time (pyarrow's default: 1,024)


def respond(
    request: HttpRequest,
    rows: pa.Table | pd.DataFrame,
    *,
    fields: dict[str, str],
    key: str,
    envelope: dict,
    next_link: str | None,
    output: str,
    filename: str,
) -> HttpResponse:
    """Answer `rows` in the asked format; CSV and Parquet carry `next` in a Link header."""
    public = _public(rows, fields)
    if output == "json":
        head = orjson.dumps(envelope)[:-1] + (b"," if envelope else b"") + orjson.dumps(key) + b":"
        body = records_json(public, prefix=head, suffix=b',"next":' + orjson.dumps(next_link) + b"}")
        response = HttpResponse(body, content_type="application/json")
    elif output == "csv":
        text = _pandas_frame(public).to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ", float_format="%.15g")
        response = HttpResponse(text, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    else:
        response = HttpResponse(_parquet(public), content_type=PARQUET_TYPE)
        response["Content-Disposition"] = f'attachment; filename="{filename}.parquet"'
    if next_link:
        response["Link"] = f'<{next_link}>; rel="next"'
    return response
