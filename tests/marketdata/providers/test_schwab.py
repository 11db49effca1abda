"""Schwab price history through a real schwab-py client, answered at httpx's transport."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pandas as pd
import pytest

from marketdata.providers.base import FetchRequest, PayloadError, ProviderError, RetryPolicy, UnsupportedSchema
from marketdata.providers.schwab import SchwabSource, client_from_token_file

ACCESS_TOKEN = "I0.b2F1dGgyLmJkYy5zY2h3YWIuY29t.test-access-token"
PRICE_HISTORY_URL = "https://api.schwabapi.com/marketdata/v1/pricehistory"
T0 = pd.Timestamp("2024-01-02 14:30", tz="UTC")
T0_MS = 1704205800000

# Price history as Schwab answers it (AAPL, 1-minute candles, 2024-01-02 09:30 New York).
MINUTE_HISTORY = {
    "candles": [
        {"open": 187.15, "high": 187.5, "low": 186.98, "close": 187.26, "volume": 1283411, "datetime": T0_MS},
        {"open": 187.26, "high": 187.42, "low": 186.87, "close": 186.92, "volume": 402330, "datetime": T0_MS + 60_000},
        {"open": 186.93, "high": 187.1, "low": 186.64, "close": 186.79, "volume": 361204, "datetime": T0_MS + 120_000},
    ],
    "symbol": "AAPL",
    "empty": False,
    "previousClose": 192.53,
    "previousCloseDate": 1704088800000,
}
# Daily candles are stamped at midnight Central time (06:00 UTC in winter).
DAILY_HISTORY = {
    "candles": [
        {
            "open": 187.15,
            "high": 188.44,
            "low": 183.885,
            "close": 185.64,
            "volume": 82488674,
            "datetime": 1704175200000,
        },
        {"open": 184.22, "high": 185.88, "low": 183.43, "close": 184.25, "volume": 58414460, "datetime": 1704261600000},
    ],
    "symbol": "AAPL",
    "empty": False,
}


class SchwabAPI:
    """Answer httpx requests with recorded JSON and keep them."""

    def __init__(self, *answers: httpx.Response | dict) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, dict):
            return httpx.Response(200, json=answer, request=request)
        return httpx.Response(answer.status_code, content=answer.content, request=request)

    def params(self, index: int = 0) -> dict[str, str]:
        return dict(parse_qsl(self.requests[index].url.query.decode()))


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    now = int(time.time())
    token = {
        "access_token": ACCESS_TOKEN,
        "refresh_token": "test-refresh-token",
        "token_type": "Bearer",
        "expires_in": 1800,
        "expires_at": now + 1800,
        "scope": "api",
        "id_token": "test-id-token",
    }
    path = tmp_path / "schwab-token.json"
    path.write_text(json.dumps({"creation_timestamp": now, "token": token}))
    return path


def serve(monkeypatch: pytest.MonkeyPatch, *answers: httpx.Response | dict) -> SchwabAPI:
    api = SchwabAPI(*answers)
    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", lambda transport, request: api.answer(request))
    return api


def make_source(token_file: Path, **kwargs) -> SchwabSource:
    return SchwabSource(
        token_path=token_file,
        api_key="test-app-key",
        app_secret="test-app-secret",
        retry=RetryPolicy(sleep=lambda seconds: None),
        clock=lambda: pd.Timestamp("2024-03-01", tz="UTC"),
        **kwargs,
    )


def request(interval: str, start: pd.Timestamp = T0, end: pd.Timestamp | None = None) -> FetchRequest:
    return FetchRequest("schwab", "AAPL", start, end or start + pd.Timedelta(hours=1), interval=interval)


def test_minute_candles_become_bars_labelled_by_their_open(monkeypatch, token_file):
    api = serve(monkeypatch, MINUTE_HISTORY)

    bars = make_source(token_file).fetch_bars(request("1m"))

    assert bars["ts"].tolist() == [T0, T0 + pd.Timedelta(minutes=1), T0 + pd.Timedelta(minutes=2)]
    assert bars["open"].tolist() == [187.15, 187.26, 186.93]
    assert bars["close"].tolist() == [187.26, 186.92, 186.79]
    assert bars["volume"].tolist() == [1283411.0, 402330.0, 361204.0]
    [sent] = api.requests
    assert str(sent.url).startswith(PRICE_HISTORY_URL)
    assert sent.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    params = api.params()
    assert (params["symbol"], params["frequencyType"], params["frequency"]) == ("AAPL", "minute", "1")
    assert int(params["startDate"]) == T0_MS
    assert int(params["endDate"]) == T0_MS + 3_600_000


def test_daily_candles_are_labelled_at_midnight_utc_of_their_date(monkeypatch, token_file):
    api = serve(monkeypatch, DAILY_HISTORY)
    start = pd.Timestamp("2024-01-01", tz="UTC")

    bars = make_source(token_file).fetch_bars(request("1d", start, pd.Timestamp("2024-01-05", tz="UTC")))

    assert bars["ts"].tolist() == [pd.Timestamp("2024-01-02", tz="UTC"), pd.Timestamp("2024-01-03", tz="UTC")]
    assert bars["low"].tolist() == [183.885, 183.43]
    assert api.params()["frequencyType"] == "daily"


def test_long_minute_range_is_asked_in_windows(monkeypatch, token_file):
    api = serve(monkeypatch, {"candles": [], "symbol": "AAPL", "empty": True})
    start = pd.Timestamp("2024-01-02", tz="UTC")

    bars = make_source(token_file, minute_window_days=10).fetch_bars(
        request("1m", start, start + pd.Timedelta(days=25))
    )

    assert bars.empty
    starts = [int(api.params(i)["startDate"]) for i in range(len(api.requests))]
    assert [pd.Timestamp(ms, unit="ms", tz="UTC") for ms in starts] == [
        start,
        start + pd.Timedelta(days=10),
        start + pd.Timedelta(days=20),
    ]


def test_candle_with_high_below_low_is_a_payload_error(monkeypatch, token_file):
    broken = json.loads(json.dumps(MINUTE_HISTORY))
    broken["candles"][1]["high"] = 186.5
    serve(monkeypatch, broken)

    with pytest.raises(PayloadError) as caught:
        make_source(token_file).fetch_bars(request("1m"))

    assert caught.value.errors[0].row == 2 and caught.value.errors[0].field == "high"


def test_rejected_access_token_is_a_clear_provider_error(monkeypatch, token_file):
    serve(monkeypatch, httpx.Response(401, json={"errors": [{"status": 401, "title": "Unauthorized"}]}))

    with pytest.raises(ProviderError, match="HTTP 401") as caught:
        make_source(token_file).fetch_bars(request("1m"))

    assert caught.value.retryable is False


def test_server_error_is_retried(monkeypatch, token_file):
    api = serve(monkeypatch, httpx.Response(503, text="Service Unavailable"), MINUTE_HISTORY)

    bars = make_source(token_file).fetch_bars(request("1m"))

    assert len(bars) == 3 and len(api.requests) == 2


def test_missing_token_file_gives_a_clear_provider_error(tmp_path: Path):
    source = make_source(tmp_path / "absent.json")

    with pytest.raises(ProviderError, match="token file .*absent.json does not exist"):
        source.fetch_bars(request("1m"))


def test_token_file_in_an_old_format_gives_a_clear_provider_error(tmp_path: Path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"access_token": "x"}))

    with pytest.raises(ProviderError, match="log in again"):
        client_from_token_file(path, "test-app-key", "test-app-secret")


def test_injected_client_is_used_as_is(monkeypatch, token_file):
    serve(monkeypatch, MINUTE_HISTORY)
    client = make_source(token_file).client

    bars = SchwabSource(client, clock=lambda: pd.Timestamp("2024-03-01", tz="UTC")).fetch_bars(request("1m"))

    assert len(bars) == 3


def test_interval_schwab_does_not_serve_is_unsupported(token_file):
    with pytest.raises(UnsupportedSchema, match="1h"):
        make_source(token_file).fetch_bars(request("1h"))
