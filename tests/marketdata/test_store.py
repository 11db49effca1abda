import numpy as np
import pandas as pd
import pytest

from marketdata import store
from marketdata.providers.synthetic import synthetic_bars, synthetic_quotes, synthetic_trades

pytestmark = pytest.mark.django_db


def demo_bars(days: int = 2) -> pd.DataFrame:
    import datetime as dt

    return synthetic_bars("ACME", "XNYS", dt.date(2024, 11, 25), dt.date(2024, 11, 25) + dt.timedelta(days=days))


def test_write_then_read_round_trips_every_value(symbol):
    frame = demo_bars()
    frame.loc[3, "vwap"] = np.nan
    frame.loc[4, "trade_count"] = np.nan
    result = store.bars_write(symbol_id=symbol.id, interval="1m", frame=frame)
    assert (result.rows_total, result.inserted, result.duplicate) == (len(frame), len(frame), 0)
    back = store.bars_read(symbol_id=symbol.id, interval="1m")
    pd.testing.assert_frame_equal(back[frame.columns.tolist()], frame, check_dtype=False)
    assert str(back["ts"].dt.tz) == "UTC"


def test_rewrite_adds_nothing_and_counts_duplicates(symbol):
    frame = demo_bars()
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=frame)
    again = store.bars_write(symbol_id=symbol.id, interval="1m", frame=frame)
    assert (again.inserted, again.updated, again.duplicate) == (0, 0, len(frame))
    assert len(store.bars_read(symbol_id=symbol.id, interval="1m")) == len(frame)


def test_skip_keeps_stored_values_and_replace_overwrites_changed_rows(symbol):
    frame = demo_bars(0)
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=frame)
    changed = frame.copy()
    changed.loc[:9, "close"] = changed.loc[:9, "open"]
    changed.loc[:9, "volume"] += 1
    skipped = store.bars_write(symbol_id=symbol.id, interval="1m", frame=changed, on_conflict="skip")
    assert skipped.inserted == skipped.updated == 0
    assert store.bars_read(symbol_id=symbol.id, interval="1m")["volume"].iloc[0] == frame["volume"].iloc[0]
    replaced = store.bars_write(symbol_id=symbol.id, interval="1m", frame=changed, on_conflict="replace")
    assert (replaced.inserted, replaced.updated, replaced.duplicate) == (0, 10, len(frame) - 10)
    back = store.bars_read(symbol_id=symbol.id, interval="1m")
    np.testing.assert_array_equal(back["volume"].to_numpy(), changed["volume"].to_numpy())


def test_read_range_is_start_inclusive_end_exclusive_and_limited(symbol):
    frame = demo_bars()
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=frame)
    start, end = frame["ts"].iloc[10], frame["ts"].iloc[20]
    window = store.bars_read(symbol_id=symbol.id, interval="1m", start=start, end=end)
    assert window["ts"].tolist() == frame["ts"].iloc[10:20].tolist()
    assert len(store.bars_read(symbol_id=symbol.id, interval="1m", start=start, limit=5)) == 5
    latest = store.bars_latest(symbol_id=symbol.id, interval="1m", count=3)
    assert latest["ts"].tolist() == frame["ts"].iloc[-3:].tolist()


def test_intervals_are_stored_separately(symbol):
    frame = demo_bars(0)
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=frame)
    store.bars_write(symbol_id=symbol.id, interval="1s", frame=frame.iloc[:5])
    assert sorted(store.bar_intervals(symbol_id=symbol.id)) == ["1m", "1s"]
    assert len(store.bars_read(symbol_id=symbol.id, interval="1s")) == 5
    summary = store.bars_summary(symbol_ids=[symbol.id])[symbol.id]
    assert summary["1m"]["count"] == len(frame)
    assert summary["1m"]["last"] == frame["ts"].iloc[-1]


def test_trades_and_quotes_round_trip_with_same_timestamp_rows(symbol):
    start, end = pd.Timestamp("2024-11-25T14:30Z"), pd.Timestamp("2024-11-25T14:40Z")
    trades = synthetic_trades("ACME", "XNYS", start, end)
    trades = pd.concat([trades, trades.iloc[:1].assign(price=trades["price"].iloc[0] + 0.01)], ignore_index=True)
    trades = trades.sort_values("ts", kind="stable").reset_index(drop=True)
    written = store.trades_write(symbol_id=symbol.id, frame=trades)
    assert written.inserted == len(trades)
    back = store.trades_read(symbol_id=symbol.id)
    assert back["price"].tolist() == trades["price"].tolist()
    assert back["side"].tolist() == trades["side"].tolist()
    assert store.trades_write(symbol_id=symbol.id, frame=trades).inserted == 0

    quotes = synthetic_quotes("ACME", "XNYS", start, end)
    assert store.quotes_write(symbol_id=symbol.id, frame=quotes).inserted == len(quotes)
    back_quotes = store.quotes_read(symbol_id=symbol.id, start=start, end=end)
    np.testing.assert_allclose(back_quotes["ask"].to_numpy(), quotes["ask"].to_numpy())
    assert (back_quotes["bid"] < back_quotes["ask"]).all()


def test_bad_on_conflict_is_refused(symbol):
    with pytest.raises(ValueError, match="on_conflict"):
        store.bars_write(symbol_id=symbol.id, interval="1m", frame=demo_bars(0), on_conflict="merge")


def test_deleting_a_symbol_deletes_its_rows_only(staff_api, symbol):
    from tests.factories import SymbolFactory

    other = SymbolFactory(ticker="KEEP")
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=demo_bars(0))
    store.bars_write(symbol_id=other.id, interval="1m", frame=demo_bars(0))
    assert staff_api.delete(f"/api/v1/symbols/{symbol.id}").status_code == 204
    assert store.bars_read(symbol_id=symbol.id, interval="1m").empty
    assert len(store.bars_read(symbol_id=other.id, interval="1m")) == len(demo_bars(0))


def test_reads_see_every_write_across_months_and_replaces(symbol):
    import datetime as dt

    from marketdata.providers.synthetic import synthetic_bars

    november = synthetic_bars("ACME", "XNYS", dt.date(2024, 11, 25), dt.date(2024, 11, 29))
    december = synthetic_bars("ACME", "XNYS", dt.date(2024, 12, 2), dt.date(2024, 12, 3))
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=november)
    assert len(store.bars_read(symbol_id=symbol.id, interval="1m")) == len(november)  # builds the read cache
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=december)
    both = store.bars_read(symbol_id=symbol.id, interval="1m")
    assert both["ts"].tolist() == november["ts"].tolist() + december["ts"].tolist()
    changed = november.iloc[:5].assign(volume=november["volume"].iloc[:5] + 7)
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=changed, on_conflict="replace")
    again = store.bars_read(symbol_id=symbol.id, interval="1m", end=december["ts"].iloc[0])
    np.testing.assert_array_equal(again["volume"].iloc[:5].to_numpy(), changed["volume"].to_numpy())
    newest = store.bars_latest(symbol_id=symbol.id, interval="1m", count=len(december) + 2)
    assert newest["ts"].tolist() == november["ts"].iloc[-2:].tolist() + december["ts"].tolist()
    window = store.bars_read(symbol_id=symbol.id, interval="1m", start=november["ts"].iloc[-3], limit=4)
    assert window["ts"].tolist() == november["ts"].iloc[-3:].tolist() + december["ts"].iloc[:1].tolist()
    store.bars_delete(symbol_id=symbol.id, interval="1m")
    assert store.bars_read(symbol_id=symbol.id, interval="1m").empty


@pytest.fixture
def postgres_only(db):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the month-chunk read cache exists on PostgreSQL only")


def test_chunk_memory_serves_repeated_reads_and_drops_a_rewritten_month(symbol, postgres_only, monkeypatch):
    import datetime as dt

    november = synthetic_bars("ACME", "XNYS", dt.date(2024, 11, 25), dt.date(2024, 11, 29))
    december = synthetic_bars("ACME", "XNYS", dt.date(2024, 12, 2), dt.date(2024, 12, 3))
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=pd.concat([november, december], ignore_index=True))
    decoded = []
    real_decode = store._arrow_table
    monkeypatch.setattr(store, "_arrow_table", lambda data: decoded.append(1) or real_decode(data))

    first = store.bars_read(symbol_id=symbol.id, interval="1m")  # builds both months
    built = len(decoded)
    again = store.bars_read(symbol_id=symbol.id, interval="1m")
    assert len(decoded) == built  # nothing fetched or decoded: both months came from memory
    pd.testing.assert_frame_equal(again, first)

    changed = december.iloc[:3].assign(close=december["close"].iloc[:3] + 0.01, high=december["high"].iloc[:3] + 1)
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=changed, on_conflict="replace")
    after = store.bars_read(symbol_id=symbol.id, interval="1m")
    assert len(decoded) == built + 1  # only December was rebuilt; November still from memory
    np.testing.assert_array_equal(after["close"].iloc[len(november) : len(november) + 3], changed["close"])
    pd.testing.assert_frame_equal(after.iloc[: len(november)], first.iloc[: len(november)])


def test_a_process_with_an_older_chunk_in_memory_reads_the_new_version(symbol, postgres_only):
    import datetime as dt

    from django.db import connection

    bars = synthetic_bars("ACME", "XNYS", dt.date(2024, 11, 25), dt.date(2024, 11, 26))
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=bars)
    store.bars_read(symbol_id=symbol.id, interval="1m")
    # Another server process rewrites the month: its chunk row now has a new version and payload.
    other = bars.assign(volume=bars["volume"] + 1)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE marketdata_bar SET volume = volume + 1 WHERE symbol_id = %s", [symbol.id])
        cursor.execute(
            "UPDATE marketdata_barchunk SET version = version + 1, data = %s WHERE symbol_id = %s",
            [store._arrow_bytes(other), symbol.id],
        )
    np.testing.assert_array_equal(store.bars_read(symbol_id=symbol.id, interval="1m")["volume"], other["volume"])


def test_chunk_memory_keeps_to_its_budget_and_versions():
    import pyarrow as pa

    memory = store.ChunkMemory(budget_bytes=2 * 8 * 1000)
    tables = {month: pa.table({"x": np.full(1000, float(month))}) for month in range(3)}
    for month, table in tables.items():
        memory.put(("db", 1, "1m", month), 7, table)
    assert memory.used_bytes <= memory.budget_bytes
    assert memory.get(("db", 1, "1m", 0), 7) is None  # the least recently used went first
    assert memory.get(("db", 1, "1m", 2), 7) is tables[2]
    assert memory.get(("db", 1, "1m", 2), 8) is None  # another version of the chunk is not this one
    memory.put(("db", 1, "1m", 9), 1, pa.table({"x": np.zeros(5000)}))  # larger than the budget: not kept
    assert memory.get(("db", 1, "1m", 9), 1) is None
