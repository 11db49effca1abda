"""API authentication classes."""

from __future__ import annotations

from rest_framework import authentication, exceptions


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's `Authorization: Token <key>`, refusing a key no token can have before it reaches the database."""

    def authenticate_credentials(self, key: str):
        if "\x00" in key:  # PostgreSQL refuses NUL in text: the lookup would fail, not miss
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)
