"""Token vocabulary (after seed 004 / d2l): tokens <-> integer ids. The layout differs from the
seed's (which puts <pad>, <bos>, <eos>, <unk> at 0-3, then tokens in first-appearance order):
<unk> first, then tokens by frequency. The Labs page's Vocab lab shows both side by side.

Id 0 is always the unknown token "<unk>"; reserved tokens (e.g. "<pad>", "<bos>",
"<eos>") follow; then every token seen at least `min_freq` times, most frequent first
(ties keep first-appearance order).
"""
from __future__ import annotations

import collections
import re
from typing import Iterable, Sequence

UNK = "<unk>"
EOS = "<eos>"
_WORD_RE = re.compile(r"\w+|[^\w\s]+|\s+")
_WS_RE = re.compile(r"[^\s]+|\n")  # word_ws: whitespace-separated words and line ends


def tokenize(text: str, level: str = "char") -> list[str]:
    """Split text into tokens. "char": one token per character; "word": words,
    punctuation runs and whitespace runs, so "".join(tokens) == text; "word_ws"
    (pytorch/examples word_language_model): line.split() + ["<eos>"] for every line, so
    whitespace is dropped, punctuation stays on its word and each line end is one token."""
    if level == "char":
        return list(text)
    if level == "word":
        return _WORD_RE.findall(text)
    if level == "word_ws":
        return _ws_tokens(text)
    raise ValueError(f"tokenizer must be 'char', 'word' or 'word_ws', got {level!r}")


def _ws_tokens(text: str) -> list[str]:
    """word_ws tokens; a last line without "\n" still gets its <eos> (as iterating over a
    file's lines does)."""
    out = [EOS if tk == "\n" else tk for tk in _WS_RE.findall(text)]
    if text and not text.endswith("\n"):
        out.append(EOS)
    return out


def detokenize(tokens: Sequence[str], level: str = "char") -> str:
    """Tokens back to text: joined as they are, except word_ws, which lost its whitespace:
    words joined by one space, <eos> as a line end."""
    if level != "word_ws":
        return "".join(tokens)
    out: list[str] = []
    for tk in tokens:
        if tk == EOS:
            out.append("\n")
        else:
            out.append(tk if not out or out[-1] == "\n" else " " + tk)
    return "".join(out)


def token_char_counts(text: str, level: str = "char") -> list[int]:
    """Characters of text each token of tokenize(text, level) stands for: they sum to
    len(detokenize(tokens, level)), which is len(text) for char and word tokens. word_ws drops
    whitespace runs, so its tokens stand for the text rebuilt from them: a word counts its
    letters plus the one space before it (none at a line start), <eos> its "\n". Bits per
    character = nats / (ln 2 * characters) then compares models across tokenizers."""
    tokens = tokenize(text, level)
    if level != "word_ws":
        return [len(tk) for tk in tokens]
    previous = [EOS, *tokens[:-1]]
    return [1 if tk == EOS else len(tk) + (before != EOS) for tk, before in zip(tokens, previous)]


def _flatten(tokens: Iterable) -> list[str]:
    """Accept a flat token list or a list of token lists (lines)."""
    tokens = list(tokens)
    if tokens and isinstance(tokens[0], (list, tuple)):
        return [tk for line in tokens for tk in line]
    return tokens


TOKENIZERS = ("char", "word", "word_ws")


class Vocab:
    """`tokenizer` names how the tokens were cut from text (`tokenize`'s level): generation
    turns a prefix into tokens and tokens back into text with it. Set where the vocab is built
    (the Trainer passes TrainConfig.tokenizer) and kept by to_dict/from_dict."""

    def __init__(self, tokens: Iterable = (), min_freq: int = 0, reserved_tokens: Sequence[str] = (),
                 tokenizer: str = "char"):
        if tokenizer not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {tokenizer!r}")
        counter = collections.Counter(_flatten(tokens))
        # most frequent first; sorted() is stable, so ties keep first-appearance order
        self.token_freqs: list[tuple[str, int]] = sorted(counter.items(), key=lambda kv: -kv[1])
        self.idx_to_token: list[str] = [UNK]
        for tk in reserved_tokens:
            if tk not in self.idx_to_token:
                self.idx_to_token.append(tk)
        reserved = set(self.idx_to_token)
        self.idx_to_token += [tk for tk, freq in self.token_freqs if freq >= min_freq and tk not in reserved]
        self.token_to_idx: dict[str, int] = {tk: i for i, tk in enumerate(self.idx_to_token)}
        self.min_freq = min_freq
        self.reserved_tokens = tuple(reserved_tokens)
        self.tokenizer = tokenizer

    unk = 0  # id of UNK

    def __len__(self) -> int:
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        if isinstance(tokens, (list, tuple)):
            return [self.token_to_idx.get(tk, self.unk) for tk in tokens]
        return self.token_to_idx.get(tokens, self.unk)

    def __contains__(self, token) -> bool:
        return token in self.token_to_idx

    def to_tokens(self, indices):
        if isinstance(indices, (list, tuple)):
            return [self.idx_to_token[int(i)] for i in indices]
        return self.idx_to_token[int(indices)]

    def to_dict(self) -> dict:
        """Plain data for checkpoints (no pickled classes)."""
        return {"idx_to_token": list(self.idx_to_token), "min_freq": self.min_freq,
                "reserved_tokens": list(self.reserved_tokens), "tokenizer": self.tokenizer}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocab":
        """The vocab `to_dict` wrote; one saved before the tokenizer was kept is "char" unless
        d says otherwise (checkpoints pass their TrainConfig's tokenizer)."""
        itos = list(d["idx_to_token"])
        if not itos or itos[0] != UNK or len(set(itos)) != len(itos):
            raise ValueError("vocab must start with <unk> and hold each token once")
        v = cls((), min_freq=int(d.get("min_freq", 0)), reserved_tokens=tuple(d.get("reserved_tokens", ())),
                tokenizer=d.get("tokenizer", "char"))
        v.idx_to_token = itos
        v.token_to_idx = {tk: i for i, tk in enumerate(itos)}
        return v
