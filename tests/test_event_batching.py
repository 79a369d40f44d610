"""playground.ui.event_batching: every ScriptRunner event handled, in order, with far fewer
loop wake-ups; the flush flag set at once on the loop; installed on this Streamlit.

The sessions here are small stand-ins on a real asyncio loop in a thread of its own (the loop's
callbacks and the threads are real); real servers run the patch in every browser test and in
tests/test_workshop_tool.py."""
from __future__ import annotations

import asyncio
import threading
import types

import pytest
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.runtime import Runtime

from playground.ui import event_batching


class Loop:
    """A real asyncio loop running in a thread; counts callbacks scheduled from other threads."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.scheduled = 0
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call_soon_threadsafe(self, fn):
        self.scheduled += 1
        self.loop.call_soon_threadsafe(fn)

    def run(self, fn):
        """Run `fn` on the loop and wait for its result."""
        async def call():
            return fn()
        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(10)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Session:
    """What event_batching needs of an AppSession: schedule on the loop, handle an event."""

    def __init__(self, loop: Loop, fail_on=None):
        self.loop, self.fail_on, self.handled = loop, fail_on, []

    def _call_soon_on_event_loop(self, fn):
        self.loop.call_soon_threadsafe(fn)

    def _handle_scriptrunner_event_on_event_loop(self, sender, event, forward_msg=None):
        assert threading.current_thread() is self.loop.thread
        if event == self.fail_on:
            raise RuntimeError("a broken handler")
        self.handled.append((sender, event, forward_msg))


@pytest.fixture
def loop():
    lp = Loop()
    yield lp
    lp.close()


def test_a_burst_of_events_is_handled_in_order_with_few_wake_ups(loop):
    session = Session(loop)
    events = [("runner", f"event {i}", i) for i in range(3000)]

    def script():                      # as a script thread sends its elements
        for sender, event, msg in events:
            event_batching.on_scriptrunner_event(session, sender, event=event, forward_msg=msg)
    thread = threading.Thread(target=script)
    thread.start()
    thread.join(30)
    loop.run(lambda: None)             # everything scheduled before this has run
    assert session.handled == events
    assert loop.scheduled < len(events) / 3, loop.scheduled   # Streamlit's own path: one per event


def test_an_event_queued_while_the_loop_drains_is_handled(loop):
    session = Session(loop)
    started, release = threading.Event(), threading.Event()

    def slow_handler(sender, event, forward_msg=None):
        if event == "first":
            started.set()
            release.wait(10)           # the loop is inside the drain while the next event comes
        session.handled.append(event)
    session._handle_scriptrunner_event_on_event_loop = slow_handler
    event_batching.on_scriptrunner_event(session, "runner", event="first")
    assert started.wait(10)
    event_batching.on_scriptrunner_event(session, "runner", event="second")
    release.set()
    loop.run(lambda: None)
    loop.run(lambda: None)
    assert session.handled == ["first", "second"]


def test_a_failing_handler_does_not_lose_the_events_after_it(loop):
    session = Session(loop, fail_on="bad")
    errors = []
    loop.loop.set_exception_handler(lambda lp, context: errors.append(context["exception"]))
    for event in ("a", "bad", "c"):
        event_batching.on_scriptrunner_event(session, "runner", event=event)
    loop.run(lambda: None)
    assert [e for _, e, _ in session.handled] == ["a", "c"]
    assert len(errors) == 1 and "broken handler" in str(errors[0])


def test_the_flush_flag_is_set_directly_on_the_loop_and_once_from_elsewhere(loop):
    objs = types.SimpleNamespace(eventloop=loop.loop, need_send_data=loop.run(asyncio.Event))
    runtime = types.SimpleNamespace(_get_async_objs=lambda: objs)
    scheduled = []
    real = loop.loop.call_soon_threadsafe
    def counting(fn, *args, **kwargs):   # the flag's own wake-ups (loop.run schedules too)
        if fn == objs.need_send_data.set:
            scheduled.append(fn)
        return real(fn, *args, **kwargs)
    loop.loop.call_soon_threadsafe = counting

    loop.run(lambda: event_batching.enqueued_some_message(runtime))          # on the loop itself
    assert objs.need_send_data.is_set() and scheduled == []
    loop.run(objs.need_send_data.clear)
    for _ in range(5):                                                       # from a script thread
        event_batching.enqueued_some_message(runtime)
    loop.run(lambda: None)
    assert objs.need_send_data.is_set()
    assert 1 <= len(scheduled) <= 5
    for _ in range(5):                                                       # already due: nothing
        event_batching.enqueued_some_message(runtime)
    assert len(scheduled) <= 5


def test_it_is_installed_on_this_streamlit():
    assert event_batching.install()
    assert AppSession._on_scriptrunner_event is event_batching.on_scriptrunner_event
    assert Runtime._enqueued_some_message is event_batching.enqueued_some_message
    for cls, names in event_batching.RELIES_ON.items():
        assert all(callable(getattr(cls, name)) for name in names)
