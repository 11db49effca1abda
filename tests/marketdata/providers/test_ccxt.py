"""ccxt OHLCV: exchange-format JSON replayed under ccxt's own request and parsing code.

The candles below are written in each exchange's documented REST format
(Binance /api/v3/klines, Bybit /v5/market/kline, OKX /api/v5/market/history-candles);
the fake endpoints slice them by the query parameters the real APIs take.
"""

from __future__ import annotations

import pandas as pd
import pytest
import requests

from marketdata.providers.base import FetchRequest, PayloadError, ProviderError, RetryPolicy, UnsupportedSchema
from marketdata.providers.ccxt import CcxtSource, make_exchange
from tests.marketdata.providers.conftest import RecordedHTTP, Reply, query

T0 = pd.Timestamp("2024-01-01 00:00", tz="UTC")
T0_MS = 1704067200000
MINUTE_MS = 60_000

# BTC/USDT one-minute candles from 2024-01-01 00:00 UTC: open, high, low, close, base volume.
CANDLES: list[tuple[str, str, str, str, str]] = [
    ("42283.58", "42298.62", "42261.02", "42298.61", "35.92724"),
    ("42298.62", "42320.00", "42298.61", "42314.80", "21.51187"),
    ("42314.81", "42317.04", "42283.16", "42292.07", "17.03456"),
    ("42292.08", "42294.50", "42259.39", "42268.20", "24.66102"),
    ("42268.21", "42290.00", "42268.20", "42289.99", "12.40977"),
    ("42289.99", "42330.00", "42289.98", "42321.63", "30.18842"),
    ("42321.63", "42345.10", "42310.00", "42341.92", "28.77511"),
    ("42341.93", "42360.00", "42330.17", "42352.01", "19.04460"),
    ("42352.00", "42352.01", "42318.54", "42320.33", "15.61093"),
    ("42320.33", "42331.78", "42306.00", "42327.45", "11.28355"),
]
MARKETS = {
    "binance": "BTCUSDT",
    "bybit": "BTCUSDT",
    "okx": "BTC-USDT",
}
KLINES_URL = {
    "binance": "https://api.binance.com/api/v3/klines",
    "bybit": "https://api.bybit.com/v5/market/kline",
    "okx": "https://www.okx.com/api/v5/market/history-candles",
}


def market(exchange_id: str) -> dict:
    return {
        "id": MARKETS[exchange_id],
        "symbol": "BTC/USDT",
        "base": "BTC",
        "quote": "USDT",
        "baseId": "BTC",
        "quoteId": "USDT",
        "type": "spot",
        "spot": True,
        "margin": False,
        "swap": False,
        "future": False,
        "option": False,
        "contract": False,
        "active": True,
        "info": {},
    }


def exchange_factory(exchange_id: str):
    exchange = make_exchange(exchange_id, {"rateLimit": 0})
    exchange.set_markets([market(exchange_id)])
    return exchange


def rows_between(first_ms: int, last_ms: int, candles: dict[int, tuple]) -> list[tuple[int, tuple]]:
    return [(ts, candle) for ts, candle in sorted(candles.items()) if first_ms <= ts <= last_ms]


def table(minutes: list[int] | None = None, overrides: dict[int, tuple] | None = None) -> dict[int, tuple]:
    minutes = list(range(len(CANDLES))) if minutes is None else minutes
    candles = {T0_MS + k * MINUTE_MS: CANDLES[k] for k in minutes}
    for k, candle in (overrides or {}).items():
        candles[T0_MS + k * MINUTE_MS] = candle
    return candles


def binance_endpoint(candles: dict[int, tuple]):
    def answer(request: requests.PreparedRequest) -> Reply:
        params = query(request)
        start, limit = int(params["startTime"]), int(params["limit"])
        end = int(params.get("endTime", 2**62))
        rows = rows_between(start, end, candles)[:limit]
        klines = [[ts, *c, ts + MINUTE_MS - 1, "1519032.20", 1327, "20.30", "858000.10", "0"] for ts, c in rows]
        return Reply(json=klines)

    return answer


def bybit_endpoint(candles: dict[int, tuple]):
    def answer(request: requests.PreparedRequest) -> Reply:
        params = query(request)
        rows = rows_between(int(params["start"]), int(params["end"]), candles)[-int(params["limit"]) :]
        listing = [[str(ts), *c, "1500000.0"] for ts, c in reversed(rows)]  # newest first
        result = {"category": params["category"], "symbol": params["symbol"], "list": listing}
        return Reply(json={"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": T0_MS})

    return answer


def okx_endpoint(candles: dict[int, tuple]):
    def answer(request: requests.PreparedRequest) -> Reply:
        params = query(request)
        # OKX: `before` and `after` are exclusive bounds; rows come newest first.
        rows = rows_between(int(params["before"]) + 1, int(params["after"]) - 1, candles)[-int(params["limit"]) :]
        data = [[str(ts), *c, "1519032.2", "1519032.2", "1"] for ts, c in reversed(rows)]
        return Reply(json={"code": "0", "msg": "", "data": data})

    return answer


ENDPOINTS = {"binance": binance_endpoint, "bybit": bybit_endpoint, "okx": okx_endpoint}


class FakeSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


def make_source(sleep: FakeSleep, *, page: int = 3, now: pd.Timestamp | None = None, retries: int = 5) -> CcxtSource:
    return CcxtSource(
        exchange_factory=exchange_factory,
        retry=RetryPolicy(sleep=sleep, max_retries=retries),
        clock=lambda: now if now is not None else T0 + pd.Timedelta(days=1),
        page_limits=dict.fromkeys(MARKETS, page),
    )


def request(exchange: str, minutes: int, symbol: str = "BTC/USDT") -> FetchRequest:
    return FetchRequest("ccxt", symbol, T0, T0 + pd.Timedelta(minutes=minutes), interval="1m", exchange=exchange)


def expected_closes(minutes: list[int]) -> list[float]:
    return [float(CANDLES[k][3]) for k in minutes]


def test_binance_pages_through_the_range_until_its_end(recorded_http: RecordedHTTP, sleep):
    recorded_http.handle("GET", KLINES_URL["binance"], binance_endpoint(table()))

    bars = make_source(sleep).fetch_bars(request("binance", 8))

    assert bars["ts"].tolist() == [T0 + pd.Timedelta(minutes=k) for k in range(8)]
    assert bars["close"].tolist() == expected_closes(list(range(8)))
    assert bars["open"].iloc[0] == 42283.58 and bars["volume"].iloc[0] == 35.92724
    sent = [query(r) for r in recorded_http.sent(KLINES_URL["binance"])]
    assert [int(p["startTime"]) for p in sent] == [T0_MS, T0_MS + 3 * MINUTE_MS, T0_MS + 6 * MINUTE_MS]
    assert {p["limit"] for p in sent} == {"3"} and {p["symbol"] for p in sent} == {"BTCUSDT"}


def test_binance_stops_at_the_first_empty_page(recorded_http: RecordedHTTP, sleep):
    recorded_http.handle("GET", KLINES_URL["binance"], binance_endpoint(table()))

    bars = make_source(sleep).fetch_bars(request("binance", 30))

    assert len(bars) == len(CANDLES)
    assert len(recorded_http.requests) == 5  # pages at minutes 0, 3, 6, 9, then the empty one at 10


@pytest.mark.parametrize("exchange", ["bybit", "okx"])
def test_windowed_exchange_skips_an_empty_window_and_reaches_the_end(recorded_http: RecordedHTTP, sleep, exchange):
    with_gap = [0, 1, 2, 6, 7, 8, 9]
    recorded_http.handle("GET", KLINES_URL[exchange], ENDPOINTS[exchange](table(with_gap)))

    bars = make_source(sleep).fetch_bars(request(exchange, 10))

    assert bars["ts"].tolist() == [T0 + pd.Timedelta(minutes=k) for k in with_gap]
    assert bars["close"].tolist() == expected_closes(with_gap)
    assert len(recorded_http.requests) == 4  # windows at minutes 0, 3 (empty), 6 and 9


RATE_LIMITED = {
    # ccxt raises DDoSProtection for Binance's 429, RateLimitExceeded for Bybit's retCode 10006
    # and for OKX's code 50011: all are NetworkErrors, all retried.
    "binance": Reply(status=429, json={"code": -1003, "msg": "Too many requests; current limit is 6000 per minute."}),
    "bybit": Reply(json={"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "time": T0_MS}),
    "okx": Reply(status=429, json={"code": "50011", "msg": "Too Many Requests", "data": []}),
}


@pytest.mark.parametrize("exchange", ["binance", "bybit", "okx"])
def test_rate_limited_request_is_retried_after_a_backoff(recorded_http: RecordedHTTP, sleep, exchange):
    recorded_http.add("GET", KLINES_URL[exchange], RATE_LIMITED[exchange])
    recorded_http.handle("GET", KLINES_URL[exchange], ENDPOINTS[exchange](table()))

    bars = make_source(sleep).fetch_bars(request(exchange, 3))

    assert bars["close"].tolist() == expected_closes([0, 1, 2])
    assert sleep.calls == [1.0]
    assert len(recorded_http.requests) == 2


def test_network_errors_are_retried_with_exponential_backoff(recorded_http: RecordedHTTP, sleep):
    reset = requests.ConnectionError("Connection aborted.")
    recorded_http.add("GET", KLINES_URL["okx"], reset, reset)
    recorded_http.handle("GET", KLINES_URL["okx"], okx_endpoint(table()))

    bars = make_source(sleep).fetch_bars(request("okx", 3))

    assert len(bars) == 3
    assert sleep.calls == [1.0, 2.0]


def test_persistent_network_failure_is_a_retryable_provider_error(recorded_http: RecordedHTTP, sleep):
    recorded_http.handle("GET", KLINES_URL["bybit"], lambda r: requests.ConnectionError("Connection aborted."))

    with pytest.raises(ProviderError) as caught:
        make_source(sleep, retries=2).fetch_bars(request("bybit", 3))

    assert caught.value.retryable is True
    assert "NetworkError after 3 attempts" in str(caught.value)
    assert sleep.calls == [1.0, 2.0]


def test_one_failing_exchange_leaves_the_others_bars(recorded_http: RecordedHTTP, sleep):
    recorded_http.handle("GET", KLINES_URL["binance"], binance_endpoint(table()))
    recorded_http.handle("GET", KLINES_URL["okx"], okx_endpoint(table()))
    refused = {"retCode": 10001, "retMsg": "params error: symbol invalid", "result": {}, "time": T0_MS}
    recorded_http.handle("GET", KLINES_URL["bybit"], lambda r: Reply(json=refused))

    results = make_source(sleep).fetch_many(
        ["binance", "bybit", "okx"], ["BTC/USDT"], interval="1m", start=T0, end=T0 + pd.Timedelta(minutes=3)
    )

    assert set(results) == {("binance", "BTC/USDT"), ("bybit", "BTC/USDT"), ("okx", "BTC/USDT")}
    assert results[("binance", "BTC/USDT")].bars["close"].tolist() == expected_closes([0, 1, 2])
    assert results[("okx", "BTC/USDT")].bars["close"].tolist() == expected_closes([0, 1, 2])
    failed = results[("bybit", "BTC/USDT")]
    assert not failed.ok and failed.bars is None
    assert isinstance(failed.error, ProviderError) and "params error" in str(failed.error)


def test_unknown_symbol_fails_only_its_own_pair(recorded_http: RecordedHTTP, sleep):
    recorded_http.handle("GET", KLINES_URL["binance"], binance_endpoint(table()))

    results = make_source(sleep).fetch_many(
        ["binance"], ["BTC/USDT", "DOGE/EUR"], interval="1m", start=T0, end=T0 + pd.Timedelta(minutes=2)
    )

    assert results[("binance", "BTC/USDT")].ok
    assert "BadSymbol" in str(results[("binance", "DOGE/EUR")].error)


def test_candle_with_high_below_low_is_a_payload_error(recorded_http: RecordedHTTP, sleep):
    broken = ("42314.81", "42250.00", "42283.16", "42292.07", "17.03456")
    recorded_http.handle("GET", KLINES_URL["binance"], binance_endpoint(table(overrides={2: broken})))

    with pytest.raises(PayloadError) as caught:
        make_source(sleep).fetch_bars(request("binance", 5))

    assert caught.value.errors[0].row == 3
    assert caught.value.errors[0].message == "high 42250.0 is below low 42283.16"
    assert "ccxt:binance" in str(caught.value)


def test_bar_still_open_at_the_clock_is_dropped_and_later_pages_are_not_asked(recorded_http: RecordedHTTP, sleep):
    recorded_http.handle("GET", KLINES_URL["binance"], binance_endpoint(table()))

    bars = make_source(sleep, now=T0 + pd.Timedelta(minutes=5, seconds=30)).fetch_bars(request("binance", 10))

    assert bars["ts"].tolist() == [T0 + pd.Timedelta(minutes=k) for k in range(5)]
    assert len(recorded_http.requests) == 2


def test_page_that_does_not_move_forward_stops_with_an_error(sleep):
    def stale_exchange(exchange_id: str):
        exchange = exchange_factory(exchange_id)
        exchange.fetch_ohlcv = lambda *args, **kwargs: [[T0_MS, 1.0, 1.0, 1.0, 1.0, 1.0]]
        return exchange

    source = CcxtSource(
        exchange_factory=stale_exchange, retry=RetryPolicy(sleep=sleep), clock=lambda: T0 + pd.Timedelta(days=1)
    )

    with pytest.raises(ProviderError, match="no progress"):
        source.fetch_bars(request("binance", 10))


def test_exchanges_are_built_with_the_rate_limiter_on():
    assert all(make_exchange(exchange_id).enableRateLimit for exchange_id in MARKETS)
    assert make_exchange("binance", {"enableRateLimit": False}).enableRateLimit is True


def test_exchange_outside_the_supported_three_is_refused():
    with pytest.raises(UnsupportedSchema, match="kraken"):
        make_exchange("kraken")


def test_timeframe_the_exchange_lacks_is_unsupported(sleep):
    with pytest.raises(UnsupportedSchema, match="7m"):
        make_source(sleep).fetch_bars(
            FetchRequest("ccxt", "BTC/USDT", T0, T0 + pd.Timedelta(hours=1), interval="7m", exchange="binance")
        )


def test_request_without_an_exchange_is_refused(sleep):
    with pytest.raises(ProviderError, match="exchange"):
        make_source(sleep).fetch_bars(FetchRequest("ccxt", "BTC/USDT", T0, T0 + pd.Timedelta(hours=1), interval="1m"))
