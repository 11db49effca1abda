"""Read configuration from environment variables.

Unset means the embedded default; set but malformed stops start-up with an
`ImproperlyConfigured` error that names the variable (never its secret value).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}
DATABASE_SCHEMES = {"postgres", "postgresql", "pgsql", "sqlite"}
REDIS_SCHEMES = {"redis", "rediss", "unix"}


class Env:
    """Typed access to an environment mapping (os.environ by default)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def str(self, name: str, default: str = "") -> str:
        value = self.raw(name)
        return default if value is None else value

    def bool(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
        raise ImproperlyConfigured(f"{name} must be one of true/false/1/0/yes/no/on/off, got {value!r}")

    def int(self, name: str, default: int, *, minimum: int | None = None) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {number}")
        return number

    def list(self, name: str, default: list[str]) -> list[str]:
        value = self.raw(name)
        if value is None:
            return list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def database(self, name: str, default_sqlite_path: Path) -> dict:
        """Return a Django DATABASES entry from a database URL (SQLite file when unset)."""
        import dj_database_url

        value = self.raw(name)
        if value is None:
            return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(default_sqlite_path)}
        parts = _split_url(name, value)
        if parts.scheme not in DATABASE_SCHEMES:
            raise ImproperlyConfigured(
                f"{name} is malformed: scheme {parts.scheme!r} is not one of "
                f"{', '.join(sorted(DATABASE_SCHEMES))} (expected e.g. postgres://user@host:5432/dbname)"
            )
        if parts.scheme != "sqlite":
            if not parts.hostname and "host=" not in (parts.query or ""):
                raise ImproperlyConfigured(f"{name} is malformed: it names no host")
            if parts.path.strip("/") == "":
                raise ImproperlyConfigured(f"{name} is malformed: it names no database (the path after the host)")
            _check_port(name, parts)
        try:
            config = dj_database_url.parse(value, conn_max_age=0)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name} is malformed: {exc}") from None
        return config

    def redis_url(self, name: str) -> str | None:
        """Return a validated Redis URL, or None when unset."""
        value = self.raw(name)
        if value is None:
            return None
        parts = _split_url(name, value)
        if parts.scheme not in REDIS_SCHEMES:
            raise ImproperlyConfigured(
                f"{name} is malformed: scheme {parts.scheme!r} is not redis, rediss or unix "
                "(expected e.g. redis://127.0.0.1:6379/0)"
            )
        if parts.scheme != "unix" and not parts.hostname:
            raise ImproperlyConfigured(f"{name} is malformed: it names no host")
        _check_port(name, parts)
        return value


def _split_url(name: str, value: str):
    if "://" not in value:
        raise ImproperlyConfigured(f"{name} is malformed: expected a URL like scheme://host/..., got no '://'")
    try:
        return urlsplit(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is malformed: {exc}") from None


def _check_port(name: str, parts) -> None:
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily
    except ValueError:
        raise ImproperlyConfigured(f"{name} is malformed: the port is not a number in 0..65535") from None


env = Env()
