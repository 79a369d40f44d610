"""Seconds from `streamlit run app.py` to the home page's title drawn in Chromium, on a fresh
server each time (nothing imported or cached yet).

    python -m benchmarks.first_page [--servers 3] [--page ""]

Chromium (Debian's, headless, the flags of tests/conftest.py) is started first and kept; then
for each server: start the process, poll its health endpoint, open the page and wait for its
title (an h1) to be visible. The clock starts just before the process is spawned. `--page Train`
times a page that needs torch instead (it waits for the warm-up import). Median of `--servers`.

For scale, the same is timed, interleaved, for a one-line app (`st.title`) with this
project's .streamlit/config.toml: Streamlit's and Chromium's own floor on this machine, at
the same moment (`--no-floor` skips it). Target: Home <= 3 s.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, free_port, stop_process, wait_healthy  # noqa: E402

TARGET_S = 3.0




def floor_app(folder: Path) -> Path:
    """A one-line Streamlit app with this project's config, in `folder`."""
    (folder / "app.py").write_text('import streamlit as st\nst.title("Hello")\n')
    shutil.copytree(ROOT / ".streamlit", folder / ".streamlit", dirs_exist_ok=True)
    return folder


def time_one(browser, page_path: str, root: Path = ROOT) -> tuple[float, float]:
    """(seconds to healthy, seconds to the title visible), both from process start."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        wait_healthy(url, proc, every=0.05)
        healthy = time.perf_counter() - t0
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(f"{url}/{page_path}")
        page.wait_for_selector("[data-testid='stMain'] h1", state="visible", timeout=60_000)
        titled = time.perf_counter() - t0
        context.close()
        return healthy, titled
    finally:
        stop_process(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", type=int, default=3)
    ap.add_argument("--page", default="", help="URL path of the page to open ('' = Home)")
    ap.add_argument("--no-floor", action="store_true", help="skip the one-line app")
    args = ap.parse_args()
    name = args.page or "Home"
    times, floor = [], []
    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        for i in range(args.servers):
            healthy, titled = time_one(browser, args.page)
            times.append(titled)
            line = f"server {i + 1}: healthy after {healthy:.2f} s, {name} title drawn after {titled:.2f} s"
            if not args.no_floor:
                floor.append(time_one(browser, "", floor_app(Path(tmp)))[1])
                line += f"; one-line app {floor[-1]:.2f} s"
            print(line)
        browser.close()
    median = statistics.median(times)
    print(f"{name}: median {median:.2f} s over {args.servers} fresh servers (process start -> title)")
    if floor:
        print(f"one-line app: median {statistics.median(floor):.2f} s (Streamlit + Chromium floor, same run)")
    if not args.page:
        print(f"target <= {TARGET_S:g} s: {'met' if median <= TARGET_S else 'NOT met'}")

if __name__ == "__main__":
    main()
