"""Shared pieces of the Django benchmarks: a throwaway database and timing."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator

import pandas as pd

DEFAULT_BENCH_DATABASE = "postgres://postgres@127.0.0.1:5432/mdserver"


def best_of(func: Callable[[], object], *, repeat: int = 3) -> float:
    """Return the best wall time of `repeat` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - started)
    return best


@contextlib.contextmanager
def bench_database() -> Iterator[None]:
    """Create a fresh test database (like pytest does), migrate it, drop it afterwards."""
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    if connection.vendor != "postgresql":
        raise SystemExit(
            f"this benchmark measures PostgreSQL; set DATABASE_URL (e.g. {DEFAULT_BENCH_DATABASE}), "
            f"got the {connection.vendor} database"
        )
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def symbol_year_bars(ticker: str, *, year: int = 2023) -> pd.DataFrame:
    """One symbol-year of synthetic XNYS 1-minute bars (about 98k rows)."""
    from marketdata.providers.synthetic import synthetic_bars

    return synthetic_bars(ticker, "XNYS", dt.date(year, 1, 1), dt.date(year, 12, 31))
