"""Malformed requests anywhere in the API get a 400 (or 401/404) with the SPEC error body, never a 500."""

import base64
import json

import pytest
from rest_framework.test import APIClient

from mdserver.api import error_body, jsonable

pytestmark = pytest.mark.django_db


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content[:500]
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    return error


def fields_of(error: dict) -> set:
    return {detail.get("field") for detail in error["details"]}


def test_a_token_holding_nul_is_refused_as_invalid():
    client = APIClient(raise_request_exception=True)
    client.credentials(HTTP_AUTHORIZATION="Token \x00")
    assert error_of(client.get("/api/v1/symbols"), 401)["code"] == "authentication_failed"


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/symbols?ticker=%00", "ticker"),
        ("/api/v1/bars?symbol=ACME&venue=X%00", "venue"),
        ("/api/v1/market-data/%00/BTCUSDT/buffer/1m", "path"),
    ],
)
def test_nul_in_the_url_is_400_naming_where(user_api, symbol, url, field):
    assert fields_of(error_of(user_api.get(url), 400)) == {field}


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "\\ud800"}',  # a lone surrogate: no UTF-8 for it
        "[" * 5000 + "]" * 5000,  # nesting that made the standard parser recurse until Python gave up
        '{"name": "a"' + ', "x": ' + "[" * 70 + "]" * 70 + "}",  # deeper than any body here needs
        '{"name": "\\u0000"}',  # PostgreSQL stores no NUL
        '{"name": NaN}',
        "{not json",
    ],
)
def test_json_bodies_no_field_can_hold_are_400_on_the_body(user_api, body):
    response = user_api.generic("POST", "/api/v1/backtest-settings", body, content_type="application/json")
    error = error_of(response, 400)
    assert error["code"] == "parse_error" and fields_of(error) == {"body"}


def test_a_drawing_style_holding_nul_is_refused_and_nothing_is_stored(user_api, symbol):
    from marketdata.models import Drawing

    body = {"symbol": symbol.id, "kind": "hline", "points": [{"t": 1732631400, "price": 100.0}],
            "style": {"label": "\x00"}}  # fmt: skip
    assert error_of(user_api.post("/api/v1/drawings", body, format="json"), 400)["code"] == "parse_error"
    assert not Drawing.objects.exists()


@pytest.mark.parametrize("symbol_param", ["²", "١", "99999999999999999999999"])
def test_a_drawing_filter_that_is_no_id_is_400(user_api, symbol_param):
    assert fields_of(error_of(user_api.get(f"/api/v1/drawings?symbol={symbol_param}"), 400)) == {"symbol"}


@pytest.mark.parametrize(
    "path", ["/api/v1/no-such-thing", "/api/v1/backtests/1.5", "/api/v1/bars/", "/api/nope", "/api/v2/bars"]
)
def test_a_path_that_names_no_endpoint_is_a_json_404(user_api, path):
    assert error_of(user_api.get(path), 404)["code"] == "not_found"


def drf_cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        drf_cursor("o=1&p=abc"),  # the symbols list orders by id: "abc" is no id
        drf_cursor("o=0&p=99999999999999999999999"),
    ],
)
def test_a_tampered_list_cursor_is_400_on_cursor(user_api, symbol, cursor):
    assert fields_of(error_of(user_api.get("/api/v1/symbols", {"cursor": cursor}), 400)) == {"cursor"}


def data_cursor(ns: int, skip: int) -> str:
    return base64.urlsafe_b64encode(f"{ns}:{skip}".encode()).decode().rstrip("=")


@pytest.mark.parametrize("kind", ["bars", "trades", "quotes"])
@pytest.mark.parametrize(
    "cursor",
    [
        data_cursor(1_732_631_400_000_000_000, 10**30),
        data_cursor(1_732_631_400_000_000_000, -100_000),
        data_cursor(-(2**63), 0),
        data_cursor(2**70, 0),
    ],
)
def test_a_tampered_data_cursor_is_400_on_cursor(user_api, symbol, kind, cursor):
    response = user_api.get(f"/api/v1/{kind}", {"symbol": "ACME", "cursor": cursor})
    assert fields_of(error_of(response, 400)) == {"cursor"}


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/bars?symbol=ACME&end=9999-12-31", "end"),
        ("/api/v1/trades?symbol=ACME&start=-1", "start"),
        ("/api/v1/quotes?symbol=ACME&start=1677-09-22T00:00:00Z", "start"),
        ("/api/v1/analytics/indicators?symbol=ACME&names=sma:5&end=9999-12-31", "end"),
        ("/api/v1/analytics/session-volume?symbol=ACME&at=2262-04-10", "at"),
        ("/api/v1/analytics/high-low?symbol=ACME&years=100&at=1700-01-01", "at"),
        ("/api/v1/calendar/day?market=XNYS&date=9999-12-31", "date"),
        ("/api/v1/calendar/sessions?market=XNYS&start=9999-12-20&end=9999-12-31", "start"),
        ("/api/v1/symbols/{id}/coverage?start=2262-04-01", "start"),
        ("/api/v1/symbols/{id}/coverage?end=0001-01-01", "end"),
        ("/api/v1/symbols/{id}/coverage?interval=5x", "interval"),
    ],
)
def test_times_outside_the_supported_range_and_bad_intervals_are_400(user_api, symbol, url, field):
    assert field in fields_of(error_of(user_api.get(url.format(id=symbol.id)), 400))


def test_vwap_over_a_range_without_bars_is_an_empty_series(user_api, symbol):
    response = user_api.get("/api/v1/analytics/indicators?symbol=ACME&names=vwap,sma:3&start=2030-01-02&end=2030-01-03")
    assert response.status_code == 200, response.content[:300]
    assert response.json()["t"] == [] and response.json()["series"] == {"vwap": [], "sma_3": []}


@pytest.mark.parametrize("schema", ["ohlcv-", "ohlcv-99999999d", "ohlcv-5x"])
def test_a_bar_schema_with_a_bad_interval_is_400_on_schema(user_api, symbol, schema):
    body = {"source": "synthetic", "symbols": ["ACME"], "schema": schema, "start": "2024-11-26", "end": "2024-11-27"}
    for url in ("/api/v1/fetches/estimate", "/api/v1/fetches"):
        assert fields_of(error_of(user_api.post(url, body, format="json"), 400)) == {"schema"}


def test_error_text_quoting_a_lone_surrogate_can_be_encoded():
    body = error_body("invalid", "engine: '\ud800' is not a valid choice", [{"field": "engine", "message": "\ud800"}])
    encoded = json.dumps(body, ensure_ascii=False).encode("utf-8")
    assert b"\\\\ud800" in encoded


def test_non_finite_numbers_answer_as_null():
    assert jsonable({"a": float("inf"), "b": [float("-inf"), float("nan"), 1.5]}) == {"a": None, "b": [None, None, 1.5]}


def test_a_provider_refusing_the_request_is_400_naming_the_source(user_api, symbol):
    body = {"source": "synthetic", "symbols": ["ACME"], "schema": "mbp-1", "start": "2024-11-26", "end": "2024-11-27"}
    error = error_of(user_api.post("/api/v1/fetches/estimate", body, format="json"), 400)
    assert error["code"] == "provider_error" and fields_of(error) == {"source"}


LONGEST_INTERVAL = "31622400s"  # 366 days: the longest interval, the longest to write


def test_the_longest_intervals_are_stored_where_an_interval_is_saved(user_api, symbol):
    """Every place that saves an interval holds the longest one (not a database error, a 500)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from backtests.models import BacktestSettings
    from marketdata.models import Import

    csv = b"timestamp,open,high,low,close,volume\n2024-11-26T14:30:00Z,1,2,0.5,1.5,10\n"
    upload = SimpleUploadedFile("bars.csv", csv)
    response = user_api.post("/api/v1/imports", {"file": upload, "symbol": "ACME", "interval": LONGEST_INTERVAL})
    assert response.status_code == 202, response.content[:300]
    assert Import.objects.get().interval == LONGEST_INTERVAL
    settings = {"name": "long", "symbol": "ACME", "interval": LONGEST_INTERVAL, "start_date": "2024-01-02",
                "end_date": "2024-12-31", "strategy": "buy_and_hold", "params": {}}  # fmt: skip
    assert user_api.post("/api/v1/backtest-settings", settings, format="json").status_code == 201
    assert BacktestSettings.objects.get().interval == LONGEST_INTERVAL
    bars = [{"t": "2024-11-26T14:30:00Z", "o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 10},
            {"t": "2025-11-27T14:30:00Z", "o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 10}]  # fmt: skip
    report = user_api.post("/api/v1/analytics/report", {"bars": bars, "interval": LONGEST_INTERVAL}, format="json")
    assert report.status_code in (200, 400), report.content[:300]
