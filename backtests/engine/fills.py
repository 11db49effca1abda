"""The book both engines keep: cash, position, trades, and the fill rules.

Fill rules (the same in both engines, because both fill through `Book.fill_all`):
- A target decided at bar i's close fills at bar i+1's OPEN; a target decided at the
  last bar never fills.
- Slippage: buys fill at open x (1 + bps/1e4), sells at open x (1 - bps/1e4).
- Fee: `fee` x |size| x fill price, paid in cash on every fill.
- Size: target x `units`; with units = 0 (all-in), the whole units the cash buys:
  floor(|target| x cash / (fill price x (1 + fee))), nothing when that is 0.
  Fixed units may take cash below zero (borrowed); all-in never does.
- A changed target closes the open trade (if any) and opens a new one at the same
  open: each trade keeps one size from entry to exit.
- A trade still open at the end is reported with `open: True`, exit time the last
  bar's close, exit price the last close and no exit fee or slippage (marked to
  market, like the equity curve).
Trade `pnl` = size x (exit - entry) - fees; `return` = pnl / (|size| x entry price).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from backtests.engine.params import BacktestSettings

TRADE_COLUMNS = (
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "size",
    "pnl",
    "return",
    "fees",
    "open",
    "entry_bar",
    "exit_bar",
)


class Book:
    """Cash, position and trades of one run; changed only at fills and option cash flows.

    Trades are kept as rows of plain floats, so a run with thousands of fills stays
    cheap; `trade_columns` turns them into arrays.
    """

    __slots__ = (
        "_buy_factor",
        "_sell_factor",
        "all_in",
        "cash",
        "entries",
        "exits",
        "fee_rate",
        "fees",
        "position",
        "settings",
        "units",
    )

    def __init__(self, settings: BacktestSettings) -> None:
        self.settings = settings
        self.cash = float(settings.initial_cash)
        self.position = 0.0
        self.fees = 0.0
        self.fee_rate = float(settings.fee)
        self.units = float(settings.units)
        self.all_in = settings.all_in
        bps = settings.slippage / 1e4
        self._buy_factor, self._sell_factor = 1.0 + bps, 1.0 - bps
        self.entries: list[tuple[int, float, float, float]] = []  # bar, price, fee, size
        self.exits: list[tuple[int, float, float]] = []  # bar, price, fee

    def rebalance(self, target: float, bar: int, open_price: float) -> None:
        """Move to `target` at the open of bar number `bar`."""
        self.fill_all([bar], [target], [open_price])

    def fill_all(self, bars: list[int], targets: list[float], opens: list[float]) -> tuple[list[float], list[float]]:
        """Apply fills in order (bar i moves to targets[i] at opens[i]); return cash and position after each.

        One tight loop over Python floats: the vectorized engine calls it once for the
        whole run, the event engine once per fill, so both do the same arithmetic.
        """
        cash, position, fees = self.cash, self.position, self.fees
        fee_rate, units, all_in = self.fee_rate, self.units, self.all_in
        buy_factor, sell_factor = self._buy_factor, self._sell_factor
        cost_factor = 1.0 + fee_rate
        add_exit, add_entry = self.exits.append, self.entries.append
        cash_after: list[float] = []
        position_after: list[float] = []
        add_cash, add_position = cash_after.append, position_after.append
        for bar, target, open_price in zip(bars, targets, opens, strict=True):
            if position != 0.0:
                price = open_price * (sell_factor if position > 0 else buy_factor)
                fee = fee_rate * abs(position) * price
                cash = cash + (position * price - fee)
                fees += fee
                add_exit((bar, price, fee))
                position = 0.0
            if target != 0.0:
                price = open_price * (buy_factor if target > 0 else sell_factor)
                if all_in:
                    affordable = abs(target) * cash / (price * cost_factor)
                    size = math.copysign(math.floor(affordable), target) if affordable >= 1.0 else 0.0
                else:
                    size = target * units
                if size != 0.0:
                    fee = fee_rate * abs(size) * price
                    cash = cash - (size * price + fee)
                    fees += fee
                    add_entry((bar, price, fee, size))
                    position = size
            add_cash(cash)
            add_position(position)
        self.cash, self.position, self.fees = cash, position, fees
        return cash_after, position_after

    def pay(self, amount: float, fee: float = 0.0) -> None:
        """Take an option premium (and its fee) from cash; a negative amount is a payoff."""
        self.cash = self.cash - (amount + fee)
        self.fees += fee

    def trade_columns(self, ts_ns: np.ndarray, bar_ns: int, close: np.ndarray) -> dict[str, np.ndarray]:
        """Return every trade as TRADE_COLUMNS arrays; an open one is marked at the last close."""
        entries = _rows(self.entries, 4)
        exits = _rows(self.exits, 3)
        is_open = len(entries) > len(exits)
        if is_open:
            exits = np.vstack([exits, [len(ts_ns) - 1, close[-1], 0.0]])
        entry_bar, exit_bar = entries[:, 0].astype(np.int64), exits[:, 0].astype(np.int64)
        exit_ns = ts_ns[exit_bar]
        if is_open:
            exit_ns[-1] += bar_ns  # marked at the last bar's close
        entry_price, size, exit_price = entries[:, 1], entries[:, 3], exits[:, 1]
        fees = entries[:, 2] + exits[:, 2]
        pnl = size * (exit_price - entry_price) - fees
        flags = np.zeros(len(size), dtype=bool)
        flags[len(size) - 1 :] = is_open
        return {
            "entry_time": ts_ns[entry_bar],
            "entry_price": entry_price,
            "exit_time": exit_ns,
            "exit_price": exit_price,
            "size": size,
            "pnl": pnl,
            "return": pnl / (np.abs(size) * entry_price),
            "fees": fees,
            "open": flags,
            "entry_bar": entry_bar,
            "exit_bar": exit_bar,
        }


def _rows(rows: list[tuple], width: int) -> np.ndarray:
    """Return tuples of numbers as a (len, width) float64 array (fromiter: ~10x faster than np.array)."""
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float64, count=len(rows) * width)
    return flat.reshape(-1, width)
