"""Workshop load test: N learners on one fresh server, each pressing Start on /Train.

    python -m benchmarks.workshop --sessions 30 --seconds 120 [--rounds 3] [--env K=V ...]

Starts `streamlit run app.py` on a free port of 127.0.0.1 (environment passed through, plus
every --env), then drives learners over Streamlit's own websocket protocol
(benchmarks/st_client.py: a few % of a core for 30 learners, so the figures are the server's):

1. baseline: --baseline-sessions learners (2) alone for --baseline-seconds (20), with
   steps=20000 added to the URL so their runs cannot finish inside the window;
2. --rounds main phases: --sessions learners open /Train?<--query> within --ramp-seconds,
   press Start, follow the page's live polling (auto_rerun) like the browser, and every
   ~--toggle-every seconds press Pause then Resume or move lr to a neighbouring value;
   --seconds after the last learner pressed Start they press Stop and close their tabs, spread
   over --ramp-seconds as they arrived;
   --settle-seconds later the server's RSS and threads are read ("after");
3. the baseline again, on the same server: the rounds are compared with the one before; the
   one after says how far the server (or the machine) drifted meanwhile.

A first page load (imports, corpus cache) comes before everything, so the phases measure
a warm server.

Printed per phase: learners whose run progressed (the page's step went above 0), seconds
from Start to the first step shown (p50/max; resolution: the page's 1 s polling), rerun
latency p50/p95 (a rerun sent -> its script_finished), aggregate tokens/s (the sum of each
page's step rate x batch_size x seq_len, over the window from the last Start to the page's
last poll in it; compared with the baseline before), exceptions (exception elements and
error boxes naming an Error or a Traceback), dropped websockets; server RSS/threads (from /proc/<pid>/status) at start, before
the first round, peak and after each round; and the server log's tracebacks. The last line
of output is the whole result as one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.st_client import Session

ROOT = Path(__file__).resolve().parent.parent
PAGE = "Train"
LR_LABEL = "lr (learning rate)"
SAFE_LRS = (1e-3, 3e-3, 1e-2)  # lr moves stay where the default run does not diverge


# ---------------------------------------------------------------- the server process

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(env_pairs: list[str], log_path: Path, app_dir: Path = ROOT):
    """A fresh `streamlit run app.py` (in `app_dir`) on a free port; yields (url, pid)."""
    port = free_port()
    env = {**os.environ, **dict(p.split("=", 1) for p in env_pairs)}
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode} before it was healthy")
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the server was not healthy within {timeout:.0f} s")


def proc_status(pid: int) -> tuple[float, int]:
    """(RSS in MB, number of threads) of a process, from /proc/<pid>/status."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"])


def read_stat(path: Path) -> tuple[str, float, str]:
    """(name, user + system CPU seconds, start time) from a /proc stat file (a process's or a
    thread's)."""
    name, rest = path.read_text().split("(", 1)[1].rsplit(")", 1)
    f = rest.split()
    return name, (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK"), f[19]


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used, from /proc/<pid>/stat."""
    return read_stat(Path(f"/proc/{pid}/stat"))[1]


TRAINER_THREAD = "sched-"   # playground/scheduler.py names its worker threads sched-N


def thread_cpu_seconds(pid: int, prefix: str) -> dict[tuple[int, str], float]:
    """{(thread id, its start time): user + system CPU seconds} of the process's threads whose
    name starts with `prefix`, from /proc/<pid>/task/*/stat (a thread that has ended is gone)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name, cpu, started = read_stat(task / "stat")
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue   # ended while we read
        if name.startswith(prefix):
            out[(int(task.name), started)] = cpu
    return out


class Monitor:
    """Samples the server's RSS and threads, and its trainer threads' CPU, twice a second."""

    def __init__(self, pid: int):
        self.pid, self.samples = pid, []  # (time, rss_mb, threads)
        self._trainers: dict = {}         # every trainer thread seen: its CPU seconds when last read

    def sample(self) -> tuple[float, int]:
        rss, threads = proc_status(self.pid)
        self.samples.append((time.monotonic(), rss, threads))
        self._trainers.update(thread_cpu_seconds(self.pid, TRAINER_THREAD))
        return rss, threads

    def trainer_cpu_seconds(self) -> float:
        """CPU seconds of every trainer thread seen so far, read now (a thread that ended keeps
        its last reading: it loses at most the half second before it ended, and trainer threads
        live for as long as runs train)."""
        self.sample()
        return sum(self._trainers.values())

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.5)

    def peak(self, since: float) -> tuple[float, int]:
        inside = [s for s in self.samples if s[0] >= since] or self.samples[-1:]
        return max(s[1] for s in inside), max(s[2] for s in inside)


# ---------------------------------------------------------------- one learner

@dataclass
class Learner:
    index: int
    session: Session
    load_seconds: float | None = None
    start_time: float | None = None       # when Start was sent (monotonic)
    dropped_step: int | None = None       # the step its page showed when its websocket dropped
    back_seconds: float | None = None     # a front killed -> the page showing its run again (rejoin)
    drops: int = 0
    first_step_seconds: float | None = None
    tokens_per_step: int = 0               # batch_size x seq_len the page shows
    toggles: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def note_first_step(self) -> None:
        if self.first_step_seconds is None and self.start_time is not None:
            for t, step in self.session.step_samples:
                if t >= self.start_time and step > 0:
                    self.first_step_seconds = t - self.start_time
                    return

    @property
    def final_step(self) -> int:
        after = [s for t, s in self.session.step_samples if self.start_time and t >= self.start_time]
        return max(after, default=0)


class Clock:
    """The phase ends `seconds` after the last learner pressed Start (or gave up): the window
    its figures are measured over. Then the learners press Stop and leave spread over `ramp`
    seconds, in the order and at the pace they arrived (a room stopping, not one 30-click burst
    in 0.25 s). `rejoin`: a learner whose websocket drops connects again, as Streamlit's page
    does (`killed_at`: when a front was killed, what their time back is counted from)."""

    def __init__(self, learners: int, seconds: float, rejoin: bool = False, ramp: float = 0.0):
        self.waiting, self.seconds, self.end = set(range(learners)), seconds, float("inf")
        self.rejoin, self.killed_at = rejoin, None
        self.spacing = ramp / max(learners - 1, 1)     # s between two learners arriving, and leaving

    def arrived(self, learner: Learner) -> None:
        """`learner` pressed Start or gave up (idempotent)."""
        if learner.index in self.waiting:
            self.waiting.discard(learner.index)
            if not self.waiting:
                self.end = time.monotonic() + self.seconds

    def running(self) -> bool:
        return time.monotonic() < self.end

    def staying(self, learner: Learner) -> bool:
        """Is `learner` still in the room (the window, then its turn to leave)?"""
        return time.monotonic() < self.end + learner.index * self.spacing


async def learn(learner: Learner, delay: float, clock: Clock, toggle_every: float, rng: random.Random) -> None:
    """Open /Train, press Start, follow the live page, toggle now and then; Stop at the end."""
    await asyncio.sleep(delay)
    s = learner.session
    try:
        learner.load_seconds = await s.open()
    except Exception as e:  # a refused or failed connection is a finding, not a crash
        learner.problems.append(f"could not open the page: {type(e).__name__}: {e}")
        clock.arrived(learner)
        return
    try:
        await follow(learner, clock, toggle_every, rng)
    except Exception as e:  # e.g. the server closed the socket mid-click: a finding, not a crash
        learner.problems.append(f"{type(e).__name__}: {e}")
    finally:
        clock.arrived(learner)
        await s.close()


async def follow(learner: Learner, clock: Clock, toggle_every: float, rng: random.Random) -> None:
    """Press Start, follow the live page, toggle now and then; press Stop at the end."""
    s = learner.session
    await press_start(learner)
    clock.arrived(learner)
    next_toggle = time.monotonic() + rng.uniform(0.5, 1.5) * toggle_every
    while clock.staying(learner):
        if s.dropped is not None:
            learner.drops += 1
            if not clock.rejoin or learner.drops > 1:
                break
            s = await rejoin(learner, clock)
            continue
        await asyncio.sleep(0.25)
        learner.note_first_step()
        if toggle_every and time.monotonic() >= next_toggle and clock.running():
            await toggle(learner, rng, clock.end)
            next_toggle = time.monotonic() + rng.uniform(0.5, 1.5) * toggle_every
    learner.note_first_step()
    await s.wait_idle(15)
    if s.dropped is None and s.page.find("button", "Stop") is not None:
        await s.click("Stop")  # free the run: the next phase measures the server without it
        await s.wait_idle(15)


async def rejoin(learner: Learner, clock: Clock, timeout: float = 60.0) -> Session:
    """As Streamlit's page does when its websocket drops: connect again with the same URL (its
    link; through a balancer, to a front that is up), once a second until one answers. The
    learner is back when the page shows its run's steps again, at least where they were."""
    old = learner.session
    learner.dropped_step = old.page.step() or 0
    since = clock.killed_at or time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = Session(old.base_url, PAGE, old.query_string)
        try:
            await new.open(timeout=10)
        except Exception:  # noqa: BLE001 - refused while the balancer notices: try again
            await new.close()
            await asyncio.sleep(1)
            continue
        new.step_samples[:0], new.rerun_seconds[:0] = old.step_samples, old.rerun_seconds
        new.page.errors[:0] = old.page.errors
        learner.session = new
        while time.monotonic() < deadline and new.dropped is None:
            if (new.page.step() or 0) >= max(learner.dropped_step, 1):
                learner.back_seconds = time.monotonic() - since
                break
            await asyncio.sleep(0.25)
        return new
    return old


async def press_start(learner: Learner) -> None:
    s = learner.session
    if s.page_not_found:
        learner.problems.append(f"page {PAGE} not found")
    batch_size, seq_len = s.page.number("batch_size"), s.page.number("seq_len")
    learner.tokens_per_step = int(batch_size or 0) * int(seq_len or 0)
    learner.start_time = time.monotonic()
    if not await s.click("Start"):
        learner.start_time = None
        learner.problems.append("no enabled Start button on the page")


async def toggle(learner: Learner, rng: random.Random, end: float) -> None:
    """Pause, wait 2-5 s, Resume; or move lr to a neighbouring safe value. Counts what the
    page then shows (the button turned to Resume, and back to Pause; the new lr)."""
    s = learner.session
    if not await s.wait_idle(15):
        return
    if rng.random() < 0.5:
        await pause_resume(learner, rng, end)
    else:
        await change_lr(learner, rng)


async def pause_resume(learner: Learner, rng: random.Random, end: float) -> None:
    s = learner.session
    if not await s.click("Pause"):
        learner.toggles["pause unavailable"] += 1
        return
    learner.toggles["pause"] += 1
    await s.wait_idle(15)
    learner.toggles["pause shown"] += s.page.find("button", "Resume") is not None   # the click's own answer
    await asyncio.sleep(min(rng.uniform(2, 5), max(end - time.monotonic(), 0)))
    await s.wait_idle(15)
    if await s.click("Resume"):
        learner.toggles["resume"] += 1
        await s.wait_idle(15)
        learner.toggles["resume shown"] += s.page.find("button", "Pause") is not None
    else:
        learner.problems.append("paused, then found no Resume button")


async def change_lr(learner: Learner, rng: random.Random) -> None:
    s = learner.session
    el = s.page.find("slider", LR_LABEL) or s.page.find("slider", "lr ", prefix=True)
    now = lr_shown(s)
    choices = [o for o in (el.slider.options if el else []) if _float(o) in SAFE_LRS and _float(o) != now]
    if not choices:
        learner.toggles["lr unavailable"] += 1
        return
    option = rng.choice(choices)
    if await s.choose(el.slider.label, option):
        learner.toggles["lr"] += 1
        await s.wait_idle(15)
        await asyncio.sleep(1.5)  # the live view shows the new lr at its next poll
        learner.toggles["lr shown"] += lr_shown(s) == float(option)


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def lr_shown(s: Session) -> float | None:
    for t in s.page.texts():
        if (m := re.fullmatch(r"lr: ([\d.e+-]+)", t)):
            return float(m.group(1))
    return None


# ---------------------------------------------------------------- a phase of N learners

def steps_at(samples: list[tuple[float, int]], t: float) -> float:
    """The step shown at time t, linear between the samples around it."""
    before = [(ts, s) for ts, s in samples if ts <= t]
    after = [(ts, s) for ts, s in samples if ts > t]
    if not before:
        return float(after[0][1]) if after else 0.0
    if not after:
        return float(before[-1][1])
    (t0, s0), (t1, s1) = before[-1], after[0]
    return s0 + (s1 - s0) * (t - t0) / (t1 - t0)


def steps_per_second(samples: list[tuple[float, int]], start: float, end: float) -> float | None:
    """The rate the page showed between `start` and its last sample before `end` (None under 1 s).
    Not up to `end`: the page shows a step only at its polls, seconds apart in a full room (and
    right after one), and a step count held flat to `end` read a rate up to ~25 % low."""
    inside = [(t, s) for t, s in samples if start <= t <= end]
    if not inside:
        return None
    t0 = start if any(t < start for t, _ in samples) else inside[0][0]
    t1, s1 = inside[-1]
    return (s1 - steps_at(samples, t0)) / (t1 - t0) if t1 - t0 >= 1.0 else None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def phase(url: str, n: int, seconds: float, query: str, ramp: float, toggle_every: float,
                seed: int, monitor: Monitor, during=None) -> dict:
    """One round; `during(clock)`: a coroutine run alongside (e.g. killing a front), after which
    dropped learners rejoin."""
    rng = random.Random(seed)
    t0, cpu0, trainers0 = time.monotonic(), proc_cpu_seconds(monitor.pid), monitor.trainer_cpu_seconds()
    client_cpu0 = time.process_time()
    clock = Clock(n, seconds, rejoin=during is not None, ramp=ramp)
    learners = [Learner(i, Session(url, PAGE, query)) for i in range(n)]
    side = asyncio.create_task(during(clock)) if during else None
    await asyncio.gather(*(learn(l, clock.spacing * i, clock, toggle_every, random.Random(rng.random()))
                           for i, l in enumerate(learners)))
    if side:
        side.cancel()
    wall = time.monotonic() - t0
    result = summarise(learners, clock.end)
    if clock.killed_at:
        result["rejoin"] = rejoined(learners)
    result["server_cpu_cores"] = round((proc_cpu_seconds(monitor.pid) - cpu0) / wall, 2)
    result["client_cpu_cores"] = round((time.process_time() - client_cpu0) / wall, 3)
    result["trainer_cpu_cores"] = round((monitor.trainer_cpu_seconds() - trainers0) / wall, 2)
    if result["tokens_per_s"] and result["server_cpu_cores"]:  # robust to other processes' load
        result["tokens_per_server_cpu_s"] = round(result["tokens_per_s"] / result["server_cpu_cores"])
    if result["tokens_per_s"] and result["trainer_cpu_cores"]:  # how well the trainers use their CPU
        result["tokens_per_trainer_cpu_s"] = round(result["tokens_per_s"] / result["trainer_cpu_cores"])
    monitor.sample()
    result["peak_rss_mb"], result["peak_threads"] = map(lambda v: round(v, 1), monitor.peak(t0))
    return result


def rejoined(learners: list[Learner]) -> dict:
    """After a front was killed: its learners (their websocket dropped), seconds until each was
    back, who was not, and who was back but whose steps then did not rise."""
    dropped = [l for l in learners if l.drops]
    back = [l.back_seconds for l in dropped if l.back_seconds is not None]
    rising = [l for l in dropped if l.back_seconds is not None and l.final_step > (l.dropped_step or 0)]
    return {"dropped": len(dropped), "back": len(back), "back_s": {"p50": _r(percentile(back, 50)),
            "max": _r(max(back, default=None))}, "not_back": [l.index for l in dropped if l.back_seconds is None],
            "steps_rising_after": len(rising)}


def by_action(learners: list[Learner]) -> dict:
    """Rerun seconds p50/p95/n per what sent it: a button's label, a slider's, "poll", "load"."""
    seconds: dict[str, list[float]] = {}
    for l in learners:
        for sec, action in l.session.rerun_seconds:
            seconds.setdefault(action, []).append(sec)
    return {a: {"p50": _r(percentile(s, 50)), "p95": _r(percentile(s, 95)), "n": len(s)}
            for a, s in sorted(seconds.items())}


def summarise(learners: list[Learner], end: float) -> dict:
    started = [l for l in learners if l.start_time is not None]
    firsts = [l.first_step_seconds for l in started if l.first_step_seconds is not None]
    reruns = [sec for l in learners for sec, _ in l.session.rerun_seconds]
    polls = [sec for l in learners for sec, action in l.session.rerun_seconds if action == "poll"]
    errors = Counter(e for l in learners for e in l.session.page.errors)
    window_start = max((l.start_time for l in started), default=end)
    window = end - window_start
    rates = [(steps_per_second(l.session.step_samples, window_start, end), l.tokens_per_step) for l in started]
    finals = [l.final_step for l in started]
    toggles = sum((l.toggles for l in learners), Counter())
    return {
        "learners": len(learners),
        "started": len(started),
        "progressed": len(firsts),
        "first_step_s": {"p50": _r(percentile(firsts, 50)), "max": _r(max(firsts, default=None))},
        "never_stepped": [l.index for l in started if l.first_step_seconds is None],
        "steps_per_learner": {"min": min(finals, default=0), "median": _r(percentile(finals, 50)),
                              "max": max(finals, default=0)},
        "rerun_s": {"p50": _r(percentile(reruns, 50)), "p95": _r(percentile(reruns, 95)), "n": len(reruns)},
        "poll_rerun_s": {"p50": _r(percentile(polls, 50)), "p95": _r(percentile(polls, 95)), "n": len(polls)},
        "rerun_s_by_action": by_action(learners),
        "page_load_s": {"p50": _r(percentile([l.load_seconds for l in learners if l.load_seconds], 50)),
                        "max": _r(max((l.load_seconds for l in learners if l.load_seconds), default=None))},
        "tokens_per_s": round(sum(r * k for r, k in rates if r is not None)) if window > 1 else None,
        "window_s": round(window, 1),
        "exceptions": sum(errors.values()),
        "exception_texts": [f"{n} x {text[:300]}" for text, n in errors.most_common(5)],
        "dropped_websockets": sum(bool(l.drops) or l.session.dropped is not None for l in learners),
        "unanswered_reruns": sum(l.session.unanswered for l in learners),
        "toggles": dict(toggles),
        "problems": sorted({p for l in learners for p in l.problems}),
        "notices": [f"{n} x {text[:200]}" for text, n in
                    Counter(t for l in learners for t in l.session.page.notices).most_common(5)],
    }


def _ratio(values: list, base) -> float | None:
    values = [v for v in values if v]
    return round(min(values) / base, 3) if base and values else None


def _r(v: float | None, digits: int = 2) -> float | None:
    return None if v is None else round(v, digits)


# ---------------------------------------------------------------- the whole test

def with_steps(query: str, steps: int) -> str:
    return query if re.search(r"(^|&)steps=", query) else "&".join(filter(None, [query, f"steps={steps}"]))


async def settle(monitor: Monitor, seconds: float) -> tuple[float, int]:
    await asyncio.sleep(seconds)
    rss, threads = monitor.sample()
    return round(rss, 1), threads


async def first_load(url: str, query: str) -> float:
    """Seconds of one page load of /Train on a server (its first: imports, corpus cache)."""
    session = Session(url, PAGE, query)
    seconds = round(await session.open(), 2)
    await session.close()
    return seconds


async def workshop(args, url: str, pid: int, during=None) -> dict:
    monitor = Monitor(pid)
    rss_start, threads_start = monitor.sample()
    sampler = asyncio.create_task(monitor.run())
    out = {"sessions": args.sessions, "seconds": args.seconds, "rounds_asked": args.rounds,
           "load_average_at_start": os.getloadavg()[0], "cpu_count": os.cpu_count(),
           "rss_mb": {"start": round(rss_start, 1)}, "threads": {"start": threads_start}}
    out["first_page_load_s"] = await first_load(url, args.query)

    async def baseline(seed: int) -> dict:   # a few learners alone; their runs outlast the window
        return await phase(url, args.baseline_sessions, args.baseline_seconds,
                           with_steps(args.query, 20_000), 0.5, 0, seed, monitor)

    if args.baseline_seconds > 0:
        out["baseline"] = await baseline(args.seed + 1000)
    out["rss_mb"]["before"], out["threads"]["before"] = await settle(monitor, args.settle_seconds)
    out["rounds"] = []
    for k in range(args.rounds):
        r = await phase(url, args.sessions, args.seconds, args.query, args.ramp_seconds,
                        args.toggle_every, args.seed + k, monitor, during)
        r["rss_mb_after"], r["threads_after"] = await settle(monitor, args.settle_seconds)
        out["rounds"].append(r)
    if args.baseline_seconds > 0:    # again: how far the server (or the machine) drifted meanwhile
        out["baseline_after"] = await baseline(args.seed + 2000)
    sampler.cancel()
    return out


def overall(out: dict, log_text: str) -> dict:
    rounds = out["rounds"]
    baselines = [out[k] for k in ("baseline", "baseline_after") if k in out]
    base = out.get("baseline", {}).get("tokens_per_s")
    tps = [r["tokens_per_s"] for r in rounds if r["tokens_per_s"] is not None]
    phases = rounds + baselines
    out.update({
        "progressed": min(r["progressed"] for r in rounds),
        "learners": out["sessions"],
        "exceptions": sum(p["exceptions"] for p in phases),
        "dropped_websockets": sum(p["dropped_websockets"] for p in phases),
        "tokens_per_s_vs_baseline": round(min(tps) / base, 3) if base and tps else None,
        "baseline_after_vs_before": _ratio([out.get("baseline_after", {}).get("tokens_per_s")], base),
        "tokens_per_cpu_s_vs_baseline": _ratio([r.get("tokens_per_server_cpu_s") for r in rounds],
                                               out.get("baseline", {}).get("tokens_per_server_cpu_s")),
        "trainer_cores_vs_baseline": _ratio([r.get("trainer_cpu_cores") for r in rounds],
                                            out.get("baseline", {}).get("trainer_cpu_cores")),
        "tokens_per_trainer_cpu_s_vs_baseline": _ratio([r.get("tokens_per_trainer_cpu_s") for r in rounds],
                                                       out.get("baseline", {}).get("tokens_per_trainer_cpu_s")),
        "server_log_tracebacks": log_text.count("Traceback (most recent call last)"),
        "load_average_at_end": os.getloadavg()[0],
    })
    out["rss_mb"].update(peak=max(r["peak_rss_mb"] for r in rounds), after=[r["rss_mb_after"] for r in rounds])
    out["threads"].update(peak=max(r["peak_threads"] for r in rounds), after=[r["threads_after"] for r in rounds])
    return out


def report(out: dict) -> str:
    lines = [f"Workshop load test: {out['sessions']} learners x {out['seconds']} s, {len(out['rounds'])} round(s)"]
    for key, when in (("baseline", "before"), ("baseline_after", "after the rounds")):
        if key in out:
            b = out[key]
            lines.append(f"  baseline {when}, {b['learners']} alone: {b['tokens_per_s'] or 0:,} tokens/s "
                         f"({b.get('tokens_per_server_cpu_s') or 0:,} per server CPU-second), "
                         f"server {b['server_cpu_cores']} cores busy (trainer threads {b['trainer_cpu_cores']}), "
                         f"rerun p50/p95 {b['rerun_s']['p50']}/{b['rerun_s']['p95']} s")
    for k, r in enumerate(out["rounds"], 1):
        lines += [
            f"  round {k}: progressed {r['progressed']}/{r['learners']} (started {r['started']}); "
            f"first step after Start p50 {r['first_step_s']['p50']} s, max {r['first_step_s']['max']} s",
            f"    steps per learner min/median/max {r['steps_per_learner']['min']}/"
            f"{r['steps_per_learner']['median']}/{r['steps_per_learner']['max']}; "
            f"aggregate {r['tokens_per_s'] or 0:,} tokens/s over the last {r['window_s']} s "
            f"({r.get('tokens_per_server_cpu_s') or 0:,} per server CPU-second)",
            f"    rerun p50/p95 {r['rerun_s']['p50']}/{r['rerun_s']['p95']} s ({r['rerun_s']['n']} reruns; "
            f"polls {r['poll_rerun_s']['p50']}/{r['poll_rerun_s']['p95']} s); page load p50 {r['page_load_s']['p50']} s",
            "    by action (p50/p95 s, n): " + "; ".join(
                f"{a} {v['p50']}/{v['p95']} ({v['n']})" for a, v in r["rerun_s_by_action"].items()),
            f"    exceptions {r['exceptions']}, dropped websockets {r['dropped_websockets']}, "
            f"unanswered reruns {r['unanswered_reruns']}; toggles {r['toggles']}",
            f"    server {r['server_cpu_cores']} cores busy (trainer threads {r['trainer_cpu_cores']}, "
            f"pages and the rest {r['server_cpu_cores'] - r['trainer_cpu_cores']:.2f}), "
            f"this client {r['client_cpu_cores']}; "
            f"RSS peak {r['peak_rss_mb']} MB, after {r['rss_mb_after']} MB; threads peak {r['peak_threads']}, "
            f"after {r['threads_after']}",
        ]
        if "rejoin" in r:
            j = r["rejoin"]
            lines.append(f"    front killed: {j['dropped']} learners dropped, {j['back']} back (seconds after the kill "
                         f"p50 {j['back_s']['p50']}, max {j['back_s']['max']}), not back {j['not_back']}, "
                         f"steps rising after {j['steps_rising_after']}")
        lines += [f"    exception: {t}" for t in r["exception_texts"]]
        lines += [f"    problem: {p}" for p in r["problems"]]
        lines += [f"    warning/error box (learners who saw it): {t}" for t in r["notices"]]
    lines += [
        f"  tokens/s vs the baseline: {out['tokens_per_s_vs_baseline']} (worst round); per server CPU-second: "
        f"{out['tokens_per_cpu_s_vs_baseline']}; the baseline after the rounds vs before: "
        f"{out['baseline_after_vs_before']}",
        f"  = the trainer threads' CPU vs the baseline's {out['trainer_cores_vs_baseline']} x their tokens "
        f"per CPU-second vs the baseline's {out['tokens_per_trainer_cpu_s_vs_baseline']}",
        f"  RSS MB start {out['rss_mb']['start']}, before {out['rss_mb']['before']}, peak {out['rss_mb']['peak']}, "
        f"after each round {out['rss_mb']['after']}",
        f"  threads start {out['threads']['start']}, before {out['threads']['before']}, peak "
        f"{out['threads']['peak']}, after each round {out['threads']['after']}",
        f"  server log tracebacks: {out['server_log_tracebacks']}; machine load average "
        f"{out['load_average_at_start']:.1f} at start, {out['load_average_at_end']:.1f} at end "
        f"({out['cpu_count']} CPUs: above that, other processes compete with the server)",
    ]
    return "\n".join(lines)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=30, help="learners in each round")
    ap.add_argument("--seconds", type=float, default=120, help="how long each round trains after the ramp")
    ap.add_argument("--rounds", type=int, default=1, help="repeat the main phase (RSS after each)")
    ap.add_argument("--baseline-seconds", type=float, default=20, help="0: no baseline phase")
    ap.add_argument("--baseline-sessions", type=int, default=2)
    ap.add_argument("--ramp-seconds", type=float, default=5, help="learners arrive spread over this")
    ap.add_argument("--toggle-every", type=float, default=30, help="~seconds between a learner's toggles; 0: never")
    ap.add_argument("--settle-seconds", type=float, default=10, help="wait after a phase before reading RSS")
    ap.add_argument("--query", default="", help="query string for /Train, e.g. 'hidden_size=64&steps=5000'")
    ap.add_argument("--env", action="append", default=[], metavar="K=V", help="extra server environment")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log", type=Path, help="keep the server log here (default: a temporary file)")
    ap.add_argument("--app-dir", type=Path, default=ROOT,
                    help="run this checkout's app.py (e.g. an older commit: git archive <rev> | tar -x -C DIR)")
    args = ap.parse_args(argv)
    bad = [p for p in args.env if "=" not in p]
    if bad:
        ap.error(f"--env takes K=V, got {bad}")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    log_path = args.log or Path(tempfile.mkstemp(prefix="workshop-server-", suffix=".log")[1])
    with server(args.env, log_path, args.app_dir) as (url, pid):
        out = asyncio.run(workshop(args, url, pid))
    out = overall(out, log_path.read_text(errors="replace"))
    out["server_log"] = str(log_path)
    print(report(out))
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
