"""Lab 4 — feed one step at a time, carrying the state, or the whole sequence at once
(seed 003): same outputs, same final state.

    whole:        out, h_T = rnn(x_{1..T}, h_0)
    step by step: out_t, h_t = rnn(x_t, h_{t-1}) for t = 1..T;  out = stack(out_t)
"""
from __future__ import annotations

import torch

from playground.cells import cell_type

CELLS = ("RNN", "LSTM", "GRU")   # torch families (playground/cells.py)


def _state_tensors(state) -> list[torch.Tensor]:
    return list(state) if isinstance(state, tuple) else [state]


def step_by_step(cell: str = "LSTM", seq_len: int = 5, batch_size: int = 1, input_size: int = 3,
                 hidden_size: int = 3, num_layers: int = 1, seed: int = 1) -> dict:
    """Run both ways from the same random initial state; report both and their differences."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {list(CELLS)}, got {cell!r}")
    torch.manual_seed(seed)
    rnn = cell_type(cell).module(input_size, hidden_size, num_layers=num_layers)
    x = torch.randn(seq_len, batch_size, input_size)          # (T, B, I)
    h0 = torch.randn(num_layers, batch_size, hidden_size)     # (L, B, H)
    state0 = (h0, torch.randn_like(h0)) if cell == "LSTM" else h0
    with torch.no_grad():
        out_whole, state_whole = rnn(x, state0)               # (T, B, H)
        state, outs = state0, []
        for t in range(seq_len):
            out_t, state = rnn(x[t:t + 1], state)             # (1, B, H): one step, state carried
            outs.append(out_t)
        out_steps = torch.cat(outs)                           # (T, B, H)
    finals_whole, finals_steps = _state_tensors(state_whole), _state_tensors(state)
    return {
        "cell": cell, "out_whole": out_whole, "out_steps": out_steps,
        "state_whole": finals_whole, "state_steps": finals_steps,
        "max_diff_output": (out_whole - out_steps).abs().max().item(),
        "max_diff_state": max((a - b).abs().max().item() for a, b in zip(finals_whole, finals_steps)),
        "bitwise_equal": torch.equal(out_whole, out_steps)
        and all(torch.equal(a, b) for a, b in zip(finals_whole, finals_steps)),
    }


def run(cell: str = "LSTM", seq_len: int = 5, num_layers: int = 1, seed: int = 1) -> dict:
    return step_by_step(cell=cell, seq_len=seq_len, num_layers=num_layers, seed=seed)
