"""The source registry, fetch requests, payload checks, retries and the synthetic source."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from marketdata.core.errors import RowError
from marketdata.providers import base
from marketdata.providers.base import (
    KIND_BARS,
    KIND_QUOTES,
    KIND_TRADES,
    FetchRequest,
    HistoricalSource,
    PayloadError,
    ProviderError,
    RetryPolicy,
    SyntheticSource,
    UnknownSource,
    UnsupportedSchema,
    checked_bars,
    checked_ticks,
    fetch,
    get_source,
    register_source,
    source_names,
)
from marketdata.providers.synthetic import synthetic_bars

START = pd.Timestamp("2024-03-04 14:30", tz="UTC")
CONFIG = {
    "databento": {"api_key": "db-test-key"},
    "ccxt": {},
    "deribit": {},
    "schwab": {"token_path": "/nonexistent/token.json", "api_key": "key", "app_secret": "secret"},
    "synthetic": {},
}


def test_the_five_sources_are_registered():
    assert source_names() == ["ccxt", "databento", "deribit", "schwab", "synthetic"]


@pytest.mark.parametrize("name", sorted(CONFIG))
def test_each_registered_source_builds_and_speaks_the_protocol(name: str):
    source = get_source(name, **CONFIG[name])

    assert isinstance(source, HistoricalSource)
    assert source.name == name
    assert "ohlcv" in source.schemas or any(schema.startswith("ohlcv-") for schema in source.schemas)
    assert source.symbology


def test_unknown_source_is_refused_naming_the_known_ones():
    with pytest.raises(UnknownSource, match="unknown source 'polygon'.*databento") as caught:
        get_source("polygon")

    assert isinstance(caught.value, ProviderError)


def test_registered_factory_gets_the_caller_config(monkeypatch):
    monkeypatch.setattr(base, "_FACTORIES", dict(base._FACTORIES))
    register_source("demo", lambda **config: SyntheticSource() if config == {"flag": 1} else None)

    assert "demo" in source_names()
    assert isinstance(get_source("demo", flag=1), SyntheticSource)


# --- requests ------------------------------------------------------------------------


def test_request_keeps_utc_times_and_refuses_naive_ones():
    request = FetchRequest("synthetic", "ACME", "2024-03-04T09:30-05:00", "2024-03-04T16:00-05:00", interval="5m")

    assert request.start == START and str(request.start.tz) == "UTC"
    with pytest.raises(ValueError, match="timezone-aware"):
        FetchRequest("synthetic", "ACME", "2024-03-04 09:30", "2024-03-04 16:00", interval="5m")


def test_request_end_must_come_after_start():
    with pytest.raises(ValueError, match="must be after start"):
        FetchRequest("synthetic", "ACME", START, START, interval="1m")


@pytest.mark.parametrize(
    ("schema", "kind"),
    [("ohlcv-1h", KIND_BARS), ("trades", KIND_TRADES), ("tbbo", KIND_QUOTES), ("mbp-1", KIND_QUOTES)],
)
def test_request_kind_follows_the_schema(schema: str, kind: str):
    assert FetchRequest("databento", "ESH4", START, START + pd.Timedelta(hours=1), schema=schema).kind == kind


def test_unknown_schema_is_unsupported():
    with pytest.raises(UnsupportedSchema, match="'definition'"):
        FetchRequest("databento", "ESH4", START, START + pd.Timedelta(hours=1), schema="definition")


def test_bar_interval_comes_from_an_ohlcv_schema():
    request = FetchRequest("databento", "ESH4", START, START + pd.Timedelta(hours=1), schema="ohlcv-1h")

    assert str(request.bar_interval()) == "1h"


# --- payload checks ------------------------------------------------------------------


def bars(highs: list[float], ts_minutes: list[int] | None = None) -> pd.DataFrame:
    count = len(highs)
    minutes = ts_minutes if ts_minutes is not None else list(range(count))
    return pd.DataFrame(
        {
            "ts": [START + pd.Timedelta(minutes=k) for k in minutes],
            "open": [10.0] * count,
            "high": highs,
            "low": [9.0] * count,
            "close": [10.0] * count,
            "volume": [100.0] * count,
        }
    )


def test_checked_bars_refuses_a_payload_with_high_below_low_naming_the_source_row():
    with pytest.raises(PayloadError) as caught:
        checked_bars(bars([11.0, 8.0]), source="demo", symbol="ACME", rows=np.array([7, 8]))

    assert caught.value.errors[0] == RowError(8, "high", "high 8.0 is below low 9.0")
    assert "demo returned invalid bars for ACME: row 8" in str(caught.value)


def test_checked_bars_drops_exact_repeats_and_sorts():
    frame = bars([11.0, 11.0, 11.0], ts_minutes=[1, 0, 1])

    checked = checked_bars(frame, source="demo", symbol="ACME")

    assert checked["ts"].tolist() == [START, START + pd.Timedelta(minutes=1)]
    assert list(checked.columns) == ["ts", "open", "high", "low", "close", "volume", "trade_count", "vwap"]


def test_checked_bars_refuses_two_different_bars_for_one_time():
    with pytest.raises(PayloadError, match="conflicts"):
        checked_bars(bars([11.0, 12.0], ts_minutes=[0, 0]), source="demo", symbol="ACME")


def test_trade_without_a_price_refuses_the_payload_but_an_empty_quote_side_is_fine():
    ts = [START, START + pd.Timedelta(seconds=1)]
    trades = pd.DataFrame({"ts": ts, "price": [10.0, np.nan], "size": [5.0, 3.0], "side": ["buy", "sell"]})
    quotes = pd.DataFrame(
        {"ts": ts, "bid": [9.9, 9.9], "bid_size": [1.0, 1.0], "ask": [np.nan, 10.1], "ask_size": [0.0, 2.0]}
    )

    with pytest.raises(PayloadError) as caught:
        checked_ticks(trades, kind=KIND_TRADES, source="demo", symbol="ACME", rows=np.array([4, 5]))

    assert caught.value.errors == [RowError(5, "price", "price is missing or not finite")]
    assert len(checked_ticks(quotes, kind=KIND_QUOTES, source="demo", symbol="ACME")) == 2


# --- retries ---------------------------------------------------------------------------


def test_retry_policy_backs_off_exponentially_up_to_the_cap():
    waits: list[float] = []
    attempts = iter([ProviderError("busy", retryable=True)] * 4)

    def call() -> str:
        error = next(attempts, None)
        if error is not None:
            raise error
        return "done"

    policy = RetryPolicy(sleep=waits.append, max_retries=5, backoff_seconds=1.0, max_backoff_seconds=5.0)

    assert policy.run(call) == "done"
    assert waits == [1.0, 2.0, 4.0, 5.0]


def test_retry_policy_raises_a_permanent_error_at_once():
    waits: list[float] = []

    def call() -> None:
        raise ProviderError("bad request", retryable=False)

    with pytest.raises(ProviderError, match="bad request"):
        RetryPolicy(sleep=waits.append).run(call)
    assert waits == []


# --- synthetic source ------------------------------------------------------------------


def test_synthetic_source_returns_the_synthetic_bars_of_the_range():
    request = FetchRequest(
        "synthetic", "ACME", START, START + pd.Timedelta(hours=2), interval="5m", options={"calendar": "XNYS"}
    )

    frame = get_source("synthetic").fetch_bars(request)

    expected = synthetic_bars("ACME", "XNYS", dt.date(2024, 3, 4), dt.date(2024, 3, 4), interval_seconds=300)
    pd.testing.assert_frame_equal(frame, expected.iloc[:24].reset_index(drop=True))


def test_synthetic_source_serves_trades_and_quotes_inside_the_range():
    source = SyntheticSource()
    end = START + pd.Timedelta(minutes=10)

    trades = fetch(source, FetchRequest("synthetic", "ACME", START, end, schema="trades"))
    quotes = fetch(source, FetchRequest("synthetic", "ACME", START, end, schema="quotes"))

    for frame in (trades, quotes):
        assert len(frame) > 0
        assert frame["ts"].min() >= START and frame["ts"].max() < end
    assert set(trades["side"]) <= {"buy", "sell"}


def test_synthetic_source_refuses_daily_bars():
    request = FetchRequest("synthetic", "ACME", START, START + pd.Timedelta(days=5), interval="1d")

    with pytest.raises(UnsupportedSchema, match="intraday"):
        SyntheticSource().fetch_bars(request)


def test_bar_only_source_refuses_trades():
    source = get_source("deribit")

    with pytest.raises(UnsupportedSchema, match="trades"):
        fetch(source, FetchRequest("deribit", "BTC", START, START + pd.Timedelta(hours=1), schema="trades"))


def test_free_source_estimates_one_row_per_interval():
    request = FetchRequest("ccxt", "BTC/USDT", START, START + pd.Timedelta(hours=2), interval="1m", exchange="okx")

    estimate = get_source("ccxt").estimate(request)

    assert (estimate.cost_usd, estimate.rows_estimate) == (0.0, 120)
