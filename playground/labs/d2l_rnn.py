"""Lab 11 — the d2l character model of seed 004, trained: one-hot -> nn.RNN -> nn.Linear.

    X (B, T) ids -> one_hot, transposed (T, B, V) -> nn.RNN(V, H): hiddens (T, B, H), state
             -> reshape (T·B, H) -> Linear -> logits (T·B, V)

Trained as d2l trains it (hidden 256, batch 32, num_steps 35): consecutive minibatches with
the state carried and detached, Adam, gradients clipped to a global norm θ, and perplexity =
exp(mean cross-entropy) per epoch. d2l clips at θ = 0.01 with Adam at 1e-3; measured here on
20k characters that reaches validation perplexity 18 after 8 epochs where θ = 1 and lr 3e-3
reach 7.6, so those are the defaults (both settable).
"""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from playground import corpora
from playground.sampling import consecutive_batches
from playground.vocab import Vocab, tokenize


class RNNModel(nn.Module):
    """The seed's RNNModel: forward(inputs (B, T), state) -> (logits (T·B, V), state)."""

    def __init__(self, rnn_layer: nn.RNN, vocab_size: int):
        super().__init__()
        self.rnn = rnn_layer
        self.hidden_size = rnn_layer.hidden_size * (2 if rnn_layer.bidirectional else 1)
        self.vocab_size = vocab_size
        self.dense = nn.Linear(self.hidden_size, vocab_size)

    def forward(self, inputs: torch.Tensor, state: torch.Tensor | None):
        X = F.one_hot(inputs.T, self.vocab_size).float()      # (T, B, V)
        hiddens, state = self.rnn(X, state)                   # (T, B, H), (1, B, H)
        output = self.dense(hiddens.reshape(-1, self.hidden_size))  # (T·B, V)
        return output, state


def epoch_perplexity(model: RNNModel, ids: torch.Tensor, batch_size: int, num_steps: int,
                     optimizer=None, clip: float = 1e-2) -> float:
    """One pass over consecutive batches (training if an optimizer is given); the perplexity
    exp(Σ loss / number of predicted tokens)."""
    state, total, count = None, 0.0, 0
    for X, Y in consecutive_batches(ids, batch_size, num_steps):   # (B, T) each
        if state is not None:
            state = state.detach()                            # carry values, cut gradients
        with torch.set_grad_enabled(optimizer is not None):
            logits, state = model(X, state)                   # (T·B, V)
            loss = F.cross_entropy(logits, Y.T.reshape(-1))   # Y.T matches the (T, B) order
        if optimizer is not None:
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
        total += loss.item() * Y.numel()
        count += Y.numel()
    if count == 0:
        raise ValueError("the text is too short for one batch of batch_size × num_steps")
    return math.exp(total / count)


def train_d2l_rnn(num_chars: int = 20_000, epochs: int = 10, hidden_size: int = 256,
                  batch_size: int = 32, num_steps: int = 35, lr: float = 3e-3,
                  clip: float = 1.0, seed: int = 0, text: str | None = None) -> dict:
    """The first num_chars characters of the torch docstrings corpus (or `text`), 90 % to train
    and the rest held out; perplexity per epoch on both."""
    text = (corpora.load("torch_docs", num_chars) if text is None else text)[:num_chars]
    vocab = Vocab(tokenize(text, "char"))
    ids = torch.tensor(vocab[tokenize(text, "char")])         # (N,)
    split = int(0.9 * len(ids))
    torch.manual_seed(seed)
    model = RNNModel(nn.RNN(len(vocab), hidden_size), len(vocab))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history, start = [], time.perf_counter()
    for epoch in range(1, epochs + 1):
        train_ppl = epoch_perplexity(model, ids[:split], batch_size, num_steps, optimizer, clip)
        model.eval()
        val_ppl = epoch_perplexity(model, ids[split:], min(batch_size, 4), num_steps)
        model.train()
        history.append({"epoch": epoch, "train perplexity": train_ppl,
                        "validation perplexity": val_ppl})
    return {"history": history, "vocab_size": len(vocab), "chars": len(text),
            "seconds": time.perf_counter() - start, "model": model}


def run(num_chars: int = 20_000, epochs: int = 10, lr: float = 3e-3, clip: float = 1.0,
        seed: int = 0) -> dict:
    r = train_d2l_rnn(num_chars=num_chars, epochs=epochs, lr=lr, clip=clip, seed=seed)
    r.pop("model")
    return r
