"""The Room page (AppTest): off without a key, refuses a wrong key without echoing it, shows the
room's runs with the right key; the broadcast reaches a learner's page as plain text."""
from __future__ import annotations

import pytest

from conftest import open_page, trained_run
from playground import broadcast, instructor, room
from playground.config import ModelConfig, TrainConfig

ROOM = "pages/7_Room.py"
KEY = "a long enough instructor key"
TEXT = "hello world " * 200


@pytest.fixture(autouse=True)
def fresh_gate(monkeypatch):
    monkeypatch.setattr(instructor, "GATE", instructor.KeyGate())
    broadcast.clear()
    yield
    broadcast.clear()


def texts(at) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "info", "error", "warning", "caption")
                     for e in getattr(at, kind))


def submit_key(at, key: str):
    at.text_input(key="room_key").input(key)
    at.button[0].click()     # the form's submit button
    return at.run()


def test_without_a_key_the_page_says_how_to_enable_it(monkeypatch):
    monkeypatch.delenv(instructor.ENV, raising=False)
    at = open_page(ROOM)
    assert not at.exception
    assert instructor.ENV in texts(at)
    assert not at.dataframe and not at.text_input


def test_wrong_key_is_refused_and_not_echoed(monkeypatch):
    monkeypatch.setenv(instructor.ENV, KEY)
    with trained_run(ModelConfig(cell="GRU", hidden_size=8), TrainConfig(seq_len=8, batch_size=4), TEXT, 2,
                     owner="W" * 22):
        at = submit_key(open_page(ROOM), "not the key")
        assert not at.exception
        assert "That key is not right." in texts(at)
        assert "not the key" not in texts(at) and not at.dataframe and not at.metric
        assert at.text_input(key="room_key").value == ""            # the form forgot what was typed
        for _ in range(4):
            at = submit_key(at, "still wrong")
        at = submit_key(at, KEY)                                     # the 6th try within a minute waits
        assert "Too many wrong keys" in texts(at) and not at.dataframe


def test_right_key_shows_the_rooms_runs(monkeypatch, own_registry):
    monkeypatch.setenv(instructor.ENV, KEY)
    mc, tc = ModelConfig(cell="GRU", hidden_size=8), TrainConfig(seq_len=8, batch_size=4)
    with trained_run(mc, tc, TEXT, 3, owner="X" * 22), trained_run(mc, tc, TEXT, 2, owner="Y" * 22):
        at = submit_key(open_page(ROOM), KEY)
        assert not at.exception, at.exception
        table = at.dataframe[0].value
        assert len(table) == 2 and set(table["cell"]) == {"GRU"}
        assert sorted(table["step"]) == [2, 3]
        assert all(name.startswith("learner ") for name in table["learner"])
        assert not any("X" * 22 in str(v) for v in table.to_numpy().ravel())      # no workspace token shown
        assert {m.label: m.value for m in at.metric}["runs"] == "2"
        assert "Build an exercise link" in [e.label for e in at.expander][0]
        assert all("GRU h8 · finished" in o for o in at.selectbox(key="room_projector").options)
        assert any(": GRU h8" in h.value for h in at.subheader)          # the projector view of the first run


def test_exercise_link_locks_and_hides(monkeypatch):
    monkeypatch.setenv(instructor.ENV, KEY)
    at = submit_key(open_page(ROOM), KEY)
    at.selectbox(key="ex_cell").set_value("GRU")
    at.multiselect(key="ex_lock").set_value(["cell"])
    at.multiselect(key="ex_hide").set_value(["lr"])
    at = at.run()
    assert not at.exception
    link = at.code[0].value
    assert "Train?" in link and "cell=GRU" in link and "lock=cell" in link and "hide=lr" in link
    assert "lr=0.003" in link                   # a hidden control's value is in the link even at its default
    assert "w=" not in link


def test_broadcast_reaches_a_learner_page_as_plain_text(monkeypatch):
    monkeypatch.setenv(instructor.ENV, KEY)
    at = submit_key(open_page(ROOM), KEY)
    at.text_input(key="room_broadcast").input("Now try **GRU** [here](http://x.example)")
    send = next(b for b in at.button if b.label == "Send to everyone")
    at = send.click().run()
    assert not at.exception
    assert broadcast.latest().text == "Now try **GRU** [here](http://x.example)"
    # a Train page checks at its progress polls (at most 10 s apart), others at the notice's interval
    assert any("learners see it within 10 s" in c.value for c in at.caption), [c.value for c in at.caption]
    learner = open_page("pages/2_Shapes.py")
    shown = [e.proto.body for e in learner.get("html") if "playground-broadcast" in e.proto.body]
    assert len(shown) == 1, shown                                # HTML-escaped text, never markdown
    assert "Now try **GRU** [here](http://x.example)" in shown[0] and "<a" not in shown[0]
    broadcast.post("<b>bold</b> & co")
    shown = [e.proto.body for e in open_page("pages/2_Shapes.py").get("html") if "playground-broadcast" in e.proto.body]
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in shown[0]


class FakeRun:
    def __init__(self, snap):
        self.snap = snap

    def snapshot(self):
        return self.snap


def hall(n: int = 300, steps: int = 5000):
    """A registry-shaped room of `n` learners, one run each with `steps` steps of history (no trainer)."""
    import dataclasses
    import math
    from types import SimpleNamespace

    import numpy as np
    import pandas as pd

    from playground.runner import Snapshot
    cells = ["RNN_TANH", "GRU", "LSTM"]
    step = np.arange(1, steps + 1)
    base = pd.DataFrame({"step": step, "loss": 2 / np.sqrt(step), "perplexity": np.exp(2 / np.sqrt(step)),
                         "grad_norm": 1.0, "clipped": False, "tokens": 256, "seconds": 0.01, "lr": 3e-3, "epoch": 0,
                         "val_loss": np.where(step % 50 == 0, 2 / np.sqrt(step) + 0.1, np.nan),
                         "val_bits_per_char": np.nan, "annealed": False})
    base["val_perplexity"] = np.exp(base["val_loss"])
    base["tokens_per_s"] = base["tokens"] / base["seconds"]
    workspaces, runs = {}, {}
    for i in range(n):
        cell = cells[i % 3]
        snap = Snapshot(run_id=f"run{i}", label=f"#1 {cell}", status="running", message="", step=steps,
                        target_step=steps * 2, lr=3e-3, history=base.assign(val_loss=base["val_loss"] * (1 + i / 1000)),
                        samples=[], parameters=1000, vocab_size=40, uniform_perplexity=40.0,
                        unigram_perplexity=math.e, running_seconds=10.0,
                        model_config=ModelConfig(cell=cell, hidden_size=32), train_config=TrainConfig(),
                        corpus_key="brackets")
        workspaces[f"token{i:020d}"] = SimpleNamespace(run_ids=[snap.run_id])
        runs[snap.run_id] = FakeRun(dataclasses.replace(snap))
    return SimpleNamespace(workspaces=workspaces, runs=runs)


def test_a_hall_of_300_learners_draws(monkeypatch):
    import time

    from playground.ui import room as room_ui
    monkeypatch.setenv(instructor.ENV, KEY)
    fake = hall()
    monkeypatch.setattr(room_ui, "registry", lambda: fake)
    room.SEEN.clear()                            # every run is read afresh
    at = open_page(ROOM)
    t0 = time.perf_counter()
    at = submit_key(at, KEY)                     # the first draw: every run read
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    at = at.run()                                # a redraw: unchanged runs come from the cache
    again = time.perf_counter() - t0
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == 300
    assert {m.label: m.value for m in at.metric}["learners"] == "300"
    assert "(n = 100, 100, 100)" in texts(at)
    print(f"Room page with 300 runs of 5,000 steps (AppTest, this machine): first draw {first:.2f} s, "
          f"redraw {again:.2f} s")


def test_a_learner_names_themselves_on_train_and_the_room_shows_it_as_typed(monkeypatch, own_registry):
    monkeypatch.setenv(instructor.ENV, KEY)
    owner = "N" * 22
    with trained_run(ModelConfig(cell="GRU", hidden_size=8), TrainConfig(seq_len=8, batch_size=4), TEXT, 2,
                     owner=owner) as run:
        learner = open_page("pages/1_Train.py", run=run)
        assert not learner.exception, learner.exception
        learner.text_input(key="display_name").input("  **Ada**   [x](http://e.example) ").run()
        name = own_registry.workspaces[owner].display_name
        assert name == "**Ada** [x](http://e.example)"                    # one line, trimmed, kept as typed
        at = submit_key(open_page(ROOM), KEY)
        assert not at.exception, at.exception
        assert name in list(at.dataframe[0].value["learner"])          # a dataframe cell: data, not markdown
        heading = at.subheader[0].value                                 # the projector's heading, escaped
        assert r"\*\*Ada\*\* \[x\]\(http\:\/\/e\.example\)" in heading, heading
