"""The instructor's broadcast on every page (playground/broadcast.py), as plain text.

A small fragment polls for a new message at an interval the server's refresh budget allows
(300 open pages checking every 2 minutes cost ~0.05 of a core), so a message reaches a learner
who is only watching a run train. The message is in the run store when one is open (every
front shows it; broadcast.py caches the read for a few seconds per process).
"""
from __future__ import annotations

import html
import secrets
import sys
import time

import streamlit as st

from playground import broadcast
from playground.refresh import RefreshBudget

NOTICES = RefreshBudget(budget_cores=0.05, min_interval=5.0, max_interval=120.0, overhead_seconds=0.02)
BOX = ("padding:0.75rem 1rem;border-radius:0.5rem;background:rgba(28,131,225,0.12);"
       "color:inherit;overflow-wrap:anywhere;margin-bottom:0.5rem")


def app_store():
    """The app's open run store (the registry's, once the training engine is loaded; the Home
    page does not load it), None without one: the broadcast is then this process's."""
    runner = sys.modules.get("playground.runner")
    writer = getattr(getattr(getattr(runner, "REGISTRY", None), "persistence", None), "writer", None)
    return writer.usable_store if writer is not None else None


def show(message: broadcast.Broadcast | None) -> None:
    """The message as typed: HTML-escaped text in an info-coloured box, never markdown (Streamlit's
    markdown turns a typed URL into a link even with its punctuation escaped)."""
    if message is not None:
        st.html(f"<div class='playground-broadcast' role='status' style='{BOX}'>📣 {html.escape(message.text)}</div>")


def broadcast_notice() -> None:
    """The instructor's latest message at the top of the page, refreshed within the budget."""
    viewer = st.session_state.setdefault("notice_viewer", secrets.token_hex(8))

    @st.fragment(run_every=NOTICES.interval())
    def notice() -> None:
        t0 = time.perf_counter()
        show(broadcast.latest(app_store()))
        NOTICES.record(viewer, time.perf_counter() - t0)

    notice()
