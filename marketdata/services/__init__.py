"""Market-data writes: symbols, demo data, imports and provider fetches."""

from marketdata.services.demo import DEMO_SYMBOLS, demo_seed, last_sessions, utc_today
from marketdata.services.imports import (
    bars_file_prepare,
    bars_import_create,
    bars_import_run,
    bars_prepare,
    bars_write_prepared,
)
from marketdata.services.symbols import symbol_delete, symbol_upsert

__all__ = [
    "DEMO_SYMBOLS",
    "bars_file_prepare",
    "bars_import_create",
    "bars_import_run",
    "bars_prepare",
    "bars_write_prepared",
    "demo_seed",
    "last_sessions",
    "symbol_delete",
    "symbol_upsert",
    "utc_today",
]
