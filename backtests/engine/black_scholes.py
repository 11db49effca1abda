"""Black-Scholes prices and deltas of European options on a non-dividend-paying asset.

`spot` S, `strike` K, `years` T to expiry, continuously compounded `rate` r and
`volatility` sigma (annual). At or after expiry (T <= 0) an option is worth its
intrinsic value; with zero volatility it is worth its discounted forward intrinsic
value, and so it is wherever d1 is not a number: a volatility too small to register
over T, a spot or strike at or below 0 (a spot at 0 stays there under the model; some
futures trade below 0), or a spot too small against the strike for their ratio to be
a float. Scalar functions use `math` (the event engine prices one bar at a time);
`put_prices` prices many at once for the vectorized engine.
"""

from __future__ import annotations

import math

import numpy as np

SECONDS_PER_YEAR = 365 * 86_400  # option time runs on calendar days


def norm_cdf(x: float) -> float:
    """Standard normal cumulative distribution, accurate in the tails (erfc)."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


_erfc = np.frompyfunc(math.erfc, 1, 1)


def _norm_cdf_array(x: np.ndarray) -> np.ndarray:
    return 0.5 * _erfc(-x / math.sqrt(2.0)).astype(np.float64)


def d1_d2(spot: float, strike: float, years: float, rate: float, volatility: float) -> tuple[float, float]:
    """Return (d1, d2) for T > 0 and sigma > 0."""
    root = volatility * math.sqrt(years)
    d1 = (math.log(spot / strike) + (rate + 0.5 * volatility * volatility) * years) / root
    return d1, d1 - root


def _without_d1(spot: float, strike: float, years: float, volatility: float) -> bool:
    """Return whether d1 is not a number for T > 0 (see the module docstring)."""
    return volatility <= 0.0 or volatility * math.sqrt(years) == 0.0 or not strike > 0.0 or not spot / strike > 0.0


def _price(sign: float, spot: float, strike: float, years: float, rate: float, volatility: float) -> float:
    """Price a call (sign +1) or a put (sign -1)."""
    if years <= 0.0:
        return max(sign * (spot - strike), 0.0)
    discounted = strike * math.exp(-rate * years)
    if _without_d1(spot, strike, years, volatility):
        return max(sign * (spot - discounted), 0.0)
    d1, d2 = d1_d2(spot, strike, years, rate, volatility)
    return sign * (spot * norm_cdf(sign * d1) - discounted * norm_cdf(sign * d2))


def call_price(spot: float, strike: float, years: float, rate: float, volatility: float) -> float:
    """Price of a European call."""
    return _price(1.0, spot, strike, years, rate, volatility)


def put_price(spot: float, strike: float, years: float, rate: float, volatility: float) -> float:
    """Price of a European put."""
    return _price(-1.0, spot, strike, years, rate, volatility)


def call_delta(spot: float, strike: float, years: float, rate: float, volatility: float) -> float:
    """dC/dS: N(d1); at expiry or zero volatility, 1 in the money and 0 out of it."""
    if years <= 0.0 or _without_d1(spot, strike, years, volatility):
        forward_strike = strike * math.exp(-rate * max(years, 0.0))
        return 1.0 if spot > forward_strike else 0.0
    return norm_cdf(d1_d2(spot, strike, years, rate, volatility)[0])


def put_delta(spot: float, strike: float, years: float, rate: float, volatility: float) -> float:
    """dP/dS: N(d1) - 1 (put-call parity)."""
    return call_delta(spot, strike, years, rate, volatility) - 1.0


def put_prices(spot: np.ndarray, strike: float, years: np.ndarray, rate: float, volatility: float) -> np.ndarray:
    """Vectorized `put_price` over arrays of spots and times to expiry."""
    spot = np.asarray(spot, dtype=np.float64)
    years = np.asarray(years, dtype=np.float64)
    intrinsic = np.maximum(strike - spot, 0.0)
    live = years > 0.0
    if not live.any():
        return intrinsic
    s, t = spot[live], years[live]
    discounted = strike * np.exp(-rate * t)
    if volatility <= 0.0 or not strike > 0.0:
        value = np.maximum(discounted - s, 0.0)
    else:
        root = volatility * np.sqrt(t)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            moneyness = s / strike
            d1 = (np.log(moneyness) + (rate + 0.5 * volatility * volatility) * t) / root
        d2 = d1 - root
        value = discounted * _norm_cdf_array(-d2) - s * _norm_cdf_array(-d1)
        without_d1 = ~(moneyness > 0.0) | (root == 0.0)  # as `_without_d1`, per element
        if without_d1.any():
            value[without_d1] = np.maximum(discounted[without_d1] - s[without_d1], 0.0)
    out = intrinsic.copy()
    out[live] = value
    return out
