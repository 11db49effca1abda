"""Backtest writes: validate settings, run backtests (as jobs) and parameter sweeps."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import time
from typing import Any

import numpy as np
import pandas as pd
from django.db import transaction

from backtests import engine
from backtests.models import BacktestRun, BacktestSettings
from marketdata import selectors
from marketdata.core.calendar import get_calendar
from marketdata.core.intervals import IntervalError, parse_interval
from marketdata.core.times import EARLIEST_TIME, LATEST_TIME, SUPPORTED_TIMES
from marketdata.models import Symbol
from mdserver import jobs
from mdserver.api import ApplicationError
from mdserver.models import Job

ENGINE_VERSION = "1.0.0"
ENGINES = ("vectorized", "event")
SETTINGS_FIELDS = (
    "name", "data_source", "interval", "start_date", "end_date", "initial_cash", "start_price", "units",
    "loan_amount", "margin_call_ltv", "fee", "slippage", "strategy", "params",
)  # fmt: skip
MAX_SWEEP_RUNS = 200
REPLAY_TIMEOUT_S = 600
EARLIEST_DATE, LATEST_DATE = EARLIEST_TIME.date(), LATEST_TIME.date()  # LATEST_DATE is excluded


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(f"{field}: {message}", details=[{"field": field, "message": message}])


def backtest_settings_check(*, data: dict[str, Any]) -> dict[str, Any]:
    """Check a settings dict with the engine's own rules; return it with params completed by defaults."""
    for name in ("start_date", "end_date"):
        if not EARLIEST_DATE <= data[name] < LATEST_DATE:
            raise _invalid(name, f"{data[name].isoformat()} is out of range: dates go {SUPPORTED_TIMES}")
    if data["end_date"] < data["start_date"]:
        raise _invalid("end_date", "must not be before start_date")
    try:
        interval = parse_interval(data["interval"])
    except IntervalError as exc:
        raise _invalid("interval", str(exc)) from None
    if interval.is_daily and interval.count > 1:
        raise _invalid("interval", "use intraday intervals or 1d")
    if data["data_source"] != "store":
        from marketdata.providers.base import source_names

        if data["data_source"] not in source_names():
            raise _invalid("data_source", f"'store' or a provider: {', '.join(source_names())}")
    try:
        params = engine.validate_params(data["strategy"], data.get("params") or {})
        engine.settings_from(data)
    except engine.ParamError as exc:
        field = exc.field if exc.field in SETTINGS_FIELDS or exc.field == "strategy" else f"params.{exc.field}"
        raise _invalid(field, exc.message) from None
    return {**data, "params": params}


def _settings_recheck(settings: BacktestSettings) -> None:
    """Check saved settings again before a run: a row saved before a rule existed fails here, not in the job."""
    backtest_settings_check(data={name: getattr(settings, name) for name in SETTINGS_FIELDS})


def settings_snapshot(settings: BacktestSettings) -> dict[str, Any]:
    snapshot = {name: getattr(settings, name) for name in SETTINGS_FIELDS}
    snapshot["start_date"] = settings.start_date.isoformat()
    snapshot["end_date"] = settings.end_date.isoformat()
    snapshot["symbol"] = settings.symbol.ticker
    snapshot["venue"] = settings.symbol.venue
    snapshot["symbol_id"] = settings.symbol_id
    return snapshot


def backtest_run_create(*, owner, settings: BacktestSettings, engine_name: str = "vectorized",
                        sweep: Job | None = None, params: dict | None = None) -> BacktestRun:  # fmt: skip
    """Queue one run of `settings` (with `params` overriding the saved ones, for sweeps)."""
    if engine_name not in ENGINES:
        raise _invalid("engine", f"one of {', '.join(ENGINES)}")
    if sweep is None:  # a sweep checks its settings once, before its runs
        _settings_recheck(settings)
    snapshot = settings_snapshot(settings)
    if params is not None:
        snapshot["params"] = params
    with transaction.atomic():
        job = jobs.submit_deferred(kind="backtests.run", owner=owner, params={})
        run = BacktestRun.objects.create(
            owner=owner, settings=settings if settings.pk else None, job=job, sweep=sweep,
            settings_snapshot=snapshot, engine=engine_name, engine_version=ENGINE_VERSION,
        )  # fmt: skip
        job.params = {"run_id": run.id}
        job.save(update_fields=["params"])
        if sweep is not None:
            Job.objects.filter(id=job.id).update(parent=sweep)
        jobs.dispatch(job)
    run.refresh_from_db()
    return run


def backtest_sweep_create(*, owner, settings: BacktestSettings, grid: dict[str, list]) -> Job:
    """Queue one run per combination of `grid` values (params), as one batch job."""
    if not grid or not all(isinstance(v, list) and v for v in grid.values()):
        raise _invalid("grid", 'give each parameter a non-empty list of values, e.g. {"fast": [5, 10]}')
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    if len(combos) > MAX_SWEEP_RUNS:
        raise _invalid("grid", f"{len(combos)} combinations; at most {MAX_SWEEP_RUNS}")
    _settings_recheck(settings)
    checked = []
    for combo in combos:
        merged = {**settings.params, **combo}
        try:
            checked.append(engine.validate_params(settings.strategy, merged))
        except engine.ParamError as exc:
            raise _invalid(f"grid.{exc.field}", f"{exc.message} (in {combo})") from None
    with transaction.atomic():
        sweep = Job.objects.create(kind="backtests.sweep", owner=owner, status=Job.Status.RUNNING,
                                   params={"grid": grid, "settings": settings_snapshot(settings)})  # fmt: skip
        for params in checked:
            backtest_run_create(owner=owner, settings=settings, sweep=sweep, params=params)
    return sweep


# --- running ------------------------------------------------------------------


def _bars_for(snapshot: dict) -> pd.DataFrame:
    symbol = Symbol.objects.get(id=snapshot["symbol_id"])
    calendar = get_calendar(symbol.calendar)
    start = pd.Timestamp(snapshot["start_date"]).tz_localize(calendar.tz).tz_convert("UTC")
    end = (pd.Timestamp(snapshot["end_date"]) + pd.Timedelta(days=1)).tz_localize(calendar.tz).tz_convert("UTC")
    if snapshot["data_source"] != "store":
        from marketdata.services.fetches import FetchSpec, fetch_run

        fetch_run(
            spec=FetchSpec(source=snapshot["data_source"], symbol_id=symbol.id, schema="1m", start=start, end=end)
        )
    interval = parse_interval(snapshot["interval"])
    parts, cursor = [], start
    while True:
        page = selectors.bars_page(symbol=symbol, interval=interval, start=cursor, end=end, limit=100_000)
        parts.append(page.bars)
        if page.next_start is None:
            break
        cursor = page.next_start
    bars = pd.concat(parts, ignore_index=True)
    if bars.empty:
        raise ApplicationError(
            f"no {snapshot['interval']} bars of {symbol} between {snapshot['start_date']} and {snapshot['end_date']}",
            details=[{"field": "symbol", "message": "no data in the range: import or fetch it first"}],
        )
    return bars


def data_hash(bars: pd.DataFrame) -> str:
    """Return a sha256 of the bars a run used (times and OHLCV)."""
    digest = hashlib.sha256()
    digest.update(pd.DatetimeIndex(bars["ts"]).as_unit("ns").asi8.tobytes())
    for name in ("open", "high", "low", "close", "volume"):
        digest.update(np.ascontiguousarray(bars[name].to_numpy("float64")).tobytes())
    return digest.hexdigest()


def _replay_span(bars: pd.DataFrame, symbol: Symbol) -> dict[str, Any]:
    """Return what the replay of the bars spans: the session dates of the first and the last bar (a bar outside
    sessions: its market-local date) and [start, end), the market-local days from the first bar's to the last's.

    A session that opens the evening before (CME Globex) is dated by its close, not by the evening's date.
    """
    calendar = get_calendar(symbol.calendar)
    first, last = pd.Timestamp(bars["ts"].iloc[0]), pd.Timestamp(bars["ts"].iloc[-1])

    def session_date(ts: pd.Timestamp) -> dt.date:
        session = calendar.session_at(ts)
        return calendar.local_date(ts) if session is None else pd.Timestamp(session.name).date()

    def midnight(date: dt.date) -> pd.Timestamp:
        return pd.Timestamp(date).tz_localize(calendar.tz).tz_convert("UTC")

    return {"start_date": session_date(first), "end_date": session_date(last),
            "start": midnight(calendar.local_date(first)),
            "end": midnight(calendar.local_date(last) + dt.timedelta(days=1))}  # fmt: skip


def _timing(snapshot: dict, symbol: Symbol) -> engine.BarTiming:
    interval = parse_interval(snapshot["interval"])
    return engine.BarTiming(interval.seconds, engine.calendar_periods_per_year(symbol.calendar, interval.seconds))


def replay_bar_events(
    *, symbol: Symbol, interval: str, start_date: dt.date, end_date: dt.date, start: pd.Timestamp, end: pd.Timestamp
) -> list[dict]:
    """Replay the stored bars of [start, end) in the sessions dated start_date..end_date through the session
    engine at full speed and return its bar events in order."""
    from marketdata.core.clock import SimulatedClock
    from marketdata.core.coordinator import TERMINAL_STATES, SystemManager
    from marketdata.core.replay import SpanPlan
    from marketdata.core.session_config import SessionConfig
    from marketdata.session_feed import StoreFeed

    derived = [] if interval == "1m" else [interval]
    config = SessionConfig(symbols={symbol.ticker: symbol.calendar}, start_date=start_date, end_date=end_date,
                           start_time="00:00", end_time="23:59", derived_intervals=derived, streams=["bars"],
                           speed=0, timeout_s=1)  # fmt: skip
    clock = SimulatedClock(start)
    wanted = "bar" if interval == "1m" else "derived_bar"
    events: list[dict] = []
    manager = SystemManager(config, feed=StoreFeed({symbol.ticker: symbol}, streams=("bars",)), clock=clock,
                            publish=lambda event: events.append(event) if event["type"] == wanted else None,
                            plan=SpanPlan(config, start=start, end=end))  # fmt: skip
    manager.start()
    deadline = time.monotonic() + REPLAY_TIMEOUT_S
    while manager.state not in TERMINAL_STATES and time.monotonic() < deadline:
        time.sleep(0.05)
    finished = manager.state in TERMINAL_STATES
    manager.stop()
    if manager.state == "error":
        raise ApplicationError(f"the replay failed: {manager.coordinator.last_error}")
    if not finished:  # the bars replayed so far are only part of the range: no result rather than a wrong one
        raise ApplicationError(
            f"the replay did not finish within {REPLAY_TIMEOUT_S} s ({len(events):,} bars so far): "
            "run a shorter range or the vectorized engine"
        )
    return [{**event["data"], "t": event["data"]["t"]} for event in events]


def backtest_run_execute(*, run_id: int, progress=None) -> dict:
    """Load the data, run the engine and store the result (the job body; safe to run again)."""
    run = BacktestRun.objects.select_related("owner").get(id=run_id)
    snapshot = run.settings_snapshot
    symbol = Symbol.objects.get(id=snapshot["symbol_id"])
    started = time.perf_counter()
    if progress:
        progress(0.1, "loading bars")
    bars = _bars_for(snapshot)
    timing = _timing(snapshot, symbol)
    if progress:
        progress(0.4, f"running {run.engine} engine on {len(bars):,} bars")
    try:
        settings = engine.settings_from(snapshot)
        if run.engine == "event":
            # The replay waits out every session without data, so it spans the stored bars, not the whole
            # range: from year 1900 it would spend its timeout on empty sessions before the first bar.
            events = replay_bar_events(symbol=symbol, interval=snapshot["interval"], **_replay_span(bars, symbol))
            result = engine.run_event(events, snapshot["strategy"], snapshot["params"], settings, timing)
        else:
            result = engine.run_vectorized(bars, snapshot["strategy"], snapshot["params"], settings, timing)
    except engine.BarDataError as exc:  # the bars' fault, said in the user's words: no field prefix
        raise ApplicationError(exc.message, details=[exc.as_dict()]) from None
    except engine.ParamError as exc:
        raise _invalid(exc.field, exc.message) from None
    body = result.to_dict()
    BacktestRun.objects.filter(id=run_id).update(
        data_start=bars["ts"].iloc[0], data_end=bars["ts"].iloc[-1], data_rows=len(bars), data_hash=data_hash(bars),
        metrics=body["metrics"], equity=body["equity"], trades=body["trades"], extra=body.get("extra", {}),
        result_hash=result.result_hash(), duration_s=time.perf_counter() - started,
    )  # fmt: skip
    return {"result_hash": result.result_hash(), "trades": len(body["trades"])}
