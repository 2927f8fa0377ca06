"""The HTTP handler (cerveau/handler.py): each request's middleware and view
in one synchronous call, on a thread kept for the next request.

Driven through `cerveau.asgi.application` in this process, as daphne calls it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core import signals
from django.db import connection

from boards.models import Atelier
from cerveau.asgi import application, django_asgi_app
from cerveau.handler import RequestThreads

pytestmark = pytest.mark.django_db(transaction=True)


async def get(path: str, *, leaves_after: threading.Event | None = None, sent: list | None = None) -> int | None:
    """GET `path` as daphne would; with `leaves_after`, the browser goes away
    once that event is set (the view is running), before any answer. The
    messages sent are added to `sent`, if given."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    messages: list[dict] = [] if sent is None else sent
    answered = asyncio.Event()
    asked = False

    async def receive() -> dict:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if leaves_after is not None:
            while not leaves_after.is_set():
                await asyncio.sleep(0.01)
            return {"type": "http.disconnect"}
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            answered.set()

    await application(scope, receive, send)
    return messages[0]["status"] if messages else None


@pytest.fixture
def threads_seen(monkeypatch) -> list[int]:
    """The thread each request's middleware and view ran on."""
    seen: list[int] = []
    get_response = django_asgi_app.get_response

    def recording(request):
        seen.append(threading.get_ident())
        return get_response(request)

    monkeypatch.setattr(django_asgi_app, "get_response", recording)
    return seen


@pytest.fixture
def atelier_code(db) -> str:
    return Atelier.objects.create(title="Atelier du handler", territory="Charente", code="HDL234").code


async def test_requests_one_after_another_run_on_one_kept_thread(threads_seen, atelier_code):
    for _ in range(3):
        assert await get(f"/a/{atelier_code}/join/") == 200
    assert len(set(threads_seen)) == 1
    assert threads_seen[0] != threading.get_ident()  # never the event loop's


async def test_requests_at_once_each_have_a_thread_of_their_own(threads_seen, monkeypatch, atelier_code):
    """No queue behind a kept thread: two requests in flight, whose views wait
    for each other, both finish."""
    both_in = threading.Barrier(2)
    get_response = django_asgi_app.get_response

    def meeting(request):
        both_in.wait(timeout=10)
        return get_response(request)

    monkeypatch.setattr(django_asgi_app, "get_response", meeting)
    statuses = await asyncio.gather(get(f"/a/{atelier_code}/join/"), get(f"/a/{atelier_code}/join/"))
    assert statuses == [200, 200]


async def test_a_kept_thread_holds_no_database_connection_between_requests(atelier_code):
    assert await get(f"/a/{atelier_code}/join/") == 200
    kept = django_asgi_app.threads.idle[-1]  # the last given back
    assert kept.submit(lambda: connection.connection).result(timeout=10) is None


def test_only_a_few_idle_threads_are_kept():
    threads = RequestThreads(keep=2)
    taken = [threads.take() for _ in range(3)]
    for thread in taken:
        threads.give_back(thread)
    assert threads.idle == taken[:2]
    with pytest.raises(RuntimeError):
        taken[2].submit(print)


async def test_a_request_whose_browser_left_ends_after_its_view(monkeypatch, atelier_code):
    """A thread goes back to the pool when its request ends: that must be
    after the view, even when the browser went away while it ran (stuck, say,
    on the database), or the next request would queue behind it."""
    started = threading.Event()
    finished = threading.Event()
    get_response = django_asgi_app.get_response

    def slow(request):
        started.set()
        time.sleep(0.3)
        try:
            return get_response(request)
        finally:
            finished.set()

    monkeypatch.setattr(django_asgi_app, "get_response", slow)
    assert await get(f"/a/{atelier_code}/join/", leaves_after=started) is None
    assert finished.is_set()


class CountingExecutor(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.calls = 0

    def submit(self, *args, **kwargs):
        self.calls += 1
        return super().submit(*args, **kwargs)


@pytest.fixture
def signals_heard():
    """What the request signals said, in order."""
    heard: list[str] = []

    def started(**kwargs):
        heard.append("started")

    def finished(**kwargs):
        heard.append("finished")

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    yield heard
    signals.request_started.disconnect(started)
    signals.request_finished.disconnect(finished)


async def test_a_request_goes_to_its_thread_once(monkeypatch, signals_heard, atelier_code):
    """The started signal, the middleware and view, and the response's close
    (the finished signal) in one hand-off, not three."""
    executor = CountingExecutor()
    monkeypatch.setattr(django_asgi_app.threads, "take", lambda: executor)
    monkeypatch.setattr(django_asgi_app.threads, "give_back", lambda executor: None)
    try:
        assert await get(f"/a/{atelier_code}/join/") == 200
        assert executor.calls == 1
    finally:
        executor.shutdown()
    assert signals_heard == ["started", "finished"]


async def test_a_streamed_response_is_closed_after_it_was_sent(signals_heard):
    """A file is read while it is sent: its response is closed (and the
    finished signal sent) only after its last bytes."""
    sent: list[dict] = []
    sent_when_finished: list[int] = []

    def finished(**kwargs):
        sent_when_finished.append(len(sent))

    signals.request_finished.connect(finished)
    try:
        assert await get("/observatoire/donnees.schema.json", sent=sent) == 200
    finally:
        signals.request_finished.disconnect(finished)
    body = b"".join(message.get("body", b"") for message in sent[1:])
    assert body.startswith(b"{") and not sent[-1].get("more_body")
    assert signals_heard == ["started", "finished"]
    assert sent_when_finished == [len(sent)]


async def test_a_request_whose_browser_left_is_finished_once(monkeypatch, signals_heard, atelier_code):
    started = threading.Event()
    get_response = django_asgi_app.get_response

    def slow(request):
        started.set()
        time.sleep(0.2)
        return get_response(request)

    monkeypatch.setattr(django_asgi_app, "get_response", slow)
    assert await get(f"/a/{atelier_code}/join/", leaves_after=started) is None
    assert signals_heard == ["started", "finished"]
