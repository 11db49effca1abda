import asyncio

import pytest
from asgiref import sync
from django.core.asgi import get_asgi_application
from rest_framework.authtoken.models import Token


def asgi_get(path: str, token: str) -> int:
    """Run one GET through Django's ASGI handler; return the status."""
    application = get_asgi_application()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver"), (b"authorization", f"Token {token}".encode())],
        "client": ("127.0.0.1", 40000), "server": ("testserver", 80),
    }  # fmt: skip
    sent = []
    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # the client stays connected until the response is sent

    async def send(message):
        sent.append(message)

    asyncio.run(application(scope, receive, send))
    return sent[0]["status"]


def count_switches(monkeypatch, path: str, token: str) -> list[str]:
    """Return what one ASGI request handed from the event loop to the sync thread."""
    switches = []
    original = sync.SyncToAsync.__call__

    def counted(self, *args, **kwargs):
        switches.append(getattr(self.func, "__qualname__", repr(self.func)))
        return original(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(sync.SyncToAsync, "__call__", counted)
        assert asgi_get(path, token) == 200
    return switches


@pytest.mark.django_db(transaction=True)
def test_an_api_request_under_asgi_crosses_to_the_sync_thread_a_few_times_not_per_middleware(
    user, monkeypatch, settings
):
    token = Token.objects.create(user=user).key
    switches = count_switches(monkeypatch, "/api/v1/me/preferences", token)
    # Signals, the chain as a whole, CSRF's process_view, the view, rendering, closing.
    assert len(switches) <= 6, switches

    settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if not name.endswith("SynchronousChainMiddleware")]
    per_middleware = count_switches(monkeypatch, "/api/v1/me/preferences", token)
    assert len(per_middleware) >= 2 * len(switches), per_middleware
