"""The session engine's main thread: merge order, pacing, pause, session end and advance, live input.

Every test steps the engine by hand with a manual clock and a manual wall; nothing sleeps.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketdata.core.bars import resample_bars
from marketdata.core.coordinator import SystemManager
from marketdata.core.replay import SessionBatch
from marketdata.core.session_data import SessionConfig
from tests.marketdata.core.session_engine_fakes import (
    LiveTestClock,
    ManualClock,
    ManualWall,
    MemoryFeed,
    full_batch,
    minute_bars,
    quotes_for,
    replay,
    run_to_end,
    session_of,
    step_until_a_session_ends,
    ticks_for,
)

WED, FRI_HALF_DAY = dt.date(2024, 11, 27), dt.date(2024, 11, 29)  # Thanksgiving (Thu) in between
FRI, MON = dt.date(2024, 11, 22), dt.date(2024, 11, 25)
SYMBOLS = ["AAPL", "MSFT", "SPY"]
KIND_ORDER = {"bar": 0, "derived_bar": 1, "quote": 2, "tick": 3}


def config(start: dt.date, end: dt.date, **kwargs: Any) -> SessionConfig:
    return SessionConfig(
        symbols=dict.fromkeys(kwargs.pop("symbols", SYMBOLS), "XNYS"), start_date=start, end_date=end, **kwargs
    )


def data_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event for event in events if event["type"] in KIND_ORDER]


def merge_key(event: dict[str, Any]) -> tuple[str, int, str]:
    return event["t"], KIND_ORDER[event["type"]], event["symbol"]


def begin(manager: SystemManager) -> None:
    """Let the upkeep begin the first session and the main thread pick it up."""
    manager.coordinator.upkeep_step()
    manager.coordinator.step()


# ------------------------------------------------------------------------ merge order


def test_events_of_three_symbols_arrive_in_availability_order_with_fixed_ties() -> None:
    feed = MemoryFeed({WED: full_batch(WED, SYMBOLS)})
    manager, events, _, wall = replay(config(WED, WED), feed)
    run_to_end(manager, wall)

    stream = data_events(events)
    assert len(stream) == 3 * 3 * 390
    assert [merge_key(event) for event in stream] == sorted(merge_key(event) for event in stream)
    first_minute = [(event["type"], event["symbol"], event["t"]) for event in stream[:9]]
    assert first_minute == [
        ("quote", "AAPL", "2024-11-27T14:30:20Z"),
        ("quote", "MSFT", "2024-11-27T14:30:20Z"),
        ("quote", "SPY", "2024-11-27T14:30:20Z"),
        ("tick", "AAPL", "2024-11-27T14:30:40Z"),
        ("tick", "MSFT", "2024-11-27T14:30:40Z"),
        ("tick", "SPY", "2024-11-27T14:30:40Z"),
        ("bar", "AAPL", "2024-11-27T14:31:00Z"),
        ("bar", "MSFT", "2024-11-27T14:31:00Z"),
        ("bar", "SPY", "2024-11-27T14:31:00Z"),
    ]
    bar = stream[6]
    assert bar["data"]["t"] == "2024-11-27T14:30:00Z" and bar["data"]["interval"] == "1m"
    assert set(bar["data"]) == {"t", "o", "h", "l", "c", "v", "interval"}


def test_bar_is_published_with_quotes_of_the_same_instant_after_it() -> None:
    bars = minute_bars(WED, minutes=range(2))
    quotes = quotes_for(bars, offset_s=60.0)  # a quote exactly at each bar's close
    feed = MemoryFeed({WED: SessionBatch(bars={"AAPL": bars}, quotes={"AAPL": quotes})})
    manager, events, _, wall = replay(config(WED, WED, symbols=["AAPL"]), feed)
    begin(manager)

    assert [(event["type"], event["t"]) for event in data_events(events)] == [
        ("bar", "2024-11-27T14:31:00Z"),
        ("quote", "2024-11-27T14:31:00Z"),
        ("bar", "2024-11-27T14:32:00Z"),
        ("quote", "2024-11-27T14:32:00Z"),
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.sampled_from(SYMBOLS), st.integers(0, 20)), max_size=30),
    st.lists(
        st.tuples(st.sampled_from(SYMBOLS), st.sampled_from(["quote", "tick"]), st.integers(0, 1260)), max_size=60
    ),
    st.integers(1, 12),
)
def test_merged_stream_is_sorted_and_keeps_arrival_order_of_ties(
    bar_minutes: list[tuple[str, int]], records: list[tuple[str, str, int]], max_step_events: int
) -> None:
    open_, _ = session_of(WED)
    batch = SessionBatch()
    for symbol in SYMBOLS:
        minutes = sorted({minute for owner, minute in bar_minutes if owner == symbol})
        if minutes:
            batch.bars[symbol] = minute_bars(WED, minutes=minutes)
        for kind, frames in (("quote", batch.quotes), ("tick", batch.ticks)):
            seconds = [second for owner, what, second in records if owner == symbol and what == kind]
            if seconds:
                ts = open_ + pd.to_timedelta(seconds, unit="s")
                sequence = np.arange(len(seconds), dtype=float)
                if kind == "quote":
                    frames[symbol] = pd.DataFrame(
                        {"ts": ts, "bid": 1.0, "bid_size": sequence, "ask": 2.0, "ask_size": 1.0}
                    )
                else:
                    frames[symbol] = pd.DataFrame({"ts": ts, "price": 1.0, "size": sequence, "side": "buy"})
    feed = MemoryFeed({WED: batch})
    manager, events, _, _ = replay(config(WED, WED, max_step_events=max_step_events), feed)
    for _ in range(200):
        manager.coordinator.upkeep_step()
        if manager.coordinator.step() != 0.0:
            break

    stream = data_events(events)
    assert len(stream) == sum(len(frame) for part in (batch.bars, batch.quotes, batch.ticks) for frame in part.values())
    keys = [merge_key(event) for event in stream]
    assert keys == sorted(keys)
    for symbol in SYMBOLS:
        for kind, field in (("quote", "bid_size"), ("tick", "size")):
            same = [(e["t"], e["data"][field]) for e in stream if e["symbol"] == symbol and e["type"] == kind]
            assert same == sorted(same)  # equal times keep their input order


def test_two_runs_publish_identical_event_sequences() -> None:
    def run_once() -> list[dict[str, Any]]:
        feed = MemoryFeed({WED: full_batch(WED, SYMBOLS), FRI_HALF_DAY: full_batch(FRI_HALF_DAY, SYMBOLS)})
        manager, events, _, wall = replay(config(WED, FRI_HALF_DAY, derived_intervals=["5m"], speed=60), feed)
        run_to_end(manager, wall, wall_step=0.7)
        return events

    first, second = run_once(), run_once()
    assert len(first) > 2 * 3 * 3 * 210
    assert first == second


def test_threads_publish_the_same_events_as_stepping_by_hand() -> None:
    feed_batches = {WED: full_batch(WED, SYMBOLS), FRI_HALF_DAY: full_batch(FRI_HALF_DAY, SYMBOLS)}
    stepped, events, _, wall = replay(config(WED, FRI_HALF_DAY, derived_intervals=["5m"]), MemoryFeed(feed_batches))
    run_to_end(stepped, wall)

    threaded_events: list[dict[str, Any]] = []
    done = threading.Event()

    def publish(event: dict[str, Any]) -> None:
        threaded_events.append(event)
        if event["type"] == "state" and event["data"]["state"] in ("finished", "error"):
            done.set()

    clock = ManualClock("2024-11-27T00:00:00Z")
    cfg = config(WED, FRI_HALF_DAY, derived_intervals=["5m"])
    manager = SystemManager(cfg, feed=MemoryFeed(feed_batches), clock=clock, publish=publish, wall=time.monotonic)
    manager.start()
    try:
        assert done.wait(timeout=30), "the threaded replay did not finish"
    finally:
        manager.stop()
    assert manager.state == "finished"
    assert threaded_events == events


# ---------------------------------------------------------------------------- pacing


def test_no_bar_is_published_before_its_close() -> None:
    clock = ManualClock("2024-11-27T00:00:00Z")
    seen: list[tuple[dict[str, Any], pd.Timestamp]] = []
    feed = MemoryFeed({WED: full_batch(WED, SYMBOLS)})
    wall = ManualWall()

    def publish(event: dict[str, Any]) -> None:
        seen.append((event, clock.now()))

    manager = SystemManager(config(WED, WED, speed=60), feed=feed, clock=clock, publish=publish, wall=wall)
    run_to_end(manager, wall, wall_step=0.25)

    bars = [(event, now) for event, now in seen if event["type"] == "bar"]
    assert len(bars) == 3 * 390
    for event, now in bars:
        close = pd.Timestamp(event["data"]["t"]) + pd.Timedelta(minutes=1)
        assert pd.Timestamp(event["t"]) == close
        assert close <= now
    for event, now in seen:
        assert pd.Timestamp(event["t"]) <= now or event["type"] == "session_ended"


def test_speed_60_plays_one_simulated_minute_per_wall_second() -> None:
    feed = MemoryFeed({WED: full_batch(WED, SYMBOLS)})
    manager, events, clock, wall = replay(config(WED, WED, speed=60), feed)
    begin(manager)
    open_, _ = session_of(WED)
    assert clock.now() == open_ and data_events(events) == []

    wall.tick(1.0)
    manager.coordinator.step()
    assert clock.now() == open_ + pd.Timedelta(minutes=1)
    assert [e["type"] for e in data_events(events)] == ["quote"] * 3 + ["tick"] * 3 + ["bar"] * 3

    wall.tick(0.5)
    manager.coordinator.step()
    assert clock.now() == open_ + pd.Timedelta(seconds=90)
    assert manager.session_data.bars("AAPL").shape[0] == 1
    assert len(data_events(events)) == 12  # the quotes at 14:31:20

    manager.set_speed(120)
    wall.tick(1.0)
    manager.coordinator.step()
    assert clock.now() == open_ + pd.Timedelta(seconds=210)


def test_data_older_than_the_clock_is_fast_forwarded_then_paced() -> None:
    open_, _ = session_of(WED)
    clock = ManualClock(open_ + pd.Timedelta(minutes=90))  # the replay starts at 11:00 New York
    feed = MemoryFeed({WED: full_batch(WED, SYMBOLS)})
    manager, events, _, wall = replay(config(WED, WED, speed=1), feed, clock=clock)
    begin(manager)

    assert clock.now() == open_ + pd.Timedelta(minutes=90)
    assert manager.session_data.bars("MSFT").shape[0] == 90
    assert len(data_events(events)) == 3 * 3 * 90
    wall.tick(25.0)
    manager.coordinator.step()
    assert len(data_events(events)) == 3 * 3 * 90 + 3  # one simulated 25 s: the quotes at 11:00:20


def test_speed_zero_streams_a_session_in_chunks_without_wall_time() -> None:
    feed = MemoryFeed({WED: full_batch(WED, SYMBOLS)})
    manager, events, clock, wall = replay(config(WED, WED, max_step_events=500), feed)
    steps = run_to_end(manager, wall)
    assert wall() == 0.0
    assert 3 * 3 * 390 / 500 <= steps < 3 * 3 * 390 / 500 + 5
    assert manager.state == "finished"
    assert clock.now() == session_of(WED)[1]


def test_pause_stops_the_clock_and_resume_continues_at_the_same_speed() -> None:
    feed = MemoryFeed({WED: full_batch(WED, SYMBOLS)})
    manager, events, clock, wall = replay(config(WED, WED, speed=60), feed)
    begin(manager)
    open_, _ = session_of(WED)
    wall.tick(1.0)
    manager.coordinator.step()

    manager.pause()
    wall.tick(100.0)
    manager.coordinator.step()
    assert manager.state == "paused"
    assert clock.now() == open_ + pd.Timedelta(minutes=1)
    published = len(events)

    manager.resume()
    manager.coordinator.step()
    assert clock.now() == open_ + pd.Timedelta(minutes=1)
    wall.tick(1.0)
    manager.coordinator.step()
    assert clock.now() == open_ + pd.Timedelta(minutes=2)
    states = [e["data"]["state"] for e in events[published - 1 :] if e["type"] == "state"]
    assert states == ["paused", "running"]


def test_created_paused_publishes_nothing_until_resumed() -> None:
    feed = MemoryFeed({WED: full_batch(WED, SYMBOLS)})
    events: list[dict[str, Any]] = []
    wall = ManualWall()
    clock = ManualClock("2024-11-27T00:00:00Z")
    manager = SystemManager(config(WED, WED), feed=feed, clock=clock, publish=events.append, wall=wall, paused=True)
    manager.coordinator.upkeep_step()
    manager.coordinator.step()
    assert [e["type"] for e in events] == ["state"] and manager.snapshot()["state"] == "paused"
    manager.resume()
    manager.coordinator.step()
    assert len(data_events(events)) == 3 * 3 * 390


def test_stop_ends_the_run_and_publishes_the_state() -> None:
    feed = MemoryFeed({WED: full_batch(WED, SYMBOLS)})
    manager, events, _, _ = replay(config(WED, WED, speed=60), feed)
    begin(manager)
    manager.stop()
    assert manager.state == "stopped"
    assert events[-1]["type"] == "state" and events[-1]["data"]["state"] == "stopped"
    assert manager.coordinator.step() is None


# ---------------------------------------------------------------------- session end


def test_session_ends_at_end_time_when_all_data_was_streamed() -> None:
    feed = MemoryFeed({WED: full_batch(WED, SYMBOLS)})
    manager, events, clock, wall = replay(config(WED, WED), feed)
    run_to_end(manager, wall)
    ended = [e for e in events if e["type"] == "session_ended"]
    assert len(ended) == 1 and ended[0]["data"]["timer_expired"] is False
    assert wall() == 0.0
    snapshot = manager.snapshot()
    assert snapshot["session_ended"] is True and snapshot["timer_expired"] is False
    assert snapshot["symbols"]["SPY"]["session_ended"] is True


def test_session_ends_within_a_minute_of_end_time_when_the_last_bar_is_missing() -> None:
    batch = full_batch(WED, SYMBOLS, skip=dict.fromkeys(SYMBOLS, [389]))
    for frames in (batch.quotes, batch.ticks):
        for symbol, frame in frames.items():
            frames[symbol] = frame.iloc[:-1]
    manager, events, clock, wall = replay(config(WED, WED), MemoryFeed({WED: batch}))
    run_to_end(manager, wall)
    ended = [e for e in events if e["type"] == "session_ended"]
    assert ended[0]["data"]["timer_expired"] is False and wall() == 0.0


def test_replay_at_speed_ends_a_session_whose_data_stops_once_the_clock_nears_end_time() -> None:
    batch = full_batch(WED, SYMBOLS, skip=dict.fromkeys(SYMBOLS, range(360, 390)))
    manager, events, clock, wall = replay(config(WED, WED, speed=120), MemoryFeed({WED: batch}))
    run_to_end(manager, wall, wall_step=1.0)
    ended = [e for e in events if e["type"] == "session_ended"]
    assert ended[0]["data"]["timer_expired"] is False  # 30 quiet minutes at 120x take 15 s < timeout


def test_session_ends_with_timer_expired_when_no_new_data_comes_and_the_next_session_starts() -> None:
    batches = {
        WED: full_batch(WED, SYMBOLS, skip=dict.fromkeys(SYMBOLS, range(60, 390))),
        FRI_HALF_DAY: full_batch(FRI_HALF_DAY, SYMBOLS),
    }
    manager, events, clock, wall = replay(config(WED, FRI_HALF_DAY, timeout_s=60), MemoryFeed(batches))
    begin(manager)
    open_, _ = session_of(WED)
    assert clock.now() == open_ + pd.Timedelta(minutes=60)
    wall.tick(59.0)
    manager.coordinator.step()
    assert not [e for e in events if e["type"] == "session_ended"]
    assert manager.session_data.bars("AAPL").shape[0] == 60

    wall.tick(1.0)
    manager.coordinator.step()
    ended = [e for e in events if e["type"] == "session_ended"]
    assert ended[0]["data"]["timer_expired"] is True
    assert manager.snapshot()["timer_expired"] is True
    assert clock.now() == session_of(FRI_HALF_DAY)[0]
    manager.coordinator.upkeep_step()
    assert manager.snapshot()["session_date"] == "2024-11-29"
    assert manager.snapshot()["session_ended"] is False  # the upkeep reset it for the new session
    manager.coordinator.step()
    assert [e["data"]["date"] for e in events if e["type"] == "session_started"] == ["2024-11-27", "2024-11-29"]
    assert [e["data"]["timer_expired"] for e in events if e["type"] == "session_ended"] == [True, False]
    manager.coordinator.upkeep_step()  # its last round on the last session finishes the run
    assert manager.state == "finished"


def test_pause_stops_the_no_data_timer() -> None:
    batch = full_batch(WED, SYMBOLS, skip=dict.fromkeys(SYMBOLS, range(30, 390)))
    manager, events, _, wall = replay(config(WED, WED, timeout_s=60), MemoryFeed({WED: batch}))
    begin(manager)
    wall.tick(30.0)
    manager.coordinator.step()
    manager.pause()
    wall.tick(1000.0)
    manager.coordinator.step()
    manager.resume()
    wall.tick(29.5)
    manager.coordinator.step()
    assert not [e for e in events if e["type"] == "session_ended"]
    wall.tick(0.5)
    manager.coordinator.step()
    assert [e["data"]["timer_expired"] for e in events if e["type"] == "session_ended"] == [True]


def test_session_without_any_data_ends_by_timer_and_the_replay_moves_on() -> None:
    feed = MemoryFeed({FRI_HALF_DAY: full_batch(FRI_HALF_DAY, SYMBOLS)})  # nothing at all for Wednesday
    manager, events, clock, wall = replay(config(WED, FRI_HALF_DAY, timeout_s=60), feed)
    begin(manager)
    assert [e["type"] for e in events] == ["session_started"]
    wall.tick(60.0)
    manager.coordinator.step()
    assert [e["data"]["timer_expired"] for e in events if e["type"] == "session_ended"] == [True]
    run_to_end(manager, wall)
    assert [e["data"]["date"] for e in events if e["type"] == "session_started"] == ["2024-11-27", "2024-11-29"]
    assert manager.state == "finished"


def test_replay_errors_when_the_upkeep_never_hands_over_a_session() -> None:
    manager, events, _, wall = replay(config(WED, WED, timeout_s=60), MemoryFeed({}))
    manager.coordinator.step()  # the upkeep never hands over the session
    wall.tick(60.0)
    manager.coordinator.step()
    assert manager.state == "error"
    assert manager.snapshot()["timer_expired"] is True
    assert events[-1]["data"]["state"] == "error"


# ------------------------------------------------------------------------- advance


@pytest.mark.parametrize(
    ("first", "second"),
    [(WED, FRI_HALF_DAY), (FRI, MON)],
    ids=["over_thanksgiving_to_a_half_day", "over_a_weekend"],
)
def test_replay_advances_the_clock_to_the_next_trading_session(first: dt.date, second: dt.date) -> None:
    feed = MemoryFeed({first: full_batch(first, SYMBOLS), second: full_batch(second, SYMBOLS)})
    manager, events, clock, wall = replay(config(first, second), feed)
    step_until_a_session_ends(manager, events)
    assert clock.now() == session_of(second)[0]
    assert manager.session_data.session_ended is True

    run_to_end(manager, wall)
    started = [e["data"] for e in events if e["type"] == "session_started"]
    assert [s["date"] for s in started] == [first.isoformat(), second.isoformat()]
    assert started[1]["end"] == session_of(second)[1].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert clock.now() == session_of(second)[1]
    assert manager.state == "finished"
    assert feed.loaded == [first, second]


def test_half_day_session_ends_at_the_early_close() -> None:
    feed = MemoryFeed({FRI_HALF_DAY: full_batch(FRI_HALF_DAY, SYMBOLS)})
    manager, events, clock, wall = replay(config(FRI_HALF_DAY, FRI_HALF_DAY), feed)
    run_to_end(manager, wall)
    assert manager.session_data.bars("SPY").shape[0] == 210
    assert clock.now() == pd.Timestamp("2024-11-29T18:00:00Z")


# -------------------------------------------------------------------------- derived


@pytest.mark.parametrize("date", [WED, FRI_HALF_DAY], ids=["full_day", "half_day"])
def test_derived_bars_equal_resample_of_the_1m_bars(date: dt.date) -> None:
    batch = full_batch(date, SYMBOLS, skip={"AAPL": [5, 6, 7, 8, 9, 50]})
    cfg = config(date, date, derived_intervals=["5m", "7m", "1h"], speed=60)
    manager, events, _, wall = replay(cfg, MemoryFeed({date: batch}))
    run_to_end(manager, wall, wall_step=1.0)

    window = manager.session_data.window
    for symbol in SYMBOLS:
        minutes = manager.session_data.bars(symbol)
        for interval in ("5m", "7m", "1h"):
            expected = resample_bars(minutes, interval, window.schedule)
            pd.testing.assert_frame_equal(manager.session_data.bars(symbol, interval), expected)
            published = [
                e
                for e in events
                if e["type"] == "derived_bar" and e["symbol"] == symbol and e["data"]["interval"] == interval
            ]
            assert [pd.Timestamp(e["data"]["t"]) for e in published] == list(expected["ts"])
            assert [e["data"]["c"] for e in published] == expected["close"].tolist()
    assert manager.session_data.bars("AAPL", "5m")["ts"].iloc[1] == window.open + pd.Timedelta(minutes=10)
    last_5m = [e for e in events if e["type"] == "derived_bar" and e["data"]["interval"] == "7m"][-1]
    assert pd.Timestamp(last_5m["t"]) == window.close  # the last 7m bar is short and closes with the session


def test_derived_bar_is_published_right_after_the_1m_bar_that_completes_it() -> None:
    feed = MemoryFeed({WED: full_batch(WED, ["AAPL"])})
    manager, events, _, wall = replay(config(WED, WED, symbols=["AAPL"], derived_intervals=["5m"]), feed)
    run_to_end(manager, wall)
    stream = [(e["type"], e["t"]) for e in data_events(events)]
    at = stream.index(("derived_bar", "2024-11-27T14:35:00Z"))
    assert stream[at - 1] == ("bar", "2024-11-27T14:35:00Z")
    assert stream[at + 1] == ("quote", "2024-11-27T14:35:20Z")


# ---------------------------------------------------------------------------- live


def live_config(**kwargs: Any) -> SessionConfig:
    return SessionConfig(symbols=dict.fromkeys(SYMBOLS, "XNYS"), **kwargs)


def test_live_session_holds_a_bar_until_its_close_and_orders_each_step() -> None:
    clock = LiveTestClock("2024-11-27T15:00:30Z")
    events: list[dict[str, Any]] = []
    manager = SystemManager(live_config(), feed=MemoryFeed(), clock=clock, publish=events.append, wall=ManualWall())
    begin(manager)
    assert [e["type"] for e in events] == ["session_started"]

    bar = minute_bars(WED, minutes=range(30, 31))  # 10:00 New York = 15:00Z
    manager.coordinator.push("bars", "MSFT", bar)
    manager.coordinator.push("quotes", "AAPL", quotes_for(bar, offset_s=50.0))
    manager.coordinator.push("ticks", "AAPL", ticks_for(bar, offset_s=10.0))
    manager.coordinator.step()
    assert [(e["type"], e["t"]) for e in data_events(events)] == [("tick", "2024-11-27T15:00:10Z")]

    clock.current = pd.Timestamp("2024-11-27T15:00:59Z")
    manager.coordinator.step()
    clock.current = pd.Timestamp("2024-11-27T15:01:00Z")
    manager.coordinator.step()
    assert [(e["type"], e["symbol"], e["t"]) for e in data_events(events)] == [
        ("tick", "AAPL", "2024-11-27T15:00:10Z"),
        ("quote", "AAPL", "2024-11-27T15:00:50Z"),
        ("bar", "MSFT", "2024-11-27T15:01:00Z"),
    ]


def test_live_session_ends_when_the_clock_passes_end_time_and_waits_for_the_next_open() -> None:
    clock = LiveTestClock("2024-11-27T20:59:00Z")
    events: list[dict[str, Any]] = []
    manager = SystemManager(live_config(), feed=MemoryFeed(), clock=clock, publish=events.append, wall=ManualWall())
    begin(manager)
    clock.current = pd.Timestamp("2024-11-27T21:00:01Z")
    manager.coordinator.step()
    assert [e["type"] for e in events] == ["session_started"]  # the last bar may still be on its way
    clock.current = pd.Timestamp("2024-11-27T21:00:02Z")  # end time + live_grace_s
    manager.coordinator.step()
    assert [e["type"] for e in events] == ["session_started", "session_ended"]
    assert manager.snapshot()["mode"] == "live"

    clock.current = pd.Timestamp("2024-11-29T14:29:00Z")
    manager.coordinator.upkeep_step()
    manager.coordinator.step()
    assert manager.snapshot()["session_date"] == "2024-11-27"
    clock.current = pd.Timestamp("2024-11-29T14:30:00Z")
    manager.coordinator.upkeep_step()
    manager.coordinator.step()
    assert events[-1]["type"] == "session_started" and events[-1]["data"]["date"] == "2024-11-29"


def test_live_derived_bar_closes_when_its_last_minute_arrives_or_after_the_grace() -> None:
    clock = LiveTestClock("2024-11-27T14:30:00Z")
    events: list[dict[str, Any]] = []
    cfg = SessionConfig(symbols={"AAPL": "XNYS", "MSFT": "XNYS"}, derived_intervals=["5m"], live_grace_s=2.0)
    manager = SystemManager(cfg, feed=MemoryFeed(), clock=clock, publish=events.append, wall=ManualWall())
    begin(manager)
    bars = minute_bars(WED, minutes=range(10))
    for minute in range(10):
        clock.current = bars["ts"].iloc[minute] + pd.Timedelta(minutes=1, milliseconds=300)  # 0.3 s after the close
        manager.coordinator.push("bars", "AAPL", bars.iloc[[minute]])
        if minute != 4:
            manager.coordinator.push("bars", "MSFT", bars.iloc[[minute]])
        manager.coordinator.step()
        if minute == 4:
            derived = [(e["symbol"], e["t"]) for e in events if e["type"] == "derived_bar"]
            assert derived == [("AAPL", "2024-11-27T14:35:00Z")]  # MSFT waits: its 14:34 bar is missing
    derived = [(e["symbol"], e["t"]) for e in events if e["type"] == "derived_bar"]
    assert derived == [
        ("AAPL", "2024-11-27T14:35:00Z"),
        ("MSFT", "2024-11-27T14:35:00Z"),  # published once the grace passed, at the next step
        ("AAPL", "2024-11-27T14:40:00Z"),
        ("MSFT", "2024-11-27T14:40:00Z"),
    ]
    expected = resample_bars(manager.session_data.bars("MSFT"), "5m", manager.session_data.window.schedule)
    pd.testing.assert_frame_equal(manager.session_data.bars("MSFT", "5m"), expected)
