"""The instructor's key: what opens the Room page.

The instructor sets PLAYGROUND_INSTRUCTOR_KEY when starting the server. A typed key is
compared with it in constant time (hmac.compare_digest on SHA-256 digests, so neither the
length nor the first differing character shows in the time taken). Wrong keys are rate
limited: at most `per_session` tries per `window` seconds from one browser session, and at
most `overall` failed tries per window from all sessions together (many sessions cannot
guess faster). The key is never stored in session state, a URL or a log: only whether this
session unlocked the page, and with which key's fingerprint (changing the key locks it again).

    gate = KeyGate()
    result = gate.check(session_id, typed)   # Attempt(ok, message)
"""
from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections import deque
from dataclasses import dataclass

ENV = "PLAYGROUND_INSTRUCTOR_KEY"
MIN_LENGTH = 12   # shorter keys work, with a warning on the page
HOW_TO_ENABLE = (
    "The Room is the instructor's view of every learner's runs. It is off on this server. To turn it "
    f"on, start the server with a key of your choice, e.g.\n\n"
    f"    {ENV}='a long secret phrase' streamlit run app.py\n\n"
    "then open this page again and type the key. Keep it to yourself: it shows the whole room.")


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def configured_key(env: dict | None = None) -> str:
    """The key the server was started with ("" when the Room is off)."""
    return (os.environ if env is None else env).get(ENV, "").strip()


def fingerprint(key: str) -> str:
    """What a session keeps to remember which key unlocked it (not enough to recover the key)."""
    return hashlib.sha256(b"room-session:" + key.encode("utf-8")).hexdigest()[:16]


def key_matches(typed: str, key: str) -> bool:
    """Constant-time comparison of a typed key with the configured one."""
    return bool(key) and hmac.compare_digest(digest(typed), digest(key))


@dataclass(frozen=True)
class Attempt:
    ok: bool
    message: str


class KeyGate:
    """Checks typed keys with per-session and overall limits on wrong tries."""

    def __init__(self, per_session: int = 5, overall: int = 20, window: float = 60.0, clock=time.monotonic):
        self.per_session, self.overall, self.window, self.clock = per_session, overall, window, clock
        self._failures: deque = deque()        # (time, session id)
        self._lock = threading.Lock()

    def _forget(self, now: float) -> None:
        while self._failures and now - self._failures[0][0] > self.window:
            self._failures.popleft()

    def wait_seconds(self, session: str) -> float:
        """Seconds before `session` may try again (0: it may try now)."""
        now = self.clock()
        with self._lock:
            self._forget(now)
            mine = [t for t, s in self._failures if s == session]
            waits = []
            if len(mine) >= self.per_session:
                waits.append(mine[-self.per_session] + self.window - now)
            if len(self._failures) >= self.overall:
                waits.append(self._failures[-self.overall][0] + self.window - now)
        return max([0.0, *waits])

    def check(self, session: str, typed: str, key: str | None = None) -> Attempt:
        """Try `typed` against the configured key (or `key`); refused without comparing while limited."""
        key = configured_key() if key is None else key
        if not key:
            return Attempt(False, "The Room is off on this server (no instructor key is set).")
        if (wait := self.wait_seconds(session)) > 0:
            return Attempt(False, f"Too many wrong keys: try again in {max(1, round(wait))} s.")
        if key_matches(typed, key):
            return Attempt(True, "Unlocked.")
        with self._lock:
            self._failures.append((self.clock(), session))
        return Attempt(False, "That key is not right.")


GATE = KeyGate()
