"""The live view of a run: status, progress, curves, gradient norm and generated text.

Two fragments poll the run's snapshot while it is active: progress and metrics every second
(cheap), curves and samples at the interval the server's refresh budget allows
(playground/refresh.py). The rest of the page (and other pages) stay responsive. When the
first step of a Start comes, or the room grows or shrinks enough to move those intervals, the
fragments change their own polling interval (playground/ui/retime.py) instead of redrawing the
whole page: in a workshop's arrival ramp those whole-page runs came all at once.
"""
from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass

import streamlit as st

from playground import coach
from playground.figures import curves as curve_figures
from playground.refresh import RefreshBudget
from playground.front import ACTIVE, RunFront as Run, Snapshot, Status
from playground.ui import notice
from playground.ui.retime import current_fragment_id, retime
from playground.ui.share import plain

STATUS_LABELS = {Status.READY: "Ready", Status.QUEUED: "Waiting for its first turn", Status.RUNNING: "Training",
                 Status.PAUSED: "Paused", Status.FINISHED: "Finished", Status.STOPPED: "Stopped",
                 Status.DIVERGED: "Diverged", Status.ERROR: "Error", Status.LOST: "Worker lost"}
OUTAGE_LABEL = "Cluster unreachable"   # a LOST run while the whole Ray cluster cannot be reached
POLL_SECONDS = 1.0
IDLE_POLL_SECONDS = 5.0
FIRST_STEP_POLL = 1.0   # s between the progress polls of a page waiting for the first step it started
FIRST_STEP_WAIT = 15.0  # s it polls that fast at most (then at the room's interval)
STARTED_KEY = "live_started_run"   # session key: (run id, its steps then, when) of the Start this page sent
# All live pages' redraws together: at most ~0.15 of a core (of 2 here) while a trainer core is
# spare, ~0.065 while the trainers fill every core (a room): a room of 30 trained 0.924-0.943 of 2
# runs alone with the smaller budgets, 0.877-0.892 with the larger. The larger stays for a page
# whose polls are slow (a Ray pool's reads): with the smaller it polled every ~4-5 s alone.
# Each rerun also costs Streamlit ~20 ms outside the timed code.
CHARTS = RefreshBudget(budget_cores=0.1, full_budget_cores=0.04, max_interval=20.0,
                       overhead_seconds=0.02)   # curves, samples
PROGRESS = RefreshBudget(budget_cores=0.06, full_budget_cores=0.025, max_interval=10.0,
                         overhead_seconds=0.02)   # progress, metrics
# Pages waiting for the first step of their Start poll every FIRST_STEP_POLL s while few do; all of
# them together within a budget of their own. 60 learners of a hall pressing Start within 10 s and
# polling every second took the trainers' CPU, so the first steps came later (benchmarks/hall_load.py).
FIRST_STEPS = RefreshBudget(budget_cores=0.5, min_interval=FIRST_STEP_POLL, max_interval=2.5, window=5.0,
                            overhead_seconds=0.02)


def _buttons(status: str) -> tuple[bool, bool]:
    """What the control buttons depend on: (active, paused)."""
    return status in ACTIVE, status == Status.PAUSED


@dataclass
class _Polling:
    """A live view's polling as the browser has it now: its fragments change their own intervals
    (playground/ui/retime.py) instead of redrawing the whole page when the first step comes or
    the room grows or shrinks."""
    poll: float                       # s between progress polls
    chart: float | None               # s between chart redraws (None: not polled)
    awaiting: bool                    # waiting for the first step of this page's Start
    progress_id: str | None = None    # the fragments' ids, known once each has run
    charts_id: str | None = None
    charts_due: bool = False          # the charts were asked to draw the first step soon
    notice_quiet: bool = False        # the notice's own polling slowed: the progress polls check it


def render(run: Run | None, read_only: bool = False) -> None:
    """Progress, metrics and coaching (every second for one page), curves and samples, while the
    run is active, at the intervals the server's refresh budgets allow: slower when many pages
    are open. `read_only`: a viewer's page changes nothing of the run (sample settings)."""
    if run is None:
        st.info("Pick a corpus and a model in the sidebar, then press **Start**. "
                "The curves below fill in live while the network learns.")
        return
    awaiting = awaiting_first_step(run)
    was_active, buttons = run.is_active, _buttons(run.status)
    chart_every = CHARTS.interval() if was_active else None
    poll_every = FIRST_STEPS.interval() if awaiting else PROGRESS.interval() if was_active else IDLE_POLL_SECONDS
    polling = _Polling(poll_every, chart_every, awaiting)
    viewer = st.session_state.setdefault("viewer_id", secrets.token_hex(8))

    # Idle runs are polled slowly too: another tab with the same link may start or pause them.
    @st.fragment(run_every=poll_every)
    def progress() -> None:
        t0 = time.perf_counter()
        polling.progress_id = current_fragment_id()
        polling.notice_quiet = notice.follow(polling.notice_quiet)
        snap = run.snapshot()
        status(snap, run)
        if len(snap.history):
            metrics(snap)
            coaching(snap)
        if _buttons(snap.status) != buttons:
            st.rerun()  # started, paused, resumed or ended (maybe in another tab): the buttons follow
        if polling.awaiting and not awaiting_first_step(run):
            _first_step_came(polling)   # poll at the room's interval again, curves drawn soon
        if was_active:
            _live_progress_done(polling, viewer, time.perf_counter() - t0, cores_full(snap))

    @st.fragment(run_every=chart_every)
    def charts_view() -> None:
        t0 = time.perf_counter()
        polling.charts_id = current_fragment_id()
        snap = run.snapshot()
        if len(snap.history):
            curves(snap)
            if not read_only:
                sample_settings(run)
            samples(snap)
            if polling.charts_due:     # drawn the first step: back to the room's interval
                polling.charts_due = not retime(polling.charts_id, polling.chart)
        if was_active:
            CHARTS.record(viewer, time.perf_counter() - t0, full=cores_full(snap))

    progress()
    charts_view()


def cores_full(snap: Snapshot) -> bool:
    """Do the trainers fill every core (more runs training than trainer workers)? Then every
    redraw takes CPU from training, and the refresh budgets shrink."""
    return snap.active_runs > max(snap.workers, 1)


def _live_progress_done(p: _Polling, viewer: str, seconds: float, full: bool) -> None:
    """After a progress poll of an active run: how often curves redraw (when not every second),
    the poll's cost on the refresh budgets, and the intervals following the room."""
    if p.chart > POLL_SECONDS:
        st.caption(f"Curves and samples redraw every {p.chart:.0f} s while {pages_live(CHARTS.viewers())} "
                   "on this server (so that drawing does not slow training).")
    for budget in (PROGRESS, FIRST_STEPS) if p.awaiting else (PROGRESS,):
        budget.record(viewer, seconds, full=full)
    if not p.awaiting:
        _follow_the_room(p)


def _first_step_came(p: _Polling) -> None:
    """The first step of this page's Start is on screen: progress polls at the room's interval,
    and the charts, if their interval is long (a full room), draw once soon, then go back to it."""
    p.awaiting, p.poll = False, PROGRESS.interval()
    # (no charts id yet: this is the page's own run, and the charts draw right after this)
    kick = p.chart is not None and p.chart > 2 * FIRST_STEP_POLL and p.charts_id is not None
    if not retime(p.progress_id, p.poll) or (kick and not retime(p.charts_id, FIRST_STEP_POLL)):
        st.rerun()   # this Streamlit cannot retime a fragment: redraw the page with the new intervals
    p.charts_due = kick


def _follow_the_room(p: _Polling) -> None:
    """The room grew or shrank a lot (the refresh budgets' intervals moved over 2x): both
    fragments poll at the new intervals."""
    poll, chart = PROGRESS.interval(), CHARTS.interval()
    if 0.5 <= chart / p.chart <= 2 and 0.5 <= poll / p.poll <= 2:
        return
    if not retime(p.progress_id, poll) or not (p.charts_due or retime(p.charts_id, chart)):
        st.rerun()
    p.poll, p.chart = poll, chart


def started(run: Run) -> None:
    """This page's click just started `run`: the page polls every FIRST_STEP_POLL s until it
    shows the run's first step (awaiting_first_step). The click's rerun ends at once: the
    buttons and the acknowledgement are on the learner's screen without waiting for a step."""
    st.session_state[STARTED_KEY] = (run.run_id, run.steps_done, time.monotonic())


def awaiting_first_step(run: Run) -> bool:
    """Is this page waiting for the first step of a Start it sent for `run`? Not once the run
    stepped past where it was, ended, or FIRST_STEP_WAIT passed (a full room's queue): then the
    page forgets the Start and polls at the room's interval, which a full room spaces ~10 s apart."""
    started_at = st.session_state.get(STARTED_KEY)
    if not started_at or started_at[0] != run.run_id:
        return False
    if run.is_active and run.steps_done <= started_at[1] and time.monotonic() - started_at[2] < FIRST_STEP_WAIT:
        return True
    st.session_state.pop(STARTED_KEY, None)
    return False


def pages_live(n: int) -> str:
    """"1 page is live", "3 pages are live"."""
    return f"{n:,} page is live" if n == 1 else f"{n:,} pages are live"


def coaching(snap: Snapshot) -> None:
    """What the numbers say (playground/coach.py), under the metrics."""
    for a in coach.advice(snap.history, snap.vocab_size, snap.unigram_perplexity,
                          snap.status == Status.DIVERGED):
        (st.error if a.level == "error" else st.warning)(f"**Coach:** {a.message}")


def status(snap: Snapshot, run: Run | None = None) -> None:
    done, target = snap.step, max(snap.target_step, 1)
    label = status_label(snap)
    if snap.status == Status.READY:
        st.markdown(f"**Ready** · {done:,} steps trained so far: **Continue** trains it on.")
    else:
        st.progress(min(done / target, 1.0), text=f"**{label}** · step {done:,} of {snap.target_step:,}"
                                                   + (f" · {eta(snap)}" if snap.status == Status.RUNNING else ""))
    if snap.status in (Status.QUEUED, Status.RUNNING):
        st.caption(sharing(snap))
    if snap.status in (Status.DIVERGED, Status.ERROR, Status.LOST):
        st.error(snap.message)
    elif snap.status == Status.FINISHED and snap.message:
        st.success(snap.message)
    elif snap.status in (Status.STOPPED, *ACTIVE) and snap.message:   # e.g. a run moved off a dead trainer
        st.info(snap.message)
    if snap.status == Status.LOST and run is not None and run.can_restart:
        if st.button("Restart from the last checkpoint", type="primary", key="restart_lost"):
            try:
                run.restart()
            except ValueError as e:
                st.error(f"Could not restart: {e}")
            else:
                st.rerun()


def status_label(snap: Snapshot) -> str:
    """"Training", "Paused", …; a lost run says whether its worker died or the cluster is out of reach."""
    return OUTAGE_LABEL if snap.status == Status.LOST and snap.outage else STATUS_LABELS[snap.status]


def sharing(snap: Snapshot) -> str:
    """How the machine is shared: "32 runs share 2 cores: this run gets ~1/16 of a core, ~N steps/min"."""
    n, w = max(snap.active_runs, 1), max(snap.workers, 1)
    runs = f"{n} run{'s' if n != 1 else ''}"
    share = "a whole core" if snap.share >= 1 else f"~1/{round(1 / snap.share)} of a core"
    rate = f", ~{snap.steps_per_minute:,.0f} steps/min" if snap.steps_per_minute else ""
    if snap.backend == "ray":
        return (f"{runs} train{'s' if n == 1 else ''} on the Ray cluster's {w} core{'s' if w != 1 else ''}, "
                f"taking turns on its trainer pools: this run gets {share}{rate}.")
    if snap.active_clients > 1:
        return people_sharing(snap, share + rate)
    if n == 1:
        return f"This run is the only one training on this server: it gets {share}{rate}."
    return (f"{runs} train on this server, taking turns on {w} trainer thread"
            f"{'s' if w != 1 else ''}: this run gets {share}{rate}.")


def people_sharing(snap: Snapshot, this_run: str) -> str:
    """"3 people are training; your runs share your part …": the scheduler shares the trainer
    threads between people first, then between each person's runs (playground/scheduler.py)."""
    p, k, cores = snap.active_clients, max(snap.client_runs, 1), snap.client_cores
    part = f"~{cores:.1f} core{'s' if round(cores, 1) != 1 else ''}"
    yours = f"your {k} runs share your part" if k > 1 else "your run has your part"
    return (f"{p} people are training, and the trainer threads are shared between people first: "
            f"{yours} ({part}); this run gets {this_run}.")


def eta(snap: Snapshot) -> str:
    left = snap.eta_seconds
    if left is None:
        return "time left: measuring…"
    return f"about {left / 60:.0f} min left" if left >= 90 else f"about {left:.0f} s left"


def metrics(snap: Snapshot) -> None:
    h = snap.history
    val = h["val_loss"].dropna()
    bpc = h["val_bits_per_char"].dropna()
    annealed = int(h["annealed"].sum())
    c = st.columns(7)
    c[0].metric("step", f"{snap.step:,}")
    c[1].metric("train loss", f"{h['loss'].tail(20).mean():.3f}",
                help="Cross-entropy in nats per token, averaged over the last 20 steps.")
    c[2].metric("val perplexity", f"{math.exp(val.iloc[-1]):.2f}" if len(val) else "—",
                help=f"exp(validation loss), per {snap.train_config.tokenizer} token. 1 = perfect; "
                     f"uniform guessing = |V| = {snap.vocab_size} ({snap.vocab_size - 1} distinct tokens + <unk>). Compare perplexities only between runs "
                     "with the same tokens.")
    c[3].metric("val bits/char", f"{bpc.iloc[-1]:.3f}" if len(bpc) else "—",
                help="Validation nats summed over the scored tokens / (ln 2 × the characters of text they "
                     "stand for): bits per character, comparable across char and word tokens. word_ws "
                     "drops whitespace runs: its characters are those of the text rebuilt from its tokens "
                     "(one space between words, one newline per <eos>).")
    c[4].metric("tokens/s", f"{snap.tokens_per_s:,.0f}", help="Training throughput over the last 20 steps.")
    c[5].metric("clipped steps", f"{snap.clipped_share:.0%}",
                help="Share of steps whose gradient norm exceeded the clip threshold.")
    c[6].metric("lr", f"{snap.lr:g}", delta=f"÷{snap.train_config.anneal_factor:g} × {annealed}" if annealed else None,
                delta_color="off", delta_arrow="down",
                help="The learning rate the next step uses" + (
                    f"; divided by {snap.train_config.anneal_factor:g} at each ▼ on the loss curve "
                    "(validation loss did not beat its best)." if snap.train_config.anneals else "."))


def curves(snap: Snapshot) -> None:
    o = st.columns([1, 1, 2])
    metric = o[0].radio("Curve", ["loss", "perplexity"], horizontal=True, key="curve_metric")
    log_y = o[1].toggle("log scale", key="curve_log")
    smoothing = o[2].slider("smoothing", 0.0, 0.99, 0.6, 0.01, key="curve_smoothing")
    left, right = st.columns(2)
    rev = snap.run_id
    left.plotly_chart(curve_figures.curve_figure(snap.history, metric, snap.uniform_perplexity,
                                          snap.unigram_perplexity, log_y, smoothing, rev),
                      width="stretch", key="curve_chart")
    right.plotly_chart(curve_figures.grad_norm_figure(snap.history, snap.train_config.clip, rev),
                       width="stretch", key="grad_chart")


def sample_settings(run: Run) -> None:
    """Prefix, interval and temperature of the samples the run generates while it trains."""
    s = run.settings
    c = st.columns([2, 1, 1])
    prefix = c[0].text_input("Prefix for generated text", s.prefix, key="sample_prefix", max_chars=200,
                             placeholder="empty: the first character of the validation text")
    every = int(c[1].number_input("Generate every N steps", 10, 10_000, s.sample_every, step=10,
                                  key="sample_every"))
    temperature = float(c[2].slider("temperature", 0.1, 2.0, s.temperature, 0.1, key="sample_temperature",
                                    help="Below 1: safer, more repetitive. Above 1: more surprising."))
    if (prefix, every, temperature) != (s.prefix, s.sample_every, s.temperature):
        run.update_settings(prefix=prefix, sample_every=every, temperature=temperature)


def samples(snap: Snapshot) -> None:
    if not snap.samples:
        return
    s = snap.samples[-1]
    st.markdown(f"**Generated after step {s.step:,}** from the prefix {plain(repr(s.prefix))}")
    left, right = st.columns(2)
    left.caption("Greedy: always the most likely next token")
    left.code(s.prefix + s.greedy, language=None, wrap_lines=True)
    right.caption(f"Sampled at temperature {s.temperature:g}")
    right.code(s.prefix + s.sampled, language=None, wrap_lines=True)
    if len(snap.samples) > 1:
        with st.expander(f"Earlier samples ({len(snap.samples) - 1})"):
            for old in reversed(snap.samples[:-1]):
                st.caption(f"step {old.step:,} · greedy | sampled")
                st.text(f"{old.greedy[:120]!r}\n{old.sampled[:120]!r}")
