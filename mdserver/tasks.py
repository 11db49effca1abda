"""The one Celery task: run a job record by id (see mdserver/jobs.py)."""

from celery import shared_task

from mdserver import jobs


@shared_task(
    name="mdserver.run_job",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=jobs.TRANSIENT_DB_ERRORS,
    retry_backoff=True,
    max_retries=5,
)
def run_job_task(job_id: str) -> None:
    jobs.run_job(job_id)
