"""The Train page through a Ray cluster outage, in headless Chromium, with screenshots:

    RAY_AUTH_MODE=token python -m benchmarks.outage_page

Starts a one-node Ray cluster (`ray start --head`, its own temp dir), a `streamlit run app.py`
joined to it (PLAYGROUND_BACKEND=ray, RAY_ADDRESS), opens /Train in Chromium and presses Start;
once the run trains, kills the cluster (by PID), waits for the page to say "cannot be reached"
(screenshot tests/artifacts/ray_cluster_unreachable.png), starts a head again on the same port and
waits for the page's recovery note (ray_cluster_back.png). Prints how long each took.
tests/test_ray_outage.py checks the same without a browser.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from benchmarks.ray_backend import free_port, ray_start, stop_by_temp_dir  # noqa: E402
from conftest import CHROMIUM, CHROMIUM_ARGS, screenshot, serve_app, step_count, wait_idle  # noqa: E402

TOKEN = {"RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token")}


def main() -> None:
    from playwright.sync_api import sync_playwright
    port, temps = free_port(), [tempfile.mkdtemp(prefix="rb", dir="/tmp") for _ in range(2)]
    ray_start(port, temps[0], TOKEN)
    try:
        env = {"PLAYGROUND_BACKEND": "ray", "RAY_ADDRESS": f"127.0.0.1:{port}", **TOKEN}
        with serve_app(env) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(f"{url}/Train?steps=50000&hidden_size=32&cell=GRU")
            wait_idle(page)
            page.get_by_role("button", name="Start", exact=True).click()
            deadline = time.monotonic() + 180
            while step_count(page) < 30 and time.monotonic() < deadline:
                time.sleep(0.5)
            print(f"training: step {step_count(page)}", flush=True)
            killed = time.monotonic()
            stop_by_temp_dir(temps[0])                   # SIGTERM, then SIGKILL: ~4 s
            page.get_by_text(re.compile("cannot be reached")).first.wait_for(timeout=60_000)
            print(f"the page said the cluster cannot be reached {time.monotonic() - killed:.1f} s after the kill began")
            screenshot(page, "ray_cluster_unreachable")
            ray_start(port, temps[1], TOKEN)
            back = time.monotonic()
            page.get_by_text(re.compile("could not be reached for")).first.wait_for(timeout=180_000)
            print(f"the page said the run resumed {time.monotonic() - back:.1f} s after the cluster was back")
            time.sleep(3)
            screenshot(page, "ray_cluster_back")
            browser.close()
    finally:
        for temp in temps:
            stop_by_temp_dir(temp)


if __name__ == "__main__":
    main()
