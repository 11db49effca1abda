"""Background jobs: one `submit()` for imports, fetches, backtests and replays.

With a broker configured (`REDIS_URL` or `CELERY_BROKER_URL`) a job goes to a
Celery worker; otherwise it runs in an in-process thread pool. Both run the same
`run_job()`, which is idempotent: a job that already finished is never run again,
so a redelivered message (a worker killed halfway, acknowledged late) completes
the job exactly once. Handlers must themselves be safe to run twice (upserts).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.db.utils import InterfaceError, OperationalError
from django.utils import timezone

from mdserver.api import ApplicationError
from mdserver.models import Job

logger = logging.getLogger(__name__)

JobHandler = Callable[["JobContext"], dict[str, Any] | None]
_HANDLERS: dict[str, JobHandler] = {}
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
PROGRESS_INTERVAL_S = 0.25
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)


def job_handler(kind: str) -> Callable[[JobHandler], JobHandler]:
    """Register `func` as the handler that runs jobs of `kind`."""

    def register(func: JobHandler) -> JobHandler:
        _HANDLERS[kind] = func
        return func

    return register


@dataclass
class JobContext:
    """What a handler gets: the job's parameters and a way to report progress."""

    job_id: uuid.UUID
    kind: str
    params: dict[str, Any]
    owner_id: int | None
    attempt: int
    message: str = ""
    _last_report: float = field(default=0.0, repr=False)

    def progress(self, fraction: float, message: str | None = None, *, force: bool = False) -> None:
        """Record progress (0..1); written at most every 0.25 s unless forced."""
        now = time.monotonic()
        if message is not None:
            self.message = message
        if not force and now - self._last_report < PROGRESS_INTERVAL_S:
            return
        self._last_report = now
        Job.objects.filter(id=self.job_id, status=Job.Status.RUNNING).update(
            progress=max(0.0, min(1.0, float(fraction))), message=self.message, updated_at=timezone.now()
        )


def submit(*, kind: str, params: dict[str, Any] | None = None, owner=None, queue: str = "default") -> Job:
    """Create a job record and send it to Celery or the in-process executor."""
    job = submit_deferred(kind=kind, params=params, owner=owner, queue=queue)
    dispatch(job)
    job.refresh_from_db()
    return job


def submit_deferred(*, kind: str, params: dict[str, Any] | None = None, owner=None, queue: str = "default") -> Job:
    """Create a queued job record without sending it; call `dispatch` once its inputs are saved."""
    if kind not in _HANDLERS:
        raise ValueError(f"no job handler registered for {kind!r}")
    return Job.objects.create(kind=kind, params=params or {}, owner=owner, queue=queue)


def dispatch(job: Job) -> None:
    """Send a queued job: now in synchronous test mode, else once the transaction commits."""
    if settings.JOBS_BACKEND == "inprocess" and settings.JOBS_INPROCESS_SYNC:
        run_job(job.id)
    else:
        transaction.on_commit(lambda: _dispatch(job.id, job.queue))


def _dispatch(job_id: uuid.UUID, queue: str) -> None:
    if settings.JOBS_BACKEND == "celery":
        _send_to_celery(job_id, queue)
    else:
        _get_executor().submit(_run_in_thread, job_id)


def _send_to_celery(job_id: uuid.UUID, queue: str) -> None:
    from mdserver.celery import app
    from mdserver.tasks import run_job_task

    try:
        # An explicit connection to the configured broker: one refused connection fails
        # fast (no retry loop) instead of hanging the request that submitted the job.
        with app.connection_for_write(url=settings.CELERY_BROKER_URL) as broker:
            run_job_task.apply_async(args=[str(job_id)], queue=queue, retry=False, connection=broker)
    except Exception as exc:  # kombu/redis raise several types for an unreachable broker
        logger.warning("could not queue job %s: %s", job_id, exc)
        _finish(
            job_id,
            Job.Status.FAILED,
            message=(
                f"The job queue is unreachable ({_broker_location()}): {exc}. "
                "Start Redis, or unset REDIS_URL to run jobs in-process."
            ),
        )


def _broker_location() -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(settings.CELERY_BROKER_URL or "")
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=settings.JOBS_INPROCESS_WORKERS, thread_name_prefix="job")
        return _executor


def _run_in_thread(job_id: uuid.UUID) -> None:
    close_old_connections()
    try:
        run_job(job_id)
    except TRANSIENT_DB_ERRORS as exc:
        _finish(job_id, Job.Status.FAILED, message=f"database unavailable: {exc}")
    finally:
        connections.close_all()


def run_job(job_id: uuid.UUID | str) -> None:
    """Run one job to completion; do nothing if it already finished."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(id=job_id).first()
        if job is None:
            logger.warning("job %s does not exist; dropping it", job_id)
            return
        if job.is_finished:
            logger.info("job %s already %s; not running it again", job.id, job.status)
            return
        job.status = Job.Status.RUNNING
        job.attempts += 1
        job.started_at = job.started_at or timezone.now()
        job.save(update_fields=["status", "attempts", "started_at", "updated_at"])
    handler = _HANDLERS.get(job.kind)
    if handler is None:
        _finish(job.id, Job.Status.FAILED, message=f"no handler for job kind {job.kind!r} in this process")
        return
    context = JobContext(job_id=job.id, kind=job.kind, params=job.params, owner_id=job.owner_id, attempt=job.attempts)
    try:
        result = handler(context) or {}
    except ApplicationError as exc:
        _finish(job.id, Job.Status.FAILED, message=exc.message, errors=exc.details)
    except TRANSIENT_DB_ERRORS:
        raise  # the Celery task retries; the in-process runner records the failure
    except Exception as exc:
        logger.exception("job %s (%s) failed", job.id, job.kind)
        _finish(job.id, Job.Status.FAILED, message=f"{type(exc).__name__}: {exc}")
    else:
        _finish(job.id, Job.Status.SUCCEEDED, message=context.message or "done", result=result, progress=1.0)


def _finish(
    job_id: uuid.UUID | str,
    status: str,
    *,
    message: str,
    errors: list | None = None,
    result: dict | None = None,
    progress: float | None = None,
) -> None:
    """Move a job to a final state once; a second finish changes nothing."""
    values: dict[str, Any] = {"status": status, "message": message, "finished_at": timezone.now()}
    values["updated_at"] = values["finished_at"]
    if errors is not None:
        values["errors"] = errors
    if result is not None:
        values["result"] = result
    if progress is not None:
        values["progress"] = progress
    Job.objects.filter(id=job_id).exclude(status__in=Job.FINISHED).update(**values)


def requeue(job: Job) -> None:
    """Send an unfinished job again (after a restart or from the admin)."""
    dispatch(job)


def resume_unfinished() -> list[uuid.UUID]:
    """Run to completion the in-process jobs a stopped server left queued or running.

    Only for the in-process backend: with Celery, unacknowledged jobs are redelivered by the broker.
    """
    if settings.JOBS_BACKEND != "inprocess":
        return []
    unfinished = list(Job.objects.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING], parent__isnull=True)
                      .exclude(kind__in=["marketdata.fetch", "backtests.sweep"]).order_by("created_at"))  # fmt: skip
    unfinished += list(Job.objects.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING], parent__isnull=False))
    for job in unfinished:
        run_job(job.id)
    return [job.id for job in unfinished]


def batch_refresh(parent: Job, *, extra: dict[str, Any] | None = None) -> Job:
    """Derive a batch job's status, progress and message from its children (a fetch, a sweep).

    Running while any child is queued or running; failed when every child failed;
    succeeded otherwise (a partial failure is listed in the children and the message).
    """
    children = list(parent.children.all())
    if not children:
        return parent
    statuses = {child.status for child in children}
    if statuses & {Job.Status.QUEUED, Job.Status.RUNNING}:
        status = Job.Status.RUNNING
    elif statuses == {Job.Status.FAILED}:
        status = Job.Status.FAILED
    else:
        status = Job.Status.SUCCEEDED
    done = sum(1 for child in children if child.is_finished)
    failed = sum(1 for child in children if child.status == Job.Status.FAILED)
    message = f"{done} of {len(children)} done" + (f", {failed} failed" if failed else "")
    Job.objects.filter(id=parent.id).update(
        status=status,
        progress=sum(child.progress for child in children) / len(children),
        message=message,
        finished_at=None if status == Job.Status.RUNNING else timezone.now(),
        **(extra or {}),
    )
    parent.refresh_from_db()
    return parent
