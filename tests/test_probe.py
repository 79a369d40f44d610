"""probe(): traces a CharModel; torch/numpy formulas are the oracles."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from playground.cells import ScratchRNN
from playground.config import ModelConfig
from playground.models import CharModel
from playground.probe import (SIGNALS, best_unit, char_signal, has_brackets, nesting_depth, probe,
                              sort_units, unit_correlation)
from playground.vocab import Vocab

torch.set_num_threads(1)
TEXT = "(()(a b))\nHello (x (y)) Ok\n"


def _model(cell="LSTM", num_layers=2, bidirectional=False, embedding_dim=4, seed=0):
    torch.manual_seed(seed)
    vocab = Vocab(list(TEXT))
    cfg = ModelConfig(cell=cell, vocab_size=len(vocab), embedding_dim=embedding_dim, hidden_size=6,
                      num_layers=num_layers, bidirectional=bidirectional)
    return CharModel(cfg).eval(), vocab


@pytest.mark.parametrize("cell, bidirectional, embedding_dim", [
    ("LSTM", False, 4), ("GRU", True, 0), ("RNN_TANH", False, 3), ("RNN_RELU", True, 4)])
def test_probe_shapes_parity_and_states(cell, bidirectional, embedding_dim):
    model, vocab = _model(cell, 2, bidirectional, embedding_dim)
    res = probe(model, vocab, TEXT)
    T, D = len(TEXT), 2 if bidirectional else 1
    assert res.tokens == list(TEXT)
    assert set(res.states) == {(l, d) for l in range(2) for d in range(D)}
    expected = {"LSTM": ["h", "c", "i", "f", "g", "o"], "GRU": ["h", "r", "z", "n"]}.get(cell, ["h"])
    assert res.quantities == expected
    for q in res.states.values():
        for v in q.values():
            assert v.dtype == np.float32 and v.shape == (T, 6)
    assert res.parity.shape == (2, T) and res.parity_max <= 1e-5
    # the top layer's h is exactly what nn returns
    with torch.no_grad():
        ref, _ = model.rnn(model.one_hot_or_embed(torch.tensor([vocab[list(TEXT)]])))  # (1, T, D*H)
    top = np.concatenate([res.states[(1, d)]["h"] for d in range(D)], axis=1)
    assert np.abs(top - ref[0].numpy()).max() <= 1e-5


def test_top5_and_loss_match_softmax_and_cross_entropy():
    model, vocab = _model("GRU", 1)
    res = probe(model, vocab, TEXT)
    ids = torch.tensor([vocab[list(TEXT)]])
    with torch.no_grad():
        logits, _ = model(ids)  # (1, T, V)
    probs = logits[0].softmax(-1)
    assert np.isnan(res.loss[0])
    ce = F.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="none").numpy()
    np.testing.assert_allclose(res.loss[1:], ce, atol=1e-5)
    np.testing.assert_allclose(res.mean_loss, ce.mean(), atol=1e-5)
    for t in (0, 5, len(TEXT) - 1):
        expected = probs[t].topk(5)
        np.testing.assert_allclose(res.top_probs[t], expected.values.numpy(), atol=1e-6)
        assert res.top_tokens[t] == vocab.to_tokens(expected.indices.tolist())
        assert list(res.top_probs[t]) == sorted(res.top_probs[t], reverse=True)


def test_gate_saturation_shares_count_values():
    model, vocab = _model("LSTM", 2)
    res = probe(model, vocab, TEXT)
    rows = {(r["layer"], r["gate"]): r for r in res.saturation}
    assert set(rows) == {(l, g) for l in range(2) for g in "ifo"}  # sigmoid gates only
    f = res.states[(1, 0)]["f"]
    assert rows[(1, "f")]["below"] == pytest.approx(float((f < 0.1).mean()))
    assert rows[(1, "f")]["above"] == pytest.approx(float((f > 0.9).mean()))
    assert rows[(1, "f")]["unit_below"].shape == (6,)
    rnn_model, rnn_vocab = _model("RNN_TANH", 1)
    assert probe(rnn_model, rnn_vocab, TEXT).saturation == []


def test_unknown_tokens_and_empty_text():
    model, vocab = _model()
    res = probe(model, vocab, "(#)")  # '#' is not in the vocab -> <unk>, still traced
    assert res.tokens == ["(", "#", ")"]
    with pytest.raises(ValueError, match="empty"):
        probe(model, vocab, "")


def test_nesting_depth_and_signals():
    assert nesting_depth(list("(()(x))a)")).tolist() == [1, 2, 1, 2, 2, 1, 0, 0, 0]
    toks = list("a Bc 1\n")
    assert char_signal(toks, "after a space").tolist() == [0, 0, 1, 0, 0, 1, 0]
    assert char_signal(toks, "is a vowel").tolist() == [1, 0, 0, 0, 0, 0, 0]
    assert char_signal(toks, "is uppercase").tolist() == [0, 0, 1, 0, 0, 0, 0]
    assert char_signal(toks, "is a digit").tolist() == [0, 0, 0, 0, 0, 1, 0]
    for name in SIGNALS:
        assert char_signal(toks, name).shape == (7,)
    with pytest.raises(ValueError, match="signal must be"):
        char_signal(toks, "is a cat")
    assert has_brackets("a(b") and not has_brackets("abc")


def test_unit_correlation_matches_numpy_corrcoef_and_sorting():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=50).astype(np.float32)
    values = rng.normal(size=(50, 4)).astype(np.float32)
    values[:, 2] = 3 * signal + 0.1 * values[:, 2]   # strongly correlated
    values[:, 1] = -signal                           # perfectly anti-correlated
    values[:, 3] = 1.0                               # constant -> 0
    r = unit_correlation(values, signal)
    for u in range(3):
        assert r[u] == pytest.approx(np.corrcoef(values[:, u], signal)[0, 1], abs=1e-5)
    assert r[3] == 0.0
    assert sort_units(values, "correlation", signal)[:2].tolist() == [1, 2]
    assert sort_units(values, "activity")[0] == 2  # largest std
    assert sort_units(values, "activity")[-1] == 3
    assert sort_units(values).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="sort by"):
        sort_units(values, "colour")


def test_best_unit_finds_a_planted_depth_unit():
    model, vocab = _model("GRU", 2)
    res = probe(model, vocab, TEXT)
    depth = nesting_depth(res.tokens)
    res.states[(1, 0)]["h"][:, 4] = depth / 10 + 0.01  # plant a perfect counter
    best = best_unit(res, depth)
    assert (best["layer"], best["direction"], best["quantity"], best["unit"]) == (1, 0, "h", 4)
    assert best["r"] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("cell, bidirectional, embedding_dim", [
    ("LSTM", True, 4), ("GRU", False, 0), ("RNN_RELU", True, 3)])
def test_every_state_and_gate_equals_the_from_scratch_network(cell, bidirectional, embedding_dim):
    """probe derives gates from nn's outputs; ScratchRNN.trace runs the whole recurrence from
    the cell equations alone: every layer, direction and quantity must agree."""
    model, vocab = _model(cell, 2, bidirectional, embedding_dim)
    res = probe(model, vocab, TEXT)
    with torch.no_grad():
        x = model.one_hot_or_embed(torch.tensor([vocab[list(TEXT)]]))  # (1, T, I)
        ref = ScratchRNN.from_module(model.rnn).eval().trace(x[0])     # {(l, d): {q: (T, 1, H)}}
    assert set(ref) == set(res.states)
    for key, quantities in ref.items():
        assert list(quantities) == list(res.states[key])
        for name, v in quantities.items():
            np.testing.assert_allclose(res.states[key][name], v[:, 0].numpy(), atol=1e-5, err_msg=f"{key} {name}")


def test_parity_catches_a_wrong_cell_equation(monkeypatch):
    """The parity panel is a real check: break the forget gate's equation and it shows."""
    from dataclasses import replace

    from playground.cells import CELL_TYPES, lstm_step
    model, vocab = _model("LSTM", 2)

    def broken(x_proj, h, c, w_hh, b_hh, fix=lambda name, v: v):   # the forget gate 10 % shut
        return lstm_step(x_proj, h, c, w_hh, b_hh, lambda name, v: fix(name, v * 0.9 if name == "f" else v))

    assert probe(model, vocab, TEXT).parity_max < 1e-5
    monkeypatch.setitem(CELL_TYPES, "LSTM", replace(CELL_TYPES["LSTM"], step=broken))  # probe asks the cell type
    res = probe(model, vocab, TEXT)
    assert res.parity_max > 1e-3
