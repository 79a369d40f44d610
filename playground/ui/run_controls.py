"""The Train page's run controls: what Start/Continue/New run/Step/Pause/Stop/Reset do, the
header of the run on screen, "settings differ" in words, and read-only viewers.

Explicit actions: with no run on screen, **Start** makes one. With a run, **Continue (+N steps)**
trains it on (its own settings; the sidebar's lr) and **New run** makes a new one from the
sidebar; Continue waits while the sidebar differs from the run, and the note says what differs.
**Step** trains exactly one step of the run on screen (with none, it makes one and says so).
**Reset** asks first. A browser session that opened a link to runs it did not start (another
device, the projector), or any page with `view=1`, watches read-only until "Take control".

The buttons sit in a fragment: Pause/Resume answer without rerunning the whole page.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import streamlit as st

from playground import run_setup
from playground.cells import LABELS
from playground.config import ModelConfig, TrainConfig
from playground.front import RunFront as Run, Status
from playground.limits import check as check_limits
from playground.ui import check_may_start, create_run, current_run, owner_token, registry, start_run, step_run
from playground.ui.browser import CONTROLLERS, browser_id
from playground.ui import live, train as train_ui
from playground.ui.share import out_of_range, plain

CONFIRM_KEY = "train_confirm_reset"
TAKE_KEY = "train_take_control"
RERUN_KEY = "train_rerun_app"
ACK_KEY = "train_ack"              # what the last click did, shown at once under the buttons
ACTION_KEY = "train_action"        # (action, run_id) of a click pending_action carries out
VIEW_PARAM = "view"                # ?view=1: a read-only projector view


@dataclass(frozen=True)
class Setup:
    """What the sidebar asks for in this rerun: the configs (None while invalid; the train
    config's text_id says which text), the text (None while missing), the corpus and how many
    steps Start/Continue trains."""
    model_config: ModelConfig | None
    train_config: TrainConfig | None
    text: str | None
    corpus_key: str
    steps: int
    text_name: str = ""

    @classmethod
    def of(cls, mc: ModelConfig | None, tc: TrainConfig | None, choice: "train_ui.TextChoice", steps: int):
        tc = replace(tc, text_id=choice.text_id) if tc is not None else None
        return cls(mc, tc, choice.text, choice.corpus_key, steps, choice.name)

    @property
    def complete(self) -> bool:
        return None not in (self.model_config, self.train_config, self.text)

    def new_run(self) -> Run | None:
        return new_run(self.model_config, self.train_config, self.text, self.corpus_key, self.text_name)

    def differences(self, run: Run) -> list[str]:
        """What differs between `run` and the sidebar, in words (lr aside: Continue applies it)."""
        if not self.complete:
            return []
        names = {**train_ui.text_names(), self.train_config.text_id: self.text_name}
        return run_setup.differences(run.model_config, run.train_config, self.model_config, self.train_config,
                                     names, {"cell": LABELS.get})

    def continues(self, run: Run) -> bool:
        """Would Continue/Step train `run` with these settings (lr aside)?"""
        return run.is_active or not self.differences(run)


def new_run(cfg: ModelConfig, tc: TrainConfig, text: str, corpus_key: str, text_name: str = "",
            **trainer_kwargs) -> Run | None:
    """Create and select a run named by its cell, size and text ("#3 RNN (tanh) h64 · pasted text
    3f9a2c"); on bad settings, remember the message for the page to show."""
    name = text_name or run_setup.text_name(tc.text_id, train_ui.text_names())
    try:
        run = create_run(cfg, tc, text, corpus_key, f"{LABELS[cfg.cell]} h{cfg.hidden_size} · {name}",
                         **trainer_kwargs)
    except (ValueError, RuntimeError) as e:
        st.session_state[train_ui.ERROR_KEY] = f"Could not start: {e}"
        return None
    train_ui.remember_text(train_ui.TextChoice(corpus_key, text, name))
    train_ui.mark_synced(run)
    st.session_state[train_ui.CONTROL_KEY] = True
    return run


def checkpoint_run(mc: ModelConfig, tc: TrainConfig, choice: "train_ui.TextChoice", **trainer_kwargs) -> Run | None:
    """A run resumed from a checkpoint on `choice`'s text (checkpoint_section's `new_run`)."""
    run = new_run(mc, replace(tc, text_id=choice.text_id), choice.text, choice.corpus_key, choice.name,
                  **trainer_kwargs)
    train_ui.mark_synced(None)     # the sidebar follows the loaded run on the next rerun
    if run is not None:
        st.session_state.pop(ACK_KEY, None)   # what the last click did is no longer what is on screen
    return run


# ---- who may act ----------------------------------------------------------------------------
def decide_control(run: Run | None) -> bool:
    """This session's role, decided on its first look at the Train page: a session that came by a
    link to a workspace that already had runs watches read-only, unless it runs in the browser that
    acts on them (a reload, a second tab: ui/browser.py); any page with ?view=1 watches."""
    token, browser = owner_token(), browser_id(st.context.cookies)
    if train_ui.CONTROL_KEY not in st.session_state:
        other = CONTROLLERS.is_other(token, browser)          # None: no cookie, so unknown
        by_link = bool(st.session_state.get("arrived_by_link")) and run is not None
        viewer = st.query_params.get(VIEW_PARAM) == "1" or (by_link and other is not False)
        st.session_state[train_ui.CONTROL_KEY] = not viewer
    if train_ui.in_control():
        CONTROLLERS.claim(token, browser)
    return train_ui.in_control()


def viewer_bar(run: Run | None) -> bool:
    """For a read-only viewer: what this is and the "Take control" toggle. True if in control."""
    if train_ui.in_control() or run is None:
        return True
    st.info(f"👀 **Watching** {plain(run.label)} read-only: it was started from another window or "
            "device with this link. Nothing you click here changes it until you take control.")
    if st.toggle("Take control (Continue, Pause, Stop and the lr act on this run)", key=TAKE_KEY):
        st.session_state[train_ui.CONTROL_KEY] = True
        st.rerun()
    return False


# ---- the header -----------------------------------------------------------------------------
def vocab_note(size: int) -> str:
    return f"|V| = {size:,} ({size - 1:,} distinct tokens + `<unk>` for unseen ones)"


def _model_words(mc: ModelConfig) -> str:
    layers = f"{mc.num_layers} layer{'s' if mc.num_layers != 1 else ''}"
    inp = "one-hot" if not mc.embedding_dim else f"embedding_dim {mc.embedding_dim}"
    return f"**{LABELS[mc.cell]}**, {layers} × hidden_size {mc.hidden_size}, {inp} input"


def header(run: Run | None, setup: Setup) -> None:
    """The run on screen, from the run itself (its model, |V|, parameters and text); with no run,
    what Start would build from the sidebar."""
    if run is not None:
        snap = run.snapshot()
        text = run_setup.text_name(run.train_config.text_id or run.corpus_key, train_ui.text_names())
        st.caption(f"On screen: **{plain(snap.label)}** · {_model_words(snap.model_config)} · trained on "
                   f"{plain(text)} · {vocab_note(snap.vocab_size)} · **{snap.parameters:,} parameters**")
    elif setup.model_config is not None and setup.text:
        params, v = train_ui.parameter_count(setup.model_config, setup.text, setup.train_config.tokenizer
                                             if setup.train_config else "char")
        st.caption(f"Start builds: {_model_words(setup.model_config)} · {vocab_note(v)} · "
                   f"**{params:,} parameters**")


# ---- the buttons ----------------------------------------------------------------------------
def limit_problems(setup: Setup) -> list[str]:
    """Why this server's limits refuse these settings (empty: Start may train them)."""
    typed = out_of_range(train_ui.SETTINGS)   # numbers typed outside their range (ui.share)
    if not setup.complete:
        return typed
    _, v = train_ui.parameter_count(setup.model_config, setup.text, setup.train_config.tokenizer)
    return typed + check_limits(setup.model_config, setup.train_config, v, setup.steps, registry().limits)


def _ack(text: str) -> None:
    st.session_state[ACK_KEY] = text


def _apply_lr(run: Run, setup: Setup) -> str:
    lr = setup.train_config.lr
    if run.base_lr == lr:
        return ""
    old = run.base_lr
    run.set_lr(lr)
    return f" with the sidebar's lr {lr:g} (was {old:g})"


def _act_within_cap(run: Run | None, action: str, setup: Setup) -> None:
    """_act, or why not at the cap of runs training at once per person (before a run is made)."""
    try:
        if action in ("new", "start", "continue", "step"):
            check_may_start(None if action == "new" else run)
        _act(run, action, setup)
    except ValueError as e:
        st.session_state[train_ui.ERROR_KEY] = f"Could not start: {e}"


def _act(run: Run | None, action: str, setup: Setup) -> None:
    """Carry out a button's action; what it did is acknowledged under the buttons at once."""
    st.session_state.pop(ACK_KEY, None)
    if action == "new" or (action in ("start", "step") and run is None):
        if (run := setup.new_run()) is not None:
            start_run(run, setup.steps) if action != "step" else step_run(run, 1)
            live.started(run)
            _ack(f"Made {run.label}: training {setup.steps:,} steps." if action != "step" else
                 f"Made {run.label} and trained exactly 1 step (Step). **Continue** trains {setup.steps:,} more.")
    elif action == "continue":
        lr = _apply_lr(run, setup)
        start_run(run, setup.steps)
        live.started(run)
        _ack(f"Continuing {run.label} from step {run.steps_done:,} for {setup.steps:,} more steps{lr}.")
    elif action == "step":
        step_run(run, 1)
        _ack(f"One more step of {run.label} (quick clicks add up).")
    elif action == "pause":
        if run.status == Status.PAUSED:
            run.resume()
            _ack("▶ Resumed.")
        else:
            run.pause()
            _ack(f"⏸ Pausing at step {run.steps_done:,}: the step in flight finishes, then it waits.")
    elif action == "stop":
        run.stop()
        _ack(f"⏹ Stopped {run.label} at step {run.steps_done:,}.")
    elif action == "reset":
        st.session_state[CONFIRM_KEY] = True


def _reset(run: Run) -> None:
    """Confirmed: stop the run (kept on Compare runs) and clear the page; the sidebar stays."""
    if run.is_active:
        run.stop("Stopped by Reset.")
    registry().set_active(run.owner, None)
    train_ui.mark_synced(None)
    st.session_state.pop(CONFIRM_KEY, None)
    _ack(f"Reset: {run.label} is stopped at step {run.steps_done:,} and kept on the Compare runs page "
         "(delete it there). **Start** makes a new run from the sidebar.")


def _confirm_reset(run: Run) -> None:
    st.warning(f"Reset stops {plain(run.label)} and clears this page; the run stays on the Compare runs "
               "page. Reset now?")
    c = st.columns([1, 1, 4])
    if c[0].button("Yes, reset", type="primary", key="reset_yes"):
        _reset(run)
        st.rerun()
    c[1].button("Cancel", key="reset_no", on_click=st.session_state.pop, args=(CONFIRM_KEY, None))


def _clicked(run: Run | None, action: str, setup: Setup) -> None:
    """A button's on_click. Pause/Resume, Stop and Reset act at once (a fragment rerun draws the
    new state). Start/Continue/New run/Step are left for `pending_action` in the whole-page rerun
    this asks for: `setup` was bound when the button was drawn, and a setting changed just before
    the click (typed, then Start) is only in the widgets of the rerun that follows."""
    if action in ("pause", "stop", "reset"):
        _act_within_cap(run, action, setup)
        return
    st.session_state[ACTION_KEY] = (action, run.run_id if run is not None else None)
    st.session_state[RERUN_KEY] = True


def pending_action(run: Run | None, setup: Setup) -> Run | None:
    """Before the header: carry out a Start/Continue/New run/Step click with this rerun's sidebar
    (`setup`). Returns the run on screen afterwards."""
    if (pending := st.session_state.pop(ACTION_KEY, None)) is None or not train_ui.in_control():
        return run
    action, run_id = pending
    if run_id != (run.run_id if run is not None else None):
        _ack("The run on screen changed before the click arrived (another tab or device): nothing was done.")
        return run
    if not setup.complete or limit_problems(setup):
        st.session_state[train_ui.ERROR_KEY] = "Nothing started: the sidebar's settings cannot be trained as they are (see why on this page)."
        return run
    if run is not None and action in ("continue", "step") and not setup.continues(run):
        st.session_state[train_ui.ERROR_KEY] = ("Not continued: the sidebar differs from this run ("
                                                + "; ".join(setup.differences(run)) + ").")
        return run
    _act_within_cap(run, action, setup)
    return current_run()


def _buttons(run: Run | None, setup: Setup, ready: bool, differ: bool) -> dict:
    active = run is not None and run.is_active
    c = st.columns([2.2, 1.2, 1, 1, 1, 1] if run is not None else 5)
    if run is None:
        clicks = {"start": c[0].button("Start", key="train_start", on_click=_clicked, args=(run, "start", setup), type="primary", disabled=not ready, width="stretch",
                                       help=f"Makes a new run from the sidebar and trains {setup.steps:,} steps.")}
    else:
        clicks = {
            "continue": c[0].button(f"Continue (+{setup.steps:,} steps)", key="train_continue", on_click=_clicked, args=(run, "continue", setup), type="primary", width="stretch",
                                    disabled=not ready or active or differ,
                                    help="Trains this run on from where it is (with the sidebar's lr)."
                                    + (" The sidebar differs from it: see the note below." if differ else "")),
            "new": c[1].button("New run", key="train_new", on_click=_clicked, args=(run, "new", setup), disabled=not ready or active, width="stretch",
                               help="Makes a new model from the sidebar's settings (fresh weights); this run "
                                    "stays on the Compare runs page."),
        }
    c = c[len(clicks):]
    paused = run is not None and run.status == Status.PAUSED
    clicks["pause"] = c[0].button("Resume" if paused else "Pause", key="train_pause", on_click=_clicked, args=(run, "pause", setup), disabled=not active, width="stretch")
    clicks["step"] = c[1].button("Step", key="train_step", on_click=_clicked, args=(run, "step", setup), disabled=not ready or (run is not None and differ), width="stretch",
                                 help="Exactly one optimisation step of the run on screen (pauses it if it "
                                      "trains; quick clicks add up)." if run is not None else
                                      "Makes a new run from the sidebar and trains exactly one step.")
    clicks["stop"] = c[2].button("Stop", key="train_stop", on_click=_clicked, args=(run, "stop", setup), disabled=not active, width="stretch")
    clicks["reset"] = c[3].button("Reset", key="train_reset", on_click=_clicked, args=(run, "reset", setup), disabled=run is None, width="stretch",
                                  help="Stops this run and clears the page (asks first; the run stays on "
                                       "the Compare runs page).")
    return clicks


def controls(run: Run | None, setup: Setup) -> Run | None:
    """The buttons (in a fragment: a click answers at once), then what differs and any error.
    Read-only viewers get the viewer bar instead. Returns the run on screen."""
    decide_control(run)
    if not viewer_bar(run):
        return run
    too_big = limit_problems(setup)
    ready = setup.complete and not too_big
    differ = setup.differences(run) if run is not None and not run.is_active else []

    @st.fragment
    def buttons() -> None:
        _buttons(run, setup, ready, bool(differ))   # on_click: acted before this (fragment) rerun
        if st.session_state.pop(RERUN_KEY, False):
            st.rerun()   # a run started or ended: the whole page follows (live polling, sidebar)
        if run is not None and st.session_state.get(CONFIRM_KEY):
            _confirm_reset(run)
        if (ack := st.session_state.get(ACK_KEY)):   # kept until the next click: the page may rerun
            st.caption(ack)

    buttons()
    _messages(run, too_big, differ)
    return run


def _messages(run: Run | None, too_big: list[str], differ: list[str]) -> None:
    if too_big:
        st.error("This server's limits cannot hold these settings: " + "; ".join(too_big)
                 + ". (The limits are listed in the sidebar.)")
    if (error := st.session_state.pop(train_ui.ERROR_KEY, None)):
        st.error(error)
    if (toast := st.session_state.pop(train_ui.LR_TOAST_KEY, None)):
        st.toast(toast)
        st.caption(toast)
    if differ:
        st.info("The sidebar differs from this run: " + "; ".join(plain(d) for d in differ)
                + ". **New run** trains a new model with the sidebar's settings; **Continue** needs this "
                "run's own settings in the sidebar.")
        st.button("Put this run's settings back in the sidebar", key="train_revert",
                  on_click=train_ui.mark_synced, args=(None,))
