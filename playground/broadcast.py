"""The instructor's message to the whole room, shown on every learner's page.

    post("Switch to the GRU now")    # -> Broadcast (text cleaned: one line, at most MAX_CHARS)
    latest()                         # -> Broadcast | None (None: no message, or it was cleared)
    clear()

Kept in this process's memory for now (one front); the run store will persist it so that every
front behind a balancer shows the same message. Pages show the text as plain text, never markdown.
"""
from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

MAX_CHARS = 280


@dataclass(frozen=True)
class Broadcast:
    text: str
    posted_at: float     # time.time()
    number: int          # 1, 2, …: increases with every post (pages can tell a new message)


def clean(text: str) -> str:
    """One line of printable text, at most MAX_CHARS characters."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split())
    return text[:MAX_CHARS]


class Board:
    """The latest message (thread-safe)."""

    def __init__(self):
        self._latest: Broadcast | None = None
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def post(self, text: str) -> Broadcast | None:
        """Show `text` to everyone (an empty text clears the message)."""
        text = clean(text)
        with self._lock:
            self._latest = Broadcast(text, time.time(), next(self._numbers)) if text else None
            return self._latest

    def latest(self) -> Broadcast | None:
        with self._lock:
            return self._latest

    def clear(self) -> None:
        with self._lock:
            self._latest = None


BOARD = Board()


def post(text: str) -> Broadcast | None:
    return BOARD.post(text)


def latest() -> Broadcast | None:
    return BOARD.latest()


def clear() -> None:
    BOARD.clear()
