"""The Room page (AppTest): off without a key, refuses a wrong key without echoing it, shows the
room's runs with the right key; the broadcast reaches a learner's page as plain text."""
from __future__ import annotations

import pytest

from conftest import open_page, trained_run
from playground import broadcast, instructor
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
    learner = open_page("pages/2_Shapes.py")
    shown = [e.value for e in learner.info]
    assert any(r"\*\*GRU\*\*" in v and r"\[here\]" in v for v in shown), shown   # escaped: shown as typed
