"""Fair sharing of the server's cores: a few worker threads serve every active job in turns.

    SCHEDULER.submit(job)     # job.work(budget_seconds) -> bool: True while work remains
                              # job.cancelled: the scheduler drops a job that sets it

Round-robin in submission order: a worker takes the job at the head of the queue, lets it
work for one time slice (`slice_seconds` of training steps), and puts it back at the tail
if it has more to do. At most `max_workers` threads exist, and only while there is work:
a waiting job holds no thread. With N jobs and W workers each job gets ~W/N of a core,
and a new job's first slice starts within about N/W slices.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Protocol

import torch

log = logging.getLogger(__name__)


class Job(Protocol):
    cancelled: bool

    def work(self, budget_seconds: float) -> bool:
        """Do up to `budget_seconds` of work; True if more remains."""


class Scheduler:
    def __init__(self, max_workers: int = 2, slice_seconds: float = 0.25, idle_exit_seconds: float = 2.0):
        self.max_workers, self.slice_seconds = max(1, int(max_workers)), slice_seconds
        self.idle_exit_seconds = idle_exit_seconds
        self._queue: deque = deque()
        self._busy: set[int] = set()            # id() of jobs a worker is running now
        self._cond = threading.Condition()
        self._workers = 0
        self._started = 0

    def submit(self, job: Job) -> None:
        """Queue `job` (no-op if it is already queued or running)."""
        with self._cond:
            if id(job) in self._busy or any(j is job for j in self._queue):
                return
            self._queue.append(job)
            if self._workers < min(self.max_workers, len(self._queue) + len(self._busy)):
                self._workers += 1
                self._started += 1
                threading.Thread(target=self._worker, name=f"sched-{self._started}", daemon=True).start()
            self._cond.notify()

    def active_jobs(self) -> int:
        """Jobs queued or running now."""
        with self._cond:
            return len(self._queue) + len(self._busy)

    @property
    def workers(self) -> int:
        return self._workers

    def share(self) -> float:
        """Fraction of one core a job gets now: workers / active jobs (at most 1)."""
        n = self.active_jobs()
        return min(1.0, self.max_workers / n) if n else 1.0

    def _next(self):
        with self._cond:
            deadline = time.monotonic() + self.idle_exit_seconds
            while not self._queue:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._workers -= 1
                    return None
                self._cond.wait(left)
            job = self._queue.popleft()
            self._busy.add(id(job))
            return job

    def _worker(self) -> None:
        torch.set_num_threads(1)  # per-thread on this torch build: W workers use W cores
        while (job := self._next()) is not None:
            more = False
            try:
                more = not job.cancelled and job.work(self.slice_seconds)
            except Exception:  # noqa: BLE001 - a job reports its own errors; never kill a worker
                log.exception("scheduler: a job raised")
            with self._cond:
                self._busy.discard(id(job))
                if more and not job.cancelled:
                    self._queue.append(job)
                    self._cond.notify()


def _default() -> Scheduler:
    from .limits import LIMITS
    return Scheduler(max_workers=LIMITS.max_concurrent)


SCHEDULER = _default()
