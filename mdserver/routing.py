"""WebSocket routes (Channels). The session engine adds /ws/sessions/<id>/."""

websocket_urlpatterns: list = []
