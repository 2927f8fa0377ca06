"""ASGI entry point: HTTP through Django, WebSocket through Channels."""

from __future__ import annotations

import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cerveau.settings")
# Set up Django (apps, settings) before importing anything that uses models.
django.setup(set_prefix=False)

from cerveau.handler import SyncStackASGIHandler  # noqa: E402

# What get_asgi_application() returns, with the middleware run synchronously.
django_asgi_app = SyncStackASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from boards.live.handshake import AcceptInTime  # noqa: E402
from boards.live.identity import IdentityStack  # noqa: E402
from boards.live.routing import websocket_urlpatterns  # noqa: E402
from boards.live.security import OriginValidator  # noqa: E402
from boards.live.wire import FindWire  # noqa: E402
from cerveau.access import AccessLog  # noqa: E402

application = FindWire(
    AccessLog(
        ProtocolTypeRouter(
            {
                "http": django_asgi_app,
                # The handshake is answered before daphne's connect timeout, even
                # when the database work behind it queues (boards/live/handshake.py).
                "websocket": OriginValidator(AcceptInTime(IdentityStack(URLRouter(websocket_urlpatterns)))),
            }
        )
    )
)

from cerveau.warmup import warm_up  # noqa: E402

# The URL conf (every view and what it imports) and the pages a room loads
# first, loaded now rather than by the first phone of the evening.
warm_up()

# What start-up loaded (Django, the apps, URL and template machinery) lives
# as long as the process: out of the collector's full passes, which would
# otherwise walk all of it and hold up whole pushes (docs/benchmarks.md).
gc.collect()
gc.freeze()
