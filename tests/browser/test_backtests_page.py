import datetime as dt

import pytest

from backtests.models import BacktestRun
from marketdata import store
from marketdata.providers.synthetic import synthetic_bars
from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_data(symbol):
    frame = synthetic_bars("ACME", "XNYS", dt.date(2024, 10, 1), dt.date(2024, 11, 29))
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=frame)


def test_save_and_run_a_backtest_then_read_its_results(logged_in, server, demo_data, user):
    page = logged_in
    page.goto(f"{server}/backtests/")
    page.wait_for_selector("body[data-ready='true']")
    page.select_option("#preset", "demo")
    assert page.input_value("input[name=symbol]") == "ACME"
    assert page.input_value("select[name=strategy]") == "sma_crossover"
    page.fill("input[name=start_date]", "2024-11-01")
    page.fill("input[name=end_date]", "2024-10-01")
    page.click("button[value=run]")
    page.wait_for_selector("label.field-error input[name=end_date]")
    assert "end_date" in page.inner_text("#form-errors")

    page.fill("input[name=start_date]", "2024-10-01")
    page.fill("input[name=end_date]", "2024-11-29")
    page.fill("input[name='param:fast']", "5")
    page.fill("input[name='param:slow']", "20")
    page.click("button[value=run]")
    page.wait_for_selector("#runs tr[data-status='succeeded']")
    run = BacktestRun.objects.get(owner=user)
    assert run.metrics["trades"] > 0

    page.click(f"#runs a[href='/backtests/runs/{run.id}/']")
    page.wait_for_selector("body[data-ready='true']")
    assert int(page.get_attribute("body", "data-markers")) >= run.metrics["trades"]
    assert "sharpe" in page.inner_text("#metrics")
    assert page.locator("#trades tbody tr").count() == len(run.trades)
    assert page.locator("#equity-chart canvas").count() > 0
    page.screenshot(path=str(ARTIFACTS / "backtest-run.png"), full_page=True)


def test_sweep_table_sorts_by_the_clicked_metric(logged_in, server, demo_data, user, symbol):
    from backtests.models import BacktestSettings

    BacktestSettings.objects.create(owner=user, name="grid", symbol=symbol, interval="15m", start_date=dt.date(2024, 10, 1),
                                    end_date=dt.date(2024, 11, 29), strategy="sma_crossover", params={"fast": 5, "slow": 20})  # fmt: skip
    page = logged_in
    page.goto(f"{server}/backtests/")
    page.wait_for_selector("body[data-ready='true']")
    page.fill("#sweep-form input[name=grid]", '{"fast": [3, 5], "slow": [20, 30]}')
    page.click("#sweep-form button")
    page.wait_for_function("() => document.querySelectorAll('#sweep-table tbody tr').length === 4")
    page.wait_for_function("() => document.querySelector('#sweep-status').textContent.startsWith('succeeded')")
    page.click("#sweep-table th[data-key='total_return']")
    returns = [float(t) for t in page.locator("#sweep-table tbody tr td:nth-child(2)").all_inner_texts()]
    assert returns == sorted(returns, reverse=True)
    page.click("#sweep-table th[data-key='total_return']")
    returns = [float(t) for t in page.locator("#sweep-table tbody tr td:nth-child(2)").all_inner_texts()]
    assert returns == sorted(returns)
