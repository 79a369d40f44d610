"""The Room page's sections: the instructor's key, the room at a glance, the lesson, the
projector view of one run, and running the class (exercise link + QR code, broadcast, export).

Session-state keys:
    room_unlocked     fingerprint of the key that unlocked this session (never the key itself)
    room_session      a random id for the per-session limit on wrong keys
    room_key_message  what the last key attempt said
"""
from __future__ import annotations

import html
import io
import secrets
import time

import streamlit as st

from playground import broadcast, corpora, instructor, room, room_store
from playground.cells import LABELS
from playground.figures import curves as curve_figures
from playground.figures import room as room_figures
from playground.refresh import RefreshBudget
from playground.ui import live, notice, registry
from playground.ui import train as train_ui
from playground.ui.share import plain, share_link

UNLOCKED, SESSION, MESSAGE, KEY_INPUT = "room_unlocked", "room_session", "room_key_message", "room_key"
# The Room's live redraws: at most 5 % of a core whatever the room's size (slower for 300 runs).
ROOM = RefreshBudget(budget_cores=0.05, min_interval=3.0, max_interval=60.0, overhead_seconds=0.02)
NUMBER = st.column_config.NumberColumn
COLUMNS = {
    "learner": st.column_config.TextColumn(help="Anonymous unless the learner chose a display name"),
    "hidden_size": NUMBER("hidden", format="%d"), "num_layers": NUMBER("layers", format="%d"),
    "step": NUMBER(format="localized"), "target": NUMBER(format="localized", help="Step the run trains to"),
    "val perplexity": NUMBER(format="%.3f", help="exp(last validation loss); per token"),
    "val bits/char": NUMBER(format="%.3f", help="Comparable across char and word tokens"),
    "tokens/s": NUMBER(format="localized", help="Training throughput over the last 20 steps"),
    "flags": st.column_config.TextColumn(width="large"),
    "updated (s ago)": NUMBER(format="%.0f", help="Seconds since the room saw this run's step change"),
}
EXERCISE = ["corpus", "cell", "hidden_size", "num_layers", "embedding_dim", "lr", "steps"]
WINDOWS = {1: "the last hour", 3: "the last 3 hours", 12: "the last 12 hours", 24: "the last day", 168: "the last week"}


# ---- the key --------------------------------------------------------------------------------

def _try_key() -> None:
    """The key form's callback: check the typed key, then forget it."""
    typed, st.session_state[KEY_INPUT] = st.session_state.get(KEY_INPUT, ""), ""   # not kept in the session
    session = st.session_state.setdefault(SESSION, secrets.token_hex(8))
    attempt = instructor.GATE.check(session, typed)
    if attempt.ok:
        st.session_state[UNLOCKED] = instructor.fingerprint(instructor.configured_key())
    st.session_state[MESSAGE] = "" if attempt.ok else attempt.message


def unlocked() -> bool:
    """True when this session holds the right key; otherwise draws how to enable it or the key form."""
    key = instructor.configured_key()
    if not key:
        st.info(instructor.HOW_TO_ENABLE)
        return False
    if st.session_state.get(UNLOCKED) == instructor.fingerprint(key):
        return True
    with st.form("room_key_form", clear_on_submit=True):
        st.text_input("Instructor key", type="password", key=KEY_INPUT, autocomplete="off",
                      help="The PLAYGROUND_INSTRUCTOR_KEY this server was started with.")
        st.form_submit_button("Open the Room", type="primary", on_click=_try_key)
    if message := st.session_state.get(MESSAGE):
        st.error(message)
    st.caption("Learners: this page is for the instructor. Your own runs are on the Train and Compare pages.")
    return False


def lock_button() -> None:
    key = instructor.configured_key()
    if len(key) < instructor.MIN_LENGTH:
        st.warning(f"The instructor key is shorter than {instructor.MIN_LENGTH} characters: "
                   "a learner could guess it. Restart the server with a longer one.")
    if st.button("Lock the Room", help="Close the Room in this browser (the key is needed again)."):
        st.session_state.pop(UNLOCKED, None)
        st.rerun()


# ---- live sections --------------------------------------------------------------------------

def store():
    """The app's run store (every front's runs, kept across restarts); None: this front only."""
    return room_store.store_of(registry())


def room_runs(hours: float | None = None) -> list[room.RoomRun]:
    hours = hours or st.session_state.get("room_window", 12)
    return room_store.room_runs(registry(), store(), since=time.time() - hours * 3600)


def live_room() -> None:
    """The room at a glance, the lesson and the projector, redrawn within the refresh budget."""
    viewer = st.session_state.setdefault("room_viewer", secrets.token_hex(8))
    every = ROOM.interval()
    hours = st.selectbox("Learners seen in", list(WINDOWS), index=2, format_func=WINDOWS.get, key="room_window",
                         help="Workspaces opened, or runs that changed, in this time: on every front of this "
                              "server, including runs unloaded from memory and runs from before a restart.")
    if store() is None:
        st.caption("No run store is open: the room shows the runs in this server process only.")

    @st.fragment(run_every=every)
    def view() -> None:
        t0 = time.perf_counter()
        runs = room_runs(hours)
        headline(runs)
        glance, lesson, projector = st.tabs(["The room at a glance", "The lesson", "Projector: one run"])
        with glance:
            glance_table(runs)
        with lesson:
            lesson_section(runs)
        with projector:
            projector_view(runs)
        cost = time.perf_counter() - t0
        ROOM.record(viewer, cost)
        st.caption(f"Live: redrawn every {every:.0f} s ({cost * 1000:.0f} ms to build for {len(runs)} runs; "
                   f"the Room's redraws stay within {ROOM.budget_cores:.0%} of a core).")
        if not 0.5 <= ROOM.interval() / every <= 2:
            st.rerun()   # the room's cost changed a lot: redraw at the new interval

    view()


def headline(runs: list[room.RoomRun]) -> None:
    c = st.columns(5)
    c[0].metric("learners", len({r.workspace for r in runs}))
    c[1].metric("runs", len(runs))
    c[2].metric("training now", sum(r.status == "running" for r in runs))
    c[3].metric("waiting", sum(r.status == "queued" for r in runs))
    c[4].metric("flagged", sum(any(f in room.flags(r) for f in (room.DIVERGED, room.STUCK, room.FAILED))
                               for r in runs), help="Diverged, stuck at the unigram baseline, or failed")


def glance_table(runs: list[room.RoomRun]) -> None:
    if not runs:
        st.info("No runs yet. Learners' runs appear here as soon as they create one on the Train page "
                "(build an exercise link below and put it on the projector).")
        return
    st.dataframe(room.glance_table(runs), hide_index=True, column_config=COLUMNS, key="room_table")
    st.caption("Click a column header to sort. Flags: 💥 diverged · 🐢 stuck at the unigram baseline "
               f"(within {room.STUCK_TOLERANCE:.0%} of it after {room.STUCK_MIN_STEPS} steps) · ⏳ waiting for "
               "a trainer · 💤 not started · 📉 worse than uniform guessing · ⚠️ failed.")


def lesson_section(runs: list[room.RoomRun]) -> None:
    c = st.columns([1, 2])
    min_steps = int(c[0].number_input("Count runs with at least this many steps", 0, 1_000_000, 200, 100,
                                      key="room_min_steps"))
    ranked = room.ranked(runs, min_steps)
    groups = sorted({r.group for r in ranked}, key=lambda g: -sum(r.group == g for r in ranked))
    if not groups:
        st.info("No run has a validation measurement after that many steps yet (runs on a learner's own "
                "text are not ranked: their texts differ).")
        return
    group = c[1].selectbox("Corpus (perplexity compares runs with the same tokens only)", groups, key="room_group")
    mine = [r for r in ranked if r.group == group]
    st.markdown(f"**{plain(group)}** · {room.summary(mine)[group]}")
    board = room.leaderboard(mine)[group]
    st.dataframe(board, hide_index=True, key="room_board", column_config={
        "val perplexity": NUMBER(format="%.3f"), "val bits/char": NUMBER(format="%.3f"),
        "step": NUMBER(format="localized")})
    left, right = st.columns([3, 2])
    left.plotly_chart(room_figures.overlay_figure(mine), key="room_overlay")
    right.plotly_chart(room_figures.by_cell_figure(mine), key="room_by_cell")


def projector_view(runs: list[room.RoomRun]) -> None:
    """One learner's run, read-only and big, for the projector (no control reaches the run)."""
    if not runs:
        st.info("No runs yet.")
        return
    by_id = {r.run_id: r for r in runs}
    run_id = st.selectbox("Run to show", list(by_id), key="room_projector",
                          format_func=lambda i: f"{by_id[i].learner} · {by_id[i].label} · {by_id[i].status}")
    r = by_id[run_id]
    data = room_store.projector_data(registry(), store(), r)
    if data is None:
        st.info("That run is gone (its learner deleted it or left).")
        return
    st.subheader(plain(f"{r.learner}: {r.label} · {r.status}"))
    c = st.columns(4)
    c[0].metric("step", f"{r.step:,} of {r.target_step:,}")
    c[1].metric("val perplexity", f"{r.val_perplexity:.3f}" if r.val_perplexity == r.val_perplexity else "—")
    c[2].metric("val bits/char", f"{r.val_bits_per_char:.3f}" if r.val_bits_per_char == r.val_bits_per_char else "—")
    c[3].metric("tokens/s", f"{r.tokens_per_s:,.0f}")
    if len(data.history):
        st.plotly_chart(curve_figures.curve_figure(data.history, "loss", data.uniform_perplexity,
                                                   data.unigram_perplexity, False, 0.6, run_id),
                        key="room_projector_curve")
    if data.sample is not None:
        s = data.sample
        st.caption(f"Generated after step {s.step:,} (sampled at temperature {s.temperature:g})")
        st.html("<div style='font-size:1.6rem;line-height:1.4;font-family:monospace;white-space:pre-wrap;"
                f"word-break:break-all'><b>{html.escape(s.prefix)}</b>{html.escape(s.sampled)}</div>")
    st.caption("Read-only: nothing here reaches the learner's run or page, and no link to it is shown "
               "(a learner's link is the key to their runs).")


# ---- running the class ----------------------------------------------------------------------

def exercise_link() -> None:
    """Train settings with controls locked or hidden, as a link shown large with a QR code."""
    labels, d = train_ui.url_labels(), train_ui.DEFAULTS
    c = st.columns(4)
    values = {
        "corpus": c[0].selectbox("Corpus", list(corpora.CORPORA), format_func=lambda k: corpora.CORPORA[k].name,
                                 index=list(corpora.CORPORA).index(d["corpus"]), key="ex_corpus"),
        "cell": c[1].selectbox("Cell", list(LABELS), format_func=LABELS.get, index=list(LABELS).index(d["cell"]),
                               key="ex_cell"),
        "hidden_size": c[2].number_input("hidden_size", 1, 1024, d["hidden_size"], key="ex_hidden_size"),
        "num_layers": c[3].number_input("num_layers", 1, 8, d["num_layers"], key="ex_num_layers"),
        "embedding_dim": c[0].number_input("embedding_dim", 0, 1024, d["embedding_dim"], key="ex_embedding_dim"),
        "lr": c[1].select_slider("lr", train_ui.LR_CHOICES, d["lr"], key="ex_lr"),
        "steps": c[2].number_input("steps", 1, 1_000_000, d["steps"], 100, key="ex_steps"),
    }
    c = st.columns(2)
    lock = c[0].multiselect("Lock (shown, cannot be changed)", train_ui.SETTINGS, key="ex_lock")
    hide = c[1].multiselect("Hide (fixed and not shown)", train_ui.SETTINGS, key="ex_hide")
    shown = {k: labels[k](v) if k in labels else v for k, v in values.items()}
    fixed = set(lock) | set(hide)   # a fixed control's value is always in the link, even the default
    defaults = {k: labels[k](v) if k in labels else v for k, v in d.items() if k not in fixed}
    link = share_link("Train", shown, defaults, lock, hide)
    show_link(link)


def show_link(link: str) -> None:
    """The link big enough to read from the back of the room, and its QR code."""
    left, right = st.columns([2, 1])
    left.html(f"<div style='font-size:2rem;line-height:1.3;word-break:break-all;font-family:monospace'>"
              f"{html.escape(link)}</div>")
    left.code(link, language=None, wrap_lines=True)
    left.caption("Each learner who opens it gets their own workspace with these settings; locked and "
                 "hidden controls make it an exercise. The link carries no one's workspace.")
    right.image(qr_png(link), caption="Scan to open the exercise", width="stretch")


@st.cache_data(max_entries=32, show_spinner=False)
def qr_png(text: str) -> bytes:
    """A QR code of `text` as PNG bytes, made in-process (segno; nothing is downloaded)."""
    import segno
    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=10, border=2)
    return buf.getvalue()


def _post() -> None:
    broadcast.post(st.session_state.get("room_broadcast", ""), store())
    st.session_state["room_broadcast"] = ""


def _clear() -> None:
    broadcast.clear(store())


def broadcast_box() -> None:
    with st.form("room_broadcast_form", clear_on_submit=True):
        st.text_input("Message to every learner's page", max_chars=broadcast.MAX_CHARS, key="room_broadcast",
                      placeholder="e.g. Switch the cell to GRU and press Start again")
        c = st.columns([1, 1, 3])
        c[0].form_submit_button("Send to everyone", type="primary", on_click=_post)
        c[1].form_submit_button("Clear the message", on_click=_clear)
    current = broadcast.latest(store())
    if current is None:
        st.caption("No message is shown to learners now.")
    else:
        st.caption(f"Shown on every page now (sent {time.strftime('%H:%M', time.localtime(current.posted_at))}; "
                   f"learners see it within {notice.within_seconds(live.PROGRESS.max_interval):.0f} s):")
        notice.show(current)


def export_button() -> None:
    st.download_button("Download the room (.csv)", data=lambda: room.room_csv(room_runs()),
                       file_name="room.csv", mime="text/csv", on_click="ignore",
                       help="Every run's final figures, flags and full settings, one row per run.")
