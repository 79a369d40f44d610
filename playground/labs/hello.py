"""Lab 1 — teach a tiny RNN to turn "hello" into "ohlol" (seed 000).

Three versions of the same task, each a generator that trains and yields one
`EpochResult(epoch, loss, predicted)` per epoch:

    train_rnncell     nn.RNNCell in a Python loop over one-hot inputs; the loss is the sum
                      of the per-step losses, so one backward() covers the whole sequence
    train_rnn         nn.RNN over the whole (seq_len, batch_size, input_size) tensor at once
    train_embedding   nn.Embedding -> nn.RNN(batch_first=True) -> nn.Linear on token ids

In the first two the hidden state *is* the prediction (hidden_size = number of classes);
the third decouples them with a Linear head. Epochs default to 15, as in the seed.

The seed's remark that an RNN cell is one linear layer: W_hh h + W_ih x = [W_hh W_ih]·[h; x],
so  tanh(W_ih x + b_ih + W_hh h + b_hh) = tanh(Linear([h; x]))  with weight [W_hh W_ih]
(hidden_size, hidden_size + input_size) and bias b_ih + b_hh — `cell_as_one_linear` checks it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

CHARS = ("e", "h", "l", "o")   # id -> character (any fixed order works)
SOURCE, TARGET = "hello", "ohlol"


@dataclass(frozen=True)
class EpochResult:
    epoch: int
    loss: float        # loss after this epoch's update was computed (before the step)
    predicted: str     # argmax character at every step, joined


def encode(text: str) -> torch.Tensor:
    """Characters -> LongTensor of ids, e.g. "hello" -> [1, 0, 2, 2, 3]."""
    bad = sorted(set(text) - set(CHARS))
    if bad:
        raise ValueError(f"only the characters {CHARS} are known; got {bad}")
    return torch.tensor([CHARS.index(c) for c in text])


def decode(ids: torch.Tensor) -> str:
    return "".join(CHARS[int(i)] for i in ids)


def one_hot_inputs(text: str = SOURCE, batch_size: int = 1) -> torch.Tensor:
    """(seq_len, batch_size, input_size) one-hot rows of the identity matrix."""
    ids = encode(text)                                       # (T,)
    x = torch.eye(len(CHARS))[ids]                           # (T, C)
    return x.unsqueeze(1).expand(-1, batch_size, -1).contiguous()  # (T, B, C)


def train_rnncell(epochs: int = 15, lr: float = 0.1, seed: int = 2) -> Iterator[EpochResult]:
    """nn.RNNCell stepped by hand: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).

    loss = sum_t CE(h_t, y_t): the per-step losses are added, building one graph through
    every step, then a single backward() and optimizer step per epoch.
    """
    torch.manual_seed(seed)
    num_classes = len(CHARS)
    cell = nn.RNNCell(input_size=num_classes, hidden_size=num_classes)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(cell.parameters(), lr=lr)
    inputs = one_hot_inputs(SOURCE)                          # (T, B=1, C)
    labels = encode(TARGET).view(-1, 1)                      # (T, 1): one class id per step
    for epoch in range(1, epochs + 1):
        optimizer.zero_grad()
        hidden = torch.zeros(1, num_classes)                 # (B, H) h_0 = 0
        loss, predicted = 0.0, []
        for x_t, y_t in zip(inputs, labels):                 # x_t (B, C), y_t (B,)
            hidden = cell(x_t, hidden)                       # (B, H)
            loss = loss + criterion(hidden, y_t)
            predicted.append(CHARS[hidden.argmax(dim=1).item()])
        loss.backward()
        optimizer.step()
        yield EpochResult(epoch, loss.item(), "".join(predicted))


def train_rnn(epochs: int = 15, lr: float = 0.1, seed: int = 2) -> Iterator[EpochResult]:
    """nn.RNN runs the loop for us: out (T, B, H) holds h_1..h_T, h_n (num_layers, B, H).

    CrossEntropyLoss wants logits (N, classes) and class ids (N,), so the outputs are
    flattened to (seq_len * batch_size, hidden_size) and the labels to (seq_len * batch_size,).
    """
    torch.manual_seed(seed)
    num_classes = len(CHARS)
    rnn = nn.RNN(input_size=num_classes, hidden_size=num_classes, num_layers=1)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(rnn.parameters(), lr=lr)
    inputs = one_hot_inputs(SOURCE)                          # (T, B, C)
    labels = encode(TARGET)                                  # (T * B,)
    for epoch in range(1, epochs + 1):
        optimizer.zero_grad()
        h0 = torch.zeros(1, 1, num_classes)                  # (num_layers, B, H)
        out, _ = rnn(inputs, h0)                             # (T, B, H)
        logits = out.view(-1, num_classes)                   # (T * B, H)
        loss = criterion(logits, labels)
        loss.backward()
        optimizer.step()
        yield EpochResult(epoch, loss.item(), decode(logits.argmax(dim=1)))


class EmbeddingRNN(nn.Module):
    """ids (B, T) -> Embedding (B, T, E) -> RNN(batch_first) (B, T, H) -> Linear (B, T, C)."""

    def __init__(self, num_classes: int, embedding_dim: int = 10, hidden_size: int = 8):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, embedding_dim)
        self.rnn = nn.RNN(embedding_dim, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        emb = self.embedding(x)                              # (B, T, E)
        out, _ = self.rnn(emb)                               # (B, T, H), h_0 = 0
        logits = self.head(out)                              # (B, T, C)
        return logits.view(-1, logits.shape[-1])             # (B * T, C)


def train_embedding(epochs: int = 15, lr: float = 0.05, seed: int = 2,
                    embedding_dim: int = 10, hidden_size: int = 8) -> Iterator[EpochResult]:
    """Token ids instead of one-hot vectors: the Embedding row for id k is what the
    one-hot vector e_k would pick out of a learned matrix."""
    torch.manual_seed(seed)
    model = EmbeddingRNN(len(CHARS), embedding_dim, hidden_size)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    x = encode(SOURCE).view(1, -1)                           # (B=1, T)
    labels = encode(TARGET)                                  # (B * T,)
    for epoch in range(1, epochs + 1):
        optimizer.zero_grad()
        logits = model(x)                                    # (B * T, C)
        loss = criterion(logits, labels)
        loss.backward()
        optimizer.step()
        yield EpochResult(epoch, loss.item(), decode(logits.argmax(dim=1)))


VARIANTS = {
    "RNNCell loop": train_rnncell,
    "nn.RNN": train_rnn,
    "Embedding + RNN + Linear": train_embedding,
}


def cross_entropy_targets(seed: int = 0) -> dict:
    """Why CrossEntropyLoss takes class ids: logits (N, C) pair with ids (N,).

    CE(z, y) = -log softmax(z)_y. A float one-hot (N, C) target is read as class
    *probabilities* and gives the same number; an integer one-hot (N, C) is refused.
    """
    torch.manual_seed(seed)
    logits = torch.randn(len(TARGET), len(CHARS))            # (T * B, C)
    ids = encode(TARGET)                                     # (T * B,)
    one_hot = torch.eye(len(CHARS))[ids]                     # (T * B, C) float
    ce = nn.CrossEntropyLoss()
    by_hand = -torch.log_softmax(logits, dim=1)[torch.arange(len(ids)), ids].mean()
    try:
        ce(logits, one_hot.long())
        long_error = ""
    except (RuntimeError, ValueError) as err:
        long_error = str(err).splitlines()[0]
    return {"logits_shape": tuple(logits.shape), "ids_shape": tuple(ids.shape),
            "ids": ids.tolist(), "loss_ids": ce(logits, ids).item(),
            "loss_probabilities": ce(logits, one_hot).item(), "loss_by_hand": by_hand.item(),
            "long_one_hot_error": long_error}


def cell_as_one_linear(text: str = SOURCE, hidden_size: int = 4, seed: int = 0) -> dict:
    """An nn.RNNCell stepped over the one-hot text and one nn.Linear on [h; x] holding the same
    numbers (weight = [W_hh W_ih], bias = b_ih + b_hh): the hidden states at every step."""
    torch.manual_seed(seed)
    cell = nn.RNNCell(len(CHARS), hidden_size)
    linear = nn.Linear(hidden_size + len(CHARS), hidden_size)
    with torch.no_grad():
        linear.weight.copy_(torch.cat([cell.weight_hh, cell.weight_ih], dim=1))  # (H, H + C)
        linear.bias.copy_(cell.bias_ih + cell.bias_hh)                          # (H,)
    x = one_hot_inputs(text)[:, 0]                           # (T, C): batch of one, squeezed
    h_cell = h_linear = torch.zeros(1, hidden_size)          # (1, H)
    rows_cell, rows_linear = [], []
    with torch.no_grad():
        for x_t in x:                                        # x_t (C,)
            h_cell = cell(x_t.view(1, -1), h_cell)           # (1, H)
            hx = torch.cat([h_linear, x_t.view(1, -1)], dim=1)  # (1, H + C): [h; x]
            h_linear = torch.tanh(linear(hx))                # (1, H)
            rows_cell.append(h_cell[0])
            rows_linear.append(h_linear[0])
    h_c, h_l = torch.stack(rows_cell), torch.stack(rows_linear)  # (T, H) each
    return {"weight_shape": tuple(linear.weight.shape), "h_cell": h_c, "h_linear": h_l,
            "max_diff": (h_c - h_l).abs().max().item()}


def run(epochs: int = 15, seed: int = 2) -> dict[str, list[EpochResult]]:
    """Train the three variants with their default learning rates.

    With hidden_size = 4 classes and a tanh output, some seeds (e.g. 0) settle on "ohlll":
    the two "l" inputs need different outputs and four squashed units are little room."""
    return {name: list(train(epochs=epochs, seed=seed)) for name, train in VARIANTS.items()}
