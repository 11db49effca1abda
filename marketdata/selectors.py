"""Market-data reads for pages and the API."""

from __future__ import annotations

from marketdata import store
from marketdata.models import Symbol


def symbols_overview() -> list[dict]:
    """Return active symbols with their stored intervals, bar counts and data range."""
    symbols = list(Symbol.objects.filter(active=True))
    summary = store.bars_summary(symbol_ids=[s.id for s in symbols])
    rows = []
    for symbol in symbols:
        intervals = summary.get(symbol.id, {})
        rows.append(
            {
                "symbol": symbol,
                "intervals": sorted(intervals),
                "bars": sum(item["count"] for item in intervals.values()),
                "first": min((item["first"] for item in intervals.values()), default=None),
                "last": max((item["last"] for item in intervals.values()), default=None),
            }
        )
    return rows
