"""One encoded copy of a text, shared by every run that trains on it.

    enc = encode(text, tokenizer="char", min_freq=0, vocab=None)   # cached
    enc.vocab, enc.ids (N,), enc.char_counts (N,) or None (char tokens: one character each)

Token ids are stored in the smallest integer dtype that holds |V| - 1 (uint8 up to 256 tokens,
int16 up to 32,768, else int32): 19 MB of text with a 100-character vocabulary is 19 MB of
ids, not the 152 MB an int64 copy takes. The samplers (playground/sampling.py) turn each
(B, T) batch into int64 for the embedding, one-hot and cross-entropy; nothing else widens the
corpus.

The cache is keyed by (SHA-256 of the text, tokenizer, min_freq, the given vocab's tokens) and
holds its entries weakly: an entry lives while a Trainer (or anything else) keeps a reference
to it, and is released with the last run that uses it. Two runs on the same upload share one
id tensor (the same storage); each run's train/validation split is a view into it.
"""
from __future__ import annotations

import hashlib
import threading
import weakref
from dataclasses import dataclass

import numpy as np
import torch

from .vocab import Vocab, token_char_counts, tokenize

_CACHE: "weakref.WeakValueDictionary[tuple, EncodedText]" = weakref.WeakValueDictionary()
_LOCK = threading.Lock()


def smallest_dtype(max_value: int) -> torch.dtype:
    """The smallest torch integer dtype that holds 0..max_value (uint8, int16, int32 or int64)."""
    for dtype in (torch.uint8, torch.int16, torch.int32):
        if max_value <= torch.iinfo(dtype).max:
            return dtype
    return torch.int64


def id_bytes(vocab_size: int) -> int:
    """Bytes one token id takes in an encoded corpus of this vocabulary size."""
    return torch.empty((), dtype=smallest_dtype(max(vocab_size - 1, 0))).element_size()


@dataclass(eq=False)
class EncodedText:
    """A text's vocabulary and token ids (shared; never modify the tensors)."""
    vocab: Vocab
    ids: torch.Tensor                       # (N,) smallest dtype for len(vocab)
    char_counts: torch.Tensor | None        # (N,) characters per token; None: 1 each (char tokens)
    __weakref__: object = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        """Bytes of the shared tensors (the ids and the characters per token)."""
        counts = 0 if self.char_counts is None else self.char_counts.nbytes
        return self.ids.nbytes + counts

    def chars(self, start: int) -> torch.Tensor:
        """Characters per token from token `start` on (a view; all ones for char tokens)."""
        n = len(self.ids) - start
        if self.char_counts is None:
            return torch.ones(1, dtype=torch.uint8).expand(n)     # (n,) stride 0: no memory
        return self.char_counts[start:]


def _key(text: str, tokenizer: str, min_freq: int, vocab: Vocab | None) -> tuple:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    vocab_key = None
    if vocab is not None:
        vocab_key = hashlib.sha256("\x00".join(vocab.idx_to_token).encode("utf-8", "surrogatepass")).hexdigest()
    return digest, tokenizer, int(min_freq), vocab_key


def _char_ids(text: str, vocab: Vocab) -> np.ndarray:
    """Ids of a text's characters through a lookup on code points (no list of 1-char strings)."""
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)   # (N,)
    known = [(ord(tk), i) for i, tk in enumerate(vocab.idx_to_token) if len(tk) == 1]
    keys = np.array(sorted(known), dtype=np.int64).reshape(-1, 2)
    at = np.searchsorted(keys[:, 0], points).clip(0, max(len(keys) - 1, 0))
    found = keys[at, 0] == points if len(keys) else np.zeros(len(points), dtype=bool)
    ids = np.full(len(points), vocab.unk, dtype=np.int64)
    ids[found] = keys[at[found], 1]
    return ids


def _build(text: str, tokenizer: str, min_freq: int, vocab: Vocab | None) -> EncodedText:
    tokens = None
    if vocab is None:
        tokens = tokenize(text, tokenizer)
        vocab = Vocab(tokens, min_freq=min_freq, tokenizer=tokenizer)
    dtype = smallest_dtype(max(len(vocab) - 1, 0))
    if tokenizer == "char":
        del tokens
        ids = torch.from_numpy(_char_ids(text, vocab)).to(dtype)
        return EncodedText(vocab, ids, None)
    ids = torch.tensor(vocab[tokens if tokens is not None else tokenize(text, tokenizer)], dtype=torch.int64).to(dtype)
    counts = token_char_counts(text, tokenizer)
    return EncodedText(vocab, ids, torch.tensor(counts, dtype=torch.int64).to(smallest_dtype(max(counts, default=0))))


def encode(text: str, tokenizer: str = "char", min_freq: int = 0, vocab: Vocab | None = None) -> EncodedText:
    """The text's EncodedText: the cached one while any run still uses it, else built now."""
    key = _key(text, tokenizer, min_freq, vocab)
    with _LOCK:
        found = _CACHE.get(key)
    if found is not None:
        return found
    built = _build(text, tokenizer, min_freq, vocab)     # outside the lock: other texts need not wait
    with _LOCK:
        found = _CACHE.get(key)
        if found is None:
            _CACHE[key] = found = built
    return found


def cached_count() -> int:
    """Encoded texts alive now (tests, benchmarks)."""
    with _LOCK:
        return len(_CACHE)
