import datetime as dt

import pytest

from marketdata import store
from marketdata.models import Drawing
from marketdata.providers.synthetic import synthetic_bars
from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


@pytest.fixture
def chart_data(symbol):
    # Three sessions: 1,170 one-minute bars (the first page holds 500), 234 five-minute bars.
    frame = synthetic_bars("ACME", "XNYS", dt.date(2024, 11, 25), dt.date(2024, 11, 27))
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=frame)
    return frame


def bar_count(page) -> int:
    return int(page.get_attribute("#chart", "data-bars") or 0)


def open_chart(page, server):
    page.goto(f"{server}/chart/ACME/")
    page.wait_for_function("() => Number(document.querySelector('#chart').dataset.bars || 0) > 0")


def canvas_has_candles(page) -> bool:
    return page.evaluate(
        """() => [...document.querySelectorAll('#chart canvas')].some(canvas => {
            const ctx = canvas.getContext('2d'); if (!ctx || !canvas.width) return false;
            const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            const colours = new Set();
            for (let i = 0; i < data.length; i += 4 * 97) colours.add(data[i] << 16 | data[i + 1] << 8 | data[i + 2]);
            return colours.size > 3;
        })"""
    )


def test_chart_draws_candles_switches_interval_and_scrolls_back(logged_in, server, chart_data):
    page = logged_in
    open_chart(page, server)
    assert bar_count(page) == 500
    assert canvas_has_candles(page)
    page.screenshot(path=str(ARTIFACTS / "chart-1m.png"))
    assert "times in America/New_York" in page.inner_text("#status-line")

    page.click("#intervals button[data-interval='5m']")
    page.wait_for_function("() => document.querySelector('#chart').dataset.bars === '234'")
    assert page.get_attribute("#chart", "data-first-time") == "2024-11-25T14:30:00.000Z"

    page.click("#intervals button[data-interval='1m']")
    page.wait_for_function("() => document.querySelector('#chart').dataset.bars === '500'")
    box = page.locator("#chart").bounding_box()
    for _ in range(12):  # drag the chart to the right: back in time
        page.mouse.move(box["x"] + 200, box["y"] + 200)
        page.mouse.down()
        page.mouse.move(box["x"] + 1200, box["y"] + 200, steps=5)
        page.mouse.up()
        if bar_count(page) > 500:
            break
    page.wait_for_function("() => Number(document.querySelector('#chart').dataset.bars) > 500")
    assert bar_count(page) == 1000


def test_custom_interval_and_bad_interval_message(logged_in, server, chart_data):
    page = logged_in
    open_chart(page, server)
    page.fill("#custom-interval input", "7m")
    page.click("#custom-interval button")
    page.wait_for_function("() => document.querySelector('#chart').dataset.bars === '168'")  # 56 bars x 3 sessions
    page.fill("#custom-interval input", "7x")
    page.click("#custom-interval button")
    assert "is not an interval" in page.inner_text("#status-line")


def test_horizontal_line_is_saved_and_shown_after_reload(logged_in, server, chart_data, user):
    page = logged_in
    open_chart(page, server)
    page.click("#drawing-tools button[data-tool='horizontal_line']")
    box = page.locator("#chart").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + 150)
    page.wait_for_selector("#drawing-list li[data-kind='horizontal_line']")
    assert Drawing.objects.filter(owner=user, kind="horizontal_line").count() == 1
    page.reload()
    page.wait_for_selector("#drawing-list li[data-kind='horizontal_line']")
    page.screenshot(path=str(ARTIFACTS / "chart-drawing.png"))
    page.click("#drawing-list li[data-kind='horizontal_line'] button")
    page.wait_for_selector("#drawing-list li.empty")
    assert not Drawing.objects.exists()


def test_trend_line_rectangle_and_fibonacci_are_drawn(logged_in, server, chart_data):
    page = logged_in
    open_chart(page, server)
    box = page.locator("#chart").bounding_box()
    for tool in ("trend_line", "rectangle", "fibonacci"):
        page.click(f"#drawing-tools button[data-tool='{tool}']")
        page.wait_for_timeout(600)
        page.mouse.click(box["x"] + 300, box["y"] + 120)
        page.wait_for_timeout(600)  # a person's pause between two anchor points (not a double-click)
        page.mouse.click(box["x"] + 700, box["y"] + 300)
        page.wait_for_selector(f"#drawing-list li[data-kind='{tool}']")
    assert page.locator("#drawing-layer line").count() >= 1 + 7  # the trend line and seven Fibonacci levels
    assert page.locator("#drawing-layer rect").count() == 1


def test_dark_theme_is_remembered(logged_in, server, chart_data):
    page = logged_in
    open_chart(page, server)
    assert page.get_attribute("html", "data-theme") == "light"
    page.click("#theme-toggle")
    page.wait_for_function("() => document.documentElement.dataset.theme === 'dark'")
    page.wait_for_timeout(300)
    page.reload()
    page.wait_for_function("() => Number(document.querySelector('#chart').dataset.bars || 0) > 0")
    assert page.get_attribute("html", "data-theme") == "dark"
    page.screenshot(path=str(ARTIFACTS / "chart-dark.png"))
    page.goto(f"{server}/")
    assert page.get_attribute("html", "data-theme") == "dark"


def test_symbol_without_data_says_how_to_get_it(logged_in, server, symbol):
    page = logged_in
    page.goto(f"{server}/chart/ACME/")
    assert "has no bars yet" in page.inner_text("#no-data")
    assert page.locator("#no-data a[href='/imports/']").count() == 1


def test_chart_needs_login(browser, server):
    page = browser.new_page()
    page.goto(f"{server}/chart/ACME/")
    assert "/accounts/login/" in page.url


def test_replay_at_high_speed_streams_new_bars_into_the_chart(logged_in, server, chart_data):
    page = logged_in
    open_chart(page, server)
    page.click("#intervals button[data-interval='5m']")
    page.wait_for_function("() => document.querySelector('#chart').dataset.bars === '234'")
    page.fill("#replay-form input[name=start_date]", "2024-11-26")
    page.fill("#replay-form input[name=end_date]", "2024-11-26")
    page.fill("#replay-form input[name=speed]", "1200")
    page.click("#replay-form button[type=submit]")
    page.wait_for_function("() => Number(document.querySelector('#chart').dataset.liveBars || 0) >= 12", timeout=60_000)
    bars = page.evaluate("() => window.mdChart.state.bars.map(b => b.time)")
    assert bars == sorted(bars) and len(set(bars)) == len(bars)
    assert bars[0] == 1732631400  # 2024-11-26 14:30Z: the replay starts the chart at the session open
    assert all((t - bars[0]) % 300 == 0 for t in bars)  # 5-minute bars, 1-minute updates folded in
    page.wait_for_function("() => document.querySelector('#status-line').textContent.includes('market open')")
    page.click("#pause-button")
    page.wait_for_function("() => document.querySelector('#chart').dataset.sessionState === 'paused'")
    paused_at = page.get_attribute("#chart", "data-live-bars")
    page.wait_for_timeout(1500)
    assert page.get_attribute("#chart", "data-live-bars") == paused_at
    page.screenshot(path=str(ARTIFACTS / "chart-replay.png"))
    page.click("#stop-button")
