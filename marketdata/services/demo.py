"""The demo data: deterministic synthetic bars for a few symbols."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from django.db import transaction

from marketdata import store
from marketdata.core.calendar import get_calendar
from marketdata.models import Symbol
from marketdata.providers.synthetic import synthetic_bars
from marketdata.services.symbols import symbol_upsert
from marketdata.services.types import ProgressCallback


@dataclass(frozen=True)
class DemoSymbol:
    ticker: str
    venue: str
    calendar: str
    asset_class: str
    description: str
    start_price: float


DEMO_SYMBOLS = (
    DemoSymbol("ACME", "XNYS", "XNYS", Symbol.AssetClass.EQUITY, "Acme Corp. (synthetic demo data)", 150.0),
    DemoSymbol(
        "GLDZ", "COMEX", "CME_Globex_Metals", Symbol.AssetClass.FUTURE, "Gold future (synthetic demo data)", 2400.0
    ),
    DemoSymbol("BTC/USDT", "SYNTH", "24/7", Symbol.AssetClass.CRYPTO, "Bitcoin/Tether (synthetic demo data)", 60000.0),
)


def last_sessions(*, calendar: str, count: int, before: dt.date) -> list[dt.date]:
    """Return the dates of the last `count` sessions that ended before `before`."""
    trading = get_calendar(calendar)
    schedule = trading.schedule(before - dt.timedelta(days=count * 2 + 14), before - dt.timedelta(days=1))
    return [stamp.date() for stamp in schedule.index[-count:]]


def demo_seed(*, sessions: int, today: dt.date, progress: ProgressCallback | None = None) -> dict[str, dict]:
    """Store deterministic synthetic 1-minute bars for the demo symbols' last `sessions` sessions."""
    report: dict[str, dict] = {}
    for index, demo in enumerate(DEMO_SYMBOLS):
        with transaction.atomic():
            symbol = symbol_upsert(
                ticker=demo.ticker,
                venue=demo.venue,
                calendar=demo.calendar,
                asset_class=demo.asset_class,
                description=demo.description,
            )
            dates = last_sessions(calendar=demo.calendar, count=sessions, before=today)
            frame = synthetic_bars(demo.ticker, demo.calendar, dates[0], dates[-1], start_price=demo.start_price)
            result = store.bars_write(symbol_id=symbol.id, interval="1m", frame=frame, on_conflict="skip")
        report[str(symbol)] = {
            "sessions": len(dates),
            "first": str(dates[0]),
            "last": str(dates[-1]),
            **result.as_dict(),
        }
        if progress:
            progress((index + 1) / len(DEMO_SYMBOLS), f"{symbol}: {result.inserted} bars added")
    return report


def utc_today() -> dt.date:
    return pd.Timestamp.now(tz="UTC").date()
