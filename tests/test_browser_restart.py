"""A server killed with SIGKILL and started again on the same data folder and port: the same link
shows its run, and the run trains on without a click."""
import os
import re
import signal
import subprocess
import sys

import pytest

from conftest import ARTIFACTS, ROOT, free_port, step_count, stop_process, wait_healthy, wait_idle, wait_until

pytestmark = pytest.mark.browser


def start_server(port: int, data_dir) -> subprocess.Popen:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / f"streamlit-restart-{port}.log", "a")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PLAYGROUND_DATA_DIR": str(data_dir)})
    wait_healthy(f"http://127.0.0.1:{port}", proc)
    return proc


def test_a_killed_server_comes_back_with_the_run_training(page, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = start_server(port, tmp_path)
    try:
        page.goto(f"{url}/Train?steps=50000&hidden_size=32&cell=GRU")
        wait_idle(page)
        page.get_by_role("button", name="Start", exact=True).click()
        assert wait_until(lambda: step_count(page) > 30)
        link = page.url
        assert re.search(r"[?&]w=", link)
    finally:
        first.send_signal(signal.SIGKILL)       # no clean shutdown: nothing is flushed on the way out
        first.wait(30)

    second = start_server(port, tmp_path)
    try:
        page.goto(link)
        wait_idle(page)
        assert page.get_by_text("not on this server any more").count() == 0
        assert wait_until(lambda: step_count(page) > 0, timeout=60), "the link does not show its run"
        before = step_count(page)
        assert wait_until(lambda: step_count(page) > before + 10, timeout=60), "the run does not train on"
    finally:
        stop_process(second)
