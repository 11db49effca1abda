"""Replay and live sessions as the rest of the project sees them (the session engine's registry)."""

from __future__ import annotations

from marketdata.core.clock import Clock


def session_clock(*, session_id: str, user) -> Clock | None:
    """Return the simulated clock of one of `user`'s sessions, or None when there is no such session."""
    return None
