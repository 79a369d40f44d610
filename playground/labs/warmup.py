"""Lab 9 — warm-up from the d2l notes (seed 004): linear regression from scratch, softmax
and cross-entropy by hand, and the activation functions an RNN chooses between.

Linear regression:  y = X w + b + ε,  ε ~ N(0, noise²);  loss = (ŷ - y)² / 2
Minibatch SGD:      θ ← θ - lr · (1/|batch|) Σ_batch ∂loss/∂θ
The same with torch: nn.Linear(2, 1) + nn.MSELoss() + optim.SGD. MSELoss is mean (ŷ - y)²,
without the 1/2, so at the same lr its steps are twice those of the hand-written loop.
Softmax:            softmax(z)_j = exp(z_j) / Σ_k exp(z_k);  CE(z, y) = -log softmax(z)_y
Activations:        relu(x) = max(x, 0)            relu'(x) = [x > 0]
                    σ(x) = 1 / (1 + exp(-x))       σ'(x) = σ(x)(1 - σ(x)) ≤ 1/4
                    tanh(x) = (1 - exp(-2x)) / (1 + exp(-2x))   tanh'(x) = 1 - tanh²(x) ≤ 1
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

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


def train_linreg_nn(epochs: int = 5, lr: float = 0.03, batch_size: int = 10,
                    num_examples: int = 1000, noise: float = 0.01,
                    seed: int = 0) -> Iterator[LinregEpoch]:
    """The seed's torch version: nn.Linear(2, 1), init w ~ N(0, 0.01²), b = 0, nn.MSELoss(),
    optim.SGD(lr); the same data and minibatch order as `train_linreg`. The reported loss is
    the same (ŷ - y)² / 2 as there, so the two tables compare."""
    if batch_size < 1 or num_examples < batch_size:
        raise ValueError("need 1 <= batch_size <= num_examples")
    features, labels = synthetic_data(num_examples, noise, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    net = nn.Linear(len(TRUE_W), 1)
    with torch.no_grad():
        net.weight.copy_(0.01 * torch.randn(1, len(TRUE_W), generator=gen))   # (1, 2)
        net.bias.zero_()                                                     # (1,)
    loss_fn, optimizer = nn.MSELoss(), torch.optim.SGD(net.parameters(), lr=lr)
    for epoch in range(1, epochs + 1):
        order = torch.randperm(num_examples, generator=gen)
        for i in range(0, num_examples, batch_size):
            idx = order[i:i + batch_size]
            loss = loss_fn(net(features[idx]), labels[idx])                  # mean (ŷ - y)²
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            full = squared_loss(net(features), labels).mean().item()
        yield LinregEpoch(epoch, full, tuple(net.weight.view(-1).tolist()), net.bias.item())


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


FORMULAS = {   # name -> (LaTeX of f, LaTeX of f', f written out from its formula)
    "relu": (r"\mathrm{relu}(x) = \max(x, 0)", r"\mathrm{relu}'(x) = [x > 0]",
             lambda x: torch.maximum(x, torch.zeros_like(x))),
    "sigmoid": (r"\sigma(x) = \frac{1}{1 + e^{-x}}", r"\sigma'(x) = \sigma(x)\,(1 - \sigma(x)) \le \tfrac14",
                lambda x: 1 / (1 + torch.exp(-x))),
    "tanh": (r"\tanh(x) = \frac{1 - e^{-2x}}{1 + e^{-2x}}", r"\tanh'(x) = 1 - \tanh^2(x) \le 1",
             lambda x: (1 - torch.exp(-2 * x)) / (1 + torch.exp(-2 * x))),
}


def formula_check(acts: dict[str, torch.Tensor]) -> dict[str, float]:
    """max |formula(x) - torch's function(x)| over the plotted x, per activation."""
    x = acts["x"].double()                                             # (n,) float64
    return {name: (FORMULAS[name][2](x) - acts[name].double()).abs().max().item()
            for name in FORMULAS}


def run(epochs: int = 5, lr: float = 0.03, batch_size: int = 10, seed: int = 0) -> dict:
    acts = activations()
    return {"linreg": list(train_linreg(epochs, lr, batch_size, seed=seed)),
            "linreg_nn": list(train_linreg_nn(epochs, lr, batch_size, seed=seed)),
            "softmax": softmax_example(), "activations": acts, "formula_check": formula_check(acts)}
