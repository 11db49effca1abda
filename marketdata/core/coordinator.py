"""The session engine's threads (seed design): `StreamCoordinator` and the `SystemManager` that owns it.

Main thread (`StreamCoordinator.step`): merge the session's events by availability
(bar close, quote/tick time; ties: bar < derived_bar < quote < tick, then symbol,
then sequence) into `SessionData` and `publish`, pace a replay (`speed` simulated
seconds per wall second, 0 = as fast as possible; data older than the clock goes
at once), close derived bars, end sessions and move a replay's clock to the next.

Upkeep thread (`StreamCoordinator.upkeep_step`, see `upkeep.py`): begin and prefetch
sessions, fill gaps, keep trailing-days history.

The engine never reads system time: `clock.now()` is "now" (a replay's clock is
moved with `advance_to`), `wall()` measures pacing and timeouts. `run()` loops are
thin; tests call `step()`/`upkeep_step()` and move fake clocks.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import pandas as pd

from marketdata.core.replay import (
    KIND_BAR,
    KIND_DERIVED,
    KIND_QUOTE,
    STREAM_KINDS,
    Clock,
    EventBlock,
    PreparedSession,
    SessionFeed,
    SessionPlan,
    Stream,
    bar_maker,
    publish_in_order,
    stream_block,
    stream_from_frame,
    symbol_ranks,
)
from marketdata.core.session_config import MINUTE_NS, SessionConfig, iso_time, utc_ns
from marketdata.core.session_data import SessionData
from marketdata.core.upkeep import DataUpkeep

logger = logging.getLogger(__name__)

STATES = ("running", "paused", "stopped", "finished", "error")
TERMINAL_STATES = ("stopped", "finished", "error")
IDLE_WAIT_S = 0.25
UPKEEP_INTERVAL_S = 0.5

Publish = Callable[[dict[str, Any]], None]
Wall = Callable[[], float]


class StreamCoordinator:
    """Merge a session's data into `SessionData` in availability order and publish it."""

    def __init__(
        self,
        *,
        config: SessionConfig,
        session_data: SessionData,
        clock: Clock,
        feed: SessionFeed,
        publish: Publish | None = None,
        wall: Wall = time.monotonic,
        plan: SessionPlan | None = None,
    ) -> None:
        self.config = config
        self.session_data = session_data
        self.clock = clock
        self.plan = plan or SessionPlan(config)
        self._publish = publish
        self._wall = wall
        self._live = config.is_live
        if not self._live and not callable(getattr(clock, "advance_to", None)):
            raise TypeError("a replay needs a clock with advance_to(ts), e.g. SimulatedClock")
        self._grace_ns = int(config.live_grace_s * 1e9) if self._live else 0
        self._ranks = symbol_ranks(config)
        self._control = threading.Lock()
        self.state = "running"
        self.speed = float(config.speed)
        self.last_error: str | None = None
        self._paused_at: float | None = None
        self._anchor: tuple[float, int] | None = None  # (wall, clock ns) that pacing counts from
        self._last_data_wall: float | None = None
        self._notices: deque[dict[str, Any]] = deque()
        self._sessions: queue.Queue[PreparedSession] = queue.Queue()
        self._pushes: queue.Queue[tuple[int, str, pd.DataFrame]] = queue.Queue()
        self._wake, self._upkeep_wake, self._halt = threading.Event(), threading.Event(), threading.Event()
        self._threads: list[threading.Thread] = []
        self._current: PreparedSession | None = None
        self._emitted: dict[tuple[str, str], int] = {}
        self._last_ended = False  # the last session of a replay has ended
        self.upkeep = DataUpkeep(
            config=config,
            session_data=session_data,
            clock=clock,
            feed=feed,
            plan=self.plan,
            sessions_out=self._sessions,
            wake_main=self._wake.set,
            on_finished=self._finished_by_upkeep,
            grace_ns=self._grace_ns,
        )

    # --------------------------------------------------------------------- control

    def pause(self) -> None:
        """Stop the clock and the no-data timer until `resume()`."""
        with self._control:
            if self.state != "running":
                return
            self.state, self._paused_at = "paused", self._wall()
            self._notice()
        self._wake.set()

    def resume(self) -> None:
        with self._control:
            if self.state != "paused":
                return
            now_wall = self._wall()
            if self._last_data_wall is not None and self._paused_at is not None:
                self._last_data_wall += now_wall - self._paused_at
            self._anchor = (now_wall, utc_ns(self.clock.now()))
            self.state, self._paused_at = "running", None
            self._notice()
        self._wake.set()

    def set_speed(self, speed: float) -> None:
        """Change the replay speed from now on (simulated seconds per wall second, 0 = as fast as possible)."""
        if speed < 0:
            raise ValueError("speed must be >= 0")
        with self._control:
            self._anchor = (self._wall(), utc_ns(self.clock.now()))
            self.speed = float(speed)
            self._notice()
        self._wake.set()

    def finish(self) -> None:
        """Mark the run finished (no session left)."""
        self._set_final("finished")

    def _finished_by_upkeep(self) -> None:
        self.finish()
        self._wake.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop streaming and the threads; publish the final state."""
        self._set_final("stopped")
        self._halt.set()
        self._wake.set()
        self._upkeep_wake.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout_s)
        if not any(thread.is_alive() for thread in self._threads):
            self._flush_notices()

    def _set_final(self, state: str, error: str | None = None) -> None:
        with self._control:
            if self.state in TERMINAL_STATES:
                return
            self.state = state
            if error is not None:
                self.last_error = error
            self._notice()

    def _notice(self) -> None:
        """Queue a `state` event; the main thread publishes it in order with the data (hold `_control`)."""
        data = {"state": self.state, "speed": self.speed, "error": self.last_error}
        self._notices.append({"type": "state", "symbol": None, "t": iso_time(utc_ns(self.clock.now())), "data": data})

    def _flush_notices(self) -> None:
        while self._notices:
            self._emit(self._notices.popleft())

    def _emit(self, event: dict[str, Any]) -> None:
        if self._publish is not None:
            self._publish(event)

    def _fail(self, message: str) -> None:
        logger.error("session engine failed: %s", message)
        with self.session_data.lock:
            self.session_data.errors.append(message)
        self._set_final("error", message)
        self._halt.set()
        self._upkeep_wake.set()

    # ------------------------------------------------------------------- live input

    def push(self, stream: str, symbol: str, frame: pd.DataFrame) -> None:
        """Hand live data to the main thread: `stream` is "bars", "quotes" or "ticks" (thread-safe)."""
        self._pushes.put((STREAM_KINDS[stream], symbol, frame))
        self._wake.set()

    def _drain_pushes(self) -> None:
        items = []
        while True:
            try:
                items.append(self._pushes.get_nowait())
            except queue.Empty:
                break
        if not items or self._current is None:
            return
        kinds = {STREAM_KINDS[name] for name in self.config.streams}
        window = self._current.window
        self._current.book.add(
            stream_from_frame(kind, symbol, self._ranks[symbol], frame, window)
            for kind, symbol, frame in items
            if kind in kinds and symbol in self._ranks and len(frame)
        )

    # ------------------------------------------------------------------------ loops

    def start(self) -> StreamCoordinator:
        """Run the main and the upkeep loop on their own threads."""
        for target, name in ((self.run, "session-main"), (self.run_upkeep, "session-upkeep")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def run(self) -> None:
        """Call `step()` until the run ends, waiting as it says (woken early by data and control)."""
        while not self._halt.is_set():
            delay = self.step()
            if delay is None:
                break
            if delay > 0 and self._wake.wait(delay):
                self._wake.clear()
        self._flush_notices()
        self._upkeep_wake.set()

    def run_upkeep(self) -> None:
        while not self._halt.is_set() and self.state not in TERMINAL_STATES:
            self.upkeep_step()
            if self._upkeep_wake.wait(UPKEEP_INTERVAL_S):
                self._upkeep_wake.clear()

    def upkeep_step(self) -> None:
        """Do one round of data upkeep (see `DataUpkeep.step`)."""
        if self.state in TERMINAL_STATES:
            return
        try:
            self.upkeep.step()
        except Exception as exc:
            logger.exception("session upkeep failed")
            self._fail(f"upkeep: {exc}")

    # ------------------------------------------------------------------------- main

    def step(self) -> float | None:
        """Do one main-thread step; return seconds to wait before the next (None: the run is over)."""
        with self._control:
            state, speed, anchor = self.state, self.speed, self._anchor
        self._flush_notices()
        if state in TERMINAL_STATES:
            return None
        if state == "paused":
            return IDLE_WAIT_S
        try:
            return self._step(speed, anchor)
        except Exception as exc:
            logger.exception("session main step failed")
            self._fail(f"main: {exc}")
            self._flush_notices()
            return None

    def _step(self, speed: float, anchor: tuple[float, int] | None) -> float:
        now_wall = self._wall()
        if self._last_data_wall is None:
            self._last_data_wall = now_wall
        if self._current is None and not self._begin_streaming(now_wall):
            return self._wait_for_session(now_wall)
        self._drain_pushes()
        current = self._current
        assert current is not None
        window, book = current.window, current.book
        data = self.session_data
        with data.lock:
            clock_ns = utc_ns(self.clock.now())
            target = self._target(clock_ns, now_wall, speed, anchor)
            taken = book.take(target)
            for stream, first, end in taken:
                self._insert(stream, first, end)
            derived = self._close_derived(target)
            for symbol_data in data.symbols.values():
                symbol_data.refresh_quality(target - self._grace_ns)
            data.merged_through_ns = max(data.merged_through_ns, target)
            if not self._live and target > clock_ns:
                self.clock.advance_to(pd.Timestamp(target, tz="UTC"))
        if self._publish is not None and (taken or derived):
            blocks = [stream_block(stream, first, end) for stream, first, end in taken]
            publish_in_order(blocks + derived, self._publish)
        if taken:
            self._last_data_wall = now_wall
        pending = book.next_avail()
        if self._live:
            if target >= window.end_ns + self._grace_ns:  # the last bar may arrive a little after the close
                self._end_session(now_wall, timer_expired=False)
                return 0.0
            wake_ns = min(pending if pending is not None else window.end_ns, window.end_ns)
            return min(IDLE_WAIT_S, max(0.0, (wake_ns - target) / 1e9))
        if pending is None:
            if target >= window.end_ns - MINUTE_NS:
                self._end_session(now_wall, timer_expired=False)
                return 0.0
            idle_for = now_wall - self._last_data_wall
            if idle_for >= self.config.timeout_s:
                self._end_session(now_wall, timer_expired=True)
                return 0.0
            return min(IDLE_WAIT_S, self.config.timeout_s - idle_for)
        if speed == 0:
            return 0.0
        return min(IDLE_WAIT_S, max(0.0, (pending - target) / 1e9 / speed))

    def _target(self, clock_ns: int, now_wall: float, speed: float, anchor: tuple[float, int] | None) -> int:
        """Return the time up to which this step merges (and a replay's clock moves)."""
        assert self._current is not None
        window, book = self._current.window, self._current.book
        if self._live:
            return clock_ns
        if speed == 0:
            # As fast as possible: the clock jumps to the last event of a chunk of whole instants.
            if not len(book):
                return clock_ns
            return max(clock_ns, book.cut(window.end_ns, self.config.max_step_events, to_last=True))
        if anchor is None:
            anchor = (now_wall, clock_ns)
            with self._control:
                self._anchor = anchor
        wall0, sim0 = anchor
        paced = sim0 + int(round((now_wall - wall0) * speed * 1e9))
        return book.cut(max(clock_ns, min(paced, window.end_ns)), self.config.max_step_events)

    def _insert(self, stream: Stream, first: int, end: int) -> None:
        symbol_data = self.session_data.symbols[stream.symbol]
        ts = stream.ts[first:end]
        columns = {name: array[first:end] for name, array in stream.columns.items()}
        if stream.kind == KIND_BAR:
            symbol_data.insert_bars(ts, columns)
        elif stream.kind == KIND_QUOTE:
            symbol_data.insert_quotes(ts, columns)
        else:
            symbol_data.insert_ticks(ts, columns)

    def _close_derived(self, through_ns: int, *, final: bool = False) -> list[EventBlock]:
        """Build the derived bars whose bins are complete at `through_ns` (hold the lock)."""
        blocks: list[EventBlock] = []
        for symbol, symbol_data in self.session_data.symbols.items():
            for sub, (text, available) in enumerate(symbol_data.derived_available.items()):
                first = self._emitted.get((symbol, text), 0)
                if first >= len(available):
                    continue
                due = len(available) if final else symbol_data.complete_bins(text, through_ns, self._grace_ns)
                if due <= first:
                    continue
                self._emitted[(symbol, text)] = due
                made = symbol_data.rebuild_derived(text, first, due)
                if len(made) == 0 or self._publish is None:
                    continue
                slots = symbol_data.derived[text]
                columns = {name: array[made] for name, array in slots.values.items()}
                make = bar_maker("derived_bar", text, symbol, available[made], slots.starts[made], columns)
                blocks.append(EventBlock(available[made], KIND_DERIVED, self._ranks[symbol], sub, make))
        return blocks

    def _begin_streaming(self, now_wall: float) -> bool:
        """Take the next prepared session from the upkeep thread, if there is one."""
        try:
            prepared = self._sessions.get_nowait()
        except queue.Empty:
            return False
        self._current, self._emitted = prepared, {}
        window = prepared.window
        with self.session_data.lock:
            clock_ns = utc_ns(self.clock.now())
            if not self._live and clock_ns < window.start_ns:
                self.clock.advance_to(window.start)
                clock_ns = window.start_ns
        with self._control:
            self._anchor = (now_wall, clock_ns)
        self._last_data_wall = now_wall
        self._emit({"type": "session_started", "symbol": None, "t": iso_time(window.start_ns), "data": window.info()})
        return True

    def _wait_for_session(self, now_wall: float) -> float:
        """Wait for the upkeep thread's next session; a replay gives up after `timeout_s` of wall time."""
        assert self._last_data_wall is not None
        # After the last session the upkeep finishes the run, once its last round on it is done.
        if not self._live and not self._last_ended and now_wall - self._last_data_wall >= self.config.timeout_s:
            with self.session_data.lock:
                self.session_data.timer_expired = True
            self._fail(f"timer_expired: no session data within {self.config.timeout_s:g}s")
            self._flush_notices()
        return IDLE_WAIT_S

    def _end_session(self, now_wall: float, *, timer_expired: bool) -> None:
        """Close the session: last derived bars, `session_ended`, history, and a replay's clock to the next."""
        assert self._current is not None
        window = self._current.window
        upcoming = self.plan.after(window)
        data = self.session_data
        with data.lock:
            derived = self._close_derived(window.end_ns, final=True)
            for symbol_data in data.symbols.values():
                symbol_data.refresh_quality(window.end_ns)
            data.merged_through_ns = window.end_ns
            data.end_session(timer_expired=timer_expired)
            if not self._live:
                if utc_ns(self.clock.now()) < window.end_ns:
                    self.clock.advance_to(window.end)
                if upcoming is not None:
                    self.clock.advance_to(upcoming.start)
        publish_in_order(derived, self._emit)
        ended = {**window.info(), "timer_expired": timer_expired}
        self._emit({"type": "session_ended", "symbol": None, "t": iso_time(window.end_ns), "data": ended})
        self._current = None
        self._last_data_wall = now_wall
        self._last_ended = upcoming is None
        self.upkeep.session_ended(window)
        self._upkeep_wake.set()


class SystemManager:
    """One session (live or replay): its `session_data`, clock, state and coordinator.

    `publish(event)` is called from the coordinator's main thread, in order, with
    `{type, symbol, t, data}` events; `wall()` is the wall-time source for pacing
    and timeouts (seconds, monotonic).
    """

    def __init__(
        self,
        config: SessionConfig,
        *,
        feed: SessionFeed,
        clock: Clock,
        publish: Publish | None = None,
        wall: Wall = time.monotonic,
        paused: bool = False,
        plan: SessionPlan | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.session_data = SessionData(config)
        self.plan = plan or SessionPlan(config)
        self.coordinator = StreamCoordinator(
            config=config,
            session_data=self.session_data,
            clock=clock,
            feed=feed,
            publish=publish,
            wall=wall,
            plan=self.plan,
        )
        if not config.is_live:
            first = self.plan.first(clock.now())
            if first is None:
                self.coordinator.finish()
            elif clock.now() < first.start:
                clock.advance_to(first.start)  # type: ignore[attr-defined]
        if paused:
            self.pause()

    @property
    def state(self) -> str:
        return self.coordinator.state

    @property
    def speed(self) -> float:
        return self.coordinator.speed

    def start(self) -> SystemManager:
        """Start the main and upkeep threads."""
        self.coordinator.start()
        return self

    def pause(self) -> None:
        self.coordinator.pause()

    def resume(self) -> None:
        self.coordinator.resume()

    def stop(self) -> None:
        self.coordinator.stop()

    def set_speed(self, speed: float) -> None:
        self.coordinator.set_speed(speed)

    def snapshot(self) -> dict[str, Any]:
        """Return `{state, mode, now, speed, error, session_date, session_ended, timer_expired, symbols}`."""
        with self.session_data.lock:
            body = self.session_data.snapshot()
            now = self.clock.now()
        return {
            "state": self.state,
            "mode": "live" if self.config.is_live else "backtest",
            "now": iso_time(utc_ns(now)),
            "speed": self.speed,
            "error": self.coordinator.last_error,
            **body,
        }
