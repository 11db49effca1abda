"""Protective puts and loan-to-value, shared by both engines.

Put rules:
- A put is bought at a bar's OPEN whenever the book holds a position and no put is
  live: at the first fill, and at the open after each expiry (the roll). Spot is that
  open (no slippage; the premium is the model price), strike = strike_pct x spot,
  quantity = |position|, expiry = purchase time + tenor_days calendar days.
- Premium = Black-Scholes put price x quantity, plus `fee` x premium, paid in cash.
- Each bar's close marks the put at Black-Scholes with the time left to expiry, where
  the close is at t + bar_seconds. The first bar whose close is at or after expiry
  settles it: cash receives max(strike - close, 0) x quantity.
- A put is bought at a spot above 0 only: a roll due at an open of 0 or below stops
  the run with a `BarDataError` naming the bar, as a fill there does (fills.py).
Loan-to-value = loan_amount / (position x close), NaN while no position is held;
the lender sees the holding only. `hedged_ltv` also counts the puts' value as
collateral. A margin-call day is the UTC date (of the bar's open) of a bar closing above
margin_call_ltv.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backtests.engine.black_scholes import SECONDS_PER_YEAR, put_price, put_prices
from backtests.engine.feed import iso_time
from backtests.engine.fills import Book
from backtests.engine.params import BacktestSettings, BarDataError
from backtests.engine.strategies import PutHedge

NS_PER_YEAR = float(SECONDS_PER_YEAR * 1_000_000_000)
NS_PER_DAY = 86_400 * 1_000_000_000


@dataclass(slots=True)
class LivePut:
    """A put the book holds, and what became of it."""

    bought_ns: int
    expiry_ns: int
    spot: float
    strike: float
    quantity: float
    premium: float  # per unit
    fee: float
    settled_ns: int | None = None
    payoff: float = 0.0

    def years_left(self, at_ns: int) -> float:
        return float(self.expiry_ns - at_ns) / NS_PER_YEAR

    def record(self) -> dict[str, Any]:
        return {
            "bought_at": self.bought_ns,
            "expires_at": self.expiry_ns,
            "spot": self.spot,
            "strike": self.strike,
            "quantity": self.quantity,
            "premium": self.premium,
            "cost": self.premium * self.quantity + self.fee,
            "settled_at": self.settled_ns,
            "payoff": self.payoff,
        }


def buy_put(book: Book, hedge: PutHedge, ts_ns: int, spot: float) -> LivePut:
    """Buy puts on the book's whole position at the open `spot` of the bar starting at `ts_ns`.

    Raise `BarDataError` at a spot of 0 or below: the strike is a fraction of the spot.
    """
    if not spot > 0.0:
        raise BarDataError(
            "symbol",
            f"cannot buy a put at a spot of {spot:g} at {iso_time(ts_ns)}: puts are struck at a fraction of a spot "
            "above 0 (check the stored bars at that time)",
        )
    strike = hedge.strike_pct * spot
    tenor_ns = hedge.tenor_days * NS_PER_DAY
    premium = put_price(spot, strike, tenor_ns / NS_PER_YEAR, hedge.risk_free_rate, hedge.implied_vol)
    quantity = abs(book.position)
    cost = premium * quantity
    fee = book.settings.fee * cost
    book.pay(cost, fee)
    return LivePut(ts_ns, ts_ns + tenor_ns, spot, strike, quantity, premium, fee)


def settle_put(book: Book, put: LivePut, close_ns: int, close: float) -> None:
    """Settle an expired put at a close: cash receives its intrinsic value."""
    put.settled_ns = close_ns
    put.payoff = max(put.strike - close, 0.0) * put.quantity
    book.pay(-put.payoff)


def put_value(put: LivePut, hedge: PutHedge, close_ns: int, close: float) -> float:
    """Mark a live put at one close."""
    years = put.years_left(close_ns)
    return put_price(close, put.strike, years, hedge.risk_free_rate, hedge.implied_vol) * put.quantity


def put_values(put: LivePut, hedge: PutHedge, close_ns: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Mark a live put at many closes (vectorized `put_value`)."""
    years = (put.expiry_ns - close_ns).astype(np.float64) / NS_PER_YEAR
    return put_prices(close, put.strike, years, hedge.risk_free_rate, hedge.implied_vol) * put.quantity


def loan_to_value(
    settings: BacktestSettings, position: np.ndarray, close: np.ndarray, hedge_value: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (ltv, hedged ltv or None) per bar; NaN where nothing is held."""
    holding = position * close
    with np.errstate(divide="ignore", invalid="ignore"):
        ltv = np.where(holding > 0, settings.loan_amount / holding, np.nan)
        if hedge_value is None:
            return ltv, None
        hedged = np.where(holding > 0, settings.loan_amount / (holding + hedge_value), np.nan)
    return ltv, hedged


def margin_call_days(settings: BacktestSettings, ts_ns: np.ndarray, ltv: np.ndarray) -> list[str]:
    """Return the UTC dates (ISO, of the bar's open) of bars closing with ltv above margin_call_ltv; none when 0."""
    if settings.margin_call_ltv <= 0:
        return []
    with np.errstate(invalid="ignore"):
        called = ltv > settings.margin_call_ltv
    days = np.unique(ts_ns[called] // NS_PER_DAY)
    return [str(np.datetime64(int(day), "D")) for day in days]
