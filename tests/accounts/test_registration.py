import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


def test_api_register_returns_id_username_and_working_token(api):
    response = api.post(
        "/api/v1/auth/register", {"username": "carol", "email": "carol@example.com", "password": "xk3-long-pass"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "carol"
    assert body["token"] == Token.objects.get(user_id=body["id"]).key
    api.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert api.get("/api/v1/symbols").status_code == 200


def test_api_register_taken_username_is_400_naming_username(api, user):
    response = api.post(
        "/api/v1/auth/register", {"username": "alice", "email": "a@example.com", "password": "xk3-long-pass"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["details"][0]["field"] == "username"
    assert get_user_model().objects.filter(username="alice").count() == 1


def test_api_register_weak_password_is_400_naming_password(api):
    response = api.post("/api/v1/auth/register", {"username": "dave", "email": "d@example.com", "password": "123"})
    assert response.status_code == 400
    assert {d["field"] for d in response.json()["error"]["details"]} == {"password"}
    assert not get_user_model().objects.filter(username="dave").exists()


def test_api_register_missing_email_names_the_field(api):
    response = api.post("/api/v1/auth/register", {"username": "erin", "password": "xk3-long-pass"})
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [{"field": "email", "message": "This field is required."}]


def test_api_token_for_valid_credentials(api, user):
    response = api.post("/api/v1/auth/token", {"username": "alice", "password": "s3cret-pass-word"})
    assert response.status_code == 200
    assert response.json()["token"] == Token.objects.get(user=user).key


def test_api_token_wrong_password_is_400_with_error_body(api, user):
    response = api.post("/api/v1/auth/token", {"username": "alice", "password": "nope"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_token_header_authenticates_and_a_bad_token_is_401(api, user_api):
    assert user_api.get("/api/v1/symbols").status_code == 200
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = api.get("/api/v1/symbols")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_register_page_creates_user_logs_in_and_lands_on_dashboard(client):
    response = client.post(
        "/accounts/register/",
        {"username": "frank", "email": "f@example.com", "password1": "xk3-long-pass", "password2": "xk3-long-pass"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/"
    assert response.context["user"].username == "frank"
    assert b"Dashboard" in response.content


def test_register_page_shows_mismatch_error(client):
    response = client.post(
        "/accounts/register/",
        {"username": "gina", "email": "g@example.com", "password1": "xk3-long-pass", "password2": "other-pass-9"},
    )
    assert response.status_code == 200
    assert "password2" in response.context["form"].errors
    assert not get_user_model().objects.filter(username="gina").exists()


def test_login_page_then_dashboard_then_logout(client, user):
    response = client.post("/accounts/login/", {"username": "alice", "password": "s3cret-pass-word"}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert b"alice" in response.content
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_dashboard_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
