"""The live view changes how often it polls without redrawing the whole page (playground/ui/live.py,
playground/ui/retime.py), on a real server, as a browser follows it (benchmarks/st_client.py keeps
one timer per fragment and replaces it when an `auto_rerun` message brings another interval, as
Streamlit's frontend does).

In a workshop's arrival ramp every whole-page run of /Train is ~50 ms of the one GIL; a page used
to redraw whole when its run's first step came and whenever the room grew enough to change the
refresh budgets' intervals."""
from __future__ import annotations

import asyncio
import tempfile
import time

import pytest

from benchmarks.st_client import Session
from conftest import run_async, serve_app
from playground.store import RunStore
from playground.ui import notice

pytestmark = pytest.mark.load

# A first step that takes a while (~0.1-0.5 s here): the Start's own run ends before it
SLOW_FIRST_STEP = "steps=50000&cell=LSTM&hidden_size=256&batch_size=64&seq_len=64"
SMALL = "steps=50000&hidden_size=8&seq_len=8&batch_size=4"


async def until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


def whole_page_runs(s: Session, since: int) -> int:
    return sum(1 for ids in s.script_runs[since:] if not ids)


async def pause(s: Session) -> None:
    """Pause, and wait for the page to redraw with the Resume button (its progress poll sees the
    status change and redraws the page)."""
    since = len(s.script_runs)
    assert await s.click("Pause") and await s.wait_idle(60)
    assert await until(lambda: whole_page_runs(s, since) >= 1 and s.idle.is_set(), 30), s.script_runs[since:]
    assert s.page.find("button", "Resume") is not None


def test_the_first_step_shows_without_a_whole_page_run():
    with serve_app() as url:
        async def main():
            s = Session(url, "Train", SLOW_FIRST_STEP)
            await s.open()
            assert await s.click("Start") and await s.wait_idle(60)
            assert not s.page.step(), "the first step came before the Start's run ended: nothing awaited"
            since = len(s.script_runs)
            assert await until(lambda: (s.page.step() or 0) >= 1, 60), "the first step never showed"
            first = s.page.step()
            assert await until(lambda: (s.page.step() or 0) > first, 60)   # and it goes on polling
            assert whole_page_runs(s, since) == 0, s.script_runs[since:]
            assert len(s.script_runs) > since + 1                            # polls: fragment runs
            await s.close()
        run_async(main())


def test_a_growing_room_slows_the_polls_without_redrawing_pages():
    """Paused runs are live (the pages poll) and cost no training: seven pages of them make the
    refresh budgets' intervals grow over 2x; the first page's fragments are retimed in place (a
    fragment's interval moves when either budget's moved over 2x)."""
    with serve_app({"PLAYGROUND_MAX_ACTIVE_PER_CLIENT": "10"}) as url:
        async def main():
            first = Session(url, "Train", SMALL)
            await first.open()
            assert await first.click("Start") and await first.wait_idle(60)
            await pause(first)
            intervals = {fid: i for fid, (i, _) in first.timers.items()}
            since = len(first.script_runs)
            room = [Session(url, "Train", SMALL) for _ in range(6)]
            for s in room:
                await s.open()
                assert await s.click("Start") and await s.wait_idle(60)
                await pause(s)

            def slowed() -> list[str]:   # fragments now polled over 1.4x less often than alone
                return [fid for fid, (i, _) in first.timers.items() if i > 1.4 * intervals.get(fid, i)]
            assert await until(slowed, 60), (intervals, first.timers)
            assert whole_page_runs(first, since) == 0, first.script_runs[since:]
            for s in [first, *room]:
                await s.close()
        run_async(main())


def test_a_live_page_checks_for_the_broadcast_at_its_own_polls():
    """Train's live view checks for the instructor's message at its progress polls, so the
    notice's own timer slows to QUIET_SECONDS (in a workshop the notice's polls were ~40 % of all
    the pages' reruns); a message posted then reaches the page at a progress poll, and a clear
    takes it away."""
    data = tempfile.mkdtemp(prefix="playground-notice-")
    with serve_app({"PLAYGROUND_DATA_DIR": data}) as url:
        async def main():
            s = Session(url, "Train", SMALL)
            await s.open()
            assert await s.click("Start") and await s.wait_idle(60)
            assert await until(lambda: notice.QUIET_SECONDS in [i for i, _ in s.timers.values()], 30), s.timers
            store = RunStore.open(data_dir=data)

            def shown() -> bool:
                return any("Switch to the GRU now" in t for t in s.page.texts())
            store.add_broadcast("Switch to the GRU now")
            assert await until(shown, 30), s.page.texts()          # the notice's own timer is 2 minutes
            store.add_broadcast("")                            # the instructor clears it
            assert await until(lambda: not shown(), 30)
            assert notice.QUIET_SECONDS in [i for i, _ in s.timers.values()], s.timers   # quiet again
            store.close()
            await s.close()
        run_async(main())
