"""Parameter schemas, their validation, and the settings every backtest runs with.

A schema is a JSON-schema-like dict of properties, one per parameter:
`{"type": "integer"|"number", "minimum", "maximum", "exclusiveMinimum",
"exclusiveMaximum", "default", "description"}`. Validation fills defaults, accepts
an integral float for an integer (JSON clients send `10.0`), and refuses booleans,
strings, non-finite numbers, unknown names and out-of-range values with a
`ParamError` naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from numbers import Integral, Real
from typing import Any

Schema = dict[str, dict[str, Any]]

MINUTE_XNYS_PERIODS_PER_YEAR = 252 * 390


class ParamError(ValueError):
    """A parameter or setting is wrong; `field` names it, `message` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def as_dict(self) -> dict[str, str]:
        """Return `{field, message}`, the shape the API puts in `details`."""
        return {"field": self.field, "message": self.message}


class BarDataError(ParamError):
    """The bars cannot be traded as they are (a fill or a put at a price of 0 or below).

    `field` names what the user can change: the symbol's bars, or a setting that needs
    other bars.
    """


def validate_against(schema: Schema, values: Mapping[str, Any] | None, *, what: str = "params") -> dict[str, Any]:
    """Return `values` checked against `schema`, with defaults filled in."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ParamError(what, f"must be an object, got {type(values).__name__}")
    unknown = sorted(str(name) for name in values if name not in schema)
    if unknown:
        expected = ", ".join(schema) or "none"
        raise ParamError(unknown[0], f"unknown parameter; expected one of: {expected}")
    return {name: _check_value(name, spec, values.get(name, spec["default"])) for name, spec in schema.items()}


def _check_value(name: str, spec: Mapping[str, Any], value: Any) -> int | float:
    kind = spec["type"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParamError(name, f"must be {_article(kind)}, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ParamError(name, f"must be a finite number, got {value!r}")
    if kind == "integer":
        if isinstance(value, float) and not value.is_integer():
            raise ParamError(name, f"must be an integer, got {value!r}")
        value = int(value)
    else:
        value = float(value)
    if "minimum" in spec and value < spec["minimum"]:
        raise ParamError(name, f"must be >= {spec['minimum']}, got {value!r}")
    if "exclusiveMinimum" in spec and value <= spec["exclusiveMinimum"]:
        raise ParamError(name, f"must be > {spec['exclusiveMinimum']}, got {value!r}")
    if "maximum" in spec and value > spec["maximum"]:
        raise ParamError(name, f"must be <= {spec['maximum']}, got {value!r}")
    if "exclusiveMaximum" in spec and value >= spec["exclusiveMaximum"]:
        raise ParamError(name, f"must be < {spec['exclusiveMaximum']}, got {value!r}")
    return value


def _article(kind: str) -> str:
    return "an integer" if kind == "integer" else "a number"


def object_schema(properties: Schema) -> dict[str, Any]:
    """Wrap properties in a JSON-schema object (what `GET strategies` shows)."""
    return {"type": "object", "properties": properties, "additionalProperties": False}


# --------------------------------------------------------------------- settings

SETTINGS_SCHEMA: Schema = {
    "initial_cash": {
        "type": "number",
        "exclusiveMinimum": 0,
        "default": 10_000.0,
        "description": "Cash at the start; returns are measured against it.",
    },
    "units": {
        "type": "number",
        "minimum": 0,
        "default": 0.0,
        "description": "Units held while a strategy is in the market (fractions allowed); "
        "0 = all-in: as many WHOLE units as the cash buys at the fill, fee included.",
    },
    "start_price": {
        "type": "number",
        "minimum": 0,
        "default": 0.0,
        "description": "Rescale prices so the first close equals this; 0 = keep prices (first close).",
    },
    "loan_amount": {
        "type": "number",
        "minimum": 0,
        "default": 0.0,
        "description": "Loan secured by the position, for loan-to-value tracking (does not change cash).",
    },
    "margin_call_ltv": {
        "type": "number",
        "minimum": 0,
        "default": 0.0,
        "description": "A bar whose loan-to-value exceeds this marks its day as a margin-call day; 0 = off.",
    },
    "fee": {
        "type": "number",
        "minimum": 0,
        "exclusiveMaximum": 1,
        "default": 0.0,
        "description": "Fee per fill as a fraction of notional (0.001 = 0.1%).",
    },
    "slippage": {
        "type": "number",
        "minimum": 0,
        "exclusiveMaximum": 10_000,
        "default": 0.0,
        "description": "Slippage in basis points: buys fill at open x (1 + bps/1e4), sells at open x (1 - bps/1e4).",
    },
}


@dataclass(frozen=True, slots=True)
class BacktestSettings:
    """What a user sets for a run (see SETTINGS_SCHEMA for meanings and limits)."""

    initial_cash: float = 10_000.0
    units: float = 0.0
    start_price: float = 0.0
    loan_amount: float = 0.0
    margin_call_ltv: float = 0.0
    fee: float = 0.0
    slippage: float = 0.0

    def __post_init__(self) -> None:
        validate_against(SETTINGS_SCHEMA, asdict(self), what="settings")

    @property
    def all_in(self) -> bool:
        return self.units == 0


def validate_settings(values: Mapping[str, Any] | None) -> BacktestSettings:
    """Return settings from a mapping holding only settings fields; raise `ParamError` naming the field."""
    return BacktestSettings(**validate_against(SETTINGS_SCHEMA, values, what="settings"))


def settings_from(values: Mapping[str, Any]) -> BacktestSettings:
    """Return settings from a mapping that may hold other fields too (a saved settings row)."""
    names = {item.name for item in fields(BacktestSettings)}
    return validate_settings({name: value for name, value in values.items() if name in names})


@dataclass(frozen=True, slots=True)
class BarTiming:
    """What the engine must know about the bars: their length and how many make a year.

    `bar_seconds` places each bar's close (t + bar_seconds) for option time to expiry;
    `periods_per_year` annualises Sharpe and Sortino (see `metrics.periods_per_year`).
    """

    bar_seconds: int = 60
    periods_per_year: float = MINUTE_XNYS_PERIODS_PER_YEAR

    def __post_init__(self) -> None:
        if isinstance(self.bar_seconds, bool) or not isinstance(self.bar_seconds, Integral) or self.bar_seconds < 1:
            raise ParamError("bar_seconds", f"must be a positive integer, got {self.bar_seconds!r}")
        if isinstance(self.periods_per_year, bool) or not (
            isinstance(self.periods_per_year, Real) and self.periods_per_year > 0
        ):
            raise ParamError("periods_per_year", f"must be a positive number, got {self.periods_per_year!r}")

    @property
    def bar_ns(self) -> int:
        return int(self.bar_seconds) * 1_000_000_000


DEFAULT_TIMING = BarTiming()
