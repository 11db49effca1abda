import datetime as dt
import threading

import pandas as pd
import pytest

from marketdata.core.calendar import get_calendar
from marketdata.core.clock import Clock, LiveClock, SimulatedClock, market_status

XNYS = get_calendar("XNYS")


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_live_clock_is_utc_and_live():
    clock = LiveClock()
    assert clock.mode == "live"
    assert str(clock.now().tz) == "UTC"
    assert isinstance(clock, Clock)


def test_simulated_clock_starts_where_told_and_is_backtest():
    clock = SimulatedClock(utc("2024-11-29T14:30"))
    assert clock.now() == utc("2024-11-29T14:30")
    assert clock.mode == "backtest"
    assert isinstance(clock, Clock)


def test_simulated_clock_converts_an_offset_start_to_utc():
    assert SimulatedClock("2024-11-29T09:30:00-05:00").now() == utc("2024-11-29T14:30")


def test_simulated_clock_refuses_a_naive_start():
    with pytest.raises(ValueError, match="no time zone"):
        SimulatedClock(dt.datetime(2024, 11, 29, 9, 30))


def test_simulated_clock_advances_to_a_later_time_and_by_a_step():
    clock = SimulatedClock(utc("2024-11-29T14:30"))
    assert clock.advance_to(utc("2024-11-29T15:00")) == utc("2024-11-29T15:00")
    assert clock.advance(dt.timedelta(minutes=5)) == utc("2024-11-29T15:05")
    assert clock.now() == utc("2024-11-29T15:05")


def test_simulated_clock_advance_to_now_is_a_no_op():
    clock = SimulatedClock(utc("2024-11-29T14:30"))
    clock.advance_to(utc("2024-11-29T14:30"))
    assert clock.now() == utc("2024-11-29T14:30")


def test_simulated_clock_never_moves_backwards():
    clock = SimulatedClock(utc("2024-11-29T14:30"))
    with pytest.raises(ValueError, match="backwards"):
        clock.advance_to(utc("2024-11-29T14:29"))
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(dt.timedelta(seconds=-1))
    assert clock.now() == utc("2024-11-29T14:30")


def test_simulated_clock_concurrent_advances_all_count():
    clock = SimulatedClock(utc("2024-01-01"))

    def step() -> None:
        for _ in range(1000):
            clock.advance(dt.timedelta(seconds=1))

    threads = [threading.Thread(target=step) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.now() == utc("2024-01-01") + pd.Timedelta(seconds=4000)


def test_market_status_during_the_half_day_session():
    status = market_status(XNYS, SimulatedClock(utc("2024-11-29T15:00")))
    assert status == {
        "now": utc("2024-11-29T15:00"),
        "mode": "backtest",
        "market": "XNYS",
        "is_open": True,
        "session": {
            "date": dt.date(2024, 11, 29),
            "open": utc("2024-11-29T14:30"),
            "close": utc("2024-11-29T18:00"),
            "early_close": True,
        },
        "next_open": utc("2024-12-02T14:30"),
        "next_close": utc("2024-11-29T18:00"),
    }


def test_market_status_at_the_close_is_closed_with_no_session():
    status = market_status(XNYS, utc("2024-11-29T18:00"))
    assert status["is_open"] is False
    assert status["session"] is None
    assert status["mode"] is None
    assert status["next_open"] == utc("2024-12-02T14:30")
    assert status["next_close"] == utc("2024-12-02T21:00")


def test_market_status_follows_the_simulated_clock_as_it_advances():
    clock = SimulatedClock(utc("2025-01-08T20:59"))
    assert market_status(XNYS, clock)["is_open"]
    clock.advance(dt.timedelta(minutes=1))
    status = market_status(XNYS, clock)
    assert not status["is_open"]
    assert status["next_open"] == utc("2025-01-10T14:30")  # 2025-01-09 closed (day of mourning)


def test_market_status_of_crypto_is_always_open():
    status = market_status(get_calendar("24/7"), utc("2024-12-25T10:00"))
    assert status["is_open"]
    assert status["session"]["date"] == dt.date(2024, 12, 25)
    assert status["next_close"] == utc("2024-12-26")
    assert status["next_open"] == utc("2024-12-26")
