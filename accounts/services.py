"""Account writes: registration and API tokens."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from rest_framework.authtoken.models import Token

from accounts.models import Preferences
from mdserver.api import ApplicationError

User = get_user_model()


def user_register(*, username: str, email: str, password: str) -> tuple[User, Token]:
    """Create a user and their API token; refuse a taken name or a weak password."""
    details = []
    if User.objects.filter(username__iexact=username).exists():
        details.append({"field": "username", "message": "a user with that username already exists"})
    candidate = User(username=username, email=email)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        details.extend({"field": "password", "message": message} for message in exc.messages)
    if details:
        raise ApplicationError(details[0]["message"], details=details)
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email, password=password)
        token = Token.objects.create(user=user)
    return user, token


def token_for(*, user: User) -> Token:
    token, _ = Token.objects.get_or_create(user=user)
    return token


def preferences_get(*, user) -> Preferences:
    preferences, _ = Preferences.objects.get_or_create(owner=user)
    return preferences


def preferences_update(*, user, theme: str) -> Preferences:
    preferences = preferences_get(user=user)
    preferences.theme = theme
    preferences.save(update_fields=["theme"])
    return preferences
