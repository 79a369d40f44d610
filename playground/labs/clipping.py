"""Lab 7 — gradient clipping (seed 004): a relu RNN with a high learning rate, with and without.

Global norm over every parameter's gradient, and the rescaling when it exceeds θ:

    ‖g‖ = sqrt( Σ_p Σ_i (∂L/∂p_i)² )        g ← g · min(1, θ / ‖g‖)

`torch.nn.utils.clip_grad_norm_(params, θ)` does exactly this and returns ‖g‖ before clipping.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

TEXT = "the quick brown fox jumps over the lazy dog. " * 12


def global_grad_norm(params) -> float:
    """‖g‖ = sqrt(Σ_p ‖∂L/∂p‖²) over every parameter that has a gradient."""
    total = sum(float((p.grad.detach() ** 2).sum()) for p in params if p.grad is not None)
    return math.sqrt(total)


def clip_by_hand(params, theta: float) -> float:
    """The notes' grad_clipping: scale every gradient by θ/‖g‖ when ‖g‖ > θ. Returns ‖g‖."""
    params = [p for p in params if p.grad is not None]
    norm = global_grad_norm(params)
    if norm > theta:
        for p in params:
            p.grad.mul_(theta / norm)
    return norm


class ReluRNN(nn.Module):
    """One-hot ids (B, T) -> nn.RNN(nonlinearity="relu") -> Linear: logits (B, T, V)."""

    def __init__(self, vocab_size: int, hidden_size: int = 64):
        super().__init__()
        self.vocab_size = vocab_size
        self.rnn = nn.RNN(vocab_size, hidden_size, nonlinearity="relu", batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.one_hot(x, self.vocab_size).float()             # (B, T, V)
        out, _ = self.rnn(x)                                  # (B, T, H)
        return self.head(out)                                 # (B, T, V)


def train_clipping(theta: float | None, lr: float = 1.0, steps: int = 60, seq_len: int = 32,
                   batch_size: int = 8, hidden_size: int = 64, seed: int = 0) -> dict[str, list[float]]:
    """SGD on windows of TEXT; theta=None trains without clipping. Per step: loss, the global
    gradient norm before clipping and after it (what the optimizer actually used)."""
    if theta is not None and theta <= 0:
        raise ValueError(f"the clipping threshold θ must be positive (or None for off), got {theta}")
    chars = sorted(set(TEXT))
    ids = torch.tensor([chars.index(c) for c in TEXT])        # (N,)
    torch.manual_seed(seed)
    model = ReluRNN(len(chars), hidden_size)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    history = {"loss": [], "norm_before": [], "norm_after": []}
    for _ in range(steps):
        starts = torch.randint(0, len(ids) - seq_len - 1, (batch_size,), generator=gen)
        X = torch.stack([ids[s:s + seq_len] for s in starts])          # (B, T)
        Y = torch.stack([ids[s + 1:s + seq_len + 1] for s in starts])  # (B, T)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(X).reshape(-1, len(chars)), Y.reshape(-1))
        loss.backward()
        before = global_grad_norm(model.parameters())
        if theta is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), theta)
        history["loss"].append(loss.item())
        history["norm_before"].append(before)
        history["norm_after"].append(global_grad_norm(model.parameters()))
        optimizer.step()
    return history


def run(theta: float = 1.0, lr: float = 2.0, steps: int = 60, seed: int = 0) -> dict[str, dict]:
    """The same model, data and seed trained without and with clipping."""
    return {"no clipping": train_clipping(None, lr, steps, seed=seed),
            f"clip θ = {theta:g}": train_clipping(theta, lr, steps, seed=seed)}
