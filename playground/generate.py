"""Text generation: the one place that samples from a model.

Warm up on the prefix (one forward pass over it), then feed back one token at a time,
carrying the recurrent state, so generating n tokens costs O(n), not O(n^2):

    p(next) = softmax(logits / temperature), restricted to the top_k most likely tokens
    greedy: next = argmax(logits)
"""
from __future__ import annotations

import torch

from .vocab import Vocab, tokenize


def _level(vocab: Vocab) -> str:
    """Word-level vocabs hold multi-character tokens."""
    return "word" if any(len(t) > 1 for t in vocab.idx_to_token[1 + len(vocab.reserved_tokens):]) else "char"


def next_token_distribution(logits: torch.Tensor, temperature: float = 1.0,
                            top_k: int | None = None) -> torch.Tensor:
    """Probabilities (V,) from the last logits (V,), after temperature and top-k."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = logits.float() / temperature
    if top_k is not None and 0 < top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.softmax(logits, dim=-1)


@torch.no_grad()
def generate(model, vocab: Vocab, prefix: str, length: int, temperature: float = 1.0,
             top_k: int | None = None, greedy: bool = False, seed: int | None = None) -> str:
    """The continuation of `prefix` (without the prefix), `length` tokens long."""
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    gen = torch.Generator(device="cpu")
    if seed is not None:
        gen.manual_seed(seed)
    else:
        gen.seed()
    ids = vocab[tokenize(prefix, _level(vocab))] or [vocab.unk]
    x = torch.tensor([ids], dtype=torch.long, device=device)     # (1, P)
    logits, state = model(x)                                     # (1, P, V)
    out: list[int] = []
    for _ in range(length):
        last = logits[0, -1].cpu()                               # (V,)
        if greedy:
            nxt = int(last.argmax())
        else:
            probs = next_token_distribution(last, temperature, top_k)
            nxt = int(torch.multinomial(probs, 1, generator=gen))
        out.append(nxt)
        logits, state = model(torch.tensor([[nxt]], device=device), state)  # (1, 1, V)
    model.train(was_training)
    return "".join(vocab.to_tokens(out))
