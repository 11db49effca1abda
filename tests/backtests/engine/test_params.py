import pytest

from backtests.engine import (
    STRATEGIES,
    BacktestSettings,
    ParamError,
    settings_from,
    strategy_schemas,
    validate_params,
    validate_settings,
)


def test_schemas_list_every_strategy_with_typed_defaulted_parameters():
    schemas = {schema["name"]: schema for schema in strategy_schemas()}
    assert {"buy_and_hold", "sma_crossover", "rsi_reversion", "bollinger_breakout", "protective_put"} <= set(schemas)
    for schema in schemas.values():
        assert schema["description"]
        assert schema["parameters"]["type"] == "object"
        for spec in schema["parameters"]["properties"].values():
            assert spec["type"] in {"integer", "number"}
            assert {"default", "description"} <= set(spec)
    assert set(schemas["protective_put"]["parameters"]["properties"]) == {
        "strike_pct",
        "tenor_days",
        "implied_vol",
        "risk_free_rate",
    }


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_defaults_validate(name):
    assert validate_params(name, None) == validate_params(name, {})


def test_validate_fills_defaults_and_accepts_integral_floats():
    assert validate_params("sma_crossover", {"slow": 30.0}) == {"fast": 10, "slow": 30}
    assert isinstance(validate_params("sma_crossover", {"slow": 30.0})["slow"], int)


@pytest.mark.parametrize(
    ("name", "params", "field", "words"),
    [
        ("nope", {}, "strategy", "unknown strategy"),
        ("sma_crossover", {"fastest": 3}, "fastest", "unknown parameter"),
        ("sma_crossover", {"fast": "10"}, "fast", "integer"),
        ("sma_crossover", {"fast": True}, "fast", "integer"),
        ("sma_crossover", {"fast": 2.5}, "fast", "integer"),
        ("sma_crossover", {"slow": 1}, "slow", ">= 2"),
        ("sma_crossover", {"fast": 50, "slow": 50}, "fast", "less than slow"),
        ("sma_crossover", {"fast": 60, "slow": 50}, "fast", "less than slow"),
        ("rsi_reversion", {"lower": 70, "upper": 30}, "lower", "less than upper"),
        ("rsi_reversion", {"upper": 101}, "upper", "<= 100"),
        ("rsi_reversion", {"lower": float("nan")}, "lower", "finite"),
        ("bollinger_breakout", {"k": 0}, "k", "> 0"),
        ("protective_put", {"implied_vol": -0.2}, "implied_vol", "> 0"),
        ("protective_put", {"tenor_days": 0}, "tenor_days", ">= 1"),
    ],
)
def test_invalid_params_name_the_field(name, params, field, words):
    with pytest.raises(ParamError) as caught:
        validate_params(name, params)
    assert caught.value.field == field
    assert words in caught.value.message
    assert caught.value.as_dict() == {"field": field, "message": caught.value.message}


def test_params_must_be_an_object():
    with pytest.raises(ParamError) as caught:
        validate_params("sma_crossover", [10, 50])
    assert caught.value.field == "params"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"initial_cash": 0}, "initial_cash"),
        ({"fee": 1.0}, "fee"),
        ({"fee": -0.001}, "fee"),
        ({"slippage": -1}, "slippage"),
        ({"units": -1}, "units"),
        ({"leverage": 2}, "leverage"),
    ],
)
def test_invalid_settings_name_the_field(values, field):
    with pytest.raises(ParamError) as caught:
        validate_settings(values)
    assert caught.value.field == field


def test_settings_from_a_saved_row_ignores_other_fields():
    row = {"name": "mine", "symbol": "AAPL", "initial_cash": 5000, "fee": 0.001, "strategy": "sma_crossover"}
    assert settings_from(row) == BacktestSettings(initial_cash=5000, fee=0.001)


def test_settings_refuse_bad_values_when_built_directly():
    with pytest.raises(ParamError) as caught:
        BacktestSettings(margin_call_ltv=-0.5)
    assert caught.value.field == "margin_call_ltv"
