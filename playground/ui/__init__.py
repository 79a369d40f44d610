"""Streamlit glue shared by every page: page set-up, the link's workspace and its runs.

This package is the only part of `playground` that imports streamlit.

A learner's runs belong to a workspace whose unguessable token the page URL carries
(`?w=...`): a reload, a second tab or the same link on another device shows and controls the
same runs; a page opened without it starts an empty workspace. The token is also kept in
session state, so it survives moving between pages (page links drop query parameters).

Session-state keys:
    owner_token    the workspace token of this browser session (also in the URL as `w`)
"""
from __future__ import annotations

import logging
import os
import re
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from playground.ui import event_batching

if TYPE_CHECKING:  # the registry (and torch) load on first use: Home does not wait for them
    from playground.front import RunFront as Run
    from playground.registry import RunRegistry

_log = logging.getLogger("playground")
if not _log.handlers:  # the server's log shows run lifecycle events (e.g. a closed session's runs)
    _log.addHandler(logging.StreamHandler())
    _log.setLevel(logging.INFO)
event_batching.install()   # before this server's sessions draw much: one loop wake-up per burst

OWNER_KEY, LINK_PARAM, NOTE_KEY = "owner_token", "w", "workspace_note"
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
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
    ("pages/7_Room.py", "Room (instructor)", "🧑‍🏫", "The instructor's view of the whole class (needs the key)."),
]


def available_pages() -> list[tuple[str, str, str, str]]:
    return [p for p in PAGES if (ROOT / p[0]).exists()]


def registry() -> "RunRegistry":
    from playground.runner import REGISTRY
    return REGISTRY


def setup_page(title: str, icon: str = "🔁", runs: bool = True) -> None:
    """Page config, the sidebar menu, and the link's workspace (`runs=False`: the token only,
    without loading the training engine — the home page)."""
    st.set_page_config(page_title=f"{title} · RNN Playground", page_icon=icon, layout="wide")
    with st.sidebar:
        try:
            for path, label, page_icon, _ in available_pages():
                st.page_link(path, label=label, icon=page_icon)
        except StreamlitPageNotFoundError:
            pass  # a page script run on its own (AppTest.from_file on a page): no menu
        st.divider()
    from playground.ui.notice import broadcast_notice; broadcast_notice()  # noqa: E702  the instructor's message
    if runs:
        unloaded_warning(owner_token())
    else:
        _link_token()
    store_warning()


def unloaded_warning(token: str) -> None:
    """Once per page: the link's saved runs are kept but cannot be loaded now (e.g. the Ray cluster
    is out of reach on a front started meanwhile); a reload tries again."""
    if why := registry().unavailable(token):
        st.warning(f"This link's saved runs cannot be loaded right now: {why.rstrip('.')}. Nothing is lost: they "
                   "are kept in the run store, and they load when you reload this page once that is fixed. "
                   "Runs you start meanwhile join them.", icon="💾")


def store_warning() -> None:
    """One warning when the run store cannot save (the registry's; not loaded on Home until
    another page has loaded the training engine)."""
    runner = sys.modules.get("playground.runner")
    persistence = getattr(getattr(runner, "REGISTRY", None), "persistence", None)
    if persistence is not None and (problem := persistence.problem()):
        st.warning(problem, icon="💾")


def _link_token() -> str:
    """This session's workspace token, put in the URL so that the link leads back to it."""
    if OWNER_KEY not in st.session_state:
        raw = st.query_params.get(LINK_PARAM, "")
        st.session_state[OWNER_KEY] = raw if TOKEN.fullmatch(raw) else secrets.token_urlsafe(16)
        st.session_state["owner_from_link"] = bool(TOKEN.fullmatch(raw))
        st.session_state["arrived_by_link"] = bool(TOKEN.fullmatch(raw))   # kept: a viewer watches read-only
        if raw and not TOKEN.fullmatch(raw):
            st.session_state[NOTE_KEY] = "This link's workspace id is not valid, so a new, empty one was started."
    token = st.session_state[OWNER_KEY]
    if st.query_params.get(LINK_PARAM) != token:
        st.query_params[LINK_PARAM] = token
    return token


class _SessionGuard:
    def __init__(self, owner: str):
        self.owner = owner


def _release_session(guard: _SessionGuard) -> None:
    """The browser session went away: its workspace has one viewer less (grace period at zero)."""
    registry().detach(guard.owner)


@st.cache_resource(scope="session", on_release=_release_session, show_spinner=False)
def _session_guard(owner: str) -> _SessionGuard:
    registry().attach(owner)
    return _SessionGuard(owner)


def owner_token() -> str:
    """The workspace token of this session: the link's, if its workspace still exists on this
    server (in memory, or in the run store: then its runs are loaded back); otherwise a fresh
    one (with a note saying why the link's runs are not shown)."""
    token = _link_token()
    if st.session_state.pop("owner_from_link", False) and not registry().has_workspace(token):
        days = registry().limits.keep_days
        st.session_state[NOTE_KEY] = (
            "This link's runs are not on this server any more: links nobody opened for "
            f"{days:g} days are deleted with their runs (so are runs the server could not save, "
            "and runs you deleted). A new, empty workspace was started; its link is in the address bar.")
        token = st.session_state[OWNER_KEY] = secrets.token_urlsafe(16)
        st.query_params[LINK_PARAM] = token
    _session_guard(token)
    if note := st.session_state.pop(NOTE_KEY, None):
        st.warning(note)
    return token


def current_run() -> "Run | None":
    """The workspace's active run, or None (never another workspace's run)."""
    return registry().active_run(owner_token())


def session_runs() -> list["Run"]:
    """The workspace's runs, oldest first (the Compare page)."""
    return registry().runs_of(owner_token())


def set_current_run(run: "Run", active: bool = True) -> None:
    """Make `run` the one pages show (every tab of this link follows)."""
    if active:
        registry().set_active(owner_token(), run.run_id)


def next_run_label(description: str) -> str:
    """"#3 LSTM h128 · Nested brackets": numbered in the order this workspace created runs."""
    ws = registry().workspace(owner_token())
    return f"#{len(ws.run_ids) + 1} {description}"


def client_id() -> str:
    """Who this browser session is for the fair share (playground/clients.py): its address, the
    trusted balancer's X-Forwarded-For entry with PLAYGROUND_TRUST_PROXY, else its link."""
    from playground.clients import client_key, trusted_proxies
    trusted = trusted_proxies(os.environ)
    forwarded = (st.context.headers.get("X-Forwarded-For") or "") if trusted else ""
    return client_key(st.context.ip_address, forwarded, trusted, st.session_state.get(OWNER_KEY, ""))


def start_run(run: "Run", steps: int) -> None:
    """Start `run` for this person: ValueError (for the page to show) at the cap of runs
    training at once per person."""
    registry().start(run, steps, client_id())


def step_run(run: "Run", n: int = 1) -> None:
    """Step `run` for this person (a new active run counts against the cap, as Start)."""
    registry().step(run, n, client_id())


def check_may_start(run: "Run | None" = None) -> None:
    """ValueError if this person may not make one more run active (before a new run is built)."""
    registry().check_start(client_id(), run)


def create_run(model_config, train_config, text: str, corpus_key: str, description: str,
               active: bool = True, **trainer_kwargs) -> "Run":
    """The one way pages create a run: the registry checks the server's limits (before anything
    is built), builds it in this workspace for this person, and it is selected. Raises
    ValueError with a message for the page to show."""
    run = registry().create(model_config, train_config, text, owner_token(), label=next_run_label(description),
                            corpus_key=corpus_key, client=client_id(), **trainer_kwargs)
    set_current_run(run, active)
    return run


def delete_run(run_id: str) -> None:
    if registry().get(run_id, owner_token()) is not None:
        registry().remove(run_id)


def lazy_expander(label: str, key: str, parent=None):
    """A collapsed expander whose content is built only while it is open: the container to draw
    into, or None while it is closed. Opening or closing it reruns the page (Streamlit's
    `on_change="rerun"`), so a closed one costs no rerun of a live page anything."""
    box = (parent or st).expander(label, key=key, on_change="rerun")
    return box if box.open else None


def limits_sidebar() -> None:
    """The limits this server's instructor set, in the sidebar."""
    if (box := lazy_expander("This server's limits", "limits_open", st.sidebar)) is not None:
        box.table({what: value for what, value in registry().limits.table()})
        box.caption("Set by the instructor with PLAYGROUND_* environment variables (see the README).")


def require_run(what: str = "this page") -> "Run":
    """The workspace's current run; without one, a friendly pointer to the Train page and the
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
