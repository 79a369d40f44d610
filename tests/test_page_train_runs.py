"""AppTest: the run on screen is the single source of truth (issue 18): its text is part of its
settings, the sidebar shows the run's settings, actions are explicit, viewers are read-only."""
import re
import time

import pytest
from streamlit.testing.v1 import AppTest

from conftest import free_app_runs, open_page, select_run, wait_until
from playground import run_setup, runner
from playground.checkpoint import save_checkpoint
from playground.scheduler import SCHEDULER
from playground.config import ModelConfig, TrainConfig
from playground.train import Trainer

SMALL = {"steps": "6", "hidden_size": "8", "seq_len": "8", "batch_size": "4", "embedding_dim": "8"}
ENGLISH = "the quick brown fox jumps over the lazy dog. " * 40
CHINESE = "天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏闰余成岁律吕调阳云腾致雨露结为霜。" * 30


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def labels(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


def texts(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in ("info", "warning", "caption", "markdown", "error", "success")
                    for e in at.get(kind)).replace("\\", "")   # shown text, without plain()'s escapes


def shown_run(at: AppTest):
    return runner.REGISTRY.active_run(at.session_state["owner_token"])


@pytest.fixture(autouse=True)
def stop_runs():
    yield
    free_app_runs()


def own_text_page(text: str) -> AppTest:
    at = open_page("pages/1_Train.py", query=SMALL)
    at.selectbox(key="corpus").set_value("own").run()
    at.text_area(key="corpus_paste").set_value(text).run()
    return at


def test_pasting_new_text_makes_start_train_a_new_run_on_it():
    """The issue: pasting Chinese over English and pressing Start kept training the English run."""
    at = own_text_page(ENGLISH)
    button(at, "Start").click().run()
    english = shown_run(at)
    assert english.join(60) and english.train_config.text_id == run_setup.text_id("own", ENGLISH, False)
    at.run()
    at.text_area(key="corpus_paste").set_value(CHINESE).run()
    note = texts(at)
    old, new = (f"pasted text {run_setup.text_id('own', t, False)[7:13]}" for t in (ENGLISH, CHINESE))
    assert f"The sidebar differs from this run: text: {old} → {new}" in note, note
    assert button(at, "Continue (+6 steps)").disabled          # Continue would not train the new text
    button(at, "New run").click().run()
    chinese = shown_run(at)
    assert chinese is not english and chinese.join(60)
    assert chinese.train_config.text_id == run_setup.text_id("own", CHINESE, False)
    snap = chinese.snapshot()
    assert snap.vocab_size == len(set(CHINESE)) + 1            # the run's own |V|: its text's + <unk>
    assert f"|V| = {snap.vocab_size:,}" in texts(at) and "pasted text" in chinese.label
    assert chinese.label != english.label                      # two runs can be told apart


def test_a_second_session_opening_the_link_sees_the_runs_settings_read_only():
    at = own_text_page(CHINESE)
    at.number_input(key="hidden_size").set_value(12).run()
    button(at, "Start").click().run()
    run = shown_run(at)
    run.join(60)
    # another device: a fresh session with only the link (?w=...)
    other = open_page("pages/1_Train.py", query={"w": run.owner})
    assert other.session_state["owner_token"] == run.owner and not other.exception
    assert other.number_input(key="hidden_size").value == 12
    assert other.selectbox(key="corpus").value == "own" and other.text_area(key="corpus_paste").value == CHINESE
    assert "differs" not in texts(other) and "Upload or paste" not in texts(other)
    assert "Watching" in texts(other)
    assert not any(lbl in labels(other) for lbl in ("Start", "New run", "Reset", "Pause"))
    other.toggle(key="train_take_control").set_value(True).run()
    assert "New run" in labels(other) and "Continue (+1,000 steps)" in labels(other)


def test_view_1_is_read_only_even_for_a_fresh_session():
    at = open_page("pages/1_Train.py", query={**SMALL, "view": "1"})
    button(at, "Start")   # no run yet: nothing to watch, Start is there
    tc = TrainConfig(seq_len=8, batch_size=4, text_id="brackets")
    run = runner.REGISTRY.create(ModelConfig(hidden_size=8), tc, "(()())\n" * 200, owner=at.session_state["owner_token"])
    runner.REGISTRY.set_active(run.owner, run.run_id)
    at.run()
    assert "Watching" in texts(at) and "Continue (+6 steps)" not in labels(at)


def test_step_before_start_says_what_it_did_and_reset_asks_first():
    at = open_page("pages/1_Train.py", query=SMALL)
    step = button(at, "Step")
    assert "Makes a new run" in step.help
    step.click().run()
    run = shown_run(at)
    run.join(30)
    assert run.steps_done == 1 and "trained exactly 1 step" in texts(at)
    button(at, "Reset").click().run()
    assert shown_run(at) is run and "Reset now?" in texts(at)     # asks first
    button(at, "Cancel").click().run()
    assert shown_run(at) is run
    button(at, "Reset").click().run()
    button(at, "Yes, reset").click().run()
    assert shown_run(at) is None and run.run_id in runner.REGISTRY.runs   # kept for Compare, no empty run
    assert labels(at)[0] == "Start"


def test_a_loaded_checkpoint_shows_its_own_text_vocab_and_baselines():
    """The issue: a checkpoint trained on Chinese showed the sidebar text's baseline and |V|."""
    tc = TrainConfig(seq_len=8, batch_size=4, text_id=run_setup.text_id("own", CHINESE, False))
    trainer = Trainer(ModelConfig(hidden_size=8, embedding_dim=8), tc, CHINESE)
    trainer.train_steps(3)
    data = save_checkpoint(trainer)
    at = own_text_page(CHINESE)          # this server has seen the text (the page remembers it on Start)
    button(at, "Start").click().run()
    shown_run(at).join(60)
    at.selectbox(key="corpus").set_value("brackets").run()   # the sidebar moves on to another corpus
    at = _upload_checkpoint(at, data)
    run = shown_run(at)
    snap = run.snapshot()
    assert run.train_config.text_id == tc.text_id and snap.vocab_size == len(set(CHINESE)) + 1
    assert at.selectbox(key="corpus").value == "own"               # the sidebar follows the run
    assert f"|V| = {snap.vocab_size:,}" in texts(at) and "differs" not in texts(at)
    assert "Continue (+6 steps)" in labels(at)


def _upload_checkpoint(at: AppTest, data: bytes) -> AppTest:
    """Load a checkpoint as the upload widget would (AppTest has no file uploader)."""
    from playground.checkpoint import read_checkpoint
    from playground.ui import run_controls, train as train_ui
    ckpt = read_checkpoint(data)
    choice = train_ui.checkpoint_text(ckpt["train_config"], train_ui.TextChoice("brackets", "(())\n" * 50,
                                                                                "Nested brackets"))
    owner = at.session_state["owner_token"]
    from playground.ui import next_run_label  # noqa: F401  (create_run needs a script context: use the registry)
    tc = TrainConfig.from_dict({**ckpt["train_config"].to_dict(), "device": "cpu"})
    run = runner.REGISTRY.create(ckpt["model_config"], tc, choice.text, owner, label="#9 loaded",
                                 corpus_key=choice.corpus_key, vocab=ckpt["vocab"], state_dict=ckpt["state_dict"],
                                 history=ckpt["history"])
    runner.REGISTRY.set_active(owner, run.run_id)
    assert run_controls  # the page's path is the same: checkpoint_run then a rerun that syncs the sidebar
    return at.run()


class Busy:
    """A scheduler job that holds a trainer for 3 s, once."""
    cancelled, client = False, "someone else"

    def work(self, budget_seconds: float) -> bool:
        time.sleep(3)
        return False


def test_a_start_click_ends_at_once_and_the_page_polls_fast_until_the_first_step(monkeypatch):
    """In a full room the progress polls ~10 s apart: a learner pressing Start saw "Waiting for
    its first turn" for that long (workshop: first step seen p50 11 s). A click's redraw that
    waited for the step instead held every Start's rerun ~2 s (workshop rerun p95). Now the
    click's redraw ends at once and the page polls every FIRST_STEP_POLL s until it shows the
    first step, then at the room's interval again."""
    import streamlit as st
    from playground.refresh import RefreshBudget
    from playground.ui import live
    room = RefreshBudget(budget_cores=0.06, max_interval=10.0)
    for i in range(30):
        room.record(f"learner {i}", 0.05)                 # 30 pages: polls 10 s apart
    monkeypatch.setattr(live, "PROGRESS", room)
    asked: dict[str, list] = {}
    real = st.fragment

    def fragment(func=None, *, run_every=None, **kw):   # what each fragment asks to be polled at
        def define(f):
            asked.setdefault(f.__name__, []).append(run_every)
            return real(f, run_every=run_every, **kw)
        return define(func) if func is not None else define
    monkeypatch.setattr(st, "fragment", fragment)

    at = open_page("pages/1_Train.py", query={**SMALL, "steps": "50000"})
    for _ in range(SCHEDULER.max_workers):   # every trainer busy for 3 s: the run waits for its turn
        SCHEDULER.submit(Busy())
    button(at, "Start").click().run()
    run = shown_run(at)
    assert run.steps_done == 0 and asked["progress"][-1] == live.FIRST_STEP_POLL
    assert "Waiting for its first turn" in " ".join(p.proto.text for p in at.get("progress"))
    assert wait_until(lambda: run.steps_done >= 1, 30)
    at.run()                                              # the next (fast) poll: the page shows the step
    progress = " ".join(p.proto.text for p in at.get("progress"))
    shown = re.search(r"\*\*Training\*\* · step ([\d,]+) of", progress)
    assert shown and int(shown.group(1).replace(",", "")) >= 1, progress
    assert asked["progress"][-1] == room.interval() == 10.0   # then the room's interval again
    assert live.STARTED_KEY not in at.session_state
    run.stop()


def test_many_pages_waiting_for_a_first_step_poll_within_a_budget_of_their_own(monkeypatch):
    """60 learners of a hall pressing Start within 10 s, each page then polling every second,
    took the trainers' CPU and delayed the very first steps they waited for. A page waiting among
    many polls more slowly (all of them within live.FIRST_STEPS' budget), never slower than its cap."""
    import streamlit as st
    from playground.refresh import RefreshBudget
    from playground.ui import live
    waiting = RefreshBudget(budget_cores=live.FIRST_STEPS.budget_cores, min_interval=live.FIRST_STEP_POLL,
                            max_interval=live.FIRST_STEPS.max_interval, window=live.FIRST_STEPS.window,
                            overhead_seconds=live.FIRST_STEPS.overhead)
    for i in range(30):
        waiting.record(f"learner {i}", 0.05)              # 30 pages waiting for their first step
    monkeypatch.setattr(live, "FIRST_STEPS", waiting)
    asked: list = []
    real = st.fragment

    def fragment(func=None, *, run_every=None, **kw):
        def define(f):
            if f.__name__ == "progress":
                asked.append(run_every)
            return real(f, run_every=run_every, **kw)
        return define(func) if func is not None else define
    monkeypatch.setattr(st, "fragment", fragment)

    at = open_page("pages/1_Train.py", query={**SMALL, "steps": "50000"})
    for _ in range(SCHEDULER.max_workers):
        SCHEDULER.submit(Busy())
    button(at, "Start").click().run()
    run = shown_run(at)
    assert run.steps_done == 0 and "Waiting for its first turn" in " ".join(p.proto.text for p in at.get("progress"))
    assert live.FIRST_STEP_POLL < asked[-1] == waiting.max_interval, asked   # 30 x 0.07 s / 0.5 cores > the cap
    assert waiting.viewers() == 31                         # this page's poll is counted with theirs
    run.stop()
