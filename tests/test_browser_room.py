"""Browser: the instructor's Room with live learners on a fresh server (its run store on), and a
broadcast reaching a learner's page in another browser context, as plain text.

Every learner here comes from 127.0.0.1, one "client" for the fair share and its cap: the
cap is lifted. Learners: ROOM_TEST_LEARNERS (default 3, small for CI on 2 cores) simulated learners over
Streamlit's websocket protocol (benchmarks/st_client.py: they open /Train, press Start and
follow the page's live polling as a browser does), plus one learner in Chromium who names
herself. `ROOM_TEST_LEARNERS=30 python -m pytest -m browser tests/test_browser_room.py` is the
README's 30-learner figure."""
from __future__ import annotations

import asyncio
import os
import re
import threading
import time

import pytest

from conftest import screenshot, serve_app, wait_idle, wait_until

pytestmark = pytest.mark.browser
LEARNERS = int(os.environ.get("ROOM_TEST_LEARNERS", "3"))
KEY = "a long enough instructor key for the browser"
QUERY = "steps=50000&hidden_size=16&seq_len=16&batch_size=8"
NAME = "Ada <b>x</b>"
MESSAGE = "Now switch to GRU: https://example.org/gru *here*"


class Learners:
    """`n` simulated learners in a thread of their own: open /Train, press Start, keep polling."""

    def __init__(self, url: str, n: int):
        self.url, self.n = url, n
        self.started, self.stop = threading.Event(), threading.Event()
        self.problems: list[str] = []
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        from benchmarks.st_client import Session
        sessions = [Session(self.url, "Train", QUERY) for _ in range(self.n)]
        for s in sessions:             # one after another: a room arriving, not one burst
            await s.open()
            if not await s.click("Start"):
                self.problems.append("no Start button")
        self.started.set()
        while not self.stop.is_set():
            await asyncio.sleep(0.5)
        for s in sessions:
            await s.close()

    def __enter__(self) -> "Learners":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(30)


def metric(pg, label: str) -> str:
    box = pg.locator("[data-testid='stMetric']").filter(has_text=re.compile(f"^{label}")).first
    return box.locator("[data-testid='stMetricValue']").inner_text() if box.count() else ""


def test_the_room_shows_live_learners_and_a_broadcast_reaches_a_learner(browser):
    with serve_app({"PLAYGROUND_INSTRUCTOR_KEY": KEY, "PLAYGROUND_MAX_ACTIVE_PER_CLIENT": "1000"}) as url, Learners(url, LEARNERS) as learners:
        ada = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        ada.goto(f"{url}/Train?{QUERY}")
        wait_idle(ada)
        name = ada.get_by_role("textbox", name="Your name in the room (optional)")
        name.fill(NAME)
        name.press("Enter")
        wait_idle(ada)
        ada.get_by_role("button", name="Start", exact=True).click()
        assert learners.started.wait(60 + 10 * LEARNERS) and not learners.problems, learners.problems

        room = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
        room.goto(f"{url}/Room")
        wait_idle(room)
        room.get_by_role("textbox", name="Instructor key").fill(KEY)
        t0 = time.monotonic()
        room.get_by_role("button", name="Open the Room").click()
        room.get_by_text("The room at a glance").first.wait_for(timeout=60_000)
        wait_idle(room)
        shown = time.monotonic() - t0
        everyone = str(LEARNERS + 1)
        assert wait_until(lambda: metric(room, "learners") == everyone and metric(room, "runs") == everyone, 60), \
            (metric(room, "learners"), metric(room, "runs"))
        assert wait_until(lambda: int(metric(room, "training now") or 0) >= 1, 60)
        room.get_by_role("tab", name="Projector: one run").click()
        room.get_by_label("Run to show").click()
        assert room.get_by_role("option").filter(has_text=NAME + " · ").count() == 1   # her name, as typed
        room.keyboard.press("Escape")
        screenshot(room, f"room_{LEARNERS + 1}_learners")
        print(f"Room with {LEARNERS + 1} live learners: drawn {shown:.1f} s after the key "
              f"({room.get_by_text(re.compile(r'ms to build for')).first.inner_text()})")

        room.get_by_role("textbox", name="Message to every learner's page").fill(MESSAGE)
        room.get_by_role("button", name="Send to everyone").click()
        notice = ada.locator(".playground-broadcast").filter(has_text="Now switch to GRU")
        notice.first.wait_for(timeout=150_000)      # at the learner page's next poll (5 s here)
        assert "https://example.org/gru *here*" in notice.first.inner_text()          # as typed
        assert notice.first.locator("a").count() == 0                                  # not a link
        room.get_by_role("button", name="Clear the message").click()
        assert wait_until(lambda: notice.count() == 0, 150), "the cleared message stayed on the learner's page"
        ada.context.close()
        room.context.close()
