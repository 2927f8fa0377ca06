"""ASGI entry point: HTTP through Django, WebSocket through Channels."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cerveau.settings")
# Set up Django (apps, settings) before importing anything that uses models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from boards.live.handshake import AcceptFirst  # noqa: E402
from boards.live.routing import websocket_urlpatterns  # noqa: E402
from boards.live.security import OriginValidator  # noqa: E402
from cerveau.access import AccessLog  # noqa: E402

application = AccessLog(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            # Accepted before the session, the user or the atelier are read
            # (boards/live/handshake.py), refused after with a 4xxx code.
            "websocket": OriginValidator(AcceptFirst(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))),
        }
    )
)
