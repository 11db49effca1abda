"""Browser tests: Debian's Chromium driven by Playwright, against daphne serving the test database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.mdserver.test_celery_worker import database_url

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "s3cret-pass-word"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(transactional_db):
    """Serve the app with daphne (HTTP + WebSocket) on the test database."""
    port = free_port()
    env = dict(
        os.environ, DJANGO_SETTINGS_MODULE="mdserver.settings_test", DATABASE_URL=database_url(), DJANGO_DEBUG="true"
    )
    env.pop("REDIS_URL", None)  # one process: the in-memory channel layer and in-process jobs
    env["MDSERVER_JOBS_BACKEND"] = "inprocess"
    log = open(ARTIFACTS.joinpath("daphne.log"), "ab") if ARTIFACTS.mkdir(exist_ok=True) is None else None
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "mdserver.asgi:application"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        raise AssertionError("daphne did not start; see test-artifacts/daphne.log")
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:  # open WebSockets keep daphne's graceful shutdown waiting
        process.kill()
        process.wait(timeout=10)
    connection.close()


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # between page actions are plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        yield instance
        instance.close()


@pytest.fixture
def logged_in(browser, server, user):
    """A page logged in as `user` through the login form."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{server}/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/")
    yield page
    context.close()
