"""The session engine's data-upkeep thread: backfill, gap fills, bar quality, retries, history, prefetch.

Stepped by hand with manual clocks and walls; nothing sleeps.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from marketdata.core.bars import resample_bars
from marketdata.core.coordinator import SystemManager
from marketdata.core.session_data import SessionConfig
from tests.marketdata.core.session_engine_fakes import (
    XNYS,
    LiveTestClock,
    ManualWall,
    MemoryFeed,
    full_batch,
    minute_bars,
    replay,
    run_to_end,
    session_of,
    step_until_a_session_ends,
)

WED, FRI_HALF_DAY, MON = dt.date(2024, 11, 27), dt.date(2024, 11, 29), dt.date(2024, 12, 2)
SYMBOLS = ["AAPL", "MSFT", "SPY"]


def config(start: dt.date | None, end: dt.date | None, **kwargs: Any) -> SessionConfig:
    return SessionConfig(symbols=dict.fromkeys(SYMBOLS, "XNYS"), start_date=start, end_date=end, **kwargs)


def live_manager(clock: LiveTestClock, feed: MemoryFeed, **kwargs: Any) -> tuple[SystemManager, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    manager = SystemManager(
        config(None, None, **kwargs), feed=feed, clock=clock, publish=events.append, wall=ManualWall()
    )
    return manager, events


def test_stream_started_mid_session_backfills_from_the_session_start() -> None:
    store = {symbol: minute_bars(WED, seed=seed) for seed, symbol in enumerate(SYMBOLS, start=1)}
    feed = MemoryFeed(store=store)
    clock = LiveTestClock("2024-11-27T16:00:05Z")  # 11:00:05 New York, 90 minutes in
    manager, _ = live_manager(clock, feed)
    manager.coordinator.upkeep_step()
    manager.coordinator.step()
    manager.coordinator.upkeep_step()

    open_ = session_of(WED)[0]
    assert sorted(feed.fill_calls) == [(symbol, open_, open_ + pd.Timedelta(minutes=90)) for symbol in SYMBOLS]
    bars = manager.session_data.bars("MSFT")
    pd.testing.assert_frame_equal(bars, store["MSFT"].iloc[:90].reset_index(drop=True))
    summary = manager.snapshot()["symbols"]["MSFT"]
    assert summary["bar_quality"] == 100.0
    assert summary["session_volume"] == store["MSFT"]["volume"].iloc[:90].sum()
    assert summary["session_high"] == store["MSFT"]["high"].iloc[:90].max()
    assert summary["updated"]["bars"] is True


def test_injected_gap_is_filled_from_the_store_and_derived_bars_are_recomputed() -> None:
    batch = full_batch(WED, SYMBOLS, skip={"AAPL": range(100, 110)})
    store = {"AAPL": minute_bars(WED, seed=1)}
    feed = MemoryFeed({WED: batch}, store=store)
    manager, events, _, wall = replay(config(WED, WED, derived_intervals=["5m"]), feed)
    run_to_end(manager, wall)

    open_ = session_of(WED)[0]
    assert feed.fill_calls == [("AAPL", open_ + pd.Timedelta(minutes=100), open_ + pd.Timedelta(minutes=110))]
    data = manager.session_data
    pd.testing.assert_frame_equal(data.bars("AAPL"), store["AAPL"])
    assert manager.snapshot()["symbols"]["AAPL"]["bar_quality"] == 100.0
    expected_5m = resample_bars(store["AAPL"], "5m", data.window.schedule)
    pd.testing.assert_frame_equal(data.bars("AAPL", "5m"), expected_5m)
    published = [e for e in events if e["type"] == "bar" and e["symbol"] == "AAPL"]
    assert len(published) == 380  # filled bars are stored, not published out of order


def test_bar_quality_reflects_a_gap_the_store_cannot_fill() -> None:
    batch = full_batch(WED, SYMBOLS, skip={"SPY": [7, 8, 9]})
    store = {"SPY": minute_bars(WED, seed=3, skip=[8, 9])}  # the store has only one of the three
    feed = MemoryFeed({WED: batch}, store=store)
    manager, _, _, wall = replay(config(WED, WED), feed)
    run_to_end(manager, wall)
    symbols = manager.snapshot()["symbols"]
    assert symbols["SPY"]["bar_quality"] == round(100 * 388 / 390, 2)
    assert symbols["SPY"]["bars_1m"] == 388
    assert symbols["AAPL"]["bar_quality"] == 100.0


def test_bar_quality_counts_only_bars_closed_so_far() -> None:
    batch = full_batch(WED, SYMBOLS, skip={"AAPL": [0, 1]})
    manager, _, clock, wall = replay(config(WED, WED, speed=60), MemoryFeed({WED: batch}))
    manager.coordinator.upkeep_step()
    manager.coordinator.step()
    wall.tick(4.0)
    manager.coordinator.step()
    assert manager.snapshot()["symbols"]["AAPL"]["bar_quality"] == 50.0
    manager.coordinator.upkeep_step()  # the store has nothing: still 2 of 4
    assert manager.snapshot()["symbols"]["AAPL"]["bar_quality"] == 50.0


def test_missing_bars_are_asked_for_at_most_once_a_minute_of_clock_time() -> None:
    feed = MemoryFeed()
    clock = LiveTestClock("2024-11-27T14:35:05Z")
    manager, _ = live_manager(clock, feed)
    coordinator = manager.coordinator
    coordinator.upkeep_step()
    coordinator.step()
    coordinator.upkeep_step()
    assert len(feed.fill_calls) == 3  # one range per symbol: 14:30 to 14:35

    for seconds in (10, 30, 50):  # the 14:35 bar is not due before 14:36 + grace
        clock.current = pd.Timestamp("2024-11-27T14:35:05Z") + pd.Timedelta(seconds=seconds)
        coordinator.step()
        coordinator.upkeep_step()
    assert len(feed.fill_calls) == 3

    clock.current = pd.Timestamp("2024-11-27T14:36:05Z")
    coordinator.step()
    coordinator.upkeep_step()
    open_ = session_of(WED)[0]
    retried = sorted(feed.fill_calls[3:])
    assert retried == [(symbol, open_, open_ + pd.Timedelta(minutes=6)) for symbol in SYMBOLS]
    assert manager.snapshot()["symbols"]["AAPL"]["bar_quality"] == 0.0


def test_next_session_is_prefetched_while_the_current_one_streams() -> None:
    feed = MemoryFeed({WED: full_batch(WED, SYMBOLS), FRI_HALF_DAY: full_batch(FRI_HALF_DAY, SYMBOLS)})
    manager, _, _, _ = replay(config(WED, FRI_HALF_DAY), feed)
    manager.coordinator.upkeep_step()
    assert feed.loaded == [WED, FRI_HALF_DAY]
    assert manager.snapshot()["session_date"] == "2024-11-27"


def history_bars(symbol_seed: int, dates: list[dt.date]) -> pd.DataFrame:
    return pd.concat([minute_bars(date, seed=symbol_seed) for date in dates], ignore_index=True)


def test_trailing_days_roll_when_a_session_ends() -> None:
    before = list(XNYS.previous_sessions(WED, 3).index.date)
    history = {symbol: history_bars(seed, before) for seed, symbol in enumerate(SYMBOLS, start=1)}
    batches = {WED: full_batch(WED, SYMBOLS), FRI_HALF_DAY: full_batch(FRI_HALF_DAY, SYMBOLS)}
    feed = MemoryFeed(batches, history=history)
    cfg = config(WED, FRI_HALF_DAY, historical_bars_trailing_days=3, historical_bars_types=[1, 5])
    manager, events, _, wall = replay(cfg, feed)
    data = manager.session_data
    coordinator = manager.coordinator

    coordinator.upkeep_step()
    assert sorted(feed.trailing_calls) == sorted(
        (symbol, interval, 3, WED) for symbol in SYMBOLS for interval in ("1m", "5m")
    )
    assert data.historical_dates("AAPL", "1m") == before
    assert data.historical_dates("AAPL", "5m") == before
    pd.testing.assert_frame_equal(data.historical_bars("AAPL", "1m"), history["AAPL"])

    step_until_a_session_ends(manager, events)
    finished = data.bars("MSFT")
    coordinator.upkeep_step()  # rolls the history, then begins Friday
    assert data.historical_dates("MSFT", "1m") == [*before[1:], WED]
    assert data.historical_dates("MSFT", "5m") == [*before[1:], WED]
    rolled_5m = data.historical_bars("MSFT", "5m")
    wed_open = session_of(WED)[0]
    pd.testing.assert_frame_equal(
        rolled_5m.loc[rolled_5m["ts"] >= wed_open].reset_index(drop=True),
        resample_bars(finished, "5m", XNYS.schedule(WED, WED)),
    )
    assert manager.snapshot()["symbols"]["MSFT"]["historical"] == {"1m": 3, "5m": 3}

    run_to_end(manager, wall)
    assert data.historical_dates("SPY", "1m") == [before[2], WED, FRI_HALF_DAY]


def test_upkeep_begins_the_next_session_after_the_main_thread_ends_one() -> None:
    feed = MemoryFeed({WED: full_batch(WED, SYMBOLS), FRI_HALF_DAY: full_batch(FRI_HALF_DAY, SYMBOLS)})
    manager, events, clock, _ = replay(config(WED, FRI_HALF_DAY), feed)
    coordinator = manager.coordinator
    step_until_a_session_ends(manager, events)
    assert manager.session_data.session_ended is True
    coordinator.step()  # nothing to stream until the upkeep refills the queue
    assert [e["type"] for e in events].count("session_started") == 1

    coordinator.upkeep_step()
    assert manager.session_data.session_ended is False
    assert manager.snapshot()["symbols"]["AAPL"]["bars_1m"] == 0
    coordinator.step()
    assert [e["data"]["date"] for e in events if e["type"] == "session_started"] == ["2024-11-27", "2024-11-29"]


def test_replay_that_starts_after_its_last_session_is_finished_at_once() -> None:
    clock_after = LiveTestClock("2024-12-03T00:00:00Z")
    clock_after.advance_to = lambda ts: None  # type: ignore[attr-defined]
    manager = SystemManager(config(WED, FRI_HALF_DAY), feed=MemoryFeed(), clock=clock_after, wall=ManualWall())
    assert manager.state == "finished"
    assert manager.coordinator.step() is None
