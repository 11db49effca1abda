"""An objective summary of a bar series: returns, trend, volatility, drawdowns, indicators, patterns.

Everything is a number or the outcome of a written rule; nothing is advice. The
input is a normalized bar frame (`ts` = bar OPEN time, UTC; open, high, low, close,
volume; optional vwap), sorted by `ts`, holding only bars known at `as_of`. Every
time in the answer is a bar's open time (its label), ISO-8601 with `Z`. A value
that cannot be computed (too few bars, a division by zero) is None. The answer is
a plain JSON-able dict and the same input always gives the same answer.

Definitions (n bars, closes c_0..c_{n-1}, log returns r_i = ln(c_i / c_{i-1})):

- returns: total = c_{n-1} / c_0 - 1 (close to close, the span the log returns
  cover). annualized = (1 + total) ** (365.25 days / span) - 1, span = the time
  from the first bar to the last, given only when that span is 365 days or more:
  shorter periods are not annualized (the GIPS rule). Calendar time, not bar
  counts: extended-hours or gappy bars would distort a count.
- trend: ordinary least squares of ln(c_i) on the bar number i. slope_per_bar,
  slope_annualized = slope x P, fitted_change = exp(slope x (n - 1)) - 1, t_stat =
  slope / its standard error (n - 2 degrees of freedom), r_squared. direction is
  "up" when t_stat >= min_t and r_squared >= min_r2, "down" when t_stat <= -min_t
  and r_squared >= min_r2, otherwise "sideways" (a flat series is sideways);
  None with fewer than 3 bars. sma_fast / sma_slow: the close against the SMAs of
  the cross pair at the last bar.
- volatility: per_bar = sample std (ddof=1) of the log returns, annualized =
  per_bar x sqrt(P); atr = ATR(atr_length) at the last bar (Wilder), atr_pct =
  atr / last close; range = highest high and lowest low with their bar times
  (ties: the earliest bar).
- drawdowns: on closes. The running peak is the highest close so far; a drawdown
  is a run of bars closing below it. peak_at is the last bar at the peak before
  the run, trough_at the lowest close of the run (the first one on ties), depth
  = 1 - trough / peak, recovered_at the first bar closing at or above the peak
  again (None while the drawdown lasts; depth None when the peak is <= 0, and above
  1 only when prices turn negative). max = the deepest (ties: the earliest),
  top = the `drawdowns_top` deepest, deepest first; current = 1 - c_{n-1} / peak.
- volume: total and mean per bar; for intraday bars also the mean regular-session
  volume of the last `volume_days` full sessions and the volume of the session
  of `as_of`, from `marketdata.core.analytics` (regular-session bars only).
- indicators: the value of every requested indicator at the last bar with a
  state. sma/ema/vwap: close "above" / "below" / "at" the value, distance = close /
  value - 1. rsi: "overbought" above 70, "oversold" below 30, else "neutral".
  macd: line "above_signal" / "below_signal" / "at_signal". bbands: close
  "above_upper" (> upper), "below_lower" (< lower), else "inside"; percent_b =
  (close - lower) / (upper - lower), bandwidth = (upper - lower) / middle. atr:
  pct = atr / close. A value None (too few bars) has state None.
- patterns (each: `count` and the last `max_events` events, oldest first):
  - golden_cross / death_cross: SMA(cross_fast) against SMA(cross_slow). The sign
    of fast - slow is taken at every bar where both exist, an exact tie keeping
    the previous sign; a golden cross is a bar where the sign turns from - to +,
    a death cross from + to -. The first bar with both SMAs is never a cross.
  - new_high / new_low: high_i > the highest high of the `breakout_bars` bars
    before it (low_i < the lowest low), from bar number `breakout_bars` on.
  - gap_up / gap_down: at the first bar of a session (the session changes from
    the previous bar), open > the previous bar's high (gap up) or open < its low
    (gap down), with |open / previous close - 1| >= gap_min. size = open /
    previous close - 1; filled_at = the first bar of the same session trading
    back to the previous close (low <= it for a gap up, high >= it for a gap
    down), None if none did.
  - inside_bar: high < previous high and low > previous low; outside_bar: high >
    previous high and low < previous low (strict; across sessions too).
  `last_bar` says which of these the last bar is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from marketdata.core import analytics
from marketdata.core.calendar import TradingCalendar
from marketdata.core.indicators import (
    IndicatorSpec,
    atr,
    compute_indicators,
    parse_indicator_spec,
    session_ids_from_schedule,
    sma,
)
from marketdata.core.intervals import Interval

# Part of every cache key: raise it whenever a definition above changes.
REPORT_VERSION = 1
DEFAULT_INDICATORS = "sma:20,sma:50,ema:20,rsi:14,macd:12:26:9,bbands:20:2,atr:14"
RSI_OVERBOUGHT = 70.0
RSI_OVERSOLD = 30.0


class ReportError(ValueError):
    """A report parameter a user can fix; `field` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class ReportParams:
    """What a report computes beyond the bars; every field is a documented knob."""

    indicators: tuple[IndicatorSpec, ...] = field(
        default_factory=lambda: tuple(parse_indicator_spec(DEFAULT_INDICATORS))
    )
    cross_fast: int = 50
    cross_slow: int = 200
    breakout_bars: int = 20
    gap_min: float = 0.0
    trend_min_t: float = 2.0
    trend_min_r2: float = 0.5
    atr_length: int = 14
    drawdowns_top: int = 5
    max_events: int = 20
    volume_days: int = 20

    def __post_init__(self) -> None:
        if self.cross_fast >= self.cross_slow:
            raise ReportError("cross_fast", f"must be shorter than cross_slow ({self.cross_slow})")
        for name in ("cross_fast", "cross_slow", "breakout_bars", "atr_length", "drawdowns_top", "volume_days"):
            if getattr(self, name) < 1:
                raise ReportError(name, "must be at least 1")
        if self.max_events < 0:
            raise ReportError("max_events", "must be at least 0")
        for name in ("gap_min", "trend_min_t", "trend_min_r2"):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) < 0:
                raise ReportError(name, "must be a finite number >= 0")

    @classmethod
    def from_text(cls, *, indicators: str | None = None, **knobs: Any) -> ReportParams:
        """Build parameters from the indicator string (default `DEFAULT_INDICATORS`) and knobs."""
        try:
            specs = parse_indicator_spec(DEFAULT_INDICATORS if indicators is None else indicators)
        except ValueError as exc:
            raise ReportError("indicators", str(exc)) from None
        return cls(indicators=tuple(specs), **knobs)

    def canonical(self) -> dict[str, Any]:
        """Return the parameters as plain JSON values in a fixed form (equal parameters, equal dicts)."""
        values = asdict(self)
        # Order and spelling do not change a report: "RSI:14, sma:20" is "rsi:14,sma:20".
        values["indicators"] = ",".join(sorted(_spec_name(spec).replace("_", ":") for spec in self.indicators))
        return values


# --------------------------------------------------------------------- helpers


def _num(value: float | np.floating | None) -> float | None:
    """Return a finite float, or None for NaN, infinities and None."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _time(ns: int | np.integer) -> str:
    return pd.Timestamp(int(ns), tz="UTC").isoformat().replace("+00:00", "Z")


def _spec_name(spec: IndicatorSpec) -> str:
    return f"{spec.name}{spec.suffix}"


def _ratio(numerator: float, denominator: float) -> float | None:
    if not (math.isfinite(numerator) and math.isfinite(denominator)) or denominator == 0:
        return None
    return _num(numerator / denominator)


def _side(value: float, level: float, words: tuple[str, str, str] = ("above", "below", "at")) -> str | None:
    """Say where `value` lies against `level`; None when either is missing."""
    if not (math.isfinite(value) and math.isfinite(level)):
        return None
    return words[0] if value > level else words[1] if value < level else words[2]


def session_ids(ts_ns: np.ndarray, calendar: TradingCalendar) -> np.ndarray:
    """Return per bar an id that changes at every session open of `calendar` (see `session_ids_from_schedule`)."""
    if len(ts_ns) == 0:
        return np.empty(0, dtype=np.int64)
    first = calendar.local_date(pd.Timestamp(int(ts_ns[0]), tz="UTC")) - dt.timedelta(days=1)
    last = calendar.local_date(pd.Timestamp(int(ts_ns[-1]), tz="UTC")) + dt.timedelta(days=1)
    frame = pd.DataFrame({"ts": pd.DatetimeIndex(ts_ns.view("datetime64[ns]")).tz_localize("UTC")})
    return session_ids_from_schedule(frame, calendar.schedule(first, last)).astype(np.int64)


def _events(positions: np.ndarray, build: Any, limit: int) -> dict[str, Any]:
    """Return `{count, events}`: the last `limit` events (oldest first) built by `build(position)`."""
    chosen = positions[max(0, len(positions) - limit) :] if limit else positions[:0]
    return {"count": int(len(positions)), "events": [build(int(i)) for i in chosen]}


# ------------------------------------------------------------------- sections


SECONDS_PER_YEAR = 365.25 * 86_400


def _returns(close: np.ndarray, ts: np.ndarray) -> dict[str, Any]:
    n = len(close)
    total = close[-1] / close[0] - 1.0 if close[0] > 0 else math.nan
    span_s = (int(ts[-1]) - int(ts[0])) / 1e9 if n > 1 else 0.0  # first close to last close
    annualized = None
    if span_s >= 365 * 86_400 and total > -1.0:
        annualized = _num(_power(1.0 + total, SECONDS_PER_YEAR / span_s) - 1.0)
    return {
        "first_close": _num(close[0]),
        "last_close": _num(close[-1]),
        "total": _num(total) if n > 1 else None,
        "annualized": annualized,
    }


def _power(base: float, exponent: float) -> float:
    """Return base ** exponent, inf where a float cannot hold it."""
    try:
        return base**exponent
    except OverflowError:
        return math.inf


def _log_returns(close: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.diff(np.log(close))


def _trend(
    close: np.ndarray, params: ReportParams, periods_per_year: float, fast: float, slow: float
) -> dict[str, Any]:
    n = len(close)
    last = float(close[-1])
    levels = {
        "sma_fast": {"length": params.cross_fast, "value": _num(fast), "state": _side(last, fast)},
        "sma_slow": {"length": params.cross_slow, "value": _num(slow), "state": _side(last, slow)},
        "fast_vs_slow": _side(fast, slow),
    }
    empty = {"slope_per_bar": None, "slope_annualized": None, "fitted_change": None, "t_stat": None,
             "r_squared": None, "direction": None}  # fmt: skip
    if n < 3 or not (close > 0).all():
        return {**empty, **levels}
    y = np.log(close)
    x = np.arange(n, dtype=np.float64)
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy = float(dx @ dx), float(dy @ dy)
    slope = float(dx @ dy) / sxx
    residuals = dy - slope * dx
    sse = float(residuals @ residuals)
    stderr = math.sqrt(sse / (n - 2) / sxx)
    # A perfect fit has no error: its t is infinite (reported as None, but still a direction).
    t_stat = slope / stderr if stderr > 0 else (math.copysign(math.inf, slope) if slope else math.nan)
    r_squared = 1.0 - sse / syy if syy > 0 else math.nan
    strong = math.isfinite(r_squared) and r_squared >= params.trend_min_r2
    if strong and t_stat >= params.trend_min_t:
        direction = "up"
    elif strong and t_stat <= -params.trend_min_t:
        direction = "down"
    else:
        direction = "sideways"
    return {
        "slope_per_bar": _num(slope),
        "slope_annualized": _num(slope * periods_per_year),
        "fitted_change": _num(np.expm1(slope * (n - 1))),
        "t_stat": _num(t_stat),
        "r_squared": _num(r_squared),
        "direction": direction,
        **levels,
    }


def _volatility(bars: pd.DataFrame, ts: np.ndarray, params: ReportParams, periods_per_year: float) -> dict[str, Any]:
    high, low, close = (bars[name].to_numpy(np.float64) for name in ("high", "low", "close"))
    returns = _log_returns(close)
    per_bar = float(np.std(returns, ddof=1)) if len(returns) > 1 else math.nan
    last_atr = float(atr(high, low, close, params.atr_length)[-1])
    top, bottom = int(np.argmax(high)), int(np.argmin(low))
    return {
        "per_bar": _num(per_bar),
        "annualized": _num(per_bar * math.sqrt(periods_per_year)),
        "atr": _num(last_atr),
        "atr_length": params.atr_length,
        "atr_pct": _ratio(last_atr, float(close[-1])),
        "range": {
            "high": _num(high[top]),
            "high_at": _time(ts[top]),
            "low": _num(low[bottom]),
            "low_at": _time(ts[bottom]),
        },  # fmt: skip
    }


def _drawdowns(close: np.ndarray, ts: np.ndarray, top: int) -> dict[str, Any]:
    peak = np.maximum.accumulate(close)
    under = close < peak
    # Runs of bars below the running peak: starts where `under` turns on, ends where it turns off.
    edges = np.diff(np.concatenate(([0], under.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    peaks = starts - 1  # a run never starts at bar 0: the first close is its own peak
    if len(starts):
        # The lowest close of each run (the first on ties): one reduceat, then the first bar at that low.
        in_runs = np.flatnonzero(under)
        run_of_bar = np.searchsorted(starts, in_runs, side="right") - 1
        lows = np.minimum.reduceat(close[in_runs], np.searchsorted(in_runs, starts))
        at_low = close[in_runs] == lows[run_of_bar]
        troughs = in_runs[at_low][np.unique(run_of_bar[at_low], return_index=True)[1]]
    else:
        troughs = starts
    with np.errstate(divide="ignore", invalid="ignore"):
        # A fall from a peak at or below zero is no fraction of it.
        depths = np.where(close[peaks] > 0, 1.0 - close[troughs] / close[peaks], np.nan)
    # Deepest first, the earliest on ties; a depth that is no number ranks as 0.
    ranked = np.argsort(-np.nan_to_num(depths, nan=0.0), kind="stable")

    def episode(index: int) -> dict[str, Any]:
        peak_bar, trough, stop = int(peaks[index]), int(troughs[index]), int(stops[index])
        recovered = stop < len(close)
        return {
            "depth": _num(depths[index]),
            "peak_at": _time(ts[peak_bar]),
            "peak": _num(close[peak_bar]),
            "trough_at": _time(ts[trough]),
            "trough": _num(close[trough]),
            "recovered_at": _time(ts[stop]) if recovered else None,
            "bars_to_trough": trough - peak_bar,
            "bars_to_recovery": stop - peak_bar if recovered else None,
        }

    listed = [episode(int(index)) for index in ranked[:top]]
    return {
        "max": (listed[0]["depth"] or 0.0) if listed else 0.0,
        "current": _ratio(peak[-1] - close[-1], peak[-1]) if peak[-1] > 0 else None,
        "count": len(starts),
        "top": listed,
    }


def _volume(
    bars: pd.DataFrame, calendar: TradingCalendar, interval: Interval, as_of: pd.Timestamp, days: int
) -> dict[str, Any]:
    volume = bars["volume"].to_numpy(np.float64)
    answer: dict[str, Any] = {"total": _num(volume.sum()), "mean_per_bar": _num(volume.mean())}
    if interval.is_daily:
        return {**answer, "average_session": None, "last_session": None}
    average = analytics.average_volume(bars, calendar, as_of, days, interval_s=interval.seconds)
    session = analytics.session_volume(bars, calendar, as_of, interval_s=interval.seconds)
    answer["average_session"] = {
        "value": _num(average["value"]),
        "days": average["days"],
        "missing_days": average["missing_days"],
        "from": average["from"].isoformat() if average["from"] else None,
        "to": average["to"].isoformat() if average["to"] else None,
    }
    answer["last_session"] = {
        "value": _num(session["value"]),
        "bars": session["bars"],
        "date": session["date"].isoformat() if session["date"] else None,
    }
    return answer


def _reading(spec: IndicatorSpec, values: pd.DataFrame, close: float) -> dict[str, Any]:
    last = {name: float(values[name].iloc[-1]) for name in spec.columns}
    if spec.name == "macd":
        line, signal, histogram = last.values()
        state = _side(line, signal, ("above_signal", "below_signal", "at_signal"))
        return {"value": _num(line), "signal": _num(signal), "histogram": _num(histogram), "state": state}
    if spec.name == "bbands":
        middle, upper, lower = last.values()
        inside = _side(close, upper, ("above_upper", "inside", "inside"))
        if inside == "inside":
            inside = _side(close, lower, ("inside", "below_lower", "inside"))
        return {
            "middle": _num(middle),
            "upper": _num(upper),
            "lower": _num(lower),
            "percent_b": _ratio(close - lower, upper - lower),
            "bandwidth": _ratio(upper - lower, middle),
            "state": inside,
        }
    (value,) = last.values()
    if spec.name == "rsi":
        state = None
        if math.isfinite(value):
            state = "overbought" if value > RSI_OVERBOUGHT else "oversold" if value < RSI_OVERSOLD else "neutral"
        return {"value": _num(value), "state": state}
    if spec.name == "atr":
        return {"value": _num(value), "pct": _ratio(value, close)}
    return {"value": _num(value), "distance": _ratio(close - value, value), "state": _side(close, value)}


def _indicators(
    bars: pd.DataFrame, ts: np.ndarray, specs: tuple[IndicatorSpec, ...], sessions: np.ndarray
) -> dict[str, Any]:
    values = compute_indicators(bars, specs, session_ids=sessions)
    close = float(bars["close"].iloc[-1])
    readings = {_spec_name(spec): _reading(spec, values, close) for spec in specs}
    return {"at": _time(ts[-1]), "close": _num(close), "values": readings}


def _crosses(
    fast: np.ndarray, slow: np.ndarray, ts: np.ndarray, close: np.ndarray, limit: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    sign = np.sign(fast - slow)  # NaN while either SMA is missing
    carried = pd.Series(np.where(sign == 0, np.nan, sign)).ffill().to_numpy(copy=True)
    carried[np.isnan(sign)] = np.nan
    before = np.concatenate(([np.nan], carried[:-1]))

    def event(i: int) -> dict[str, Any]:
        return {"at": _time(ts[i]), "fast": _num(fast[i]), "slow": _num(slow[i]), "close": _num(close[i])}

    golden = np.flatnonzero((before == -1) & (carried == 1))
    death = np.flatnonzero((before == 1) & (carried == -1))
    return _events(golden, event, limit), _events(death, event, limit)


def _breakouts(
    high: np.ndarray, low: np.ndarray, ts: np.ndarray, lookback: int, limit: int
) -> tuple[dict[str, Any], dict[str, Any], np.ndarray, np.ndarray]:
    prior_high = pd.Series(high).rolling(lookback, min_periods=lookback).max().shift(1).to_numpy()
    prior_low = pd.Series(low).rolling(lookback, min_periods=lookback).min().shift(1).to_numpy()
    enough = np.arange(len(high)) >= lookback
    is_high = enough & (high > prior_high)
    is_low = enough & (low < prior_low)

    def event(values: np.ndarray, prior: np.ndarray) -> Any:
        return lambda i: {"at": _time(ts[i]), "price": _num(values[i]), "previous": _num(prior[i])}

    return (
        _events(np.flatnonzero(is_high), event(high, prior_high), limit),
        _events(np.flatnonzero(is_low), event(low, prior_low), limit),
        is_high,
        is_low,
    )


def _gaps(
    bars: pd.DataFrame, ts: np.ndarray, sessions: np.ndarray, gap_min: float, limit: int
) -> tuple[dict[str, Any], dict[str, Any], np.ndarray, np.ndarray]:
    open_, high, low, close = (bars[name].to_numpy(np.float64) for name in ("open", "high", "low", "close"))
    first = np.flatnonzero(sessions[1:] != sessions[:-1]) + 1
    previous = first - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        size = open_[first] / close[previous] - 1.0
    big = np.abs(size) >= gap_min
    up = first[big & (open_[first] > high[previous])]
    down = first[big & (open_[first] < low[previous])]
    session_end = np.searchsorted(sessions, sessions, side="right")  # sessions ids never decrease

    def event(direction: int) -> Any:
        def build(i: int) -> dict[str, Any]:
            level = close[i - 1]
            stop = int(session_end[i])
            touched = low[i:stop] <= level if direction > 0 else high[i:stop] >= level
            filled = np.flatnonzero(touched)
            return {
                "at": _time(ts[i]),
                "open": _num(open_[i]),
                "previous_close": _num(level),
                "size": _num(open_[i] / level - 1.0),
                "filled_at": _time(ts[i + int(filled[0])]) if len(filled) else None,
            }

        return build

    return _events(up, event(1), limit), _events(down, event(-1), limit), up, down


def _patterns(
    bars: pd.DataFrame,
    ts: np.ndarray,
    sessions: np.ndarray,
    params: ReportParams,
    fast: np.ndarray,
    slow: np.ndarray,
) -> dict[str, Any]:
    high, low, close = (bars[name].to_numpy(np.float64) for name in ("high", "low", "close"))
    limit = params.max_events
    golden, death = _crosses(fast, slow, ts, close, limit)
    new_high, new_low, is_high, is_low = _breakouts(high, low, ts, params.breakout_bars, limit)
    gap_up, gap_down, up, down = _gaps(bars, ts, sessions, params.gap_min, limit)
    inside = np.zeros(len(high), dtype=bool)
    outside = np.zeros(len(high), dtype=bool)
    inside[1:] = (high[1:] < high[:-1]) & (low[1:] > low[:-1])
    outside[1:] = (high[1:] > high[:-1]) & (low[1:] < low[:-1])

    def bar(i: int) -> dict[str, Any]:
        return {"at": _time(ts[i]), "high": _num(high[i]), "low": _num(low[i])}

    last = len(high) - 1
    return {
        "golden_cross": golden,
        "death_cross": death,
        "new_high": new_high,
        "new_low": new_low,
        "gap_up": gap_up,
        "gap_down": gap_down,
        "inside_bar": _events(np.flatnonzero(inside), bar, limit),
        "outside_bar": _events(np.flatnonzero(outside), bar, limit),
        "last_bar": {
            "new_high": bool(is_high[last]),
            "new_low": bool(is_low[last]),
            "inside_bar": bool(inside[last]),
            "outside_bar": bool(outside[last]),
            "gap_up": bool(len(up) and up[-1] == last),
            "gap_down": bool(len(down) and down[-1] == last),
        },
    }


# ------------------------------------------------------------------------ entry


def build_report(
    bars: pd.DataFrame,
    params: ReportParams,
    *,
    calendar: TradingCalendar,
    interval: Interval,
    periods_per_year: float,
    as_of: pd.Timestamp | None = None,
) -> dict[str, Any]:
    """Summarize `bars` (normalized, sorted, known at `as_of`) as described in the module docstring.

    `calendar` decides where sessions start (gaps, VWAP, session volume), `interval`
    is the bars' interval and `periods_per_year` the number of such bars in a year.
    `as_of` defaults to the last bar's open + interval. Raises `ReportError` without bars.
    """
    if len(bars) == 0:
        raise ReportError("bars", "no bars to summarize")
    if not periods_per_year > 0:
        raise ValueError(f"periods_per_year must be positive, got {periods_per_year}")
    ts = pd.DatetimeIndex(bars["ts"]).tz_convert("UTC").as_unit("ns").asi8
    if len(ts) > 1 and not (ts[1:] > ts[:-1]).all():
        raise ValueError("bars must be sorted by ts without repeats")
    bars = bars.reset_index(drop=True)
    stamp = as_of if as_of is not None else pd.Timestamp(int(ts[-1]), tz="UTC") + interval.timedelta
    close = bars["close"].to_numpy(np.float64)
    sessions = session_ids(ts, calendar)
    fast, slow = sma(close, params.cross_fast), sma(close, params.cross_slow)
    # Overflow and division by zero (prices at or below zero, extreme ranges) give non-finite values,
    # which the answer reports as None.
    with np.errstate(all="ignore"):
        return _sections(bars, ts, sessions, stamp, params, calendar, interval, periods_per_year, fast, slow)


def _sections(
    bars: pd.DataFrame,
    ts: np.ndarray,
    sessions: np.ndarray,
    stamp: pd.Timestamp,
    params: ReportParams,
    calendar: TradingCalendar,
    interval: Interval,
    periods_per_year: float,
    fast: np.ndarray,
    slow: np.ndarray,
) -> dict[str, Any]:
    close = bars["close"].to_numpy(np.float64)
    return {
        "period": {
            "first": _time(ts[0]),
            "last": _time(ts[-1]),
            "as_of": _time(stamp.value),
            "bars": len(bars),
            "sessions": int(len(np.unique(sessions))),
            "interval": str(interval),
            "periods_per_year": _num(periods_per_year),
        },
        "returns": _returns(close, ts),
        "trend": _trend(close, params, periods_per_year, float(fast[-1]), float(slow[-1])),
        "volatility": _volatility(bars, ts, params, periods_per_year),
        "drawdowns": _drawdowns(close, ts, params.drawdowns_top),
        "volume": _volume(bars, calendar, interval, stamp, params.volume_days),
        "indicators": _indicators(bars, ts, params.indicators, sessions),
        "patterns": _patterns(bars, ts, sessions, params, fast, slow),
    }


def report_key(
    bars: pd.DataFrame,
    params: ReportParams,
    *,
    calendar: str,
    interval: Interval,
    periods_per_year: float,
    as_of: pd.Timestamp,
) -> str:
    """Return the sha256 (hex) of the canonical bars and the canonical parameters: the report's cache key.

    The bars enter as little-endian int64 open times (ns) and float64 open, high,
    low, close, volume and vwap (every NaN the same bytes); the parameters as
    sorted, compact JSON with the calendar, interval, bars a year, `as_of` and
    `REPORT_VERSION`. Columns the report does not read (trade_count) stay out.
    """
    setup = {
        **params.canonical(),
        "version": REPORT_VERSION,
        "calendar": calendar,
        "interval": str(interval),
        "periods_per_year": float(periods_per_year),
        "as_of": int(as_of.value),
    }
    digest = hashlib.sha256(json.dumps(setup, sort_keys=True, separators=(",", ":")).encode())
    ts = pd.DatetimeIndex(bars["ts"]).tz_convert("UTC").as_unit("ns").asi8
    digest.update(ts.astype("<i8").tobytes())
    for name in ("open", "high", "low", "close", "volume", "vwap"):
        values = bars[name].to_numpy(np.float64) if name in bars.columns else np.full(len(bars), np.nan)
        digest.update(np.where(np.isnan(values), np.nan, values).astype("<f8").tobytes())
    return digest.hexdigest()


def infer_interval_seconds(ts_ns: np.ndarray) -> int | None:
    """Return the most common spacing between consecutive bars in whole seconds (ties: the shortest).

    None when there is no spacing to measure (fewer than two bars) or it is not a
    whole number of seconds.
    """
    spacing = np.diff(np.asarray(ts_ns, dtype=np.int64))
    spacing = spacing[spacing > 0]
    if len(spacing) == 0:
        return None
    values, counts = np.unique(spacing, return_counts=True)
    common = int(values[int(np.argmax(counts))])  # np.unique sorts: argmax picks the shortest on ties
    if common % 1_000_000_000:
        return None
    return common // 1_000_000_000
