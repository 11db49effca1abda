"""Replay and live sessions: create, control, run, publish (the session engine's Django side).

A session is a `ReplaySession` row plus a `SystemManager` running in one process: an
in-process thread in the embedded default, a job on the `sessions` Celery queue with a
broker. Control (pause, resume, stop, speed) is written to the row and applied by the
runner within a fraction of a second, whichever process owns the session; the runner
writes the state and a snapshot back. Events go to the Channels group of the session
in ordered batches, and the WebSocket consumer sends them on one by one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from typing import Any

import pandas as pd
from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections, transaction

from marketdata.core.calendar import get_calendar
from marketdata.core.clock import Clock, LiveClock, SimulatedClock
from marketdata.core.coordinator import TERMINAL_STATES, SystemManager
from marketdata.core.session_config import SessionConfig
from marketdata.models import ReplaySession, Symbol
from marketdata.session_feed import StoreFeed
from mdserver import jobs
from mdserver.api import ApplicationError, jsonable
from mdserver.db import release_pooled_connections

logger = logging.getLogger(__name__)

CONTROL_POLL_S = 0.2
SNAPSHOT_EVERY_S = 0.5
FLUSH_EVERY_S = 0.05
FLUSH_MAX_EVENTS = 500

# Sessions whose engine runs in this process, and the ASGI event loop (for the in-memory layer).
_running: dict[str, SystemManager] = {}
_running_lock = threading.Lock()
_main_loop: asyncio.AbstractEventLoop | None = None


def group_name(session_id: Any) -> str:
    return f"session-{session_id}"


def remember_event_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Note the server's event loop (the WebSocket consumer calls this on connect)."""
    global _main_loop
    _main_loop = loop


def _group_send(session_id: str, message: dict) -> None:
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        # The in-memory layer lives on the server's loop; hand it the message there.
        if _main_loop is None or _main_loop.is_closed():
            return  # nobody has connected in this process yet
        asyncio.run_coroutine_threadsafe(layer.group_send(group_name(session_id), message), _main_loop).result(10)
    else:
        async_to_sync(layer.group_send)(group_name(session_id), message)


class BatchPublisher:
    """Collect the engine's events in order and send them to the group in batches."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self._pending: list[dict] = []
        self._lock = threading.Lock()
        self._sent = 0

    def __call__(self, event: dict) -> None:
        with self._lock:
            self._pending.append(event)
            full = len(self._pending) >= FLUSH_MAX_EVENTS
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            events, self._pending = self._pending, []
            if not events:
                return
            try:
                _group_send(self.session_id, {"type": "session.events", "events": events})
                self._sent += len(events)
            except Exception:  # a slow or gone client must not stop the replay
                logger.exception("could not publish %d events of session %s", len(events), self.session_id)


# --- create and control -------------------------------------------------------


def _symbols(tickers: list[str]) -> dict[str, Symbol]:
    from marketdata.selectors import symbol_resolve

    found = {}
    for text in tickers:
        ticker, _, venue = text.partition("@")
        symbol = symbol_resolve(ticker=ticker, venue=venue or None)
        found[symbol.ticker] = symbol
    return found


def session_config(config: dict) -> SessionConfig:
    """Build the engine's config from a stored request body; a ValueError names what is wrong."""
    symbols = _symbols(config["symbols"])
    derived = sorted(
        {f"{int(t)}m" if str(t).isdigit() else str(t) for t in config.get("historical_bars_types", [])} - {"1m"}
    )
    return SessionConfig(
        symbols={ticker: symbol.calendar for ticker, symbol in symbols.items()},
        start_date=dt.date.fromisoformat(config["start_date"]) if config.get("start_date") else None,
        end_date=dt.date.fromisoformat(config["end_date"]) if config.get("end_date") else None,
        start_time=config.get("start_time", "09:30"),
        end_time=config.get("end_time", "16:00"),
        historical_bars_trailing_days=int(config.get("historical_bars_trailing_days", 0)),
        historical_bars_types=list(config.get("historical_bars_types", [])),
        derived_intervals=config.get("derived_intervals") or derived,
        streams=list(config.get("streams", ["bars", "quotes", "ticks"])),
        speed=float(config.get("speed", 0)),
        timeout_s=float(config.get("timeout_s", 60)),
    )


def session_create(*, owner, config: dict, paused: bool = False) -> ReplaySession:
    """Validate a session request, save it and start its engine (thread or `sessions` queue job)."""
    try:
        session_config(config)
    except (ValueError, KeyError) as exc:
        raise ApplicationError(f"invalid session: {exc}", details=[{"field": "config", "message": str(exc)}]) from None
    session = ReplaySession.objects.create(
        owner=owner,
        config=config,
        speed=float(config.get("speed", 0)),
        desired_state=ReplaySession.State.PAUSED if paused else ReplaySession.State.RUNNING,
    )
    if settings.JOBS_BACKEND == "celery":
        with transaction.atomic():
            job = jobs.submit_deferred(kind="marketdata.session", owner=owner, params={"session_id": str(session.id)},
                                       queue=settings.SESSIONS_QUEUE)  # fmt: skip
            ReplaySession.objects.filter(id=session.id).update(job=job)
            jobs.dispatch(job)
    else:
        transaction.on_commit(lambda: _start_thread(str(session.id)))
    session.refresh_from_db()
    return session


def _start_thread(session_id: str) -> None:
    threading.Thread(target=_run_in_thread, args=(session_id,), name=f"session-{session_id[:8]}", daemon=True).start()


def _run_in_thread(session_id: str) -> None:
    close_old_connections()
    try:
        session_run(session_id=session_id)
    finally:
        connections.close_all()


def session_control(*, session: ReplaySession, action: str | None = None, speed: float | None = None) -> ReplaySession:
    """Ask the session's runner to pause, resume, stop or change speed."""
    if session.state in ReplaySession.FINAL:
        raise ApplicationError(f"the session has already {session.state}", code="session_over")
    updates: dict[str, Any] = {}
    if action is not None:
        updates["desired_state"] = {"pause": "paused", "resume": "running", "stop": "stopped"}[action]
    if speed is not None:
        if speed < 0:
            raise ApplicationError("speed must be >= 0", details=[{"field": "speed", "message": "must be >= 0"}])
        updates["speed"] = speed
    ReplaySession.objects.filter(id=session.id).update(**updates)
    with _running_lock:
        manager = _running.get(str(session.id))
    if manager is not None:  # same process: apply at once, the runner confirms
        _apply_control(manager, updates.get("desired_state"), updates.get("speed"))
    session.refresh_from_db()
    return session


def _apply_control(manager: SystemManager, desired: str | None, speed: float | None) -> None:
    if speed is not None and speed != manager.speed:
        manager.set_speed(speed)
    if desired == "paused" and manager.state == "running":
        manager.pause()
    elif desired == "running" and manager.state == "paused":
        manager.resume()
    elif desired == "stopped" and manager.state not in TERMINAL_STATES:
        manager.stop()


class SnapshotClock:
    """A session's simulated clock as seen from another process: the runner's last snapshot."""

    mode = "backtest"

    def __init__(self, now: pd.Timestamp) -> None:
        self._now = now

    def now(self) -> pd.Timestamp:
        return self._now


def session_clock(*, session_id: str, user) -> Clock | None:
    """Return the clock of one of `user`'s sessions, or None when there is no such session."""
    try:
        session = ReplaySession.objects.filter(id=session_id, owner=user).first()
    except Exception:  # not a UUID
        return None
    if session is None:
        return None
    with _running_lock:
        manager = _running.get(str(session.id))
    if manager is not None:
        return manager.clock
    now = session.snapshot.get("now")
    return SnapshotClock(pd.Timestamp(now)) if now else LiveClock()


# --- the runner ---------------------------------------------------------------


def _start_clock(config: SessionConfig) -> Clock:
    if config.start_date is None:
        return LiveClock()
    calendar = get_calendar(next(iter(config.symbols.values())))
    midnight = pd.Timestamp(config.start_date).tz_localize(calendar.tz).tz_convert("UTC")
    return SimulatedClock(midnight)


def session_run(*, session_id: str, wall=time.monotonic, sleep=time.sleep) -> str:
    """Run a session to its end: the engine's threads plus this control and snapshot loop."""
    session = ReplaySession.objects.get(id=session_id)
    if session.state in ReplaySession.FINAL:
        return session.state
    config = session_config(session.config)
    symbols = _symbols(session.config["symbols"])
    feed = StoreFeed(symbols, streams=tuple(config.streams), gap_source=session.config.get("gap_source"))
    publisher = BatchPublisher(session_id)
    manager = SystemManager(config, feed=feed, clock=_start_clock(config), publish=publisher, wall=wall,
                            paused=session.desired_state == ReplaySession.State.PAUSED)  # fmt: skip
    live_feeder = None
    if config.is_live:
        from marketdata.live import SyntheticLiveFeeder

        live_feeder = SyntheticLiveFeeder(manager, symbols)
    publisher({"type": "state", "symbol": None, "t": None, "data": {"state": manager.state}})
    manager.start()
    # Registered once its threads run: a stop that came earlier is applied from the row below.
    with _running_lock:
        _running[session_id] = manager
    if live_feeder:
        live_feeder.start()
    last_snapshot = 0.0
    last_state = None
    try:
        while True:
            try:
                row = ReplaySession.objects.filter(id=session_id).values("desired_state", "speed").first()
            except DatabaseError:  # e.g. no pooled connection free in time: the engine runs on, ask again
                logger.warning("session %s: could not read its controls; retrying", session_id, exc_info=True)
                release_pooled_connections()
                sleep(CONTROL_POLL_S)
                continue
            if row is None:
                manager.stop()
            else:
                _apply_control(manager, row["desired_state"], row["speed"])
            publisher.flush()
            state = manager.state
            if state != last_state or wall() - last_snapshot >= SNAPSHOT_EVERY_S or state in TERMINAL_STATES:
                snapshot = jsonable(manager.snapshot())
                try:
                    ReplaySession.objects.filter(id=session_id).update(
                        state=state, snapshot=snapshot, error=snapshot.get("error") or ""
                    )
                except DatabaseError:  # saved on the next pass; the state message waits for it
                    logger.warning("session %s: could not save its state; retrying", session_id, exc_info=True)
                    release_pooled_connections()
                    sleep(CONTROL_POLL_S)
                    continue
                if state != last_state:
                    publisher({"type": "state", "symbol": None, "t": None, "data": {"state": state}})
                    publisher.flush()
                last_snapshot, last_state = wall(), state
            if state in TERMINAL_STATES:
                return state
            release_pooled_connections()
            sleep(CONTROL_POLL_S)
    finally:
        if live_feeder:
            live_feeder.stop()
        manager.stop()
        publisher.flush()
        with _running_lock:
            _running.pop(session_id, None)
