"""Built-in strategies, their parameter schemas, and the registry the API lists.

A strategy answers one question at each bar's CLOSE, using only bars known by then:
what position should I hold? The answer (the target) is a multiple of the run's
`units` setting (all-in when units = 0): 0 = flat, 1 = long. The engine fills a
changed target at the next bar's open.

Two paths give the same targets, bit for bit (tests/backtests/engine):
- `signals(bars, params)`: all targets at once from a bar frame (vectorized engine);
- `initial_state(params)` then `on_bar(state, bar)` per bar in availability order
  (event engine).
Ties within `signals.RELATIVE_TOLERANCE` keep the previous target.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from backtests.engine import signals as ind
from backtests.engine.feed import Bar
from backtests.engine.params import ParamError, Schema, object_schema, validate_against

Params = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PutHedge:
    """Protective puts: strike at `strike_pct` of spot, `tenor_days` calendar days, Black-Scholes priced."""

    strike_pct: float
    tenor_days: int
    implied_vol: float
    risk_free_rate: float


class Strategy(ABC):
    """Base class: a name, a parameter schema, and the two ways to compute targets."""

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    parameters: ClassVar[Schema] = {}
    # (a, b): parameter a must be less than parameter b.
    less_than: ClassVar[tuple[str, str] | None] = None

    def check(self, params: Params) -> None:
        """Raise `ParamError` for combinations the schema cannot express."""
        if self.less_than is not None:
            smaller, larger = self.less_than
            if params[smaller] >= params[larger]:
                raise ParamError(smaller, f"must be less than {larger} ({params[larger]}), got {params[smaller]}")

    def hedge(self, params: Params) -> PutHedge | None:
        """Return the option overlay the engine should run, if any."""
        return None

    @abstractmethod
    def signals(self, bars: pd.DataFrame, params: Params) -> np.ndarray:
        """Return the target position decided at each bar's close (vectorized)."""

    def signals_with_changes(self, bars: pd.DataFrame, params: Params) -> tuple[np.ndarray, np.ndarray | None]:
        """Return `signals` and, when the strategy knows them, the bars where the target changes.

        A change is a bar whose target differs from the bar before (bar 0 when its target is
        not flat). A strategy that returns them vouches for finite targets; None lets the
        engine find the changes (and check the targets).
        """
        return self.signals(bars, params), None

    @abstractmethod
    def initial_state(self, params: Params) -> Any:
        """Return the rolling state the event engine starts from."""

    @abstractmethod
    def on_bar(self, state: Any, bar: Bar) -> float:
        """Return the target position decided at this bar's close (event by event)."""

    def schema(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "parameters": object_schema(self.parameters),
        }


def _closes(bars: pd.DataFrame) -> np.ndarray:
    return bars["close"].to_numpy(dtype=np.float64)


class BuyAndHold(Strategy):
    name = "buy_and_hold"
    title = "Buy and hold"
    description = "Go long at the first opportunity (the second bar's open) and hold to the end."

    def signals(self, bars: pd.DataFrame, params: Params) -> np.ndarray:
        return np.ones(len(bars))

    def initial_state(self, params: Params) -> None:
        return None

    def on_bar(self, state: None, bar: Bar) -> float:
        return 1.0


@dataclass(slots=True)
class _HoldState:
    params: Params
    indicators: Any
    target: float = 0.0


class EnterLeaveStrategy(Strategy):
    """Long from a bar that says enter until a bar that says leave; flat before the first enter.

    Subclasses say enter/leave twice: for all bars (`enter_leave`) and for one bar from
    running indicators (`bar_enter_leave`). A bar with both enters; one with neither
    keeps the position.
    """

    @abstractmethod
    def enter_leave(self, bars: pd.DataFrame, params: Params) -> tuple[np.ndarray, np.ndarray]:
        """Return per bar whether to enter and whether to leave (vectorized)."""

    @abstractmethod
    def running_indicators(self, params: Params) -> Any:
        """Return the running indicators the event path updates bar by bar."""

    @abstractmethod
    def bar_enter_leave(self, indicators: Any, params: Params, bar: Bar) -> tuple[bool, bool]:
        """Return whether to enter and whether to leave at this bar's close."""

    def signals(self, bars: pd.DataFrame, params: Params) -> np.ndarray:
        return ind.hold_between(*self.enter_leave(bars, params))

    def signals_with_changes(self, bars: pd.DataFrame, params: Params) -> tuple[np.ndarray, np.ndarray]:
        flips = ind.hold_flips(*self.enter_leave(bars, params))  # held 0.0 / 1.0: finite
        return ind.holds(flips, len(bars)), flips

    def initial_state(self, params: Params) -> _HoldState:
        return _HoldState(params, self.running_indicators(params))

    def on_bar(self, state: _HoldState, bar: Bar) -> float:
        enter, leave = self.bar_enter_leave(state.indicators, state.params, bar)
        state.target = ind.next_hold(state.target, enter, leave)
        return state.target


class SmaCrossover(EnterLeaveStrategy):
    name = "sma_crossover"
    title = "SMA crossover"
    description = "Long while the fast simple moving average of closes is above the slow one, flat below it."
    parameters: ClassVar[Schema] = {
        "fast": {"type": "integer", "minimum": 1, "maximum": 100_000, "default": 10, "description": "Fast SMA bars."},
        "slow": {"type": "integer", "minimum": 2, "maximum": 100_000, "default": 50, "description": "Slow SMA bars."},
    }
    less_than = ("fast", "slow")

    def enter_leave(self, bars: pd.DataFrame, params: Params) -> tuple[np.ndarray, np.ndarray]:
        close = _closes(bars)
        running = np.cumsum(close)
        fast, slow = ind.sma(close, params["fast"], running), ind.sma(close, params["slow"], running)
        del running  # one bar-length array fewer held while comparing
        return ind.above_below(fast, slow)

    def running_indicators(self, params: Params) -> tuple[ind.RunningSMA, ind.RunningSMA]:
        return ind.RunningSMA(params["fast"]), ind.RunningSMA(params["slow"])

    def bar_enter_leave(self, indicators: Any, params: Params, bar: Bar) -> tuple[bool, bool]:
        fast, slow = (average.update(bar.close) for average in indicators)
        return ind.is_above(fast, slow), ind.is_below(fast, slow)


class RsiReversion(EnterLeaveStrategy):
    name = "rsi_reversion"
    title = "RSI mean reversion"
    description = "Buy when Wilder's RSI closes below `lower` (oversold); sell when it closes above `upper`."
    parameters: ClassVar[Schema] = {
        "period": {"type": "integer", "minimum": 2, "maximum": 10_000, "default": 14, "description": "RSI bars."},
        "lower": {"type": "number", "minimum": 0, "maximum": 100, "default": 30.0, "description": "Buy below."},
        "upper": {"type": "number", "minimum": 0, "maximum": 100, "default": 70.0, "description": "Sell above."},
    }
    less_than = ("lower", "upper")

    def enter_leave(self, bars: pd.DataFrame, params: Params) -> tuple[np.ndarray, np.ndarray]:
        rsi = ind.rsi(_closes(bars), params["period"])
        with np.errstate(invalid="ignore"):
            return rsi < params["lower"], rsi > params["upper"]

    def running_indicators(self, params: Params) -> ind.RunningRSI:
        return ind.RunningRSI(params["period"])

    def bar_enter_leave(self, indicators: Any, params: Params, bar: Bar) -> tuple[bool, bool]:
        rsi = indicators.update(bar.close)
        return rsi < params["lower"], rsi > params["upper"]


class BollingerBreakout(EnterLeaveStrategy):
    name = "bollinger_breakout"
    title = "Bollinger breakout"
    description = (
        "Buy when the close breaks above the upper band (SMA + k population standard deviations); "
        "sell when it closes below the middle band."
    )
    parameters: ClassVar[Schema] = {
        "period": {"type": "integer", "minimum": 2, "maximum": 10_000, "default": 20, "description": "Band bars."},
        "k": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 10,
            "default": 2.0,
            "description": "Band width in standard deviations.",
        },
    }

    def enter_leave(self, bars: pd.DataFrame, params: Params) -> tuple[np.ndarray, np.ndarray]:
        close = _closes(bars)
        middle, upper, _ = ind.bollinger(close, params["period"], params["k"])
        return ind.above(close, upper), ind.below(close, middle)

    def running_indicators(self, params: Params) -> ind.RunningBollinger:
        return ind.RunningBollinger(params["period"], params["k"])

    def bar_enter_leave(self, indicators: Any, params: Params, bar: Bar) -> tuple[bool, bool]:
        middle, upper, _ = indicators.update(bar.close)  # NaN while warming up: neither
        return ind.is_above(bar.close, upper), ind.is_below(bar.close, middle)


class ProtectivePut(BuyAndHold):
    name = "protective_put"
    title = "Protective put"
    description = (
        "Hold `units` (all-in when 0) and keep them insured with European puts struck at `strike_pct` of spot, "
        "bought for `tenor_days` and rolled at expiry, priced with Black-Scholes; tracks the loan-to-value of "
        "`loan_amount` against the holding and lists margin-call days."
    )
    parameters: ClassVar[Schema] = {
        "strike_pct": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 2,
            "default": 0.9,
            "description": "Strike as a fraction of spot at purchase (0.9 = 10% out of the money).",
        },
        "tenor_days": {
            "type": "integer",
            "minimum": 1,
            "maximum": 3650,
            "default": 30,
            "description": "Calendar days from purchase to expiry; a new put is bought after each expiry.",
        },
        "implied_vol": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 5,
            "default": 0.5,
            "description": "Annual implied volatility used to price the puts (0.5 = 50%).",
        },
        "risk_free_rate": {
            "type": "number",
            "minimum": -0.1,
            "maximum": 1,
            "default": 0.04,
            "description": "Continuously compounded annual risk-free rate.",
        },
    }

    def hedge(self, params: Params) -> PutHedge:
        return PutHedge(params["strike_pct"], params["tenor_days"], params["implied_vol"], params["risk_free_rate"])


STRATEGIES: dict[str, Strategy] = {
    strategy.name: strategy
    for strategy in (BuyAndHold(), SmaCrossover(), RsiReversion(), BollingerBreakout(), ProtectivePut())
}


def get_strategy(name: str) -> Strategy:
    """Return the registered strategy `name`; raise `ParamError("strategy", ...)` if there is none."""
    try:
        return STRATEGIES[name]
    except (KeyError, TypeError):
        raise ParamError("strategy", f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}") from None


def strategy_schemas() -> list[dict[str, Any]]:
    """Return every strategy's name, title, description and parameter schema (for `GET strategies`)."""
    return [strategy.schema() for strategy in STRATEGIES.values()]


def validate_params(name: str, params: Params | None) -> dict[str, Any]:
    """Return `params` for strategy `name` checked and completed with defaults; raise `ParamError`."""
    strategy = get_strategy(name)
    checked = validate_against(strategy.parameters, params)
    strategy.check(checked)
    return checked
