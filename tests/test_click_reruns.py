"""How many script runs a Train click costs, on a real server, as a browser sends it
(benchmarks/st_client.py: a button drawn in a fragment reruns that fragment only).

Start with no run on screen is one whole-page run (it was a fragment run and then the page's:
in a room's arrival ramp every Start paid for both). While the run trains, Pause/Resume are a
fragment run, the page not redrawn."""
from __future__ import annotations

import asyncio

import pytest

from benchmarks.st_client import Session
from conftest import serve_app

pytestmark = pytest.mark.load


class Runs:
    """The script runs a session's server started (each begins with a new_session message):
    the fragment ids of each, [] for a whole-page run."""

    def __init__(self, session: Session):
        self.seen: list[list[str]] = []
        handle = session._handle

        def counting(msg):
            if msg.WhichOneof("type") == "new_session":
                self.seen.append(list(msg.metadata.run.fragment_ids))
            handle(msg)
        session._handle = counting

    def whole_page(self, since: int) -> int:
        return sum(1 for ids in self.seen[since:] if not ids)


async def _click(s: Session, runs: Runs, label: str) -> int:
    """Click `label`, wait for its answer; the whole-page runs it caused."""
    before = len(runs.seen)
    assert await s.click(label), f"no enabled {label} button"
    assert await s.wait_idle(60), f"{label} was not answered"
    return runs.whole_page(before)


def test_start_is_one_whole_page_run_and_pause_a_fragment_run():
    with serve_app() as url:
        async def main():
            s = Session(url, "Train", "steps=50000&hidden_size=16&seq_len=16&batch_size=8")
            runs = Runs(s)
            await s.open()
            assert s.page.find_shown("button", "Start").fragment_id == ""   # no run: not a fragment
            assert await _click(s, runs, "Start") == 1
            assert runs.seen[-1] == [], runs.seen                           # and nothing before it
            pause = s.page.find_shown("button", "Pause")
            assert pause is not None and pause.fragment_id != ""            # training: a fragment
            assert await _click(s, runs, "Pause") == 0
            assert s.page.find("button", "Resume") is not None
            assert await _click(s, runs, "Stop") == 0
            await s.close()
        asyncio.run(main())
