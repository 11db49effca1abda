"""Deribit DVOL: JSON-RPC answers of public/get_volatility_index_data replayed over requests."""

from __future__ import annotations

import pandas as pd
import pytest

from marketdata.providers.base import (
    FetchRequest,
    PayloadError,
    ProviderError,
    RetryPolicy,
    UnsupportedSchema,
    get_source,
)
from marketdata.providers.deribit import DeribitSource, dvol_currency
from tests.marketdata.providers.conftest import RecordedHTTP, Reply, query

DVOL_URL = "https://www.deribit.com/api/v2/public/get_volatility_index_data"
T0 = pd.Timestamp("2024-01-02 00:00", tz="UTC")
T0_MS = 1704153600000
HOUR_MS = 3_600_000

# BTC DVOL hourly points: [timestamp ms, open, high, low, close].
POINTS = [
    [T0_MS + 0 * HOUR_MS, 53.41, 53.96, 53.2, 53.87],
    [T0_MS + 1 * HOUR_MS, 53.87, 54.31, 53.71, 54.02],
    [T0_MS + 2 * HOUR_MS, 54.02, 54.4, 53.88, 54.11],
    [T0_MS + 3 * HOUR_MS, 54.11, 55.06, 54.05, 54.93],
    [T0_MS + 4 * HOUR_MS, 54.93, 55.2, 54.37, 54.48],
    [T0_MS + 5 * HOUR_MS, 54.48, 54.71, 54.1, 54.25],
]


def rpc(data: list, continuation: int | None) -> Reply:
    return Reply(
        json={
            "jsonrpc": "2.0",
            "result": {"data": data, "continuation": continuation},
            "usIn": 1704176400123456,
            "usOut": 1704176400125678,
            "usDiff": 2222,
            "testnet": False,
        }
    )


def rpc_error(status: int, code: int, message: str) -> Reply:
    error = {"message": message, "code": code, "data": {"param": "resolution", "reason": "must be 1, 60, 3600"}}
    return Reply(status=status, json={"jsonrpc": "2.0", "error": error, "testnet": False})


class FakeSleep(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_source(*, now: pd.Timestamp | None = None, sleep: FakeSleep | None = None, **kwargs) -> DeribitSource:
    return DeribitSource(
        retry=RetryPolicy(sleep=sleep if sleep is not None else FakeSleep()),
        clock=lambda: now if now is not None else T0 + pd.Timedelta(days=2),
        **kwargs,
    )


def request(hours: int, **options) -> FetchRequest:
    return FetchRequest("deribit", "BTC", T0, T0 + pd.Timedelta(hours=hours), interval="1h", options=options)


def test_dvol_pages_follow_the_continuation_back_to_the_start(recorded_http: RecordedHTTP):
    end_ms = T0_MS + 6 * HOUR_MS
    # Newest page first; the older page repeats the edge point, as page boundaries may.
    recorded_http.add("GET", DVOL_URL, rpc(POINTS[3:], POINTS[3][0]), rpc(POINTS[:4], None))

    bars = make_source().fetch_bars(request(6))

    assert bars["ts"].tolist() == [T0 + pd.Timedelta(hours=k) for k in range(6)]
    assert bars["close"].tolist() == [point[4] for point in POINTS]
    assert bars["high"].tolist() == [point[2] for point in POINTS]
    assert (bars["volume"] == 0.0).all() and bars["trade_count"].isna().all()
    sent = [query(r) for r in recorded_http.requests]
    assert [int(params["end_timestamp"]) for params in sent] == [end_ms, POINTS[3][0]]
    assert {(p["currency"], p["resolution"], int(p["start_timestamp"])) for p in sent} == {("BTC", "3600", T0_MS)}


def test_ffill_to_minutes_carries_the_close_of_the_last_finished_hour(recorded_http: RecordedHTTP):
    recorded_http.add("GET", DVOL_URL, rpc(POINTS[:2], None))

    minutes = make_source().fetch_bars(request(3, ffill_to_minutes=True))

    assert len(minutes) == 120
    assert minutes["ts"].iloc[0] == T0 + pd.Timedelta(hours=1)  # the first hour is known at 01:00
    assert minutes["ts"].iloc[-1] == T0 + pd.Timedelta(hours=2, minutes=59)
    by_time = minutes.set_index("ts")
    assert by_time.loc[T0 + pd.Timedelta(minutes=60), "close"] == 53.87
    assert by_time.loc[T0 + pd.Timedelta(minutes=119), "close"] == 53.87
    assert by_time.loc[T0 + pd.Timedelta(minutes=120), "close"] == 54.02
    assert (minutes["open"] == minutes["close"]).all() and (minutes["high"] == minutes["low"]).all()
    assert (minutes["volume"] == 0.0).all()


def test_ffilled_minutes_stop_before_the_minute_still_open_at_the_clock(recorded_http: RecordedHTTP):
    recorded_http.add("GET", DVOL_URL, rpc(POINTS[:2], None))
    now = T0 + pd.Timedelta(hours=2, minutes=30, seconds=20)

    minutes = make_source(now=now).fetch_bars(request(3, ffill_to_minutes=True))

    assert minutes["ts"].iloc[-1] == T0 + pd.Timedelta(hours=2, minutes=29)


def test_hour_not_finished_at_the_clock_is_dropped(recorded_http: RecordedHTTP):
    recorded_http.add("GET", DVOL_URL, rpc(POINTS, None))

    bars = make_source(now=T0 + pd.Timedelta(hours=5, minutes=30)).fetch_bars(request(6))

    assert bars["ts"].iloc[-1] == T0 + pd.Timedelta(hours=4)


def test_error_answer_is_a_provider_error_with_deribits_message(recorded_http: RecordedHTTP):
    recorded_http.add("GET", DVOL_URL, rpc_error(400, -32602, "Invalid params"))

    with pytest.raises(ProviderError, match="Invalid params") as caught:
        make_source().fetch_bars(request(6))

    assert caught.value.retryable is False


def test_rate_limit_answer_is_retried_after_a_backoff(recorded_http: RecordedHTTP):
    sleep = FakeSleep()
    recorded_http.add("GET", DVOL_URL, rpc_error(429, 10028, "too_many_requests"), rpc(POINTS, None))

    bars = make_source(sleep=sleep).fetch_bars(request(6))

    assert len(bars) == 6
    assert sleep == [1.0]


def test_point_with_high_below_low_refuses_the_payload(recorded_http: RecordedHTTP):
    broken = [*POINTS[:2], [T0_MS + 2 * HOUR_MS, 54.02, 53.5, 53.88, 53.9]]
    recorded_http.add("GET", DVOL_URL, rpc(broken, None))

    with pytest.raises(PayloadError) as caught:
        make_source().fetch_bars(request(3))

    assert caught.value.errors[0].row == 3 and caught.value.errors[0].field == "high"


def test_continuation_that_does_not_move_back_stops_with_an_error(recorded_http: RecordedHTTP):
    end_ms = T0_MS + 6 * HOUR_MS
    recorded_http.add("GET", DVOL_URL, rpc(POINTS[3:], end_ms))

    with pytest.raises(ProviderError, match="no progress"):
        make_source().fetch_bars(request(6))


def test_interval_deribit_does_not_serve_is_unsupported():
    with pytest.raises(UnsupportedSchema, match="5m"):
        make_source().fetch_bars(FetchRequest("deribit", "BTC", T0, T0 + pd.Timedelta(hours=1), interval="5m"))


@pytest.mark.parametrize(
    ("symbol", "currency"), [("BTC", "BTC"), ("eth", "ETH"), ("BTC-DVOL", "BTC"), ("DVOL:ETH", "ETH")]
)
def test_dvol_symbol_names_the_currency(symbol: str, currency: str):
    assert dvol_currency(symbol) == currency


def test_registry_builds_the_deribit_source():
    source = get_source("deribit", ffill_to_minutes=True)

    assert isinstance(source, DeribitSource) and source.ffill_to_minutes is True
