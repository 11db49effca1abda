"""Fetches through the API and the CLI: cost first, only missing ranges, all or nothing."""

import io

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from marketdata import store
from marketdata.models import ProviderCacheEntry, Symbol
from marketdata.services import fetches
from tests.marketdata.providers.conftest import RecordedHTTP, Reply
from tests.marketdata.providers.test_ccxt import CANDLES, ENDPOINTS, KLINES_URL, T0, FakeSleep, make_source, table

pytestmark = pytest.mark.django_db


@pytest.fixture
def btc(db):
    return Symbol.objects.create(ticker="BTC/USDT", venue="BINANCE", calendar="24/7", asset_class="crypto")


@pytest.fixture
def ccxt_source(monkeypatch):
    source = make_source(FakeSleep(), page=4)
    real = fetches.source_for
    monkeypatch.setattr(fetches, "source_for", lambda name: source if name == "ccxt" else real(name))
    return source


def ccxt_body(minutes: int, exchange="binance", **extra) -> dict:
    end = (T0 + pd.Timedelta(minutes=minutes)).isoformat()
    return {"source": "ccxt", "symbols": ["BTC/USDT"], "interval": "1m", "start": T0.isoformat(), "end": end,
            "exchange": exchange, **extra}  # fmt: skip


def test_synthetic_fetch_stores_bars_and_second_fetch_downloads_nothing(user_api, symbol):
    body = {"source": "synthetic", "symbols": "ACME", "interval": "1m", "start": "2024-11-26", "end": "2024-11-26"}
    estimate = user_api.post("/api/v1/fetches/estimate", body, format="json").json()
    assert estimate["cost_usd"] == 0
    assert estimate["missing_ranges"] == [["2024-11-26T05:00:00Z", "2024-11-27T05:00:00Z"]]
    first = user_api.post("/api/v1/fetches", body, format="json")
    assert first.status_code == 202
    polled = user_api.get(f"/api/v1/fetches/{first.json()['id']}").json()
    assert (polled["status"], polled["progress"], polled["rows_inserted"]) == ("succeeded", 1.0, 390)
    assert len(store.bars_read(symbol_id=symbol.id, interval="1m")) == 390
    again = user_api.post("/api/v1/fetches/estimate", body, format="json").json()
    assert again["missing_ranges"] == [] and again["cached_ranges"] == estimate["missing_ranges"]
    second = user_api.post("/api/v1/fetches", body, format="json").json()
    assert (second["status"], second["rows_inserted"]) == ("succeeded", 0)
    assert second["children"][0]["ranges_fetched"] == 0
    assert ProviderCacheEntry.objects.count() == 1


def test_second_identical_ccxt_fetch_makes_no_http_call(user_api, btc, ccxt_source, recorded_http: RecordedHTTP):
    recorded_http.handle("GET", KLINES_URL["binance"], ENDPOINTS["binance"](table()))
    first = user_api.post("/api/v1/fetches", ccxt_body(10), format="json").json()
    assert (first["status"], first["rows_inserted"]) == ("succeeded", 10)
    calls = len(recorded_http.requests)
    assert calls >= 3  # pages of 4 candles
    bars = store.bars_read(symbol_id=btc.id, interval="1m")
    assert bars["close"].tolist() == [float(c[3]) for c in CANDLES]
    second = user_api.post("/api/v1/fetches", ccxt_body(10), format="json").json()
    assert second["status"] == "succeeded"
    assert len(recorded_http.requests) == calls


def test_widened_range_fetches_only_the_new_part(user_api, btc, ccxt_source, recorded_http: RecordedHTTP):
    recorded_http.handle("GET", KLINES_URL["binance"], ENDPOINTS["binance"](table()))
    user_api.post("/api/v1/fetches", ccxt_body(5), format="json")
    before = len(recorded_http.requests)
    estimate = user_api.post("/api/v1/fetches/estimate", ccxt_body(10), format="json").json()
    assert estimate["missing_ranges"] == [[(T0 + pd.Timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
                                           (T0 + pd.Timedelta(minutes=10)).isoformat().replace("+00:00", "Z")]]  # fmt: skip
    widened = user_api.post("/api/v1/fetches", ccxt_body(10), format="json").json()
    assert widened["rows_inserted"] == 5
    new_requests = recorded_http.requests[before:]
    first_start = int(
        dict(pd.Series(new_requests[0].url.split("?")[1].split("&")).str.split("=").tolist())["startTime"]
    )
    assert first_start == int((T0 + pd.Timedelta(minutes=5)).value // 1_000_000)
    assert len(store.bars_read(symbol_id=btc.id, interval="1m")) == 10


def test_one_failing_exchange_leaves_the_others_bars_stored(user_api, btc, ccxt_source, recorded_http: RecordedHTTP):
    recorded_http.handle("GET", KLINES_URL["binance"], ENDPOINTS["binance"](table()))
    recorded_http.handle("GET", KLINES_URL["bybit"], lambda request: Reply(status=403, json={"retCode": 10010}))
    body = user_api.post("/api/v1/fetches", ccxt_body(10, exchange="binance,bybit"), format="json").json()
    assert body["status"] == "succeeded"
    statuses = {c["exchange"]: c["status"] for c in body["children"]}
    assert statuses == {"binance": "succeeded", "bybit": "failed"}
    assert "bybit" in body["errors"][0]["message"]
    assert len(store.bars_read(symbol_id=btc.id, interval="1m")) == 10
    assert ProviderCacheEntry.objects.filter(exchange="bybit").count() == 0


def test_payload_with_a_bad_bar_is_rejected_and_nothing_stored(user_api, btc, ccxt_source, recorded_http: RecordedHTTP):
    bad = ("42283.58", "42200.00", "42261.02", "42298.61", "35.9")  # high below low
    recorded_http.handle("GET", KLINES_URL["binance"], ENDPOINTS["binance"](table(overrides={3: bad})))
    body = user_api.post("/api/v1/fetches", ccxt_body(10), format="json").json()
    assert body["status"] == "failed"
    child = body["children"][0]
    assert "invalid data" in child["message"]
    assert any(d["field"] == "high" for d in child["errors"])
    assert store.bars_read(symbol_id=btc.id, interval="1m").empty
    assert ProviderCacheEntry.objects.count() == 0


@pytest.mark.parametrize(
    "body,field",
    [
        ({"source": "nope", "symbols": "ACME", "interval": "1m", "start": "2024-11-26", "end": "2024-11-27"}, "source"),
        (
            {"source": "synthetic", "symbols": "ZZZ", "interval": "1m", "start": "2024-11-26", "end": "2024-11-27"},
            "symbol",
        ),
        ({"source": "synthetic", "symbols": "ACME", "start": "2024-11-26", "end": "2024-11-27"}, "interval"),
        (
            {"source": "synthetic", "symbols": "ACME", "interval": "9q", "start": "2024-11-26", "end": "2024-11-27"},
            "interval",
        ),
        (
            {"source": "databento", "symbols": "ACME", "interval": "1m", "start": "2024-11-26", "end": "2024-11-27"},
            "dataset",
        ),
        (
            {"source": "synthetic", "symbols": "ACME", "interval": "1m", "start": "2024-11-27", "end": "2024-11-26"},
            "end",
        ),
    ],
)
def test_bad_fetch_requests_are_400_naming_the_field(user_api, symbol, body, field):
    response = user_api.post("/api/v1/fetches", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == field


def test_databento_without_a_key_is_a_clear_error(user_api, symbol, settings):
    settings.DATABENTO_API_KEY = ""
    body = {"source": "databento", "dataset": "XNAS.ITCH", "symbols": "ACME", "interval": "1m",
            "start": "2024-11-26", "end": "2024-11-27"}  # fmt: skip
    response = user_api.post("/api/v1/fetches/estimate", body, format="json")
    assert response.status_code == 400
    assert "DATABENTO_API_KEY" in response.json()["error"]["message"]


def test_users_see_only_their_own_fetches(user_api, other_user, symbol):
    from rest_framework.test import APIClient

    body = {"source": "synthetic", "symbols": "ACME", "interval": "1m", "start": "2024-11-26", "end": "2024-11-26"}
    mine = user_api.post("/api/v1/fetches", body, format="json").json()
    other = APIClient()
    other.force_authenticate(other_user)
    assert other.get(f"/api/v1/fetches/{mine['id']}").status_code == 404


def test_cli_fetch_shows_cost_then_needs_yes(symbol, monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    with pytest.raises(CommandError, match="nothing fetched"):
        call_command("fetch_bars", "--source", "synthetic", "--symbols", "ACME", "--interval", "1m",
                     "--start", "2024-11-26", "--end", "2024-11-26", stdout=out)  # fmt: skip
    assert "cost $0.00" in out.getvalue()
    assert store.bars_read(symbol_id=symbol.id, interval="1m").empty
    call_command("fetch_bars", "--source", "synthetic", "--symbols", "ACME", "--interval", "1m",
                 "--start", "2024-11-26", "--end", "2024-11-26", "--yes", stdout=out)  # fmt: skip
    assert "390 rows stored" in out.getvalue()
    assert len(store.bars_read(symbol_id=symbol.id, interval="1m")) == 390


def synthetic_fetch(user_api, start="2024-11-26", end="2024-11-26"):
    body = {"source": "synthetic", "symbols": "ACME", "interval": "1m", "start": start, "end": end}
    return user_api.post("/api/v1/fetches", body, format="json").json()


def test_adjacent_fetches_merge_into_one_cache_entry(user_api, symbol):
    synthetic_fetch(user_api, "2024-11-26", "2024-11-26")
    synthetic_fetch(user_api, "2024-11-27", "2024-11-27")
    entry = ProviderCacheEntry.objects.get()
    assert (entry.rows, entry.start.isoformat(), entry.end.isoformat()) == (
        780,
        "2024-11-26T05:00:00+00:00",
        "2024-11-28T05:00:00+00:00",
    )


def test_admin_fill_gaps_fetches_only_the_missing_minutes(admin_client, user_api, symbol):
    synthetic_fetch(user_api)
    bars = store.bars_read(symbol_id=symbol.id, interval="1m")
    store.bars_delete(symbol_id=symbol.id)
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=bars.drop(index=[100, 101]).reset_index(drop=True))
    entry = ProviderCacheEntry.objects.get()
    response = admin_client.post(
        "/admin/marketdata/providercacheentry/", {"action": "fill_gaps", "_selected_action": [entry.id]}, follow=True
    )
    assert b"1 gap fetch job(s) queued" in response.content
    refilled = store.bars_read(symbol_id=symbol.id, interval="1m")
    assert refilled["ts"].tolist() == bars["ts"].tolist()


def test_admin_clear_and_refresh(admin_client, user_api, symbol):
    synthetic_fetch(user_api)
    entry = ProviderCacheEntry.objects.get()
    admin_client.post("/admin/marketdata/providercacheentry/", {"action": "refresh", "_selected_action": [entry.id]})
    refreshed = ProviderCacheEntry.objects.get()
    assert (refreshed.rows, refreshed.start, refreshed.end) == (780, entry.start, entry.end)  # fetched again, merged
    admin_client.post("/admin/marketdata/providercacheentry/", {"action": "clear", "_selected_action": [refreshed.id]})
    assert not ProviderCacheEntry.objects.exists()
    assert len(store.bars_read(symbol_id=symbol.id, interval="1m")) == 390
    page = admin_client.get("/admin/marketdata/providercacheentry/")
    assert page.status_code == 200


def test_invalidate_expired_removes_only_old_entries(admin_client, user_api, symbol, settings):
    from django.utils import timezone

    synthetic_fetch(user_api, "2024-11-26", "2024-11-26")
    synthetic_fetch(user_api, "2024-12-02", "2024-12-02")
    old, new = ProviderCacheEntry.objects.order_by("start")
    ProviderCacheEntry.objects.filter(id=old.id).update(fetched_at=timezone.now() - pd.Timedelta(days=40))
    settings.FETCH_CACHE_MAX_AGE_S = 30 * 86400
    admin_client.post(
        "/admin/marketdata/providercacheentry/", {"action": "invalidate_expired", "_selected_action": [new.id]}
    )
    assert list(ProviderCacheEntry.objects.values_list("id", flat=True)) == [new.id]


def test_poller_fetches_from_the_last_stored_bar(btc, ccxt_source, recorded_http: RecordedHTTP):
    from marketdata.services.fetches import poll_latest

    recorded_http.handle("GET", KLINES_URL["binance"], ENDPOINTS["binance"](table()))
    first = poll_latest(symbol=btc, exchange="binance", now=T0 + pd.Timedelta(minutes=6, seconds=30),
                        lookback=pd.Timedelta(minutes=6))  # fmt: skip
    assert first["rows_inserted"] == 6
    second = poll_latest(
        symbol=btc, exchange="binance", now=T0 + pd.Timedelta(minutes=10), lookback=pd.Timedelta(days=1)
    )
    assert second["rows_inserted"] == 4
    assert len(store.bars_read(symbol_id=btc.id, interval="1m")) == 10


def test_beat_schedule_is_off_unless_symbols_are_configured():
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULE == {}


def test_databento_fetch_through_the_api_sends_dataset_and_symbology_and_stores_bars(
    user_api, settings, recorded_http: RecordedHTTP
):
    from databento_dbn import Schema, SType

    from tests.marketdata.providers.conftest import form
    from tests.marketdata.providers.test_databento import API_KEY, GET_RANGE, bar, dbn_payload, mapping, minute
    from tests.marketdata.providers.test_databento import T0 as DBN_T0

    settings.DATABENTO_API_KEY = API_KEY
    gold = Symbol.objects.create(ticker="GC.c.0", venue="GLBX", calendar="CME_Globex_Metals", asset_class="future")
    records = [
        bar(42, minute(0), 2034.5, 2035.1, 2033.9, 2034.8, 120),
        bar(42, minute(1), 2034.8, 2036.0, 2034.8, 2035.7, 95),
    ]
    recorded_http.add("POST", GET_RANGE, Reply(body=dbn_payload(Schema.OHLCV_1M, records, [mapping("GC.c.0")],
                                                                  stype_in=SType.CONTINUOUS)))  # fmt: skip
    body = {"source": "databento", "dataset": "GLBX.MDP3", "stype_in": "continuous", "symbols": ["GC.c.0"],
            "schema": "ohlcv-1m", "start": DBN_T0.isoformat().replace("+00:00", "Z"),
            "end": (DBN_T0 + pd.Timedelta(minutes=2)).isoformat().replace("+00:00", "Z")}  # fmt: skip
    fetched = user_api.post("/api/v1/fetches", body, format="json").json()
    assert (fetched["status"], fetched["rows_inserted"]) == ("succeeded", 2), fetched
    sent = form(recorded_http.sent(GET_RANGE)[0])
    assert (sent["dataset"], sent["schema"], sent["stype_in"], sent["symbols"]) == (
        "GLBX.MDP3",
        "ohlcv-1m",
        "continuous",
        "GC.c.0",
    )
    bars = store.bars_read(symbol_id=gold.id, interval="1m")
    assert bars["close"].tolist() == [2034.8, 2035.7]
    assert ProviderCacheEntry.objects.get().source == "databento"
