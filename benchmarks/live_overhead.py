"""Training throughput headless vs with the Train page open live in Chromium.

    python -m benchmarks.live_overhead [--steps 600] [--repeats 2] [--pin] [--page Hidden_states]

Headless: a Run from playground.runner trains in this process (same thread code as the app).
Live: a fresh `streamlit run app.py`, the Train page opened in headless Chromium with the same
settings in its URL, Start pressed, the page polling its charts every second until the run
finishes. Both report the run's own "tokens/s overall" (validation and samples included).
Runs alternate headless / live. Needs Debian's chromium and playwright.

--pin puts the server on CPU 0 and this process (so Chromium too, and the headless run) on
CPU 1: the browser then does not compete with training for a core, as when it runs on a
learner's own computer. Without --pin, browser and server share this machine's cores.
"""
from __future__ import annotations

import os
import argparse
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playground import corpora
from playground.config import ModelConfig, TrainConfig
from playground.runner import RunRegistry

ROOT = Path(__file__).resolve().parent.parent
OVERALL = re.compile(r"([\d,]+) tokens/s overall")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def headless(steps: int) -> float:
    run = RunRegistry(max_concurrent=1).create(ModelConfig(), TrainConfig(), corpora.load("brackets"), owner="bench")
    run.start(steps)
    run.join()
    return float(OVERALL.search(run.message).group(1).replace(",", ""))


IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def live(url: str, browser, steps: int, page_name: str = "Train") -> float:
    """Start on the Train page; watch the run on `page_name` (Train, or Hidden_states: the same
    link's workspace, so that page shows and probes the live run) until it finishes."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/Train?steps={steps}")
    page.wait_for_selector(IDLE, timeout=60_000)
    page.get_by_role("button", name="Start").click()
    page.get_by_text(re.compile(r"step [\d,]+ of")).first.wait_for(timeout=60_000)
    if page_name != "Train":
        token = re.search(r"[?&]w=([\w-]+)", page.url).group(1)
        page.goto(f"{url}/{page_name}?w={token}")
        page.get_by_text(re.compile(r"· (finished|stopped) ·")).first.wait_for(timeout=600_000)
        page.goto(f"{url}/Train?w={token}")
    message = page.get_by_text(re.compile("tokens/s overall"))
    message.wait_for(timeout=600_000)
    value = float(OVERALL.search(message.inner_text()).group(1).replace(",", ""))
    page.close()
    return value


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--port", type=int, default=8766)
    ap.add_argument("--pin", action="store_true", help="server on CPU 0, browser and headless run on CPU 1")
    ap.add_argument("--page", default="Train", choices=["Train", "Hidden_states"],
                    help="the page watched while the run trains (target: Train < 5 %%, Hidden_states < 10 %%)")
    args = ap.parse_args()
    prefix = ["taskset", "-c", "0"] if args.pin else []
    if args.pin:
        os.sched_setaffinity(0, {1})
    from playwright.sync_api import sync_playwright

    server = subprocess.Popen([*prefix, sys.executable, "-m", "streamlit", "run", "app.py", "--server.port",
                               str(args.port), "--server.address", "127.0.0.1", "--server.headless", "true"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            quiet, shown = [], []
            for _ in range(args.repeats):
                quiet.append(headless(args.steps))
                shown.append(live(url, browser, args.steps, args.page))
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    q, s = statistics.median(quiet), statistics.median(shown)
    where = "server on CPU 0, browser on CPU 1" if args.pin else "server and browser sharing 2 cores"
    print(f"default Train config (LSTM hidden_size=128, brackets), {args.steps} steps x {args.repeats}, {where}")
    print(f"headless run        : {q:10,.0f} tokens/s overall")
    target = "5%" if args.page == "Train" else "10%"
    print(f"{args.page} page open live: {s:10,.0f} tokens/s overall")
    print(f"cost of the live page: {1 - s / q:.1%} (target < {target})")


if __name__ == "__main__":
    main()
