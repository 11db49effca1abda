"""Scenario presets that prefill the backtest form."""

from __future__ import annotations

import datetime as dt

PRESETS = [
    {
        "id": "march-2020-crash",
        "name": "March 2020 crash",
        "description": "The COVID sell-off: S&P 500 fell 34% from 19 Feb to 23 Mar 2020, then rebounded.",
        "symbol": "SPY",
        "venue": "ARCX",
        "calendar": "XNYS",
        "interval": "1d",
        "start_date": "2020-02-03",
        "end_date": "2020-04-30",
        "strategy": "protective_put",
        "params": {"strike_pct": 0.9, "tenor_days": 30, "implied_vol": 0.35, "risk_free_rate": 0.015},
        "settings": {"initial_cash": 100_000, "units": 100, "loan_amount": 15_000, "margin_call_ltv": 0.6},
        "data_source": "databento",
    },
    {
        "id": "2022-rate-hikes",
        "name": "2022 rate hikes",
        "description": "The Fed's fastest hiking cycle in decades: Nasdaq 100 down a third over the year.",
        "symbol": "QQQ",
        "venue": "XNAS",
        "calendar": "XNYS",
        "interval": "1h",
        "start_date": "2022-01-03",
        "end_date": "2022-12-30",
        "strategy": "sma_crossover",
        "params": {"fast": 20, "slow": 100},
        "settings": {"initial_cash": 100_000, "fee": 0.0005, "slippage": 1},
        "data_source": "databento",
    },
    {
        "id": "2024-gold-rally",
        "name": "2024 gold rally",
        "description": "Gold futures rose about 27% in 2024 to record highs.",
        "symbol": "GC.c.0",
        "venue": "GLBX",
        "calendar": "CME_Globex_Metals",
        "interval": "1h",
        "start_date": "2024-01-02",
        "end_date": "2024-10-31",
        "strategy": "buy_and_hold",
        "params": {},
        "settings": {"initial_cash": 100_000, "fee": 0.0002},
        "data_source": "databento",
    },
]


def demo_preset(today: dt.date) -> dict:
    """The synthetic demo: the demo symbol over its seeded history, no provider needed."""
    return {
        "id": "demo",
        "name": "Demo (synthetic data)",
        "description": "SMA crossover on the synthetic ACME bars `make run` loads: runs anywhere, offline.",
        "symbol": "ACME",
        "venue": "XNYS",
        "calendar": "XNYS",
        "interval": "5m",
        "start_date": (today - dt.timedelta(days=42)).isoformat(),
        "end_date": (today - dt.timedelta(days=1)).isoformat(),
        "strategy": "sma_crossover",
        "params": {"fast": 10, "slow": 50},
        "settings": {"initial_cash": 100_000, "fee": 0.001, "slippage": 2},
        "data_source": "store",
    }


def presets(today: dt.date) -> list[dict]:
    return [*PRESETS, demo_preset(today)]
