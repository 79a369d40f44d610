"""The instructor's broadcast on every page (playground/broadcast.py), as plain text.

A small fragment polls for a new message at an interval the server's refresh budget allows
(300 open pages checking every 2 minutes cost ~0.05 of a core), so a message reaches a learner
who is only watching a run train.
"""
from __future__ import annotations

import re
import secrets
import time

import streamlit as st

from playground import broadcast
from playground.refresh import RefreshBudget

NOTICES = RefreshBudget(budget_cores=0.05, min_interval=5.0, max_interval=120.0, overhead_seconds=0.02)
_MARKDOWN = re.compile(r"([!-/:-@\[-`{-~])")   # every ASCII punctuation character


def plain(text: str) -> str:
    """`text` escaped so that markdown shows it as typed (no links, images, colours, LaTeX, emoji codes)."""
    return _MARKDOWN.sub(r"\\\1", text)


def show(message: broadcast.Broadcast | None) -> None:
    if message is not None:
        st.info(plain(message.text), icon="📣")


def broadcast_notice() -> None:
    """The instructor's latest message at the top of the page, refreshed within the budget."""
    viewer = st.session_state.setdefault("notice_viewer", secrets.token_hex(8))

    @st.fragment(run_every=NOTICES.interval())
    def notice() -> None:
        t0 = time.perf_counter()
        show(broadcast.latest())
        NOTICES.record(viewer, time.perf_counter() - t0)

    notice()
