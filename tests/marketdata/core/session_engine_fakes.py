"""Fakes for the session engine tests: a manual clock and wall, an in-memory feed, data builders."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from marketdata.core.bars import empty_bars, resample_bars
from marketdata.core.calendar import get_calendar
from marketdata.core.coordinator import SystemManager
from marketdata.core.replay import SessionBatch
from marketdata.core.session_data import SessionConfig

XNYS = get_calendar("XNYS")
MINUTE = pd.Timedelta(minutes=1)


class ManualClock:
    """A clock that moves only when told (forward only), like SimulatedClock."""

    def __init__(self, start: pd.Timestamp | str) -> None:
        self._now = pd.Timestamp(start).tz_convert("UTC")

    def now(self) -> pd.Timestamp:
        return self._now

    def advance_to(self, ts: pd.Timestamp) -> pd.Timestamp:
        ts = pd.Timestamp(ts).tz_convert("UTC")
        if ts < self._now:
            raise ValueError(f"clock cannot move backwards: {ts} < {self._now}")
        self._now = ts
        return ts


class LiveTestClock:
    """A live clock for tests: it has no advance_to (the engine must not move it); the test sets it."""

    def __init__(self, start: pd.Timestamp | str) -> None:
        self.current = pd.Timestamp(start).tz_convert("UTC")

    def now(self) -> pd.Timestamp:
        return self.current


class ManualWall:
    """Wall seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds

    def tick(self, seconds: float) -> None:
        self.seconds += seconds


def session_of(date: dt.date) -> tuple[pd.Timestamp, pd.Timestamp]:
    session = XNYS.session_on(date)
    assert session is not None, f"{date} is no XNYS session"
    return session["open"], session["close"]


def minute_bars(
    date: dt.date, *, seed: int = 1, skip: Iterable[int] = (), minutes: range | None = None
) -> pd.DataFrame:
    """Return valid 1m bars of the XNYS session on `date` (minute numbers in `skip` left out)."""
    open_, close = session_of(date)
    count = int((close - open_) / MINUTE)
    chosen = np.array(sorted(set(minutes if minutes is not None else range(count)) - set(skip)), dtype=np.int64)
    rng = np.random.default_rng(seed * 100_000 + date.toordinal())
    close_px = 100.0 + seed + np.cumsum(rng.normal(0.0, 0.1, count))
    open_px = np.concatenate(([100.0 + seed], close_px[:-1]))
    high = np.maximum(open_px, close_px) + rng.uniform(0.01, 0.2, count)
    low = np.minimum(open_px, close_px) - rng.uniform(0.01, 0.2, count)
    frame = pd.DataFrame(
        {
            "ts": pd.DatetimeIndex(open_ + MINUTE * np.arange(count)).as_unit("ns"),
            "open": open_px,
            "high": high,
            "low": low,
            "close": close_px,
            "volume": rng.integers(100, 1000, count).astype(float),
            "trade_count": rng.integers(1, 50, count).astype(float),
            "vwap": (high + low) / 2,
        }
    )
    return frame.iloc[chosen].reset_index(drop=True)


def quotes_for(bars: pd.DataFrame, offset_s: float = 20.0) -> pd.DataFrame:
    """One quote per bar, `offset_s` into the minute."""
    return pd.DataFrame(
        {
            "ts": bars["ts"] + pd.Timedelta(seconds=offset_s),
            "bid": bars["close"] - 0.01,
            "bid_size": 100.0,
            "ask": bars["close"] + 0.01,
            "ask_size": 200.0,
        }
    )


def ticks_for(bars: pd.DataFrame, offset_s: float = 40.0) -> pd.DataFrame:
    """One trade per bar, `offset_s` into the minute."""
    return pd.DataFrame(
        {
            "ts": bars["ts"] + pd.Timedelta(seconds=offset_s),
            "price": bars["close"],
            "size": 10.0,
            "side": np.where(np.arange(len(bars)) % 2 == 0, "buy", "sell"),
        }
    )


def full_batch(date: dt.date, symbols: Iterable[str], *, skip: dict[str, Iterable[int]] | None = None) -> SessionBatch:
    """Bars, one quote and one tick per minute for each symbol (minutes in `skip` left out)."""
    batch = SessionBatch()
    for seed, symbol in enumerate(symbols, start=1):
        bars = minute_bars(date, seed=seed, skip=(skip or {}).get(symbol, ()))
        batch.bars[symbol] = bars
        batch.quotes[symbol] = quotes_for(bars)
        batch.ticks[symbol] = ticks_for(bars)
    return batch


class MemoryFeed:
    """An in-memory SessionFeed: batches per date, a "store" for gap fills, history for trailing bars."""

    def __init__(
        self,
        sessions: dict[dt.date, SessionBatch] | None = None,
        *,
        store: dict[str, pd.DataFrame] | None = None,
        history: dict[str, pd.DataFrame] | None = None,
    ) -> None:
        self.sessions = sessions or {}
        self.store = store or {}
        self.history = history or {}
        self.loaded: list[dt.date] = []
        self.fill_calls: list[tuple[str, pd.Timestamp, pd.Timestamp]] = []
        self.trailing_calls: list[tuple[str, str, int, dt.date]] = []

    def load_session(self, date: dt.date) -> SessionBatch:
        self.loaded.append(date)
        return self.sessions.get(date, SessionBatch())

    def fill_gaps(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        self.fill_calls.append((symbol, start, end))
        frame = self.store.get(symbol)
        if frame is None:
            return empty_bars()
        return frame.loc[(frame["ts"] >= start) & (frame["ts"] < end)].reset_index(drop=True)

    def trailing_bars(self, symbol: str, interval: str, days: int, before_date: dt.date) -> pd.DataFrame:
        self.trailing_calls.append((symbol, interval, days, before_date))
        frame = self.history.get(symbol, empty_bars())
        sessions = XNYS.previous_sessions(before_date, days)
        if len(frame) == 0 or len(sessions) == 0:
            return empty_bars()
        frame = frame.loc[(frame["ts"] >= sessions["open"].iloc[0]) & (frame["ts"] < sessions["close"].iloc[-1])]
        if interval == "1m":
            return frame.reset_index(drop=True)
        return resample_bars(frame, interval, sessions)


def replay(
    config: SessionConfig, feed: MemoryFeed, *, clock: Any = None, wall: ManualWall | None = None
) -> tuple[SystemManager, list[dict[str, Any]], ManualClock, ManualWall]:
    """Build a replay SystemManager that records every published event."""
    events: list[dict[str, Any]] = []
    assert config.start_date is not None
    clock = clock or ManualClock(pd.Timestamp.combine(config.start_date, dt.time(0, 0)).tz_localize("UTC"))
    wall = wall or ManualWall()
    manager = SystemManager(config, feed=feed, clock=clock, publish=events.append, wall=wall)
    return manager, events, clock, wall


def run_to_end(manager: SystemManager, wall: ManualWall, *, max_steps: int = 100_000, wall_step: float = 0.0) -> int:
    """Step upkeep and main until the run is over; return the number of main steps."""
    coordinator = manager.coordinator
    for count in range(max_steps):
        coordinator.upkeep_step()
        if coordinator.step() is None:
            return count
        wall.tick(wall_step)
    raise AssertionError(f"run did not end within {max_steps} steps (state {manager.state})")


def step_until_a_session_ends(manager: SystemManager, events: list[dict[str, Any]], *, max_steps: int = 10_000) -> None:
    """Let the upkeep begin the first session, then step the main thread until it ends one."""
    manager.coordinator.upkeep_step()
    for _ in range(max_steps):
        if any(event["type"] == "session_ended" for event in events):
            return
        manager.coordinator.step()
    raise AssertionError("no session ended")
