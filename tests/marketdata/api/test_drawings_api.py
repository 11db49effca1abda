import pytest
from rest_framework.test import APIClient

from marketdata.models import Drawing

pytestmark = pytest.mark.django_db

HLINE = {
    "kind": "horizontal_line",
    "points": [{"t": "2024-11-26T15:00:00Z", "price": 101.5}],
    "style": {"color": "#e91e63"},
}


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_user_saves_lists_and_deletes_a_drawing(user_api, symbol):
    created = user_api.post("/api/v1/drawings", {**HLINE, "symbol": symbol.id}, format="json")
    assert created.status_code == 201
    listing = user_api.get(f"/api/v1/drawings?symbol={symbol.id}").json()["results"]
    assert [(d["kind"], d["points"][0]["price"]) for d in listing] == [("horizontal_line", 101.5)]
    assert user_api.delete(f"/api/v1/drawings/{created.json()['id']}").status_code == 204
    assert not Drawing.objects.exists()


def test_another_user_cannot_read_change_or_delete_my_drawing(user, other_user, symbol):
    mine = as_user(user).post("/api/v1/drawings", {**HLINE, "symbol": symbol.id}, format="json").json()
    intruder = as_user(other_user)
    assert intruder.get(f"/api/v1/drawings?symbol={symbol.id}").json()["results"] == []
    assert intruder.get(f"/api/v1/drawings/{mine['id']}").status_code == 404
    assert intruder.patch(f"/api/v1/drawings/{mine['id']}", {"style": {}}, format="json").status_code == 404
    assert intruder.delete(f"/api/v1/drawings/{mine['id']}").status_code == 404
    assert Drawing.objects.get().owner == user


@pytest.mark.parametrize(
    "body,field",
    [
        ({"kind": "trend_line", "points": [{"t": "2024-11-26T15:00:00Z", "price": 1}]}, "points"),
        ({"kind": "circle", "points": [{"t": "2024-11-26T15:00:00Z", "price": 1}]}, "kind"),
        ({"kind": "horizontal_line", "points": [{"t": "2024-11-26 15:00", "price": 1}]}, "points[0].t"),
        ({"kind": "horizontal_line", "points": [{"t": "2024-11-26T15:00Z", "price": "NaN"}]}, "points[0].price"),
    ],
)
def test_invalid_drawings_are_400_naming_the_field(user_api, symbol, body, field):
    response = user_api.post("/api/v1/drawings", {**body, "symbol": symbol.id}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == field


def test_theme_preference_round_trips_per_user(user_api, other_user):
    assert user_api.get("/api/v1/me/preferences").json() == {"theme": "light"}
    assert user_api.patch("/api/v1/me/preferences", {"theme": "dark"}, format="json").json() == {"theme": "dark"}
    assert user_api.get("/api/v1/me/preferences").json() == {"theme": "dark"}
    assert as_user(other_user).get("/api/v1/me/preferences").json() == {"theme": "light"}
    bad = user_api.patch("/api/v1/me/preferences", {"theme": "neon"}, format="json")
    assert bad.json()["error"]["details"][0]["field"] == "theme"
