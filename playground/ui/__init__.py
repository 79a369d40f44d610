"""Streamlit glue shared by every page: page set-up, the session's identity and its runs.

This package is the only part of `playground` that imports streamlit.

Session-state keys:
    owner_token    unguessable id of this browser session; owns its runs in the registry
    active_run_id  the run the pages show (trained on the Train page)
    run_ids        every run this session created, oldest first
"""
from __future__ import annotations

import logging
import secrets
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from playground.runner import REGISTRY, Run

_log = logging.getLogger("playground")
if not _log.handlers:  # the server's log shows run lifecycle events (e.g. a closed session's runs)
    _log.addHandler(logging.StreamHandler())
    _log.setLevel(logging.INFO)

OWNER_KEY, ACTIVE_KEY, RUNS_KEY = "owner_token", "active_run_id", "run_ids"
ROOT = Path(__file__).resolve().parents[2]

# (file, label, icon, what it is for) — the sidebar menu and the home page's list
PAGES = [
    ("app.py", "Home", "🔁", "What this is and how to start."),
    ("pages/1_Train.py", "Train", "🏋️",
     "Corpus, cell (RNN tanh/relu, LSTM, GRU), sizes, sampler and optimizer; live loss, "
     "perplexity, gradient norm and generated text; checkpoints."),
    ("pages/2_Shapes.py", "Shapes", "📐",
     "Every weight and tensor of nn.RNN / LSTM / GRU for any settings, checked against PyTorch."),
    ("pages/3_Hidden_states.py", "Hidden states", "🔬",
     "Heatmaps of every layer's hidden state and gates over a text, live while training."),
    ("pages/4_Labs.py", "Labs", "🧪",
     "The source notes' examples, each small, runnable and explained."),
    ("pages/5_Generate.py", "Generate", "✍️",
     "Greedy and sampled text, the candidates at every step, and what clamping one neuron does."),
    ("pages/6_Compare.py", "Compare runs", "📊",
     "Overlay your runs' curves and compare perplexity, speed and size; RNN vs GRU vs LSTM in one click."),
]


def available_pages() -> list[tuple[str, str, str, str]]:
    return [p for p in PAGES if (ROOT / p[0]).exists()]


def setup_page(title: str, icon: str = "🔁") -> None:
    """Page config, the sidebar menu, and this session's owner token."""
    st.set_page_config(page_title=f"{title} · RNN Playground", page_icon=icon, layout="wide")
    with st.sidebar:
        try:
            for path, label, page_icon, _ in available_pages():
                st.page_link(path, label=label, icon=page_icon)
        except StreamlitPageNotFoundError:
            pass  # a page script run on its own (AppTest.from_file on a page): no menu
        st.divider()
    owner_token()


class _SessionGuard:
    def __init__(self, owner: str):
        self.owner = owner


def _release_session(guard: _SessionGuard) -> None:
    """The browser session went away: stop and free its runs."""
    REGISTRY.stop_owner(guard.owner)


@st.cache_resource(scope="session", on_release=_release_session, show_spinner=False)
def _session_guard(owner: str) -> _SessionGuard:
    return _SessionGuard(owner)


def owner_token() -> str:
    """This session's owner token (created on first use); ties its runs to its lifetime."""
    if OWNER_KEY not in st.session_state:
        st.session_state[OWNER_KEY] = secrets.token_urlsafe(16)
    token = st.session_state[OWNER_KEY]
    _session_guard(token)
    return token


def current_run() -> Run | None:
    """The session's active run, or None (never another session's run)."""
    return REGISTRY.get(st.session_state.get(ACTIVE_KEY), owner_token())


def session_runs() -> list[Run]:
    owner = owner_token()
    return [r for rid in st.session_state.get(RUNS_KEY, []) if (r := REGISTRY.get(rid, owner))]


def set_current_run(run: Run, active: bool = True) -> None:
    """Keep `run` in this session's list (Compare page); make it the one pages show if `active`."""
    if active:
        st.session_state[ACTIVE_KEY] = run.run_id
    ids = st.session_state.setdefault(RUNS_KEY, [])
    if run.run_id not in ids:
        ids.append(run.run_id)


def next_run_label(description: str) -> str:
    """"#3 LSTM h128 · Nested brackets": numbered in the order this session created runs."""
    return f"#{len(st.session_state.get(RUNS_KEY, [])) + 1} {description}"


def delete_run(run_id: str) -> None:
    REGISTRY.remove(run_id)
    st.session_state[RUNS_KEY] = [r for r in st.session_state.get(RUNS_KEY, []) if r != run_id]
    if st.session_state.get(ACTIVE_KEY) == run_id:
        st.session_state.pop(ACTIVE_KEY)


def require_run(what: str = "this page") -> Run:
    """The session's current run; without one, a friendly pointer to the Train page and the
    page stops there."""
    run = current_run()
    if run is not None:
        return run
    st.info(f"Train a model first: {what} looks inside the model you train on the Train page.")
    try:
        st.page_link("pages/1_Train.py", label="Go to the Train page", icon="🏋️")
    except StreamlitPageNotFoundError:
        pass  # a page script run on its own (AppTest.from_file on a page)
    st.stop()
