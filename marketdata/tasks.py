"""Job handlers for market-data work (run by mdserver.jobs in a worker or thread)."""

from __future__ import annotations

import datetime as dt

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
