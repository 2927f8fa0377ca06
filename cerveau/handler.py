"""Django's ASGI handler, with the middleware and the view run as one
synchronous call per request, on a thread kept for the next request.

Every view here is synchronous (the health check excepted, which Django
runs in the request's thread). Django's ASGI handler runs each middleware's
`process_request` and `process_response` through `sync_to_async` when the
stack is loaded for async: two thread hand-offs per middleware, a couple of
dozen per request, which cost more CPU than most of our views. Loaded for
sync, the whole stack runs in the request's thread after one hand-off.

That thread: Django gives each request a `ThreadSensitiveContext` of its
own, whose executor starts a new thread and stops it when the request ends.
A room tapping at once paid a thread's start and end per request. asgiref
lets the caller own a context's executor: requests here take a one-thread
executor from a pool and give it back, so the thread (and whatever Django
keeps per thread) serves the next request. Still one request at a time per
thread, each on its own: as many threads as requests in flight, no queue.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler

# Idle request threads kept per process; past this, a thread ends with its
# request as before. A process serves about this many requests at once.
KEEP_THREADS = 16


class RequestThreads:
    """One-thread executors for requests, kept for the next ones.

    A request comes back only once nothing runs on its thread: a request
    whose browser went away is cancelled, and asgiref then waits for the
    sync call in flight to end before the cancellation goes on
    (`SyncToAsync.__call__`), so Django's handler returns after its view.
    `tests/test_handler.py` fails if that changes."""

    def __init__(self, keep: int = KEEP_THREADS) -> None:
        self.keep = keep
        self.idle: list[ThreadPoolExecutor] = []
        self.lock = threading.Lock()

    def take(self) -> ThreadPoolExecutor:
        with self.lock:
            if self.idle:
                return self.idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def give_back(self, executor: ThreadPoolExecutor) -> None:
        with self.lock:
            if len(self.idle) < self.keep:
                self.idle.append(executor)
                return
        executor.shutdown(wait=False)


class SyncStackASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self.threads = RequestThreads()

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self.threads.take()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self.threads.give_back(executor)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)
