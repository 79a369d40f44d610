"""The next-token model: (embedding | one-hot) -> nn.RNN / nn.LSTM / nn.GRU -> nn.Linear.

    x (B, T) token ids
    e = Embedding(x) or one_hot(x)        (B, T, input_size)
    out, state = rnn(e, state)             (B, T, D*H)   D = 2 if bidirectional else 1
    logits = head(out)                     (B, T, V)

Free of training, data and UI code.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def make_rnn(cfg: ModelConfig) -> nn.RNNBase:
    """The recurrent layer for a config, batch_first=True."""
    kwargs = dict(input_size=cfg.input_size, hidden_size=cfg.hidden_size, num_layers=cfg.num_layers,
                  dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
                  bidirectional=cfg.bidirectional, batch_first=True)
    if cfg.cell == "LSTM":
        return nn.LSTM(**kwargs)
    if cfg.cell == "GRU":
        return nn.GRU(**kwargs)
    return nn.RNN(nonlinearity="relu" if cfg.cell == "RNN_RELU" else "tanh", **kwargs)


class CharModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.vocab_size < 1:
            raise ValueError("ModelConfig.vocab_size must be set (build the Vocab first)")
        self.config = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embedding_dim) if cfg.embedding_dim else None
        self.rnn = make_rnn(cfg)
        self.head = nn.Linear(cfg.num_directions * cfg.hidden_size, cfg.vocab_size)

    def one_hot_or_embed(self, x: torch.Tensor) -> torch.Tensor:
        """Token ids (B, T) -> rnn inputs (B, T, input_size)."""
        if self.embedding is not None:
            return self.embedding(x)                                         # (B, T, E)
        return F.one_hot(x, self.config.vocab_size).to(self.head.weight.dtype)  # (B, T, V)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        out, state = self.rnn(self.one_hot_or_embed(x), state)  # (B, T, D*H)
        return self.head(out), state                             # (B, T, V)


def detach_state(state: State | None) -> State | None:
    """Cut the autograd graph at a batch boundary, keep the values (consecutive sampling)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
