import numpy as np
import pandas as pd
import pytest

from marketdata import store

pytestmark = pytest.mark.django_db


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def test_clock_reports_now_and_market_status(user_api):
    body = user_api.get("/api/v1/clock?market=XNYS").json()
    assert set(body) >= {"now", "mode", "market", "is_open", "session", "next_open", "next_close"}
    assert body["mode"] == "live" and body["market"] == "XNYS"
    assert body["now"].endswith("Z")


def test_clock_with_unknown_session_is_404(user_api):
    response = user_api.get("/api/v1/clock?market=XNYS&session_id=nope")
    assert response.status_code == 404
    assert response.json()["error"]["details"][0]["field"] == "session_id"


def test_unknown_market_is_400_naming_market(user_api):
    response = user_api.get("/api/v1/calendar/day?market=MARS&date=2024-11-29")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "market"


def test_calendar_sessions_show_the_half_day_and_skip_thanksgiving(user_api):
    sessions = user_api.get("/api/v1/calendar/sessions?market=XNYS&start=2024-11-25&end=2024-12-02").json()
    assert [s["date"] for s in sessions] == ["2024-11-25", "2024-11-26", "2024-11-27", "2024-11-29", "2024-12-02"]
    half_day = sessions[3]
    assert (half_day["open"], half_day["close"], half_day["early_close"]) == (
        "2024-11-29T14:30:00Z",
        "2024-11-29T18:00:00Z",
        True,
    )


def test_holidays_have_readable_names_and_ad_hoc_closures(user_api):
    holidays = {h["date"]: h["name"] for h in user_api.get("/api/v1/calendar/holidays?market=XNYS&year=2025").json()}
    assert "Mourning" in holidays["2025-01-09"] and "Carter" in holidays["2025-01-09"]
    assert holidays["2025-04-18"] == "Good Friday"
    assert holidays["2025-12-25"] == "Christmas Day"
    assert all("+" not in name for name in holidays.values())


def test_calendar_day_for_holiday_half_day_and_weekend(user_api):
    thanksgiving = user_api.get("/api/v1/calendar/day?market=XNYS&date=2024-11-28").json()
    assert (thanksgiving["is_trading_day"], thanksgiving["is_holiday"]) == (False, True)
    assert "Thanksgiving" in thanksgiving["holiday_name"]
    friday = user_api.get("/api/v1/calendar/day?market=XNYS&date=2024-11-29").json()
    assert (friday["is_trading_day"], friday["early_close"], friday["close"]) == (True, True, "2024-11-29T18:00:00Z")
    saturday = user_api.get("/api/v1/calendar/day?market=XNYS&date=2024-11-30").json()
    assert (saturday["is_trading_day"], saturday["is_holiday"]) == (False, False)


def session_of(bars: pd.DataFrame, date: str) -> pd.DataFrame:
    return bars[bars["ts"].dt.tz_convert("America/New_York").dt.date == pd.Timestamp(date).date()]


def test_average_volume_uses_only_full_sessions_before_at(user_api, stored_bars):
    at = "2024-11-27T15:00:00Z"
    body = user_api.get(f"/api/v1/analytics/average-volume?symbol=ACME&days=2&at={at}").json()
    expected = (
        session_of(stored_bars, "2024-11-25")["volume"].sum() + session_of(stored_bars, "2024-11-26")["volume"].sum()
    ) / 2
    assert body["value"] == pytest.approx(expected)
    assert (body["days"], body["from"], body["to"]) == (2, "2024-11-25", "2024-11-26")
    assert body["at"] == at


def test_session_volume_mid_session_excludes_later_and_forming_bars(user_api, stored_bars):
    body = user_api.get("/api/v1/analytics/session-volume?symbol=ACME&at=2024-11-26T14:35:30Z").json()
    day = session_of(stored_bars, "2024-11-26")
    # 14:30..14:34 have closed by 14:35:30; the 14:35 bar is still forming.
    assert body["value"] == pytest.approx(day["volume"].iloc[:5].sum())


def test_average_volume_at_time_skips_the_half_day_after_its_close(user_api, stored_bars):
    body = user_api.get(
        "/api/v1/analytics/average-volume-at-time?symbol=ACME&time=14:00&days=2&at=2024-12-03T14:30Z"
    ).json()
    cumulative = []
    for date in ("2024-12-02", "2024-11-27"):  # 11-29 closed at 13:00 New York: skipped
        day = session_of(stored_bars, date)
        cutoff = pd.Timestamp(f"{date} 14:00", tz="America/New_York")
        cumulative.append(day.loc[day["ts"] + pd.Timedelta(minutes=1) <= cutoff, "volume"].sum())
    assert body["value"] == pytest.approx(np.mean(cumulative))
    assert body["skipped_days"] == 1


def test_high_low_and_session_high_low_are_point_in_time(user_api, stored_bars):
    at = ts("2024-11-26T15:00Z")
    body = user_api.get("/api/v1/analytics/high-low?symbol=ACME&days=2&at=2024-11-26T15:00:00Z").json()
    known = stored_bars[
        (stored_bars["ts"] + pd.Timedelta(minutes=1) <= at) & (stored_bars["ts"] >= ts("2024-11-25T14:30Z"))
    ]
    assert body["high"] == known["high"].max()
    assert body["high_at"] == known.loc[known["high"].idxmax(), "ts"].isoformat().replace("+00:00", "Z")
    assert body["low"] == known["low"].min()
    today = user_api.get("/api/v1/analytics/session-high-low?symbol=ACME&at=2024-11-26T15:00:00Z").json()
    session = known[known["ts"] >= ts("2024-11-26T14:30Z")]
    assert (today["high"], today["low"]) == (session["high"].max(), session["low"].min())


def test_analytics_need_their_parameters(user_api, stored_bars):
    assert user_api.get("/api/v1/analytics/average-volume?symbol=ACME").json()["error"]["details"][0]["field"] == "days"
    assert user_api.get("/api/v1/analytics/high-low?symbol=ACME&days=2&years=1").status_code == 400
    response = user_api.get("/api/v1/analytics/session-volume?symbol=ACME&at=not-a-time")
    assert response.json()["error"]["details"][0]["field"] == "at"


def test_coverage_shows_a_two_minute_gap(user_api, symbol, stored_bars):
    day = session_of(stored_bars, "2024-11-26")
    gap = day["ts"].iloc[[60, 61]]
    store.bars_delete(symbol_id=symbol.id)
    store.bars_write(
        symbol_id=symbol.id, interval="1m", frame=stored_bars[~stored_bars["ts"].isin(gap)].reset_index(drop=True)
    )
    days = user_api.get(f"/api/v1/symbols/{symbol.id}/coverage?interval=1m&start=2024-11-25&end=2024-11-29").json()
    by_date = {d["date"]: d for d in days}
    assert by_date["2024-11-25"]["bar_quality"] == 1.0
    broken = by_date["2024-11-26"]
    assert (broken["expected"], broken["present"]) == (390, 388)
    assert broken["bar_quality"] == pytest.approx(388 / 390)
    assert broken["gaps"] == [["2024-11-26T15:30:00Z", "2024-11-26T15:32:00Z"]]
    assert by_date["2024-11-29"]["expected"] == 210  # the half-day


def test_indicators_match_a_rolling_mean(user_api, stored_bars):
    body = user_api.get(
        "/api/v1/analytics/indicators?symbol=ACME&interval=5m&start=2024-11-26&end=2024-11-26&names=sma:3,rsi:14"
    ).json()
    closes = pd.Series(body["bars"]["c"])
    expected = closes.rolling(3).mean()
    got = pd.Series(body["series"]["sma_3"], dtype=float)
    np.testing.assert_allclose(got.iloc[2:], expected.iloc[2:], rtol=1e-12)
    assert got.iloc[:2].isna().all()
    assert len(body["t"]) == 78
    bad = user_api.get("/api/v1/analytics/indicators?symbol=ACME&names=wobble:3")
    assert bad.json()["error"]["details"][0]["field"] == "names"
