"""HTTP for provider tests: nothing leaves the process.

Every test here runs with requests' transport adapter and httpx's transport
replaced: an unexpected request fails the test instead of reaching the network.
`recorded_http` answers requests-based clients (databento, ccxt, deribit) from
recorded replies, so the vendor client code above the transport runs for real.
"""

from __future__ import annotations

import io
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import requests
from requests.structures import CaseInsensitiveDict


@dataclass
class Reply:
    """One recorded HTTP answer: JSON (`json`) or raw bytes (`body`)."""

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def content(self) -> bytes:
        return self.body if self.body is not None else json.dumps(self.json).encode()


Answer = Reply | BaseException
Handler = Callable[[requests.PreparedRequest], Answer]


@dataclass
class _Route:
    method: str
    url_prefix: str
    replies: deque[Answer] | None = None
    handler: Handler | None = None


class RecordedHTTP:
    """Answer requests from recorded replies and keep every request sent."""

    def __init__(self) -> None:
        self.routes: list[_Route] = []
        self.requests: list[requests.PreparedRequest] = []

    def add(self, method: str, url_prefix: str, *replies: Answer) -> None:
        """Answer the next requests to `url_prefix` with `replies`, in order (an exception is raised)."""
        self.routes.append(_Route(method, url_prefix, replies=deque(replies)))

    def handle(self, method: str, url_prefix: str, handler: Handler) -> None:
        """Answer every request to `url_prefix` with `handler(request)`."""
        self.routes.append(_Route(method, url_prefix, handler=handler))

    def sent(self, url_prefix: str = "") -> list[requests.PreparedRequest]:
        return [request for request in self.requests if request.url.startswith(url_prefix)]

    def send(self, request: requests.PreparedRequest) -> requests.Response:
        self.requests.append(request)
        for route in self.routes:
            if route.method != request.method or not request.url.startswith(route.url_prefix):
                continue
            if route.handler is not None:
                answer = route.handler(request)
            elif route.replies:
                answer = route.replies.popleft()
            else:
                continue
            if isinstance(answer, BaseException):
                raise answer
            return _response(request, answer)
        raise AssertionError(f"unexpected request: {request.method} {request.url}")


def _response(request: requests.PreparedRequest, reply: Reply) -> requests.Response:
    response = requests.Response()
    response.status_code = reply.status
    response.reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests"}.get(
        reply.status, "Error"
    )
    response.headers = CaseInsensitiveDict({"Content-Type": "application/json", **reply.headers})
    response.raw = io.BytesIO(reply.content())
    response.url = request.url
    response.request = request
    response.encoding = "utf-8"
    return response


def query(request: requests.PreparedRequest) -> dict[str, str]:
    """Return the query parameters of a request."""
    return dict(parse_qsl(urlsplit(request.url).query))


def form(request: requests.PreparedRequest) -> dict[str, str]:
    """Return the form-encoded body of a request."""
    body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
    return dict(parse_qsl(body))


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse_requests(adapter: Any, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        raise AssertionError(f"real network call attempted: {request.method} {request.url}")

    def refuse_httpx(transport: Any, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"real network call attempted: {request.method} {request.url}")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", refuse_requests)
    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", refuse_httpx)


@pytest.fixture
def recorded_http(monkeypatch: pytest.MonkeyPatch, no_network: None) -> RecordedHTTP:
    http = RecordedHTTP()
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", lambda adapter, request, **kwargs: http.send(request))
    return http
