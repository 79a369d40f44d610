"""ScratchRNN against the real nn.RNN / nn.LSTM / nn.GRU (the oracle), plus the seed demos."""
from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from playground.cells import ScratchRNN

torch.set_num_threads(1)
TOL = 1e-5
NN_CLASSES = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}


def _make_nn(cell, nonlinearity, input_size, hidden_size, num_layers, bias, batch_first, bidirectional):
    kwargs = dict(num_layers=num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional)
    if cell == "RNN":
        kwargs["nonlinearity"] = nonlinearity
    return NN_CLASSES[cell](input_size, hidden_size, **kwargs)


def _random_config(rng: random.Random) -> dict:
    return dict(cell=rng.choice(["RNN", "LSTM", "GRU"]), nonlinearity=rng.choice(["tanh", "relu"]),
                input_size=rng.randint(1, 6), hidden_size=rng.randint(1, 7), num_layers=rng.randint(1, 3),
                bias=rng.random() < 0.7, batch_first=rng.random() < 0.5, bidirectional=rng.random() < 0.5)


def _max_diff(a, b) -> float:
    if isinstance(a, tuple):
        return max(_max_diff(x, y) for x, y in zip(a, b))
    return (a - b).abs().max().item()


def _inputs(cfg, seq_len, batch_size, with_state):
    D = 2 if cfg["bidirectional"] else 1
    shape = (batch_size, seq_len, cfg["input_size"]) if cfg["batch_first"] else (seq_len, batch_size, cfg["input_size"])
    x = torch.randn(shape)
    hx = None
    if with_state:
        h0 = torch.randn(cfg["num_layers"] * D, batch_size, cfg["hidden_size"])
        hx = (h0, torch.randn_like(h0)) if cfg["cell"] == "LSTM" else h0
    return x, hx


@pytest.mark.parametrize("seed", range(60))
def test_parity_with_nn_random_configs(seed):
    """nn weights loaded into ScratchRNN: same output and final state, with and without hx."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    cfg = _random_config(rng)
    ref = _make_nn(**cfg)
    scratch = ScratchRNN(**cfg)
    scratch.load_state_dict(ref.state_dict())  # nn -> scratch
    x, hx = _inputs(cfg, rng.randint(1, 9), rng.randint(1, 4), with_state=seed % 2 == 0)
    out_ref, state_ref = ref(x, hx)
    out, state = scratch(x, hx)
    assert out.shape == out_ref.shape
    assert _max_diff(out, out_ref) <= TOL, cfg
    assert _max_diff(state, state_ref) <= TOL, cfg


@pytest.mark.parametrize("seed", range(20))
def test_state_dict_loads_scratch_into_nn(seed):
    """The other direction: ScratchRNN's own init loaded into an nn module (strict names)."""
    rng = random.Random(1000 + seed)
    torch.manual_seed(seed)
    cfg = _random_config(rng)
    scratch = ScratchRNN(**cfg)
    ref = _make_nn(**cfg)
    ref.load_state_dict(scratch.state_dict())  # strict: names and shapes must match exactly
    assert set(scratch.state_dict()) == set(ref.state_dict())
    x, hx = _inputs(cfg, 5, 2, with_state=seed % 2 == 1)
    assert _max_diff(scratch(x, hx), ref(x, hx)) <= TOL


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_parameter_names_and_shapes_match_nn(cell):
    ref = _make_nn(cell, "tanh", 3, 4, 2, True, False, True)
    scratch = ScratchRNN(cell, 3, 4, num_layers=2, bidirectional=True)
    assert [(n, p.shape) for n, p in scratch.named_parameters()] == \
           [(n, p.shape) for n, p in ref.named_parameters()]


def test_unbatched_input_matches_nn():
    torch.manual_seed(0)
    ref = nn.GRU(3, 4, num_layers=2, bidirectional=True)
    scratch = ScratchRNN.from_module(ref)
    x, h0 = torch.randn(6, 3), torch.randn(4, 4)  # (T, I), (L*D, H)
    assert _max_diff(scratch(x, h0), ref(x, h0)) <= TOL


@pytest.mark.parametrize("cell", ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"])
def test_trace_agrees_with_nn_and_equations(cell):
    """trace(): the top layer's h equals nn's output; LSTM's c and h obey c=f*c+i*g, h=o*tanh(c);
    the last step of each (layer, direction) equals nn's h_n."""
    torch.manual_seed(3)
    cls = nn.RNN if cell.startswith("RNN") else NN_CLASSES[cell]
    kwargs = {"nonlinearity": cell[4:].lower()} if cell.startswith("RNN") else {}
    ref = cls(3, 5, num_layers=2, bidirectional=True, batch_first=True, **kwargs)
    scratch = ScratchRNN.from_module(ref)
    x = torch.randn(2, 7, 3)  # (B, T, I)
    out_ref, state_ref = ref(x)
    h_n_ref = state_ref[0] if cell == "LSTM" else state_ref
    with torch.no_grad():
        tr = scratch.trace(x)
    assert set(tr) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    top = torch.cat([tr[(1, 0)]["h"], tr[(1, 1)]["h"]], dim=2).transpose(0, 1)  # (B, T, 2H)
    assert _max_diff(top, out_ref) <= TOL
    for (layer, direction), q in tr.items():
        last = q["h"][-1] if direction == 0 else q["h"][0]  # the reverse direction ends at t=0
        assert _max_diff(last, h_n_ref[layer * 2 + direction]) <= TOL
        for name, value in q.items():
            assert value.shape == (7, 2, 5), name
    if cell == "LSTM":
        q = tr[(0, 0)]
        c_prev = torch.cat([torch.zeros(1, 2, 5), q["c"][:-1]])
        assert _max_diff(q["c"], q["f"] * c_prev + q["i"] * q["g"]) <= TOL
        assert _max_diff(q["h"], q["o"] * torch.tanh(q["c"])) <= TOL
        assert sorted(q) == ["c", "f", "g", "h", "i", "o"]
    if cell == "GRU":
        assert sorted(tr[(0, 0)]) == ["h", "n", "r", "z"]
        assert float(tr[(0, 0)]["z"].min()) >= 0 and float(tr[(0, 0)]["z"].max()) <= 1


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_seed003_step_by_step_equals_whole_sequence(cell):
    """Seed 003: feeding one step at a time with the carried state equals feeding the whole
    sequence; both for ScratchRNN and against nn."""
    torch.manual_seed(1)
    ref = NN_CLASSES[cell](3, 3, num_layers=2)
    scratch = ScratchRNN.from_module(ref)
    inputs = [torch.randn(1, 3) for _ in range(5)]
    h0 = torch.randn(2, 1, 3)
    state = (h0, torch.randn_like(h0)) if cell == "LSTM" else h0
    whole_out, whole_state = ref(torch.stack(inputs), state)  # (5, 1, 3)
    step_state, step_outs = state, []
    for x_t in inputs:
        out, step_state = scratch(x_t.view(1, 1, -1), step_state)  # (1, 1, 3)
        step_outs.append(out)
    assert _max_diff(torch.cat(step_outs), whole_out) <= TOL
    assert _max_diff(step_state, whole_state) <= TOL


def test_seed002_lstmcell_loop_equals_lstm():
    """Seed 002: an nn.LSTMCell loop with weights copied from a 1-layer nn.LSTM gives the same
    outputs, and ScratchRNN agrees with both."""
    torch.manual_seed(1000)
    lstm = nn.LSTM(4, 3, 1)
    cell = nn.LSTMCell(4, 3)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(lstm, name + "_l0"))
    x = torch.randn(2, 3, 4)  # (T, B, I)
    h0, c0 = torch.randn(1, 3, 3), torch.randn(1, 3, 3)
    out, (h_n, c_n) = lstm(x, (h0, c0))
    hx, cx, loop_out = h0[0], c0[0], []
    for x_t in x:  # (B, I)
        hx, cx = cell(x_t, (hx, cx))
        loop_out.append(hx)
    assert _max_diff(torch.stack(loop_out), out) <= TOL
    assert _max_diff(cx, c_n[0]) <= TOL
    scratch_out, _ = ScratchRNN.from_module(lstm)(x, (h0, c0))
    assert _max_diff(scratch_out, torch.stack(loop_out)) <= TOL


def test_gradients_flow_like_nn():
    torch.manual_seed(5)
    ref = nn.LSTM(3, 4, num_layers=2)
    scratch = ScratchRNN.from_module(ref)
    x = torch.randn(5, 2, 3)
    ref(x)[0].sum().backward()
    scratch(x)[0].sum().backward()
    for (name, p), (_, q) in zip(ref.named_parameters(), scratch.named_parameters()):
        assert (p.grad - q.grad).abs().max().item() <= 1e-4, name


@pytest.mark.parametrize("kwargs, match", [
    (dict(cell="TRANSFORMER", input_size=2, hidden_size=2), "cell must be"),
    (dict(cell="RNN", input_size=2, hidden_size=2, nonlinearity="sigmoid"), "nonlinearity"),
    (dict(cell="GRU", input_size=0, hidden_size=2), "input_size"),
])
def test_bad_arguments_raise_clear_valueerror(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ScratchRNN(**kwargs)


def test_wrong_state_shape_raises_valueerror():
    scratch = ScratchRNN("GRU", 2, 3, num_layers=2)
    with pytest.raises(ValueError, match="h0 must have shape"):
        scratch(torch.randn(4, 1, 2), torch.zeros(1, 1, 3))
    with pytest.raises(ValueError, match="input_size=2"):
        scratch(torch.randn(4, 1, 5))


def test_cell_types_are_the_one_home_of_names_gates_and_modules():
    from playground.cells import CELL_TYPES, GATE_TITLES, LABELS, SIGMOID_GATES, cell_type, cell_type_of, layer_weights
    from playground.config import ModelConfig

    assert tuple(CELL_TYPES) == ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")
    for name, ct in CELL_TYPES.items():
        assert ModelConfig(cell=name).cell == name and LABELS[name] == ct.label
        rnn = ct.module(5, 7, num_layers=2, bidirectional=True)
        assert rnn.mode == name and cell_type_of(rnn) is ct
        assert rnn.weight_ih_l0.shape[0] == len(ct.gates) * 7          # gates are the row blocks
        assert set(ct.sigmoid_gates) <= set(ct.gates) and set(ct.sigmoid_gates) <= SIGMOID_GATES
        assert all(GATE_TITLES[q] == ct.titles[q] for q in ct.quantities)
        assert ("c" in ct.quantities) == ct.has_cell_state
        w_ih, w_hh, b_ih, b_hh = layer_weights(rnn, 1, 1)
        assert w_ih is rnn.weight_ih_l1_reverse and b_hh is rnn.bias_hh_l1_reverse
        scratch = ScratchRNN(name, 5, 7)
        assert (scratch.mode, scratch.family) == (name, ct.family) and cell_type_of(scratch) is ct
    assert cell_type("RNN", "relu").name == "RNN_RELU" and cell_type("gru").label == "GRU"
    assert [ct.name for ct in CELL_TYPES.values() if ct.forget_gate] == ["LSTM"]
    assert layer_weights(torch.nn.GRU(3, 4, bias=False), 0)[2] is None


def test_a_cell_type_declaration_is_checked():
    from playground.cells import CellType, lstm_step, register

    good = dict(name="X", label="X", family="X", gates=("a", "b"), step=lstm_step, flops_per_second=1e9,
                titles={"h": "h", "a": "a", "b": "b"})
    CellType(**good)
    for bad, match in [(dict(name="x"), "upper case"), (dict(titles={"h": "h"}), "titles lack"),
                       (dict(sigmoid_gates=("q",)), "sigmoid_gates"), (dict(forget_gate="a"), "forget_gate"),
                       (dict(flops_per_second=0), "flops_per_second")]:
        with pytest.raises(ValueError, match=match):
            CellType(**{**good, **bad})
    with pytest.raises(ValueError, match="already registered"):
        register(CellType(**{**good, "name": "LSTM"}))
