"""Backtesting engine: pure Python + numpy/pandas, no Django.

Typical use from a service::

    from backtests.engine import (
        BarTiming, calendar_periods_per_year, run_vectorized, settings_from, validate_params,
    )

    params = validate_params(strategy, params)          # ParamError(field, message)
    settings = settings_from(saved_settings_fields)     # ParamError(field, message)
    timing = BarTiming(interval.seconds, calendar_periods_per_year("XNYS", interval.seconds))
    result = run_vectorized(bars, strategy, params, settings, timing)
    result.metrics, result.equity, result.trades, result.result_hash(), result.to_dict()

`run_event(events, ...)` / `EventBacktest` give the same result from bar events fed in
availability order (a replay stream); see SPEC.md "Backtests".
"""

from backtests.engine.event import EventBacktest, run_event
from backtests.engine.feed import Bar, bar_events, to_bar
from backtests.engine.metrics import calendar_periods_per_year, periods_per_year
from backtests.engine.params import (
    DEFAULT_TIMING,
    SETTINGS_SCHEMA,
    BacktestSettings,
    BarDataError,
    BarTiming,
    ParamError,
    settings_from,
    validate_settings,
)
from backtests.engine.result import BacktestResult
from backtests.engine.strategies import STRATEGIES, Strategy, get_strategy, strategy_schemas, validate_params
from backtests.engine.vectorized import run_vectorized

__all__ = [
    "DEFAULT_TIMING",
    "SETTINGS_SCHEMA",
    "STRATEGIES",
    "BacktestResult",
    "BacktestSettings",
    "Bar",
    "BarDataError",
    "BarTiming",
    "EventBacktest",
    "ParamError",
    "Strategy",
    "bar_events",
    "calendar_periods_per_year",
    "get_strategy",
    "periods_per_year",
    "run_event",
    "run_vectorized",
    "settings_from",
    "strategy_schemas",
    "to_bar",
    "validate_params",
    "validate_settings",
]
