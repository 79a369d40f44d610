"""Lab 9 — warm-up from the d2l notes (seed 004): linear regression from scratch, softmax
and cross-entropy by hand, and the activation functions an RNN chooses between.

Linear regression:  y = X w + b + ε,  ε ~ N(0, noise²);  loss = (ŷ - y)² / 2
Minibatch SGD:      θ ← θ - lr · (1/|batch|) Σ_batch ∂loss/∂θ
Softmax:            softmax(z)_j = exp(z_j) / Σ_k exp(z_k);  CE(z, y) = -log softmax(z)_y
Activations:        relu'(x) = [x > 0]   σ'(x) = σ(x)(1 - σ(x)) ≤ 1/4   tanh'(x) = 1 - tanh²(x) ≤ 1
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

TRUE_W = (2.0, -3.4)
TRUE_B = 4.2


@dataclass(frozen=True)
class LinregEpoch:
    epoch: int
    loss: float            # mean squared loss / 2 over the whole data set after the epoch
    w: tuple[float, ...]
    b: float


def synthetic_data(num_examples: int = 1000, noise: float = 0.01,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """features (n, 2) ~ N(0, 1); labels (n, 1) = features @ TRUE_W + TRUE_B + noise."""
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(num_examples, len(TRUE_W), generator=gen)   # (n, 2)
    labels = features @ torch.tensor(TRUE_W) + TRUE_B                  # (n,)
    labels += noise * torch.randn(labels.shape, generator=gen)
    return features, labels.view(-1, 1)                               # (n, 2), (n, 1)


def linreg(X: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return X @ w + b                                                   # (n, 1)


def squared_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (y_hat - y.view(y_hat.shape)) ** 2 / 2                      # (n, 1)


def sgd(params, lr: float, batch_size: int) -> None:
    """θ ← θ - lr · grad / batch_size (the loss was summed over the batch), then zero grad."""
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad / batch_size
            p.grad.zero_()


def train_linreg(epochs: int = 5, lr: float = 0.03, batch_size: int = 10,
                 num_examples: int = 1000, noise: float = 0.01, seed: int = 0) -> Iterator[LinregEpoch]:
    """Minibatch SGD from w ~ N(0, 0.01²), b = 0; yields the learned w, b after each epoch."""
    if batch_size < 1 or num_examples < batch_size:
        raise ValueError("need 1 <= batch_size <= num_examples")
    features, labels = synthetic_data(num_examples, noise, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    w = (0.01 * torch.randn(len(TRUE_W), 1, generator=gen)).requires_grad_()  # (2, 1)
    b = torch.zeros(1, requires_grad=True)                                    # (1,)
    for epoch in range(1, epochs + 1):
        order = torch.randperm(num_examples, generator=gen)
        for i in range(0, num_examples, batch_size):
            idx = order[i:i + batch_size]
            loss = squared_loss(linreg(features[idx], w, b), labels[idx]).sum()
            loss.backward()
            sgd([w, b], lr, len(idx))
        with torch.no_grad():
            full = squared_loss(linreg(features, w, b), labels).mean().item()
        yield LinregEpoch(epoch, full, tuple(w.detach().view(-1).tolist()), b.item())


def softmax(X: torch.Tensor) -> torch.Tensor:
    """Row-wise exp(z) / Σ exp(z) (broadcast over the row sums)."""
    X_exp = X.exp()                                                    # (n, C)
    return X_exp / X_exp.sum(dim=1, keepdim=True)                      # (n, C)


def softmax_example() -> dict:
    """Two examples, three classes: probabilities, the picked-out true-class probability and
    the cross-entropy by hand next to nn.CrossEntropyLoss (which takes logits, not probabilities)."""
    logits = torch.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])          # (n=2, C=3)
    y = torch.tensor([0, 2])                                           # (n,) class ids
    probs = softmax(logits)                                            # (n, C)
    picked = probs.gather(1, y.view(-1, 1)).view(-1)                   # (n,) p(true class)
    by_hand = -torch.log(picked)                                       # (n,)
    builtin = torch.nn.functional.cross_entropy(logits, y, reduction="none")  # (n,)
    return {"logits": logits, "y": y, "probs": probs, "p_true": picked,
            "ce_by_hand": by_hand, "ce_torch": builtin}


def activations(lo: float = -6.0, hi: float = 6.0, n: int = 241) -> dict[str, torch.Tensor]:
    """relu, sigmoid, tanh and their derivatives, the derivatives taken by autograd."""
    x = torch.linspace(lo, hi, n, requires_grad=True)                  # (n,)
    out = {"x": x.detach()}
    for name, fn in (("relu", torch.relu), ("sigmoid", torch.sigmoid), ("tanh", torch.tanh)):
        y = fn(x)
        (grad,) = torch.autograd.grad(y.sum(), x)
        out[name], out[f"d {name}"] = y.detach(), grad
    return out


def run(epochs: int = 5, lr: float = 0.03, batch_size: int = 10, seed: int = 0) -> dict:
    return {"linreg": list(train_linreg(epochs, lr, batch_size, seed=seed)),
            "softmax": softmax_example(), "activations": activations()}
