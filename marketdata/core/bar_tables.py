"""Bars as Arrow tables: the shape reads and responses keep them in.

A bar table has the columns of `marketdata.core.bars.BAR_COLUMNS`: `ts` as
timestamp[ns, UTC] (the bar's open), the values as float64 with null where unknown.
Month chunks of the read cache are such tables; a year of 1-minute bars goes from the
cache to a response without becoming a pandas frame when nothing needs resampling.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa

from marketdata.core.bars import empty_bars

TS_TYPE = pa.timestamp("ns", tz="UTC")


def bars_to_table(frame: pd.DataFrame) -> pa.Table:
    """Return a bar frame as a bar table (NaN values become null)."""
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    if table.num_columns and table.schema.field("ts").type != TS_TYPE:
        table = table.set_column(0, "ts", table.column("ts").cast(TS_TYPE))
    return table


def bars_from_table(table: pa.Table) -> pd.DataFrame:
    """Return a bar table as a normalized bar frame (null values become NaN)."""
    if table.num_rows == 0:
        return empty_bars()[[name for name in table.column_names]]
    frame = table.to_pandas(split_blocks=True)
    frame["ts"] = frame["ts"].dt.as_unit("ns")
    return frame


def empty_bars_table() -> pa.Table:
    return bars_to_table(empty_bars())


def table_ts(table: pa.Table) -> np.ndarray:
    """Return the `ts` column as int64 UTC nanoseconds."""
    return table.column("ts").cast(TS_TYPE).to_numpy().view(np.int64)


def with_ts(table: pa.Table, ts_ns: np.ndarray) -> pa.Table:
    """Return `table` with its `ts` column replaced by int64 UTC nanoseconds."""
    index = table.column_names.index("ts")
    return table.set_column(index, "ts", pa.array(ts_ns.view("datetime64[ns]"), type=TS_TYPE))


def shift_ts(table: pa.Table, delta: dt.timedelta | pd.Timedelta) -> pa.Table:
    """Return `table` with every `ts` moved by `delta` (open labels to close labels)."""
    return with_ts(table, table_ts(table) + pd.Timedelta(delta).value)


def first_last_ts(table: pa.Table) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return the `ts` of the first and last row (the table is sorted), without converting the column."""
    first, last = table_ts(table.slice(0, 1))[0], table_ts(table.slice(table.num_rows - 1))[0]
    return pd.Timestamp(int(first), tz="UTC"), pd.Timestamp(int(last), tz="UTC")
