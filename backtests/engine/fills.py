"""The book both engines keep: cash, position, trades, and the fill rules.

Fill rules (the same in both engines: `Book.rebalance` and `Book.fill_many` do the same arithmetic):
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

    Two ways to fill, with the same float operations in the same order: `rebalance` one
    fill at a time (the event engine, the hedged vectorized run) and `fill_many` a whole
    schedule at once (the vectorized engine). Trades are kept as blocks of rows of plain
    floats (bar, price, fee[, size]), so a run with thousands of fills stays cheap;
    `trade_columns` turns them into arrays.
    """

    __slots__ = (
        "_buy_factor",
        "_entry_blocks",
        "_exit_blocks",
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
        # Rows filled one at a time, after the blocks `fill_many` recorded.
        self.entries: list[tuple[int, float, float, float]] = []  # bar, price, fee, size
        self.exits: list[tuple[int, float, float]] = []  # bar, price, fee
        self._entry_blocks: list[np.ndarray] = []
        self._exit_blocks: list[np.ndarray] = []

    def rebalance(self, target: float, bar: int, open_price: float) -> None:
        """Move to `target` at the open of bar number `bar`."""
        cash, position, fee_rate = self.cash, self.position, self.fee_rate
        if position != 0.0:
            price = open_price * (self._sell_factor if position > 0 else self._buy_factor)
            fee = fee_rate * abs(position) * price
            cash = cash + (position * price - fee)
            self.fees += fee
            self.exits.append((bar, price, fee))
            position = 0.0
        if target != 0.0:
            price = open_price * (self._buy_factor if target > 0 else self._sell_factor)
            if self.all_in:
                affordable = abs(target) * cash / (price * (1.0 + fee_rate))
                size = math.copysign(math.floor(affordable), target) if affordable >= 1.0 else 0.0
            else:
                size = target * self.units
            if size != 0.0:
                fee = fee_rate * abs(size) * price
                cash = cash - (size * price + fee)
                self.fees += fee
                self.entries.append((bar, price, fee, size))
                position = size
        self.cash, self.position = cash, position

    def fill_many(self, bars: np.ndarray, targets: np.ndarray, opens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply fills in order (bars[i] moves to targets[i] at opens[i]); return cash and position after each.

        The arithmetic of `rebalance` fill after fill, in numpy. Every fill closes what the
        previous one opened, so a trade opened at fill i closes at fill i + 1, and only
        all-in sizing (it depends on the cash earlier trades left) needs a Python loop,
        over the trades. Cash moves in up to two steps per fill, the exit then the entry;
        their running sum (np.cumsum adds in sequence, like the scalar code) is the cash.
        All-in targets other than flat and long (1.0) are filled one by one with `rebalance`.
        """
        count = len(bars)
        if self.all_in and not ((targets == 0.0) | (targets == 1.0)).all():
            return self._rebalance_each(bars, targets, opens)
        position_after = np.zeros(count)
        if count == 0:
            return np.empty(0), position_after
        self._flush_rows()
        buy, sell, fee_rate = self._buy_factor, self._sell_factor, self.fee_rate
        cash_steps = np.zeros(2 * count + 1)  # cash before, then exit and entry of fill 0, of fill 1, ...
        fee_steps = np.zeros(2 * count + 1)
        cash, held = self.cash, self.position
        cash_steps[0], fee_steps[0] = cash, self.fees
        if held != 0.0:  # a position held before the first fill closes at it
            price = float(opens[0]) * (sell if held > 0 else buy)
            fee = fee_rate * abs(held) * price
            cash_steps[1], fee_steps[1] = held * price - fee, fee
            cash = cash + (held * price - fee)
            self._exit_blocks.append(np.array([[bars[0], price, fee]], dtype=np.float64))
        opening = np.flatnonzero(targets)
        wanted = targets[opening]
        entry_price = opens[opening] * np.where(wanted > 0, buy, sell)
        sizes = self._all_in_sizes(cash, opening, entry_price, opens) if self.all_in else wanted * self.units
        opened = sizes != 0.0
        at, size, entry_price = opening[opened], sizes[opened], entry_price[opened]
        entry_fee = fee_rate * np.abs(size) * entry_price
        position_after[at] = size
        cash_steps[2 * at + 2] = -(size * entry_price + entry_fee)
        fee_steps[2 * at + 2] = entry_fee
        exit_at = at + 1
        closed = exit_at < count
        exit_at, exit_size = exit_at[closed], size[closed]
        exit_price = opens[exit_at] * np.where(exit_size > 0, sell, buy)
        exit_fee = fee_rate * np.abs(exit_size) * exit_price
        cash_steps[2 * exit_at + 1] = exit_size * exit_price - exit_fee
        fee_steps[2 * exit_at + 1] = exit_fee
        self._entry_blocks.append(np.column_stack((bars[at], entry_price, entry_fee, size)))
        self._exit_blocks.append(np.column_stack((bars[exit_at], exit_price, exit_fee)))
        cash_after = np.cumsum(cash_steps)[2::2]
        self.cash, self.position = float(cash_after[-1]), float(position_after[-1])
        self.fees = float(np.cumsum(fee_steps)[-1])
        return cash_after, position_after

    def _all_in_sizes(self, cash: float, opening: np.ndarray, entry_price: np.ndarray, opens: np.ndarray) -> np.ndarray:
        """Return the whole units each long opening fill buys, stepping `cash` through the trades as `rebalance` does."""
        closing = opening + 1 < len(opens)
        exit_price = np.zeros(len(opening))  # a trade still open at the end moves no cash here: x 0.0
        exit_price[closing] = opens[opening[closing] + 1] * self._sell_factor
        costs = (entry_price * (1.0 + self.fee_rate)).tolist()
        fee_rate = self.fee_rate
        bought: list[float] = []
        add = bought.append
        # Target 1.0: affordable = 1.0 x cash / cost and size = |size| = floor(affordable), bit for bit
        # (x // 1.0 is that floor as a float, without a call).
        for cost, price, exit_ in zip(costs, entry_price.tolist(), exit_price.tolist(), strict=True):
            affordable = cash / cost
            if affordable >= 1.0:
                units = affordable // 1.0
                unit_fee = fee_rate * units
                cash = cash - (units * price + unit_fee * price)
                cash = cash + (units * exit_ - unit_fee * exit_)
                add(units)
            else:
                add(0.0)
        if not math.isfinite(cash):  # an infinite `affordable`, where rebalance's math.floor raises
            raise OverflowError("cannot convert float infinity to integer")
        return np.array(bought, dtype=np.float64)

    def _rebalance_each(
        self, bars: np.ndarray, targets: np.ndarray, opens: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        cash_after, position_after = np.empty(len(bars)), np.empty(len(bars))
        fills = zip(bars.tolist(), targets.tolist(), opens.tolist(), strict=True)
        for i, (bar, target, open_price) in enumerate(fills):
            self.rebalance(target, bar, open_price)
            cash_after[i], position_after[i] = self.cash, self.position
        return cash_after, position_after

    def _flush_rows(self) -> None:
        """Move the rows filled one at a time into blocks, so blocks stay in fill order."""
        if self.entries:
            self._entry_blocks.append(_rows(self.entries, 4))
            self.entries = []
        if self.exits:
            self._exit_blocks.append(_rows(self.exits, 3))
            self.exits = []

    def pay(self, amount: float, fee: float = 0.0) -> None:
        """Take an option premium (and its fee) from cash; a negative amount is a payoff."""
        self.cash = self.cash - (amount + fee)
        self.fees += fee

    def trade_columns(self, ts_ns: np.ndarray, bar_ns: int, close: np.ndarray) -> dict[str, np.ndarray]:
        """Return every trade as TRADE_COLUMNS arrays; an open one is marked at the last close."""
        entries = _stacked(self._entry_blocks, self.entries, 4)
        exits = _stacked(self._exit_blocks, self.exits, 3)
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


def _stacked(blocks: list[np.ndarray], rows: list[tuple], width: int) -> np.ndarray:
    """Return the blocks, then the rows, as one (len, width) float64 array."""
    if not rows and len(blocks) == 1:
        return blocks[0]
    return np.vstack([*blocks, _rows(rows, width)])


def _rows(rows: list[tuple], width: int) -> np.ndarray:
    """Return tuples of numbers as a (len, width) float64 array (fromiter: ~10x faster than np.array)."""
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float64, count=len(rows) * width)
    return flat.reshape(-1, width)
