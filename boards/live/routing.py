from __future__ import annotations

from django.urls import path

from boards.live import consumers

websocket_urlpatterns = [
    path("ws/a/<str:code>/", consumers.BoardConsumer.as_asgi()),
    path("ws/<str:kind>/<str:token>/", consumers.LinkConsumer.as_asgi()),
]
