"""API conventions shared by every endpoint: the error body and cursor paging."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

DEFAULT_LIMIT = 10_000
MAX_LIMIT = 100_000


class ApplicationError(Exception):
    """A domain error a user can fix; rendered as the SPEC.md error body."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "invalid",
        details: list[dict[str, Any]] | None = None,
        status_code: int = status.HTTP_400_BAD_REQUEST,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details or []
        self.status_code = status_code

    def as_body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


class NotFoundError(ApplicationError):
    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, code="not_found", details=details, status_code=status.HTTP_404_NOT_FOUND)


def jsonable(value: Any) -> Any:
    """Turn Timestamps into ISO-8601 `Z` strings, dates into ISO dates and NaN/infinities into None, recursively."""
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, pd.Timestamp | dt.datetime):
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return stamp.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body = {"code": code, "message": _encodable(message), "details": details or []}
    body["details"] = [{key: _encodable(item) for key, item in detail.items()} for detail in body["details"]]
    return {"error": body}


def _encodable(value: Any) -> Any:
    """Return text that UTF-8 can encode: messages quote the input, which may hold a lone surrogate."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def flatten_validation_detail(detail: Any, field: str | None = None) -> list[dict[str, Any]]:
    """Turn DRF's nested validation detail into a flat list of {field, message}."""
    if isinstance(detail, dict):
        items: list[dict[str, Any]] = []
        for key, value in detail.items():
            if isinstance(key, int):  # DRF reports a list item's errors under its index
                items.extend(flatten_validation_detail(value, f"{field}[{key}]" if field else str(key)))
                continue
            name = key if key != "non_field_errors" else None
            nested = f"{field}.{name}" if field and name else (name or field)
            items.extend(flatten_validation_detail(value, nested))
        return items
    if isinstance(detail, list):
        items = []
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                items.extend(flatten_validation_detail(value, f"{field}[{index}]" if field else str(index)))
            else:
                items.extend(flatten_validation_detail(value, field))
        return items
    return [{"field": field, "message": str(detail)}]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map every API error to `{"error": {code, message, details}}`."""
    if isinstance(exc, ApplicationError):
        return Response(exc.as_body(), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ParseError | exceptions.UnsupportedMediaType):
        response.data = error_body(
            str(exc.default_code), str(exc.detail), [{"field": "body", "message": str(exc.detail)}]
        )
    elif isinstance(exc, exceptions.ValidationError):
        details = flatten_validation_detail(exc.detail)
        first = details[0] if details else {"field": None, "message": "invalid input"}
        message = f"{first['field']}: {first['message']}" if first.get("field") else first["message"]
        response.data = error_body("invalid", message, details)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = error_body(str(code), str(detail))
    return response


class CursorPage(CursorPagination):
    """Cursor paging per SPEC.md: `limit` (default 10 000, max 100 000) and `next`."""

    page_size = DEFAULT_LIMIT
    max_page_size = MAX_LIMIT
    page_size_query_param = "limit"
    ordering = "id"

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            value = int(raw)
        except ValueError:
            raise ApplicationError(
                "limit must be an integer", details=[{"field": "limit", "message": f"not an integer: {raw!r}"}]
            ) from None
        if not 1 <= value <= self.max_page_size:
            raise ApplicationError(
                f"limit must be between 1 and {self.max_page_size}",
                details=[{"field": "limit", "message": f"out of range: {value}"}],
            )
        return value

    def paginate_queryset(self, queryset, request, view=None) -> list | None:
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request) -> Cursor | None:
        """Read the `cursor` parameter; a tampered or foreign one is a 400 on the field, not a 404 or a 500."""
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise _bad_cursor("not a cursor this endpoint gave out") from None
        if cursor is not None and cursor.position is not None:
            _check_position(self._model, self.ordering[0].lstrip("-"), cursor.position)
        return cursor

    def get_ordering(self, request, queryset, view) -> tuple[str, ...]:
        """Use the view's `ordering` (e.g. newest first), falling back to `id`."""
        ordering = getattr(view, "ordering", None) or self.ordering
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)

    def get_paginated_response(self, data: list) -> Response:
        return Response({"results": data, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {"results": schema, "next": {"type": "string", "nullable": True, "format": "uri"}},
        }


def _bad_cursor(reason: str) -> ApplicationError:
    return ApplicationError(f"invalid cursor: {reason}", details=[{"field": "cursor", "message": reason}])


def _check_position(model: type[Model], field_name: str, position: str) -> None:
    """Refuse a cursor position that is not a value of the ordering field (it would fail in the query)."""
    try:
        field = model._meta.get_field(field_name)
    except FieldDoesNotExist:
        return
    try:
        value = field.to_python(position)
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise DjangoValidationError("out of range")
    except (DjangoValidationError, ValueError, TypeError, OverflowError):
        raise _bad_cursor("not a cursor this endpoint gave out") from None
