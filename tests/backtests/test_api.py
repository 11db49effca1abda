import datetime as dt

import pandas as pd
import pytest
from rest_framework.test import APIClient

from backtests.models import BacktestSettings
from marketdata import store
from marketdata.providers.synthetic import synthetic_bars
from mdserver.models import Job
from tests.factories import SymbolFactory

FIRST, LAST = dt.date(2024, 10, 1), dt.date(2024, 11, 29)


@pytest.fixture
def demo_bars(symbol):
    frame = synthetic_bars("ACME", "XNYS", FIRST, LAST)
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=frame)
    return frame


def settings_body(**overrides) -> dict:
    return {"name": "SMA 5/20", "symbol": "ACME", "interval": "15m", "start_date": FIRST.isoformat(),
            "end_date": LAST.isoformat(), "initial_cash": 100_000, "fee": 0.001, "slippage": 2,
            "strategy": "sma_crossover", "params": {"fast": 5, "slow": 20}, **overrides}  # fmt: skip


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.django_db
def test_strategies_and_presets(user_api):
    body = user_api.get("/api/v1/strategies").json()
    names = [s["name"] for s in body["strategies"]]
    assert names == ["buy_and_hold", "sma_crossover", "rsi_reversion", "bollinger_breakout", "protective_put"]
    assert "fee" in body["settings"]
    presets = {p["id"]: p for p in user_api.get("/api/v1/presets").json()}
    assert {"march-2020-crash", "2022-rate-hikes", "2024-gold-rally", "demo"} <= set(presets)
    assert presets["march-2020-crash"]["start_date"].startswith("2020-02")


@pytest.mark.django_db
def test_settings_are_owner_only(user, other_user, symbol):
    mine = as_user(user).post("/api/v1/backtest-settings", settings_body(), format="json")
    assert mine.status_code == 201, mine.content
    created = mine.json()
    assert (created["symbol"], created["params"]) == ("ACME", {"fast": 5, "slow": 20})
    intruder = as_user(other_user)
    assert intruder.get("/api/v1/backtest-settings").json()["results"] == []
    assert intruder.get(f"/api/v1/backtest-settings/{created['id']}").status_code == 404
    assert intruder.patch(f"/api/v1/backtest-settings/{created['id']}", {"name": "x"}, format="json").status_code == 404
    assert intruder.delete(f"/api/v1/backtest-settings/{created['id']}").status_code == 404
    assert intruder.post("/api/v1/backtests", {"settings_id": created["id"]}, format="json").status_code == 404
    changed = as_user(user).patch(
        f"/api/v1/backtest-settings/{created['id']}", {"params": {"fast": 3, "slow": 9}}, format="json"
    )
    assert changed.json()["params"] == {"fast": 3, "slow": 9}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"end_date": "2024-09-01"}, "end_date"),
        ({"params": {"fast": 20, "slow": 20}}, "params.fast"),
        ({"fee": -0.01}, "fee"),
        ({"symbol": "NOPE"}, "symbol"),
        ({"strategy": "martingale"}, "strategy"),
        ({"interval": "7x"}, "interval"),
        ({"params": {"fast": "ten", "slow": 20}}, "params.fast"),
        ({"end_date": "9999-12-31"}, "end_date"),
        ({"end_date": "2200-01-01"}, "end_date"),
        ({"start_date": "0001-01-01"}, "start_date"),
        ({"start_date": "1899-12-31"}, "start_date"),
    ],
)
def test_invalid_settings_are_400_naming_the_field(user_api, symbol, overrides, field):
    response = user_api.post("/api/v1/backtest-settings", settings_body(**overrides), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == field


@pytest.mark.django_db
def test_run_stores_metrics_equity_trades_and_reruns_to_the_same_hash(user_api, other_user, demo_bars):
    settings_id = user_api.post("/api/v1/backtest-settings", settings_body(), format="json").json()["id"]
    first = user_api.post("/api/v1/backtests", {"settings_id": settings_id}, format="json")
    assert first.status_code == 202
    run = user_api.get(f"/api/v1/backtests/{first.json()['id']}").json()
    assert run["status"] == "succeeded", run["message"]
    assert set(run["metrics"]) >= {
        "total_return",
        "cagr",
        "sharpe",
        "sortino",
        "max_drawdown",
        "win_rate",
        "trades",
        "exposure",
    }
    assert run["metrics"]["trades"] == len(run["trades"]) > 0
    assert run["data"]["rows"] == len(demo_bars) // 15 and len(run["data"]["hash"]) == 64
    trade = run["trades"][0]
    assert set(trade) >= {"entry_time", "entry_price", "exit_time", "exit_price", "size", "pnl", "return"}
    assert run["equity"][0]["t"].endswith("Z") and len(run["equity"]) == run["data"]["rows"]
    second = user_api.post("/api/v1/backtests", {"settings_id": settings_id}, format="json").json()
    assert second["result_hash"] == run["result_hash"]
    assert as_user(other_user).get(f"/api/v1/backtests/{run['id']}").status_code == 404
    assert [r["id"] for r in user_api.get("/api/v1/backtests").json()["results"]] == [second["id"], run["id"]]


@pytest.mark.django_db
def test_one_off_settings_run_without_saving(user_api, demo_bars):
    body = {"settings": settings_body(strategy="buy_and_hold", params={})}
    run = user_api.post("/api/v1/backtests", body, format="json").json()
    assert run["status"] == "succeeded" and run["settings_id"] is None
    assert run["metrics"]["trades"] == 1


@pytest.mark.django_db
def test_run_without_data_fails_with_a_clear_message(user_api, symbol):
    settings_id = user_api.post("/api/v1/backtest-settings", settings_body(), format="json").json()["id"]
    run = user_api.post("/api/v1/backtests", {"settings_id": settings_id}, format="json").json()
    assert run["status"] == "failed"
    assert "no 15m bars of ACME" in run["message"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("strategy,params", [("sma_crossover", {"fast": 5, "slow": 20}), ("rsi_reversion", {}),
                                             ("bollinger_breakout", {}), ("buy_and_hold", {})])  # fmt: skip
def test_event_engine_fed_by_the_replay_matches_the_vectorized_engine(user_api, demo_bars, strategy, params):
    body = settings_body(strategy=strategy, params=params, start_date="2024-11-01")
    settings_id = user_api.post("/api/v1/backtest-settings", body, format="json").json()["id"]
    vectorized = user_api.post("/api/v1/backtests", {"settings_id": settings_id}, format="json").json()
    event = user_api.post("/api/v1/backtests", {"settings_id": settings_id, "engine": "event"}, format="json").json()
    assert event["status"] == "succeeded", event["message"]
    assert [(t["entry_time"], t["entry_price"], t["exit_time"], t["exit_price"]) for t in event["trades"]] == [
        (t["entry_time"], t["entry_price"], t["exit_time"], t["exit_price"]) for t in vectorized["trades"]
    ]
    assert len(event["equity"]) == len(vectorized["equity"])
    for a, b in zip(event["equity"], vectorized["equity"], strict=True):
        assert a["t"] == b["t"] and abs(a["value"] - b["value"]) <= 1e-9
    assert event["result_hash"] == vectorized["result_hash"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("calendar,ticker,venue,first,last", [
    ("24/7", "BTC/USDT", "BINANCE", dt.date(2024, 11, 1), dt.date(2024, 11, 10)),  # sessions of 24 hours
    ("CME_Globex_Metals", "GC", "COMEX", dt.date(2024, 11, 4), dt.date(2024, 11, 15)),  # open the evening before
])  # fmt: skip
def test_event_engine_matches_the_vectorized_engine_on_sessions_outside_one_day(
    user_api, calendar, ticker, venue, first, last
):
    symbol = SymbolFactory(ticker=ticker, venue=venue, calendar=calendar)
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=synthetic_bars(ticker, calendar, first, last))
    body = settings_body(symbol=ticker, venue=venue, start_date=first.isoformat(), end_date=last.isoformat())
    settings_id = user_api.post("/api/v1/backtest-settings", body, format="json").json()["id"]
    vectorized = user_api.post("/api/v1/backtests", {"settings_id": settings_id}, format="json").json()
    event = user_api.post("/api/v1/backtests", {"settings_id": settings_id, "engine": "event"}, format="json").json()
    assert vectorized["status"] == event["status"] == "succeeded", event["message"]
    assert len(vectorized["trades"]) > 0
    assert [e["t"] for e in event["equity"]] == [v["t"] for v in vectorized["equity"]]
    assert event["trades"] == vectorized["trades"] and event["result_hash"] == vectorized["result_hash"]


@pytest.mark.django_db
def test_sweep_runs_the_grid_and_sorts_by_a_metric(user_api, demo_bars):
    settings_id = user_api.post("/api/v1/backtest-settings", settings_body(), format="json").json()["id"]
    grid = {"fast": [3, 5], "slow": [20, 30]}
    sweep = user_api.post("/api/v1/backtests/sweep", {"settings_id": settings_id, "grid": grid}, format="json")
    assert sweep.status_code == 202
    table = user_api.get(f"/api/v1/backtests/sweeps/{sweep.json()['id']}?sort=-sharpe").json()
    assert table["status"] == "succeeded" and len(table["runs"]) == 4
    assert sorted((r["params"]["fast"], r["params"]["slow"]) for r in table["runs"]) == [
        (3, 20),
        (3, 30),
        (5, 20),
        (5, 30),
    ]
    sharpes = [r["metrics"]["sharpe"] for r in table["runs"]]
    assert sharpes == sorted(sharpes, reverse=True)
    bad = user_api.post(
        "/api/v1/backtests/sweep", {"settings_id": settings_id, "grid": {"fast": [30], "slow": [20]}}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["field"] == "grid.fast"


@pytest.mark.django_db
def test_dates_out_of_range_are_400_on_update_and_one_off_runs(user_api, symbol):
    created = user_api.post("/api/v1/backtest-settings", settings_body(), format="json").json()
    changed = user_api.patch(f"/api/v1/backtest-settings/{created['id']}", {"end_date": "9999-12-31"}, format="json")
    assert changed.status_code == 400
    assert changed.json()["error"]["details"][0]["field"] == "end_date"
    assert "1900-01-01 up to 2200-01-01" in changed.json()["error"]["message"]
    one_off = user_api.post("/api/v1/backtests", {"settings": settings_body(start_date="0001-01-01")}, format="json")
    assert one_off.status_code == 400 and one_off.json()["error"]["details"][0]["field"] == "start_date"
    edges = settings_body(start_date="1900-01-01", end_date="2199-12-31")
    assert user_api.post("/api/v1/backtest-settings", edges, format="json").status_code == 201


@pytest.mark.django_db
def test_settings_saved_with_dates_out_of_range_are_400_to_run_and_sweep(user, user_api, symbol):
    """Rows saved before the date range was checked are refused when run, before any job is queued."""
    saved = BacktestSettings.objects.create(
        owner=user, name="far", symbol=symbol, interval="15m", start_date=FIRST, end_date=dt.date(9999, 12, 31),
        strategy="sma_crossover", params={"fast": 5, "slow": 20},
    )  # fmt: skip
    run = user_api.post("/api/v1/backtests", {"settings_id": saved.id}, format="json")
    assert run.status_code == 400 and run.json()["error"]["details"][0]["field"] == "end_date"
    body = {"settings_id": saved.id, "grid": {"fast": [3, 5]}}
    sweep = user_api.post("/api/v1/backtests/sweep", body, format="json")
    assert sweep.status_code == 400 and sweep.json()["error"]["details"][0]["field"] == "end_date"
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_a_fill_due_at_a_stored_open_of_zero_fails_the_run_naming_the_bar(user_api, symbol):
    frame = synthetic_bars("ACME", "XNYS", FIRST, LAST)
    second_bar = frame["ts"] == pd.Timestamp("2024-10-01T13:45:00Z")  # opens the second 15m bar: the first fill
    frame.loc[second_bar, ["open", "low"]] = 0.0
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=frame)
    body = {"settings": settings_body(strategy="buy_and_hold", params={})}
    run = user_api.post("/api/v1/backtests", body, format="json").json()
    assert run["status"] == "failed"
    assert run["message"].startswith("cannot fill an order at a price of 0 at 2024-10-01T13:45:00Z")
    assert run["errors"] == [{"field": "symbol", "message": run["message"]}]


@pytest.mark.django_db(transaction=True)
def test_event_engine_over_a_range_from_1900_replays_the_stored_bars_like_the_vectorized_engine(user_api, symbol):
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=synthetic_bars("ACME", "XNYS", FIRST, FIRST))
    body = settings_body(strategy="buy_and_hold", params={}, start_date="1900-01-01", end_date=FIRST.isoformat())
    settings_id = user_api.post("/api/v1/backtest-settings", body, format="json").json()["id"]
    vectorized = user_api.post("/api/v1/backtests", {"settings_id": settings_id}, format="json").json()
    event = user_api.post("/api/v1/backtests", {"settings_id": settings_id, "engine": "event"}, format="json").json()
    assert event["status"] == "succeeded", event["message"]
    assert len(event["equity"]) == len(vectorized["equity"]) == 26  # 15m bars of one session
    assert event["trades"] == vectorized["trades"] and event["result_hash"] == vectorized["result_hash"]
