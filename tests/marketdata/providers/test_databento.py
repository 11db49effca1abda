"""Databento: genuine DBN fixtures, and DBN payloads served through the real client."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import traceback
from pathlib import Path
from types import SimpleNamespace

import databento
import databento_dbn
import numpy as np
import pandas as pd
import pytest
import zstandard
from databento_dbn import UNDEF_PRICE, Action, BidAskPair, MBP1Msg, OHLCVMsg, RType, Schema, Side, SType, TradeMsg

from marketdata.core.errors import RowError
from marketdata.providers.base import (
    Estimate,
    FetchRequest,
    PayloadError,
    ProviderError,
    UnsupportedSchema,
    get_source,
)
from marketdata.providers.databento import DatabentoSource, load_dbn_file
from tests.marketdata.providers.conftest import RecordedHTTP, Reply, form

FIXTURES = Path("/work/shared/fixtures/databento")
FIXTURE_FILES = sorted(FIXTURES.glob("*/*.dbn.zst"))
API_KEY = "db-SECRETkey1234567890abcdefghij"
GATEWAY = "https://hist.databento.com/v0"
GET_RANGE = f"{GATEWAY}/timeseries.get_range"

DAY = dt.date(2024, 3, 1)
T0 = pd.Timestamp("2024-03-01 14:30", tz="UTC")
NS = 1_000_000_000


def px(value: float) -> int:
    """Return a price as DBN fixed-point (1e-9)."""
    return round(value * NS)


def ns(timestamp: pd.Timestamp) -> int:
    return timestamp.value


# --- genuine fixture files -------------------------------------------------------------


def fixture_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name.removeprefix('test_data.').removesuffix('.dbn.zst')}"


def test_every_dataset_and_schema_is_among_the_fixtures():
    found = {fixture_id(path) for path in FIXTURE_FILES}
    schemas = ["ohlcv-1s", "ohlcv-1m", "ohlcv-1h", "ohlcv-1d", "trades", "tbbo", "mbp-1", "definition"]
    assert found == {f"{dataset}/{schema}" for dataset in ("XNAS.ITCH", "GLBX.MDP3", "EQUS.MINI") for schema in schemas}


@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.set_index")  # inside DBNStore.to_df
@pytest.mark.parametrize("path", [p for p in FIXTURE_FILES if "definition" not in p.name], ids=fixture_id)
def test_fixture_file_converts_to_the_values_databento_reports(path: Path):
    store = databento.DBNStore.from_file(path)
    expected = store.to_df(price_type="float", pretty_ts=True, map_symbols=True)
    raw = store.to_ndarray().reshape(-1)
    schema = str(store.schema)

    frames = load_dbn_file(path)

    assert list(frames) == sorted(expected["symbol"].unique())
    frame = frames[expected["symbol"].iloc[0]]
    assert len(frame) == len(expected) > 0
    assert str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    assert frame["ts"].tolist() == expected.index.tolist()
    if schema.startswith("ohlcv-"):
        for name in ("open", "high", "low", "close"):
            np.testing.assert_array_equal(frame[name].to_numpy(), expected[name].to_numpy(dtype=float))
            np.testing.assert_array_equal(frame[name].to_numpy(), raw[name] / 1e9)
        np.testing.assert_array_equal(frame["volume"].to_numpy(), raw["volume"].astype(float))
        assert frame["trade_count"].isna().all() and frame["vwap"].isna().all()
    elif schema == "trades":
        np.testing.assert_array_equal(frame["price"].to_numpy(), expected["price"].to_numpy(dtype=float))
        np.testing.assert_array_equal(frame["size"].to_numpy(), expected["size"].to_numpy(dtype=float))
        sides = expected["side"].map({"B": "buy", "A": "sell", "N": ""}).tolist()
        assert frame["side"].tolist() == sides
    else:
        pairs = {"bid": "bid_px_00", "ask": "ask_px_00", "bid_size": "bid_sz_00", "ask_size": "ask_sz_00"}
        for ours, theirs in pairs.items():
            np.testing.assert_array_equal(frame[ours].to_numpy(), expected[theirs].to_numpy(dtype=float))


def test_fixture_bars_keep_exact_prices_and_the_bar_open_time():
    frame = load_dbn_file(FIXTURES / "GLBX.MDP3" / "test_data.ohlcv-1m.dbn.zst")["ESH1"]

    first = frame.iloc[0]
    assert first["ts"] == pd.Timestamp("2020-12-28 00:00", tz="UTC")
    assert (first["open"], first["high"], first["low"], first["close"]) == (3702.75, 3704.75, 3702.5, 3704.75)
    assert first["volume"] == 306.0


def test_fixture_quote_with_an_empty_book_side_reads_nan():
    frame = load_dbn_file(FIXTURES / "XNAS.ITCH" / "test_data.mbp-1.dbn.zst")["NVDA"]

    assert frame["bid"].iloc[0] == 502.0
    assert np.isnan(frame["ask"].iloc[0])  # ask_px_00 is UNDEF_PRICE: no ask yet
    assert frame["ask"].iloc[2] == 539.0


@pytest.mark.parametrize("dataset", ["XNAS.ITCH", "GLBX.MDP3", "EQUS.MINI"])
def test_definition_fixture_is_refused_as_an_unsupported_schema(dataset: str):
    with pytest.raises(UnsupportedSchema, match="unsupported schema 'definition'"):
        load_dbn_file(FIXTURES / dataset / "test_data.definition.dbn.zst")


# --- payloads served through databento.Historical ---------------------------------------


def mapping(symbol: str, *intervals: tuple[dt.date, dt.date, int]) -> SimpleNamespace:
    return SimpleNamespace(
        raw_symbol=symbol,
        intervals=[SimpleNamespace(start_date=a, end_date=b, symbol=str(iid)) for a, b, iid in intervals],
    )


def dbn_payload(schema: Schema, records: list, mappings: list, *, stype_in: SType = SType.RAW_SYMBOL) -> bytes:
    """Return a zstd DBN stream as the gateway sends it: metadata, then the records."""
    metadata = databento_dbn.Metadata(
        dataset="GLBX.MDP3",
        start=ns(T0),
        end=ns(T0 + pd.Timedelta(days=2)),
        stype_in=stype_in,
        stype_out=SType.INSTRUMENT_ID,
        schema=schema,
        symbols=[item.raw_symbol for item in mappings],
        mappings=mappings,
    )
    raw = metadata.encode() + b"".join(bytes(record) for record in records)
    return zstandard.ZstdCompressor().compress(raw)


def bar(iid: int, ts: pd.Timestamp, o: float, h: float, low: float, c: float, volume: int) -> OHLCVMsg:
    prices = [value if isinstance(value, int) and value == UNDEF_PRICE else px(value) for value in (o, h, low, c)]
    return OHLCVMsg(RType.OHLCV_1M, 1, iid, ns(ts), *prices, volume)


def minute(k: int) -> pd.Timestamp:
    return T0 + pd.Timedelta(minutes=k)


@pytest.fixture
def source() -> DatabentoSource:
    return DatabentoSource(API_KEY, dataset="GLBX.MDP3")


def bars_request(symbol: str = "GC.c.0", **kwargs) -> FetchRequest:
    fields = {"interval": "1m", "stype_in": "continuous", **kwargs}
    return FetchRequest("databento", symbol, T0, T0 + pd.Timedelta(days=2), **fields)


def test_get_range_bars_are_converted_and_follow_the_continuous_roll(source, recorded_http: RecordedHTTP):
    next_day = T0 + pd.Timedelta(days=1)
    roll = mapping(
        "GC.c.0", (DAY, DAY + dt.timedelta(days=1), 42), (DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2), 43)
    )
    records = [
        bar(42, minute(0), 2034.5, 2035.1, 2033.9, 2034.8, 120),
        bar(42, minute(1), 2034.8, 2036.0, 2034.8, 2035.7, 95),
        bar(43, next_day, 2051.3, 2051.3, 2050.2, 2050.6, 17),
    ]
    recorded_http.add(
        "POST", GET_RANGE, Reply(body=dbn_payload(Schema.OHLCV_1M, records, [roll], stype_in=SType.CONTINUOUS))
    )

    frame = source.fetch_bars(bars_request())

    assert frame["ts"].tolist() == [minute(0), minute(1), next_day]
    assert frame["open"].tolist() == [2034.5, 2034.8, 2051.3]
    assert frame["high"].tolist() == [2035.1, 2036.0, 2051.3]
    assert frame["low"].tolist() == [2033.9, 2034.8, 2050.2]
    assert frame["close"].tolist() == [2034.8, 2035.7, 2050.6]
    assert frame["volume"].tolist() == [120.0, 95.0, 17.0]


def test_get_range_request_carries_dataset_schema_symbology_and_range(source, recorded_http: RecordedHTTP):
    recorded_http.add(
        "POST", GET_RANGE, Reply(body=dbn_payload(Schema.OHLCV_1H, [], [mapping("GC.c.0")], stype_in=SType.CONTINUOUS))
    )

    frame = source.fetch_bars(bars_request(interval="1h"))

    assert frame.empty
    [request] = recorded_http.sent(GET_RANGE)
    sent = form(request)
    assert sent["dataset"] == "GLBX.MDP3"
    assert sent["schema"] == "ohlcv-1h"
    assert sent["stype_in"] == "continuous"
    assert sent["symbols"] == "GC.c.0"
    assert pd.Timestamp(sent["start"]) == T0
    assert pd.Timestamp(sent["end"]) == T0 + pd.Timedelta(days=2)
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()


def test_bar_with_an_undefined_price_refuses_the_payload_naming_its_record(source, recorded_http: RecordedHTTP):
    records = [
        bar(42, minute(0), 2034.5, 2035.1, 2033.9, 2034.8, 120),
        bar(42, minute(1), UNDEF_PRICE, 2036.0, 2034.8, 2035.7, 95),
    ]
    recorded_http.add(
        "POST",
        GET_RANGE,
        Reply(body=dbn_payload(Schema.OHLCV_1M, records, [mapping("GC.c.0", (DAY, DAY + dt.timedelta(days=2), 42))])),
    )

    with pytest.raises(PayloadError) as caught:
        source.fetch_bars(bars_request())

    assert caught.value.errors == [RowError(2, "open", "open is missing (NaN)")]
    assert "GC.c.0" in str(caught.value)


def test_bar_with_high_below_low_refuses_the_whole_payload(source, recorded_http: RecordedHTTP):
    records = [
        bar(42, minute(0), 2034.5, 2035.1, 2033.9, 2034.8, 120),
        bar(42, minute(1), 2034.8, 2030.0, 2034.8, 2034.8, 95),
        bar(42, minute(2), 2034.8, 2035.0, 2034.0, 2034.2, 60),
    ]
    recorded_http.add(
        "POST",
        GET_RANGE,
        Reply(body=dbn_payload(Schema.OHLCV_1M, records, [mapping("GC.c.0", (DAY, DAY + dt.timedelta(days=2), 42))])),
    )

    with pytest.raises(PayloadError) as caught:
        source.fetch_by_symbol(bars_request())

    assert [(error.row, error.field) for error in caught.value.errors] == [(2, "high"), (2, "high"), (2, "high")]
    assert caught.value.errors[0].message == "high 2030.0 is below low 2034.8"
    assert caught.value.retryable is False


def test_trades_take_their_side_from_the_aggressor(source, recorded_http: RecordedHTTP):
    def trade(k: int, price: float, size: int, side: Side) -> TradeMsg:
        ts = ns(minute(k))
        return TradeMsg(1, 7, ts, px(price), size, Action.TRADE, side, 0, ts + 5_000)

    records = [trade(0, 5001.25, 3, Side.BID), trade(1, 5001.0, 1, Side.ASK), trade(2, 5001.0, 2, Side.NONE)]
    recorded_http.add(
        "POST",
        GET_RANGE,
        Reply(body=dbn_payload(Schema.TRADES, records, [mapping("ESH4", (DAY, DAY + dt.timedelta(days=2), 7))])),
    )

    frame = source.fetch_trades(bars_request("ESH4", interval=None, schema="trades", stype_in="raw_symbol"))

    assert frame["side"].tolist() == ["buy", "sell", ""]
    assert frame["price"].tolist() == [5001.25, 5001.0, 5001.0]
    assert frame["size"].tolist() == [3.0, 1.0, 2.0]
    assert frame["ts"].iloc[0] == minute(0) + pd.Timedelta(5_000, "ns")  # ts_recv
    assert form(recorded_http.sent(GET_RANGE)[0])["schema"] == "trades"


@pytest.mark.parametrize("schema", ["tbbo", "mbp-1"])
def test_quotes_read_level_zero_and_an_undefined_ask_as_nan(source, recorded_http: RecordedHTTP, schema: str):
    def quote(k: int, bid: float, ask: int, bid_size: int, ask_size: int) -> MBP1Msg:
        ts = ns(minute(k))
        level = BidAskPair(bid_px=px(bid), ask_px=ask, bid_sz=bid_size, ask_sz=ask_size)
        return MBP1Msg(1, 7, ts, px(bid), 1, Action.ADD, Side.BID, 0, ts + 10, levels=level)

    records = [quote(0, 5000.75, UNDEF_PRICE, 4, 0), quote(1, 5000.75, px(5001.0), 4, 9)]
    payload = dbn_payload(Schema.from_str(schema), records, [mapping("ESH4", (DAY, DAY + dt.timedelta(days=2), 7))])
    recorded_http.add("POST", GET_RANGE, Reply(body=payload))

    frame = source.fetch_quotes(bars_request("ESH4", interval=None, schema=schema, stype_in="raw_symbol"))

    assert frame["bid"].tolist() == [5000.75, 5000.75]
    assert np.isnan(frame["ask"].iloc[0]) and frame["ask"].iloc[1] == 5001.0
    assert frame["bid_size"].tolist() == [4.0, 4.0]
    assert frame["ask_size"].tolist() == [0.0, 9.0]


def test_parent_symbology_gives_one_series_per_contract(source, recorded_http: RecordedHTTP):
    parent = mapping("ES.FUT", (DAY, DAY + dt.timedelta(days=2), 11), (DAY, DAY + dt.timedelta(days=2), 12))
    records = [bar(11, minute(0), 5000, 5001, 4999, 5000.5, 10), bar(12, minute(0), 5050, 5052, 5049, 5051, 3)]
    for _ in range(2):
        recorded_http.add(
            "POST", GET_RANGE, Reply(body=dbn_payload(Schema.OHLCV_1M, records, [parent], stype_in=SType.PARENT))
        )
    request = bars_request("ES.FUT", stype_in="parent")

    frames = source.fetch_by_symbol(request)

    assert sorted(frames) == ["ES.FUT#11", "ES.FUT#12"]
    assert frames["ES.FUT#12"]["close"].tolist() == [5051.0]
    with pytest.raises(ProviderError, match="fetch_by_symbol"):
        source.fetch_bars(request)


def test_estimate_asks_databento_for_cost_and_record_count(source, recorded_http: RecordedHTTP):
    recorded_http.add("POST", f"{GATEWAY}/metadata.get_cost", Reply(json=1.25))
    recorded_http.add("POST", f"{GATEWAY}/metadata.get_record_count", Reply(json=2880))

    estimate = source.estimate(bars_request())

    assert estimate == Estimate(cost_usd=1.25, rows_estimate=2880)
    for request in recorded_http.requests:
        sent = form(request)
        assert (sent["dataset"], sent["schema"], sent["stype_in"], sent["symbols"]) == (
            "GLBX.MDP3",
            "ohlcv-1m",
            "continuous",
            "GC.c.0",
        )


def test_api_key_stays_out_of_repr_logs_and_errors(source, recorded_http: RecordedHTTP, caplog):
    echo = {"detail": f"API key {API_KEY} is not authorized for dataset GLBX.MDP3"}
    recorded_http.add("POST", GET_RANGE, Reply(status=401, json=echo))
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ProviderError) as caught:
        source.fetch_bars(bars_request())

    assert "HTTP 401" in str(caught.value) and caught.value.retryable is False
    shown = "".join(traceback.format_exception(caught.value))
    assert API_KEY not in shown
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(source) and API_KEY not in str(source)


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (500, True), (503, True), (422, False)])
def test_http_errors_say_whether_a_retry_may_help(source, recorded_http: RecordedHTTP, status: int, retryable: bool):
    recorded_http.add("POST", GET_RANGE, Reply(status=status, json={"detail": "nope"}))

    with pytest.raises(ProviderError) as caught:
        source.fetch_bars(bars_request())

    assert caught.value.retryable is retryable


def test_trades_schema_asked_of_fetch_bars_is_refused_before_any_request(source, recorded_http: RecordedHTTP):
    with pytest.raises(UnsupportedSchema, match="delivers trades"):
        source.fetch_bars(bars_request("ESH4", interval=None, schema="trades"))

    assert recorded_http.requests == []


def test_interval_without_a_databento_schema_is_unsupported(source):
    with pytest.raises(UnsupportedSchema, match="5m"):
        source.fetch_bars(bars_request(interval="5m"))


def test_missing_api_key_is_a_provider_error():
    with pytest.raises(ProviderError, match="API key"):
        DatabentoSource("")


def test_registry_builds_the_databento_source_with_the_given_key():
    source = get_source("databento", api_key=API_KEY, dataset="XNAS.ITCH")

    assert isinstance(source, DatabentoSource) and source.dataset == "XNAS.ITCH"
