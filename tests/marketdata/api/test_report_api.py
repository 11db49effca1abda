"""POST analytics/report and analytics/report/batch: inputs, cache, errors, auth, schema and admin."""

import io
import json
from unittest import mock

import pandas as pd
import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile

from marketdata.models import AnalyticsReport
from marketdata.services import report as report_services
from tests.factories import SymbolFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/analytics/report"
BATCH_URL = "/api/v1/analytics/report/batch"
DAY = {"symbol": "ACME", "interval": "1m", "start": "2024-11-26", "end": "2024-11-26"}


def post(client, payload: dict):
    return client.post(URL, payload, format="json")


def upload(client, content: bytes | str, name: str = "bars.csv", **fields):
    data = content.encode() if isinstance(content, str) else content
    return client.post(URL, {"file": SimpleUploadedFile(name, data), **fields}, format="multipart")


def error_fields(response) -> list:
    assert response.status_code == 400, response.content
    return [detail.get("field") for detail in response.json()["error"]["details"]]


def day_csv(stored_bars: pd.DataFrame, date: str = "2024-11-26") -> str:
    day = stored_bars[stored_bars["ts"].dt.strftime("%Y-%m-%d") == date]
    frame = day.assign(timestamp=day["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return frame[["timestamp", "open", "high", "low", "close", "volume", "vwap"]].to_csv(index=False)


# ------------------------------------------------------------------- inputs


def test_symbol_range_report_summarizes_the_bars_get_bars_returns(user_api, stored_bars):
    response = post(user_api, {**DAY, "interval": "5m", "indicators": "sma:3,rsi:14"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["cached"] is False and len(body["key"]) == 64
    assert body["source"] == {"kind": "symbol", "symbol": "ACME", "venue": "XNYS", "interval": "5m",
                              "session": "regular", "calendar": "XNYS", "start": "2024-11-26T05:00:00Z",
                              "end": "2024-11-27T05:00:00Z"}  # fmt: skip
    assert body["parameters"]["indicators"] == "rsi:14,sma:3"
    bars = user_api.get("/api/v1/bars?symbol=ACME&interval=5m&start=2024-11-26&end=2024-11-26").json()["bars"]
    report = body["report"]
    assert report["period"] == {"first": "2024-11-26T14:30:00Z", "last": "2024-11-26T20:55:00Z",
                                "as_of": "2024-11-26T21:00:00Z", "bars": 78, "sessions": 1, "interval": "5m",
                                "periods_per_year": 252 * 78}  # fmt: skip
    closes = [bar["c"] for bar in bars]
    assert report["returns"]["total"] == pytest.approx(closes[-1] / closes[0] - 1)
    assert report["indicators"]["values"]["sma_3"]["value"] == pytest.approx(sum(closes[-3:]) / 3)
    indicators = user_api.get(
        "/api/v1/analytics/indicators?symbol=ACME&interval=5m&start=2024-11-26&end=2024-11-26&names=rsi:14"
    ).json()
    assert report["indicators"]["values"]["rsi_14"]["value"] == pytest.approx(indicators["series"]["rsi_14"][-1])
    assert report["volume"]["last_session"]["date"] == "2024-11-26"


def test_nothing_after_end_is_used(user_api, stored_bars):
    body = post(user_api, {**DAY, "interval": "5m", "end": "2024-11-26T15:02:30Z"}).json()
    period = body["report"]["period"]
    # The 1m bar opening 15:02 closes after end: the last 5m bar holds only 15:00 and 15:01.
    assert (period["last"], period["as_of"], period["bars"]) == ("2024-11-26T15:00:00Z", "2024-11-26T15:02:30Z", 7)
    minute_1501 = stored_bars[stored_bars["ts"] == pd.Timestamp("2024-11-26T15:01Z")]
    assert body["report"]["returns"]["last_close"] == minute_1501["close"].iloc[0]


def test_uploaded_file_gives_the_report_of_the_same_stored_bars(user_api, stored_bars):
    stored = post(user_api, DAY).json()
    response = upload(user_api, day_csv(stored_bars))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["source"]["kind"] == "file" and body["source"]["interval"] == "1m"
    assert body["source"]["interval_inferred"] is True and body["source"]["calendar"] == "XNYS"
    assert body["report"] == stored["report"]  # the same bars summarize the same way
    again = upload(user_api, day_csv(stored_bars)).json()
    assert (again["key"], again["cached"]) == (body["key"], True)


def test_sent_bars_are_cached_per_user_stored_bars_for_all(user_api, other_user, stored_bars):
    from rest_framework.test import APIClient

    other_api = APIClient()
    other_api.force_authenticate(other_user)
    mine, theirs = upload(user_api, day_csv(stored_bars)).json(), upload(other_api, day_csv(stored_bars)).json()
    # A shared entry would tell the second user that someone had sent the same bars.
    assert (mine["cached"], theirs["cached"]) == (False, False) and mine["key"] != theirs["key"]
    assert theirs["report"] == mine["report"]
    first, second = post(user_api, DAY).json(), post(other_api, DAY).json()
    assert (first["cached"], second["cached"], second["key"]) == (False, True, first["key"])


def test_inline_bars_and_naive_timestamps_with_tz(user_api):
    rows = [
        {"t": f"2024-11-26T09:{30 + i}:00", "o": 10 + i, "h": 10.5 + i, "l": 9.5 + i, "c": 10.2 + i, "v": 100}
        for i in range(10)
    ]
    body = post(user_api, {"bars": rows, "tz": "America/New_York", "indicators": "sma:3"}).json()
    assert body["report"]["period"]["first"] == "2024-11-26T14:30:00Z"
    assert body["report"]["trend"]["direction"] == "up"
    assert error_fields(post(user_api, {"bars": rows})) == ["timestamp"]


def test_file_with_several_symbols_needs_symbol(user_api):
    csv = "symbol,timestamp,open,high,low,close,volume\n" + "".join(
        f"{name},2024-11-26T14:{30 + i}:00Z,10,11,9,10,5\n" for name in ("AAA", "BBB") for i in range(3)
    )
    assert error_fields(upload(user_api, csv)) == ["symbol"]
    picked = upload(user_api, csv, symbol="bbb").json()
    assert (picked["source"]["symbol"], picked["report"]["period"]["bars"]) == ("BBB", 3)
    assert error_fields(upload(user_api, csv, symbol="CCC")) == ["symbol"]


def test_upload_range_and_calendar_knobs(user_api, stored_bars):
    csv = day_csv(stored_bars)
    body = upload(user_api, csv, start="2024-11-26T15:00:00Z", end="2024-11-26T15:10:00Z", calendar="24/7").json()
    assert (body["report"]["period"]["bars"], body["source"]["calendar"]) == (10, "24/7")
    assert body["report"]["period"]["periods_per_year"] == 365 * 1440
    assert error_fields(upload(user_api, csv, calendar="MARS")) == ["calendar"]
    assert error_fields(upload(user_api, csv, start="2030-01-01")) == ["start"]


# -------------------------------------------------------------------- cache


def test_repeat_request_is_answered_from_the_cache(user_api, stored_bars):
    payload = {**DAY, "interval": "15m", "indicators": "sma:5,bbands:20:2"}
    with mock.patch.object(report_services, "build_report", wraps=report_services.build_report) as build:
        first = post(user_api, payload).json()
        again = post(user_api, {**payload, "indicators": "BBANDS:20:2, sma:5"}).json()
    assert build.call_count == 1
    assert (first["cached"], again["cached"]) == (False, True)
    assert again["key"] == first["key"] and again["report"] == first["report"]
    assert AnalyticsReport.objects.count() == 1
    other = post(user_api, {**payload, "breakout_bars": 5}).json()
    assert other["cached"] is False and AnalyticsReport.objects.count() == 2


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "symbol"),
        ({"symbol": "NOPE"}, "symbol"),
        ({**DAY, "indicators": "wobble:3"}, "indicators"),
        ({**DAY, "indicators": "sma"}, "indicators"),
        ({**DAY, "interval": "5x"}, "interval"),
        ({**DAY, "interval": "30s"}, "interval"),  # finer than the stored 1m bars
        ({**DAY, "start": "not-a-time"}, "start"),
        ({**DAY, "start": "2024-11-27", "end": "2024-11-26"}, "end"),
        ({**DAY, "start": "2030-01-02", "end": "2030-01-03"}, "start"),  # no bars in range
        ({**DAY, "session": "night"}, "session"),
        ({**DAY, "cross_fast": 200}, "cross_fast"),
        ({**DAY, "max_events": 5000}, "max_events"),
        ({**DAY, "gap_min": "lots"}, "gap_min"),
        ({**DAY, "tz": "UTC"}, "tz"),
        ({**DAY, "calendar": "24/7"}, "calendar"),
        ({**DAY, "bars": [], "file": "x"}, "bars"),
    ],
)
def test_bad_requests_are_400_naming_the_field(user_api, stored_bars, payload, field):
    assert field in error_fields(post(user_api, payload))


def test_a_body_that_is_not_an_object_is_400(user_api):
    response = user_api.post(URL, [1, 2], format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"


def test_bad_files_are_400_with_row_and_field(user_api):
    bad_row = (
        "timestamp,open,high,low,close,volume\n2024-11-26T14:30:00Z,10,11,9,10,5\n2024-11-26T14:31:00Z,10,9,11,10,5\n"
    )
    details = upload(user_api, bad_row).json()["error"]["details"]
    assert {(d["row"], d["field"]) for d in details} >= {(2, "high")}
    assert error_fields(upload(user_api, b"\x89PNG\r\n\x1a\n\x00\x00", name="chart.png")) == ["file"]
    assert error_fields(upload(user_api, "timestamp,open,high,low,volume\n2024-11-26T14:30:00Z,1,1,1,1\n")) == ["close"]
    assert error_fields(upload(user_api, "")) == ["file"]
    assert error_fields(upload(user_api, "timestamp,open,high,low,close,volume\n2024-11-26T14:30:00,1,1,1,1,1\n")) == [
        "timestamp"
    ]
    conflict = (
        "timestamp,open,high,low,close,volume\n"
        + "2024-11-26T14:30:00Z,10,11,9,10,5\n2024-11-26T14:30:00Z,10,11,9,10.5,5\n"
    )
    assert error_fields(upload(user_api, conflict)) == ["ts"]


def test_parquet_upload_is_read_like_an_import(user_api, stored_bars):
    buffer = io.BytesIO()
    stored_bars.iloc[:50].drop(columns=["trade_count"]).to_parquet(buffer, index=False)
    body = upload(user_api, buffer.getvalue(), name="bars.parquet").json()
    assert (body["source"]["format"], body["report"]["period"]["bars"]) == ("parquet", 50)


# -------------------------------------------------------------------- batch


def test_batch_answers_in_order_and_one_bad_item_fails_alone(user_api, stored_bars):
    inline = [
        {"t": f"2024-11-26T14:{30 + i}:00Z", "o": 10, "h": 11, "l": 9, "c": 10 + i / 10, "v": 1} for i in range(5)
    ]
    reports = [
        {**DAY, "interval": "30m"},
        {**DAY, "indicators": "wobble"},
        {"bars": inline, "indicators": "sma:2"},
        "not an object",
        {**DAY, "interval": "30m"},
    ]
    response = user_api.post(BATCH_URL, {"reports": reports}, format="json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [item["status"] for item in results] == [200, 400, 200, 400, 200]
    assert results[0]["report"]["period"]["bars"] == 13
    assert results[1]["error"]["details"][0]["field"] == "indicators"
    assert results[2]["report"]["period"]["bars"] == 5
    assert results[3]["error"]["code"] == "invalid"
    assert results[3]["error"]["details"][0]["field"] == "reports[3]"
    assert (results[0]["cached"], results[4]["cached"], results[4]["key"]) == (False, True, results[0]["key"])


def test_batch_limits_are_400_naming_reports(user_api):
    for body in ({}, {"reports": []}, {"reports": [{"symbol": "ACME"}] * 51}, {"reports": "ACME"}):
        assert error_fields(user_api.post(BATCH_URL, body, format="json"))[0].startswith("reports")


# ------------------------------------------------------- auth, schema, admin


def test_anonymous_calls_are_401(api, stored_bars):
    assert post(api, DAY).status_code == 401
    assert api.post(BATCH_URL, {"reports": [DAY]}, format="json").status_code == 401


def test_session_login_works_too(client, user, stored_bars):
    client.force_login(user)
    response = client.post(URL, json.dumps(DAY), content_type="application/json")
    assert response.status_code == 200


def test_schema_documents_both_endpoints(user_api):
    schema = yaml.safe_load(user_api.get("/api/schema/").content)
    assert {"/api/v1/analytics/report", "/api/v1/analytics/report/batch"} <= set(schema["paths"])
    content = schema["paths"]["/api/v1/analytics/report"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(content)


def test_admin_lists_reports_read_only(admin_client, user_api, stored_bars):
    post(user_api, DAY)
    report = AnalyticsReport.objects.get()
    listing = admin_client.get("/admin/marketdata/analyticsreport/")
    assert listing.status_code == 200 and report.key[:12].encode() in listing.content
    assert admin_client.get("/admin/marketdata/analyticsreport/add/").status_code == 403
    page = admin_client.get(f"/admin/marketdata/analyticsreport/{report.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content


def test_venue_picks_among_listings(user_api, stored_bars):
    SymbolFactory(ticker="ACME", venue="XNAS")
    assert error_fields(post(user_api, DAY)) == ["venue"]
    assert post(user_api, {**DAY, "venue": "XNYS"}).status_code == 200


def test_a_daily_bar_counts_only_once_its_session_has_closed(user_api):
    days = pd.bdate_range("2024-11-18", "2024-11-26")  # Mon 18th .. Tue 26th: seven sessions
    bars = [{"t": f"{day:%Y-%m-%d}T14:30:00Z", "o": 10 + i, "h": 11 + i, "l": 9 + i, "c": 10.5 + i, "v": 100}
            for i, day in enumerate(days)]  # fmt: skip
    during = post(user_api, {"bars": bars, "interval": "1d", "end": "2024-11-26T15:00:00Z"}).json()
    assert during["report"]["period"]["last"] == "2024-11-25T14:30:00Z"  # the 26th's close is not known at 15:00
    after = post(user_api, {"bars": bars, "interval": "1d", "end": "2024-11-26T21:00:00Z"}).json()
    assert after["report"]["period"]["last"] == "2024-11-26T14:30:00Z"  # the XNYS close, 16:00 New York


def test_stored_daily_bars_count_only_once_their_session_has_closed(user_api, symbol):
    from marketdata import store

    days = pd.bdate_range("2024-11-18", "2024-11-26")
    frame = pd.DataFrame({"ts": pd.DatetimeIndex([f"{day:%Y-%m-%d}T14:30:00Z" for day in days]),
                          "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 100.0,
                          "trade_count": 5.0, "vwap": 10.2})  # fmt: skip
    store.bars_write(symbol_id=symbol.id, interval="1d", frame=frame)
    payload = {"symbol": "ACME", "interval": "1d", "start": "2024-11-18"}
    during = post(user_api, {**payload, "end": "2024-11-26T15:00:00Z"}).json()
    assert during["report"]["period"]["last"] == "2024-11-25T14:30:00Z"
    after = post(user_api, {**payload, "end": "2024-11-26T21:00:00Z"}).json()
    assert after["report"]["period"]["last"] == "2024-11-26T14:30:00Z"


@pytest.mark.parametrize(("calendar", "inferred"), [("XNYS", "5d"), ("24/7", "7d")])
def test_weekly_bars_are_inferred_as_the_sessions_of_a_week(user_api, calendar, inferred):
    weeks = pd.date_range("2023-01-02T14:30:00Z", periods=60, freq="7D")
    bars = [{"t": f"{week:%Y-%m-%dT%H:%M:%SZ}", "o": 10, "h": 11, "l": 9, "c": 10 + i / 100, "v": 1}
            for i, week in enumerate(weeks)]  # fmt: skip
    body = post(user_api, {"bars": bars, "calendar": calendar}).json()
    assert body["source"]["interval"] == inferred
    assert body["report"]["period"]["periods_per_year"] == pytest.approx(52, abs=2)  # 252 / 5 on XNYS
