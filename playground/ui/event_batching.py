"""Fewer wake-ups of Streamlit's event loop per page element (Streamlit 1.67's runtime).

Every element a script draws reaches the browser through the server's one event loop, and
Streamlit wakes that loop twice per element: the script thread schedules a callback for each
ScriptRunner event (a self-pipe write, `call_soon_threadsafe`), and that callback, on the loop,
schedules the loop's own flush the same way. Each write hands the GIL away and has to win it
back; in a room, 30 sessions' scripts, two trainers and the loop compete for it, so a Train
page's ~70 elements wait ~140 times. Here:

- a session's ScriptRunner events go into a queue of their own, and one callback handles all
  that are queued when it runs (in order), so a burst of elements is one wake-up;
- "there is something to send" is set directly when it is raised on the loop itself, and not
  at all while it is already set (the flush that clears it sends every queued message).

Measured with `python -m benchmarks.burst` (12 learners load /Train at once, then all press
Start, beside two runs training; Streamlit's own path and this one served side by side, taking
turns, 10-12 bursts each; three runs): a Start click answered in 0.89, 0.90 and 0.85 of the time
(lower in 7/10, 7/10, 9/12 bursts); page loads 0.96, 1.13 and 0.88 (no clear effect). Nothing
else changes: the same messages, in the same order.

`install()` does nothing (and says so in the log) where the Streamlit in use lacks what this
relies on; `tests/test_event_batching.py` fails first on such an upgrade.
"""
from __future__ import annotations

import asyncio
import collections
import logging

from streamlit.runtime.app_session import AppSession
from streamlit.runtime.runtime import Runtime

_log = logging.getLogger("playground")
# Streamlit's own functions, kept alive: a session created before install() has its ScriptRunner
# connected to the original method through a weak reference (blinker), which dies with the function
ORIGINALS = {(cls, name): getattr(cls, name, None) for cls, name in
             ((AppSession, "_on_scriptrunner_event"), (Runtime, "_enqueued_some_message"))}
RELIES_ON = {AppSession: ("_on_scriptrunner_event", "_handle_scriptrunner_event_on_event_loop",
                          "_call_soon_on_event_loop"),
             Runtime: ("_enqueued_some_message", "_get_async_objs")}
_QUEUE, _DUE = "_playground_events", "_playground_drain_due"


def on_scriptrunner_event(session, sender, event, **kwargs) -> None:
    """AppSession._on_scriptrunner_event (any thread): queue the event; schedule a drain unless
    one is due. The drain clears the flag before it reads the queue, so an event queued while
    it runs is either read by it or schedules the next one."""
    queue = session.__dict__.get(_QUEUE) or session.__dict__.setdefault(_QUEUE, collections.deque())
    queue.append((sender, event, kwargs))
    if not session.__dict__.get(_DUE):
        setattr(session, _DUE, True)
        session._call_soon_on_event_loop(lambda: drain(session))


def drain(session) -> None:
    """On the loop: handle every queued event in order. One that raises is reported as a failed
    callback would be, and the rest are still handled."""
    setattr(session, _DUE, False)
    queue = session.__dict__[_QUEUE]
    while queue:
        sender, event, kwargs = queue.popleft()
        try:
            session._handle_scriptrunner_event_on_event_loop(sender, event, **kwargs)
        except Exception as e:  # noqa: BLE001 - as asyncio reports an exception in a callback
            asyncio.get_running_loop().call_exception_handler(
                {"message": f"Exception handling the ScriptRunner event {event}", "exception": e})


def enqueued_some_message(runtime) -> None:
    """Runtime._enqueued_some_message (any thread): wake the loop's flush unless it is due."""
    objs = runtime._get_async_objs()
    if objs.need_send_data.is_set():
        return          # not yet cleared: the flush that clears it comes after, and sends this one
    try:
        on_loop = asyncio.get_running_loop() is objs.eventloop
    except RuntimeError:
        on_loop = False
    if on_loop:
        objs.need_send_data.set()
    else:
        objs.eventloop.call_soon_threadsafe(objs.need_send_data.set)


def install() -> bool:
    """Patch Streamlit's runtime (idempotent); False where this Streamlit lacks what it relies on."""
    missing = [f"{cls.__name__}.{name}" for cls, names in RELIES_ON.items() for name in names
               if not hasattr(cls, name)]
    if missing:
        _log.warning("Streamlit's event loop is woken per element (this Streamlit has no %s)", ", ".join(missing))
        return False
    AppSession._on_scriptrunner_event = on_scriptrunner_event
    Runtime._enqueued_some_message = enqueued_some_message
    return True
