"""Shared fixtures: a fresh `streamlit run app.py` server and a headless Chromium page.

Browser tests skip with a clear reason where Debian's Chromium is missing
(CI installs it with `apt-get install -y chromium`).
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

# Nothing a test runs writes into the repository or a real database: the app's run store (the
# registry playground.runner makes on import) lives in a throwaway folder for this session.
os.environ["PLAYGROUND_DATA_DIR"] = tempfile.mkdtemp(prefix="playground-test-data-")
os.environ.pop("PLAYGROUND_DATABASE_URL", None)
# No Ray call starts a Ray of its own here, as in a front (playground/ray_backend.py): a backend's
# watcher thread asking its pools after the session's Ray shut down gets an error, not a new Ray.
os.environ["RAY_ENABLE_AUTO_CONNECT"] = "0"

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
]
APP_IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def free_port() -> int:
    """A free localhost TCP port (for a fresh server; also used by benchmarks/)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90.0, every: float = 0.3) -> None:
    """Wait until the streamlit server at `url` answers /_stcore/health (raises if it exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(every)
    raise RuntimeError(f"the streamlit server was not healthy within {timeout:g} s")


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate a server this test started; kill it if it does not exit within `timeout`."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextlib.contextmanager
def serve_app(env: dict | None = None, port: int | None = None):
    """A freshly started `streamlit run app.py` on a free localhost port (or `port`); yields its
    base URL. Its run store is a fresh folder unless `env` names PLAYGROUND_DATA_DIR. Its output
    goes to tests/artifacts/streamlit-PORT.log."""
    port = port or free_port()
    env = {"PLAYGROUND_DATA_DIR": tempfile.mkdtemp(prefix="playground-server-data-"), **(env or {})}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / f"streamlit-{port}.log", "a")  # kept: the server's output, for debugging
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray with 2 CPUs for the `ray` tests, started once and shut down at the end."""
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install -r requirements-dev.txt")
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module", autouse=True)
def own_registry():
    """Each test module gets its own run registry (pages reach it through playground.ui), so no
    test sees another module's runs; the trainer threads are shared."""
    from playground import runner

    reg = runner.RunRegistry(scheduler=runner.SCHEDULER)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "REGISTRY", reg)
        yield reg
    for run in list(reg.runs.values()):
        reg.remove(run.run_id)


@pytest.fixture(scope="session")
def app_server():
    """One `streamlit run app.py` shared by the browser tests that need nothing special of it
    (a module that must open its first page on a fresh server defines its own). A link's runs
    are freed soon after its tab closes (grace 0.1 min), so one test's run does not train on
    under the next test."""
    with serve_app({"PLAYGROUND_GRACE_MINUTES": "0.1"}) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session; each test gets its own context (`page`)."""
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        reason = f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium`"
        if os.environ.get("CI"):
            pytest.fail(reason)  # in CI a missing browser is a broken install, not a skip
        pytest.skip(reason)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`-n 2 --dist loadgroup`, as CI runs the suite) two workers share the 2
    cores: the browser tests run one after another on one worker (each drives a server that
    trains and a Chromium that draws: two at once starve each other), the `ray` tests (a local
    cluster each) one after another on a worker, the `postgres` tests on one (one throwaway
    cluster); every other test goes to whichever worker is free."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if item.get_closest_marker("ray"):
            group = "ray"
        elif item.get_closest_marker("browser"):
            group = "browser"
        elif item.get_closest_marker("postgres"):
            group = "postgres"
        else:
            continue
        item.add_marker(pytest.mark.xdist_group(group))


def _source_times() -> dict[Path, float]:
    return {p: p.stat().st_mtime for p in [ROOT / "app.py", *ROOT.glob("pages/*.py"), *ROOT.glob("playground/**/*.py")]}


def pytest_sessionstart(session):
    session.config._playground_sources = _source_times()


def pytest_terminal_summary(terminalreporter, config):
    """Say so when app or playground sources changed while the tests ran: a module imported
    early is the old one and a page read later the new one, so failures may be version skew."""
    before = getattr(config, "_playground_sources", None)
    if before is None:
        return
    now = _source_times()
    changed = sorted(str(p.relative_to(ROOT)) for p in before.keys() | now.keys() if before.get(p) != now.get(p))
    if changed:
        terminalreporter.write_line(
            f"WARNING: {len(changed)} source file(s) changed while the tests ran ({', '.join(changed[:8])}"
            f"{', ...' if len(changed) > 8 else ''}): failures may mix old and new code; rerun them.", yellow=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can see whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def page(browser, request):
    """A new browser page, 1400x1000; closed after the test. When the test fails, the page's
    text is printed (CI shows it) and a screenshot is saved as tests/artifacts/FAILED-<test>.png."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    yield pg
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        with contextlib.suppress(Exception):
            print(f"--- page {pg.url} at failure ---\n{pg.locator('[data-testid=stApp]').inner_text(timeout=5_000)[:3000]}")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            pg.screenshot(path=ARTIFACTS / f"FAILED-{request.node.name}.png", timeout=10_000)
    context.close()


@contextlib.contextmanager
def trained_run(model_config, train_config, text: str, steps: int, owner: str = "test-owner"):
    """A registry run trained `steps` steps synchronously (no thread); removed afterwards."""
    from playground import runner

    REGISTRY = runner.REGISTRY
    run = REGISTRY.create(model_config, train_config, text, owner=owner)
    run.start(steps)
    assert run.join(120), "the trained_run fixture's run did not finish"
    try:
        yield run
    finally:
        REGISTRY.remove(run.run_id)


def free_app_runs() -> None:
    """Stop and remove every run of the app's registry (AppTest page tests share it)."""
    from playground import runner
    for run in list(runner.REGISTRY.runs.values()):
        run.stop()
        run.join(10)
        runner.REGISTRY.remove(run.run_id)


def open_page(page_path: str, run=None, query: dict | None = None):
    """AppTest of a page as a browser reaches it: through app.py (so page links resolve), with
    `run` as the session's active run and `query` as the URL's parameters."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(query or {})
    at.run()
    if run is not None:
        select_run(at, run)
    return at.switch_page(page_path).run()


def select_run(at, run) -> None:
    """Make `run` the AppTest session's shown run (its workspace is the session's link)."""
    from playground import runner

    at.session_state["owner_token"] = run.owner
    runner.REGISTRY.set_active(run.owner, run.run_id)


def wait_idle(pg, timeout: float = 60_000) -> None:
    """Wait until the Streamlit script run in `pg` has finished and drawn something (right after
    a page load the app reports "notRunning" before its first run has started)."""
    pg.wait_for_selector(APP_IDLE, timeout=timeout)
    pg.wait_for_selector("[data-testid='stMain'] [data-testid='stElementContainer']", timeout=timeout)
    pg.wait_for_timeout(300)
    pg.wait_for_selector(APP_IDLE, timeout=timeout)


def wait_until(predicate, timeout: float = 60.0, every: float = 0.25) -> bool:
    """Poll `predicate` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def step_count(pg) -> int:
    """The Train page's "step" metric (0 while it is not shown)."""
    metric = pg.locator("[data-testid='stMetric']").filter(has_text=re.compile(r"^step")).first
    if metric.count() == 0:
        return 0
    return int(metric.locator("[data-testid='stMetricValue']").inner_text().replace(",", ""))


def settled_step_count(pg, quiet: float = 3.0, timeout: float = 60.0) -> int:
    """The Train page's step count once it has not changed for `quiet` seconds (after Pause, the
    step in flight still lands, and the page shows it at its next poll)."""
    deadline = time.monotonic() + timeout
    value = step_count(pg)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = step_count(pg)
        if now == value:
            return value
        value = now
    raise AssertionError(f"the step count kept changing for {timeout:g} s")


def run_async(coro, timeout: float = 180):
    """Run a coroutine to its end on a loop in a thread of its own (the protocol client's tests):
    in the full suite the browser tests' playwright keeps an event loop in the main thread, where
    asyncio.run fails."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout)


def pause_and_check_it_holds(pg) -> int:
    """Press Pause on the Train page; once the step in flight has landed, no new step comes.
    Returns the step count it paused at. A count that "settled" may be a stale one: the page
    polls every second, but a read that a busy machine (or Ray pool) answers slowly leaves the
    step before on screen, so the step in flight and the one before it may appear once, later
    (seen under the two test workers' contention: settled at 44, then 46, after "Pausing at
    step 45"). A run that went on training makes a step or more every second here, so it keeps
    moving: two settled counts 3 s apart tell the two apart."""
    pg.get_by_role("button", name="Pause").click()
    pg.get_by_role("button", name="Resume").wait_for(timeout=15_000)
    paused_at = settled_step_count(pg)
    time.sleep(3)         # a negative can only be checked by watching for a while
    later = settled_step_count(pg)
    assert paused_at <= later <= paused_at + 2, f"a paused run went on training: {paused_at} -> {later}"
    return later


def train_until(pg, steps: int, timeout: float = 120.0) -> None:
    """Wait until the run on the Train page has trained at least `steps` steps."""
    assert wait_until(lambda: step_count(pg) >= steps, timeout), f"fewer than {steps} steps in {timeout:g} s"


def screenshot(pg, name: str) -> Path:
    """Save a full-page screenshot under tests/artifacts/ and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    # Streamlit scrolls inside its main area: grow the viewport to its height for the shot
    size = pg.viewport_size
    height = pg.evaluate("() => document.querySelector(\"[data-testid='stMain']\")?.scrollHeight || 0")
    if size and height > size["height"]:
        pg.set_viewport_size({"width": size["width"], "height": min(int(height), 8000)})
    pg.screenshot(path=str(path), full_page=True)
    if size:
        pg.set_viewport_size(size)
    return path
