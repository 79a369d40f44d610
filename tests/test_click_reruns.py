"""How many script runs a Train click costs, on a real server, as a browser sends it
(benchmarks/st_client.py: a button drawn in a fragment reruns that fragment only).

A Start is one whole-page run (its buttons' fragment runs first and asks for it: the run it
makes changes the whole page). While the run trains, Pause/Resume and Stop are fragment runs,
the page not redrawn: in a room every whole-page run of /Train is ~50 ms of the GIL."""
from __future__ import annotations

import pytest

from benchmarks.st_client import Session
from conftest import run_async, serve_app

pytestmark = pytest.mark.load


async def _click(s: Session, label: str) -> int:
    """Click `label`, wait for its answer; the whole-page runs it caused."""
    before = len(s.script_runs)
    assert await s.click(label), f"no enabled {label} button"
    assert await s.wait_idle(60), f"{label} was not answered"
    return sum(1 for ids in s.script_runs[before:] if not ids)


def test_start_is_one_whole_page_run_and_pause_and_stop_are_fragment_runs():
    with serve_app() as url:
        async def main():
            s = Session(url, "Train", "steps=50000&hidden_size=16&seq_len=16&batch_size=8")
            await s.open()
            assert await _click(s, "Start") == 1
            assert s.script_runs[-1] == [], s.script_runs              # the page's run came last
            pause = s.page.find_shown("button", "Pause")
            assert pause is not None and pause.fragment_id != ""            # training: a fragment
            assert await _click(s, "Pause") == 0
            assert s.page.find("button", "Resume") is not None
            assert await _click(s, "Stop") == 0
            await s.close()
        run_async(main(), 120)
