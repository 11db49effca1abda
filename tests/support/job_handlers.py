"""Job handlers used only by the tests (imported by test modules and test workers)."""

from __future__ import annotations

import time
from pathlib import Path

from mdserver.api import ApplicationError
from mdserver.jobs import JobContext, job_handler


@job_handler("tests.record")
def record_job(job: JobContext) -> dict:
    """Append one line to a file in several progress steps, then report the attempt."""
    for step in range(4):
        job.progress(step / 4, f"step {step}", force=True)
    with Path(job.params["path"]).open("a") as handle:
        handle.write(f"completed attempt={job.attempt}\n")
    return {"attempt": job.attempt}


@job_handler("tests.stall_first_attempt")
def stall_first_attempt_job(job: JobContext) -> dict:
    """On its first attempt, announce itself and hang until the worker is killed."""
    if job.attempt == 1:
        job.progress(0.5, "first attempt running", force=True)
        Path(job.params["started_flag"]).write_text("started")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.1)
        raise RuntimeError("the test should have killed this worker")
    return record_job(job)


@job_handler("tests.refuse")
def refuse_job(job: JobContext) -> None:
    raise ApplicationError("bad row", details=[{"row": 3, "field": "high", "message": "high below low"}])


@job_handler("tests.crash")
def crash_job(job: JobContext) -> None:
    raise ZeroDivisionError("division by zero")
