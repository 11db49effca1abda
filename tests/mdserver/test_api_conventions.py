import subprocess
import sys

import pytest
import yaml

from marketdata.models import Symbol
from tests.factories import SymbolFactory

pytestmark = pytest.mark.django_db


def test_anonymous_api_call_is_refused_with_error_body(api):
    response = api.get("/api/v1/symbols")
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "not_authenticated"


def test_normal_user_cannot_create_symbol(user_api):
    response = user_api.post("/api/v1/symbols", {"ticker": "XYZ", "venue": "XNAS", "calendar": "XNYS"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not Symbol.objects.filter(ticker="XYZ").exists()


def test_normal_user_cannot_delete_symbol(user_api, symbol):
    assert user_api.delete(f"/api/v1/symbols/{symbol.id}").status_code == 403
    assert Symbol.objects.filter(id=symbol.id).exists()


def test_staff_creates_and_user_lists_symbol(staff_api, user_api):
    created = staff_api.post(
        "/api/v1/symbols", {"ticker": "XYZ", "venue": "XNAS", "calendar": "XNYS", "asset_class": "equity"}
    )
    assert created.status_code == 201
    listing = user_api.get("/api/v1/symbols").json()
    assert [s["ticker"] for s in listing["results"]] == ["XYZ"]
    assert listing["next"] is None


def test_malformed_symbol_gets_error_body_naming_fields(staff_api):
    response = staff_api.post(
        "/api/v1/symbols", {"ticker": "", "venue": "XNAS", "calendar": "NOPE", "asset_class": "beans"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    fields = {d["field"] for d in error["details"]}
    assert fields == {"ticker", "calendar", "asset_class"}
    assert any("unknown calendar 'NOPE'" in d["message"] for d in error["details"])


def test_unknown_symbol_id_is_404_with_error_body(user_api):
    response = user_api.get("/api/v1/symbols/999999")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_cursor_paging_returns_every_symbol_once(user_api):
    for n in range(7):
        SymbolFactory(ticker=f"P{n}")
    seen = []
    url = "/api/v1/symbols?limit=3"
    pages = 0
    while url:
        body = user_api.get(url).json()
        seen += [s["ticker"] for s in body["results"]]
        url = body["next"]
        pages += 1
    assert pages == 3
    assert sorted(seen) == sorted(f"P{n}" for n in range(7))


@pytest.mark.parametrize("limit", ["0", "100001", "ten"])
def test_bad_limit_is_400_naming_limit(user_api, limit):
    response = user_api.get(f"/api/v1/symbols?limit={limit}")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "limit"


def test_openapi_schema_is_served_and_lists_endpoints(user_api):
    response = user_api.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/symbols", "/api/v1/auth/register", "/api/v1/auth/token"} <= set(schema["paths"])


def test_openapi_schema_validates_without_warnings():
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_swagger_ui_page_is_served(client, user):
    client.force_login(user)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
