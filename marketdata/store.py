"""The only module that reads and writes bar, trade and quote rows.

PostgreSQL: ingest streams a binary COPY (built with numpy, no per-row Python)
into a temporary table, then `INSERT ... ON CONFLICT` (skip or replace); reads
stream a binary `COPY (SELECT ...) TO STDOUT` straight into numpy arrays. Bar reads
go through month chunks (Arrow IPC in `marketdata_barchunk`, built on first read,
dropped by writes under an advisory lock) that each server process also keeps
decoded in memory while the database lists the same chunk version.
SQLite (the embedded default): the same operations through plain
`executemany` and `SELECT`.

Frames follow the normalized schema of `marketdata.core.bars`: a `ts` column
(datetime64, UTC) plus float64 value columns where NaN means unknown.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import connection, transaction

from marketdata.core.bar_tables import bars_from_table, bars_to_table, empty_bars_table, table_ts

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in Unix microseconds
PG_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
PG_COPY_TRAILER = b"\xff\xff"
ON_CONFLICT = ("skip", "replace")
SIDE_CODES = {"": 0, "buy": 1, "sell": 2}
SIDE_NAMES = np.array(["", "buy", "sell"], dtype=object)
ADVISORY_LOCK_SPACE = 0x6D64  # "md": the advisory-lock namespace of market-data writers


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "ts" | "f8" (NaN = NULL when nullable) | "i8" | "i4" | "side"
    nullable: bool = False


@dataclass(frozen=True)
class TableSpec:
    table: str
    keys: tuple[str, ...]  # the conflict target, after symbol_id (and interval for bars)
    columns: tuple[Column, ...]
    has_interval: bool


BARS = TableSpec(
    table="marketdata_bar",
    keys=("ts",),
    columns=(
        Column("ts", "ts"),
        Column("open", "f8"),
        Column("high", "f8"),
        Column("low", "f8"),
        Column("close", "f8"),
        Column("volume", "f8"),
        Column("trade_count", "i8", nullable=True),
        Column("vwap", "f8", nullable=True),
    ),
    has_interval=True,
)
TRADES = TableSpec(
    table="marketdata_trade",
    keys=("ts", "seq"),
    columns=(
        Column("ts", "ts"),
        Column("seq", "i4"),
        Column("price", "f8"),
        Column("size", "f8"),
        Column("side", "side"),
    ),
    has_interval=False,
)
QUOTES = TableSpec(
    table="marketdata_quote",
    keys=("ts", "seq"),
    columns=(
        Column("ts", "ts"),
        Column("seq", "i4"),
        Column("bid", "f8"),
        Column("bid_size", "f8"),
        Column("ask", "f8"),
        Column("ask_size", "f8"),
    ),
    has_interval=False,
)


@dataclass(frozen=True)
class WriteResult:
    rows_total: int
    inserted: int
    updated: int
    duplicate: int

    def as_dict(self) -> dict[str, int]:
        return {
            "rows_total": self.rows_total,
            "rows_inserted": self.inserted,
            "rows_updated": self.updated,
            "rows_duplicate": self.duplicate,
        }


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _ts_to_us(series: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(series).tz_convert("UTC").as_unit("us").asi8


def _us_to_ts(values: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(values, unit="us", utc=True)).dt.as_unit("ns")


def _utc(value: dt.datetime | pd.Timestamp | None) -> pd.Timestamp | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _prepare(spec: TableSpec, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)
    if "seq" in (c.name for c in spec.columns) and "seq" not in frame.columns:
        frame = frame.assign(seq=frame.groupby("ts", sort=False).cumcount().astype("int32"))
    return frame


# --- writes -----------------------------------------------------------------


def write_rows(
    spec: TableSpec, *, symbol_id: int, frame: pd.DataFrame, on_conflict: str = "skip", interval: str | None = None
) -> WriteResult:
    """Upsert `frame` (unique keys, validated) for one symbol; report what changed."""
    if on_conflict not in ON_CONFLICT:
        raise ValueError(f"on_conflict must be one of {ON_CONFLICT}, got {on_conflict!r}")
    if spec.has_interval and not interval:
        raise ValueError(f"{spec.table} rows need an interval")
    total = len(frame)
    if total == 0:
        return WriteResult(0, 0, 0, 0)
    frame = _prepare(spec, frame)
    with transaction.atomic():
        if _is_postgres():
            inserted, updated = _pg_write(spec, symbol_id, interval, frame, on_conflict)
        else:
            inserted, updated = _sqlite_write(spec, symbol_id, interval, frame, on_conflict)
    return WriteResult(total, inserted, updated, total - inserted - updated)


def bars_write(*, symbol_id: int, interval: str, frame: pd.DataFrame, on_conflict: str = "skip") -> WriteResult:
    return write_rows(BARS, symbol_id=symbol_id, frame=frame, on_conflict=on_conflict, interval=interval)


def trades_write(*, symbol_id: int, frame: pd.DataFrame, on_conflict: str = "skip") -> WriteResult:
    return write_rows(TRADES, symbol_id=symbol_id, frame=frame, on_conflict=on_conflict)


def quotes_write(*, symbol_id: int, frame: pd.DataFrame, on_conflict: str = "skip") -> WriteResult:
    return write_rows(QUOTES, symbol_id=symbol_id, frame=frame, on_conflict=on_conflict)


_PG_BINARY = {"ts": (">i8", 8), "f8": (">f8", 8), "i8": (">f8", 8), "i4": (">i4", 4), "side": (">i2", 2)}
_PG_TEMP_TYPE = {"ts": "timestamptz", "f8": "float8", "i8": "float8", "i4": "int4", "side": "int2"}


def _pg_copy_payload(spec: TableSpec, frame: pd.DataFrame) -> bytes:
    fields = [("count", ">i2")]
    for column in spec.columns:
        fields += [(f"{column.name}_len", ">i4"), (column.name, _PG_BINARY[column.kind][0])]
    rows = np.empty(len(frame), dtype=np.dtype(fields))
    rows["count"] = len(spec.columns)
    for column in spec.columns:
        rows[f"{column.name}_len"] = _PG_BINARY[column.kind][1]
        if column.kind == "ts":
            rows[column.name] = _ts_to_us(frame[column.name]) - PG_EPOCH_US
        elif column.kind == "side":
            sides = frame[column.name].fillna("").astype(str).str.lower() if column.name in frame else None
            rows[column.name] = 0 if sides is None else sides.map(SIDE_CODES).fillna(0).to_numpy("int16")
        elif column.kind == "i4":
            rows[column.name] = frame[column.name].to_numpy("int32")
        else:
            values = frame[column.name] if column.name in frame else pd.Series(np.nan, index=frame.index)
            rows[column.name] = values.to_numpy("float64", na_value=np.nan)
    return PG_COPY_HEADER + rows.tobytes() + PG_COPY_TRAILER


def _pg_select_expr(column: Column, prefix: str = "") -> str:
    name = f"{prefix}{column.name}"
    if column.kind == "side":
        return f"(ARRAY['', 'buy', 'sell'])[{name} + 1]"
    if column.kind == "i8":
        return f"NULLIF({name}, 'NaN')::bigint"
    if column.nullable:
        return f"NULLIF({name}, 'NaN')"
    return name


def _binary_copy_rows(fields: list[tuple[str, np.ndarray, np.ndarray | None]]) -> bytes:
    """Encode columns as PostgreSQL binary COPY tuples, NULL where a mask says so.

    `fields` holds (big-endian dtype, values, null mask or None). Rows are grouped by
    their pattern of NULLs; each group is one fixed-width numpy record array, and
    the groups are interleaved back into row order with one scatter.
    """
    count = len(fields[0][1]) if fields else 0
    pattern = np.zeros(count, dtype=np.int64)
    nullable = [index for index, (_, _, mask) in enumerate(fields) if mask is not None]
    for bit, index in enumerate(nullable):
        pattern |= fields[index][2].astype(np.int64) << bit
    groups = []
    for value in np.unique(pattern):
        null_fields = {index for bit, index in enumerate(nullable) if value >> bit & 1}
        layout = [("count", ">i2")]
        for index, (dtype, _, _) in enumerate(fields):
            layout.append((f"len{index}", ">i4"))
            if index not in null_fields:
                layout.append((f"v{index}", dtype))
        rows = np.nonzero(pattern == value)[0] if len(nullable) else np.arange(count)
        records = np.empty(len(rows), dtype=np.dtype(layout))
        records["count"] = len(fields)
        for index, (dtype, values, _) in enumerate(fields):
            if index in null_fields:
                records[f"len{index}"] = -1
            else:
                records[f"len{index}"] = np.dtype(dtype).itemsize
                records[f"v{index}"] = values[rows]
        groups.append((rows, records))
    if len(groups) == 1:
        body = groups[0][1].tobytes()
    else:
        sizes = np.zeros(count, dtype=np.int64)
        for rows, records in groups:
            sizes[rows] = records.dtype.itemsize
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        buffer = np.empty(int(sizes.sum()), dtype=np.uint8)
        for rows, records in groups:
            width = records.dtype.itemsize
            buffer[offsets[rows][:, None] + np.arange(width)] = records.view(np.uint8).reshape(-1, width)
        body = buffer.tobytes()
    return PG_COPY_HEADER + body + PG_COPY_TRAILER


def _pg_direct_bars_payload(symbol_id: int, interval: str, frame: pd.DataFrame) -> bytes:
    count = len(frame)
    label = interval.encode()
    trade_count = frame["trade_count"].to_numpy("float64", na_value=np.nan)
    vwap = frame["vwap"].to_numpy("float64", na_value=np.nan)
    fields = [
        (">i8", np.full(count, symbol_id, dtype=np.int64), None),
        (f"S{len(label)}", np.full(count, label, dtype=f"S{len(label)}"), None),
        (">i8", _ts_to_us(frame["ts"]) - PG_EPOCH_US, None),
        *[(">f8", frame[name].to_numpy("float64"), None) for name in ("open", "high", "low", "close", "volume")],
        (">i8", np.nan_to_num(trade_count).astype(np.int64), np.isnan(trade_count)),
        (">f8", vwap, np.isnan(vwap)),
    ]
    return _binary_copy_rows(fields)


def _pg_range_is_empty(spec: TableSpec, cursor, fixed_values: list, frame: pd.DataFrame) -> bool:
    first, last = frame["ts"].min(), frame["ts"].max()
    where = "symbol_id = %s" + (" AND interval = %s" if spec.has_interval else "")
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {spec.table} WHERE {where} AND ts >= %s AND ts <= %s)",
        [*fixed_values, first.to_pydatetime(), last.to_pydatetime()],
    )
    return not cursor.fetchone()[0]


def _pg_write(spec: TableSpec, symbol_id: int, interval: str | None, frame: pd.DataFrame, on_conflict: str):
    temp = f"_in_{spec.table}"
    names = [c.name for c in spec.columns]
    key_cols = ["symbol_id"] + (["interval"] if spec.has_interval else []) + list(spec.keys)
    fixed_values = [symbol_id] + ([interval] if spec.has_interval else [])
    fixed_sql = ", ".join(["%s"] * len(fixed_values))
    target_cols = ", ".join(key_cols[: len(fixed_values)] + names)
    select_cols = ", ".join(_pg_select_expr(c) for c in spec.columns)
    value_cols = [c.name for c in spec.columns if c.name not in spec.keys]
    with connection.cursor() as cursor:
        # One writer per symbol at a time, so the empty-range check below stays true until commit.
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_LOCK_SPACE, symbol_id])
        if spec is BARS:
            _pg_chunks_invalidate(cursor, symbol_id, interval, frame["ts"].min(), frame["ts"].max())
        if spec is BARS and _pg_range_is_empty(spec, cursor, fixed_values, frame):
            # Nothing stored in this range: COPY straight into the table, no conflicts possible.
            with cursor.cursor.copy(f"COPY {spec.table} ({target_cols}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(_pg_direct_bars_payload(symbol_id, interval, frame))
            return len(frame), 0
        cursor.execute(
            f"CREATE TEMP TABLE {temp} ({', '.join(f'{c.name} {_PG_TEMP_TYPE[c.kind]}' for c in spec.columns)}) "
            "ON COMMIT DROP"
        )
        with cursor.cursor.copy(f"COPY {temp} ({', '.join(names)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_pg_copy_payload(spec, frame))
        updated = 0
        if on_conflict == "replace":
            match = " AND ".join(
                [f"t.{k} = %s" for k in key_cols[: len(fixed_values)]] + [f"t.{k} = i.{k}" for k in spec.keys]
            )
            exprs = {c.name: _pg_select_expr(c, "i.") for c in spec.columns}
            assignments = ", ".join(f"{name} = {exprs[name]}" for name in value_cols)
            differs = (
                f"({', '.join(f't.{n}' for n in value_cols)}) IS DISTINCT FROM "
                f"({', '.join(exprs[n] for n in value_cols)})"
            )
            cursor.execute(
                f"UPDATE {spec.table} AS t SET {assignments} FROM {temp} AS i WHERE {match} AND {differs}",
                fixed_values,
            )
            updated = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {spec.table} ({target_cols}) SELECT {fixed_sql}, {select_cols} FROM {temp} "
            f"ON CONFLICT ({', '.join(key_cols)}) DO NOTHING",
            fixed_values,
        )
        inserted = cursor.rowcount
        cursor.execute(f"DROP TABLE {temp}")
    return inserted, updated


def _sqlite_ts_strings(series: pd.Series) -> np.ndarray:
    # Django stores SQLite datetimes as naive UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
    text = series.dt.tz_convert("UTC").dt.tz_localize(None).dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    return text.str.replace(".000000", "", regex=False).to_numpy(object)


def _sqlite_rows(spec: TableSpec, frame: pd.DataFrame) -> list[tuple]:
    columns = []
    for column in spec.columns:
        if column.kind == "ts":
            columns.append(_sqlite_ts_strings(frame[column.name]))
        elif column.kind == "side":
            values = frame[column.name].fillna("").astype(str).str.lower() if column.name in frame else None
            columns.append(np.full(len(frame), "", dtype=object) if values is None else values.to_numpy(object))
        elif column.kind in ("i8", "i4"):
            values = frame[column.name] if column.name in frame else pd.Series(np.nan, index=frame.index)
            numbers = values.astype("float64").to_numpy()
            columns.append(np.array([None if np.isnan(v) else int(v) for v in numbers], dtype=object))
        else:
            values = frame[column.name] if column.name in frame else pd.Series(np.nan, index=frame.index)
            numbers = values.astype("float64").to_numpy().astype(object)
            numbers[pd.isna(values.to_numpy())] = None
            columns.append(numbers)
    return list(zip(*columns, strict=True))


def _sqlite_write(spec: TableSpec, symbol_id: int, interval: str | None, frame: pd.DataFrame, on_conflict: str):
    names = [c.name for c in spec.columns]
    fixed = [symbol_id] + ([interval] if spec.has_interval else [])
    fixed_cols = ["symbol_id"] + (["interval"] if spec.has_interval else [])
    rows = [tuple(fixed) + row for row in _sqlite_rows(spec, frame)]
    value_cols = [n for n in names if n not in spec.keys]
    placeholders = ", ".join(["%s"] * (len(fixed_cols) + len(names)))
    with connection.cursor() as cursor:
        updated = 0
        if on_conflict == "replace":
            where = " AND ".join(f"{k} = %s" for k in fixed_cols + list(spec.keys))
            differs = " OR ".join(f"{n} IS NOT %s" for n in value_cols)
            position = {n: i + len(fixed_cols) for i, n in enumerate(names)}
            key_positions = list(range(len(fixed_cols))) + [position[k] for k in spec.keys]
            params = [
                tuple(row[position[n]] for n in value_cols)
                + tuple(row[i] for i in key_positions)
                + tuple(row[position[n]] for n in value_cols)
                for row in rows
            ]
            before = connection.connection.total_changes
            cursor.executemany(
                f"UPDATE {spec.table} SET {', '.join(f'{n} = %s' for n in value_cols)} WHERE {where} AND ({differs})",
                params,
            )
            updated = connection.connection.total_changes - before
        before = connection.connection.total_changes
        cursor.executemany(
            f"INSERT OR IGNORE INTO {spec.table} ({', '.join(fixed_cols + names)}) VALUES ({placeholders})", rows
        )
        inserted = connection.connection.total_changes - before
    return inserted, updated


# --- reads ------------------------------------------------------------------


def read_rows(
    spec: TableSpec,
    *,
    symbol_id: int,
    interval: str | None = None,
    start: dt.datetime | pd.Timestamp | None = None,
    end: dt.datetime | pd.Timestamp | None = None,
    limit: int | None = None,
    descending: bool = False,
) -> pd.DataFrame:
    """Return rows with start <= ts < end, oldest first (newest first when descending)."""
    where = ["symbol_id = %s"]
    params: list = [symbol_id]
    if spec.has_interval:
        where.append("interval = %s")
        params.append(interval)
    start_ts, end_ts = _utc(start), _utc(end)
    order = "DESC" if descending else "ASC"
    order_by = ", ".join(f"{k} {order}" for k in spec.keys)
    limit_sql = f" LIMIT {int(limit)}" if limit is not None else ""
    if _is_postgres() and spec is BARS:
        frame = bars_from_table(_pg_bars_table(symbol_id, interval, start_ts, end_ts, limit, newest=descending))
        return frame.iloc[::-1].reset_index(drop=True) if descending else frame
    if _is_postgres():
        if start_ts is not None:
            where.append("ts >= %s")
            params.append(start_ts.to_pydatetime())
        if end_ts is not None:
            where.append("ts < %s")
            params.append(end_ts.to_pydatetime())
        return _pg_read(spec, " AND ".join(where), params, order_by, limit_sql)
    if start_ts is not None:
        where.append("ts >= %s")
        params.append(_sqlite_ts_strings(pd.Series([start_ts]))[0])
    if end_ts is not None:
        where.append("ts < %s")
        params.append(_sqlite_ts_strings(pd.Series([end_ts]))[0])
    return _sqlite_read(spec, " AND ".join(where), params, order_by, limit_sql)


def _pg_read(spec: TableSpec, where: str, params: list, order_by: str, limit_sql: str) -> pd.DataFrame:
    exprs = []
    for column in spec.columns:
        if column.kind == "ts":
            exprs.append(column.name)
        elif column.kind == "side":
            exprs.append(f"(CASE {column.name} WHEN 'buy' THEN 1 WHEN 'sell' THEN 2 ELSE 0 END)::int2")
        elif column.kind == "i4":
            exprs.append(column.name)
        else:
            exprs.append(f"COALESCE({column.name}::float8, 'NaN')")
    query = f"COPY (SELECT {', '.join(exprs)} FROM {spec.table} WHERE {where} ORDER BY {order_by}{limit_sql}) TO STDOUT (FORMAT BINARY)"
    chunks = bytearray()
    with connection.cursor() as cursor:
        with cursor.cursor.copy(query, params) as copy:
            for block in copy:
                chunks += block
    body = memoryview(chunks)[len(PG_COPY_HEADER) : len(chunks) - len(PG_COPY_TRAILER)]
    return _pg_rows_frame(spec, body)


def _pg_rows_frame(spec: TableSpec, body: memoryview | bytes) -> pd.DataFrame:
    """Turn the tuples of a binary COPY (header and trailer removed) into a frame."""
    fields = [("count", ">i2")]
    for column in spec.columns:
        fields += [(f"{column.name}_len", ">i4"), (column.name, _PG_BINARY[column.kind][0])]
    rows = np.frombuffer(body, dtype=np.dtype(fields))
    data: dict[str, object] = {}
    for column in spec.columns:
        values = rows[column.name]
        if column.kind == "ts":
            data[column.name] = _us_to_ts(values.astype("i8") + PG_EPOCH_US)
        elif column.kind == "side":
            data[column.name] = SIDE_NAMES[values.astype("i8")]
        elif column.kind == "i4":
            data[column.name] = values.astype("int64")
        else:
            data[column.name] = values.astype("float64")
    return pd.DataFrame(data)


# --- the PostgreSQL read cache: a month of bars per Arrow chunk -----------------


CHUNK_BATCH_MONTHS = 6  # months fetched per query while a limited read fills up


def _month(ts: pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(year=ts.year, month=ts.month, day=1, tz="UTC")


def _next_month(month: pd.Timestamp) -> pd.Timestamp:
    return month + pd.offsets.MonthBegin(1)


def _months(first: pd.Timestamp, last: pd.Timestamp) -> list[pd.Timestamp]:
    """Return the month starts from `first` to `last`, both included."""
    count = (last.year - first.year) * 12 + last.month - first.month + 1
    return [
        pd.Timestamp(
            year=first.year + (first.month - 1 + k) // 12, month=(first.month - 1 + k) % 12 + 1, day=1, tz="UTC"
        )
        for k in range(count)
    ]


def _pg_chunks_invalidate(cursor, symbol_id: int, interval: str, first: pd.Timestamp, last: pd.Timestamp) -> None:
    cursor.execute(
        "DELETE FROM marketdata_barchunk WHERE symbol_id = %s AND interval = %s AND month >= %s AND month <= %s",
        [symbol_id, interval, _month(first).date(), _month(last).date()],
    )


@dataclass(frozen=True)
class BarsLayout:
    """What a PostgreSQL bar read of one interval needs first: the first and last stored bar
    time (None: no bars) and {month: (version, rows)} of the stored chunks the range touches."""

    extent: tuple[pd.Timestamp, pd.Timestamp] | None
    chunks: dict[dt.date, tuple[int, int]]


_STORED_INTERVALS_SQL = (
    "WITH RECURSIVE found(interval) AS ("
    " SELECT MIN(interval) FROM marketdata_bar WHERE symbol_id = %(symbol)s"
    " UNION ALL"
    " SELECT (SELECT MIN(interval) FROM marketdata_bar WHERE symbol_id = %(symbol)s AND interval > found.interval)"
    " FROM found WHERE found.interval IS NOT NULL"
    ") SELECT interval FROM found WHERE interval IS NOT NULL"
)


def _pg_bars_layouts(
    symbol_id: int, intervals: list[str] | None, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> dict[str, BarsLayout]:
    """Return the layout of each of `intervals` (None: every stored interval, found by a skip
    scan over the primary key) for a read of [start, end), in one round trip."""
    # Two index probes per interval: MIN/MAX over the key prefix would visit every row of the symbol.
    probe = "SELECT ts FROM marketdata_bar b WHERE b.symbol_id = %(symbol)s AND b.interval = i.interval ORDER BY ts {} LIMIT 1"
    wanted = _STORED_INTERVALS_SQL if intervals is None else "SELECT unnest(%(intervals)s::text[]) AS interval"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT i.interval, ({probe.format('ASC')}), ({probe.format('DESC')}),"
            " (SELECT json_agg(json_build_array(month, version, rows)) FROM marketdata_barchunk c"
            "  WHERE c.symbol_id = %(symbol)s AND c.interval = i.interval AND month >= %(first)s AND month <= %(last)s)"
            f" FROM ({wanted}) i",
            {
                "symbol": symbol_id,
                "intervals": intervals,
                "first": _month(start).date() if start is not None else dt.date.min,
                "last": _month(end).date() if end is not None else dt.date.max,
            },
        )
        rows = cursor.fetchall()
    layouts = {}
    for interval, first, last, chunks in rows:
        if isinstance(chunks, str):
            chunks = json.loads(chunks)
        listed = {dt.date.fromisoformat(month): (version, count) for month, version, count in chunks or []}
        layouts[interval] = BarsLayout(None if first is None else (_utc(first), _utc(last)), listed)
    return layouts


def bar_layouts(
    *, symbol_id: int, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
) -> dict[str, BarsLayout | None]:
    """Return the stored base intervals of a symbol, each with what a read of [start, end) of it
    needs (PostgreSQL; None on SQLite), in one round trip: pass it on to `bars_read_table`."""
    if not _is_postgres():
        return dict.fromkeys(bar_intervals(symbol_id=symbol_id))
    return _pg_bars_layouts(symbol_id, None, _utc(start), _utc(end))


def _arrow_bytes(frame: pd.DataFrame) -> bytes:
    import pyarrow as pa

    table = bars_to_table(frame)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _arrow_table(data: bytes | memoryview):
    import pyarrow as pa

    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


class ChunkMemory:
    """Decoded chunk tables kept by this process, least recently used first out.

    An entry is `(version, table)`; a reader uses it only when the database still holds
    a chunk of that version, so a rebuilt or deleted chunk is never served from here.
    """

    def __init__(self, budget_bytes: int) -> None:
        import collections
        import threading

        self.budget_bytes = budget_bytes
        self.used_bytes = 0
        self._entries: collections.OrderedDict[tuple, tuple[int, object]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, version: int):
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: tuple, version: int, table) -> None:
        size = table.nbytes
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.used_bytes -= old[1].nbytes
            if size > self.budget_bytes:
                return
            self._entries[key] = (version, table)
            self.used_bytes += size
            while self.used_bytes > self.budget_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.used_bytes -= dropped.nbytes


_chunk_memory: ChunkMemory | None = None


def chunk_memory() -> ChunkMemory:
    """This process's chunk memory, sized by settings.BAR_CHUNK_MEMORY_MB."""
    global _chunk_memory
    if _chunk_memory is None:
        from django.conf import settings

        _chunk_memory = ChunkMemory(settings.BAR_CHUNK_MEMORY_MB * 1024 * 1024)
    return _chunk_memory


def _chunk_key(symbol_id: int, interval: str, month: dt.date) -> tuple:
    return (connection.settings_dict["NAME"], symbol_id, interval, month)


def _pg_chunk_build(symbol_id: int, interval: str, month: pd.Timestamp):
    """Build (or find, if another reader just built it) the chunk of one month; return (version, table)."""
    key = [symbol_id, interval, month.date()]
    with transaction.atomic(), connection.cursor() as cursor:
        # Writers hold the same lock while they change rows and drop chunks: no stale chunk.
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_LOCK_SPACE, symbol_id])
        cursor.execute(
            "SELECT version, data FROM marketdata_barchunk WHERE symbol_id = %s AND interval = %s AND month = %s", key
        )
        found = cursor.fetchone()
        if found is not None:
            return found[0], _arrow_table(found[1])
        where = "symbol_id = %s AND interval = %s AND ts >= %s AND ts < %s"
        params = [symbol_id, interval, month.to_pydatetime(), _next_month(month).to_pydatetime()]
        frame = _pg_read(BARS, where, params, "ts ASC", "")
        data, version = _arrow_bytes(frame), secrets.randbits(62) + 1
        cursor.execute(
            "INSERT INTO marketdata_barchunk (symbol_id, interval, month, rows, version, data, built_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, now()) ON CONFLICT DO NOTHING",
            [*key, len(frame), version, data],
        )
    return version, _arrow_table(data)


def _pg_chunks(symbol_id: int, interval: str, months: list[pd.Timestamp], listed: dict) -> list:
    """Return the Arrow tables of `months` in order: from this process's memory when it holds the
    listed version, else in one query (binary results: no hex-encoded bytea), else built."""
    import psycopg

    memory = chunk_memory()
    tables: dict[dt.date, object] = {}
    for month in months:
        day = month.date()
        if day in listed:
            table = memory.get(_chunk_key(symbol_id, interval, day), listed[day][0])
            if table is not None:
                tables[day] = table
    wanted = [m.date() for m in months if m.date() in listed and m.date() not in tables]
    if wanted:
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(
                "SELECT month, version, data FROM marketdata_barchunk"
                " WHERE symbol_id = %s AND interval = %s AND month = ANY(%s::date[])",
                [symbol_id, interval, wanted],
                binary=True,
            )
            for day, version, data in cursor.fetchall():
                tables[day] = _arrow_table(data)
                memory.put(_chunk_key(symbol_id, interval, day), version, tables[day])
    for month in months:
        if month.date() not in tables:  # not stored yet (or deleted since it was listed)
            version, tables[month.date()] = _pg_chunk_build(symbol_id, interval, month)
            memory.put(_chunk_key(symbol_id, interval, month.date()), version, tables[month.date()])
    return [tables[m.date()] for m in months]


def _table_between(table, low: pd.Timestamp, high: pd.Timestamp):
    """Slice a chunk (sorted by ts) to low <= ts < high, without copying."""
    first, stop = np.searchsorted(table_ts(table), [low.value, high.value])
    return table.slice(first, stop - first)


def _pg_bars_table(
    symbol_id: int,
    interval: str | None,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    limit: int | None,
    newest: bool,
    layout: BarsLayout | None = None,
):
    """Return the bars with start <= ts < end from the month chunks, oldest first; with
    `limit`, the first `limit` of them (the last `limit` when `newest`)."""
    import pyarrow as pa

    if layout is None:
        layout = _pg_bars_layouts(symbol_id, [interval], start, end)[interval]
    extent, listed = layout.extent, layout.chunks
    if extent is None:
        return empty_bars_table()
    last = extent[1] + pd.Timedelta(1, "ns")
    low = extent[0] if start is None else max(start, extent[0])
    high = last if end is None else min(end, last)
    if high <= low:
        return empty_bars_table()
    months = _months(_month(low), _month(high - pd.Timedelta(1, "ns")))
    edge_months = (months[0], months[-1])
    if newest:
        months.reverse()
    tables, rows, taken = [], 0, 0
    while taken < len(months) and (limit is None or rows < limit):
        # Enough months for the limit by the listed row counts (at most a batch of unbuilt ones).
        batch = []
        expected = rows
        for month in months[taken:]:
            batch.append(month)
            expected += listed.get(month.date(), (0, 0))[1]
            unbuilt = sum(1 for m in batch if m.date() not in listed)
            if limit is not None and (expected >= limit or unbuilt >= CHUNK_BATCH_MONTHS):
                break
        taken += len(batch)
        for month, table in zip(batch, _pg_chunks(symbol_id, interval, batch, listed), strict=True):
            if month in (edge_months[0], edge_months[-1]):  # months in between lie wholly inside
                table = _table_between(table, low, high)
            tables.append(table)
            rows += table.num_rows
    if newest:
        tables.reverse()
    if not tables:
        return empty_bars_table()
    table = pa.concat_tables(tables)
    if limit is not None and table.num_rows > limit:
        table = table.slice(table.num_rows - limit) if newest else table.slice(0, limit)
    return table


def _sqlite_read(spec: TableSpec, where: str, params: list, order_by: str, limit_sql: str) -> pd.DataFrame:
    names = [c.name for c in spec.columns]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(names)} FROM {spec.table} WHERE {where} ORDER BY {order_by}{limit_sql}", params
        )
        rows = cursor.fetchall()
    frame = pd.DataFrame.from_records(rows, columns=names)
    data: dict[str, object] = {}
    for column in spec.columns:
        values = frame[column.name]
        if column.kind == "ts":
            data[column.name] = pd.to_datetime(values, utc=True, format="ISO8601").dt.as_unit("ns")
        elif column.kind == "side":
            data[column.name] = values.fillna("").astype(str).to_numpy(object)
        elif column.kind == "i4":
            data[column.name] = values.astype("int64")
        else:
            data[column.name] = pd.to_numeric(values, errors="coerce").astype("float64")
    return pd.DataFrame(data, columns=names)


def bars_read(**kwargs) -> pd.DataFrame:
    return read_rows(BARS, **kwargs)


def bars_read_table(
    *,
    symbol_id: int,
    interval: str,
    start: dt.datetime | pd.Timestamp | None = None,
    end: dt.datetime | pd.Timestamp | None = None,
    limit: int | None = None,
    newest: bool = False,
    layout: BarsLayout | None = None,
):
    """Return bars with start <= ts < end as an Arrow bar table, oldest first; with `limit`,
    the first `limit` of them (the newest `limit` when `newest`). `layout` is this interval's
    entry of `bar_layouts` for the same range, when the caller already has it."""
    if _is_postgres():
        return _pg_bars_table(symbol_id, interval, _utc(start), _utc(end), limit, newest, layout)
    frame = read_rows(
        BARS, symbol_id=symbol_id, interval=interval, start=start, end=end, limit=limit, descending=newest
    )
    return bars_to_table(frame.iloc[::-1].reset_index(drop=True) if newest else frame)


def trades_read(**kwargs) -> pd.DataFrame:
    return read_rows(TRADES, **kwargs)


def quotes_read(**kwargs) -> pd.DataFrame:
    return read_rows(QUOTES, **kwargs)


def bars_latest(*, symbol_id: int, interval: str, count: int, end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Return the newest `count` bars before `end` (all when None), oldest first."""
    return bars_from_table(bars_read_table(symbol_id=symbol_id, interval=interval, end=end, limit=count, newest=True))


def bar_intervals(*, symbol_id: int) -> list[str]:
    """Return the base intervals stored for a symbol (a skip scan over the primary key)."""
    with connection.cursor() as cursor:
        cursor.execute(_STORED_INTERVALS_SQL, {"symbol": symbol_id})
        return [row[0] for row in cursor.fetchall()]


def bars_summary(*, symbol_ids: list[int]) -> dict[int, dict]:
    """Return per symbol and interval: row count, first and last bar time, last close."""
    if not symbol_ids:
        return {}
    placeholders = ", ".join(["%s"] * len(symbol_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT symbol_id, interval, COUNT(*), MIN(ts), MAX(ts) FROM marketdata_bar "
            f"WHERE symbol_id IN ({placeholders}) GROUP BY symbol_id, interval",
            symbol_ids,
        )
        rows = cursor.fetchall()
    summary: dict[int, dict] = {}
    for symbol_id, interval, count, first, last in rows:
        summary.setdefault(symbol_id, {})[interval] = {"count": count, "first": _utc(first), "last": _utc(last)}
    return summary


def symbol_rows_delete(*, symbol_id: int) -> dict[str, int]:
    """Delete every bar, trade and quote of a symbol; return the counts per table."""
    counts = {}
    with connection.cursor() as cursor:
        for spec in (BARS, TRADES, QUOTES):
            cursor.execute(f"DELETE FROM {spec.table} WHERE symbol_id = %s", [symbol_id])
            counts[spec.table.removeprefix("marketdata_")] = cursor.rowcount
        cursor.execute("DELETE FROM marketdata_barchunk WHERE symbol_id = %s", [symbol_id])
    return counts


def bars_delete(*, symbol_id: int, interval: str | None = None) -> int:
    """Delete a symbol's bars (of one interval, or all) and their read cache."""
    where = "symbol_id = %s" + ("" if interval is None else " AND interval = %s")
    params = [symbol_id] + ([] if interval is None else [interval])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM marketdata_barchunk WHERE {where}", params)
        cursor.execute(f"DELETE FROM marketdata_bar WHERE {where}", params)
        return cursor.rowcount
