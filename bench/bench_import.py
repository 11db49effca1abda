"""Import pipeline (CSV parse + validate + upsert) against a raw psycopg binary COPY.

10 symbol-years of 1-minute bars (982,800 rows in the issue's shape: 10 x 98,280) are
written to one multi-symbol CSV file. The pipeline is `bars_file_prepare` +
`bars_write_prepared` (what `POST /api/v1/imports` and `import_bars` run). The baseline
is psycopg's binary COPY (`write_row`) of the same rows, already in Python tuples,
into a table with the same columns and primary key as the bar table. Both start from
an empty table in the same run; rates are rows per second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.support import bench_database, best_of

NEEDS_DJANGO = True
SYMBOLS = 10
ROWS_PER_SYMBOL = 98_280


def _frames() -> dict[str, pd.DataFrame]:
    from bench.support import symbol_year_bars

    frames = {}
    for index in range(SYMBOLS):
        ticker = f"BENCH{index}"
        frame = symbol_year_bars(ticker)
        # Pad to exactly 98,280 rows (252 sessions x 390) with the next minutes' copies shifted forward.
        if len(frame) < ROWS_PER_SYMBOL:
            extra = frame.iloc[: ROWS_PER_SYMBOL - len(frame)].copy()
            extra["ts"] = extra["ts"] + pd.Timedelta(days=400)
            frame = pd.concat([frame, extra], ignore_index=True)
        frames[ticker] = frame.iloc[:ROWS_PER_SYMBOL]
    return frames


def run() -> list[dict]:
    from django.db import connection

    from marketdata import services
    from marketdata.models import Symbol

    frames = _frames()
    total = sum(len(f) for f in frames.values())
    csv = pd.concat([f.assign(symbol=t) for t, f in frames.items()], ignore_index=True)
    csv_bytes = csv.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%SZ").encode()

    with bench_database():
        for ticker in frames:
            Symbol.objects.create(ticker=ticker, venue="XNYS", calendar="XNYS")
        symbol_ids = dict(Symbol.objects.values_list("ticker", "id"))

        def pipeline() -> None:
            with connection.cursor() as cursor:
                cursor.execute("TRUNCATE marketdata_bar")
            prepared = services.bars_file_prepare(
                data=csv_bytes, filename="bench.csv", tz=None, symbol=None, venue=None
            )
            counts = services.bars_write_prepared(prepared=prepared, interval="1m", on_conflict="skip")
            assert counts["rows_inserted"] == total, counts

        rows = []
        for ticker, frame in frames.items():
            ts = frame["ts"].dt.to_pydatetime()
            values = frame[["open", "high", "low", "close", "volume", "trade_count", "vwap"]].to_numpy()
            rows.extend(
                (symbol_ids[ticker], "1m", t, o, h, lo, c, v, int(n), w)
                for t, (o, h, lo, c, v, n, w) in zip(ts, values, strict=True)
            )

        def raw_copy() -> None:
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE IF EXISTS bench_bare")
                cursor.execute("CREATE TABLE bench_bare (LIKE marketdata_bar INCLUDING ALL)")
                with cursor.cursor.copy(
                    "COPY bench_bare (symbol_id, interval, ts, open, high, low, close, volume, trade_count, vwap) "
                    "FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(["int8", "varchar", "timestamptz"] + ["float8"] * 5 + ["int8", "float8"])
                    for row in rows:
                        copy.write_row(row)

        pipeline_s = best_of(pipeline, repeat=3)
        copy_s = best_of(raw_copy, repeat=3)
        assert np.isfinite(pipeline_s) and np.isfinite(copy_s)

    pipeline_rate, copy_rate = total / pipeline_s, total / copy_s
    return [
        {
            "name": "import_csv_rows_per_s",
            "value": round(pipeline_rate),
            "unit": "rows/s",
            "baseline": "psycopg binary COPY into an identical table",
            "baseline_value": round(copy_rate),
            "ratio": round(pipeline_rate / copy_rate, 3),
            "goal": ">= 0.5x",
        }
    ]
