"""Which browser a session runs in, so that a reload is not mistaken for another device.

A reload, or a second tab, is a new Streamlit session; the link (`?w=`) alone cannot tell it from
the projector or a second device opening the same link. The browser can: with XSRF protection
on (`.streamlit/config.toml`), Streamlit keeps one random token per browser in the
`_streamlit_xsrf` cookie and re-sends it on every connection. Its token bytes (the cookie masks
them afresh each time: version 2 is `2|mask|masked token|time`, a 4-byte mask repeated over the
token, as tornado does)
identify the browser; we keep only a short hash of them, never the token.

    browser_id(cookies) -> "3f9a2c…" | None      # None: no cookie (AppTest, XSRF off)
    CONTROLLERS.claim(workspace, browser)         # this browser acts on the workspace's runs
    CONTROLLERS.is_other(workspace, browser)      # another browser claimed it: watch read-only
"""
from __future__ import annotations

import binascii
import hashlib
import itertools
import threading

XSRF_COOKIE = "_streamlit_xsrf"


def token_bytes(cookie: str | None) -> bytes | None:
    """The token a `_streamlit_xsrf` cookie carries (version 2 masked, or version 1 hex)."""
    value = (cookie or "").strip("\"'")
    try:
        if value.startswith("2|"):
            _, mask, masked, _time = value.split("|")
            mask_b, masked_b = binascii.a2b_hex(mask), binascii.a2b_hex(masked)
            return bytes(a ^ b for a, b in zip(masked_b, itertools.cycle(mask_b))) if mask_b and masked_b else None
        return binascii.a2b_hex(value) if value else None
    except (ValueError, binascii.Error):
        return None


def browser_id(cookies) -> str | None:
    """A short hash naming this browser, from its XSRF cookie; None without one."""
    token = token_bytes((cookies or {}).get(XSRF_COOKIE))
    return hashlib.sha256(b"rnn-playground-browser|" + token).hexdigest()[:16] if token else None


class Controllers:
    """The browser that last acted on each workspace's runs (in this process; bounded)."""

    def __init__(self, max_entries: int = 100_000):
        self._by_workspace: dict[str, str] = {}
        self._lock = threading.Lock()
        self._max = max_entries

    def claim(self, workspace: str, browser: str | None) -> None:
        if not browser:
            return
        with self._lock:
            self._by_workspace.pop(workspace, None)
            self._by_workspace[workspace] = browser
            while len(self._by_workspace) > self._max:
                self._by_workspace.pop(next(iter(self._by_workspace)))

    def is_other(self, workspace: str, browser: str | None) -> bool | None:
        """True: another browser acts on this workspace; False: this one does, or none claimed it
        (e.g. after a restart); None: this session's browser is unknown (no cookie)."""
        if not browser:
            return None
        with self._lock:
            owner = self._by_workspace.get(workspace)
        return owner is not None and owner != browser


CONTROLLERS = Controllers()
