"""AppTest for pages/2_Shapes.py: every number shown is checked against a real torch module."""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch import nn

from conftest import select_run, trained_run as make_trained_run

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent
APP, PAGE = str(ROOT / "app.py"), str(ROOT / "pages" / "2_Shapes.py")
DEFAULTS = dict(cell="LSTM", input_size=10, hidden_size=20, num_layers=2, bias=True,
                batch_first=False, bidirectional=False, proj_size=0, seq_len=5, batch_size=3)


def open_page() -> AppTest:
    """The page inside the multipage app (as a browser reaches it), first run done."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def torch_truth(s: dict) -> dict:
    """Shapes from a real module and forward pass (the oracle for what the page shows)."""
    cls = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[s["cell"]]
    extra = {"proj_size": s["proj_size"]} if s["cell"] == "LSTM" and s["proj_size"] else {}
    rnn = cls(s["input_size"], s["hidden_size"], s["num_layers"], bias=s["bias"],
              batch_first=s["batch_first"], bidirectional=s["bidirectional"], **extra)
    T, B = s["seq_len"], s["batch_size"]
    x = torch.randn((B, T, s["input_size"]) if s["batch_first"] else (T, B, s["input_size"]))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        output, state = rnn(x)
    h_n, c_n = state if isinstance(state, tuple) else (state, None)
    return {"input": str(tuple(x.shape)), "output": str(tuple(output.shape)),
            "h_n": str(tuple(h_n.shape)),
            "c_n": str(tuple(c_n.shape)) if c_n is not None else None,
            "parameters": f"{sum(p.numel() for p in rnn.parameters()):,}",
            "table": {n: str(tuple(p.shape)) for n, p in rnn.named_parameters()}}


def shown(at: AppTest) -> dict:
    metrics = {m.label: m.value for m in at.metric}
    table = at.dataframe[0].value
    return {"input": metrics["input"], "output": metrics["output"], "h_n": metrics["h_n"],
            "c_n": metrics["c_n"] if metrics["c_n"].startswith("(") else None,
            "parameters": metrics["parameters"],
            "table": dict(zip(table["name"], table["shape"]))}


def test_default_page_shows_the_seed_lstm():
    at = open_page()
    s = shown(at)
    assert s == torch_truth(DEFAULTS)
    assert (s["input"], s["output"], s["h_n"], s["c_n"]) == \
        ("(5, 3, 10)", "(5, 3, 20)", "(2, 3, 20)", "(2, 3, 20)")
    assert s["table"]["weight_ih_l0"] == "(80, 10)"
    assert "nn.LSTM(10, 20, 2)" in at.code[0].value


CHANGES = [("cell", "radio", "GRU"), ("cell", "radio", "RNN"), ("input_size", "number_input", 7),
           ("hidden_size", "number_input", 16), ("num_layers", "number_input", 3),
           ("proj_size", "number_input", 5), ("bias", "checkbox", False),
           ("batch_first", "checkbox", True), ("bidirectional", "checkbox", True),
           ("seq_len", "number_input", 8), ("batch_size", "number_input", 4)]


@pytest.mark.parametrize("name, kind, value", CHANGES, ids=[f"{c[0]}={c[2]}" for c in CHANGES])
def test_each_control_changes_the_shapes_shown(name, kind, value):
    at = open_page()
    before = shown(at)
    getattr(at, kind)(key=f"shp_{name}").set_value(value).run()
    assert not at.exception, at.exception
    after = shown(at)
    assert after != before
    assert after == torch_truth(dict(DEFAULTS, **{name: value}))


def test_seed_presets():
    at = open_page()
    at.number_input(key="shp_hidden_size").set_value(7).run()
    at.button(key="shp_preset_1").click().run()  # nn.RNN(10, 20, 2), input (5, 3, 10)
    s = shown(at)
    assert s == torch_truth(dict(DEFAULTS, cell="RNN"))
    assert s["table"]["weight_ih_l1"] == "(20, 20)"
    assert (s["output"], s["h_n"]) == ("(5, 3, 20)", "(2, 3, 20)")
    at.button(key="shp_preset_0").click().run()  # nn.LSTM(10, 20, 2)
    s = shown(at)
    assert s["table"]["weight_ih_l0"] == "(80, 10)"
    assert (s["output"], s["h_n"], s["c_n"]) == ("(5, 3, 20)", "(2, 3, 20)", "(2, 3, 20)")


def test_invalid_proj_size_shows_a_message_not_a_crash():
    at = open_page()
    at.number_input(key="shp_proj_size").set_value(20).run()
    assert not at.exception
    assert any("smaller than hidden_size" in e.value for e in at.error)
    assert not at.metric  # no (wrong) numbers shown for settings PyTorch refuses


def test_run_it_for_real_agrees():
    at = open_page()
    at.checkbox(key="shp_bidirectional").check().run()
    at.button(key="shp_run_real").click().run()
    assert not at.exception
    assert any("PyTorch agrees on all" in s.value for s in at.success)
    table = at.dataframe[1].value
    truth = torch_truth(dict(DEFAULTS, bidirectional=True))
    assert table["match"].all()
    actual = dict(zip(table["what"], table["actual (PyTorch)"]))
    assert actual["output"] == truth["output"] and actual["weight_ih_l1_reverse"] == "(80, 40)"
    at.number_input(key="shp_seq_len").set_value(9).run()  # stale result must disappear
    assert not any("PyTorch agrees" in s.value for s in at.success)


def _quiz_truth(at: AppTest) -> tuple[str, str]:
    question = next(m.value for m in at.markdown if "What is the shape of" in m.value)
    target = re.search(r"What is the shape of `([^`]+)`", question).group(1)
    truth = torch_truth(DEFAULTS)
    answer = truth["table"].get(target) or truth.get(target)
    if target in ("h0", "c0"):
        answer = truth["h_n" if target == "h0" else "c_n"]
    return target, answer


def test_quiz_marks_wrong_and_right_answers():
    at = open_page()
    at.toggle(key="shp_quiz_mode").set_value(True).run()
    assert not at.metric  # the shapes are hidden in quiz mode
    for _ in range(3):  # a few different questions
        target, answer = _quiz_truth(at)
        at.text_input(key="shp_quiz_answer").input("(999, 1)").run()
        assert any("Not quite" in e.value for e in at.error), target
        at.text_input(key="shp_quiz_answer").input(answer).run()
        assert any(s.value.startswith("Right:") for s in at.success), (target, answer)
        at.button(key="shp_quiz_new").click().run()
        assert not at.exception


@pytest.fixture
def trained_run():
    from playground.config import ModelConfig, TrainConfig

    with make_trained_run(ModelConfig(cell="GRU", embedding_dim=6, hidden_size=8),
                          TrainConfig(seq_len=8, batch_size=4), "abcabcabd " * 60, steps=5) as run:
        yield run


def _heatmap_spec(at: AppTest) -> dict:
    charts = [c for c in at.get("plotly_chart") if c.key == "shp_heatmap"]
    assert len(charts) == 1
    return json.loads(charts[0].proto.spec)


def test_trained_model_weight_heatmap(trained_run):
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page(PAGE)
    select_run(at, trained_run)
    at.run()
    assert not at.exception, at.exception
    assert any("differ" in w.value and "hidden_size: inspector 20, trained 8" in w.value
               for w in at.warning)
    at.selectbox(key="shp_trained_param").set_value("weight_hh_l0").run()
    at.selectbox(key="shp_trained_gate").set_value("z").run()  # GRU rows [r|z|n]: z is 8..15
    spec = _heatmap_spec(at)
    title = spec["layout"]["title"]["text"]
    assert "weight_hh_l0[8:16]" in title and "shape (8, 8)" in title
    z = spec["data"][0]["z"]
    model, _, _ = trained_run.copy_model()
    expected = model.rnn.weight_hh_l0.detach()[8:16]  # (H, H) block of the update gate z
    if isinstance(z, dict):  # plotly 6 sends numpy arrays as typed base64 arrays
        import base64

        import numpy as np
        values = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).copy()
        z = values.reshape([int(n) for n in str(z["shape"]).split(",")])
    assert torch.allclose(torch.as_tensor(z, dtype=torch.float32), expected, atol=1e-6)
    at.button(key="shp_use_trained").click().run()
    s = shown(at)
    assert s["table"]["weight_hh_l0"] == "(24, 8)" and not at.warning
