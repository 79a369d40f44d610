"""A cell type is one declaration: the minimal gated unit (MGU, Zhou et al. 2016) is declared
here, in this test file alone, and registered; then it trains, generates, is probed (the
Hidden states page) and has its shapes described, with no MGU code anywhere in playground/.
This is the test of docs/architecture.md's "Add a cell type" recipe.

    f_t = sigmoid(W_f x_t + b_if + U_f h_{t-1} + b_hf)               forget gate
    n_t = tanh(W_n x_t + b_in + U_n (f_t * h_{t-1}) + b_hn)          candidate
    h_t = (1 - f_t) * h_{t-1} + f_t * n_t

Weight rows (f, n): weight_ih_l0 (2H, I), weight_hh_l0 (2H, H), bias_ih_l0 / bias_hh_l0 (2H,).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from playground import cells, corpora, shapes
from playground.cells import CellType, ScratchRNN, keep
from playground.config import ModelConfig, TrainConfig
from playground.generate import Clamp, generate, generate_trace, unit_quantities
from playground.limits import estimate
from playground.models import CharModel, count_parameters, parameter_count
from playground.probe import probe
from playground.train import Trainer

torch.set_num_threads(1)


def mgu_step(x_proj, h, c, w_hh, b_hh, fix=keep):
    """One MGU step (module docstring). x_proj = W_ih x_t + b_ih (B, 2H), rows (f, n)."""
    H = h.shape[-1]
    x_f, x_n = x_proj.chunk(2, dim=-1)                     # each (B, H)
    b_f, b_n = (0.0, 0.0) if b_hh is None else b_hh.chunk(2)
    f = fix("f", torch.sigmoid(x_f + h @ w_hh[:H].T + b_f))  # (B, H)
    n = fix("n", torch.tanh(x_n + (f * h) @ w_hh[H:].T + b_n))  # (B, H)
    return (1 - f) * h + f * n, None, {"f": f, "n": n}


MGU = CellType(
    name="MGU", label="MGU (minimal gated unit)", family="MGU", gates=("f", "n"), step=mgu_step,
    flops_per_second=25e9,   # the tanh RNN's rate (a guess: the estimate needs one)
    titles={"h": "hidden state h", "f": "forget gate f", "n": "candidate n"},
    meanings={"f": "forget gate", "n": "candidate (tanh), reads f ⊙ h"},
    sigmoid_gates=("f",))    # no build: a ScratchRNN of this cell type; no numpy step: torch step


@pytest.fixture(scope="module")
def mgu():
    """MGU registered for this module's tests, and gone afterwards: other tests never see it."""
    cells.register(MGU)
    try:
        yield MGU
    finally:
        cells.unregister("MGU")
    assert "MGU" not in cells.CELL_TYPES and "MGU" not in cells.LABELS
    with pytest.raises(ValueError, match="cell must be one of"):
        ModelConfig(cell="MGU")


TEXT = corpora.load("arithmetic", 6_000)


@pytest.fixture(scope="module")
def trained(mgu):
    t = Trainer(ModelConfig(cell="MGU", hidden_size=24, embedding_dim=8),
                TrainConfig(seq_len=16, batch_size=8, lr=1e-2, seed=0), TEXT)
    losses = [m.loss for m in t.train_steps(30)]
    return t, losses


def oracle(module, x):
    """The MGU equations in a plain loop over one layer's weights, x (T, B, I) -> (T, B, H)."""
    H = module.hidden_size
    w_ih, w_hh, b_ih, b_hh = (p.detach() for p in cells.layer_weights(module, 0))
    h, out = torch.zeros(x.shape[1], H), []
    for x_t in x:
        f = torch.sigmoid(x_t @ w_ih[:H].T + b_ih[:H] + h @ w_hh[:H].T + b_hh[:H])
        n = torch.tanh(x_t @ w_ih[H:].T + b_ih[H:] + (f * h) @ w_hh[H:].T + b_hh[H:])
        h = (1 - f) * h + f * n
        out.append(h)
    return torch.stack(out)


def test_an_undeclared_cell_is_refused():
    """Before registration (this test runs first) and after it (the fixture's teardown)."""
    with pytest.raises(ValueError, match="cell must be one of"):
        ModelConfig(cell="MGU")


def test_the_declared_cell_is_a_module_with_pytorchs_names(mgu):
    rnn = mgu.module(3, 4, num_layers=2, bidirectional=True)
    assert rnn.mode == "MGU" and cells.cell_type_of(rnn) is mgu
    assert rnn.weight_ih_l0.shape == (8, 3) and rnn.weight_hh_l1_reverse.shape == (8, 4)
    assert rnn.weight_ih_l1.shape == (8, 8) and rnn.bias_hh_l0.shape == (8,)
    one = ScratchRNN("mgu", 3, 5)
    x = torch.randn(7, 2, 3)
    out, h_n = one(x)                                                     # (T, B, H), (1, B, H)
    torch.testing.assert_close(out, oracle(one, x), atol=1e-6, rtol=0)
    torch.testing.assert_close(h_n[0], out[-1])
    assert cells.LABELS["MGU"] == mgu.label                               # the Train page's cell menu
    assert ModelConfig(cell="MGU").cell == "MGU"
    with pytest.raises(ValueError, match="forget gate"):
        ModelConfig(cell="MGU", forget_bias=1.0)                          # MGU declares no forget_gate


def test_it_trains(trained):
    t, losses = trained
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.3
    assert count_parameters(t.model) == parameter_count(t.model_config, len(t.vocab))
    cost = estimate(t.model_config, t.train_config, len(t.vocab))
    assert cost.parameters == count_parameters(t.model) and cost.flops_per_second == MGU.flops_per_second


def test_it_generates(trained):
    t, _ = trained
    model, vocab = t.model.eval(), t.vocab
    text = generate(model, vocab, "12+", 30, seed=3)
    trace = generate_trace(model, vocab, "12+", 30, seed=3)               # seeded: the same text
    assert trace.text == text and len(trace.tokens) == 30 and set(trace.tokens) <= set(vocab.idx_to_token)
    greedy, ids = generate(model, vocab, "12+", 12, greedy=True), vocab[list("12+")]
    with torch.no_grad():                                                 # re-feed everything: the reference
        for _ in range(12):
            ids.append(int(model(torch.tensor([ids]))[0][0, -1].argmax()))
    assert greedy == "".join(vocab.to_tokens(ids[3:]))
    assert unit_quantities("MGU") == ["h", "f", "n"]
    clamped = generate_trace(model, vocab, "12+", 20, greedy=True, clamp=Clamp(0, 0, 1.0, "f"))
    assert np.all(clamped.watched == 1.0) and len(clamped.tokens) == 20


def test_it_is_probed_like_any_cell(trained):
    t, _ = trained
    res = probe(t.model, t.vocab, "12+34=46\n")
    assert res.cell == "MGU" and res.quantities == ["h", "f", "n"]
    h, f = res.states[(0, 0)]["h"], res.states[(0, 0)]["f"]                 # (T, H) each
    assert h.shape == f.shape == (9, 24) and res.parity_max < 1e-5
    assert [r["gate"] for r in res.saturation] == ["f"]                   # the declared sigmoid gate
    rnn, H = t.model.rnn, 24
    x = t.model.one_hot_or_embed(torch.tensor([t.vocab[list("12+34=46\n")]]))[0].detach()  # (T, E)
    h_prev = np.vstack([np.zeros((1, H), np.float32), h[:-1]])
    pre = (x @ rnn.weight_ih_l0[:H].T + rnn.bias_ih_l0[:H]).detach().numpy() \
        + h_prev @ rnn.weight_hh_l0[:H].T.detach().numpy() + rnn.bias_hh_l0[:H].detach().numpy()
    np.testing.assert_allclose(f, 1 / (1 + np.exp(-pre)), atol=1e-5)      # f from its equation


def test_its_shapes_are_described(mgu):
    desc = shapes.describe("MGU", 3, 4, num_layers=2, bidirectional=True, batch_first=True)
    module = mgu.module(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    assert desc.parameters == {n: tuple(p.shape) for n, p in module.named_parameters()}
    assert desc.gates == ["f", "n"] and desc.c0 is None and desc.family == "MGU"
    assert desc.total == count_parameters(module)
    assert desc.entry("weight_hh_l1_reverse").row_blocks == [("f", 0, 4), ("n", 4, 8)]
    assert all(row["match"] for row in shapes.compare(desc, shapes.run_real(desc)))
