"""SessionData and SessionConfig: snapshots, updated flags, bounded quote/tick buffers, validation, failures."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest

from marketdata.core.replay import SessionBatch
from marketdata.core.session_data import SessionConfig, iso_times
from tests.marketdata.core.session_engine_fakes import MemoryFeed, full_batch, replay, run_to_end

WED = dt.date(2024, 11, 27)
SYMBOLS = ["AAPL", "MSFT"]


def config(**kwargs: Any) -> SessionConfig:
    return SessionConfig(symbols=dict.fromkeys(SYMBOLS, "XNYS"), start_date=WED, end_date=WED, **kwargs)


def test_updated_flags_are_set_on_insert_and_cleared_only_by_the_reader() -> None:
    manager, _, _, wall = replay(config(speed=60), MemoryFeed({WED: full_batch(WED, SYMBOLS)}))
    manager.coordinator.upkeep_step()
    manager.coordinator.step()
    wall.tick(0.5)
    manager.coordinator.step()  # 14:30:30: one quote each, no bar yet
    assert manager.session_data.consume_updated("AAPL") == {
        "bars": False,
        "derived": False,
        "quotes": True,
        "ticks": False,
        "historical": False,
    }
    assert not any(manager.session_data.consume_updated("AAPL").values())
    assert manager.snapshot()["symbols"]["MSFT"]["updated"]["quotes"] is True  # snapshots do not clear

    wall.tick(0.5)
    manager.coordinator.step()
    flags = manager.session_data.consume_updated("AAPL")
    assert flags["bars"] and flags["ticks"] and not flags["quotes"]


def test_quote_and_tick_buffers_keep_the_newest_rows_up_to_their_bound() -> None:
    batch = full_batch(WED, SYMBOLS)
    manager, _, _, wall = replay(config(max_quotes=5, max_ticks=3, max_step_events=7), MemoryFeed({WED: batch}))
    run_to_end(manager, wall)
    quotes = manager.session_data.quotes("MSFT")
    pd.testing.assert_frame_equal(quotes, batch.quotes["MSFT"].iloc[-5:].reset_index(drop=True), check_dtype=False)
    ticks = manager.session_data.ticks("AAPL")
    assert ticks["price"].tolist() == batch.ticks["AAPL"]["price"].iloc[-3:].tolist()
    summary = manager.snapshot()["symbols"]["AAPL"]
    assert summary["quotes"] == 5 and summary["ticks"] == 3
    last = batch.quotes["AAPL"].iloc[-1]
    assert summary["last_quote"] == {
        "t": "2024-11-27T20:59:20Z",
        "bid": last["bid"],
        "bid_size": 100.0,
        "ask": last["ask"],
        "ask_size": 200.0,
    }
    assert summary["last_tick"]["side"] in ("buy", "sell")


def test_snapshot_reports_session_state_high_low_and_volume() -> None:
    batch = full_batch(WED, SYMBOLS)
    manager, _, _, wall = replay(config(derived_intervals=["15m"]), MemoryFeed({WED: batch}))
    run_to_end(manager, wall)
    snapshot = manager.snapshot()
    assert snapshot["state"] == "finished" and snapshot["mode"] == "backtest"
    assert snapshot["now"] == "2024-11-27T21:00:00Z"
    assert snapshot["session_date"] == "2024-11-27"
    aapl = snapshot["symbols"]["AAPL"]
    assert aapl["bars_1m"] == 390 and aapl["derived"] == {"15m": 26}
    assert aapl["session_volume"] == batch.bars["AAPL"]["volume"].sum()
    assert aapl["session_high"] == batch.bars["AAPL"]["high"].max()
    assert aapl["session_low"] == batch.bars["AAPL"]["low"].min()


def test_one_frame_of_all_symbols_streams_like_frames_per_symbol() -> None:
    per_symbol = full_batch(WED, SYMBOLS)
    long = SessionBatch(
        bars=pd.concat([frame.assign(symbol=s) for s, frame in per_symbol.bars.items()]).sort_values(
            "ts", kind="stable"
        ),
        quotes=pd.concat([frame.assign(symbol=s) for s, frame in per_symbol.quotes.items()]),
        ticks={symbol: frame for symbol, frame in per_symbol.ticks.items()},
    )
    first, events_a, _, wall_a = replay(config(), MemoryFeed({WED: per_symbol}))
    second, events_b, _, wall_b = replay(config(), MemoryFeed({WED: long}))
    run_to_end(first, wall_a)
    run_to_end(second, wall_b)
    assert events_a == events_b


def test_streams_not_asked_for_are_neither_stored_nor_published() -> None:
    manager, events, _, wall = replay(config(streams=["quotes"]), MemoryFeed({WED: full_batch(WED, SYMBOLS)}))
    run_to_end(manager, wall)
    assert {event["type"] for event in events} == {"session_started", "quote", "session_ended", "state"}
    summary = manager.snapshot()["symbols"]["AAPL"]
    assert summary["bars_1m"] == 0 and summary["bar_quality"] is None and summary["ticks"] == 0


class BrokenFeed(MemoryFeed):
    def load_session(self, date: dt.date) -> SessionBatch:
        raise ConnectionError("store unreachable")


def test_a_feed_that_cannot_load_a_session_puts_the_run_in_error() -> None:
    manager, events, _, _ = replay(config(), BrokenFeed())
    manager.coordinator.upkeep_step()
    assert manager.state == "error"
    assert "store unreachable" in manager.snapshot()["error"]
    manager.coordinator.step()
    assert events[-1] == {
        "type": "state",
        "symbol": None,
        "t": "2024-11-27T14:30:00Z",
        "data": {"state": "error", "speed": 0.0, "error": "upkeep: store unreachable"},
    }


class FlakyStore(MemoryFeed):
    def fill_gaps(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        self.fill_calls.append((symbol, start, end))
        raise TimeoutError("provider timed out")


def test_a_failing_gap_fill_leaves_the_gap_and_the_replay_running() -> None:
    batch = full_batch(WED, SYMBOLS, skip={"AAPL": [10]})
    feed = FlakyStore({WED: batch})
    manager, _, _, wall = replay(config(), feed)
    run_to_end(manager, wall)
    assert manager.state == "finished"
    assert len(feed.fill_calls) == 1
    assert manager.snapshot()["symbols"]["AAPL"]["bar_quality"] == round(100 * 389 / 390, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"symbols": {}}, "symbols"),
        ({"start_date": WED, "end_date": None}, "both"),
        ({"start_date": WED, "end_date": dt.date(2024, 11, 1)}, "before"),
        ({"start_time": "16:00", "end_time": "09:30"}, "end_time"),
        ({"start_time": "9.30"}, "start_time"),
        ({"streams": ["bars", "trades"]}, "streams"),
        ({"derived_intervals": ["30s"]}, "30s"),
        ({"derived_intervals": ["2d"]}, "2d"),
        ({"speed": -1}, "speed"),
        ({"historical_bars_types": ["5x"]}, "interval"),
    ],
)
def test_config_refuses_what_a_session_cannot_stream(kwargs: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"symbols": {"AAPL": "XNYS"}}
    base.update(kwargs)
    with pytest.raises(ValueError, match=message):
        SessionConfig(**base)


def test_config_normalizes_history_types_to_intervals() -> None:
    cfg = SessionConfig(symbols={"AAPL": "XNYS"}, historical_bars_types=[1, 5, "15m"], derived_intervals=["60m"])
    assert cfg.historical_bars_types == ("1m", "5m", "15m")
    assert cfg.derived_intervals == ("60m",)
    assert cfg.is_live and cfg.calendar_name == "XNYS"


def test_iso_times_match_numpy_formatting() -> None:
    values = pd.DatetimeIndex(
        ["2024-11-27T14:30:00Z", "2024-11-27T14:30:00.5Z", "2024-12-31T23:59:59.999999Z", "1999-01-01T00:00:00.000001Z"]
        * 10
    ).as_unit("ns")
    ns = values.to_numpy(dtype="datetime64[ns]").view("int64")
    expected = [text.replace(".000000", "") + "Z" for text in values.strftime("%Y-%m-%dT%H:%M:%S.%f")]
    assert iso_times(ns) == expected
    assert iso_times(ns[:3]) == expected[:3]
