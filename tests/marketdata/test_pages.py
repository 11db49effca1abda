import pytest

from marketdata.models import Import

pytestmark = pytest.mark.django_db


def test_imports_page_lists_own_imports_only(client, user, other_user, user_api, symbol):
    from django.core.files.uploadedfile import SimpleUploadedFile

    csv = b"timestamp,open,high,low,close,volume\n2024-11-26T14:30Z,1,2,0.5,1,10\n"
    user_api.post(
        "/api/v1/imports", {"file": SimpleUploadedFile("mine.csv", csv), "symbol": "ACME"}, format="multipart"
    )
    client.force_login(other_user)
    assert b"mine.csv" not in client.get("/imports/").content
    client.force_login(user)
    page = client.get("/imports/")
    assert page.status_code == 200
    assert b"mine.csv" in page.content
    assert b'<option value="ACME" data-venue="XNYS">' in page.content
    assert Import.objects.count() == 1


def test_imports_page_requires_login(client):
    assert client.get("/imports/").status_code == 302


def test_dashboard_lists_symbols_with_stored_bars(client, user, symbol):
    from marketdata import services

    services.demo_seed(sessions=2, today=__import__("datetime").date(2024, 12, 4))
    client.force_login(user)
    content = client.get("/").content.decode()
    assert "ACME" in content and "BTC/USDT" in content
    assert "1m" in content


def test_dashboard_heatmap_marks_a_day_with_a_gap(client, user, symbol):
    import datetime as dt

    import pandas as pd

    from marketdata import store
    from marketdata.providers.synthetic import synthetic_bars

    today = pd.Timestamp.now(tz="UTC").date()
    frame = synthetic_bars("ACME", "XNYS", today - dt.timedelta(days=10), today - dt.timedelta(days=1))
    first_day = (
        frame["ts"].dt.tz_convert("America/New_York").dt.date
        == frame["ts"].iloc[0].tz_convert("America/New_York").date()
    )
    holed = frame.drop(index=frame.index[first_day][10:20])
    store.bars_write(symbol_id=symbol.id, interval="1m", frame=holed.reset_index(drop=True))
    client.force_login(user)
    content = client.get("/").content.decode()
    assert 'class="cell q95"' in content or 'class="cell q50"' in content  # 380/390 = 97%
    assert "380/390 bars (97%), 1 gap(s)" in content
    assert 'class="cell q100"' in content
