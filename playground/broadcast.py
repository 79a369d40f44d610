"""The instructor's message to the whole room, shown on every learner's page.

    post("Switch to the GRU now", store)   # -> Broadcast (text cleaned: one line, at most MAX_CHARS)
    latest(store)                          # -> Broadcast | None (None: no message, or it was cleared)
    clear(store)

With a run store (`store`: store.RunStore, the app's when one is open) the message lives in its
broadcasts table, so every front behind a balancer shows the same one and it survives a
restart; a clear is an empty message (the newest row decides). Reads are cached for
CACHE_SECONDS per process: 300 pages polling cost one small query per few seconds. Without a
store (or while it fails) the message is kept in this process's memory. Pages show the text as
plain text, never markdown.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)
MAX_CHARS = 280
CACHE_SECONDS = 2.0      # a front asks the store at most this often, whatever the number of pages


@dataclass(frozen=True)
class Broadcast:
    text: str
    posted_at: float     # time.time()
    number: int          # increases with every post (pages can tell a new message)


def clean(text: str) -> str:
    """One line of printable text, at most MAX_CHARS characters."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split())
    return text[:MAX_CHARS]


class Board:
    """The latest message: in the store when one is given, else in memory (thread-safe)."""

    def __init__(self, cache_seconds: float = CACHE_SECONDS):
        self.cache_seconds = cache_seconds
        self._latest: Broadcast | None = None     # the in-memory message (no store)
        self._numbers = itertools.count(1)
        self._cached: tuple[float, int, Broadcast | None] | None = None   # (when, id(store), message)
        self._lock = threading.Lock()

    def post(self, text: str, store=None) -> Broadcast | None:
        """Show `text` to everyone (an empty text clears the message)."""
        text = clean(text)
        if store is not None:
            try:
                number, now = store.add_broadcast(text), time.time()
                message = Broadcast(text, now, int(number)) if text else None
                with self._lock:
                    self._cached = (time.monotonic(), id(store), message)
                return message
            except Exception as e:  # noqa: BLE001 - a failing store: this front shows it at least
                log.warning("broadcast: the run store could not keep the message (%s); this front shows it", e)
        with self._lock:
            self._latest = Broadcast(text, time.time(), next(self._numbers)) if text else None
            return self._latest

    def latest(self, store=None) -> Broadcast | None:
        if store is None:
            with self._lock:
                return self._latest
        with self._lock:
            cached = self._cached
        if cached is not None and cached[1] == id(store) and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[2]
        try:
            rows = store.broadcasts(limit=1)
        except Exception as e:  # noqa: BLE001
            log.warning("broadcast: reading the run store failed: %s", e)
            return cached[2] if cached is not None else self.latest()
        message = Broadcast(rows[0].text, rows[0].created_at, rows[0].id) if rows and rows[0].text else None
        with self._lock:
            self._cached = (time.monotonic(), id(store), message)
        return message

    def clear(self, store=None) -> None:
        if store is not None:
            self.post("", store)
        with self._lock:
            self._latest = None


BOARD = Board()


def post(text: str, store=None) -> Broadcast | None:
    return BOARD.post(text, store)


def latest(store=None) -> Broadcast | None:
    return BOARD.latest(store)


def clear(store=None) -> None:
    BOARD.clear(store)
