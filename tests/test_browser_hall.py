"""Browser: a hall (deploy/hall.py) of two fronts behind a real HAProxy, runs on a two-node Ray
cluster's trainer pools, the store a SQLite file both fronts share. A learner trains; the front
serving their page is killed (SIGKILL, by PID); the page comes back through the balancer, on the
other front, showing the same run with its steps still rising."""
import os
import shutil
import time

import pytest

from conftest import step_count, wait_idle, wait_until

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
