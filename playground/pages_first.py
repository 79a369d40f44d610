"""Pages first: while a page's script runs in this process, trainer threads wait between steps.

A learner waits on every script run of a page (a load, a click, a live poll); nobody waits on
one training step. On a busy server they compete for the GIL: torch releases it inside its ops,
but a small model's step is mostly Python, so a 0.1 s rerun took 1-2 s while two trainer threads
ran (the workshop benchmark: 30 learners, 2 cores). So before each step a trainer thread holds
back while any script runs, for at most `share` of its wall time (a budget per thread that
refills at `share` seconds per second, up to `max_wait`): a room polling without pause slows
training by at most that share, never stops it.

Streamlit runs each session's script in a thread it names "ScriptRunner.scriptThread", alive
while a run (or a rerun queued behind it) is in flight; a process without Streamlit (a Ray
trainer pool) never has one, and its trainers never wait.

    PAGES_FIRST.wait()    # a trainer thread, before each step
"""
from __future__ import annotations

import os
import threading
import time

SCRIPT_THREAD = "ScriptRunner.scriptThread"   # streamlit/runtime/scriptrunner/script_runner.py


def scripts_running() -> bool:
    """Is any page's script running in this process now?"""
    return any(t.name == SCRIPT_THREAD for t in threading.enumerate())


class PagesFirst:
    def __init__(self, share: float, max_wait: float = 0.2, poll: float = 0.002):
        self.share, self.max_wait, self.poll = max(0.0, min(float(share), 1.0)), max_wait, poll
        self._budget = threading.local()   # per trainer thread: [seconds it may still wait, as of when]

    def wait(self) -> float:
        """Wait while a page's script runs, within this thread's budget; returns the seconds waited."""
        if self.share <= 0:
            return 0.0
        now = time.perf_counter()
        left, since = getattr(self._budget, "state", (self.max_wait, now))
        left = min(self.max_wait, left + (now - since) * self.share)
        start = now
        while now - start < left and scripts_running():
            time.sleep(self.poll)
            now = time.perf_counter()
        waited = now - start
        self._budget.state = (max(0.0, left - waited), now)
        return waited


PAGES_FIRST = PagesFirst(float(os.environ.get("PLAYGROUND_PAGES_FIRST_SHARE", "0.3")))
