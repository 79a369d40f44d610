"""Fair sharing of the server's cores: a few worker threads serve every active job in turns,
fair between people (clients) first, then between each person's jobs.

    SCHEDULER.submit(job)     # job.work(budget_seconds) -> bool: True while work remains
                              # job.cancelled: the scheduler drops a job that sets it
                              # job.client: who it is for (a browser's address; "" if unknown)

Two-level round-robin: clients take turns in the order they arrived, and each client's jobs
take turns within that client's turn. A worker takes the next job of the first client in turn
among those with the fewest jobs running now, lets it work for one time slice (`slice_seconds`
of training steps), and puts it back at the tail of its client's queue (the client goes to the
tail of the turns) if it has more to do. A job just submitted (Start, Resume) goes ahead of
everyone who has had a turn (behind earlier newcomers), so its first step comes within a few
slices, not after everyone's; that first turn is a single step (a zero budget), so that thirty
Starts at once each show a step within ~thirty steps, not thirty slices. So ten runs
from one person get that person's share, not ten shares: with C clients each gets ~1/C of
the turns, and a client's k jobs split its part. At most `max_workers` threads exist, and
only while there is work: a waiting job holds no thread.

A job's share of one core (`share(job)`), water-filling: a client with fewer jobs than its
equal part of the W workers uses what its jobs can (one core each); the rest is split
equally between the other clients; then within a client equally between its jobs.
"""
from __future__ import annotations

import atexit
import ctypes
import logging
import threading
import time
from collections import Counter, deque
from typing import Protocol

import torch

log = logging.getLogger(__name__)


class Job(Protocol):
    cancelled: bool

    def work(self, budget_seconds: float) -> bool:
        """Do up to `budget_seconds` of work; True if more remains."""


def client_of(job) -> str:
    """Who a job is for ("" when it does not say: all such jobs count as one client)."""
    return str(getattr(job, "client", "") or "")


def client_cores(jobs_per_client: dict[str, int], workers: int) -> dict[str, float]:
    """Cores each client gets: an equal part of `workers`, but no more than one per job (what a
    client cannot use goes to the others)."""
    cores, left = {}, float(workers)
    for client, k in sorted(jobs_per_client.items(), key=lambda kv: kv[1]):   # fewest jobs first
        cores[client] = min(float(k), left / (len(jobs_per_client) - len(cores)))
        left -= cores[client]
    return cores


def name_os_thread(name: str) -> None:
    """Give the calling thread `name` in the OS too (Python's thread names stay inside Python):
    `top -H`, `ps -L` and /proc/<pid>/task/*/comm then tell the trainers from the pages, which is
    how benchmarks/workshop.py measures the trainers' CPU. Linux (prctl PR_SET_NAME, 15
    characters); elsewhere nothing."""
    try:
        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):
        pass


class Scheduler:
    def __init__(self, max_workers: int = 2, slice_seconds: float = 0.25, idle_exit_seconds: float = 2.0):
        self.max_workers, self.slice_seconds = max(1, int(max_workers)), slice_seconds
        self.idle_exit_seconds = idle_exit_seconds
        self._queues: dict[str, deque] = {}     # client -> its queued jobs (only clients with some)
        self._turns: deque = deque()            # clients with queued jobs, next turn first
        self._fresh = 0                         # how many at the head of _turns are newcomers
        self._busy: dict[int, str] = {}         # id() of jobs a worker is running now -> client
        self._cond = threading.Condition()
        self._workers = 0
        self._started = 0
        self._threads: set[threading.Thread] = set()
        self._closed = False
        atexit.register(self.close)

    def submit(self, job: Job) -> None:
        """Queue `job` (no-op if it is already queued or running)."""
        client = client_of(job)
        with self._cond:
            if id(job) in self._busy or any(j is job for j in self._queues.get(client, ())):
                return
            self._enqueue(job, client, first=True)
            if not self._closed and self._workers < min(self.max_workers, self._queued() + len(self._busy)):
                self._workers += 1
                self._started += 1
                thread = threading.Thread(target=self._worker, name=f"sched-{self._started}", daemon=True)
                self._threads.add(thread)
                thread.start()
            self._cond.notify()

    def close(self, timeout: float = 10.0) -> None:
        """Hand out no more turns and wait (up to `timeout` s) for the workers to end the slice
        they are in. Runs at interpreter exit: a thread stopped inside a torch op there aborts
        the whole process ("terminate called without an active exception", exit code 134)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            threads = list(self._threads)
        deadline = time.monotonic() + timeout
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def _enqueue(self, job: Job, client: str, first: bool = False) -> None:
        """Under the lock: `job` to the tail of its client's queue; a client without queued jobs
        joins the tail of the turns, or its head when `first` (a job just submitted: Start or
        Resume answers with a step within one slice, then the job takes its turns); newcomers keep
        their order among themselves."""
        queue = self._queues.setdefault(client, deque())
        if not queue and first:      # behind the other newcomers, ahead of everyone who had a turn
            self._turns.insert(self._fresh, client)
            self._fresh += 1
        elif not queue:
            self._turns.append(client)
        queue.append(job)

    def _queued(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def _jobs_per_client(self) -> Counter:
        """Under the lock: queued and running jobs per client."""
        counts = Counter({c: len(q) for c, q in self._queues.items()})
        counts.update(self._busy.values())
        return counts

    def active_jobs(self) -> int:
        """Jobs queued or running now."""
        with self._cond:
            return self._queued() + len(self._busy)

    def active_clients(self) -> int:
        """Clients (people) with a job queued or running now."""
        with self._cond:
            return len(self._jobs_per_client())

    def jobs_of(self, client: str) -> int:
        """Jobs of `client` queued or running now."""
        with self._cond:
            return self._jobs_per_client().get(client, 0)

    @property
    def workers(self) -> int:
        return self._workers

    def share(self, job: Job | None = None) -> float:
        """Fraction of one core a job gets now (at most 1): `job`'s, counted as active even if it
        waits, by client_cores; without a job, workers / active jobs."""
        with self._cond:
            counts = self._jobs_per_client()
            n = self._queued() + len(self._busy)
        if job is None:
            return min(1.0, self.max_workers / n) if n else 1.0
        client = client_of(job)
        if id(job) not in self._busy and not any(j is job for j in self._queues.get(client, ())):
            counts[client] += 1
        return min(1.0, client_cores(counts, self.max_workers)[client] / counts[client])

    def client_cores(self, client: str) -> float:
        """Cores `client`'s active jobs share now (0 if it has none)."""
        with self._cond:
            counts = self._jobs_per_client()
        return client_cores(counts, self.max_workers).get(client, 0.0)

    def shares(self, job: Job) -> dict:
        """How the machine is shared now, for `job`'s Snapshot: share, active_runs, workers,
        active_clients, client_runs, client_cores."""
        client = client_of(job)
        return dict(share=self.share(job), active_runs=self.active_jobs(), workers=self.workers,
                    active_clients=self.active_clients(), client_runs=self.jobs_of(client),
                    client_cores=self.client_cores(client))

    def _next(self):
        with self._cond:
            deadline = time.monotonic() + self.idle_exit_seconds
            while not self._turns or self._closed:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    self._workers -= 1
                    self._threads.discard(threading.current_thread())
                    return None
                self._cond.wait(left)
            client, fresh = self._pick()
            queue = self._queues[client]
            job = queue.popleft()
            if queue:
                self._turns.append(client)
            else:
                del self._queues[client]
            self._busy[id(job)] = client
            return job, 0.0 if fresh else self.slice_seconds

    def _pick(self) -> tuple[str, bool]:
        """Under the lock: the next client in turn among those with the fewest jobs running now
        (so a person's one run is not kept waiting while another's many hold every worker), and
        whether it is a newcomer (its job was just submitted)."""
        running = Counter(self._busy.values())
        client = min(self._turns, key=lambda c: running[c])        # the first of the fewest
        fresh = self._turns.index(client) < self._fresh
        self._fresh -= fresh
        self._turns.remove(client)
        return client, fresh

    def _worker(self) -> None:
        name_os_thread(threading.current_thread().name)
        torch.set_num_threads(1)  # per-thread on this torch build: W workers use W cores
        while (picked := self._next()) is not None:
            job, budget = picked
            more = False
            try:
                more = not job.cancelled and job.work(budget)
            except Exception:  # noqa: BLE001 - a job reports its own errors; never kill a worker
                log.exception("scheduler: a job raised")
            with self._cond:
                client = self._busy.pop(id(job))
                if more and not job.cancelled:
                    self._enqueue(job, client)
                    self._cond.notify()


def _default() -> Scheduler:
    from .limits import LIMITS
    return Scheduler(max_workers=LIMITS.max_concurrent)


SCHEDULER = _default()
