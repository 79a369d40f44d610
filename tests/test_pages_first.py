"""Pages first (playground/pages_first.py): trainer threads hold back while a page's script
runs, within their share of wall time."""
from __future__ import annotations

import contextlib
import inspect
import threading
import time

from playground.pages_first import SCRIPT_THREAD, PagesFirst, scripts_running


@contextlib.contextmanager
def a_script_running():
    """A thread named as Streamlit names the one that runs a page's script, alive inside the block."""
    done = threading.Event()
    t = threading.Thread(target=done.wait, name=SCRIPT_THREAD, daemon=True)
    t.start()
    try:
        yield t
    finally:
        done.set()
        t.join()


def test_streamlit_still_names_its_script_thread_so():
    from streamlit.runtime.scriptrunner import script_runner
    assert f'name="{SCRIPT_THREAD}"' in inspect.getsource(script_runner.ScriptRunner.start)


def test_a_trainer_waits_until_the_script_run_ends():
    gate = PagesFirst(share=1.0, max_wait=30.0)
    assert not scripts_running() and gate.wait() == 0.0     # no page running: no wait
    with a_script_running() as script:
        waited = []
        waiter = threading.Thread(target=lambda: waited.append(gate.wait()))
        waiter.start()
        time.sleep(0.4)
        assert waiter.is_alive()                             # held back while the script runs
    waiter.join(10)
    assert not script.is_alive() and waited and waited[0] >= 0.35, waited


def test_a_trainer_waits_at_most_its_share_then_trains_on():
    gate = PagesFirst(share=0.25, max_wait=0.3)
    with a_script_running():
        first = gate.wait()
        assert 0.25 <= first < 5.0, first        # its whole budget (0.3 s), not the script's whole run
        since = time.perf_counter()
        second = gate.wait()                     # spent: the next step goes ahead (it refills at 0.25 s/s)
        assert second <= (time.perf_counter() - since) * 0.25 + 0.02, second
        time.sleep(0.4)
        assert 0.05 < gate.wait() <= 0.3


def test_each_trainer_thread_has_its_own_budget():
    gate = PagesFirst(share=0.25, max_wait=0.3)
    waits = []
    with a_script_running():
        threads = [threading.Thread(target=lambda: waits.append(gate.wait())) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(waits) == 2 and all(w >= 0.25 for w in waits), waits


def test_share_zero_never_waits():
    with a_script_running():
        assert PagesFirst(share=0.0).wait() == 0.0
