"""Lab 5 — build a vocabulary (seed 004's Vocab) and watch what min_freq and reserved
tokens do: id 0 is "<unk>", reserved tokens follow, then tokens by falling frequency.

    encode: token -> id (unknown or rarer than min_freq -> 0 = <unk>)
    decode: id -> token; decode(encode(text)) == text exactly when no token became <unk>
"""
from __future__ import annotations

import pandas as pd

from playground.vocab import UNK, Vocab, tokenize

RESERVED_CHOICES = ("<pad>", "<bos>", "<eos>")
SAMPLE_TEXT = ("the cat sat on the mat. the dog sat on the log.\n"
               "a zebra quietly visited the cat and the dog.")
_VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥"}


def visible(token: str) -> str:
    """Whitespace drawn as a symbol so table cells are never blank."""
    return "".join(_VISIBLE.get(c, c) for c in token)


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
            "round_trip": "".join(decoded) == text, "unk": UNK}


def run(text: str = SAMPLE_TEXT, level: str = "word", min_freq: int = 1,
        reserved_tokens: tuple[str, ...] = RESERVED_CHOICES) -> dict:
    return vocab_report(text, level, min_freq, tuple(reserved_tokens))
