import time

import pytest
from django.test import override_settings

import tests.support.job_handlers  # noqa: F401  (registers the test job kinds)
from mdserver import jobs
from mdserver.models import Job


@pytest.mark.django_db
def test_submit_inprocess_sync_runs_job_to_success(user, tmp_path):
    job = jobs.submit(kind="tests.record", params={"path": str(tmp_path / "out")}, owner=user)
    assert (job.status, job.progress, job.result) == ("succeeded", 1.0, {"attempt": 1})
    assert (tmp_path / "out").read_text() == "completed attempt=1\n"


@pytest.mark.django_db
def test_run_job_twice_completes_once(user, tmp_path):
    job = jobs.submit(kind="tests.record", params={"path": str(tmp_path / "out")}, owner=user)
    jobs.run_job(job.id)
    job.refresh_from_db()
    assert job.attempts == 1
    assert (tmp_path / "out").read_text().count("completed") == 1


@pytest.mark.django_db
def test_application_error_fails_job_with_row_details(user):
    job = jobs.submit(kind="tests.refuse", owner=user)
    assert job.status == "failed"
    assert job.message == "bad row"
    assert job.errors == [{"row": 3, "field": "high", "message": "high below low"}]


@pytest.mark.django_db
def test_unexpected_error_fails_job_with_message(user):
    job = jobs.submit(kind="tests.crash", owner=user)
    assert job.status == "failed"
    assert "ZeroDivisionError" in job.message


def test_submit_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="no job handler"):
        jobs.submit(kind="nope.never")


@pytest.mark.django_db(transaction=True)
def test_submit_inprocess_thread_pool_runs_job_in_background(user, tmp_path):
    with override_settings(JOBS_INPROCESS_SYNC=False):
        job = jobs.submit(kind="tests.record", params={"path": str(tmp_path / "out")}, owner=user)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.is_finished:
                break
            time.sleep(0.05)
    assert job.status == "succeeded"
    assert (tmp_path / "out").read_text() == "completed attempt=1\n"


@pytest.mark.django_db(transaction=True)
def test_jobs_api_lists_only_own_jobs(user, other_user, user_api, tmp_path):
    mine = jobs.submit(kind="tests.record", params={"path": str(tmp_path / "a")}, owner=user)
    theirs = jobs.submit(kind="tests.record", params={"path": str(tmp_path / "b")}, owner=other_user)
    listing = user_api.get("/api/v1/jobs").json()
    assert [j["id"] for j in listing["results"]] == [str(mine.id)]
    assert user_api.get(f"/api/v1/jobs/{theirs.id}").status_code == 404
    detail = user_api.get(f"/api/v1/jobs/{mine.id}").json()
    assert (detail["status"], detail["progress"]) == ("succeeded", 1.0)


@pytest.mark.django_db(transaction=True)
def test_unreachable_broker_fails_job_fast_and_api_keeps_serving(user, user_api, tmp_path):
    # Port 1 on loopback: nothing listens, so the broker connection is refused.
    with override_settings(JOBS_BACKEND="celery", CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        started = time.monotonic()
        job = jobs.submit(kind="tests.record", params={"path": str(tmp_path / "out")}, owner=user)
        elapsed = time.monotonic() - started
        job.refresh_from_db()
        assert job.status == "failed"
        assert "job queue is unreachable" in job.message
        assert "redis://127.0.0.1:1" in job.message
        assert elapsed < 60  # liveness, not speed: a refused connection must not hang the request
        assert user_api.get("/api/v1/symbols").status_code == 200
        assert user_api.get(f"/api/v1/jobs/{job.id}").json()["status"] == "failed"
        assert not (tmp_path / "out").exists()


@pytest.mark.django_db
def test_resume_jobs_finishes_jobs_a_stopped_server_left_behind(user, tmp_path):
    from django.core.management import call_command

    left_running = Job.objects.create(kind="tests.record", owner=user, status=Job.Status.RUNNING, attempts=1,
                                      params={"path": str(tmp_path / "out")})  # fmt: skip
    finished = Job.objects.create(kind="tests.record", owner=user, status=Job.Status.SUCCEEDED,
                                  params={"path": str(tmp_path / "other")})  # fmt: skip
    call_command("resume_jobs")
    left_running.refresh_from_db()
    assert (left_running.status, left_running.attempts) == ("succeeded", 2)
    assert (tmp_path / "out").read_text() == "completed attempt=2\n"
    assert not (tmp_path / "other").exists()
    finished.refresh_from_db()
    assert finished.attempts == 0
