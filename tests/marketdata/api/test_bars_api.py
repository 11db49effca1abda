import io

import numpy as np
import pandas as pd
import pytest

from marketdata import store
from marketdata.core.bars import resample_bars
from marketdata.core.calendar import get_calendar
from marketdata.providers.synthetic import synthetic_quotes, synthetic_trades
from tests.marketdata.api.conftest import FIRST_DAY, LAST_DAY

pytestmark = pytest.mark.django_db


def bars_of(response) -> pd.DataFrame:
    assert response.status_code == 200, response.content[:500]
    frame = pd.DataFrame(response.json()["bars"])
    frame["t"] = pd.to_datetime(frame["t"], utc=True)
    return frame


def expected(stored: pd.DataFrame, interval: str, label: str = "left") -> pd.DataFrame:
    sessions = get_calendar("XNYS").schedule(FIRST_DAY, LAST_DAY)
    return resample_bars(stored, interval, sessions, label=label)


def test_1m_bars_are_the_stored_bars(user_api, stored_bars):
    bars = bars_of(user_api.get("/api/v1/bars?symbol=ACME&interval=1m&limit=100000"))
    assert len(bars) == len(stored_bars)
    np.testing.assert_allclose(bars["c"].to_numpy(), stored_bars["close"].to_numpy())
    assert (bars["t"] == stored_bars["ts"]).all()
    body = user_api.get("/api/v1/bars?symbol=ACME&limit=1").json()
    assert set(body) == {"symbol", "venue", "interval", "label", "bars", "next"}
    assert set(body["bars"][0]) == {"t", "o", "h", "l", "c", "v", "n", "vwap"}
    assert body["bars"][0]["t"].endswith("Z")


def test_5m_bars_are_derived_from_1m(user_api, stored_bars):
    bars = bars_of(user_api.get("/api/v1/bars?symbol=ACME&interval=5m&limit=100000"))
    want = expected(stored_bars, "5m")
    assert (bars["t"] == want["ts"]).all()
    np.testing.assert_allclose(
        bars[["o", "h", "l", "c", "v"]].to_numpy(), want[["open", "high", "low", "close", "volume"]].to_numpy()
    )


def test_half_day_last_hour_bar_is_short_and_right_label_is_the_close(user_api, stored_bars):
    day = "start=2024-11-29&end=2024-11-29"
    left = bars_of(user_api.get(f"/api/v1/bars?symbol=ACME&interval=1h&{day}"))
    assert left["t"].iloc[-1] == pd.Timestamp("2024-11-29T17:30Z")
    assert len(left) == 4  # 14:30, 15:30, 16:30, 17:30 (cut at the 18:00 close)
    right = bars_of(user_api.get(f"/api/v1/bars?symbol=ACME&interval=1h&{day}&label=right"))
    assert right["t"].iloc[-1] == pd.Timestamp("2024-11-29T18:00Z")
    assert user_api.get(f"/api/v1/bars?symbol=ACME&interval=1h&{day}&label=right").json()["label"] == "right"


def test_7m_bars_align_to_the_session_open(user_api, stored_bars):
    bars = bars_of(user_api.get("/api/v1/bars?symbol=ACME&interval=7m&start=2024-11-26&end=2024-11-26"))
    assert bars["t"].iloc[0] == pd.Timestamp("2024-11-26T14:30Z")
    assert bars["t"].iloc[1] == pd.Timestamp("2024-11-26T14:37Z")
    # 390 minutes = 55 x 7 + 5: the last bar opens at 20:55Z and holds the final 5 minutes.
    assert bars["t"].iloc[-1] == pd.Timestamp("2024-11-26T20:55Z")
    assert len(bars) == 56


def test_1d_is_one_bar_per_session(user_api, stored_bars):
    bars = bars_of(user_api.get("/api/v1/bars?symbol=ACME&interval=1d"))
    assert [t.date().isoformat() for t in bars["t"]] == [
        "2024-11-25", "2024-11-26", "2024-11-27", "2024-11-29", "2024-12-02", "2024-12-03",
    ]  # fmt: skip
    first_day = stored_bars[stored_bars["ts"].dt.date == pd.Timestamp("2024-11-25").date()]
    assert bars["v"].iloc[0] == pytest.approx(first_day["volume"].sum())


@pytest.mark.parametrize("interval,limit", [("1m", 333), ("5m", 7), ("1h", 5), ("1d", 4)])
def test_paging_returns_every_bar_exactly_once(user_api, stored_bars, interval, limit):
    whole = bars_of(user_api.get(f"/api/v1/bars?symbol=ACME&interval={interval}&limit=100000"))
    seen = []
    url = f"/api/v1/bars?symbol=ACME&interval={interval}&limit={limit}"
    while url:
        body = user_api.get(url).json()
        assert len(body["bars"]) <= limit
        seen.extend(body["bars"])
        url = body["next"]
    paged = pd.DataFrame(seen)
    paged["t"] = pd.to_datetime(paged["t"], utc=True)
    assert paged["t"].is_unique
    pd.testing.assert_frame_equal(paged, whole)


def test_date_range_means_trading_dates_in_the_market(user_api, stored_bars):
    bars = bars_of(user_api.get("/api/v1/bars?symbol=ACME&start=2024-11-26&end=2024-11-27&limit=100000"))
    assert len(bars) == 2 * 390
    naive = bars_of(user_api.get("/api/v1/bars?symbol=ACME&start=2024-11-26T10:00&end=2024-11-26T10:05"))
    assert naive["t"].iloc[0] == pd.Timestamp("2024-11-26T15:00Z")  # 10:00 New York
    assert len(naive) == 5


def test_csv_and_parquet_formats_carry_the_same_bars(user_api, stored_bars):
    url = "/api/v1/bars?symbol=ACME&interval=15m&limit=100000"
    json_bars = bars_of(user_api.get(url))
    csv = user_api.get(url + "&format=csv")
    assert csv["Content-Type"].startswith("text/csv")
    csv_bars = pd.read_csv(io.StringIO(csv.content.decode()))
    np.testing.assert_allclose(csv_bars["c"].to_numpy(), json_bars["c"].to_numpy())
    parquet = user_api.get(url + "&format=parquet")
    table = pd.read_parquet(io.BytesIO(parquet.content))
    assert (table["t"] == json_bars["t"]).all()
    np.testing.assert_allclose(table["vwap"].to_numpy(), json_bars["vwap"].to_numpy())


def test_csv_next_page_is_in_link_header(user_api, stored_bars):
    response = user_api.get("/api/v1/bars?symbol=ACME&limit=10&format=csv")
    assert 'rel="next"' in response["Link"]


@pytest.mark.parametrize(
    "query,field",
    [
        ("symbol=NOPE", "symbol"),
        ("symbol=ACME&interval=30s", "interval"),
        ("symbol=ACME&interval=5x", "interval"),
        ("symbol=ACME&start=yesterday", "start"),
        ("symbol=ACME&start=2024-11-27&end=2024-11-26", "end"),
        ("symbol=ACME&limit=0", "limit"),
        ("symbol=ACME&cursor=garbage", "cursor"),
        ("symbol=ACME&format=xml", "format"),
        ("symbol=ACME&label=middle", "label"),
        ("interval=1m", "symbol"),
    ],
)
def test_bad_bar_queries_are_400_naming_the_field(user_api, stored_bars, query, field):
    response = user_api.get(f"/api/v1/bars?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == field


def test_symbol_without_data_returns_no_bars(user_api, symbol):
    body = user_api.get("/api/v1/bars?symbol=ACME").json()
    assert body["bars"] == [] and body["next"] is None


def test_latest_returns_newest_bars_oldest_first(user_api, stored_bars):
    bars = bars_of(user_api.get("/api/v1/bars/latest?symbol=ACME&interval=5m&count=3"))
    want = expected(stored_bars, "5m").iloc[-3:]
    assert bars["t"].tolist() == want["ts"].tolist()
    assert len(bars_of(user_api.get("/api/v1/bars/latest?symbol=ACME"))) == 100


def test_trades_and_quotes_page_through_equal_timestamps(user_api, symbol):
    start, end = pd.Timestamp("2024-11-26T14:30Z"), pd.Timestamp("2024-11-26T14:35Z")
    trades = synthetic_trades("ACME", "XNYS", start, end)
    trades = pd.concat([trades, trades.assign(price=trades["price"] + 0.01)]).sort_values("ts", kind="stable")
    store.trades_write(symbol_id=symbol.id, frame=trades.reset_index(drop=True))
    seen = []
    url = "/api/v1/trades?symbol=ACME&limit=7"
    while url:
        body = user_api.get(url).json()
        seen.extend(body["trades"])
        url = body["next"]
    assert len(seen) == len(trades)
    assert [t["price"] for t in seen] == pytest.approx(trades["price"].tolist())
    quotes = synthetic_quotes("ACME", "XNYS", start, end)
    store.quotes_write(symbol_id=symbol.id, frame=quotes)
    body = user_api.get("/api/v1/quotes?symbol=ACME&limit=100000").json()
    assert len(body["quotes"]) == len(quotes)
    assert set(body["quotes"][0]) == {"t", "bid", "bid_size", "ask", "ask_size"}


def test_market_data_compat_buffer_and_history(user_api, staff_user, db):
    from marketdata.models import Symbol
    from marketdata.providers.synthetic import synthetic_bars

    btc = Symbol.objects.create(ticker="BTC/USDT", venue="BINANCE", calendar="24/7", asset_class="crypto")
    frame = synthetic_bars("BTC/USDT", "24/7", pd.Timestamp("2024-11-25").date(), pd.Timestamp("2024-11-25").date())
    store.bars_write(symbol_id=btc.id, interval="1m", frame=frame)
    buffer = user_api.get("/api/v1/market-data/binance/BTCUSDT/buffer/5m").json()
    assert len(buffer["candles"]) == 100
    assert buffer["candles"][-1][0] == int(pd.Timestamp("2024-11-25T23:55Z").value // 1_000_000)
    history = user_api.get(
        "/api/v1/market-data/binance/BTC-USDT/history?timeframe=1h&start=2024-11-25T00:00Z&end=2024-11-25T03:00Z"
    ).json()
    assert [c[0] for c in history["candles"]] == [
        int(pd.Timestamp(f"2024-11-25T0{h}:00Z").value // 1_000_000) for h in range(3)
    ]
    assert user_api.get("/api/v1/market-data/binance/ETHUSDT/buffer/1m").status_code == 400


def test_anonymous_cannot_read_bars(api, stored_bars):
    assert api.get("/api/v1/bars?symbol=ACME").status_code == 401


def test_missing_trade_count_and_vwap_are_null_in_every_format(user_api, symbol):
    import datetime as dt

    from marketdata.providers.synthetic import synthetic_bars

    stored = synthetic_bars("ACME", "XNYS", dt.date(2024, 11, 26), dt.date(2024, 11, 26))
    stored.loc[[0, 5], "trade_count"] = np.nan
    stored.loc[[1, 5], "vwap"] = np.nan
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=stored)
    url = "/api/v1/bars?symbol=ACME&start=2024-11-26&end=2024-11-27&limit=10"

    bars = user_api.get(url).json()["bars"]
    assert [bar["n"] for bar in bars[:2]] == [None, int(stored["trade_count"].iloc[1])]
    assert [bars[1]["vwap"], bars[5]["vwap"], bars[5]["n"]] == [None, None, None]
    assert bars[2]["vwap"] == stored["vwap"].iloc[2] and bars[2]["o"] == stored["open"].iloc[2]

    table = pd.read_parquet(io.BytesIO(user_api.get(url + "&format=parquet").content))
    assert str(table["n"].dtype) == "Int64" and str(table["t"].dtype) == "datetime64[ns, UTC]"
    assert table["n"].isna().tolist()[:6] == [True, False, False, False, False, True]
    assert table["vwap"].isna().tolist()[:6] == [False, True, False, False, False, True]
    np.testing.assert_array_equal(table["c"].to_numpy(), stored["close"].iloc[:10].to_numpy())

    csv = pd.read_csv(io.StringIO(user_api.get(url + "&format=csv").content.decode()))
    assert csv["n"].isna().tolist()[:6] == [True, False, False, False, False, True]


def test_parquet_columns_are_required_unless_a_value_is_missing(user_api, symbol):
    import datetime as dt

    import pyarrow.parquet as pq

    from marketdata.providers.synthetic import synthetic_bars

    stored = synthetic_bars("ACME", "XNYS", dt.date(2024, 11, 26), dt.date(2024, 11, 26))
    stored.loc[3, "vwap"] = np.nan
    stored.loc[4, "trade_count"] = np.nan
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=stored)
    url = "/api/v1/bars?symbol=ACME&start=2024-11-26&end=2024-11-27&format=parquet&limit="

    complete = io.BytesIO(user_api.get(url + "3").content)
    assert not [field.name for field in pq.read_schema(complete) if field.nullable]
    assert str(pd.read_parquet(complete)["n"].dtype) == "Int64"
    gaps = io.BytesIO(user_api.get(url + "10").content)
    assert {field.name for field in pq.read_schema(gaps) if field.nullable} == {"n", "vwap"}
    table = pd.read_parquet(gaps)
    assert table["n"].isna().tolist()[:6] == [False, False, False, False, True, False]
    assert table["vwap"].isna().tolist()[:6] == [False, False, False, True, False, False]


@pytest.mark.parametrize("kind", ["bars", "trades", "quotes"])
def test_an_empty_range_answers_an_empty_parquet_file(user_api, symbol, kind):
    response = user_api.get(f"/api/v1/{kind}?symbol=ACME&start=2024-11-26&end=2024-11-27&format=parquet")
    assert response.status_code == 200, response.content[:300]
    table = pd.read_parquet(io.BytesIO(response.content))
    assert len(table) == 0
    assert "t" in table.columns
