"""Lab 8 — what perplexity means (seed 004), with models that are not trained but built.

For next-token probabilities p(y_t | context) over a text of N predictions:

    loss = -(1/N) Σ_t log p(y_t | ...)        perplexity = exp(loss)

    perfect model (p(y_t) = 1 always)          -> loss 0,     perplexity 1
    uniform model (p = 1/|V| for every token)  -> loss ln|V|, perplexity |V|
    confidently wrong (p(y_t) = 0 somewhere)   -> loss ∞,     perplexity ∞
Any model worth keeping sits below |V|; a bigram count model shows where a real one lands.
"""
from __future__ import annotations

import math

import torch

TEXT = "hello world, hello there, hello again"


def _targets(text: str) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    if len(text) < 2:
        raise ValueError("the text needs at least 2 characters (one prediction)")
    chars = sorted(set(text))
    ids = torch.tensor([chars.index(c) for c in text])        # (N + 1,)
    return chars, ids[:-1], ids[1:]                          # context ids, target ids (N,)


def perfect_probs(prev: torch.Tensor, target: torch.Tensor, V: int) -> torch.Tensor:
    """Knows the answer: all probability on the true next token."""
    return torch.eye(V)[target]                              # (N, V)


def uniform_probs(prev: torch.Tensor, target: torch.Tensor, V: int) -> torch.Tensor:
    """Knows nothing: 1/|V| everywhere."""
    return torch.full((len(target), V), 1.0 / V)             # (N, V)


def wrong_probs(prev: torch.Tensor, target: torch.Tensor, V: int, confidence: float = 1.0) -> torch.Tensor:
    """Sure of a wrong answer: `confidence` on token (y + 1) mod |V|, the remaining
    1 - confidence spread over the other |V| - 1 tokens (the truth among them).
    confidence = 1 leaves exactly 0 for the truth: -log 0 = ∞."""
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"confidence is a probability in [0, 1], got {confidence}")
    probs = torch.full((len(target), V), (1.0 - confidence) / (V - 1))  # (N, V)
    probs[torch.arange(len(target)), (target + 1) % V] = confidence
    return probs


def bigram_probs(prev: torch.Tensor, target: torch.Tensor, V: int) -> torch.Tensor:
    """Counts of (previous char -> next char) in the text itself, add-one smoothed."""
    counts = torch.ones(V, V)                                # (V, V) prev -> next
    counts.index_put_((prev, target), torch.ones(len(target)), accumulate=True)
    table = counts / counts.sum(dim=1, keepdim=True)         # (V, V) rows sum to 1
    return table[prev]                                       # (N, V)


MODELS = {"perfect": perfect_probs, "bigram counts": bigram_probs,
          "uniform": uniform_probs, "confidently wrong": wrong_probs}


def perplexity_of(probs: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy in nats, perplexity) of next-token probabilities (N, V)."""
    p_true = probs[torch.arange(len(target)), target]       # (N,)
    loss = float(-torch.log(p_true).mean()) + 0.0            # log 0 = -inf -> loss inf
    return loss, math.exp(loss) if loss < 700 else math.inf


def run(text: str = TEXT, wrong_confidence: float = 1.0) -> dict:
    """Each model's loss and perplexity on `text`, plus |V| for reference."""
    chars, prev, target = _targets(text)
    V = len(chars)
    rows = {}
    for name, make in MODELS.items():
        probs = (make(prev, target, V, wrong_confidence) if make is wrong_probs
                 else make(prev, target, V))                 # (N, V)
        loss, ppl = perplexity_of(probs, target)
        rows[name] = {"loss": loss, "perplexity": ppl,
                      "mean p(true next)": float(probs[torch.arange(len(target)), target].mean())}
    return {"vocab_size": V, "n_predictions": len(target), "models": rows}
