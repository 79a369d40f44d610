"""Lab 6 — how the two samplers cut a corpus into minibatches (seed 004), and what carrying
the hidden state across batches costs when it is not detached.

random_batches:      non-overlapping windows in random order; neighbouring rows are not
                     neighbours in the text, so the state is reset (h = 0) every batch.
consecutive_batches: the corpus as batch_size rows (PyTorch's `batchify`); row i of batch k+1
                     continues row i of batch k, so the state is carried over and detached
                     (h = h.detach()): values flow on, gradients stop at the batch boundary.

Without detach, batch k's backward runs through batches 1..k: time and memory per step grow.
"""
from __future__ import annotations

import time

import torch
from torch import nn

from playground.sampling import consecutive_batches, random_batches



def batch_layout(n_tokens: int, batch_size: int, num_steps: int, sampler: str,
                 seed: int = 0) -> list[torch.Tensor]:
    """The X of every minibatch when the corpus is 0, 1, ..., n_tokens-1, so each X entry is
    its own position in the text. List of (rows, num_steps) LongTensors."""
    if sampler not in ("random", "consecutive"):
        raise ValueError(f"sampler must be 'random' or 'consecutive', got {sampler!r}")
    if num_steps < 1 or batch_size < 1:
        raise ValueError("batch_size and num_steps must be at least 1")
    corpus = list(range(n_tokens))
    if sampler == "random":
        return [X for X, _ in random_batches(corpus, batch_size, num_steps, seed=seed)]
    return [X for X, _ in consecutive_batches(corpus, batch_size, num_steps)]


def _graph_nodes(loss: torch.Tensor) -> int:
    """Autograd nodes reachable from the loss: what backward() walks."""
    seen, stack = set(), [loss.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        stack.extend(f for f, _ in fn.next_functions)
    return len(seen)


def detach_cost(detach: bool, steps: int = 25, batch_size: int = 8, num_steps: int = 16,
                hidden_size: int = 64, vocab_size: int = 20, seed: int = 0) -> list[dict]:
    """Consecutive batches through one nn.RNN, carrying h; per step the measured seconds of
    forward + backward, the autograd nodes walked and the bytes of tensors saved for backward
    that are still reachable. Gradients only (no optimizer step: updating weights in place
    would invalidate the graph kept from earlier batches — one more reason to detach)."""
    torch.manual_seed(seed)
    corpus = torch.randint(0, vocab_size, (batch_size * (steps * num_steps + 1),))
    embed, rnn = nn.Embedding(vocab_size, 16), nn.RNN(16, hidden_size, batch_first=True)
    head = nn.Linear(hidden_size, vocab_size)
    state, held, rows = None, {}, []

    def pack(t: torch.Tensor) -> torch.Tensor:
        held[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    for step, (X, Y) in enumerate(consecutive_batches(corpus, batch_size, num_steps), start=1):
        if detach or state is None:
            held = {}                                       # earlier graphs are now unreachable
        if detach and state is not None:
            state = state.detach()
        start = time.perf_counter()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out, state = rnn(embed(X), state)               # (B, T, H), (1, B, H)
            loss = nn.functional.cross_entropy(head(out).reshape(-1, vocab_size), Y.reshape(-1))
        nodes = _graph_nodes(loss)
        loss.backward(retain_graph=not detach)
        rows.append({"step": step, "ms": 1000 * (time.perf_counter() - start),
                     "graph_nodes": nodes, "saved_kib": sum(held.values()) / 1024})
        if step >= steps:
            break
    return rows


def run(n_tokens: int = 30, batch_size: int = 2, num_steps: int = 6, seed: int = 0,
        steps: int = 25) -> dict:
    """Both samplers' minibatches of 0..n_tokens-1 and the detach / no-detach measurements."""
    return {"random": batch_layout(n_tokens, batch_size, num_steps, "random", seed),
            "consecutive": batch_layout(n_tokens, batch_size, num_steps, "consecutive"),
            "detach": detach_cost(True, steps), "no detach": detach_cost(False, steps)}
