"""WebSocket `/ws/sessions/<id>/`: a session's events for its owner, in order."""

from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from marketdata.models import ReplaySession
from marketdata.sessions import group_name, remember_event_loop

REFUSED = 4403


class SessionConsumer(AsyncJsonWebsocketConsumer):
    """Authenticate (session cookie or ?token=), check ownership, then forward the session's events."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.session_id = str(self.scope["url_route"]["kwargs"]["session_id"])
        if user is None or not user.is_authenticated or not await self._owns(user):
            await self.close(code=REFUSED)
            return
        remember_event_loop(asyncio.get_running_loop())
        await self.channel_layer.group_add(group_name(self.session_id), self.channel_name)
        await self.accept()
        state = await self._state()
        await self.send_json({"type": "state", "symbol": None, "t": None, "data": {"state": state}})

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "session_id"):
            await self.channel_layer.group_discard(group_name(self.session_id), self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        await self.send_json(
            {"type": "error", "data": {"message": "this stream is read-only; control it over the REST API"}}
        )

    async def session_events(self, message: dict) -> None:
        for event in message["events"]:
            await self.send_json(event)

    @database_sync_to_async
    def _owns(self, user) -> bool:
        return ReplaySession.objects.filter(id=self.session_id, owner=user).exists()

    @database_sync_to_async
    def _state(self) -> str:
        return ReplaySession.objects.values_list("state", flat=True).get(id=self.session_id)
