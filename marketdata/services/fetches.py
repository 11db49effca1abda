"""Provider fetches: see the cost first, download only what the cache lacks, store all or nothing.

A fetch over several symbols (and exchanges) is a parent job with one child job per
symbol and exchange, so workers run them in parallel and one failing exchange never
stops the others.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from marketdata import store
from marketdata.core.ranges import Range, intersect_ranges, merge_ranges, subtract_ranges
from marketdata.models import ProviderCacheEntry, Symbol
from marketdata.providers.base import (
    FetchRequest,
    HistoricalSource,
    PayloadError,
    ProviderError,
    fetch,
    get_source,
    source_names,
)
from marketdata.services.types import ProgressCallback
from mdserver import jobs
from mdserver.api import ApplicationError
from mdserver.models import Job

TICK_SCHEMAS = {"trades": "trades", "tbbo": "quotes", "mbp-1": "quotes", "quotes": "quotes"}


@dataclass(frozen=True)
class FetchSpec:
    """What to fetch for one symbol: source, data kind and range (UTC, end exclusive)."""

    source: str
    symbol_id: int
    schema: str  # a bar interval such as 1m, or trades / quotes / tbbo / mbp-1
    start: pd.Timestamp
    end: pd.Timestamp
    dataset: str = ""
    exchange: str = ""
    stype_in: str = ""  # Databento symbology: raw_symbol (default), parent, continuous (GC.c.0)

    @property
    def stored_as(self) -> str:
        return TICK_SCHEMAS.get(self.schema, self.schema.removeprefix("ohlcv-"))

    def as_params(self) -> dict:
        return {
            "source": self.source,
            "symbol_id": self.symbol_id,
            "schema": self.schema,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "dataset": self.dataset,
            "exchange": self.exchange,
            "stype_in": self.stype_in,
        }

    @classmethod
    def from_params(cls, params: dict) -> FetchSpec:
        return cls(
            source=params["source"],
            symbol_id=int(params["symbol_id"]),
            schema=params["schema"],
            start=pd.Timestamp(params["start"]),
            end=pd.Timestamp(params["end"]),
            dataset=params.get("dataset", ""),
            exchange=params.get("exchange", ""),
            stype_in=params.get("stype_in", ""),
        )


@dataclass
class FetchPlan:
    spec: FetchSpec
    symbol: Symbol
    cached: list[Range] = field(default_factory=list)
    missing: list[Range] = field(default_factory=list)


def source_for(name: str) -> HistoricalSource:
    """Create a provider client configured from settings (keys never leave this call)."""
    if name not in source_names():
        raise ApplicationError(
            f"unknown source {name!r}", details=[{"field": "source", "message": f"one of {', '.join(source_names())}"}]
        )
    config: dict = {}
    if name == "databento":
        config = {"api_key": settings.DATABENTO_API_KEY}
    elif name == "schwab":
        config = {
            "token_path": settings.SCHWAB_TOKEN_PATH,
            "api_key": settings.SCHWAB_API_KEY,
            "app_secret": settings.SCHWAB_APP_SECRET,
        }
    try:
        return get_source(name, **config)
    except ProviderError as exc:
        raise ApplicationError(
            str(exc), code="provider_unavailable", details=[{"field": "source", "message": str(exc)}]
        ) from None


def _request(spec: FetchSpec, symbol: Symbol, span: Range) -> FetchRequest:
    bars = spec.schema not in TICK_SCHEMAS
    interval = spec.schema.removeprefix("ohlcv-") if bars else None
    return FetchRequest(
        source=spec.source,
        symbol=symbol.ticker,
        start=span[0],
        end=span[1],
        interval=interval,
        schema=None if bars else spec.schema,
        dataset=spec.dataset or None,
        exchange=spec.exchange or None,
        stype_in=spec.stype_in or None,
        options={"calendar": symbol.calendar},
    )


def fetch_plan(*, spec: FetchSpec, max_age: dt.timedelta | None = None) -> FetchPlan:
    """Split the wanted range into what the cache covers and what must be downloaded."""
    symbol = Symbol.objects.get(id=spec.symbol_id)
    entries = ProviderCacheEntry.objects.filter(
        symbol=symbol, source=spec.source, schema=spec.stored_as, dataset=spec.dataset, exchange=spec.exchange
    )
    if max_age is not None:
        entries = entries.filter(fetched_at__gte=timezone.now() - max_age)
    covered = merge_ranges((pd.Timestamp(e.start), pd.Timestamp(e.end)) for e in entries)
    wanted = (spec.start, spec.end)
    return FetchPlan(spec, symbol, intersect_ranges(wanted, covered), subtract_ranges(wanted, covered))


def cache_max_age() -> dt.timedelta | None:
    """Return the age after which a cache entry is expired (None: never)."""
    return dt.timedelta(seconds=settings.FETCH_CACHE_MAX_AGE_S) if settings.FETCH_CACHE_MAX_AGE_S else None


def fetch_estimate(*, specs: list[FetchSpec]) -> dict:
    """Return the cost and size of downloading what the cache lacks, per symbol and in total."""
    per_symbol, cost, rows = [], 0.0, 0
    for spec in specs:
        plan = fetch_plan(spec=spec, max_age=cache_max_age())
        source = source_for(spec.source)
        symbol_cost, symbol_rows = 0.0, 0
        for span in plan.missing:
            try:
                estimate = source.estimate(_request(spec, plan.symbol, span))
            except ProviderError as exc:
                raise ApplicationError(f"{spec.source}: {exc}", code="provider_error",
                                       details=[{"field": "source", "message": str(exc)}]) from None  # fmt: skip
            symbol_cost += estimate.cost_usd
            symbol_rows += estimate.rows_estimate
        cost += symbol_cost
        rows += symbol_rows
        per_symbol.append(
            {
                "symbol": str(plan.symbol),
                "exchange": spec.exchange,
                "cost_usd": symbol_cost,
                "rows_estimate": symbol_rows,
                "cached_ranges": _ranges_out(plan.cached),
                "missing_ranges": _ranges_out(plan.missing),
            }
        )
    return {
        "cost_usd": round(cost, 6),
        "rows_estimate": rows,
        "cached_ranges": [r for item in per_symbol for r in item["cached_ranges"]],
        "missing_ranges": [r for item in per_symbol for r in item["missing_ranges"]],
        "symbols": per_symbol,
    }


def _ranges_out(ranges: list[Range]) -> list[list[str]]:
    return [[start.isoformat().replace("+00:00", "Z"), end.isoformat().replace("+00:00", "Z")] for start, end in ranges]


def fetch_run(*, spec: FetchSpec, progress: ProgressCallback | None = None, force: bool = False) -> dict:
    """Download the missing ranges of one symbol and store them; each range all or nothing."""
    plan = fetch_plan(spec=spec, max_age=None if force else cache_max_age())
    spans = [(spec.start, spec.end)] if force else plan.missing
    source = source_for(spec.source) if spans else None
    counts = {"rows_inserted": 0, "rows_duplicate": 0, "ranges_fetched": 0, "ranges_cached": len(plan.cached)}
    for index, span in enumerate(spans):
        request = _request(spec, plan.symbol, span)
        try:
            frame = fetch(source, request)
        except PayloadError as exc:
            raise ApplicationError(
                f"{spec.source} sent invalid data for {plan.symbol}; nothing was stored: {exc}",
                code="provider_payload",
                details=[e.as_dict() for e in exc.errors[:100]],
            ) from None
        except ProviderError as exc:
            raise ApplicationError(f"{spec.source} {spec.exchange} {plan.symbol}: {exc}".replace("  ", " "),
                                   code="provider_error",
                                   details=[{"field": "source", "message": str(exc)}]) from None  # fmt: skip
        with transaction.atomic():
            result = _store(spec, plan.symbol, frame)
            _cache_record(spec, plan.symbol, span, rows=len(frame))
        counts["rows_inserted"] += result.inserted
        counts["rows_duplicate"] += result.duplicate
        counts["ranges_fetched"] += 1
        if progress:
            progress((index + 1) / len(spans), f"{plan.symbol}: {counts['rows_inserted']:,} rows stored")
    return counts


def _cache_record(spec: FetchSpec, symbol: Symbol, span: Range, *, rows: int) -> ProviderCacheEntry:
    """Record a fetched range, merged with the entries it overlaps or touches."""
    key = {"source": spec.source, "dataset": spec.dataset, "schema": spec.stored_as, "exchange": spec.exchange,
           "symbol": symbol}  # fmt: skip
    neighbours = list(
        ProviderCacheEntry.objects.select_for_update().filter(start__lte=span[1], end__gte=span[0], **key)
    )
    start = min([span[0], *(pd.Timestamp(e.start) for e in neighbours)])
    end = max([span[1], *(pd.Timestamp(e.end) for e in neighbours)])
    total = rows + sum(e.rows for e in neighbours)
    cost = sum(e.cost_usd for e in neighbours)
    ProviderCacheEntry.objects.filter(id__in=[e.id for e in neighbours]).delete()
    return ProviderCacheEntry.objects.create(start=start, end=end, rows=total, cost_usd=cost, **key)


def fetch_gaps_create(*, owner, entry: ProviderCacheEntry) -> list[Job]:
    """Queue fetches for the bars missing inside a cached range (coverage gaps), ignoring the cache."""
    from marketdata.core.analytics import coverage
    from marketdata.core.calendar import get_calendar

    symbol = entry.symbol
    stored = store.bars_read(symbol_id=symbol.id, interval=entry.schema, start=entry.start, end=entry.end)
    trading = get_calendar(symbol.calendar)
    first, last = (pd.Timestamp(entry.start).tz_convert(trading.tz).date(),
                   (pd.Timestamp(entry.end) - pd.Timedelta(1, "ns")).tz_convert(trading.tz).date())  # fmt: skip
    days = coverage(stored["ts"], trading, first, last)
    gaps = [(pd.Timestamp(a), pd.Timestamp(b)) for day in days for a, b in day["gaps"]]
    created = []
    for start, end in gaps:
        spec = FetchSpec(source=entry.source, symbol_id=symbol.id, schema=entry.schema, start=start, end=end,
                         dataset=entry.dataset, exchange=entry.exchange)  # fmt: skip
        created.append(
            jobs.submit(kind="marketdata.fetch_symbol", owner=owner, params={**spec.as_params(), "force": True})
        )
    return created


def poll_latest(*, symbol: Symbol, exchange: str, now: pd.Timestamp, lookback: dt.timedelta) -> dict:
    """Fetch a crypto symbol's 1m bars from its last stored bar up to `now` (the beat poller)."""
    latest = store.bars_latest(symbol_id=symbol.id, interval="1m", count=1)
    start = (
        latest["ts"].iloc[-1] + pd.Timedelta(minutes=1) if len(latest) else (now - pd.Timedelta(lookback)).floor("min")
    )
    end = now.floor("min")
    if end <= start:
        return {"rows_inserted": 0}
    spec = FetchSpec(source="ccxt", symbol_id=symbol.id, schema="1m", start=start, end=end, exchange=exchange)
    return fetch_run(spec=spec, force=True)


def _store(spec: FetchSpec, symbol: Symbol, frame: pd.DataFrame):
    if spec.stored_as == "trades":
        return store.trades_write(symbol_id=symbol.id, frame=frame)
    if spec.stored_as == "quotes":
        return store.quotes_write(symbol_id=symbol.id, frame=frame)
    return store.bars_write(symbol_id=symbol.id, interval=spec.stored_as, frame=frame)


def fetch_create(*, owner, specs: list[FetchSpec]) -> Job:
    """Queue one job per symbol (and exchange) under a parent job the API polls."""
    with transaction.atomic():
        parent = Job.objects.create(
            kind="marketdata.fetch", owner=owner, status=Job.Status.RUNNING, params={"count": len(specs)}
        )
        children = [
            jobs.submit_deferred(kind="marketdata.fetch_symbol", owner=owner, params=spec.as_params()) for spec in specs
        ]
        Job.objects.filter(id__in=[c.id for c in children]).update(parent=parent)
        for child in children:
            child.parent = parent
            jobs.dispatch(child)
    fetch_batch_refresh(parent=parent)
    return parent


def fetch_batch_refresh(*, parent: Job) -> Job:
    """Derive a fetch batch's status from its children, with their row counts and errors."""
    children = list(parent.children.all())
    result = {
        "rows_inserted": sum(c.result.get("rows_inserted", 0) for c in children),
        "rows_duplicate": sum(c.result.get("rows_duplicate", 0) for c in children),
    }
    errors = [
        {"job": str(c.id), "message": c.message, "details": c.errors} for c in children if c.status == Job.Status.FAILED
    ]
    return jobs.batch_refresh(parent, extra={"result": result, "errors": errors})
