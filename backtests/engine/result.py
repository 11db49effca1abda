"""What a run returns: trades, the equity curve, metrics, extras, and a stable hash."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from backtests.engine import hedging
from backtests.engine.feed import UTC_NS, utc_index
from backtests.engine.fills import TRADE_COLUMNS, Book
from backtests.engine.metrics import compute_metrics, loan_metrics
from backtests.engine.params import BacktestSettings, BarTiming

HASH_DIGITS = 10  # significant digits kept by result_hash
PUBLIC_TRADE_COLUMNS = [name for name in TRADE_COLUMNS if name not in ("entry_bar", "exit_bar")]
_PUT_TIME_KEYS = ("bought_at", "expires_at", "settled_at")
_SETTINGS_FIELDS = tuple(field.name for field in fields(BacktestSettings))


@dataclass(frozen=True, slots=True)
class EquityCurve:
    """An equity curve as arrays, for `BacktestResult.equity` to build its Series from when asked.

    `times` is the bar frame's `ts` column when the run came from one: the index then
    shares its memory under pandas' copy-on-write instead of copying `ts_ns` (which may
    be a view of that column, so it is only read if `times` is missing or not UTC ns).
    """

    ts_ns: np.ndarray
    values: np.ndarray
    times: pd.Series | None = None

    def index(self) -> pd.DatetimeIndex:
        if self.times is not None and self.times.dtype == UTC_NS:
            return pd.DatetimeIndex(self.times, name="t")
        return utc_index(self.ts_ns, name="t")

    def series(self, index: pd.DatetimeIndex | None = None) -> pd.Series:
        return pd.Series(self.values, index=self.index() if index is None else index, name="equity", copy=False)


class BacktestResult:
    """One run.

    - `trades` (a property): dicts {entry_time, entry_price, exit_time, exit_price,
      size, pnl, return, fees, open}; times are UTC pd.Timestamps (fills happen at bar
      opens). `trade_table` is the same as a frame plus `entry_bar`/`exit_bar` (bar
      positions); `trade_columns` holds it as numpy arrays (times in UTC ns).
    - `equity`: pd.Series of cash + position x close (+ puts) at each bar's close,
      indexed by the bar's OPEN time (the bar label), UTC. The engines hand over the
      curve as arrays and the Series is built on first access, so a run read only for
      its metrics builds no pandas objects.
    - `metrics`: see metrics.py; floats, ints or None.
    - `extra`: `targets` and `position` (numpy arrays, one per bar), `strategy`,
      `params`, `settings`; with a loan or puts also `ltv` (Series) and
      `margin_call_days` (ISO dates); with puts `hedge_value`, `hedged_ltv` (Series),
      `puts` (list of dicts) and `hedged_margin_call_days`.
    """

    __slots__ = ("_curve", "_equity", "extra", "metrics", "trade_columns")

    def __init__(
        self,
        trade_columns: dict[str, np.ndarray],
        equity: pd.Series | EquityCurve,
        metrics: dict[str, Any],
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.trade_columns = trade_columns
        self.equity = equity
        self.metrics = metrics
        self.extra = {} if extra is None else extra

    @property
    def equity(self) -> pd.Series:
        if self._equity is None:
            self._equity, self._curve = self._curve.series(), None
        return self._equity

    @equity.setter
    def equity(self, value: pd.Series | EquityCurve) -> None:
        if isinstance(value, EquityCurve):
            self._equity, self._curve = None, value
        else:
            self._equity, self._curve = value, None

    def __repr__(self) -> str:
        return f"BacktestResult(metrics={self.metrics!r}, trades={len(self.trade_columns['pnl'])})"

    @property
    def trade_table(self) -> pd.DataFrame:
        """Return the trades as a frame (TRADE_COLUMNS; times as UTC datetimes)."""
        columns = dict(self.trade_columns)
        for name in ("entry_time", "exit_time"):
            columns[name] = utc_index(columns[name])
        return pd.DataFrame(columns, columns=list(TRADE_COLUMNS))

    @property
    def trades(self) -> list[dict[str, Any]]:
        records = self.trade_table[PUBLIC_TRADE_COLUMNS].to_dict("records")
        for record in records:
            record["open"] = bool(record["open"])
        return records

    def result_hash(self) -> str:
        """Return a sha256 over trades, equity and metrics rounded to HASH_DIGITS significant digits.

        The same data, strategy, params and settings give the same hash on every run.
        """
        digest = hashlib.sha256()
        trades = [{key: _rounded(value) for key, value in sorted(trade.items())} for trade in self.trades]
        metrics = {key: _rounded(value) for key, value in sorted(self.metrics.items())}
        digest.update(json.dumps({"trades": trades, "metrics": metrics}, sort_keys=True).encode())
        digest.update(_time_ns(self.equity.index).astype("<i8").tobytes())
        digest.update(",".join(format(value + 0.0, f".{HASH_DIGITS}g") for value in self.equity.tolist()).encode())
        return digest.hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: the `GET backtests/{id}` fields plus `extra` (arrays left out)."""
        extra: dict[str, Any] = {}
        for key, value in self.extra.items():
            if isinstance(value, np.ndarray):
                continue
            extra[key] = series_points(value) if isinstance(value, pd.Series) else _jsonable(value)
        return {
            "metrics": _jsonable(self.metrics),
            "equity": series_points(self.equity),
            "trades": _jsonable(self.trades),
            "result_hash": self.result_hash(),
            "extra": extra,
        }


def series_points(series: pd.Series) -> list[dict[str, Any]]:
    """Return [{t, value}] with ISO-8601 `Z` times; NaN becomes None."""
    times = pd.DatetimeIndex(series.index).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        {"t": t, "value": value if math.isfinite(value) else None}
        for t, value in zip(times, series.tolist(), strict=True)
    ]


def _time_ns(index: pd.Index) -> np.ndarray:
    return pd.DatetimeIndex(index).as_unit("ns").asi8


def _rounded(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.value
    if isinstance(value, float):
        return format(value + 0.0, f".{HASH_DIGITS}g")
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _put_records(puts: list[hedging.LivePut]) -> list[dict[str, Any]]:
    records = []
    for put in puts:
        record = put.record()
        for key in _PUT_TIME_KEYS:
            if record[key] is not None:
                record[key] = pd.Timestamp(record[key], unit="ns", tz="UTC")
        records.append(record)
    return records


def assemble(
    *,
    strategy: str,
    params: dict[str, Any],
    settings: BacktestSettings,
    timing: BarTiming,
    ts_ns: np.ndarray,
    close: np.ndarray,
    targets: np.ndarray,
    position: np.ndarray,
    equity: np.ndarray,
    book: Book,
    hedge_value: np.ndarray | None = None,
    puts: list[hedging.LivePut] | None = None,
    times: pd.Series | None = None,
    held_bars: int | None = None,
) -> BacktestResult:
    """Build the result both engines return from their per-bar arrays and book.

    `times`: the bar frame's `ts` column, when the run came from one (see `EquityCurve`).
    `held_bars`: how many bars hold a position, when the engine knows (else counted in `position`).
    """
    curve = EquityCurve(ts_ns, equity, times)
    trades = book.trade_columns(ts_ns, timing.bar_ns, close)
    elapsed = (int(ts_ns[-1]) - int(ts_ns[0]) + timing.bar_ns) / 1e9 if len(ts_ns) else 0.0
    metrics = compute_metrics(
        equity,
        initial_cash=settings.initial_cash,
        periods_per_year=timing.periods_per_year,
        elapsed_seconds=elapsed,
        trade_pnl=trades["pnl"],
        trade_open=trades["open"],
        position=position,
        fees=book.fees,
        held_bars=held_bars,
    )
    extra: dict[str, Any] = {
        "strategy": strategy,
        "params": dict(params),
        "settings": {name: getattr(settings, name) for name in _SETTINGS_FIELDS},  # asdict of numbers
        "targets": targets,
        "position": position,
    }
    equity_curve: pd.Series | EquityCurve = curve
    if settings.loan_amount > 0 or hedge_value is not None:
        index = curve.index()
        equity_curve = curve.series(index)
        ltv, hedged = hedging.loan_to_value(settings, position, close, hedge_value)
        calls = hedging.margin_call_days(settings, ts_ns, ltv)
        metrics.update(loan_metrics(ltv, calls))
        extra["ltv"] = pd.Series(ltv, index=index, name="ltv", copy=False)
        extra["margin_call_days"] = calls
        if hedged is not None and hedge_value is not None:
            puts = puts or []
            metrics["hedge_cost"] = sum(put.premium * put.quantity + put.fee for put in puts)
            metrics["hedge_payoff"] = sum(put.payoff for put in puts)
            extra["hedge_value"] = pd.Series(hedge_value, index=index, name="hedge_value", copy=False)
            extra["hedged_ltv"] = pd.Series(hedged, index=index, name="hedged_ltv", copy=False)
            extra["hedged_margin_call_days"] = hedging.margin_call_days(settings, ts_ns, hedged)
            extra["puts"] = _put_records(puts)
    return BacktestResult(
        trade_columns=trades,
        equity=equity_curve,
        metrics=metrics,
        extra=extra,
    )
