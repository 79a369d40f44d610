"""The last finished result of slow work, refreshed in the background (pure, no streamlit).

A live page asks every few seconds for, e.g., the probe of a run at its newest step. Computing it
inside the page's rerun made every control change wait behind it (a layer change took 46 s on a
busy machine). `Latest` answers at once with the last finished result and, when a newer version
is wanted, computes it on one background thread per key:

    latest = Latest()
    result, version = latest.get(key, version=run.steps_done, compute=lambda: probe(...))
    # result: the last finished one (None only before the first; then computed in this call)
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Hashable

log = logging.getLogger(__name__)


class _Slot:
    def __init__(self):
        self.result: Any = None
        self.version: Any = None
        self.error: Exception | None = None
        self.busy = False
        self.done_at = 0.0          # monotonic time the last computation finished


class Latest:
    """Per key: the last finished (result, version); at most one computation running per key."""

    def __init__(self, max_keys: int = 32, min_interval: float = 0.0):
        self._slots: OrderedDict[Hashable, _Slot] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_keys
        self.min_interval = min_interval   # seconds between background computations of a key (CPU for others)

    def _slot(self, key: Hashable) -> _Slot:
        with self._lock:
            slot = self._slots.pop(key, None) or _Slot()
            self._slots[key] = slot
            while len(self._slots) > self._max:
                self._slots.popitem(last=False)
            return slot

    def get(self, key: Hashable, version: Any, compute: Callable[[], Any],
            wait: bool = False) -> tuple[Any, Any]:
        """(result, its version). The first call for a key computes in the caller (raising what
        `compute` raises), as does `wait` (e.g. the run stopped: its last step, now); otherwise
        the last result comes at once and, if `version` is newer than the result's and none is
        running, a background thread computes it."""
        slot = self._slot(key)
        if (wait or slot.version is None and not slot.busy) and slot.version != version:
            slot.result, slot.version = compute(), version
            slot.done_at = time.monotonic()
            return slot.result, slot.version
        with self._lock:
            start = (not slot.busy and slot.version != version
                     and time.monotonic() - slot.done_at >= self.min_interval)
            slot.busy = slot.busy or start
        if start:
            threading.Thread(target=self._refresh, args=(slot, version, compute), daemon=True,
                             name="latest-refresh").start()
        return slot.result, slot.version

    def busy(self, key: Hashable) -> bool:
        with self._lock:
            slot = self._slots.get(key)
            return bool(slot and slot.busy)

    @staticmethod
    def _refresh(slot: _Slot, version: Any, compute: Callable[[], Any]) -> None:
        try:
            slot.result, slot.version, slot.error = compute(), version, None
        except Exception as e:  # noqa: BLE001 - kept for the page; the last good result stays
            log.warning("background refresh failed: %s", e)
            slot.error = e
        finally:
            slot.done_at = time.monotonic()
            slot.busy = False
