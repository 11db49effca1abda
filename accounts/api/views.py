from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import token_for, user_register
from mdserver.api import ApplicationError


class RegisterInput(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]+$", max_length=150)
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, style={"input_type": "password"})


class TokenInput(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(write_only=True, style={"input_type": "password"})


class RegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=RegisterInput,
        responses={
            201: inline_serializer(
                "Registered",
                {
                    "id": serializers.IntegerField(),
                    "username": serializers.CharField(),
                    "token": serializers.CharField(),
                },
            )
        },
    )
    def post(self, request):
        data = RegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        user, token = user_register(**data.validated_data)
        return Response({"id": user.id, "username": user.username, "token": token.key}, status=status.HTTP_201_CREATED)


class TokenApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=TokenInput, responses={200: inline_serializer("Token", {"token": serializers.CharField()})})
    def post(self, request):
        data = TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, **data.validated_data)
        if user is None:
            raise ApplicationError(
                "unknown username or wrong password",
                code="invalid_credentials",
                details=[{"field": "password", "message": "unknown username or wrong password"}],
            )
        return Response({"token": token_for(user=user).key})


class PreferencesSerializer(serializers.Serializer):
    theme = serializers.ChoiceField(choices=["light", "dark"])


class PreferencesApi(APIView):
    """The requesting user's display settings."""

    @extend_schema(responses={200: PreferencesSerializer})
    def get(self, request):
        from accounts.services import preferences_get

        return Response({"theme": preferences_get(user=request.user).theme})

    @extend_schema(request=PreferencesSerializer, responses={200: PreferencesSerializer})
    def patch(self, request):
        from accounts.services import preferences_update

        data = PreferencesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"theme": preferences_update(user=request.user, **data.validated_data).theme})
