import datetime as dt

import pytest

from marketdata import store
from marketdata.providers.synthetic import synthetic_bars

# Mon 2024-11-25 .. Tue 2024-12-03: Thanksgiving (closed) and the 2024-11-29 half-day.
FIRST_DAY, LAST_DAY = dt.date(2024, 11, 25), dt.date(2024, 12, 3)


@pytest.fixture
def stored_bars(symbol):
    frame = synthetic_bars("ACME", "XNYS", FIRST_DAY, LAST_DAY)
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=frame)
    return frame
