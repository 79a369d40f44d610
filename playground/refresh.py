"""How often live charts redraw, so that a room of viewers cannot starve training.

Each redraw of a live page's charts costs the server some CPU (building the figures, sending
them). With N pages open and a mean cost c seconds per redraw, redrawing every T seconds uses
N·c/T of a core. RefreshBudget picks the interval that keeps that at most `budget_cores`:

    T = clamp(N · c / budget_cores, min_interval, max_interval)

N is the number of distinct viewers that redrew within the last `window` seconds and c the
mean measured cost over that window plus `overhead_seconds`: what Streamlit spends on a rerun
outside the code we time (measured here with 30 pages: ~2x the timed part).

`full_budget_cores`, when given, is the budget while the trainers fill every core (more active
runs than trainer workers, as in a workshop): then every redraw takes CPU from training, and the
pages get less. With a trainer core to spare, a redraw costs training nothing, and a page whose
polls are slow (a Ray pool's reads) still polls about every second.
"""
from __future__ import annotations

import threading
import time
from collections import deque


class RefreshBudget:
    def __init__(self, budget_cores: float = 0.2, min_interval: float = 1.0, max_interval: float = 15.0,
                 window: float = 30.0, overhead_seconds: float = 0.0, full_budget_cores: float | None = None):
        self.budget_cores, self.window, self.overhead = budget_cores, window, overhead_seconds
        self.full_budget_cores = budget_cores if full_budget_cores is None else full_budget_cores
        self.min_interval, self.max_interval = min_interval, max_interval
        self._redraws: deque = deque()          # (time, viewer, seconds)
        self._full = False                      # the trainers fill every core (the last redraw saw it)
        self._lock = threading.Lock()

    def record(self, viewer: str, seconds: float, now: float | None = None, full: bool = False) -> None:
        """One redraw by `viewer` took `seconds`; `full`: the trainers filled every core then."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._redraws.append((now, viewer, seconds))
            self._full = full
            self._forget(now)

    @property
    def cores(self) -> float:
        """The budget now: smaller while the trainers fill every core."""
        return self.full_budget_cores if self._full else self.budget_cores

    def interval(self, now: float | None = None) -> float:
        """Seconds between redraws for every viewer now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._forget(now)
            if not self._redraws:
                return self.min_interval
            viewers = len({v for _, v, _ in self._redraws})
            cost = sum(s for _, _, s in self._redraws) / len(self._redraws) + self.overhead
        return min(self.max_interval, max(self.min_interval, viewers * cost / self.cores))

    def viewers(self, now: float | None = None) -> int:
        """Distinct viewers that redrew within the window."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._forget(now)
            return len({v for _, v, _ in self._redraws})

    def _forget(self, now: float) -> None:
        while self._redraws and now - self._redraws[0][0] > self.window:
            self._redraws.popleft()
