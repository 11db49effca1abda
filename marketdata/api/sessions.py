"""Sessions over REST: create a replay or live session, read its snapshot, control it."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.ownership import owned_by
from marketdata.api.fetches import ListOrCommaField
from marketdata.models import ReplaySession
from marketdata.sessions import session_control, session_create

TIME_FORMATS = ["%H:%M"]


class SessionInput(serializers.Serializer):
    symbols = ListOrCommaField(child=serializers.CharField(), allow_empty=False, max_length=50)
    start_date = serializers.DateField(required=False)
    end_date = serializers.DateField(required=False)
    speed = serializers.FloatField(required=False, default=60.0, min_value=0)
    start_time = serializers.TimeField(required=False, input_formats=TIME_FORMATS, format="%H:%M")
    end_time = serializers.TimeField(required=False, input_formats=TIME_FORMATS, format="%H:%M")
    historical_bars_trailing_days = serializers.IntegerField(required=False, default=0, min_value=0, max_value=250)
    historical_bars_types = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    derived_intervals = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    streams = serializers.ListField(
        child=serializers.ChoiceField(choices=["bars", "quotes", "ticks"]), required=False,
        default=lambda: ["bars", "quotes", "ticks"],
    )  # fmt: skip
    timeout_s = serializers.FloatField(required=False, default=60.0, min_value=1)
    gap_source = serializers.CharField(required=False, help_text="provider asked for 1m bars the store lacks")
    paused = serializers.BooleanField(required=False, default=False)

    def validate(self, data: dict) -> dict:
        if ("start_date" in data) != ("end_date" in data):
            missing = "end_date" if "start_date" in data else "start_date"
            raise serializers.ValidationError({missing: "give both start_date and end_date (replay) or neither (live)"})
        if "start_date" in data and data["end_date"] < data["start_date"]:
            raise serializers.ValidationError({"end_date": "must not be before start_date"})
        start, end = data.get("start_time"), data.get("end_time")
        if start and end and end <= start:
            raise serializers.ValidationError({"end_time": "must be after start_time"})
        return data

    def as_config(self) -> dict:
        data = dict(self.validated_data)
        data.pop("paused")
        for name in ("start_date", "end_date"):
            if name in data:
                data[name] = data[name].isoformat()
        for name in ("start_time", "end_time"):
            if name in data:
                data[name] = data[name].strftime("%H:%M")
        return data


class SpeedInput(serializers.Serializer):
    speed = serializers.FloatField(min_value=0)


def session_body(session: ReplaySession) -> dict:
    snapshot = dict(session.snapshot)
    snapshot.pop("state", None)
    snapshot.pop("speed", None)  # the requested speed (the row) wins over the last snapshot
    return {
        "id": str(session.id),
        "state": session.state,
        "speed": session.speed,
        "ws": f"/ws/sessions/{session.id}/",
        "config": session.config,
        "error": session.error or None,
        "now": snapshot.pop("now", None),
        "session_date": snapshot.pop("session_date", None),
        "session_ended": snapshot.pop("session_ended", False),
        "timer_expired": snapshot.pop("timer_expired", False),
        "symbols": snapshot.pop("symbols", {}),
        **snapshot,
    }


class SessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Replay (with dates) or live (without) sessions of the requesting user."""

    ordering = "-created_at"

    def get_queryset(self):
        return owned_by(ReplaySession.objects.all(), self.request.user)

    def get_serializer_class(self):
        return SessionInput

    @extend_schema(request=SessionInput, responses={201: OpenApiTypes.OBJECT})
    def create(self, request):
        data = SessionInput(data=request.data)
        data.is_valid(raise_exception=True)
        session = session_create(owner=request.user, config=data.as_config(), paused=data.validated_data["paused"])
        return Response({"id": str(session.id), "state": session.state, "ws": f"/ws/sessions/{session.id}/"},
                        status=status.HTTP_201_CREATED)  # fmt: skip

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def retrieve(self, request, *args, **kwargs):
        return Response(session_body(self.get_object()))

    @extend_schema(operation_id="sessions_list", responses={200: OpenApiTypes.OBJECT})
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([session_body(s) for s in page])

    @extend_schema(request=SpeedInput, responses={200: OpenApiTypes.OBJECT})
    def partial_update(self, request, *args, **kwargs):
        data = SpeedInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(session_body(session_control(session=self.get_object(), speed=data.validated_data["speed"])))

    def _control(self, request, name: str) -> Response:
        return Response(session_body(session_control(session=self.get_object(), action=name)))

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._control(request, "pause")

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._control(request, "resume")

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        return self._control(request, "stop")
