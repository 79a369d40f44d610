"""Lab 3 — nn.LSTM over a sequence vs an nn.LSTMCell loop with the same weights (seed 002),
and nn.Embedding as a table lookup.

LSTM step (gates stacked i, f, g, o in the weight rows):
    i = σ(W_ii x + b_ii + W_hi h + b_hi)    f = σ(W_if x + b_if + W_hf h + b_hf)
    g = tanh(W_ig x + b_ig + W_hg h + b_hg) o = σ(W_io x + b_io + W_ho h + b_ho)
    c' = f ⊙ c + i ⊙ g                      h' = o ⊙ tanh(c')

The seed then feeds the looked-up rows into an LSTM. As written it fails twice on today's
PyTorch (`seed_embedding_into_lstm` runs it): the integer weight table cannot become a
parameter's data, and the initial state is built for a batch of 3 while the input is one
sequence of 3 steps, (seq_len=3, batch=1, 4). One line fixes each.
"""
from __future__ import annotations

import torch
from torch import nn


def lstm_vs_cell(seq_len: int = 2, batch_size: int = 3, input_size: int = 4,
                 hidden_size: int = 3, seed: int = 1000) -> dict:
    """Run one nn.LSTM layer and an nn.LSTMCell loop from the same (h0, c0) and weights."""
    torch.manual_seed(seed)
    x = torch.randn(seq_len, batch_size, input_size)          # (T, B, I)
    lstm = nn.LSTM(input_size, hidden_size, num_layers=1)
    h0 = torch.randn(1, batch_size, hidden_size)              # (1, B, H)
    c0 = torch.randn(1, batch_size, hidden_size)              # (1, B, H)
    out_lstm, (h_n, c_n) = lstm(x, (h0, c0))                  # (T, B, H), (1, B, H) x2

    cell = nn.LSTMCell(input_size, hidden_size)
    with torch.no_grad():                                     # copy W_ih, W_hh, b_ih, b_hh
        cell.weight_ih.copy_(lstm.weight_ih_l0)               # (4H, I)
        cell.weight_hh.copy_(lstm.weight_hh_l0)               # (4H, H)
        cell.bias_ih.copy_(lstm.bias_ih_l0)                   # (4H,)
        cell.bias_hh.copy_(lstm.bias_hh_l0)                   # (4H,)
    hx, cx = h0[0], c0[0]                                     # (B, H) each
    outs = []
    for x_t in x:                                             # x_t (B, I)
        hx, cx = cell(x_t, (hx, cx))                          # (B, H), (B, H)
        outs.append(hx)
    out_cell = torch.stack(outs)                              # (T, B, H)

    return {"out_lstm": out_lstm.detach(), "out_cell": out_cell.detach(),
            "h_n": h_n[0].detach(), "c_n": c_n[0].detach(), "h_cell": hx.detach(),
            "c_cell": cx.detach(),
            "max_diff_output": (out_lstm - out_cell).abs().max().item(),
            "max_diff_c": (c_n[0] - cx).abs().max().item()}


def embedding_lookup(indices: tuple[int, ...] = (3, 2, 1)) -> dict:
    """nn.Embedding(5, 4) with weight arange(0, 20).view(5, 4): looking up id k returns row k,
    i.e. embedding(ids) == weight[ids] == one_hot(ids) @ weight."""
    embedding = nn.Embedding(5, 4)
    with torch.no_grad():
        embedding.weight.copy_(torch.arange(0, 20, dtype=torch.float32).view(5, 4))  # (5, 4)
    bad = [i for i in indices if not 0 <= i < 5]
    if bad:
        raise ValueError(f"ids must be in 0..4 for a 5-row table; got {bad}")
    ids = torch.tensor(indices, dtype=torch.long)             # (N,)
    looked_up = embedding(ids)                                # (N, 4)
    one_hot = torch.eye(5)[ids]                               # (N, 5)
    return {"weight": embedding.weight.detach(), "ids": ids, "looked_up": looked_up.detach(),
            "via_one_hot": (one_hot @ embedding.weight).detach()}


SEED_STEPS = (
    ("weight", "embedding.weight.data = torch.arange(0, 20).view(5, 4)",
     "embedding.weight.data = torch.arange(0, 20).view(5, 4).float()"),
    ("state", "h0, c0 = torch.randn(1, 3, 3), torch.randn(1, 3, 3)   # batch 3",
     "h0, c0 = torch.randn(1, 1, 3), torch.randn(1, 1, 3)   # batch 1, like the input"),
)


def _error(fn) -> str:
    """The first line of the error fn raises ('' if it runs)."""
    try:
        fn()
    except (RuntimeError, TypeError, ValueError) as err:
        return str(err).splitlines()[0]
    return ""


def seed_embedding_into_lstm(seed: int = 1000) -> dict:
    """The seed's Embedding -> LSTM step run as written, then with each one-line fix:
    ids [3, 2, 1] -> embedding (3, 4) -> unsqueeze(1) (seq_len=3, batch=1, 4) -> nn.LSTM(4, 3)."""
    torch.manual_seed(seed)
    embedding, lstm = nn.Embedding(5, 4), nn.LSTM(4, 3, 1)
    table = torch.arange(0, 20).view(5, 4)                    # (5, 4) int64, as the seed built it

    def set_int_weight():
        embedding.weight.data = table

    weight_error = _error(set_int_weight)
    embedding.weight.data = table.float()                     # fix 1
    x = embedding(torch.arange(3, 0, -1)).unsqueeze(1)        # (T=3, B=1, 4)
    h0, c0 = torch.randn(1, 3, 3), torch.randn(1, 3, 3)       # (1, B=3, H): the seed's batch 3
    state_error = _error(lambda: lstm(x, (h0, c0)))
    h0, c0 = torch.randn(1, 1, 3), torch.randn(1, 1, 3)       # fix 2: (1, B=1, H)
    out, (h_n, c_n) = lstm(x, (h0, c0))                       # (3, 1, 3), (1, 1, 3) x2
    return {"input": x.detach(), "weight_error": weight_error, "state_error": state_error,
            "output": out.detach(), "h_n": h_n.detach(), "steps": SEED_STEPS}


def run(seq_len: int = 2, batch_size: int = 3, hidden_size: int = 3, seed: int = 1000) -> dict:
    return {"lstm": lstm_vs_cell(seq_len, batch_size, 4, hidden_size, seed),
            "embedding": embedding_lookup(), "seed_lstm": seed_embedding_into_lstm(seed)}
