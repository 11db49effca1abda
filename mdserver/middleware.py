"""Middleware of the project's own."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

from mdserver.api import error_body


class SynchronousChainMiddleware:
    """Keep Django's middleware chain synchronous under ASGI (daphne).

    Every view here is synchronous. Django runs each async-capable middleware in async
    mode when the handler below it is async, and such a middleware hands each of its
    `process_request` / `process_response` hooks to the sync thread and back: about a
    dozen thread switches per request with the stock middleware. Being sync-only and
    innermost, this middleware makes Django build the whole chain synchronously, so a
    request crosses between the event loop and the sync thread a few times in all
    (a small authenticated API call: ~8 -> ~5 ms in-process).
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)


class RejectNulCharactersMiddleware:
    """Answer a URL that holds a NUL character with a 400 naming where it is.

    No stored text may hold one (PostgreSQL refuses it outright), so without this a
    `?ticker=%00` reached the database and came back as a server error. Sync-only like
    `SynchronousChainMiddleware`, so the chain stays synchronous.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        field = _nul_field(request)
        if field is None:
            return self.get_response(request)
        message = f"{field}: must not contain a NUL character"
        if not request.path.startswith("/api/"):
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        details = [{"field": field, "message": "must not contain a NUL character"}]
        return JsonResponse(error_body("invalid", message, details), status=400)


def _nul_field(request: HttpRequest) -> str | None:
    """Return the name of the first URL part holding a NUL character: `path` or a query parameter."""
    if "\x00" in request.path:
        return "path"
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return name.replace("\x00", "\\x00")
    return None
