"""Minibatch samplers for language modelling (seed 004, d2l).

For a corpus of token ids (any integer dtype), both yield (X, Y) LongTensors of shape (batch_size, num_steps)
with Y = X shifted one token to the right.

random_batches: non-overlapping windows in random order; neighbouring rows/batches are not
    neighbours in the text, so the hidden state is reset for every batch.
consecutive_batches: the corpus is cut into batch_size long rows (PyTorch's `batchify`):

    corpus 0 1 2 ... 29, batch_size=2, num_steps=6
    row 0:  0  1  2  3  4  5 |  6  7  8  9 10 11 | ...
    row 1: 15 16 17 18 19 20 | 21 22 23 24 25 26 | ...
            batch 1             batch 2

    row i of batch k+1 continues row i of batch k, so the hidden state is carried across
    batches (and detached, so gradients stop at the batch boundary).
"""
from __future__ import annotations

import random
from typing import Iterator, Sequence

import torch


def _as_tensor(corpus) -> torch.Tensor:
    """The corpus as a 1-D tensor, kept in its own dtype (a shared uint8/int16/int32 corpus is
    not copied; each batch is made int64 on its own)."""
    if isinstance(corpus, torch.Tensor):
        return corpus.flatten()
    return torch.as_tensor(list(corpus), dtype=torch.long)


def num_consecutive_batches(n_tokens: int, batch_size: int, num_steps: int) -> int:
    row_len = n_tokens // batch_size
    return max((row_len - 1) // num_steps, 0)


def random_batches(corpus: Sequence[int] | torch.Tensor, batch_size: int, num_steps: int,
                   seed: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Non-overlapping windows starting at 0, num_steps, 2*num_steps, ... shuffled with
    random.Random(seed); the last batch may be smaller than batch_size."""
    data = _as_tensor(corpus)
    num_examples = (len(data) - 1) // num_steps           # -1: X needs a next token Y
    starts = [i * num_steps for i in range(num_examples)]
    random.Random(seed).shuffle(starts)
    for i in range(0, num_examples, batch_size):
        idx = torch.tensor(starts[i:i + batch_size])        # (b,)
        offsets = torch.arange(num_steps)                   # (T,)
        X = data[idx[:, None] + offsets].long()             # (b, T)
        Y = data[idx[:, None] + offsets + 1].long()         # (b, T)
        yield X, Y


def consecutive_batches(corpus: Sequence[int] | torch.Tensor, batch_size: int, num_steps: int,
                        offset: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Rows of the batchified corpus (after skipping `offset` tokens), read num_steps at a time."""
    data = _as_tensor(corpus)[offset:]
    row_len = len(data) // batch_size
    rows = data[: row_len * batch_size].view(batch_size, row_len)  # (B, row_len)
    for k in range(num_consecutive_batches(len(data), batch_size, num_steps)):
        i = k * num_steps
        yield rows[:, i:i + num_steps].long(), rows[:, i + 1:i + num_steps + 1].long()  # (B, T), (B, T)
