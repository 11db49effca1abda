import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backtests.engine.black_scholes import call_delta, call_price, put_delta, put_price, put_prices


def test_hull_example_call_and_put_prices():
    # Hull, Options, Futures and Other Derivatives, example 15.6: S=42, K=40, r=10%, sigma=20%, T=0.5.
    assert call_price(42, 40, 0.5, 0.10, 0.20) == pytest.approx(4.76, abs=0.005)
    assert put_price(42, 40, 0.5, 0.10, 0.20) == pytest.approx(0.81, abs=0.005)


def test_hull_example_call_delta():
    # Hull example 19.1: S=49, K=50, r=5%, sigma=20%, T=20 weeks -> delta 0.522.
    assert call_delta(49, 50, 20 / 52, 0.05, 0.20) == pytest.approx(0.522, abs=0.0005)
    assert put_delta(49, 50, 20 / 52, 0.05, 0.20) == pytest.approx(0.522 - 1, abs=0.0005)


@given(
    spot=st.floats(1.0, 1000.0),
    moneyness=st.floats(0.5, 1.5),
    years=st.floats(0.001, 5.0),
    rate=st.floats(-0.02, 0.2),
    volatility=st.floats(0.01, 2.0),
)
def test_put_call_parity(spot, moneyness, years, rate, volatility):
    strike = spot * moneyness
    call = call_price(spot, strike, years, rate, volatility)
    put = put_price(spot, strike, years, rate, volatility)
    assert call - put == pytest.approx(spot - strike * math.exp(-rate * years), rel=1e-9, abs=1e-9 * spot)


def test_at_expiry_options_are_worth_their_intrinsic_value():
    assert put_price(80, 90, 0.0, 0.05, 0.3) == 10.0
    assert put_price(95, 90, -0.1, 0.05, 0.3) == 0.0
    assert call_price(95, 90, 0.0, 0.05, 0.3) == 5.0


def test_zero_volatility_is_the_discounted_forward_intrinsic_value():
    assert put_price(80, 90, 1.0, 0.05, 0.0) == pytest.approx(90 * math.exp(-0.05) - 80)
    assert call_price(80, 90, 1.0, 0.05, 0.0) == 0.0


def test_vectorized_put_prices_match_the_scalar_ones():
    spots = np.linspace(50, 150, 41)
    years = np.linspace(-0.01, 1.0, 41)  # includes expired ones
    expected = [put_price(s, 100.0, t, 0.03, 0.4) for s, t in zip(spots, years, strict=True)]
    np.testing.assert_allclose(put_prices(spots, 100.0, years, 0.03, 0.4), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spot", [0.0, -5.0])
def test_a_put_on_a_spot_at_or_below_zero_is_worth_its_discounted_strike_less_the_spot(spot):
    # A spot at 0 stays there under the model; some futures trade below 0.
    expected = 90 * math.exp(-0.04 * 0.5) - spot
    assert put_price(spot, 90, 0.5, 0.04, 0.3) == pytest.approx(expected, rel=1e-12)
    marks = put_prices(np.array([spot, 100.0]), 90, np.array([0.5, 0.5]), 0.04, 0.3)
    assert marks[0] == pytest.approx(expected, rel=1e-12)
    assert marks[1] == pytest.approx(put_price(100.0, 90, 0.5, 0.04, 0.3), rel=1e-12)
    assert call_price(spot, 90, 0.5, 0.04, 0.3) == 0.0 and call_delta(spot, 90, 0.5, 0.04, 0.3) == 0.0


def test_a_volatility_too_small_to_register_prices_as_zero_volatility():
    smallest, day = 5e-324, 1 / 365  # vol x sqrt(T) rounds to 0 a day before expiry: d1 would divide by zero
    expected = 90 * math.exp(-0.04 * day) - 80
    assert put_price(80, 90, day, 0.04, smallest) == pytest.approx(expected, rel=1e-12)
    assert put_prices(np.array([80.0]), 90, np.array([day]), 0.04, smallest)[0] == pytest.approx(expected, rel=1e-12)
    assert call_delta(80, 90, day, 0.04, smallest) == 0.0


def test_a_strike_rounded_to_zero_makes_a_worthless_put():
    # strike_pct at its smallest times a spot can round to a strike of 0.
    assert put_price(100.0, 0.0, 0.5, 0.04, 0.3) == 0.0
    assert put_prices(np.array([100.0]), 0.0, np.array([0.5]), 0.04, 0.3).tolist() == [0.0]
