"""Django's ASGI handler, with the middleware and the view run as one
synchronous call per request.

Every view here is synchronous (the health check excepted, which Django
runs in the request's thread). Django's ASGI handler runs each middleware's
`process_request` and `process_response` through `sync_to_async` when the
stack is loaded for async: two thread hand-offs per middleware, a couple of
dozen per request, which cost more CPU than most of our views. Loaded for
sync, the whole stack runs in the request's thread after one hand-off.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class SyncStackASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)
