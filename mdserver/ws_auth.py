"""WebSocket authentication: the session cookie (browsers) or `?token=<api token>` (programs)."""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser


@database_sync_to_async
def _user_for_token(key: str):
    from rest_framework.authtoken.models import Token

    if "\x00" in key:  # no token holds one, and PostgreSQL refuses it in a lookup
        return AnonymousUser()
    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return AnonymousUser()
    return token.user


class TokenAuthMiddleware:
    """Put the user of a `?token=` query parameter in the scope, over the cookie user."""

    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        keys = query.get("token")
        if keys:
            scope = dict(scope, user=await _user_for_token(keys[0]))
        return await self.inner(scope, receive, send)


def TokenOrSessionAuthStack(inner):  # noqa: N802 - mirrors channels' AuthMiddlewareStack
    return AuthMiddlewareStack(TokenAuthMiddleware(inner))
