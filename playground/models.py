"""The next-token model: (embedding | one-hot) -> the cell type's module (nn.RNN / nn.LSTM /
nn.GRU, or a registered cell's) -> nn.Linear.

    x (B, T) token ids
    e = Embedding(x) or one_hot(x)        (B, T, input_size)
    e = Dropout(embedding_dropout)(e)      (B, T, input_size)   training only
    out, state = rnn(e, state)             (B, T, D*H)   D = 2 if bidirectional else 1
    out = Dropout(output_dropout)(out)     (B, T, D*H)          training only
    logits = head(out)                     (B, T, V)

Tied weights (Press & Wolf 2017; Inan et al. 2017): head.weight IS embedding.weight, one
(V, E) tensor used twice, so E must equal D*H and the model has V*E fewer parameters.
Initialisation "uniform" (pytorch/examples word_language_model): embedding and head weights
~ U(-0.1, 0.1), head bias 0. forget_bias b (a cell with a forget gate, LSTM): the cell type's
one rule, CellType.add_forget_bias: the forget gate's rows of bias_ih (LSTM bias_ih[H:2H]) += b
in every layer and direction, so the gate starts at sigmoid(b + ...) — nearer 1 for b > 0.

Parameters (`parameter_count`, from the config alone; G gate blocks, I_l layer l's input size,
I_0 = E or V for one-hot, I_l = D·H above):
    V·E  +  sum_l D·G·H·(I_l + H + 2)  +  V·D·H (none when tied: the embedding's)  +  V

Free of training, data and UI code.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .cells import cell_type
from .config import ModelConfig

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def make_rnn(cfg: ModelConfig) -> nn.Module:
    """The recurrent layer for a config, batch_first=True."""
    return cell_type(cfg.cell).module(cfg.input_size, cfg.hidden_size, num_layers=cfg.num_layers,
                                       dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
                                       bidirectional=cfg.bidirectional, batch_first=True)


class CharModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.vocab_size < 1:
            raise ValueError("ModelConfig.vocab_size must be set (build the Vocab first)")
        self.config = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embedding_dim) if cfg.embedding_dim else None
        self.embedding_dropout = nn.Dropout(cfg.embedding_dropout)
        self.rnn = make_rnn(cfg)
        self.output_dropout = nn.Dropout(cfg.output_dropout)
        self.head = nn.Linear(cfg.num_directions * cfg.hidden_size, cfg.vocab_size)
        if cfg.tie_weights:
            self.head.weight = self.embedding.weight  # one (V, E) tensor; ModelConfig checked E == D*H
        if cfg.init == "uniform":
            init_uniform(self)
        if cfg.forget_bias:
            cell_type(cfg.cell).add_forget_bias(self.rnn, cfg.forget_bias)

    def one_hot_or_embed(self, x: torch.Tensor) -> torch.Tensor:
        """Token ids (B, T) -> rnn inputs (B, T, input_size)."""
        if self.embedding is not None:
            return self.embedding(x)                                         # (B, T, E)
        return F.one_hot(x, self.config.vocab_size).to(self.head.weight.dtype)  # (B, T, V)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        e = self.embedding_dropout(self.one_hot_or_embed(x))    # (B, T, input_size)
        out, state = self.rnn(e, state)                         # (B, T, D*H)
        return self.head(self.output_dropout(out)), state       # (B, T, V)


@torch.no_grad()
def init_uniform(model: CharModel, scale: float = 0.1) -> None:
    """word_language_model's init_weights: embedding and head ~ U(-scale, scale), head bias 0."""
    if model.embedding is not None:
        model.embedding.weight.uniform_(-scale, scale)
    if model.head.weight is not getattr(model.embedding, "weight", None):
        model.head.weight.uniform_(-scale, scale)
    model.head.bias.zero_()


def detach_state(state: State | None) -> State | None:
    """Cut the autograd graph at a batch boundary, keep the values (consecutive sampling)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def count_parameters(model: nn.Module) -> int:
    """Learnable numbers; a tied (shared) tensor counts once (parameters() yields it once)."""
    return sum(p.numel() for p in model.parameters())


def parameter_count(cfg: ModelConfig, vocab_size: int) -> int:
    """Learnable numbers of the model `cfg` builds over a vocab of `vocab_size`, from the
    formula in the module docstring (no model built); tied weights count once. The one count
    behind the Train page's header and limits.estimate; tests hold it to count_parameters."""
    G, H, D, V = len(cell_type(cfg.cell).gates), cfg.hidden_size, cfg.num_directions, vocab_size
    inputs = [cfg.embedding_dim or V] + [D * H] * (cfg.num_layers - 1)       # I_l
    rnn = sum(D * G * H * (i + H + 2) for i in inputs)                      # weights + 2 biases
    head = (0 if cfg.tie_weights else V * D * H) + V
    return V * cfg.embedding_dim + rnn + head
