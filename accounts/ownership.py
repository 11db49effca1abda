"""Per-user ownership in one place: every per-user query goes through here."""

from __future__ import annotations

from django.db.models import QuerySet

OWNER_FIELD = "owner"


def owned_by(queryset: QuerySet, user, *, field: str = OWNER_FIELD) -> QuerySet:
    """Return only the rows `user` owns; nothing for an anonymous user."""
    if user is None or not user.is_authenticated:
        return queryset.none()
    return queryset.filter(**{field: user})


class OwnedQuerysetMixin:
    """DRF view mixin: querysets filtered to the requesting user, owner set on create.

    Someone else's object is therefore a 404, never a 403: its existence is not revealed.
    """

    owner_field = OWNER_FIELD

    def get_queryset(self):  # type: ignore[override]
        return owned_by(super().get_queryset(), self.request.user, field=self.owner_field)

    def perform_create(self, serializer) -> None:
        serializer.save(**{self.owner_field: self.request.user})
