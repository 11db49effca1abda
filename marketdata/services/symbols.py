"""Symbol writes."""

from __future__ import annotations

from django.db import transaction

from marketdata import store
from marketdata.models import Symbol


def symbol_upsert(*, ticker: str, venue: str, calendar: str, asset_class: str, description: str = "") -> Symbol:
    symbol, _ = Symbol.objects.update_or_create(
        ticker=ticker,
        venue=venue,
        defaults={"calendar": calendar, "asset_class": asset_class, "description": description, "active": True},
    )
    return symbol


def symbol_delete(*, symbol: Symbol) -> dict[str, int]:
    """Delete a symbol with its bars, trades and quotes (the row tables have no cascading key)."""
    with transaction.atomic():
        counts = store.symbol_rows_delete(symbol_id=symbol.id)
        symbol.delete()
    return counts
