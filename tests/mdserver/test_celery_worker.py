"""jobs.submit through a real Celery worker and the real Redis broker."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings

import tests.support.job_handlers  # noqa: F401  (registers the test job kinds)
from mdserver import jobs
from mdserver.models import Job
from tests.conftest import redis_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]


def database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        user = settings.get("USER") or "postgres"
        host = settings.get("HOST") or "127.0.0.1"
        port = settings.get("PORT") or 5432
        return f"postgres://{user}@{host}:{port}/{settings['NAME']}"
    return f"sqlite:///{settings['NAME']}"


def start_worker(queue: str, log: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="mdserver.settings",
        DATABASE_URL=database_url(),
        REDIS_URL=redis_url(),
        CELERY_VISIBILITY_TIMEOUT="2",
    )
    command = [
        sys.executable, "-m", "celery", "-A", "mdserver", "worker", "--pool=solo", "--concurrency=1",
        f"--queues={queue}", "--include=tests.support.job_handlers", "--without-gossip", "--without-mingle",
        "--without-heartbeat", "--loglevel=INFO",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def wait_for(predicate, *, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; worker log:\n{log.read_text()[-4000:]}")


def job_status(job_id) -> str:
    return Job.objects.get(id=job_id).status


@pytest.fixture
def worker_env(tmp_path):
    queue = f"test-{uuid.uuid4().hex[:8]}"
    workers: list[subprocess.Popen] = []
    with override_settings(JOBS_BACKEND="celery", CELERY_BROKER_URL=redis_url()):
        yield queue, workers, tmp_path / "worker.log"
    for worker in workers:
        if worker.poll() is None:
            worker.kill()
        worker.wait(timeout=30)


def test_submit_runs_job_on_a_real_celery_worker(worker_env, user, tmp_path):
    queue, workers, log = worker_env
    workers.append(start_worker(queue, log))
    job = jobs.submit(kind="tests.record", params={"path": str(tmp_path / "out")}, owner=user, queue=queue)
    wait_for(lambda: job_status(job.id) == "succeeded", timeout=90, what="the job to succeed", log=log)
    job.refresh_from_db()
    assert (job.progress, job.attempts, job.result) == (1.0, 1, {"attempt": 1})
    assert (tmp_path / "out").read_text() == "completed attempt=1\n"


def test_worker_killed_mid_job_is_redelivered_and_completes_once(worker_env, user, tmp_path):
    queue, workers, log = worker_env
    flag = tmp_path / "started"
    out = tmp_path / "out"
    workers.append(start_worker(queue, log))
    job = jobs.submit(
        kind="tests.stall_first_attempt", params={"path": str(out), "started_flag": str(flag)}, owner=user, queue=queue
    )
    wait_for(flag.exists, timeout=90, what="the first attempt to start", log=log)
    assert job_status(job.id) == "running"
    workers[0].send_signal(signal.SIGKILL)
    workers[0].wait(timeout=30)

    workers.append(start_worker(queue, log))
    wait_for(lambda: job_status(job.id) == "succeeded", timeout=120, what="the redelivered job to succeed", log=log)
    job.refresh_from_db()
    assert job.attempts == 2
    assert job.result == {"attempt": 2}
    assert out.read_text() == "completed attempt=2\n"

    # A further delivery of the same message must not run the job again.
    jobs.run_job(job.id)
    assert out.read_text().count("completed") == 1


def test_session_runs_on_a_worker_and_obeys_control_from_the_api(worker_env, user, user_api):
    import datetime as dt

    from marketdata import store
    from marketdata.models import ReplaySession, Symbol
    from marketdata.providers.synthetic import synthetic_bars

    queue, workers, log = worker_env
    symbol = Symbol.objects.create(ticker="ACME", venue="XNYS", calendar="XNYS")
    store.bars_write(symbol_id=symbol.id, interval="1m",
                     frame=synthetic_bars("ACME", "XNYS", dt.date(2024, 11, 26), dt.date(2024, 11, 26)))  # fmt: skip
    workers.append(start_worker(queue, log))

    def state(session_id) -> str:
        return ReplaySession.objects.get(id=session_id).state

    with override_settings(SESSIONS_QUEUE=queue):
        body = {"symbols": ["ACME"], "start_date": "2024-11-26", "end_date": "2024-11-26", "speed": 60,
                "streams": ["bars"], "timeout_s": 2}  # fmt: skip
        created = user_api.post("/api/v1/sessions", body, format="json").json()
    wait_for(lambda: state(created["id"]) == "running", timeout=90, what="the worker to run the session", log=log)
    user_api.post(f"/api/v1/sessions/{created['id']}/pause")
    wait_for(lambda: state(created["id"]) == "paused", timeout=30, what="the worker to pause", log=log)
    user_api.patch(f"/api/v1/sessions/{created['id']}", {"speed": 0}, format="json")
    user_api.post(f"/api/v1/sessions/{created['id']}/resume")
    wait_for(lambda: state(created["id"]) == "finished", timeout=90, what="the replay to finish", log=log)
    snapshot = user_api.get(f"/api/v1/sessions/{created['id']}").json()
    assert snapshot["symbols"]["ACME"]["bars_1m"] == 390
    job = ReplaySession.objects.get(id=created["id"]).job
    job.refresh_from_db()
    assert (job.queue, job.status) == (queue, "succeeded")
