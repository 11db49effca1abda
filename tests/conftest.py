import os

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import SymbolFactory, UserFactory

PASSWORD = "s3cret-pass-word"


def redis_url() -> str:
    """The Redis the suite talks to: REDIS_URL, else the local server (CI sets it)."""
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


@pytest.fixture
def user(db):
    return UserFactory(username="alice")


@pytest.fixture
def other_user(db):
    return UserFactory(username="bob")


@pytest.fixture
def staff_user(db):
    return UserFactory(username="admin", is_staff=True)


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def user_api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def staff_api(staff_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=staff_user)[0].key}")
    return client


@pytest.fixture
def symbol(db):
    return SymbolFactory(ticker="ACME", venue="XNYS", calendar="XNYS")
