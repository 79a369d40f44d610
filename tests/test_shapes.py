"""playground.shapes / playground.quiz held against real torch.nn.RNN / LSTM / GRU modules."""
from __future__ import annotations

import contextlib
import io
import re
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from playground import quiz
from playground.shapes import (
    describe, evaluate, output_segments, pytorch_code, run_real, state_slices, weight_block,
)

torch.set_num_threads(1)
MODULES = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}


@st.composite
def configs(draw):
    cell = draw(st.sampled_from(["RNN", "LSTM", "GRU"]))
    hidden_size = draw(st.integers(1, 9))
    proj_size = draw(st.integers(0, hidden_size - 1)) if cell == "LSTM" else 0
    return dict(cell=cell, input_size=draw(st.integers(1, 9)), hidden_size=hidden_size,
                num_layers=draw(st.integers(1, 3)), bias=draw(st.booleans()),
                batch_first=draw(st.booleans()), bidirectional=draw(st.booleans()),
                proj_size=proj_size, seq_len=draw(st.integers(1, 5)),
                batch_size=draw(st.integers(1, 4)))


def real_module(cfg):
    """The oracle, built straight from torch (not through playground.shapes)."""
    kwargs = dict(num_layers=cfg["num_layers"], bias=cfg["bias"],
                  batch_first=cfg["batch_first"], bidirectional=cfg["bidirectional"])
    if cfg["proj_size"]:
        kwargs["proj_size"] = cfg["proj_size"]
    return MODULES[cfg["cell"]](cfg["input_size"], cfg["hidden_size"], **kwargs)


def real_forward(cfg, rnn):
    T, B = cfg["seq_len"], cfg["batch_size"]
    x = torch.randn((B, T, cfg["input_size"]) if cfg["batch_first"] else (T, B, cfg["input_size"]))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        output, state = rnn(x)  # zero initial state
    h_n, c_n = state if isinstance(state, tuple) else (state, None)
    return x, output, h_n, c_n


@settings(max_examples=150, deadline=None)
@given(configs())
def test_describe_matches_real_module(cfg):
    d = describe(**cfg)
    rnn = real_module(cfg)
    real_params = [(n, tuple(p.shape)) for n, p in rnn.named_parameters()]
    assert list(d.parameters.items()) == real_params  # same names, same order, same shapes
    assert d.total == sum(p.numel() for p in rnn.parameters())
    x, output, h_n, c_n = real_forward(cfg, rnn)
    assert d.input == tuple(x.shape)
    assert d.output == tuple(output.shape)
    assert d.h_n == tuple(h_n.shape) == d.h0
    if cfg["cell"] == "LSTM":
        assert d.c_n == tuple(c_n.shape) == d.c0
    else:
        assert d.c_n is None and d.c0 is None


def _eval_named(formula: str, cfg: dict) -> tuple[int, ...]:
    names = dict(cfg, num_directions=2 if cfg["bidirectional"] else 1)
    expr = re.sub(r"[a-z_]+", lambda m: str(names[m.group(0)]), formula).replace("·", "*")
    return tuple(eval(expr, {"__builtins__": {}}))  # digits, * , ( ) only


@settings(max_examples=60, deadline=None)
@given(configs())
def test_formulas_give_the_shapes(cfg):
    d = describe(**cfg)
    for entry in d.details:
        assert _eval_named(entry.formula, cfg) == entry.shape, entry.name
        assert entry.numel == torch.Size(entry.shape).numel()
    for name, formula in d.tensor_formulas.items():
        assert _eval_named(formula, cfg) == d.tensor(name), name
    assert evaluate(d.total_formula, d.symbols) == d.total
    assert evaluate(d.total_numbers, {}) == d.total


@settings(max_examples=60, deadline=None)
@given(configs())
def test_row_and_column_blocks_tile_each_parameter(cfg):
    d = describe(**cfg)
    for e in d.details:
        edges = [(start, stop) for _, start, stop in e.row_blocks]
        assert edges[0][0] == 0 and edges[-1][1] == e.shape[0]
        assert all(a[1] == b[0] for a, b in zip(edges, edges[1:]))
        if e.kind != "weight_hr":
            assert [g for g, _, _ in e.row_blocks] == d.gates
        if e.col_blocks:
            cols = [(start, stop) for _, start, stop in e.col_blocks]
            assert cols[0][0] == 0 and cols[-1][1] == e.shape[1]
            assert all(a[1] == b[0] for a, b in zip(cols, cols[1:]))


def test_seed_presets():
    d = describe("LSTM", 10, 20, 2, seq_len=5, batch_size=3)
    assert d.input == (5, 3, 10)
    assert d.output == (5, 3, 20)
    assert d.h_n == d.c_n == (2, 3, 20)
    assert d.parameters["weight_ih_l0"] == (80, 10)
    r = describe("RNN", 10, 20, 2)
    assert r.parameters["weight_ih_l1"] == (20, 20)
    assert r.parameters["weight_ih_l0"] == (20, 10)
    assert r.parameters["bias_ih_l1"] == (20,)


def test_lstm_projection_shapes():
    d = describe("LSTM", 10, 20, 2, bidirectional=True, proj_size=5)
    assert d.parameters["weight_hh_l0"] == (80, 5)
    assert d.parameters["weight_hr_l1_reverse"] == (5, 20)
    assert d.parameters["weight_ih_l1"] == (80, 10)  # 2 directions · proj_size 5
    assert d.output[-1] == 10 and d.h_n == (4, 3, 5) and d.c_n == (4, 3, 20)


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(cell="LSTM", proj_size=20), "smaller than hidden_size"),
    (dict(cell="LSTM", proj_size=25), "smaller than hidden_size"),
    (dict(cell="GRU", proj_size=5), "only supported by LSTM"),
    (dict(cell="LSTM", num_layers=0), "num_layers"),
    (dict(cell="RNN", seq_len=0), "seq_len"),
    (dict(cell="TRANSFORMER"), "cell must be"),
])
def test_invalid_settings_raise_clear_errors(kwargs, pattern):
    args = dict(input_size=10, hidden_size=20) | kwargs
    with pytest.raises(ValueError, match=pattern):
        describe(**args)


def test_torch_agrees_proj_size_must_be_smaller():
    with pytest.raises(ValueError):
        nn.LSTM(10, 20, proj_size=20)


def test_trained_model_cell_names_map_to_rnn():
    assert describe("RNN_TANH", 4, 3).parameters == describe("RNN", 4, 3).parameters
    assert describe("RNN_RELU", 4, 3).gates == ["h"]


def _step_by_hand(cell, rnn, d, x, h, c):
    """One time step computed from the gate row blocks the page labels (layer 0, forward)."""
    w = {k: getattr(rnn, f"{k}_l0") for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}

    def block(kind, gate):
        start, stop = weight_block(d, f"{kind}_l0", gate)
        return w[kind][start:stop]

    def pre(gate, x_part=True, h_part=True):  # (B, H)
        out = torch.zeros(x.shape[0], d.hidden_size)
        if x_part:
            out = out + x @ block("weight_ih", gate).T + block("bias_ih", gate)
        if h_part:
            out = out + h @ block("weight_hh", gate).T + block("bias_hh", gate)
        return out

    if cell == "LSTM":
        i, f, o = (torch.sigmoid(pre(g)) for g in ("i", "f", "o"))
        g = torch.tanh(pre("g"))
        c_new = f * c + i * g
        return o * torch.tanh(c_new)
    r, z = torch.sigmoid(pre("r")), torch.sigmoid(pre("z"))
    n = torch.tanh(pre("n", h_part=False) + r * pre("n", x_part=False))
    return (1 - z) * n + z * h


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_gate_labels_are_in_pytorch_row_order(cell):
    torch.manual_seed(0)
    d = describe(cell, 4, 3, seq_len=1, batch_size=2)
    rnn = MODULES[cell](4, 3)
    x, h, c = torch.randn(2, 4), torch.randn(2, 3), torch.randn(2, 3)
    with torch.no_grad():
        state = (h[None], c[None]) if cell == "LSTM" else h[None]
        out, _ = rnn(x[None], state)
        by_hand = _step_by_hand(cell, rnn, d, x, h, c)
    assert torch.allclose(out[0], by_hand, atol=1e-6)


@pytest.mark.parametrize("cell, batch_first, proj_size",
                         [("GRU", False, 0), ("LSTM", True, 2), ("RNN", True, 0)])
def test_direction_layout_matches_real_output(cell, batch_first, proj_size):
    cfg = dict(cell=cell, input_size=3, hidden_size=4, num_layers=2, bias=True,
               batch_first=batch_first, bidirectional=True, proj_size=proj_size,
               seq_len=5, batch_size=2)
    d = describe(**cfg)
    _, output, h_n, _ = real_forward(cfg, real_module(cfg))
    time_major = output.transpose(0, 1) if batch_first else output  # (T, B, D·R)
    last_of = {"forward": -1, "reverse": 0}  # where each direction finishes reading
    for seg in output_segments(d):
        got = time_major[last_of[seg["direction"]], :, seg["start"]:seg["stop"]]  # (B, R)
        assert torch.allclose(got, h_n[seg["h_n_index"]])
    view = h_n.view(d.num_layers, d.num_directions, d.batch_size, d.real_hidden)
    for s in state_slices(d):
        assert torch.equal(h_n[s["index"]], view[s["layer"], ("forward", "reverse").index(s["direction"])])


def test_run_real_and_pytorch_code_agree_with_describe():
    d = describe("LSTM", 6, 5, 2, batch_first=True, bidirectional=True, proj_size=3,
                 seq_len=4, batch_size=2)
    actual = run_real(d)
    assert actual.parameters == d.parameters
    assert all(actual.tensor(k) == d.tensor(k) for k in ("input", "h0", "c0", "output", "h_n", "c_n"))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(pytorch_code(d), {})  # the code shown on the page runs as printed
    lines = dict(line.split(" ", 1) for line in printed.getvalue().strip().splitlines())
    assert lines["output"] == str(d.output) and lines["c_n"] == str(d.c_n)
    assert lines["weight_hr_l1_reverse"] == str(d.parameters["weight_hr_l1_reverse"])


def test_quiz_marks_answers():
    d = describe("LSTM", 10, 20, 2, seq_len=5, batch_size=3)
    q = quiz.question(d, "output")
    assert quiz.check(q, "(5, 3, 20)")[0]
    assert quiz.check(q, "torch.Size([5, 3, 20])")[0]
    assert quiz.check(q, "5x3x20")[0]
    ok, msg = quiz.check(q, "(3, 5, 20)")
    assert not ok and "(5, 3, 20)" in msg
    assert not quiz.check(q, "five")[0]
    q = quiz.question(d, "weight_ih_l0")
    assert q.answer == (80, 10) and quiz.check(q, "80, 10")[0]
    assert set(quiz.targets(d)) >= {"c_n", "weight_hh_l1"}
    assert quiz.random_question(d, 3) == quiz.random_question(d, 3)


@settings(max_examples=25, deadline=None)
@given(configs())
def test_figures_build_for_any_settings_and_blocks_name_real_rows(cfg):
    from playground.figures import shapes as shapes_view

    d = describe(**cfg)
    rnn = real_module(cfg)
    for layer in range(cfg["num_layers"]):
        for direction in ("forward", "reverse")[:d.num_directions]:
            fig = shapes_view.weight_blocks_figure(d, layer, direction)
            clickable = [tuple(c) for c in fig.data[-1].customdata]
            names = {n for n, _ in clickable}
            suffix = "_reverse" if direction == "reverse" else ""
            assert f"weight_ih_l{layer}{suffix}" in names
            for name, gate in clickable:  # every block is a real row range of a real parameter
                start, stop = weight_block(d, name, gate)
                assert 0 <= start < stop <= getattr(rnn, name).shape[0]
    tensors = shapes_view.tensors_figure(d)
    hovers = " ".join(h for t in tensors.data if t.hovertext for h in t.hovertext)
    assert "h_n[0]" in hovers and ("c_n[0]" in hovers) == (cfg["cell"] == "LSTM")


def test_report_is_a_frozen_dataclass_and_typos_fail_loudly():
    import dataclasses

    d = describe("GRU", 4, 3)
    with pytest.raises(AttributeError):
        d.hiden_size  # noqa: B018  a misspelt name is an error, not a silent None
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.hidden_size = 5
    with pytest.raises(ValueError, match="not one of the tensors"):
        d.tensor("hn")
    with pytest.raises(ValueError, match="not a parameter"):
        d.entry("weight_hr_l0")
    assert d.entry("weight_hh_l0").numel == 9 * 3


def test_page_texts_and_click_reading():
    from playground.figures import shapes as shapes_view

    d = describe("LSTM", 10, 20, 2, bidirectional=True, proj_size=5)
    rnn = real_module(dict(cell="LSTM", input_size=10, hidden_size=20, num_layers=2, bias=True,
                           batch_first=False, bidirectional=True, proj_size=5))
    note = shapes_view.layer_input_note(d, 1)
    assert f"= {rnn.weight_ih_l1.shape[1]} features" in note and "dashed line" in note
    assert shapes_view.layer_input_note(d, 0) is None
    rows = {r["name"]: r for r in shapes_view.parameter_rows(d)}
    assert rows["weight_ih_l0"]["elements"] == rnn.weight_ih_l0.numel()
    assert rows["weight_ih_l0"]["row blocks (gate: rows)"].startswith("i: 0–19  f: 20–39")
    assert f"**Total parameters: {sum(p.numel() for p in rnn.parameters()):,}**" in \
        shapes_view.total_markdown(d)
    assert "`h_n[2]`" in shapes_view.layout_notes(d)  # forward half of the last layer
    event = {"selection": {"points": [{"customdata": ["weight_hh_l1", "g"]}]}}
    assert shapes_view.clicked_block(event, d) == ("weight_hh_l1", "g")
    assert shapes_view.clicked_block({"selection": {"points": []}}, d) is None
    off = {"selection": {"points": [{"customdata": ["", ""]}]}}  # a click beside the blocks
    assert shapes_view.clicked_block(off, d) is None and shapes_view.clicked_block(None, d) is None
