"""Lab 10 — the probability of a word sequence from counts (seed 004's language model).

The chain rule is exact; an n-gram model cuts every condition to the last n - 1 words:

    P(w1, w2, w3, w4) = P(w1) P(w2 | w1) P(w3 | w1, w2) P(w4 | w1, w2, w3)     (chain rule)
                      ≈ P(w1) P(w2 | w1) P(w3 | w1, w2) P(w4 | w2, w3)         (trigram, n = 3)

Each factor is estimated by counting in a corpus (maximum likelihood):

    P(w1) = n(w1) / N         P(w4 | w2, w3) = n(w2 w3 w4) / n(w2 w3)

Counts come from the built-in PyTorch docstrings corpus (English, read from the local torch).
"""
from __future__ import annotations

import collections
import math
import re

import pandas as pd

from playground import corpora

DEFAULT_PHRASE = "the output will be"
_WORD = re.compile(r"[a-z]+")


def corpus_words(text: str | None = None) -> list[str]:
    """Lower-case words (runs of a-z) of the text; default the torch docstrings corpus."""
    return _WORD.findall((corpora.load("torch_docs") if text is None else text).lower())


def ngram_counts(words: list[str], n_max: int = 4) -> collections.Counter:
    """n(w_i .. w_j) for every run of 1..n_max consecutive words, keyed by word tuples."""
    counts = collections.Counter()
    for n in range(1, n_max + 1):
        counts.update(zip(*(words[i:] for i in range(n))))
    return counts


def chain_factors(phrase: list[str], counts: collections.Counter, total: int, n: int = 3) -> list[dict]:
    """The factors P(w_k | the previous min(k-1, n-1) words) = n(context w_k) / n(context)."""
    rows = []
    for k, word in enumerate(phrase):
        context = tuple(phrase[max(0, k - n + 1):k])
        numerator = counts[context + (word,)]
        denominator = counts[context] if context else total
        given = f" | {' '.join(context)}" if context else ""
        rows.append({"factor": f"P({word}{given})",
                     "count of the words": numerator,
                     "count of the context (N if none)": denominator,
                     "p": numerator / denominator if denominator else 0.0})
    return rows


def phrase_words(phrase: str) -> list[str]:
    tokens = _WORD.findall(phrase.lower())
    if not 1 <= len(tokens) <= 6:
        raise ValueError(f"type 1 to 6 words (letters a-z), got {len(tokens)}")
    return tokens


def run(phrase: str = DEFAULT_PHRASE, n: int = 3, text: str | None = None) -> dict:
    """P(phrase) under the n-gram count model: its factors (a table) and their product, and
    the product for every n from 1 to the number of words (the last is the exact chain rule
    on the corpus counts)."""
    tokens = phrase_words(phrase)
    if not 1 <= n <= 6:
        raise ValueError(f"n must be between 1 and 6, got {n}")
    words = corpus_words(text)
    counts = ngram_counts(words, len(tokens))
    factors = pd.DataFrame(chain_factors(tokens, counts, len(words), n))
    by_n = pd.DataFrame([{"n": k, "P(phrase)": math.prod(
        f["p"] for f in chain_factors(tokens, counts, len(words), k))}
        for k in range(1, len(tokens) + 1)])
    return {"words": tokens, "n": n, "factors": factors, "probability": math.prod(factors["p"]),
            "corpus_words": len(words), "by_n": by_n}
