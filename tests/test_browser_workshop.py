"""Browser: a room on one server — runs take turns, belong to their link, survive a reload."""
import re
import time

import pytest

from conftest import ARTIFACTS, screenshot, serve_app, wait_idle

pytestmark = pytest.mark.browser
TRAINING = re.compile(r"Training · step ([\d,]+)")


def progress_step(tab) -> int:
    text = tab.get_by_text(TRAINING).first.inner_text(timeout=30_000)
    return int(TRAINING.search(text).group(1).replace(",", ""))


def rises(tab, timeout: float = 60.0) -> bool:
    """The run shown in `tab` is training and its step count goes up."""
    first = progress_step(tab)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if progress_step(tab) > first:
            return True
        time.sleep(0.5)
    return False


def open_tab(browser, url):
    tab = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    tab.goto(url)
    wait_idle(tab)
    return tab


def test_runs_take_turns_and_belong_to_their_link(browser):
    with serve_app({"PLAYGROUND_MAX_CONCURRENT": "1"}) as url:
        first = open_tab(browser, f"{url}/Train?steps=50000&hidden_size=32")
        first.get_by_role("button", name="Start", exact=True).click()
        assert rises(first)
        second = open_tab(browser, f"{url}/Train?steps=50000&hidden_size=24")
        second.get_by_role("button", name="Start", exact=True).click()
        assert rises(second) and rises(first)        # one trainer thread, both runs move
        # two links from this machine are two people (no address on localhost: clients.py): one each
        second.get_by_text(re.compile(r"2 people are training, .*your run has your part \(~0\.5 cores?\); "
                                      r"this run gets ~1/2 of a core")).wait_for(timeout=30_000)
        screenshot(second, "workshop_turns")
        second.context.close()      # its run trains on; a page drawn live costs Chromium CPU this test needs

        assert "w=" in first.url
        first.reload()                                 # a reload: the same run, still training
        wait_idle(first)
        assert rises(first)
        # A second browser opening the link watches read-only, then takes control:
        # test_browser_responsive. A page without the link shows nothing of anybody's (AppTest):
        # test_bad_input::test_a_learners_link_shows_their_run_and_a_fresh_page_shows_nothing.
        first.context.close()


def test_closing_the_last_tab_keeps_the_run_for_the_grace_period_then_frees_it(browser):
    with serve_app({"PLAYGROUND_GRACE_MINUTES": "0.1"}) as url:   # 6 s
        log = ARTIFACTS / f"streamlit-{url.rsplit(':', 1)[1]}.log"
        tab = open_tab(browser, f"{url}/Train?steps=50000&hidden_size=32")
        tab.get_by_role("button", name="Start", exact=True).click()
        assert rises(tab)
        tab.context.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "last viewer left" not in log.read_text():
            time.sleep(0.5)
        assert "last viewer left; its 1 run(s) are kept for 0.1 min" in log.read_text()
        deadline = time.monotonic() + 40
        freed = "1 run(s) unloaded from memory (kept in the run store)"   # serve_app gives it a store
        while time.monotonic() < deadline and freed not in log.read_text():
            time.sleep(0.5)
        assert freed in log.read_text()
