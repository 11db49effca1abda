"""Sessions over REST and WebSocket: replay streamed in order, owner-only, controllable."""

import datetime as dt
import time

import pandas as pd
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from marketdata import store
from marketdata.models import ReplaySession
from marketdata.providers.synthetic import synthetic_bars
from mdserver.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)
HEADERS = [(b"host", b"testserver"), (b"origin", b"http://testserver")]


@pytest.fixture(autouse=True)
def stop_sessions_afterwards():
    """Stop every session runner a test leaves behind, before the database goes away."""
    yield
    from marketdata import sessions

    ReplaySession.objects.update(desired_state="stopped")
    deadline = time.monotonic() + 30
    while sessions._running and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture
def two_sessions(symbol):
    frame = synthetic_bars("ACME", "XNYS", dt.date(2024, 11, 26), dt.date(2024, 11, 27))
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=frame)
    return frame


def token_of(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def ws_for(session_id: str, token: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/sessions/{session_id}/?token={token}",
                                 headers=HEADERS)  # fmt: skip


def create(user_api, **overrides) -> dict:
    body = {"symbols": ["ACME"], "start_date": "2024-11-26", "end_date": "2024-11-27", "speed": 0, "paused": True,
            "streams": ["bars"], "derived_intervals": ["5m"], "timeout_s": 5, **overrides}  # fmt: skip
    response = user_api.post("/api/v1/sessions", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def wait_state(session_id: str, *states: str, timeout: float = 60) -> ReplaySession:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session = ReplaySession.objects.get(id=session_id)
        if session.state in states:
            return session
        time.sleep(0.1)
    raise AssertionError(f"session stayed {ReplaySession.objects.get(id=session_id).state}")


def test_owner_connects_and_other_users_are_refused(user, other_user, user_api, two_sessions):
    created = create(user_api)
    mine_token, their_token = token_of(user), token_of(other_user)

    async def scenario():
        mine = ws_for(created["id"], mine_token)
        connected, _ = await mine.connect()
        assert connected
        first = await mine.receive_json_from(timeout=10)
        assert first["type"] == "state"
        await mine.disconnect()
        theirs = ws_for(created["id"], their_token)
        connected, code = await theirs.connect()
        assert (connected, code) == (False, 4403)
        anonymous = WebsocketCommunicator(application, f"/ws/sessions/{created['id']}/", headers=HEADERS)
        connected, code = await anonymous.connect()
        assert (connected, code) == (False, 4403)
        for token in ("%00", "%ff%fe"):  # no token holds these; the lookup must miss, not fail
            odd = ws_for(created["id"], token)
            connected, code = await odd.connect()
            assert (connected, code) == (False, 4403)

    async_to_sync(scenario)()
    user_api.post(f"/api/v1/sessions/{created['id']}/stop")


def test_replay_streams_every_bar_in_order_after_its_close(user, user_api, two_sessions):
    created = create(user_api)
    assert created["ws"] == f"/ws/sessions/{created['id']}/"
    token = token_of(user)

    async def scenario() -> list[dict]:
        client = ws_for(created["id"], token)
        assert (await client.connect())[0]
        await sync_to_async(user_api.post)(f"/api/v1/sessions/{created['id']}/resume")
        events, ended = [], 0
        while ended < 2:
            event = await client.receive_json_from(timeout=30)
            events.append(event)
            ended += event["type"] == "session_ended"
        await client.disconnect()
        return events

    events = async_to_sync(scenario)()
    bars = [e for e in events if e["type"] == "bar"]
    assert len(bars) == len(two_sessions) == 780
    assert [b["data"]["t"] for b in bars] == [t.isoformat().replace("+00:00", "Z") for t in two_sessions["ts"]]
    for bar in bars:  # sent when known: at the bar's close, never before
        assert pd.Timestamp(bar["t"]) == pd.Timestamp(bar["data"]["t"]) + pd.Timedelta(minutes=1)
    times = [pd.Timestamp(e["t"]) for e in events if e.get("t")]
    assert times == sorted(times)
    derived = [e for e in events if e["type"] == "derived_bar"]
    assert len(derived) == 2 * 78 and {e["data"]["interval"] for e in derived} == {"5m"}
    assert sum(e["type"] == "session_started" for e in events) == 2
    first = two_sessions.iloc[0]
    assert bars[0]["data"]["o"] == first["open"] and bars[0]["data"]["v"] == first["volume"]

    session = wait_state(created["id"], "finished")
    body = user_api.get(f"/api/v1/sessions/{created['id']}").json()
    assert body["state"] == "finished" and body["session_ended"] is True
    assert body["symbols"]["ACME"]["bars_1m"] == 390
    assert body["symbols"]["ACME"]["derived"]["5m"] == 78
    assert session.snapshot["symbols"]["ACME"]["bar_quality"] == 100.0


def test_pause_speed_and_stop_reach_the_runner(user_api, two_sessions):
    created = create(user_api, speed=1, paused=False)
    wait_state(created["id"], "running")
    assert user_api.post(f"/api/v1/sessions/{created['id']}/pause").status_code == 200
    wait_state(created["id"], "paused")
    assert user_api.patch(f"/api/v1/sessions/{created['id']}", {"speed": 120}, format="json").json()["speed"] == 120
    user_api.post(f"/api/v1/sessions/{created['id']}/resume")
    wait_state(created["id"], "running")
    user_api.post(f"/api/v1/sessions/{created['id']}/stop")
    assert wait_state(created["id"], "stopped").state == "stopped"
    again = user_api.post(f"/api/v1/sessions/{created['id']}/resume")
    assert again.status_code == 400 and again.json()["error"]["code"] == "session_over"


def test_clock_answers_in_the_replay_time(user_api, two_sessions):
    created = create(user_api)
    wait_state(created["id"], "paused")
    body = user_api.get(f"/api/v1/clock?market=XNYS&session_id={created['id']}").json()
    assert body["now"] == "2024-11-26T14:30:00Z"  # the first session's start
    assert body["is_open"] is True
    user_api.post(f"/api/v1/sessions/{created['id']}/stop")


def test_another_users_session_is_404(user_api, other_user, two_sessions):
    from rest_framework.test import APIClient

    created = create(user_api)
    intruder = APIClient()
    intruder.force_authenticate(other_user)
    assert intruder.get(f"/api/v1/sessions/{created['id']}").status_code == 404
    assert intruder.post(f"/api/v1/sessions/{created['id']}/stop").status_code == 404
    assert intruder.get(f"/api/v1/clock?session_id={created['id']}").status_code == 404
    user_api.post(f"/api/v1/sessions/{created['id']}/stop")


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"symbols": ["NOPE"]}, "symbol"),
        ({"end_date": "2024-11-25"}, "end_date"),
        ({"start_date": None}, "start_date"),
        ({"speed": -1}, "speed"),
        ({"streams": ["bars", "news"]}, "streams[1]"),
        ({"start_time": "16:00", "end_time": "09:30"}, "end_time"),
    ],
)
def test_bad_session_requests_are_400_naming_the_field(user_api, two_sessions, overrides, field):
    body = {"symbols": ["ACME"], "start_date": "2024-11-26", "end_date": "2024-11-27", **overrides}
    body = {k: v for k, v in body.items() if v is not None}
    response = user_api.post("/api/v1/sessions", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == field


def test_live_feed_pushes_and_stores_each_closed_minute_once(symbol):
    from marketdata.core.clock import SimulatedClock
    from marketdata.core.coordinator import SystemManager
    from marketdata.core.session_config import SessionConfig
    from marketdata.live import SyntheticLiveFeeder
    from marketdata.session_feed import StoreFeed

    config = SessionConfig(symbols={"ACME": "XNYS"}, streams=["bars", "quotes", "ticks"])
    clock = SimulatedClock(pd.Timestamp("2024-11-26T15:00:20Z"))
    manager = SystemManager(config, feed=StoreFeed({"ACME": symbol}, streams=("bars",)), clock=clock)
    feeder = SyntheticLiveFeeder(manager, {"ACME": symbol})
    assert feeder.step(clock.now()) == 1
    assert feeder.step(clock.now()) == 0  # the same minute is not pushed twice
    stored = store.bars_read(symbol_id=symbol.id, interval="1m")
    assert stored["ts"].tolist() == [pd.Timestamp("2024-11-26T14:59Z")]
    expected = synthetic_bars("ACME", "XNYS", dt.date(2024, 11, 26), dt.date(2024, 11, 26))
    assert stored["close"].iloc[0] == expected.loc[expected["ts"] == pd.Timestamp("2024-11-26T14:59Z"), "close"].iloc[0]
    assert manager.coordinator._pushes.qsize() == 3  # the bar, its quotes and its trades
    assert feeder.step(pd.Timestamp("2024-11-26T22:00:30Z")) == 0  # after the close: nothing to push


def test_waiting_sessions_hold_no_pooled_database_connection(user_api, two_sessions):
    """Sessions (replays and a live one) give their connections back between polls, so requests still get one."""
    from django.db import connection

    if not getattr(connection, "pool", None):
        pytest.skip("the connection pool is PostgreSQL's")

    def connections_taken() -> int:
        """The fewest connections out of the pool over a few of the runners' polls (one may be mid-query)."""
        taken = []
        for _ in range(8):
            stats = connection.pool.get_stats()
            taken.append(stats["pool_size"] - stats["pool_available"])
            time.sleep(0.15)
        return min(taken)

    before = connections_taken()
    replays = [create(user_api)["id"] for _ in range(3)]
    live_request = {"symbols": ["ACME"], "streams": ["bars"], "timeout_s": 5}  # no dates: live
    live = user_api.post("/api/v1/sessions", live_request, format="json").json()["id"]
    for session_id in replays:
        wait_state(session_id, "paused")
    wait_state(live, "running")
    time.sleep(1.5)  # the live feeder has stepped at least once
    assert connections_taken() == before


def test_a_runner_rides_out_database_errors_while_polling(user, two_sessions):
    """A poll or a save that fails (no pooled connection free in time) is retried; the session still ends right."""
    from unittest import mock

    from django.db import OperationalError

    from marketdata.sessions import session_run

    config = {"symbols": ["ACME"], "start_date": "2024-11-26", "end_date": "2024-11-26", "speed": 0,
              "streams": ["bars"], "timeout_s": 5}  # fmt: skip
    session = ReplaySession.objects.create(owner=user, config=config, speed=0, desired_state="running")
    real_filter, calls = ReplaySession.objects.filter, []

    def flaky_filter(*args, **kwargs):
        calls.append(1)
        if len(calls) in (1, 3, 4):  # the first poll, then a save and the poll after it
            raise OperationalError("couldn't get a connection after 10.00 sec")
        return real_filter(*args, **kwargs)

    with mock.patch.object(ReplaySession.objects, "filter", side_effect=flaky_filter):
        state = session_run(session_id=str(session.id), sleep=lambda seconds: time.sleep(0.01))
    assert state == "finished"
    assert ReplaySession.objects.get(id=session.id).state == "finished"
