"""Browser: a hall (deploy/hall.py) of two fronts behind a real HAProxy, runs on a two-node Ray
cluster's trainer pools, the store a SQLite file both fronts share. A learner trains; the front
serving their page is killed (SIGKILL, by PID); the page comes back through the balancer, on the
other front, showing the same run with its steps still rising. Then the Ray worker node is killed
(its raylet and every process under it): the runs it trained train again on the head node, and
their learners' pages say what happened."""
import asyncio
import contextlib
import os
import re
import shutil
import threading
import time

import pytest

from conftest import screenshot, step_count, wait_idle, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.ray]


@pytest.fixture(scope="module")
def hall():
    pytest.importorskip("ray", reason="ray is not installed: pip install -r requirements-dev.txt")
    if not shutil.which("haproxy") and not os.path.exists("/usr/sbin/haproxy"):
        pytest.skip("haproxy is not installed: apt-get install -y haproxy")
    from deploy.hall import Hall
    with Hall(fronts=2, backend="ray", database="sqlite", env={"PLAYGROUND_MAX_CONCURRENT": "2"}) as h:
        yield h


def serving_front(page, hall):
    """The front HAProxy's cookie sends this browser to."""
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "PLAYGROUND_FRONT")
    return hall.started[int(cookie.removeprefix("front"))]


def test_a_killed_front_s_learner_comes_back_through_the_balancer_with_the_run_still_training(hall, page):
    page.goto(f"{hall.url}/Train?steps=50000&hidden_size=32&cell=GRU")
    wait_idle(page)
    page.get_by_role("button", name="Start", exact=True).click()
    page.wait_for_selector("[data-testid='stMetric']", timeout=180_000)      # the first Start warms the pools
    assert wait_until(lambda: step_count(page) > 5, timeout=120)
    link = page.url
    assert "w=" in link
    front = serving_front(page, hall)
    before = step_count(page)

    hall.kill_front(front)                                                   # a crash, by PID
    killed_at = time.monotonic()
    # the page reconnects by itself; HAProxy sends it to the front that is still up (the only one)
    assert wait_until(lambda: step_count(page) > before + 10, timeout=90), (before, step_count(page))
    print(f"\nfront killed at step {before}; the page showed step {step_count(page)} through the other front "
          f"{time.monotonic() - killed_at:.1f} s later")
    assert front.proc.poll() is not None and sum(f.proc.poll() is None for f in hall.started) == 1
    after = step_count(page)
    assert wait_until(lambda: step_count(page) > after, timeout=30)          # still rising
    assert page.url.split("w=")[1].split("&")[0] == link.split("w=")[1].split("&")[0]   # the same link


@contextlib.contextmanager
def event_loop():
    """An asyncio loop in a thread; yields run(coroutine) -> its result."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield lambda coro, timeout=120: asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)
    finally:
        async def cancel_the_rest():           # sessions a failed test left open
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
        asyncio.run_coroutine_threadsafe(cancel_the_rest(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def test_a_killed_worker_node_s_runs_train_again_on_the_head_node(hall, page):
    """Learners over Streamlit's websocket protocol (benchmarks/st_client.py) through the balancer,
    until one run is on each node's pool (least loaded first: two learners do it); then the worker
    node dies. Its run resumes on the head's pool from its last checkpoint, the page says so, and
    the other run never stops."""
    from benchmarks.ray_backend import worker_raylets
    from benchmarks.st_client import Session
    from playground.store import RunStore

    store = RunStore.open(hall.database_url)
    worker = next(iter(worker_raylets(hall.ray_address)))

    def placement(learner) -> str:
        token = re.search(r"(?:^|&)w=([^&]+)", learner.query_string)
        runs = store.runs_of(token.group(1)) if token else []
        return (runs[0].placement or "") if runs else ""

    def steps(learner) -> int:
        return learner.page.step() or 0

    with event_loop() as run:
        learners = []
        for hidden in (16, 20, 24, 28):
            learner = Session(hall.url, "Train", f"steps=50000&hidden_size={hidden}&cell=GRU")
            run(learner.open())
            assert run(learner.click("Start")), learner.page.texts()
            learners.append(learner)
            assert wait_until(lambda: steps(learner) > 0 and placement(learner), 120), (learner.page.texts(), placement(learner))
            on_worker = [x for x in learners if placement(x).startswith(f"trainer-{worker[:8]}-")]
            if on_worker and len(on_worker) < len(learners):
                break
        elsewhere = [x for x in learners if x not in on_worker]
        assert on_worker and elsewhere, [placement(x) for x in learners]
        before = {id(x): steps(x) for x in learners}

        hall.kill_worker_node()
        killed_at = time.monotonic()
        moved = re.compile(r"stopped at step [\d,]+; the run was moved to another trainer and resumed from its last checkpoint")
        for learner in on_worker:
            assert wait_until(lambda: any(moved.search(t) for t in learner.page.texts()), 120), "\n".join(learner.page.texts())
            resumed = steps(learner)
            assert wait_until(lambda: steps(learner) > resumed, 60), "the moved run does not train on"
            assert not placement(learner).startswith(f"trainer-{worker[:8]}-")
        print(f"\nworker node killed; {len(on_worker)} run(s) on it training again on the head node "
              f"{time.monotonic() - killed_at:.1f} s later")
        page.goto(f"{hall.url}/Train?{on_worker[0].query_string}")    # the moved run's link, in Chromium
        wait_idle(page)
        page.get_by_text(moved).first.wait_for(timeout=60_000)
        screenshot(page, "hall_run_moved_off_a_dead_node")
        for learner in elsewhere:                                     # the head's runs never stopped
            assert steps(learner) > before[id(learner)]
            assert not any(moved.search(t) for t in learner.page.texts())
        for learner in learners:
            run(learner.close())
    store.close()
