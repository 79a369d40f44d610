"""The instructor's broadcast on every page (playground/broadcast.py), as plain text.

A small fragment polls for a new message at an interval the server's refresh budget allows
(300 open pages checking every 2 minutes cost ~0.05 of a core), so a message reaches a learner
who is only watching a run train. The message is in the run store when one is open (every
front shows it; broadcast.py caches the read for a few seconds per process).

A page that polls anyway (Train's live view, every 1-10 s) checks for the message at its own
polls (`follow`): the notice's fragment then polls only every QUIET_SECONDS, and a new message or
a clear redraws the page. In a workshop the notice's polls were ~40 % of all the pages' reruns.
"""
from __future__ import annotations

import html
import secrets
import sys
import time

import streamlit as st

from playground import broadcast
from playground.refresh import RefreshBudget
from playground.ui.retime import current_fragment_id, retime

NOTICES = RefreshBudget(budget_cores=0.05, min_interval=5.0, max_interval=120.0, overhead_seconds=0.02)
QUIET_SECONDS = 120.0               # the notice's own polling on a page that `follow`s the message
FRAGMENT_KEY = "notice_fragment"    # session keys: the notice fragment's id on the page now,
SHOWN_KEY = "notice_shown"          # and the number of the message it shows (0: none)
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
        message = broadcast.latest(app_store())
        st.session_state[FRAGMENT_KEY], st.session_state[SHOWN_KEY] = current_fragment_id(), _number(message)
        show(message)
        NOTICES.record(viewer, time.perf_counter() - t0)

    notice()


def _number(message: broadcast.Broadcast | None) -> int:
    return message.number if message is not None else 0


def follow(quieted: bool) -> bool:
    """From a fragment that polls every few seconds, at each poll: a message posted or cleared
    since the notice was drawn redraws the page (st.rerun). Unless `quieted` (done already in
    this page run), the notice's own polling slows to QUIET_SECONDS; returns whether it did. A
    whole-page run draws the notice again at its own interval."""
    shown = st.session_state.get(SHOWN_KEY)
    if shown is not None and _number(broadcast.latest(app_store())) != shown:
        st.rerun()
    return quieted or retime(st.session_state.get(FRAGMENT_KEY), QUIET_SECONDS)


def within_seconds(followed_every: float) -> float:
    """How soon a message reaches every page: a page that follows it checks every
    `followed_every` s at most, the others at the notice's interval."""
    return max(NOTICES.interval(), followed_every)
