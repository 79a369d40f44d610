"""Fair share between people, not runs: the two-level round-robin of playground/scheduler.py, the
cap on runs training at once per person (registry), and who a client is (clients.py)."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from playground.clients import client_key, forwarded_address, trusted_proxies
from playground.config import ModelConfig, TrainConfig
from playground.front import Status
from playground.limits import Limits
from playground.registry import RunRegistry
from playground.scheduler import Scheduler, client_cores

ROOT = Path(__file__).resolve().parent.parent


class CountingJob:
    """A scheduler job that counts its turns and never ends until told."""

    def __init__(self, client: str, turns: list, lock: threading.Lock):
        self.client, self.cancelled, self.turns, self.lock = client, False, turns, lock

    def work(self, budget_seconds: float) -> bool:
        with self.lock:
            self.turns.append(self.client)
        time.sleep(budget_seconds)
        return not self.cancelled


def _turns(jobs_per_client: dict[str, int], workers: int, total: int) -> list[str]:
    sched = Scheduler(max_workers=workers, slice_seconds=0.002, idle_exit_seconds=0.2)
    turns, lock = [], threading.Lock()
    jobs = [CountingJob(c, turns, lock) for c, k in jobs_per_client.items() for _ in range(k)]
    for job in jobs:
        sched.submit(job)
    _serve_until(lambda: len(turns) >= total, jobs, timeout=60)
    with lock:
        return list(turns)


def _serve_until(done, jobs: list, timeout: float = 30) -> None:
    """Let the scheduler serve `jobs` until `done()` (or `timeout` s), then cancel them all."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.005)
    for job in jobs:
        job.cancelled = True


@pytest.mark.parametrize("workers", [1, 2])
def test_ten_jobs_of_one_client_get_one_clients_share(workers):
    """One person with 10 runs, another with 1: the single run gets about half the turns (it
    got 1/11 when runs, not people, took turns)."""
    turns = _turns({"many": 10, "one": 1}, workers, total=400)
    share = turns.count("one") / len(turns)
    assert 0.4 <= share <= 0.6, f"the single job got {share:.2f} of {len(turns)} turns"


def test_a_clients_jobs_take_turns_within_its_share():
    turns = _turns({"a": 3, "b": 1, "c": 2}, 1, total=300)
    for client in "abc":
        assert 0.25 <= turns.count(client) / len(turns) <= 0.42, (client, turns.count(client), len(turns))


def test_a_job_just_submitted_gets_the_next_turn_not_the_last():
    """30 people queued on 1 worker: a 31st's Start is served next (its first step within a
    slice), then it takes its turns like everyone else."""
    sched = Scheduler(max_workers=1, slice_seconds=0.01, idle_exit_seconds=0.2)
    turns, lock = [], threading.Lock()
    crowd = [CountingJob(f"p{i}", turns, lock) for i in range(30)]
    for job in crowd:
        sched.submit(job)
    deadline = time.monotonic() + 30
    while len(turns) < 40 and time.monotonic() < deadline:     # everyone has had a turn
        time.sleep(0.005)
    newcomers = [CountingJob("new", turns, lock), CountingJob("newer", turns, lock)]
    with lock:
        submitted_at = len(turns)
        for job in newcomers:                  # two Starts at once: served in the order they came
            sched.submit(job)
    _serve_until(lambda: turns.count("new") >= 3, [*crowd, *newcomers])
    first, then = turns.index("new"), turns.index("newer")
    assert first - submitted_at <= 1 and then == first + 1, turns[submitted_at:submitted_at + 5]
    second = turns.index("new", first + 1)
    assert second - first >= 20, "after its first turn the new job waits its turn"


class BudgetJob(CountingJob):
    """Records the budget of each of its turns."""

    def __init__(self, client: str, turns: list, lock: threading.Lock):
        super().__init__(client, turns, lock)
        self.budgets: list[float] = []

    def work(self, budget_seconds: float) -> bool:
        self.budgets.append(budget_seconds)
        return super().work(budget_seconds)


def test_a_job_just_submitted_takes_one_step_first_then_full_slices():
    """A hall's pool: thirty Starts within seconds queued behind each other's first slice (0.25 s
    each, longer on a busy core), so the last saw its first step ~10 s later. A newcomer's first
    turn is now a single step (a zero budget: Run.work takes one step), its later turns full slices."""
    sched = Scheduler(max_workers=1, slice_seconds=0.02, idle_exit_seconds=0.2)
    turns, lock = [], threading.Lock()
    jobs = [BudgetJob(f"p{i}", turns, lock) for i in range(5)]
    for job in jobs:
        sched.submit(job)
    _serve_until(lambda: min(len(j.budgets) for j in jobs) >= 3, jobs)
    assert turns[:5] == [f"p{i}" for i in range(5)], turns[:5]       # the newcomers, in the order they came
    for job in jobs:
        assert job.budgets[0] == 0.0 and set(job.budgets[1:3]) == {0.02}, (job.client, job.budgets)


def test_client_cores_water_fill():
    assert client_cores({"a": 10, "b": 1}, 2) == {"b": 1.0, "a": 1.0}
    assert client_cores({"a": 10, "b": 1}, 4) == {"b": 1.0, "a": 3.0}        # b cannot use more than 1
    assert client_cores({"a": 3, "b": 3, "c": 3}, 3) == {"a": 1.0, "b": 1.0, "c": 1.0}


def test_share_of_a_job_counts_people_first():
    sched = Scheduler(max_workers=2)
    many = [type("J", (), {"client": "many", "cancelled": False})() for _ in range(10)]
    one = type("J", (), {"client": "one", "cancelled": False})()
    with sched._cond:                       # queue without workers: only the counting is tested
        for job in many:
            sched._enqueue(job, "many")
    assert sched.share(many[0]) == pytest.approx(0.2)       # alone: 2 cores over its 10 jobs
    assert sched.share(one) == 1.0           # its client's 1 core, counted as if it joined
    with sched._cond:
        sched._enqueue(one, "one")
    assert sched.share(many[0]) == pytest.approx(0.1)       # the other core over 10 jobs
    assert sched.active_clients() == 2 and sched.jobs_of("many") == 10 and sched.client_cores("one") == 1.0


# ---- the cap per person, at the registry ------------------------------------------------------
class FakeRun:
    def __init__(self, owner: str):
        self.run_id, self.owner, self.status = f"r{id(self)}", owner, Status.READY

    is_active = property(lambda self: self.status in (Status.QUEUED, Status.RUNNING, Status.PAUSED))

    def start(self, steps):
        self.status = Status.RUNNING

    def step(self, n=1):
        self.status = Status.PAUSED

    def free(self):
        self.status = Status.STOPPED


class FakeBackend:
    name = "fake"

    def make_run(self, model_config, train_config, text, owner, label="", corpus_key="", observer=None, **kw):
        return FakeRun(owner)


def _registry(cap: int = 2) -> RunRegistry:
    return RunRegistry(limits=Limits(max_active_per_client=cap), backend=FakeBackend(), scheduler=Scheduler(1))


def _make(reg: RunRegistry, owner: str, client: str):
    return reg.create(ModelConfig(), TrainConfig(), "", owner, client=client)


def test_the_third_active_run_of_one_person_is_refused_with_the_cap_named():
    reg = _registry(cap=2)
    runs = [_make(reg, f"link{i}-0123456789abcdef", "ip:203.0.113.7") for i in range(3)]   # three links
    reg.start(runs[0], 10, "ip:203.0.113.7")
    reg.step(runs[1], 1, "ip:203.0.113.7")                   # a paused run counts as active
    with pytest.raises(ValueError, match=r"limit of 2 at once per person \(PLAYGROUND_MAX_ACTIVE_PER_CLIENT\)"):
        reg.start(runs[2], 10, "ip:203.0.113.7")
    assert runs[2].status == Status.READY
    reg.step(runs[0], 1, "ip:203.0.113.7")                   # Step on an active run is no new run
    other = _make(reg, "someone-else-0123456789", "ip:198.51.100.2")
    reg.start(other, 10, "ip:198.51.100.2")                  # another person is not affected
    runs[0].status = Status.FINISHED
    reg.start(runs[2], 10, "ip:203.0.113.7")                 # one finished: room for another
    assert runs[2].is_active and runs[2].client == "ip:203.0.113.7"


def test_a_run_counts_for_the_person_who_starts_it():
    reg = _registry(cap=1)
    run = _make(reg, "shared-link-0123456789", "ip:203.0.113.7")
    reg.start(run, 10, "ip:198.51.100.2")                    # the link opened on another machine
    assert run.client == "ip:198.51.100.2"
    with pytest.raises(ValueError, match="limit of 1"):
        reg.check_start("ip:198.51.100.2")
    reg.check_start("ip:203.0.113.7")


def test_without_a_client_each_link_is_its_own_client():
    reg = _registry(cap=1)
    a, b = _make(reg, "link-a-0123456789abcdef", ""), _make(reg, "link-b-0123456789abcdef", "")
    reg.start(a, 5)
    reg.start(b, 5)
    assert a.client != b.client and a.is_active and b.is_active


def test_local_runs_train_under_their_clients_share():
    text = "abcdefgh" * 400
    reg = RunRegistry(limits=Limits(max_active_per_client=8), scheduler=Scheduler(max_workers=1))
    mc, tc = ModelConfig(cell="GRU", hidden_size=8, embedding_dim=4), TrainConfig(seq_len=8, batch_size=4)
    runs = [reg.create(mc, tc, text, f"link{i}-0123456789abcdef", client="ip:10.0.0.1") for i in range(3)]
    lone = reg.create(mc, tc, text, "lone-0123456789abcdef", client="ip:10.0.0.2")
    for run in runs + [lone]:
        reg.start(run, 10_000)                               # none ends before the snapshots
    snap, theirs = lone.snapshot(), runs[0].snapshot()
    assert (snap.active_clients, snap.client_runs, theirs.client_runs) == (2, 1, 3)
    assert snap.share == pytest.approx(0.5) and theirs.share == pytest.approx(0.5 / 3)   # one worker
    assert snap.client_cores == pytest.approx(0.5) and runs[0].client == "ip:10.0.0.1"
    for run in runs + [lone]:
        run.stop()
    assert all(run.join(10) for run in runs + [lone])


# ---- who a client is ----------------------------------------------------------------------------
def test_client_key_from_the_peer_or_the_trusted_balancer():
    assert client_key("203.0.113.7", fallback="tok") == "ip:203.0.113.7"
    assert client_key(None, fallback="tok") == "link:tok"                         # localhost
    spoofed = "6.6.6.6, 203.0.113.7"                                              # the browser sent 6.6.6.6
    assert client_key("127.0.0.2", spoofed, trusted=1) == "ip:203.0.113.7"        # our balancer's entry
    assert client_key("10.0.0.9", spoofed, trusted=0) == "ip:10.0.0.9"            # not trusted: ignored
    assert client_key(None, "not-an-ip", trusted=1, fallback="tok") == "link:tok"
    assert forwarded_address("a, b", 3) is None
    assert trusted_proxies({"PLAYGROUND_TRUST_PROXY": "1"}) == 1 and trusted_proxies({}) == 0


def test_the_sharing_caption_counts_people_and_your_part():
    import pandas as pd

    from playground.front import Snapshot
    from playground.ui.live import sharing
    snap = Snapshot(run_id="r", label="l", status=Status.RUNNING, message="", step=1, target_step=9, lr=1e-3,
                    history=pd.DataFrame(), samples=[], parameters=1, vocab_size=2, uniform_perplexity=2.0,
                    unigram_perplexity=2.0, running_seconds=1.0, share=0.1, active_runs=11, workers=2,
                    active_clients=2, client_runs=10, client_cores=1.0, steps_per_minute=120)
    assert sharing(snap) == ("2 people are training, and the trainer threads are shared between people first: "
                             "your 10 runs share your part (~1.0 core); this run gets ~1/10 of a core, "
                             "~120 steps/min.")
    on_ray = replace(snap, backend="ray", active_runs=60, workers=2, share=1 / 30, active_clients=1)
    assert sharing(on_ray) == ("60 runs train on the Ray cluster's 2 cores, taking turns on its trainer pools: "
                               "this run gets ~1/30 of a core, ~120 steps/min.")   # not "each in its own worker"


def test_a_process_that_exits_while_a_run_trains_exits_cleanly(tmp_path):
    """Before: a trainer thread stopped inside a torch op at interpreter exit aborted the process
    (exit code 134, "terminate called without an active exception"): a server's shutdown, and
    any pytest run whose last test left a run training. The scheduler's exit hook ends the slice."""
    code = ("import time\n"
            "from playground import corpora, runner\n"
            "from playground.config import ModelConfig, TrainConfig\n"
            "run = runner.REGISTRY.create(ModelConfig(), TrainConfig(), corpora.load('brackets', 5000), owner='x')\n"
            "run.start(1_000_000)\n"
            "while run.steps_done < 3:\n"
            "    time.sleep(0.05)\n"
            "print('training at exit', run.status, flush=True)\n")
    env = {**os.environ, "PLAYGROUND_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert "training at exit" in done.stdout, done.stderr[-2000:]
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="Linux: the OS thread name is read from /proc")
def test_trainer_threads_carry_their_name_in_the_os():
    """The workshop benchmark tells the trainers' CPU from the pages' by the OS thread name
    (/proc/<pid>/task/*/comm); Python's own thread names never reach the OS on Python 3.11."""
    sched = Scheduler(max_workers=1, slice_seconds=0.002, idle_exit_seconds=0.2)
    seen = []

    class NameJob:
        client, cancelled = "a", False

        def work(self, budget_seconds: float) -> bool:
            tid = threading.get_native_id()
            seen.append((threading.current_thread().name, Path(f"/proc/self/task/{tid}/comm").read_text().strip()))
            return False

    sched.submit(NameJob())
    _serve_until(lambda: seen, [], timeout=10)
    assert seen and seen[0][0].startswith("sched-") and seen[0][1] == seen[0][0]
