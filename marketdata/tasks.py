"""Job handlers for market-data work (run by mdserver.jobs in a worker or thread)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from marketdata import services
from mdserver.jobs import JobContext, job_handler


@job_handler("marketdata.seed_demo")
def seed_demo_job(job: JobContext) -> dict:
    today = dt.date.fromisoformat(job.params["today"]) if job.params.get("today") else services.utc_today()
    report = services.demo_seed(sessions=int(job.params.get("sessions", 30)), today=today, progress=job.progress)
    job.progress(1.0, "demo data stored", force=True)
    return report


@job_handler("marketdata.import_bars")
def import_bars_job(job: JobContext) -> dict:
    from marketdata.models import Import

    import_id = Import.objects.values_list("id", flat=True).get(job_id=job.job_id)
    counts = services.bars_import_run(import_id=import_id, progress=job.progress)
    job.progress(1.0, f"{counts['rows_inserted']:,} rows added, {counts['rows_duplicate']:,} duplicates", force=True)
    return counts


@job_handler("marketdata.fetch_symbol")
def fetch_symbol_job(job: JobContext) -> dict:
    from marketdata.services.fetches import FetchSpec, fetch_run

    counts = fetch_run(
        spec=FetchSpec.from_params(job.params), progress=job.progress, force=bool(job.params.get("force"))
    )
    job.progress(
        1.0, f"{counts['rows_inserted']:,} rows stored, {counts['ranges_cached']} range(s) from cache", force=True
    )
    return counts


@shared_task(name="marketdata.poll_crypto", ignore_result=True)
def poll_crypto_task() -> dict:
    """Persist the newest 1m bars of the symbols in MDSERVER_CRYPTO_POLL (run by Celery beat)."""
    import pandas as pd
    from django.conf import settings

    from marketdata.models import Symbol
    from marketdata.services.fetches import poll_latest
    from mdserver.api import ApplicationError

    report = {}
    for exchange, ticker in settings.CRYPTO_POLL:
        symbol = Symbol.objects.filter(ticker__iexact=ticker, venue__iexact=exchange).first()
        if symbol is None:
            report[f"{exchange}:{ticker}"] = "unknown symbol (add it in the admin)"
            continue
        try:
            counts = poll_latest(symbol=symbol, exchange=exchange, now=pd.Timestamp.now(tz="UTC"),
                                 lookback=dt.timedelta(days=1))  # fmt: skip
            report[f"{exchange}:{ticker}"] = counts["rows_inserted"]
        except ApplicationError as exc:  # one exchange failing never stops the others
            report[f"{exchange}:{ticker}"] = exc.message
    return report


@job_handler("marketdata.session")
def session_job(job: JobContext) -> dict:
    """Run a replay or live session on the `sessions` queue until it ends."""
    from marketdata.sessions import session_run

    state = session_run(session_id=job.params["session_id"])
    job.progress(1.0, f"session {state}", force=True)
    return {"state": state}
