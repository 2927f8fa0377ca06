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

The hand-offs: Django's `handle` goes to that thread three times per
request, for the `request_started` signal's receivers, for the middleware
and the view, and for the response's `close()` (the `request_finished`
signal). Each is a future, a wake-up of the thread and one of the event
loop, and copies of the context both ways. Here the three run in one call,
and the response is sent after it: a response already in memory no longer
needs anything of the request once it is closed. A streaming response
(a file, an export) is closed after it is sent, as Django does.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix

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

    async def handle(self, scope, receive, send):
        """`ASGIHandler.handle`, with one hand-off per request (see above).
        The browser leaving still cancels the request as in Django: the call
        in flight on the request's thread ends first (asgiref waits for it)."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        answered: list[HttpResponseBase] = []

        async def process_request() -> None:
            response = await sync_to_async(self.respond, thread_sensitive=True)(scope, body_file, answered)
            # The browser may leave while the answer is on its way.
            with contextlib.suppress(asyncio.CancelledError):
                await self.send_response(response, send)

        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task.done():
                    with contextlib.suppress(RequestAborted):
                        task.result()
                else:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        finally:
            if not answered or answered[0].streaming:
                await sync_to_async(self.finish, thread_sensitive=True)(answered)
            body_file.close()

    def respond(self, scope, body_file, answered: list[HttpResponseBase]) -> HttpResponseBase:
        """On the request's thread: the signal, the middleware and the view,
        and the response closed unless it streams. The response is put in
        `answered` here, so a request cancelled meanwhile still knows it."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        answered.append(response)
        if not response.streaming:
            response.close()
        return response

    def finish(self, answered: list[HttpResponseBase]) -> None:
        """On the request's thread, after `respond` (a request cancelled
        while its view ran gets here once the view is done): close a
        streamed response, or say the request finished if none was made."""
        if not answered:
            signals.request_finished.send(sender=self.__class__)
        elif answered[0].streaming:
            answered[0].close()
