"""Database connections of long-lived threads."""

from __future__ import annotations

from django.db import connections


def release_pooled_connections() -> None:
    """Give the calling thread's pooled connections back to the pool, e.g. before a poll loop sleeps.

    A thread that lives as long as a session would otherwise keep one of the pool's
    connections for all that time, and enough of them would leave none for requests.
    Unpooled connections stay open (reopening one costs a new server process), and so
    does a connection inside a transaction.
    """
    for connection in connections.all(initialized_only=True):
        if getattr(connection, "pool", None) and connection.connection is not None and not connection.in_atomic_block:
            connection.close()
