"""Lab 5 — build a vocabulary and watch what min_freq and reserved tokens do.

Two layouts of the same idea (token <-> id):

    ours (playground.vocab.Vocab, as a later edition of the d2l.ai book lays it out):
        id 0 = "<unk>", then the reserved tokens, then tokens by falling frequency
    seed 004's Vocab (use_special_tokens=True):
        pad, bos, eos, unk = 0, 1, 2, 3, then tokens in order of first appearance
        (use_special_tokens=False: unk = 0, then first-appearance order)

    encode: token -> id (unknown or rarer than min_freq -> the unk id)
    decode: id -> token; decode(encode(text)) == text exactly when no token became <unk>

Only the ids differ: a model learns the same with either, its embedding rows permuted.
"""
from __future__ import annotations

import pandas as pd

import collections

from playground.vocab import UNK, Vocab, tokenize

RESERVED_CHOICES = ("<pad>", "<bos>", "<eos>")
SEED_SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")   # ids 0, 1, 2, 3 in seed 004
SAMPLE_TEXT = ("the cat sat on the mat. the dog sat on the log.\n"
               "a zebra quietly visited the cat and the dog.")
_VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥"}


def visible(token: str) -> str:
    """Whitespace drawn as a symbol so table cells are never blank."""
    return "".join(_VISIBLE.get(c, c) for c in token)


def seed_vocab_layout(tokens: list[str], min_freq: int = 0,
                      use_special_tokens: bool = True) -> tuple[list[str], int]:
    """Seed 004's Vocab: (idx_to_token, unk id). Special tokens first (unk last of the four, or
    unk alone at 0), then every token seen at least min_freq times in first-appearance order
    (a Counter keeps insertion order; the seed never sorts)."""
    counter = collections.Counter(tokens)
    itos = list(SEED_SPECIAL_TOKENS) if use_special_tokens else [UNK]
    itos += [tk for tk, freq in counter.items() if freq >= min_freq and tk not in itos]
    return itos, itos.index(UNK)


def side_by_side(tokens: list[str], vocab: Vocab, min_freq: int,
                 use_special_tokens: bool = True, rows: int = 12) -> dict:
    """The first ids of both layouts, and the text's first tokens encoded by each."""
    seed_itos, seed_unk = seed_vocab_layout(tokens, min_freq, use_special_tokens)
    seed_stoi = {tk: i for i, tk in enumerate(seed_itos)}
    n = min(rows, max(len(seed_itos), len(vocab)))
    layout = pd.DataFrame({"id": range(n),
                           "ours": [visible(vocab.idx_to_token[i]) if i < len(vocab) else ""
                                    for i in range(n)],
                           "seed 004": [visible(seed_itos[i]) if i < len(seed_itos) else ""
                                        for i in range(n)]})
    head = tokens[:12]
    encoded = pd.DataFrame({"token": [visible(t) for t in head], "ours": vocab[head],
                            "seed 004": [seed_stoi.get(t, seed_unk) for t in head]})
    return {"layout": layout, "encoded": encoded, "seed_itos": seed_itos, "seed_unk": seed_unk,
            "same_size": len(seed_itos) == len(vocab)}


def vocab_report(text: str = SAMPLE_TEXT, level: str = "word", min_freq: int = 1,
                 reserved_tokens: tuple[str, ...] = ("<pad>", "<bos>", "<eos>")) -> dict:
    """Tokenize, build the Vocab, encode and decode; tables ready to show."""
    if not text:
        raise ValueError("paste some text first: the vocabulary is built from its tokens")
    if min_freq < 0:
        raise ValueError(f"min_freq counts occurrences and cannot be negative, got {min_freq}")
    tokens = tokenize(text, level)
    vocab = Vocab(tokens, min_freq=min_freq, reserved_tokens=reserved_tokens)
    ids = vocab[tokens]
    decoded = vocab.to_tokens(ids)
    freqs = pd.DataFrame([{"token": visible(tk), "count": n, "id": vocab[tk],
                           "kept": vocab[tk] != vocab.unk} for tk, n in vocab.token_freqs])
    table = pd.DataFrame({"id": range(len(vocab)),
                          "token": [visible(t) for t in vocab.idx_to_token],
                          "kind": ["unknown" if i == vocab.unk else
                                   "reserved" if t in reserved_tokens else "from text"
                                   for i, t in enumerate(vocab.idx_to_token)]})
    unk_tokens = [tk for tk, _ in vocab.token_freqs if vocab[tk] == vocab.unk]
    return {"vocab": vocab, "tokens": tokens, "ids": ids, "decoded": "".join(decoded),
            "freqs": freqs, "table": table, "unk_tokens": unk_tokens,
            "unk_count": sum(1 for i in ids if i == vocab.unk),
            "round_trip": "".join(decoded) == text, "unk": UNK,
            "seed": side_by_side(tokens, vocab, min_freq, bool(reserved_tokens))}


def run(text: str = SAMPLE_TEXT, level: str = "word", min_freq: int = 1,
        reserved_tokens: tuple[str, ...] = RESERVED_CHOICES) -> dict:
    return vocab_report(text, level, min_freq, tuple(reserved_tokens))
